//! Keeping the WAL bounded: folding it back into the database file, and
//! restarting it before it grows past its limit.
//!
//! Two parts share the work. The checkpointer thread runs a passive
//! checkpoint ten times a second on its own connection, so that no write
//! waits for the copying; once writes stop, it truncates the WAL to nothing. But
//! SQLite only rewinds the WAL when a write transaction starts with every
//! frame already copied, and under steady load the writer always has newer
//! frames than the last passive pass: on its own the WAL would grow without
//! end. So the writer itself, between two batches, runs a `RESTART`
//! checkpoint once the WAL holds more than the limit ([`WalLimit`]): by then
//! the thread has copied most frames, the writer copies the rest, waits
//! (briefly) for readers still on old snapshots, and its next batch starts
//! the log from the top again.

use std::cell::Cell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// How often the thread copies what the writer added. Often enough that
/// the writer's own restart finds little left to copy: copying and its
/// fsync then happen here, off the path of every write.
const EVERY: Duration = Duration::from_millis(100);
/// How long the WAL must stay unchanged and fully copied before the thread
/// truncates it (writes have stopped).
const IDLE_AFTER: Duration = Duration::from_secs(1);

/// How long the writer's checkpoint may wait for a reader on an old
/// snapshot before it gives up for now (writes wait meanwhile).
const RESTART_BUSY_TIMEOUT: Duration = Duration::from_millis(200);
/// After a restart that could not finish (a long reader: a backup), how long
/// the writer leaves it before trying again.
const RETRY_AFTER: Duration = Duration::from_millis(20);
/// The writer connection's usual busy timeout (see `store::configure`).
const WRITER_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// What the checkpointer thread and the writer share: whether the writer
/// is restarting the WAL (the thread then leaves it alone), and a lock each
/// holds while it checkpoints. SQLite refuses a checkpoint at once, without
/// waiting, while another is running: without the lock, a restart that
/// met the thread's pass failed and was postponed, and under heavy writes
/// the WAL grew well past its limit meanwhile.
#[derive(Default)]
pub struct Turns {
    over_limit: AtomicBool,
    checkpointing: std::sync::Mutex<()>,
}

impl Turns {
    fn hold(&self) -> std::sync::MutexGuard<'_, ()> {
        self.checkpointing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What `PRAGMA wal_checkpoint` reports: whether it was blocked, the
/// frames in the WAL, and how many of them are in the database file now.
struct Outcome {
    busy: bool,
    log: i64,
    checkpointed: i64,
}

fn checkpoint(conn: &Connection, mode: &'static str) -> rusqlite::Result<Outcome> {
    let started = Instant::now();
    let outcome = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        Ok(Outcome {
            busy: row.get::<_, i64>(0)? != 0,
            log: row.get(1)?,
            checkpointed: row.get(2)?,
        })
    });
    let result = match &outcome {
        Ok(o) if o.busy => "busy",
        Ok(_) => "done",
        Err(_) => "error",
    };
    metrics::counter!("chat_sqlite_checkpoints_total", "mode" => mode, "result" => result).increment(1);
    metrics::histogram!("chat_sqlite_checkpoint_duration_seconds", "mode" => mode)
        .record(started.elapsed().as_secs_f64());
    if let Ok(o) = &outcome {
        metrics::gauge!("chat_sqlite_wal_frames").set(o.log.max(0) as f64);
    }
    outcome
}

/// Starts the thread; it stops when the returned sender is dropped. It
/// leaves the WAL alone while `over_limit` says the writer is restarting it
/// (two checkpoints at once make the writer's wait for the other).
pub fn spawn(
    conn: Connection,
    wal_path: PathBuf,
    turns: Arc<Turns>,
) -> std::io::Result<mpsc::SyncSender<()>> {
    let (stop, stopped) = mpsc::sync_channel::<()>(1);
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            // The WAL's frame count at the previous pass, and since when it
            // has stayed so and fully copied: writes have stopped.
            let mut previous_log = -1;
            let mut unchanged_since = Instant::now();
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
                if turns.over_limit.load(Ordering::Relaxed) {
                    continue;
                }
                let turn = turns.hold();
                let passed = checkpoint(&conn, "PASSIVE");
                drop(turn);
                match passed {
                    Ok(o) if o.log != previous_log || o.log != o.checkpointed => {
                        previous_log = o.log;
                        unchanged_since = Instant::now();
                    }
                    Ok(o) => {
                        if o.log > 0 && unchanged_since.elapsed() >= IDLE_AFTER {
                            // Give the disk space back; a writer arriving now
                            // waits the few moments this takes.
                            let _turn = turns.hold();
                            if let Err(e) = checkpoint(&conn, "TRUNCATE") {
                                tracing::warn!(error = %e, "WAL truncation failed");
                            }
                            previous_log = -1;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "checkpoint failed"),
                }
                let wal_bytes = std::fs::metadata(&wal_path).map_or(0, |m| m.len());
                metrics::gauge!("chat_sqlite_wal_bytes").set(wal_bytes as f64);
            }
        })?;
    Ok(stop)
}

thread_local! {
    /// Frames in the WAL after the last commit on this thread's connection,
    /// as SQLite's WAL hook reports them. The writer is one thread with one
    /// connection, so a thread-local is exactly its own count.
    static WAL_FRAMES: Cell<i32> = const { Cell::new(0) };
}

fn record_frames(_wal: &rusqlite::hooks::Wal, frames: std::os::raw::c_int) -> rusqlite::Result<()> {
    WAL_FRAMES.with(|f| f.set(frames));
    Ok(())
}

/// The writer's side: after each commit, restarts the WAL once it holds
/// more than `limit_bytes`.
pub struct WalLimit {
    limit_frames: i64,
    /// Set after a restart that readers kept from finishing.
    retry_at: Option<Instant>,
    /// Shared with the checkpointer thread.
    turns: Arc<Turns>,
}

impl WalLimit {
    /// Installs the WAL hook on the writer's connection (after
    /// `wal_autocheckpoint`, which would replace it).
    pub fn install(conn: &Connection, limit_bytes: u64, turns: Arc<Turns>) -> rusqlite::Result<Self> {
        let page_size: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
        // Each frame is a page plus a 24-byte header.
        let frame_bytes = page_size.max(512) + 24;
        conn.wal_hook(Some(record_frames));
        Ok(WalLimit {
            limit_frames: (i64::try_from(limit_bytes).unwrap_or(i64::MAX) / frame_bytes).max(16),
            retry_at: None,
            turns,
        })
    }

    /// Called between batches, outside any transaction.
    pub fn after_commit(&mut self, conn: &Connection) {
        if i64::from(WAL_FRAMES.with(Cell::get)) < self.limit_frames {
            return;
        }
        self.turns.over_limit.store(true, Ordering::Relaxed);
        if self.retry_at.is_some_and(|at| Instant::now() < at) {
            return;
        }
        let _ = conn.busy_timeout(RESTART_BUSY_TIMEOUT);
        let turn = self.turns.hold();
        let restarted = checkpoint(conn, "RESTART");
        drop(turn);
        match restarted {
            Ok(o) if !o.busy => {
                self.retry_at = None;
                WAL_FRAMES.with(|f| f.set(0));
                self.turns.over_limit.store(false, Ordering::Relaxed);
            }
            Ok(o) => {
                tracing::debug!(
                    log = o.log,
                    checkpointed = o.checkpointed,
                    "WAL restart postponed: a reader holds an old snapshot"
                );
                self.retry_at = Some(Instant::now() + RETRY_AFTER);
            }
            Err(e) => {
                tracing::warn!(error = %e, "WAL restart failed");
                self.retry_at = Some(Instant::now() + RETRY_AFTER);
            }
        }
        let _ = conn.busy_timeout(WRITER_BUSY_TIMEOUT);
    }
}
