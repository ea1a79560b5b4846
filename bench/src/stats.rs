//! Clocks, histograms and process meters (CPU, RSS) from /proc.

use std::sync::OnceLock;
use std::time::Instant;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Microseconds since the generator started: what messages carry as their
/// scheduled send time.
pub fn now_us() -> u64 {
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// The same clock's reading for a given instant (e.g. a scheduled time).
pub fn us_of(t: Instant) -> u64 {
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(t.saturating_duration_since(epoch).as_micros()).unwrap_or(u64::MAX)
}

/// Latencies in microseconds, 1 µs to 60 s, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).unwrap_or_else(|_| Histogram::new(3).expect("hdr histogram"))
}

pub fn record(h: &mut Histogram<u64>, us: u64) {
    h.saturating_record(us.max(1));
}

/// p50/p99/p99.9/max in milliseconds.
pub fn summary(h: &Histogram<u64>) -> Value {
    let ms = |us: u64| (us as f64 / 1000.0 * 100.0).round() / 100.0;
    json!({
        "count": h.len(),
        "p50_ms": ms(h.value_at_quantile(0.50)),
        "p99_ms": ms(h.value_at_quantile(0.99)),
        "p999_ms": ms(h.value_at_quantile(0.999)),
        "max_ms": ms(h.max()),
    })
}

/// Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// utime + stime of a process, in ticks.
pub fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Resident memory of a process, in KiB.
pub fn rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU use of a process over an interval, as a fraction of one core.
pub struct CpuMeter {
    pid: String,
    ticks: u64,
    since: Instant,
}

impl CpuMeter {
    pub fn start(pid: &str) -> Option<CpuMeter> {
        Some(CpuMeter {
            pid: pid.to_string(),
            ticks: cpu_ticks(pid)?,
            since: Instant::now(),
        })
    }

    pub fn fraction(&self) -> Option<f64> {
        let used = cpu_ticks(&self.pid)?.saturating_sub(self.ticks) as f64 / TICKS_PER_SEC;
        let wall = self.since.elapsed().as_secs_f64();
        Some(((used / wall) * 1000.0).round() / 1000.0)
    }
}

/// This generator's CPU meter, and whether it was the bottleneck.
pub fn own_cpu(meter: &Option<CpuMeter>) -> Value {
    let fraction = meter.as_ref().and_then(CpuMeter::fraction);
    json!({ "cpu": fraction, "saturated": fraction.is_some_and(|f| f > 0.9) })
}
