//! The writer thread: the one connection that writes, and group commit.
//!
//! Jobs queue up on a bounded channel (a full queue makes senders wait: that
//! is the backpressure). The thread takes everything queued, up to
//! `MAX_BATCH`, runs each job inside its own savepoint of one `BEGIN
//! IMMEDIATE` transaction, commits once, and only then answers the jobs and
//! runs their `after_commit` hooks, in order (on the async runtime, a batch
//! at a time). A failed job rolls back to its
//! savepoint and leaves the rest of the batch alone; a failed commit fails
//! every job in the batch, and none of their hooks run.

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::checkpoints::WalLimit;
use crate::error::{AppError, Result};

/// How many jobs may wait for the writer before senders are made to wait.
const QUEUE_CAPACITY: usize = 8192;
/// The most jobs folded into one transaction.
const MAX_BATCH: usize = 1024;
/// How many times the writer yields its core for more jobs before it
/// commits a batch.
const LINGER_YIELDS: u32 = 2;

/// What a job leaves to do once its batch's fate is known: answer the
/// caller, and on success run its hook. `true` means committed.
type Completion = Box<dyn FnOnce(bool) + Send>;

/// A unit of work for the writer, type-erased.
trait WriteJob: Send {
    /// Runs inside the open transaction.
    fn run(self: Box<Self>, conn: &Connection) -> Completion;
    /// Answers the caller with an error without running.
    fn abort(self: Box<Self>, why: &str);
}

struct Job<F, A, T> {
    work: F,
    after_commit: A,
    reply: oneshot::Sender<Result<T>>,
}

impl<F, A, T> WriteJob for Job<F, A, T>
where
    F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    A: FnOnce(&T) + Send + 'static,
    T: Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> Completion {
        let Job {
            work,
            after_commit,
            reply,
        } = *self;
        let outcome = run_in_savepoint(conn, work);
        Box::new(move |committed| {
            let outcome = match outcome {
                Ok(value) if committed => {
                    after_commit(&value);
                    Ok(value)
                }
                Ok(_) => Err(AppError::internal("the write batch failed to commit")),
                Err(e) => Err(e),
            };
            // The caller may have gone away (request cancelled): nothing to do.
            let _ = reply.send(outcome);
        })
    }

    fn abort(self: Box<Self>, why: &str) {
        let _ = self.reply.send(Err(AppError::internal(why)));
    }
}

fn run_in_savepoint<T>(conn: &Connection, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    let exec = |sql: &str| super::exec_cached(conn, sql);
    exec("SAVEPOINT job")?;
    let outcome = super::run_guarded(conn, work, "write");
    match outcome {
        Ok(_) => exec("RELEASE job")?,
        Err(_) => {
            exec("ROLLBACK TO job")?;
            exec("RELEASE job")?;
        }
    }
    outcome
}

enum Message {
    /// Runs in the next batch's transaction.
    InTransaction(Box<dyn WriteJob>),
    /// Runs alone, between batches, outside any transaction (checkpoints).
    Alone(Box<dyn FnOnce(&Connection) + Send>),
}

/// Sends jobs to the writer thread; cheap to clone.
#[derive(Clone)]
pub struct WriterHandle {
    queue: mpsc::Sender<Message>,
}

/// A committed (or failed) batch's completions, in commit order.
type Finished = (Vec<Completion>, bool);

/// Starts the writer thread, and the task that completes its batches.
///
/// Completions run on the async runtime, a batch at a time: answering each
/// job from the writer thread would wake the runtime once per job, and on a
/// busy single core every wake-up is a context switch back and forth.
pub fn spawn(
    conn: Connection,
    wal_limit_bytes: u64,
    turns: std::sync::Arc<super::checkpoints::Turns>,
) -> std::io::Result<WriterHandle> {
    let wal_limit = WalLimit::install(&conn, wal_limit_bytes, turns).map_err(std::io::Error::other)?;
    let (queue, inbox) = mpsc::channel(QUEUE_CAPACITY);
    let (finished, mut to_complete) = mpsc::unbounded_channel::<Finished>();
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                while let Some((completions, committed)) = to_complete.recv().await {
                    for complete in completions {
                        complete(committed);
                    }
                }
            });
        }
        Err(_) => {
            return Err(std::io::Error::other(
                "the database must be opened inside the async runtime",
            ));
        }
    }
    std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || run(conn, wal_limit, inbox, finished))?;
    Ok(WriterHandle { queue })
}

/// A handle that does not keep the writer alive (for periodic jobs).
#[derive(Clone)]
pub struct WeakWriter(mpsc::WeakSender<Message>);

impl WeakWriter {
    pub fn upgrade(&self) -> Option<WriterHandle> {
        self.0.upgrade().map(|queue| WriterHandle { queue })
    }
}

impl WriterHandle {
    pub fn downgrade(&self) -> WeakWriter {
        WeakWriter(self.queue.downgrade())
    }

    pub async fn submit<T, F, A>(&self, work: F, after_commit: A) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        A: FnOnce(&T) + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Job {
            work,
            after_commit,
            reply,
        });
        self.queue
            .send(Message::InTransaction(job))
            .await
            .map_err(|_| AppError::Unavailable(crate::error::SHUTTING_DOWN))?;
        answer
            .await
            .map_err(|_| AppError::internal("the writer dropped a job"))?
    }

    pub async fn submit_outside_transaction<T, F>(&self, work: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(move |conn: &Connection| {
            let _ = reply.send(work(conn));
        });
        self.queue
            .send(Message::Alone(job))
            .await
            .map_err(|_| AppError::Unavailable(crate::error::SHUTTING_DOWN))?;
        answer
            .await
            .map_err(|_| AppError::internal("the writer dropped a job"))?
    }
}

/// The thread's loop: ends when every handle is gone, closing the connection
/// (SQLite checkpoints the WAL when its last connection closes).
fn run(
    conn: Connection,
    mut wal_limit: WalLimit,
    mut inbox: mpsc::Receiver<Message>,
    finished: mpsc::UnboundedSender<Finished>,
) {
    let mut batch: Vec<Box<dyn WriteJob>> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = inbox.blocking_recv() {
        let mut next = Some(first);
        // Each commit writes every page it touched to the WAL, so commits of
        // one job each cost several times what batched ones do. When the
        // queue runs dry, give the other threads a moment (a yield, not a
        // sleep) to queue more before committing.
        let mut yields = 0;
        loop {
            while let Some(message) = next.take() {
                match message {
                    Message::InTransaction(job) => batch.push(job),
                    Message::Alone(job) => {
                        commit_batch(&conn, &mut batch, &finished);
                        wal_limit.after_commit(&conn);
                        job(&conn);
                    }
                }
                if batch.len() < MAX_BATCH {
                    next = inbox.try_recv().ok();
                }
            }
            if batch.is_empty() || batch.len() >= MAX_BATCH || yields == LINGER_YIELDS {
                break;
            }
            yields += 1;
            std::thread::yield_now();
            next = inbox.try_recv().ok();
        }
        commit_batch(&conn, &mut batch, &finished);
        // The batch's callers are answered already: a restart delays only
        // the next batch.
        wal_limit.after_commit(&conn);
    }
    tracing::debug!("sqlite writer stopped");
}

fn commit_batch(
    conn: &Connection,
    batch: &mut Vec<Box<dyn WriteJob>>,
    finished: &mpsc::UnboundedSender<Finished>,
) {
    if batch.is_empty() {
        return;
    }
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        tracing::error!(error = %e, "could not begin a write transaction");
        for job in batch.drain(..) {
            job.abort("could not begin a write transaction");
        }
        return;
    }
    metrics::histogram!("chat_writer_batch_size").record(batch.len() as f64);
    let completions: Vec<Completion> = batch.drain(..).map(|job| job.run(conn)).collect();
    let committed = match conn.execute_batch("COMMIT") {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(error = %e, jobs = completions.len(), "write batch failed to commit");
            if let Err(e) = conn.execute_batch("ROLLBACK") {
                tracing::error!(error = %e, "rollback after a failed commit failed");
            }
            false
        }
    };
    if let Err(mpsc::error::SendError((completions, committed))) = finished.send((completions, committed)) {
        // The runtime is gone (shutdown): answer here instead.
        for complete in completions {
            complete(committed);
        }
    }
}
