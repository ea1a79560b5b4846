//! The `chat-server` binary: parse the command line, set up logging, then
//! `serve` or `healthcheck`. Nothing else lives here.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;

use chat_server::config::{
    BackupArgs, Cli, Command, Config, HealthcheckArgs, LogFormat, MigrateArgs, UsersArgs, db_file,
};
use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(config) => serve(*config),
        Command::Healthcheck(args) => healthcheck(&args),
        Command::Backup(args) => backup(&args),
        Command::Migrate(args) => migrate(&args),
        Command::Users(args) => users(args),
    }
}

fn users(args: UsersArgs) -> ExitCode {
    // Warnings only, on standard error: the output is the command's answer.
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new("warn,tokio_postgres=warn"))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("chat-server users: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(chat_server::operator::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat-server users: {e}");
            ExitCode::FAILURE
        }
    }
}

fn migrate(args: &MigrateArgs) -> ExitCode {
    use chat_server::store::transfer;
    if !(args.to.starts_with("postgres://") || args.to.starts_with("postgresql://")) {
        eprintln!("chat-server migrate: --to must be a postgres:// URL");
        return ExitCode::from(2);
    }
    let file = if args.from.is_dir() {
        db_file(&args.from)
    } else {
        args.from.clone()
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("chat-server migrate: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(transfer::sqlite_to_postgres(&file, &args.to, |copied| {
        let mark = if copied.matches() {
            "ok".to_string()
        } else if copied.differing > 0 {
            format!("MISMATCH: {} rows differ", copied.differing)
        } else {
            "MISMATCH".to_string()
        };
        println!(
            "{:<13} {:>10} rows in SQLite, {:>10} in PostgreSQL  {mark}",
            copied.table.name(),
            copied.source.rows,
            copied.target.rows
        );
    }));
    match outcome {
        Ok(report) if transfer::verified(&report) => {
            println!(
                "copied {} into {}; every table matches",
                file.display(),
                chat_server::store::postgres::redact(&args.to)
            );
            ExitCode::SUCCESS
        }
        Ok(_) => {
            eprintln!(
                "chat-server migrate: the tables differ (the target held other data?); nothing was overwritten"
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("chat-server migrate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn backup(args: &BackupArgs) -> ExitCode {
    if let Some(url) = args
        .database_url
        .as_deref()
        .filter(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
    {
        eprintln!(
            "chat-server backup copies the SQLite store. For PostgreSQL use its own tools, e.g.\n  \
             pg_dump --format=custom --file {} '{}'\n\
             (restore with pg_restore into an empty database), and copy the blob store as usual.",
            args.to.display(),
            chat_server::store::postgres::redact(url)
        );
        return ExitCode::from(2);
    }
    match chat_server::store::sqlite::backup(&db_file(&args.data_dir), &args.to) {
        Ok(()) => {
            println!("backed up to {}", args.to.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("chat-server backup: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config: Config) -> ExitCode {
    // tokio-postgres logs every statement with its parameters at debug
    // level (password hashes among them): never below info unless asked for
    // by name.
    let directives = if config.log.contains("tokio_postgres") {
        config.log.clone()
    } else {
        format!("{},tokio_postgres=info", config.log)
    };
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a terminal: escape codes in a log file are noise, and
    // writing them is work on every line.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    match config.log_format {
        LogFormat::Pretty => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("chat-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.addr).await?;
        chat_server::serve(config, listener, shutdown_signal()).await
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "chat-server failed");
            eprintln!("chat-server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received");
}

/// A plain HTTP/1.1 GET, so the image needs no curl.
fn healthcheck(args: &HealthcheckArgs) -> ExitCode {
    let url = args.url.clone().unwrap_or_else(|| {
        let mut addr = args.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{addr}/healthz")
    });
    match probe(&url, args.timeout) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("unhealthy: {url}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn probe(url: &str, timeout: std::time::Duration) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// URLs are supported")?;
    let (host_port, path) = rest.split_once('/').map_or((rest, "/"), |(h, p)| (h, p));
    let addr: SocketAddr = host_port
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("no address for host")?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host_port}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).map_err(|e| e.to_string())?;
    if head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200") {
        Ok(())
    } else {
        Err(format!("answered {}", String::from_utf8_lossy(&head)))
    }
}
