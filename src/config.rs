//! Command line and environment: one clap struct per subcommand. Every flag
//! has a `CHAT_*` environment variable; the `///` docs are the `--help`.
//! Every path the server uses is derived from `--data-dir` here.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::store::SyncMode;

/// A self-hosted chat server: REST and Socket.IO v4 on embedded SQLite.
#[derive(Debug, Parser)]
#[command(name = "chat-server", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (REST, Socket.IO, files) in this process.
    Serve(Box<Config>),
    /// Exit 0 when a running server's /healthz answers 200 (for Docker and Fly).
    Healthcheck(HealthcheckArgs),
    /// Copy the database to a file, consistently, while the server runs.
    Backup(BackupArgs),
}

#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// The server's data folder (holding chat.db).
    #[arg(long, env = "CHAT_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// The backup file to write; must not exist yet.
    #[arg(long)]
    pub to: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Everything `serve` needs.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address and port to listen on.
    #[arg(long, env = "CHAT_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// Folder for the database, the JWT secret and uploaded files; created if missing.
    #[arg(long, env = "CHAT_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Secret for signing tokens. When absent, a random one is generated on
    /// first start and kept in <data-dir>/jwt-secret (mode 0600), so tokens
    /// survive restarts.
    #[arg(long, env = "CHAT_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// How long a login token stays valid: a number with s, m, h or d.
    #[arg(long, env = "CHAT_TOKEN_TTL", default_value = "24h", value_parser = parse_duration)]
    pub token_ttl: Duration,

    /// Log line format.
    #[arg(long, env = "CHAT_LOG_FORMAT", value_enum, default_value = "pretty")]
    pub log_format: LogFormat,

    /// Log filter, in tracing's EnvFilter syntax (e.g. "info,chat_server=debug").
    #[arg(long, env = "CHAT_LOG", default_value = "info")]
    pub log: String,

    /// SQLite durability. normal: a commit survives a crash of the process,
    /// the last moments before a power loss may not. full: fsync on every
    /// commit batch; survives power loss, costs write throughput.
    #[arg(long, env = "CHAT_SYNC", value_enum, default_value = "normal")]
    pub sync: SyncMode,

    /// Largest file accepted by POST /uploads and send_file, in bytes (413
    /// above it).
    #[arg(long, env = "CHAT_MAX_UPLOAD_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub max_upload_bytes: u64,

    /// How long a signed file URL stays valid: a number with s, m, h or d.
    #[arg(long, env = "CHAT_FILE_URL_TTL", default_value = "24h", value_parser = parse_duration)]
    pub file_url_ttl: Duration,

    /// Largest JSON request body, in bytes (413 above it).
    #[arg(long, env = "CHAT_MAX_JSON_BYTES", default_value_t = 256 * 1024)]
    pub max_json_bytes: usize,

    /// Argon2id memory cost in KiB (19456 = 19 MiB, OWASP's minimum).
    #[arg(long, env = "CHAT_ARGON2_MEMORY_KIB", default_value_t = 19456)]
    pub argon2_memory_kib: u32,

    /// Argon2id iterations.
    #[arg(long, env = "CHAT_ARGON2_TIME_COST", default_value_t = 2)]
    pub argon2_time_cost: u32,

    /// Argon2id lanes.
    #[arg(long, env = "CHAT_ARGON2_PARALLELISM", default_value_t = 1)]
    pub argon2_parallelism: u32,

    /// Password hashes computed at once; further logins queue. Default: the
    /// number of CPUs. Each takes argon2-memory-kib of RAM while it runs.
    #[arg(long, env = "CHAT_MAX_CONCURRENT_HASHES")]
    pub max_concurrent_hashes: Option<usize>,
}

impl Config {
    /// The config `serve` would get with no flags (environment variables
    /// still apply), using `data_dir`; for tests and embedding.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Result<Self, clap::Error> {
        let Cli { command } = Cli::try_parse_from(["chat-server", "serve"])?;
        let Command::Serve(mut config) = command else {
            return Err(clap::Error::new(clap::error::ErrorKind::InvalidSubcommand));
        };
        config.data_dir = data_dir.into();
        Ok(*config)
    }

    pub fn db_path(&self) -> PathBuf {
        db_file(&self.data_dir)
    }

    pub fn secret_path(&self) -> PathBuf {
        self.data_dir.join("jwt-secret")
    }

    /// Uploaded files, content-addressed, and their staging area.
    pub fn uploads_dir(&self) -> PathBuf {
        self.data_dir.join("uploads")
    }
}

/// The database file inside a data folder.
pub fn db_file(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("chat.db")
}

#[derive(Debug, Clone, Args)]
pub struct HealthcheckArgs {
    /// Full URL to probe; defaults to http://<addr>/healthz.
    #[arg(long, env = "CHAT_HEALTHCHECK_URL")]
    pub url: Option<String>,

    /// The server's listen address (the same variable `serve` reads); an
    /// unspecified host (0.0.0.0, ::) is probed on loopback.
    #[arg(long, env = "CHAT_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// Give up after this long.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// "90", "90s", "15m", "24h", "7d".
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (digits, unit) = raw.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration like 90s, 15m, 24h or 7d"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => return Err(format!("unknown unit {unit:?} in {raw:?}: use s, m, h or d")),
    };
    if secs == 0 {
        return Err("a duration must be at least 1s".into());
    }
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn defaults_parse() {
        let c = Config::with_data_dir("/tmp/x").unwrap();
        assert_eq!(c.addr.port(), 3000);
        assert_eq!(c.token_ttl, Duration::from_secs(86_400));
        assert_eq!(c.db_path(), PathBuf::from("/tmp/x/chat.db"));
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
