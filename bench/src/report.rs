//! Results → markdown tables (medians over rounds; chat-server with its
//! defaults, chat-server tuned, chat-server on PostgreSQL, and Node, with
//! ratios of the defaults against Node), a pgbench figure for context, and
//! a latency-versus-rate SVG chart. Lines from older runs, without the
//! memory fields, the tuned or the PostgreSQL variant, still work: what they
//! lack is left out.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;

/// Server variants, in table order: chat-server with its default flags,
/// the same with `--log warn`, the same on PostgreSQL, the Node reference.
const SERVERS: [&str; 5] = ["rust", "rust-before", "rust-tuned", "rust-pg", "node"];

/// Variants that get a column in the summary only when the results have them.
const OPTIONAL_SERVERS: [&str; 3] = ["rust-before", "rust-tuned", "rust-pg"];

const KIB_PER_MIB: f64 = 1024.0;
const BYTES_PER_MIB: f64 = 1024.0 * 1024.0;

fn median(mut xs: Vec<f64>) -> Option<f64> {
    xs.retain(|x| x.is_finite());
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let mid = xs.len() / 2;
    Some(if xs.len() % 2 == 1 {
        xs[mid]
    } else {
        (xs[mid - 1] + xs[mid]) / 2.0
    })
}

fn get(v: &Value, path: &str) -> Option<f64> {
    let mut cur = v;
    for key in path.split('.') {
        cur = cur.get(key)?;
    }
    cur.as_f64()
        .or_else(|| cur.as_bool().map(|b| if b { 1.0 } else { 0.0 }))
}

type Filter<'a> = &'a dyn Fn(&Value) -> bool;

/// Median of `path` over the lines of `server` that match `filter`.
fn med(lines: &[Value], server: &str, filter: Filter, path: &str) -> Option<f64> {
    median(
        lines
            .iter()
            .filter(|l| l["server"] == server && filter(l))
            .filter_map(|l| get(l, path))
            .collect(),
    )
}

/// The largest `path` of each round's matching lines of `server` (e.g. the
/// RSS peak over a sweep's phases), then the median over the rounds.
fn med_of_round_max(lines: &[Value], server: &str, filter: Filter, path: &str) -> Option<f64> {
    let mut per_round: BTreeMap<String, f64> = BTreeMap::new();
    for l in lines.iter().filter(|l| l["server"] == server && filter(l)) {
        if let Some(x) = get(l, path) {
            let round = l["round"].as_str().unwrap_or("").to_string();
            let e = per_round.entry(round).or_insert(x);
            *e = e.max(x);
        }
    }
    median(per_round.into_values().collect())
}

fn fmt(x: Option<f64>) -> String {
    match x {
        None => "–".into(),
        Some(x) if x.abs() >= 100.0 => format!("{x:.0}"),
        Some(x) if x.abs() >= 10.0 => format!("{x:.1}"),
        Some(x) => format!("{x:.2}"),
    }
}

fn ratio(rust: Option<f64>, node: Option<f64>, higher_is_better: bool) -> String {
    match (rust, node) {
        (Some(r), Some(n)) if r > 0.0 && n > 0.0 => {
            let x = if higher_is_better { r / n } else { n / r };
            format!("{x:.1}×")
        }
        _ => "–".into(),
    }
}

/// The summary table's server columns: the tuned and PostgreSQL variants
/// only when the results have them.
struct Summary<'a> {
    out: &'a mut String,
    columns: Vec<&'static str>,
}

impl Summary<'_> {
    /// A row from each column's value; the ratio is chat-server (defaults)
    /// against Node. With `optional`, a row nobody has a value for is left out.
    fn values(&mut self, label: &str, value: &dyn Fn(&str) -> Option<f64>, higher: bool, optional: bool) {
        let values: Vec<Option<f64>> = self.columns.iter().map(|s| value(s)).collect();
        if optional && values.iter().all(Option::is_none) {
            return;
        }
        let cells: Vec<String> = values.iter().map(|v| fmt(*v)).collect();
        let _ = writeln!(
            self.out,
            "| {label} | {} | {} |",
            cells.join(" | "),
            ratio(value("rust"), value("node"), higher)
        );
    }

    /// A row of medians; left out when the results have no line for it
    /// (a run of some scenarios only).
    fn row(&mut self, label: &str, lines: &[Value], filter: Filter, path: &str, higher: bool) {
        let ran = lines.iter().any(filter);
        self.values(label, &|s| med(lines, s, filter, path), higher, !ran);
    }
}

fn scenario_is(scenario: &'static str) -> impl Fn(&Value) -> bool {
    move |l: &Value| l["scenario"] == scenario
}

/// "25 s": the wait of the `…-after` lines of a scenario.
fn after_label(lines: &[Value], scenario: &str) -> String {
    let seconds = median(
        lines
            .iter()
            .filter(|l| l["scenario"] == scenario)
            .filter_map(|l| get(l, "after_seconds"))
            .collect(),
    );
    match seconds {
        Some(s) => format!("{s:.0} s"),
        None => "some time".into(),
    }
}

/// RSS and WAL rows for a load scenario and its `…-after` line.
fn memory_rows(
    t: &mut Summary,
    lines: &[Value],
    scenario: &'static str,
    after_scenario: &'static str,
    what: &str,
) {
    let during = scenario_is(scenario);
    let after = scenario_is(after_scenario);
    let wait = after_label(lines, after_scenario);
    t.values(
        &format!("RSS peak during {what} load (MiB)"),
        &|s| med_of_round_max(lines, s, &during, "server_rss_peak_kib").map(|k| k / KIB_PER_MIB),
        false,
        true,
    );
    t.values(
        &format!("RSS {wait} after {what} load (MiB)"),
        &|s| med(lines, s, &after, "server_rss_kib").map(|k| k / KIB_PER_MIB),
        false,
        true,
    );
    t.values(
        &format!("WAL peak during {what} load (MiB)"),
        &|s| med_of_round_max(lines, s, &during, "watched_peak_bytes").map(|b| b / BYTES_PER_MIB),
        false,
        true,
    );
    t.values(
        &format!("WAL {wait} after {what} load (MiB)"),
        &|s| med(lines, s, &after, "watched_bytes").map(|b| b / BYTES_PER_MIB),
        false,
        true,
    );
}

/// "12.3 / 4.00": a line's RSS peak and watched-file peak in MiB.
fn memory_cell(lines: &[Value], server: &str, filter: Filter) -> String {
    format!(
        "{} / {}",
        fmt(med(lines, server, filter, "server_rss_peak_kib").map(|k| k / KIB_PER_MIB)),
        fmt(med(lines, server, filter, "watched_peak_bytes").map(|b| b / BYTES_PER_MIB)),
    )
}

fn has_field(lines: &[Value], scenario: &str, path: &str) -> bool {
    lines
        .iter()
        .any(|l| l["scenario"] == scenario && get(l, path).is_some())
}

pub fn write(results: &str, markdown: &str, svg: &str) -> std::io::Result<()> {
    let text = std::fs::read_to_string(results)?;
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let mut rounds: Vec<&str> = lines.iter().filter_map(|l| l["round"].as_str()).collect();
    rounds.sort_unstable();
    rounds.dedup();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Medians over {} round{} (A/B alternating).",
        rounds.len(),
        if rounds.len() == 1 { "" } else { "s" }
    );
    if SUMMARY_SCENARIOS
        .iter()
        .any(|s| lines.iter().any(|l| l["scenario"] == *s))
    {
        summary(&mut out, &lines);
    }
    pgbench_line(&mut out, &lines);
    if !rates_of(&lines, "direct").is_empty() {
        direct_table(&mut out, &lines);
    }
    if !rates_of(&lines, "fanout").is_empty() {
        fanout_table(&mut out, &lines);
    }
    soak_table(&mut out, &lines);
    std::fs::write(markdown, out)?;
    std::fs::write(svg, chart(&lines))?;
    Ok(())
}

/// The scenarios the summary table is made of.
const SUMMARY_SCENARIOS: [&str; 6] = ["startup", "idle", "direct", "fanout", "history", "direct+login"];

/// One row per measure, a column per server variant, the ratio of
/// chat-server with its defaults against Node.
fn summary(out: &mut String, lines: &[Value]) {
    let is = scenario_is;
    let present = |s: &str| lines.iter().any(|l| l["server"] == s);
    let columns: Vec<&'static str> = SERVERS
        .into_iter()
        .filter(|s| !OPTIONAL_SERVERS.contains(s) || present(s))
        .collect();
    let variants = columns.iter().any(|s| OPTIONAL_SERVERS.contains(s));
    let _ = writeln!(
        out,
        "The ratio is how many times better chat-server with its default flags is than Node.\n"
    );
    let header: Vec<&str> = columns
        .iter()
        .map(|s| match *s {
            "rust" if variants => "chat-server (defaults)",
            s => name(s),
        })
        .collect();
    let _ = writeln!(
        out,
        "| measure | {} | ratio |\n|---|{}---|",
        header.join(" | "),
        "---|".repeat(columns.len())
    );
    let mut t = Summary {
        out,
        columns: columns.clone(),
    };
    t.row(
        "start to healthy (ms)",
        lines,
        &is("startup"),
        "start_to_healthy_ms",
        false,
    );
    t.row(
        "idle RSS after start (MiB)",
        lines,
        &is("startup"),
        "idle_rss_mib",
        false,
    );
    for sockets in idle_sizes(lines) {
        let f = move |l: &Value| l["scenario"] == "idle" && get(l, "sockets_target") == Some(sockets);
        t.row(
            &format!("RSS per idle socket, {sockets:.0} sockets (KB)"),
            lines,
            &f,
            "kb_per_socket",
            false,
        );
        t.row(
            &format!("connects per second, {sockets:.0} sockets"),
            lines,
            &f,
            "connects_per_second",
            true,
        );
    }
    let no_direct = rates_of(lines, "direct").is_empty();
    let no_fanout = rates_of(lines, "fanout").is_empty();
    t.values(
        "highest direct rate with delivery p99 < 50 ms and nothing lost (msg/s)",
        &|s| highest_clean(lines, s, "direct"),
        true,
        no_direct,
    );
    memory_rows(&mut t, lines, "direct", "direct-after", "direct");
    t.values(
        "fan-out peak deliveries per second",
        &|s| max_of(lines, s, "fanout", "deliveries_per_second"),
        true,
        no_fanout,
    );
    t.values(
        "fan-out deliveries per second with p99 to last member < 50 ms",
        &|s| highest_clean_value(lines, s, "fanout", "deliveries_per_second"),
        true,
        no_fanout,
    );
    memory_rows(&mut t, lines, "fanout", "fanout-after", "fan-out");
    t.row(
        "history pages per second (64 clients)",
        lines,
        &is("history"),
        "pages_per_second",
        true,
    );
    t.row(
        "history page p99 (ms)",
        lines,
        &is("history"),
        "latency.p99_ms",
        false,
    );
    t.row(
        "logins per second (during chat load)",
        lines,
        &is("direct+login"),
        "logins_per_second",
        true,
    );
    t.row(
        "chat delivery p99 during logins (ms)",
        lines,
        &is("direct+login"),
        "delivery.p99_ms",
        false,
    );
}

/// pgbench's simple-update TPS on the same machine (the `pgbench`
/// scenario of `bench/run.sh`), for context under the PostgreSQL figures.
fn pgbench_line(out: &mut String, lines: &[Value]) {
    let is = scenario_is("pgbench");
    let pgbench: Vec<&Value> = lines.iter().filter(|l| is(l)).collect();
    let Some(tps) = median(pgbench.iter().filter_map(|l| get(l, "tps")).collect()) else {
        return;
    };
    let clients = median(pgbench.iter().filter_map(|l| get(l, "clients")).collect()).unwrap_or(4.0);
    let _ = writeln!(
        out,
        "\npgbench -N, {clients:.0} clients, on this machine: {tps:.0} tps"
    );
}

fn direct_table(out: &mut String, lines: &[Value]) {
    let direct_memory = has_field(lines, "direct", "server_rss_peak_kib");
    let _ = writeln!(out, "\n#### Direct messages by rate (500 pairs)\n");
    let _ = writeln!(
        out,
        "| rate (msg/s) | server | delivered/s | lost | ack p50 / p99 (ms) | delivery p50 / p99 / p99.9 (ms) | server CPU | generator CPU |{}\n|---|---|---|---|---|---|---|---|{}",
        if direct_memory {
            " server RSS / WAL peak (MiB) |"
        } else {
            ""
        },
        if direct_memory { "---|" } else { "" },
    );
    for rate in rates_of(lines, "direct") {
        for server in SERVERS {
            let f = move |l: &Value| l["scenario"] == "direct" && get(l, "target_rate") == Some(rate);
            let m = |p: &str| fmt(med(lines, server, &f, p));
            if med(lines, server, &f, "sent").is_none() {
                continue;
            }
            let _ = writeln!(
                out,
                "| {rate:.0} | {} | {} | {} | {} / {} | {} / {} / {} | {} | {} |{}",
                name(server),
                m("achieved_rate"),
                m("lost"),
                m("ack.p50_ms"),
                m("ack.p99_ms"),
                m("delivery.p50_ms"),
                m("delivery.p99_ms"),
                m("delivery.p999_ms"),
                m("server_cpu"),
                m("generator.cpu"),
                if direct_memory {
                    format!(" {} |", memory_cell(lines, server, &f))
                } else {
                    String::new()
                },
            );
        }
    }
}

fn fanout_table(out: &mut String, lines: &[Value]) {
    let fanout_memory = has_field(lines, "fanout", "server_rss_peak_kib");
    let _ = writeln!(out, "\n#### Fan-out by rate (one group, all members connected)\n");
    let _ = writeln!(
        out,
        "| messages/s | server | deliveries/s | lost deliveries | time to last member p50 / p99 (ms) | server CPU | generator CPU |{}\n|---|---|---|---|---|---|---|{}",
        if fanout_memory {
            " server RSS / WAL peak (MiB) |"
        } else {
            ""
        },
        if fanout_memory { "---|" } else { "" },
    );
    for rate in rates_of(lines, "fanout") {
        for server in SERVERS {
            let f = move |l: &Value| l["scenario"] == "fanout" && get(l, "target_rate") == Some(rate);
            let m = |p: &str| fmt(med(lines, server, &f, p));
            if med(lines, server, &f, "sent").is_none() {
                continue;
            }
            let _ = writeln!(
                out,
                "| {rate:.0} | {} | {} | {} | {} / {} | {} | {} |{}",
                name(server),
                m("deliveries_per_second"),
                m("lost_deliveries"),
                m("time_to_last.p50_ms"),
                m("time_to_last.p99_ms"),
                m("server_cpu"),
                m("generator.cpu"),
                if fanout_memory {
                    format!(" {} |", memory_cell(lines, server, &f))
                } else {
                    String::new()
                },
            );
        }
    }
}

/// Steady direct load (`loadgen direct --name soak`): memory and the WAL
/// during it and after.
fn soak_table(out: &mut String, lines: &[Value]) {
    let rates = rates_of(lines, "soak");
    if rates.is_empty() {
        return;
    }
    let wait = after_label(lines, "soak-after");
    let _ = writeln!(
        out,
        "\n#### Soak: direct messages at one steady rate (500 pairs)\n"
    );
    let _ = writeln!(
        out,
        "| rate (msg/s) | seconds | server | delivered/s | lost | delivery p99 (ms) | server CPU | RSS peak (MiB) | RSS {wait} after (MiB) | WAL peak (MiB) | WAL {wait} after (MiB) |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let after = scenario_is("soak-after");
    for rate in rates {
        for server in SERVERS {
            let f = move |l: &Value| l["scenario"] == "soak" && get(l, "target_rate") == Some(rate);
            if med(lines, server, &f, "sent").is_none() {
                continue;
            }
            let m = |p: &str| fmt(med(lines, server, &f, p));
            let mib = |filter: Filter, p: &str, per: f64| fmt(med(lines, server, filter, p).map(|x| x / per));
            let _ = writeln!(
                out,
                "| {rate:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                m("seconds"),
                name(server),
                m("achieved_rate"),
                m("lost"),
                m("delivery.p99_ms"),
                m("server_cpu"),
                mib(&f, "server_rss_peak_kib", KIB_PER_MIB),
                mib(&after, "server_rss_kib", KIB_PER_MIB),
                mib(&f, "watched_peak_bytes", BYTES_PER_MIB),
                mib(&after, "watched_bytes", BYTES_PER_MIB),
            );
        }
    }
}

fn name(server: &str) -> &'static str {
    match server {
        "rust" => "chat-server",
        "rust-tuned" => "chat-server tuned",
        "rust-pg" => "chat-server on PostgreSQL",
        "rust-before" => "chat-server, build before",
        _ => "Node",
    }
}

/// A variant's name in the chart's legend (which has less room).
fn legend(server: &str) -> &'static str {
    match server {
        "rust-pg" => "chat-server, PostgreSQL",
        s => name(s),
    }
}

fn idle_sizes(lines: &[Value]) -> Vec<f64> {
    let mut sizes: Vec<f64> = lines
        .iter()
        .filter(|l| l["scenario"] == "idle")
        .filter_map(|l| get(l, "sockets_target"))
        .collect();
    sizes.sort_by(f64::total_cmp);
    sizes.dedup();
    sizes
}

fn rates_of(lines: &[Value], scenario: &str) -> Vec<f64> {
    let mut rates: Vec<f64> = lines
        .iter()
        .filter(|l| l["scenario"] == scenario)
        .filter_map(|l| get(l, "target_rate"))
        .collect();
    rates.sort_by(f64::total_cmp);
    rates.dedup();
    rates
}

/// The highest target rate whose median run was clean (in most rounds).
fn highest_clean(lines: &[Value], server: &str, scenario: &str) -> Option<f64> {
    rates_of(lines, scenario)
        .into_iter()
        .filter(|&rate| {
            let f = move |l: &Value| l["scenario"] == scenario && get(l, "target_rate") == Some(rate);
            med(lines, server, &f, "clean").is_some_and(|c| c >= 0.5)
        })
        .fold(None, |best: Option<f64>, r| Some(best.map_or(r, |b| b.max(r))))
}

fn highest_clean_value(lines: &[Value], server: &str, scenario: &str, path: &str) -> Option<f64> {
    let rate = highest_clean(lines, server, scenario)?;
    let f = move |l: &Value| l["scenario"] == scenario && get(l, "target_rate") == Some(rate);
    med(lines, server, &f, path)
}

fn max_of(lines: &[Value], server: &str, scenario: &str, path: &str) -> Option<f64> {
    rates_of(lines, scenario)
        .into_iter()
        .filter_map(|rate| {
            let f = move |l: &Value| l["scenario"] == scenario && get(l, "target_rate") == Some(rate);
            med(lines, server, &f, path)
        })
        .fold(None, |best: Option<f64>, r| Some(best.map_or(r, |b| b.max(r))))
}

/// Where a rate that lost messages is drawn: a row above 10 s.
const LOST_ROW: f64 = 100_000.0;

/// Delivery p99 against offered rate for every server variant, log-log.
fn chart(lines: &[Value]) -> String {
    let (w, h, left, bottom, top, right) = (800.0, 420.0, 70.0, 60.0, 40.0, 200.0);
    let mut series: Vec<(&str, Vec<(f64, f64)>)> = Vec::new();
    for server in SERVERS {
        let mut points = Vec::new();
        for rate in rates_of(lines, "direct") {
            let f = move |l: &Value| l["scenario"] == "direct" && get(l, "target_rate") == Some(rate);
            let p99 = med(lines, server, &f, "delivery.p99_ms");
            let lost = med(lines, server, &f, "lost").unwrap_or(0.0);
            if let Some(p99) = p99 {
                // A run that lost messages is drawn at the top of the chart.
                points.push((rate, if lost > 0.0 { LOST_ROW } else { p99.max(0.1) }));
            }
        }
        if !points.is_empty() {
            series.push((server, points));
        }
    }
    let all: Vec<(f64, f64)> = series.iter().flat_map(|(_, p)| p).copied().collect();
    let (xmin, xmax) = (
        all.iter().map(|p| p.0).fold(f64::MAX, f64::min).max(1.0),
        all.iter().map(|p| p.0).fold(1.0, f64::max),
    );
    let (ymin, ymax) = (0.1f64, LOST_ROW);
    let x = |v: f64| {
        left + (v.log10() - xmin.log10()) / (xmax.log10() - xmin.log10()).max(1e-9) * (w - left - right)
    };
    let y =
        |v: f64| h - bottom - (v.log10() - ymin.log10()) / (ymax.log10() - ymin.log10()) * (h - bottom - top);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">Direct messages: delivery p99 against offered rate (log-log)</text>\n",
        (w - right + left) / 2.0
    );
    for tick in [0.1, 1.0, 10.0, 50.0, 100.0, 1000.0, 10_000.0, LOST_ROW] {
        let label = if tick >= LOST_ROW {
            "lost".to_string()
        } else if tick >= 1000.0 {
            format!("{} s", tick / 1000.0)
        } else {
            format!("{tick} ms")
        };
        let color = if tick == 50.0 { "#c33" } else { "#ddd" };
        let _ = writeln!(
            svg,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{1:.1}\" y2=\"{1:.1}\" stroke=\"{color}\"/><text x=\"{2}\" y=\"{3:.1}\" text-anchor=\"end\">{label}</text>",
            w - right,
            y(tick),
            left - 6.0,
            y(tick) + 4.0
        );
    }
    // Rates close together on the log axis keep their grid line but only
    // every label that has room.
    let mut last_label = f64::MIN;
    for rate in rates_of(lines, "direct") {
        let label = if x(rate) - last_label < 26.0 {
            String::new()
        } else {
            last_label = x(rate);
            if rate >= 1000.0 {
                format!("{}k", rate / 1000.0)
            } else {
                format!("{rate}")
            }
        };
        let _ = writeln!(
            svg,
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{1}\" y2=\"{2}\" stroke=\"#eee\"/><text x=\"{0:.1}\" y=\"{3}\" text-anchor=\"middle\">{label}</text>",
            x(rate),
            top,
            h - bottom,
            h - bottom + 18.0,
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">offered rate (messages/s)</text>",
        (w - right + left) / 2.0,
        h - 18.0
    );
    for (i, (server, points)) in series.iter().enumerate() {
        let (color, dash) = match *server {
            "rust" => ("#1565c0", ""),
            "rust-tuned" => ("#64b5f6", " stroke-dasharray=\"6 4\""),
            "rust-pg" => ("#2e7d32", ""),
            "rust-before" => ("#9e9e9e", " stroke-dasharray=\"2 3\""),
            _ => ("#e65100", ""),
        };
        let path: Vec<String> = points
            .iter()
            .map(|(r, p)| format!("{:.1},{:.1}", x(*r), y(*p)))
            .collect();
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2.5\"{dash} points=\"{}\"/>",
            path.join(" ")
        );
        for (r, p) in points {
            let _ = writeln!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{color}\"/>",
                x(*r),
                y(*p)
            );
        }
        let ly = top + 20.0 + i as f64 * 22.0;
        let _ = writeln!(
            svg,
            "<line x1=\"{0}\" x2=\"{1}\" y1=\"{ly}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"3\"{dash}/><text x=\"{2}\" y=\"{3}\">{4}</text>",
            w - right + 15.0,
            w - right + 40.0,
            w - right + 46.0,
            ly + 4.0,
            legend(server)
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" fill=\"#c33\">50 ms target</text>",
        w - right + 15.0,
        y(50.0) + 4.0
    );
    svg.push_str("</svg>\n");
    svg
}
