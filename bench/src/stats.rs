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

/// Size of a file in bytes (None if it does not exist).
pub fn file_bytes(path: &str) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

/// The highest readings since a [`Sampler`] was last reset.
#[derive(Clone, Copy, Default)]
pub struct Peaks {
    pub rss_kib: Option<u64>,
    pub file_bytes: Option<u64>,
}

/// Reads a process's RSS and a file's size every 250 ms on this thread's
/// `LocalSet` and keeps the peaks. Either may be absent; a reading that
/// fails (no such process, no such file) is skipped.
pub struct Sampler {
    pid: Option<String>,
    file: Option<String>,
    peaks: std::rc::Rc<std::cell::Cell<Peaks>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Every how often a [`Sampler`] reads.
pub const SAMPLE_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

impl Sampler {
    pub fn start(pid: Option<&str>, file: Option<&str>) -> Sampler {
        let mut s = Sampler {
            pid: pid.map(str::to_string),
            file: file.map(str::to_string),
            peaks: std::rc::Rc::default(),
            task: None,
        };
        if s.pid.is_some() || s.file.is_some() {
            let (pid, file, peaks) = (s.pid.clone(), s.file.clone(), s.peaks.clone());
            s.task = Some(tokio::task::spawn_local(async move {
                let mut tick = tokio::time::interval(SAMPLE_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    peaks.set(raise(peaks.get(), pid.as_deref(), file.as_deref()));
                }
            }));
        }
        s
    }

    /// The readings right now.
    pub fn now(&self) -> Peaks {
        Peaks {
            rss_kib: self.pid.as_deref().and_then(rss_kib),
            file_bytes: self.file.as_deref().and_then(file_bytes),
        }
    }

    /// Starts a new interval from a reading taken now.
    pub fn reset(&self) {
        self.peaks.set(self.now());
    }

    /// The peaks since the last reset, a reading taken now included.
    pub fn peaks(&self) -> Peaks {
        let p = raise(self.peaks.get(), self.pid.as_deref(), self.file.as_deref());
        self.peaks.set(p);
        p
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn raise(p: Peaks, pid: Option<&str>, file: Option<&str>) -> Peaks {
    let max = |a: Option<u64>, b: Option<u64>| a.max(b);
    Peaks {
        rss_kib: max(p.rss_kib, pid.and_then(rss_kib)),
        file_bytes: max(p.file_bytes, file.and_then(file_bytes)),
    }
}

/// Waits `seconds` with the sockets connected and idle, then reads the
/// server's RSS and the watched file: the JSON fields of an `…-after` line.
pub async fn after_load(sampler: &Sampler, server_pid: Option<&str>, seconds: f64) -> Value {
    let at_end = sampler.now();
    let server_cpu = server_pid.and_then(CpuMeter::start);
    tokio::time::sleep(std::time::Duration::from_secs_f64(seconds)).await;
    let now = sampler.now();
    json!({
        "after_seconds": seconds,
        "server_rss_kib": now.rss_kib,
        "server_rss_at_load_end_kib": at_end.rss_kib,
        "watched_bytes": now.file_bytes,
        "watched_at_load_end_bytes": at_end.file_bytes,
        "server_cpu": server_cpu.as_ref().and_then(CpuMeter::fraction),
    })
}
