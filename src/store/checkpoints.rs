//! The checkpointer: folds the WAL back into the database file once a
//! second, on its own connection and thread, so that no write waits for it.
//! A passive checkpoint copies what it can without blocking the writer; a
//! page written many times in that second is copied once.

use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;

const EVERY: Duration = Duration::from_secs(1);

/// Starts the thread; it stops when the returned sender is dropped.
pub fn spawn(conn: Connection) -> std::io::Result<mpsc::SyncSender<()>> {
    let (stop, stopped) = mpsc::sync_channel::<()>(1);
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
                let outcome = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                    Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
                });
                match outcome {
                    Ok((frames, copied)) if frames > 0 => {
                        tracing::trace!(frames, copied, "checkpoint");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "checkpoint failed"),
                }
            }
        })?;
    Ok(stop)
}
