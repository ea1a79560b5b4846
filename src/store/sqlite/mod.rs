//! The SQLite store: one file under the data dir (the default).
//!
//! Reads run on a few reader threads, each with a pooled connection
//! (`Db::read`). Writes go to one writer thread (`Db::write`) that batches
//! whatever is queued into one transaction (group commit), gives each job
//! its own savepoint so one failure does not undo the others, and runs each
//! job's hook in commit order once the batch is durable. That one thread is
//! what makes message ids grow in commit order and lets broadcasts leave in
//! that same order. The SQL is plain synchronous functions on
//! `&Connection` in the sibling files; [`SqliteStore`] puts each whole
//! operation of the store's interface on one of the two doors.

mod access;
mod attachments;
mod changes;
mod chats;
mod checkpoints;
mod export;
mod groups;
mod log;
mod messages;
mod migrations;
mod readers;
mod search;
mod sessions;
mod users;
mod vocabulary;
mod writer;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;

use crate::config::Config;
pub use crate::config::SyncMode;
use crate::error::{AppError, Result};

impl From<rusqlite::Error> for AppError {
    fn from(e: rusqlite::Error) -> Self {
        AppError::internal(format_args!("sqlite: {e}"))
    }
}

impl From<r2d2::Error> for AppError {
    fn from(e: r2d2::Error) -> Self {
        AppError::internal(format_args!("connection pool: {e}"))
    }
}

/// How the SQLite file is opened.
#[derive(Debug, Clone, Copy)]
pub struct SqliteOptions {
    pub sync: SyncMode,
    /// Bytes of the file each reader maps into memory (0: none).
    pub reader_mmap_bytes: u64,
    /// WAL size at which the writer checkpoints and restarts the log between
    /// two batches; the file stays below this plus one batch.
    pub wal_limit_bytes: u64,
}

impl SqliteOptions {
    pub fn new(sync: SyncMode) -> Self {
        SqliteOptions {
            sync,
            reader_mmap_bytes: 0,
            wal_limit_bytes: 16 * 1024 * 1024,
        }
    }

    pub fn from_config(config: &Config) -> Self {
        SqliteOptions {
            sync: config.sync,
            reader_mmap_bytes: config.sqlite_mmap_mib.saturating_mul(1024 * 1024),
            wal_limit_bytes: config.sqlite_wal_mib.saturating_mul(1024 * 1024),
        }
    }
}

/// The store's interface over one SQLite file; cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    db: Db,
    /// One node uses the file: blob locks are this process's.
    blob_locks: Arc<crate::store::model::BlobLocks>,
    /// The words of the search index, for prefixes.
    vocabulary: Arc<vocabulary::Vocabulary>,
}

impl SqliteStore {
    pub fn open(path: &Path, options: SqliteOptions) -> std::io::Result<Self> {
        let db = Db::open(path, options)?;
        spawn_index_flusher(db.writer.downgrade());
        Ok(SqliteStore {
            db,
            blob_locks: Arc::default(),
            vocabulary: vocabulary::Vocabulary::load(path),
        })
    }
}

#[async_trait::async_trait]
impl super::Store for SqliteStore {
    async fn health(&self) -> Result<()> {
        Ok(())
    }

    async fn close(&self) -> Result<()> {
        self.db.checkpoint().await
    }
}

/// How often the pending part of the search index moves into FTS5.
/// (Often enough that one move is small: moving 2,000 messages at once
/// held the writer for some 20 ms, which showed in the sends' p99.)
const INDEX_FLUSH_EVERY: Duration = Duration::from_millis(50);

/// Moves the search index's pending part into FTS5 every
/// `INDEX_FLUSH_EVERY`, as a job of the writer, until the writer is gone.
fn spawn_index_flusher(writer: writer::WeakWriter) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(INDEX_FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(writer) = writer.upgrade() else { break };
            if let Err(e) = writer.submit(messages::flush_pending, |_| {}).await {
                tracing::warn!(error = %e, "moving new messages into the search index");
            }
        }
    });
}

/// Handle to the database: the reader threads and the writer; cheap to
/// clone.
#[derive(Clone)]
pub struct Db {
    /// The reader threads, each holding a pooled `query_only` connection.
    readers: Arc<readers::Readers>,
    /// The single writer thread's queue.
    writer: writer::WriterHandle,
    /// Dropped with the last handle, which stops the checkpointer thread.
    _checkpointer: Arc<std::sync::mpsc::SyncSender<()>>,
}

const NEW_DATABASE_PAGE_SIZE: i64 = 2048;

/// Pragmas every connection gets, readers and writer alike.
fn configure(conn: &Connection, sync: SyncMode, wal_limit_bytes: u64) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let sync = match sync {
        SyncMode::Normal => "NORMAL",
        SyncMode::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // When the WAL restarts, give its disk space back above this.
    conn.pragma_update(
        None,
        "journal_size_limit",
        i64::try_from(wal_limit_bytes).unwrap_or(i64::MAX),
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

impl Db {
    /// Opens (creating if needed) the database file, applies migrations and
    /// starts the writer and checkpointer threads.
    pub fn open(path: &Path, options: SqliteOptions) -> std::io::Result<Db> {
        let SqliteOptions {
            sync,
            reader_mmap_bytes,
            wal_limit_bytes,
        } = options;
        let reader_mmap = i64::try_from(reader_mmap_bytes).unwrap_or(i64::MAX);
        let to_io = |e: rusqlite::Error| std::io::Error::other(format!("{}: {e}", path.display()));
        let mut write_conn = Connection::open(path).map_err(to_io)?;
        // A new database gets 2 KiB pages: a message dirties a few pages in
        // different places (its row, two per-chat index leaves, its chat's
        // row), and each commit writes its dirty pages whole to the WAL, so
        // smaller pages halve the bytes written per message. (Measured: the
        // clean direct-message rate rose by a third against 4 KiB.) The size
        // of an existing database is left alone.
        let page_count: i64 = write_conn
            .pragma_query_value(None, "page_count", |r| r.get(0))
            .map_err(to_io)?;
        if page_count == 0 {
            write_conn
                .pragma_update(None, "page_size", NEW_DATABASE_PAGE_SIZE)
                .map_err(to_io)?;
        }
        configure(&write_conn, sync, wal_limit_bytes).map_err(to_io)?;
        migrations::apply(&mut write_conn).map_err(to_io)?;
        // Most checkpointing runs on its own thread (below), not inside the
        // writer's commits, where it stalled every write for its length; the
        // writer only restarts the log when it has grown past the limit.
        write_conn
            .pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(to_io)?;
        let checkpoint_conn = Connection::open(path).map_err(to_io)?;
        configure(&checkpoint_conn, sync, wal_limit_bytes).map_err(to_io)?;
        let turns = Arc::new(checkpoints::Turns::default());
        let checkpointer = checkpoints::spawn(checkpoint_conn, wal_file(path), Arc::clone(&turns))?;

        let manager = SqliteConnectionManager::file(path).with_init(move |c| {
            configure(c, sync, wal_limit_bytes)?;
            // Readers read mapped pages in place instead of a pread and a
            // copy per page missed (measured: +9 % history pages/s). The
            // mapping is of the file, so it is page cache, not heap.
            c.pragma_update_and_check(None, "mmap_size", reader_mmap, |_| Ok(()))?;
            c.pragma_update(None, "query_only", "ON")
        });
        let readers = std::thread::available_parallelism()
            .map_or(4, |n| n.get() * 2)
            .max(2);
        let pool = r2d2::Pool::builder()
            .max_size(u32::try_from(readers).unwrap_or(8))
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .build(manager)
            .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
        let writer = writer::spawn(write_conn, wal_limit_bytes, turns)?;
        Ok(Db {
            readers: Arc::new(readers::spawn(pool, readers)?),
            writer,
            _checkpointer: Arc::new(checkpointer),
        })
    }

    /// Runs `f` on a read connection, off the async runtime.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.readers.submit(f).await
    }

    /// Runs `f` inside the writer's next transaction and returns once that
    /// transaction has committed. If `f` fails, its changes are rolled back
    /// and the error is returned.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.writer.submit(f, |_| {}).await
    }

    /// Like [`Db::write`], and once the batch holding `f` has committed, runs
    /// `after_commit`, in commit order with every other job's. This is how
    /// broadcasts leave in id order. `after_commit` must be quick and must
    /// not block (queue a message, no I/O).
    pub async fn write_then<T, F, A>(&self, f: F, after_commit: A) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        A: FnOnce(&T) + Send + 'static,
        T: Send + 'static,
    {
        self.writer.submit(f, after_commit).await
    }

    /// Folds the WAL back into the main file; used at shutdown.
    pub async fn checkpoint(&self) -> Result<()> {
        self.writer
            .submit_outside_transaction(|conn| {
                conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
                Ok(())
            })
            .await
    }
}

/// The WAL file beside a database file.
fn wal_file(db_path: &Path) -> std::path::PathBuf {
    let mut name = db_path.as_os_str().to_os_string();
    name.push("-wal");
    std::path::PathBuf::from(name)
}

/// Writes a consistent copy of the database at `db_path` to `target` (which
/// must not exist) with `VACUUM INTO`: safe while the server runs, unlike
/// copying a live WAL database file.
pub fn backup(db_path: &Path, target: &Path) -> std::io::Result<()> {
    let to_io = |e: rusqlite::Error| std::io::Error::other(e.to_string());
    if !db_path.exists() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no database at {}", db_path.display()),
        ));
    }
    if target.exists() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} exists; choose a new file", target.display()),
        ));
    }
    let conn =
        Connection::open_with_flags(db_path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(to_io)?;
    conn.busy_timeout(Duration::from_secs(30)).map_err(to_io)?;
    let target = target
        .to_str()
        .ok_or_else(|| std::io::Error::other("the backup path must be UTF-8"))?;
    conn.execute("VACUUM INTO ?1", [target]).map_err(to_io)?;
    Ok(())
}

/// Runs a cached statement that returns no rows (transaction control):
/// parsing these on every job showed up in profiles.
fn exec_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute([]))
        .map(|_| ())
}

/// Runs one job's work; a panic in it becomes an internal error for that
/// job, and the thread that ran it lives on.
fn run_guarded<T>(conn: &Connection, work: impl FnOnce(&Connection) -> Result<T>, what: &str) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(conn))).unwrap_or_else(|_| {
        Err(crate::error::AppError::internal(format_args!(
            "a {what} job panicked"
        )))
    })
}

/// A text column read in place, for values only compared (kinds, roles):
/// no String allocated per row.
fn text_at<'a>(row: &'a rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<&'a str> {
    row.get_ref(idx)?
        .as_str()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e)))
}

/// True when `e` is a UNIQUE or PRIMARY KEY violation.
fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}
