//! `loadgen`: the load generator for chat-server and the Node.js reference.
//! It speaks Engine.IO 4 / Socket.IO 5 over WebSocket itself, runs on one
//! thread (pin it to a core with `taskset`), only to loopback, bounded in
//! time, and prints one JSON line per measurement on stdout. It reports its
//! own CPU use; a result where it was saturated says so.
//! `bench/run.sh` drives both servers through every scenario; `loadgen
//! report` turns the JSON lines into docs/BENCHMARKS.md tables and an SVG.

mod catchup;
mod changes;
mod direct;
mod fanout;
mod history;
mod http;
mod idle;
mod refresh;
mod report;
mod sio;
mod stats;

use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    name = "loadgen",
    about = "Load generator for chat-server (and the Node.js reference)"
)]
struct Cli {
    /// key=value pairs added to every result line (e.g. server=rust round=1).
    #[arg(long = "tag", global = true)]
    tags: Vec<String>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Authenticated idle sockets: server RSS per socket and connect rate.
    Idle {
        #[arg(long)]
        addr: String,
        #[arg(long, default_value_t = 10_000)]
        sockets: usize,
        #[arg(long, default_value_t = 100)]
        users: usize,
        /// Connections being opened at once.
        #[arg(long, default_value_t = 64)]
        parallel: usize,
        #[arg(long)]
        server_pid: String,
        #[arg(long, default_value_t = 3.0)]
        hold_seconds: f64,
    },
    /// Connected pairs sending direct messages at fixed rates.
    Direct {
        /// host:port, or several comma-separated: the nodes of a cluster
        /// (each receiver on another node than its sender).
        #[arg(long)]
        addr: String,
        #[arg(long, default_value_t = 500)]
        pairs: usize,
        /// Aggregate messages per second, one phase each.
        #[arg(long, value_delimiter = ',', default_value = "1000,5000,10000,20000,30000")]
        rates: Vec<f64>,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// The server's process id: its CPU and RSS are measured.
        #[arg(long)]
        server_pid: Option<String>,
        /// Clients logging in back to back during each phase.
        #[arg(long, default_value_t = 0)]
        login_clients: usize,
        /// After the last phase, wait this many seconds with the sockets
        /// connected and idle, then print one more line (`…-after`) with
        /// the server's RSS and the watched file's size (0: no wait).
        #[arg(long, default_value_t = 0.0)]
        after_seconds: f64,
        /// A file whose size is sampled with the server's RSS every 250 ms
        /// (e.g. the server's chat.db-wal): peak per phase, size after.
        #[arg(long)]
        watch_file: Option<String>,
        /// The scenario name in the result lines (default: direct, or
        /// direct+login with --login-clients; e.g. soak).
        #[arg(long)]
        name: Option<String>,
    },
    /// One group of connected members, messages at fixed rates.
    Fanout {
        #[arg(long)]
        addr: String,
        #[arg(long, default_value_t = 1000)]
        members: usize,
        #[arg(long, value_delimiter = ',', default_value = "100,300,1000")]
        rates: Vec<f64>,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// The server's process id: its CPU and RSS are measured.
        #[arg(long)]
        server_pid: Option<String>,
        /// After the last phase, wait this many seconds with the sockets
        /// connected and idle, then print one more line (`…-after`) with
        /// the server's RSS and the watched file's size (0: no wait).
        #[arg(long, default_value_t = 0.0)]
        after_seconds: f64,
        /// A file whose size is sampled with the server's RSS every 250 ms
        /// (e.g. the server's chat.db-wal): peak per phase, size after.
        #[arg(long)]
        watch_file: Option<String>,
    },
    /// History pages from a big chat, closed loop.
    History {
        #[arg(long)]
        addr: String,
        #[arg(long)]
        chat_id: i64,
        #[arg(long)]
        token: String,
        #[arg(long)]
        max_id: u64,
        #[arg(long, default_value_t = 64)]
        clients: usize,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        #[arg(long)]
        server_pid: Option<String>,
    },
    /// Refresh-token rotation (v2 sessions), closed loop: each client spends
    /// its own chain of refresh tokens.
    Refresh {
        #[arg(long)]
        addr: String,
        #[arg(long, default_value_t = 16)]
        clients: usize,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        #[arg(long)]
        server_pid: Option<String>,
    },
    /// v2 search, edits or reactions, closed loop (see `changes.rs`).
    Changes {
        #[arg(long)]
        addr: String,
        /// search, edit or react.
        #[arg(long)]
        kind: String,
        #[arg(long)]
        query: Option<String>,
        #[arg(long)]
        token: Option<String>,
        #[arg(long, default_value_t = 16)]
        clients: usize,
        #[arg(long, default_value_t = 50)]
        own: usize,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        #[arg(long)]
        server_pid: Option<String>,
        #[arg(long)]
        label: Option<String>,
    },
    /// v2 catch-up, closed loop: replays on connect or /events pages (see
    /// `catchup.rs`).
    Catchup {
        #[arg(long)]
        addr: String,
        /// replay or pages.
        #[arg(long)]
        kind: String,
        #[arg(long)]
        token: String,
        #[arg(long)]
        since: i64,
        #[arg(long, default_value_t = 16)]
        clients: usize,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        #[arg(long)]
        server_pid: Option<String>,
    },
    /// Start a server command, time it to a healthy /healthz, read its RSS.
    Startup {
        #[arg(long)]
        addr: String,
        /// The server command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Turn result lines into docs/BENCHMARKS.md tables and an SVG chart.
    Report {
        /// The JSON-lines results file.
        results: String,
        /// Where to write the markdown tables.
        #[arg(long)]
        markdown: String,
        /// Where to write the latency-versus-rate chart.
        #[arg(long)]
        svg: String,
    },
}

fn emit(tags: &[String], mut value: Value) {
    for tag in tags {
        if let Some((k, v)) = tag.split_once('=') {
            value[k] = json!(v);
        }
    }
    println!("{value}");
}

fn main() {
    let cli = Cli::parse();
    if let Scenario::Report {
        results,
        markdown,
        svg,
    } = &cli.scenario
    {
        if let Err(e) = report::write(results, markdown, svg) {
            eprintln!("report: {e}");
            std::process::exit(1);
        }
        return;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("runtime: {e}");
            std::process::exit(1);
        }
    };
    let local = tokio::task::LocalSet::new();
    let tags = cli.tags.clone();
    local.block_on(&runtime, async move {
        stats::now_us();
        match cli.scenario {
            Scenario::Idle {
                addr,
                sockets,
                users,
                parallel,
                server_pid,
                hold_seconds,
            } => {
                let o = idle::Options {
                    addr,
                    sockets,
                    users,
                    parallel,
                    server_pid,
                    hold_seconds,
                };
                emit(&tags, idle::run(o).await);
            }
            Scenario::Direct {
                addr,
                pairs,
                rates,
                seconds,
                server_pid,
                login_clients,
                after_seconds,
                watch_file,
                name,
            } => {
                let o = direct::Options {
                    addr,
                    pairs,
                    rates,
                    seconds,
                    server_pid,
                    login_clients,
                    after_seconds,
                    watch_file,
                    name,
                };
                for r in direct::run(o).await {
                    emit(&tags, r);
                }
            }
            Scenario::Fanout {
                addr,
                members,
                rates,
                seconds,
                server_pid,
                after_seconds,
                watch_file,
            } => {
                let o = fanout::Options {
                    addr,
                    members,
                    rates,
                    seconds,
                    server_pid,
                    after_seconds,
                    watch_file,
                };
                for r in fanout::run(o).await {
                    emit(&tags, r);
                }
            }
            Scenario::History {
                addr,
                chat_id,
                token,
                max_id,
                clients,
                seconds,
                server_pid,
            } => {
                let o = history::Options {
                    addr,
                    chat_id,
                    token,
                    max_id,
                    clients,
                    seconds,
                    server_pid,
                };
                emit(&tags, history::run(o).await);
            }
            Scenario::Refresh {
                addr,
                clients,
                seconds,
                server_pid,
            } => {
                let o = refresh::Options {
                    addr,
                    clients,
                    seconds,
                    server_pid,
                };
                emit(&tags, refresh::run(o).await);
            }
            Scenario::Changes {
                addr,
                kind,
                query,
                token,
                clients,
                own,
                seconds,
                server_pid,
                label,
            } => {
                let o = changes::Options {
                    addr,
                    kind,
                    query,
                    token,
                    clients,
                    own,
                    seconds,
                    server_pid,
                    label,
                };
                emit(&tags, changes::run(o).await);
            }
            Scenario::Catchup {
                addr,
                kind,
                token,
                since,
                clients,
                seconds,
                server_pid,
            } => {
                let o = catchup::Options {
                    addr,
                    kind,
                    token,
                    since,
                    clients,
                    seconds,
                    server_pid,
                };
                emit(&tags, catchup::run(o).await);
            }
            Scenario::Startup { addr, command } => emit(&tags, startup(&addr, &command).await),
            Scenario::Report { .. } => {}
        }
    });
}

async fn startup(addr: &str, command: &[String]) -> Value {
    let started = Instant::now();
    let mut child = match std::process::Command::new(&command[0])
        .args(&command[1..])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => return json!({ "scenario": "startup", "error": e.to_string() }),
    };
    let mut healthy = None;
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(mut client) = http::Http::connect(addr).await
            && let Ok(r) = client.request("GET", "/healthz", None, None).await
            && r.status == 200
        {
            healthy = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss = stats::rss_kib(&child.id().to_string());
    let _ = child.kill();
    let _ = child.wait();
    json!({
        "scenario": "startup",
        "start_to_healthy_ms": healthy.map(|d| (d.as_secs_f64() * 10_000.0).round() / 10.0),
        "idle_rss_kib": rss,
        "idle_rss_mib": rss.map(|kib| (kib as f64 / 1024.0 * 10.0).round() / 10.0),
    })
}
