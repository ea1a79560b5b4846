//! Command line and environment: one clap struct per subcommand. Every flag
//! has a `CHAT_*` environment variable; the `///` docs are the `--help`.
//! Every path the server uses is derived from `--data-dir` here.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod ip_range;

pub use ip_range::IpRange;

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
    /// Manage accounts (add, reset-password, disable, enable, list), also
    /// while the server runs.
    Users(UsersArgs),
    /// Copy a SQLite store into a PostgreSQL database (with the servers
    /// stopped), then check every table on both sides; safe to run again.
    Migrate(MigrateArgs),
}

#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// The data folder of the SQLite store (holding chat.db), or the
    /// database file itself.
    #[arg(long)]
    pub from: PathBuf,

    /// The PostgreSQL database to copy into: postgres://user:pass@host/db.
    /// Its schema is created if missing.
    #[arg(long, env = "CHAT_DATABASE_URL", hide_env_values = true)]
    pub to: String,
}

#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// The server's data folder (holding chat.db).
    #[arg(long, env = "CHAT_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// The server's --database-url: a PostgreSQL database is backed up with
    /// pg_dump instead (this command says how).
    #[arg(long, env = "CHAT_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// The backup file to write; must not exist yet.
    #[arg(long)]
    pub to: PathBuf,
}

/// The argon2id parameters new password hashes get by default (each hash
/// records its own, so a change never locks anyone out).
pub const ARGON2_MEMORY_KIB: u32 = 19456;
pub const ARGON2_TIME_COST: u32 = 2;
pub const ARGON2_PARALLELISM: u32 = 1;

/// How hard SQLite works to survive a power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SyncMode {
    /// `synchronous=NORMAL`: in WAL mode a commit survives a crash of the
    /// process; the last commits before a power loss may be lost.
    Normal,
    /// `synchronous=FULL`: every commit is fsynced; survives power loss, at
    /// the price of one fsync per commit batch.
    Full,
}

/// Who may make an account (`--registration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Registration {
    Open,
    Closed,
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

    /// Where the data lives. Absent or sqlite:// : the SQLite file
    /// <data-dir>/chat.db (sqlite:///path/to/file.db names another file);
    /// postgres://user:password@host:port/database : PostgreSQL, for several
    /// nodes on one database (files still go to the blob store).
    #[arg(long, env = "CHAT_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Redis (7 or later) that several nodes share: redis://host:6379. With it
    /// this node is one of a cluster: events reach sockets on every node,
    /// and presence, socket caps and the auth limits hold across nodes.
    /// Needs --database-url postgres://… (the nodes' one database).
    #[arg(long, env = "CHAT_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// What every Redis key and channel of this cluster starts with, so
    /// that several clusters (or test runs) can share one Redis.
    #[arg(long, env = "CHAT_REDIS_PREFIX", default_value = "chat")]
    pub redis_prefix: String,

    /// How often a node tells the cluster it is alive; after three missed
    /// beats it is taken for dead and its users go offline (within four).
    #[arg(long, env = "CHAT_CLUSTER_HEARTBEAT", default_value = "5s", value_parser = parse_duration)]
    pub cluster_heartbeat: Duration,

    /// Where uploaded files are kept: local (<data-dir>/uploads) or
    /// s3://bucket/prefix, S3-compatible object storage that several nodes
    /// share (credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,
    /// or the other usual AWS variables). Uploads are staged in
    /// <data-dir>/uploads/tmp either way.
    #[arg(long, env = "CHAT_BLOB_STORE", default_value = "local", value_parser = parse_blob_store)]
    pub blob_store: BlobStoreKind,

    /// The S3-compatible server for --blob-store s3://…, e.g.
    /// http://minio:9000 (path-style requests); absent: AWS itself.
    #[arg(long, env = "CHAT_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// The region for --blob-store s3://… (absent: AWS_DEFAULT_REGION or
    /// AWS_REGION, else us-east-1).
    #[arg(long, env = "CHAT_S3_REGION")]
    pub s3_region: Option<String>,

    /// Secret for signing tokens. When absent, a random one is generated on
    /// first start and kept in <data-dir>/jwt-secret (mode 0600), so tokens
    /// survive restarts; on PostgreSQL it is kept in the database instead
    /// (seeded from that file if there is one), shared by every node.
    #[arg(long, env = "CHAT_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// How long a login token stays valid: a number with s, m, h or d.
    #[arg(long, env = "CHAT_TOKEN_TTL", default_value = "24h", value_parser = parse_duration)]
    pub token_ttl: Duration,

    /// How long a session lasts without a refresh: each POST /auth/refresh
    /// spends its refresh token and gives one valid this long again (a
    /// number with s, m, h or d).
    #[arg(long, env = "CHAT_REFRESH_TTL", default_value = "30d", value_parser = parse_duration)]
    pub refresh_ttl: Duration,

    /// Who may make an account. open: anyone, with POST /auth/register.
    /// closed: only the operator, with `chat-server users add` (register is
    /// 403 registration_closed).
    #[arg(long, env = "CHAT_REGISTRATION", value_enum, default_value = "open")]
    pub registration: Registration,

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

    /// How much of the database file, in MiB, the reading connections map
    /// into memory (faster reads; the mapping is page cache, not heap). 0
    /// reads through ordinary file reads only.
    #[arg(long, env = "CHAT_SQLITE_MMAP_MIB", default_value_t = 256)]
    pub sqlite_mmap_mib: u64,

    /// WAL size, in MiB, at which the writer checkpoints and restarts the
    /// write-ahead log: under any load the chat.db-wal file stays below this
    /// plus one write batch, and it is truncated once writes stop.
    #[arg(long, env = "CHAT_SQLITE_WAL_MIB", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
    pub sqlite_wal_mib: u64,

    /// Largest file accepted by POST /uploads and send_file, in bytes (413
    /// above it).
    #[arg(long, env = "CHAT_MAX_UPLOAD_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub max_upload_bytes: u64,

    /// How long a signed file URL stays valid: a number with s, m, h or d.
    #[arg(long, env = "CHAT_FILE_URL_TTL", default_value = "24h", value_parser = parse_duration)]
    pub file_url_ttl: Duration,

    /// How long chat events are kept for catch-up (`GET /events`, replay on
    /// connect): a number with s, m, h or d. A `since` older than that is
    /// 410 `cursor_expired`.
    #[arg(long, env = "CHAT_EVENT_RETENTION", default_value = "30d", value_parser = parse_duration)]
    pub event_retention: Duration,

    /// Largest JSON request body, in bytes (413 above it).
    #[arg(long, env = "CHAT_MAX_JSON_BYTES", default_value_t = 256 * 1024)]
    pub max_json_bytes: usize,

    /// Argon2id memory cost in KiB (19456 = 19 MiB, OWASP's minimum).
    #[arg(long, env = "CHAT_ARGON2_MEMORY_KIB", default_value_t = ARGON2_MEMORY_KIB)]
    pub argon2_memory_kib: u32,

    /// Argon2id iterations.
    #[arg(long, env = "CHAT_ARGON2_TIME_COST", default_value_t = ARGON2_TIME_COST)]
    pub argon2_time_cost: u32,

    /// Argon2id lanes.
    #[arg(long, env = "CHAT_ARGON2_PARALLELISM", default_value_t = ARGON2_PARALLELISM)]
    pub argon2_parallelism: u32,

    /// Password hashes computed at once; further logins queue. Default: the
    /// number of CPUs. Each takes argon2-memory-kib of RAM while it runs.
    #[arg(long, env = "CHAT_MAX_CONCURRENT_HASHES")]
    pub max_concurrent_hashes: Option<usize>,

    /// Turn every rate limit off (for benchmarks).
    #[arg(long, env = "CHAT_NO_RATE_LIMITS")]
    pub no_rate_limits: bool,

    /// /auth/* requests per minute per client IP, sustained (0: no limit).
    #[arg(long, env = "CHAT_AUTH_PER_MINUTE", default_value_t = 120)]
    pub auth_per_minute: u32,

    /// /auth/* requests per client IP allowed in a burst.
    #[arg(long, env = "CHAT_AUTH_BURST", default_value_t = 100)]
    pub auth_burst: u32,

    /// Wrong passwords for one username within --login-failure-window after
    /// which its logins are refused (429) until the window passes; a
    /// successful login starts the count over (0: no limit).
    #[arg(long, env = "CHAT_LOGIN_FAILURES_PER_USER", default_value_t = 5)]
    pub login_failures_per_user: u32,

    /// Failed logins from one client address within --login-failure-window
    /// after which its logins are refused (0: no limit).
    #[arg(long, env = "CHAT_LOGIN_FAILURES_PER_IP", default_value_t = 20)]
    pub login_failures_per_ip: u32,

    /// The window failed logins are counted over: a number with s, m, h or d.
    #[arg(long, env = "CHAT_LOGIN_FAILURE_WINDOW", default_value = "15m", value_parser = parse_duration)]
    pub login_failure_window: Duration,

    /// Messages per second per user, REST and socket together, sustained (0: no limit).
    #[arg(long, env = "CHAT_SENDS_PER_SECOND", default_value_t = 20)]
    pub sends_per_second: u32,

    /// Messages per user allowed in a burst.
    #[arg(long, env = "CHAT_SENDS_BURST", default_value_t = 100)]
    pub sends_burst: u32,

    /// File uploads per minute per user, sustained (0: no limit).
    #[arg(long, env = "CHAT_UPLOADS_PER_MINUTE", default_value_t = 60)]
    pub uploads_per_minute: u32,

    /// File uploads per user allowed in a burst.
    #[arg(long, env = "CHAT_UPLOADS_BURST", default_value_t = 20)]
    pub uploads_burst: u32,

    /// Groups created per minute per user, sustained (0: no limit).
    #[arg(long, env = "CHAT_GROUPS_PER_MINUTE", default_value_t = 10)]
    pub groups_per_minute: u32,

    /// Groups per user allowed in a burst.
    #[arg(long, env = "CHAT_GROUPS_BURST", default_value_t = 20)]
    pub groups_burst: u32,

    /// Reverse proxies (addresses or CIDR blocks, comma-separated, e.g.
    /// 127.0.0.1,10.0.0.0/8) whose X-Forwarded-For header names the client.
    /// Nobody else's is believed.
    #[arg(long, env = "CHAT_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpRange>,

    /// Origins (comma-separated, e.g. https://app.example.com) allowed to
    /// call the API and Socket.IO from a browser. Default: none, only the
    /// server's own origin (the demo page).
    #[arg(long, env = "CHAT_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Open Socket.IO connections per user (more are refused).
    #[arg(long, env = "CHAT_MAX_SOCKETS_PER_USER", default_value_t = 32)]
    pub max_sockets_per_user: u32,

    /// How often the server pings each Socket.IO connection: a number with
    /// s, m or h. With `--ping-timeout` it bounds how long a vanished client
    /// (a dropped network, a sleeping laptop) still counts as online.
    #[arg(long, env = "CHAT_PING_INTERVAL", default_value = "25s", value_parser = parse_duration)]
    pub ping_interval: Duration,

    /// How long the server waits for a ping's answer before it closes the
    /// connection and the user's presence goes offline.
    #[arg(long, env = "CHAT_PING_TIMEOUT", default_value = "20s", value_parser = parse_duration)]
    pub ping_timeout: Duration,

    /// Members a group may have.
    #[arg(long, env = "CHAT_MAX_GROUP_MEMBERS", default_value_t = 5000)]
    pub max_group_members: u32,

    /// Longest a REST request may take (uploads, downloads and sockets are
    /// exempt): a number with s, m or h.
    #[arg(long, env = "CHAT_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Largest total size of a request's headers, in bytes (431 above it).
    #[arg(long, env = "CHAT_MAX_HEADER_BYTES", default_value_t = 16 * 1024)]
    pub max_header_bytes: usize,

    /// Open TCP connections at once; further ones wait to be accepted.
    #[arg(long, env = "CHAT_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// How long a graceful shutdown may wait for requests and writes in
    /// flight before exiting anyway.
    #[arg(long, env = "CHAT_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
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

    /// The SQLite file: `sqlite:///path` when given, else under the data dir.
    pub fn db_path(&self) -> PathBuf {
        db_path(self.database_url.as_deref(), &self.data_dir)
    }

    /// Which store `--database-url` names.
    pub fn database(&self) -> Result<Database, String> {
        database(self.database_url.as_deref())
    }

    pub fn secret_path(&self) -> PathBuf {
        self.data_dir.join("jwt-secret")
    }

    /// Uploaded files, content-addressed, and their staging area.
    pub fn uploads_dir(&self) -> PathBuf {
        self.data_dir.join("uploads")
    }
}

/// The store `--database-url` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite,
    /// The connection URL.
    Postgres(String),
}

/// Where uploaded files are kept (`--blob-store`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobStoreKind {
    Local,
    /// The `s3://bucket/prefix` URL.
    S3(String),
}

fn parse_blob_store(raw: &str) -> Result<BlobStoreKind, String> {
    match raw.trim() {
        "local" => Ok(BlobStoreKind::Local),
        url if url.starts_with("s3://") && url.len() > "s3://".len() => {
            Ok(BlobStoreKind::S3(url.to_string()))
        }
        _ => Err(format!("{raw:?}: expected local or s3://bucket/prefix")),
    }
}

/// The database file inside a data folder.
pub fn db_file(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("chat.db")
}

/// The SQLite file a `--database-url` (absent or sqlite://) and data dir name.
pub fn db_path(database_url: Option<&str>, data_dir: &std::path::Path) -> PathBuf {
    match database_url.and_then(|u| u.strip_prefix("sqlite://")) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => db_file(data_dir),
    }
}

/// Which store a `--database-url` names.
pub fn database(database_url: Option<&str>) -> Result<Database, String> {
    match database_url.map(str::trim) {
        None | Some("") => Ok(Database::Sqlite),
        Some(url) if url.starts_with("sqlite://") => Ok(Database::Sqlite),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Database::Postgres(url.to_string()))
        }
        Some(_) => Err("--database-url must start with sqlite:// or postgres://".into()),
    }
}

/// The operator's account commands (`chat-server users …`), against the
/// store of a running server or a stopped one.
#[derive(Debug, Clone, Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    pub action: UsersAction,

    /// The server's data folder (holding chat.db).
    #[arg(long, env = "CHAT_DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,

    /// The server's --database-url (absent: SQLite in --data-dir).
    #[arg(long, env = "CHAT_DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<String>,

    /// The cluster's --redis-url: revocations then reach every node at once
    /// (without it, running servers read them from the store within 0.25 s).
    #[arg(long, env = "CHAT_REDIS_URL", hide_env_values = true, global = true)]
    pub redis_url: Option<String>,

    /// The cluster's --redis-prefix.
    #[arg(long, env = "CHAT_REDIS_PREFIX", default_value = "chat", global = true)]
    pub redis_prefix: String,
}

#[derive(Debug, Clone, Subcommand)]
pub enum UsersAction {
    /// Make an account; its password is read from standard input (one line).
    Add {
        name: String,
        /// 1–64 characters; defaults to the username.
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Set a new password (read from standard input) and sign the user out
    /// everywhere.
    ResetPassword { name: String },
    /// Refuse the user's logins (403 account_disabled) and sign them out
    /// everywhere.
    Disable { name: String },
    /// Let a disabled user log in again.
    Enable { name: String },
    /// Every account: id, username, display name, state, live sessions.
    List,
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
