//! The writer task: one per node, group commit under the ordering lock.
//!
//! Jobs queue on a bounded channel. The task takes everything queued (up to
//! `MAX_BATCH`), opens one transaction, takes `pg_advisory_xact_lock` (the
//! cluster-wide order of commits), runs each job in its own savepoint,
//! commits once, and only then answers the jobs and runs their hooks, in
//! order. A failed job rolls back to its savepoint; a failed commit or a
//! lost connection fails the whole batch, and no hook runs.

use crate::blobs::BoxFuture;
use deadpool_postgres::{Pool, Transaction};
use tokio::sync::{mpsc, oneshot};

use crate::error::{AppError, Result};

const QUEUE_CAPACITY: usize = 8192;
const MAX_BATCH: usize = 512;
/// The advisory lock every node's write batches take (an arbitrary key,
/// "chat" in ASCII).
pub const ORDER_LOCK: i64 = 0x6368_6174;

/// What a job leaves to do once its batch's fate is known.
type Completion = Box<dyn FnOnce(bool) + Send>;

/// A unit of work for the writer, type-erased.
trait WriteJob: Send {
    /// Runs the work in the open savepoint; says whether it succeeded (the
    /// savepoint is released) or not (rolled back).
    fn run<'a>(self: Box<Self>, tx: &'a Transaction<'a>) -> BoxFuture<'a, (Completion, bool)>;
    fn abort(self: Box<Self>, error: AppError);
}

/// The work of one job: an async function of the open transaction.
pub type Work<T> = Box<dyn for<'a> FnOnce(&'a Transaction<'a>) -> BoxFuture<'a, Result<T>> + Send>;

struct Job<T, A> {
    work: Work<T>,
    after_commit: A,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, A> WriteJob for Job<T, A>
where
    T: Send + 'static,
    A: FnOnce(&T) + Send + 'static,
{
    fn run<'a>(self: Box<Self>, tx: &'a Transaction<'a>) -> BoxFuture<'a, (Completion, bool)> {
        let Job {
            work,
            after_commit,
            reply,
        } = *self;
        Box::pin(async move {
            let outcome = work(tx).await;
            let ok = outcome.is_ok();
            let completion: Completion = Box::new(move |committed| {
                let outcome = match outcome {
                    Ok(value) if committed => {
                        after_commit(&value);
                        Ok(value)
                    }
                    Ok(_) => Err(AppError::Unavailable(
                        "the write could not be committed; try again",
                    )),
                    Err(e) => Err(e),
                };
                let _ = reply.send(outcome);
            });
            (completion, ok)
        })
    }

    fn abort(self: Box<Self>, error: AppError) {
        let _ = self.reply.send(Err(error));
    }
}

enum Message {
    Job(Box<dyn WriteJob>),
    /// Answered once every job queued before it is done (shutdown).
    Drain(oneshot::Sender<()>),
}

/// Sends jobs to the writer task; cheap to clone.
#[derive(Clone)]
pub struct WriterHandle {
    queue: mpsc::Sender<Message>,
}

pub fn spawn(pool: Pool) -> WriterHandle {
    let (queue, inbox) = mpsc::channel(QUEUE_CAPACITY);
    tokio::spawn(run(pool, inbox));
    WriterHandle { queue }
}

impl WriterHandle {
    /// Runs `work` in the next batch's transaction and returns once it has
    /// committed; then `after_commit` runs, in commit order.
    pub async fn submit<T, A>(&self, work: Work<T>, after_commit: A) -> Result<T>
    where
        T: Send + 'static,
        A: FnOnce(&T) + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Job {
            work,
            after_commit,
            reply,
        });
        self.queue
            .send(Message::Job(job))
            .await
            .map_err(|_| AppError::Unavailable(crate::error::SHUTTING_DOWN))?;
        answer
            .await
            .map_err(|_| AppError::internal("the writer dropped a job"))?
    }

    /// Waits for the jobs queued so far.
    pub async fn drain(&self) {
        let (done, finished) = oneshot::channel();
        if self.queue.send(Message::Drain(done)).await.is_ok() {
            let _ = finished.await;
        }
    }
}

async fn run(pool: Pool, mut inbox: mpsc::Receiver<Message>) {
    let mut client: Option<deadpool_postgres::Client> = None;
    let mut batch: Vec<Box<dyn WriteJob>> = Vec::with_capacity(MAX_BATCH);
    let mut drains = Vec::new();
    while let Some(first) = inbox.recv().await {
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Job(job) => batch.push(job),
                Message::Drain(done) => drains.push(done),
            }
            if batch.len() < MAX_BATCH {
                next = inbox.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            commit_batch(&pool, &mut client, &mut batch).await;
        }
        for done in drains.drain(..) {
            let _ = done.send(());
        }
    }
    tracing::debug!("postgres writer stopped");
}

async fn commit_batch(
    pool: &Pool,
    client: &mut Option<deadpool_postgres::Client>,
    batch: &mut Vec<Box<dyn WriteJob>>,
) {
    let jobs: Vec<Box<dyn WriteJob>> = std::mem::take(batch);
    let conn = match client {
        Some(conn) if !conn.is_closed() => conn,
        _ => match pool.get().await {
            Ok(conn) => client.insert(conn),
            Err(e) => {
                let why = unavailable(AppError::from(e));
                for job in jobs {
                    job.abort(AppError::Unavailable(why));
                }
                *client = None;
                return;
            }
        },
    };
    metrics::histogram!("chat_writer_batch_size").record(jobs.len() as f64);
    if run_batch(conn, jobs).await.is_err() {
        // The connection may be broken: the next batch takes a fresh one.
        *client = None;
    }
}

fn unavailable(e: AppError) -> &'static str {
    match e {
        AppError::Unavailable(why) => why,
        _ => "the database is unreachable; try again shortly",
    }
}

/// Fails a batch whose transaction broke: the jobs that ran are told their
/// write did not commit, the rest that they could not run.
fn fail(e: tokio_postgres::Error, done: Vec<Completion>, rest: impl Iterator<Item = Box<dyn WriteJob>>) {
    tracing::warn!(error = %e, "write batch failed");
    for complete in done {
        complete(false);
    }
    let why = unavailable(AppError::from(e));
    for job in rest {
        job.abort(AppError::Unavailable(why));
    }
}

/// Runs the jobs in one transaction under the ordering lock, then answers
/// them; `Err` when the transaction failed (the connection may be broken).
async fn run_batch(
    conn: &mut deadpool_postgres::Client,
    jobs: Vec<Box<dyn WriteJob>>,
) -> std::result::Result<(), ()> {
    let mut pending = jobs.into_iter();
    let mut done: Vec<Completion> = Vec::new();
    let mut tx = match conn.transaction().await {
        Ok(tx) => tx,
        Err(e) => {
            fail(e, done, pending);
            return Err(());
        }
    };
    let locked = match tx.prepare_cached("SELECT pg_advisory_xact_lock($1)").await {
        Ok(lock) => tx.execute(&lock, &[&ORDER_LOCK]).await.map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = locked {
        fail(e, done, pending);
        return Err(());
    }
    while let Some(job) = pending.next() {
        let savepoint = match tx.savepoint("job").await {
            Ok(savepoint) => savepoint,
            Err(e) => {
                fail(e, done, std::iter::once(job).chain(pending));
                return Err(());
            }
        };
        let (completion, ok) = job.run(&savepoint).await;
        done.push(completion);
        let ended = if ok {
            savepoint.commit().await
        } else {
            savepoint.rollback().await
        };
        if let Err(e) = ended {
            fail(e, done, pending);
            return Err(());
        }
    }
    match tx.commit().await {
        Ok(()) => {
            for complete in done {
                complete(true);
            }
            Ok(())
        }
        Err(e) => {
            tracing::error!(error = %e, jobs = done.len(), "write batch failed to commit");
            for complete in done {
                complete(false);
            }
            Err(())
        }
    }
}
