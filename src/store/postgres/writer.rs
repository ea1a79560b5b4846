//! The writer task: one per node, group commit under the ordering lock.
//!
//! Jobs queue on a bounded channel. The task takes everything queued (up to
//! `MAX_BATCH`), opens one transaction and takes `pg_advisory_xact_lock`
//! (the cluster-wide order of commits), runs the jobs in queue order,
//! commits once, and only then answers the jobs and runs their hooks, in
//! order. A lost connection or a failed commit fails the whole batch, and
//! no hook runs.
//!
//! Two kinds of job. A [`Work::Call`] is one statement that cannot fail in
//! SQL (the hot writes are functions that report refusals as rows, see
//! migration 0002): consecutive calls are sent without waiting for each
//! other's answers, so a batch of a hundred sends costs about one round
//! trip instead of several hundred (a round trip on this machine's loopback
//! is a third of a millisecond). The server runs them in the order sent,
//! so ids follow queue order. A [`Work::Script`] is several statements in a
//! savepoint of its own, run alone.
//!
//! A call may name the chat events its outcome carries (`logs`; their
//! `seq` was taken by the call's function): once a run of calls has
//! answered, the writer logs them all in one more statement of the same
//! transaction (a script logs its own, see `log`).

use std::sync::Arc;

use deadpool_postgres::{Pool, Transaction};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::blobs::BoxFuture;
use crate::error::{AppError, Result};
use crate::events::Logged;

const QUEUE_CAPACITY: usize = 8192;
const MAX_BATCH: usize = 512;
/// The advisory lock every node's write batches take (an arbitrary key,
/// "chat" in ASCII).
pub const ORDER_LOCK: i64 = 0x6368_6174;

/// Parameters of a call, owned so the job can travel to the writer.
pub type Params = Vec<Box<dyn ToSql + Send + Sync>>;

/// An async function of the open transaction (a savepoint of it).
pub type Script<T> = Box<dyn for<'a> FnOnce(&'a Transaction<'a>) -> BoxFuture<'a, T> + Send>;

/// What a job does.
pub enum Work<T> {
    /// One statement (`sql` with `params`) whose rows `parse` reads.
    Call {
        sql: &'static str,
        params: Params,
        parse: Box<dyn FnOnce(Vec<Row>) -> Result<T> + Send>,
        /// The chat events of the outcome, to log with it.
        logs: Option<fn(&T) -> Vec<Logged>>,
    },
    /// An async function of the open transaction, in a savepoint.
    Script(Script<Result<T>>),
}

/// What a job leaves to do once its batch's fate is known.
type Completion = Box<dyn FnOnce(bool) + Send>;

/// A call's answer read: what completes it, and the events to log with it.
type Finish = Box<dyn FnOnce(Result<Vec<Row>>) -> (Completion, Vec<Logged>) + Send>;

/// A job with its types erased, as the writer sees it.
enum Erased {
    Call {
        sql: &'static str,
        params: Params,
        finish: Finish,
    },
    Script {
        run: Script<(Completion, bool)>,
    },
}

struct Job {
    work: Erased,
    /// Answers the caller with an error without running.
    abort: Box<dyn FnOnce(AppError) + Send>,
}

/// The completion of a job whose outcome is known: on commit, the hook
/// runs and the caller gets the value.
fn completion<T, A>(outcome: Result<T>, after_commit: A, reply: oneshot::Sender<Result<T>>) -> Completion
where
    T: Send + 'static,
    A: FnOnce(&T) + Send + 'static,
{
    Box::new(move |committed| {
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
        // The caller may have gone away (request cancelled).
        let _ = reply.send(outcome);
    })
}

enum Message {
    Job(Job),
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
        let (reply, answer) = oneshot::channel::<Result<T>>();
        let reply = Arc::new(std::sync::Mutex::new(Some(reply)));
        let abort_reply = Arc::clone(&reply);
        let take = move |r: &Arc<std::sync::Mutex<Option<oneshot::Sender<Result<T>>>>>| {
            r.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
        };
        let erased = match work {
            Work::Call {
                sql,
                params,
                parse,
                logs,
            } => Erased::Call {
                sql,
                params,
                finish: Box::new(move |rows| {
                    let outcome = rows.and_then(parse);
                    let logged = match (&outcome, logs) {
                        (Ok(value), Some(logs)) => logs(value),
                        _ => Vec::new(),
                    };
                    let done = match take(&reply) {
                        Some(reply) => completion(outcome, after_commit, reply),
                        None => Box::new(|_| {}),
                    };
                    (done, logged)
                }),
            },
            Work::Script(script) => Erased::Script {
                run: Box::new(move |tx| {
                    Box::pin(async move {
                        let outcome = script(tx).await;
                        let ok = outcome.is_ok();
                        let done: Completion = match take(&reply) {
                            Some(reply) => completion(outcome, after_commit, reply),
                            None => Box::new(|_| {}),
                        };
                        (done, ok)
                    })
                }),
            },
        };
        let job = Job {
            work: erased,
            abort: Box::new(move |e| {
                if let Some(reply) = abort_reply
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take()
                {
                    let _ = reply.send(Err(e));
                }
            }),
        };
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
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
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
            commit_batch(&pool, &mut client, std::mem::take(&mut batch)).await;
        }
        for done in drains.drain(..) {
            let _ = done.send(());
        }
    }
    tracing::debug!("postgres writer stopped");
}

fn unavailable(e: AppError) -> &'static str {
    match e {
        AppError::Unavailable(why) => why,
        _ => "the database is unreachable; try again shortly",
    }
}

async fn commit_batch(pool: &Pool, client: &mut Option<deadpool_postgres::Client>, jobs: Vec<Job>) {
    let conn = match client {
        Some(conn) if !conn.is_closed() => conn,
        _ => match pool.get().await {
            Ok(conn) => client.insert(conn),
            Err(e) => {
                let why = unavailable(AppError::from(e));
                for job in jobs {
                    (job.abort)(AppError::Unavailable(why));
                }
                *client = None;
                return;
            }
        },
    };
    metrics::histogram!("chat_writer_batch_size").record(jobs.len() as f64);
    let mut done: Vec<Completion> = Vec::with_capacity(jobs.len());
    let mut pending = jobs.into_iter().peekable();
    let outcome = run_batch(conn, &mut pending, &mut done).await;
    match outcome {
        Ok(()) => {
            for complete in done {
                complete(true);
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "write batch failed");
            for complete in done {
                complete(false);
            }
            let why = unavailable(AppError::from(e));
            for job in pending {
                (job.abort)(AppError::Unavailable(why));
            }
            // The connection may be broken or inside a failed transaction:
            // it must not go back to the pool.
            if let Some(conn) = client.take() {
                drop(deadpool_postgres::Object::take(conn));
            }
        }
    }
}

/// Runs the jobs in one transaction under the ordering lock and commits;
/// each job's completion goes to `done` as it ran. `Err` when the
/// transaction failed: the jobs in `done` did not commit, those left in
/// `pending` did not run.
async fn run_batch(
    conn: &mut deadpool_postgres::Client,
    pending: &mut std::iter::Peekable<std::vec::IntoIter<Job>>,
    done: &mut Vec<Completion>,
) -> std::result::Result<(), tokio_postgres::Error> {
    let mut tx = conn.transaction().await?;
    let lock = tx.prepare_cached("SELECT pg_advisory_xact_lock($1)").await?;
    tx.execute(&lock, &[&ORDER_LOCK]).await?;
    while let Some(job) = pending.next() {
        match job.work {
            Erased::Call { sql, params, finish } => {
                // This call and the calls right after it go out together.
                let mut calls = vec![(sql, params, finish)];
                while matches!(
                    pending.peek(),
                    Some(Job {
                        work: Erased::Call { .. },
                        ..
                    })
                ) {
                    if let Some(Job {
                        work: Erased::Call { sql, params, finish },
                        ..
                    }) = pending.next()
                    {
                        calls.push((sql, params, finish));
                    }
                }
                let mut sqls = Vec::with_capacity(calls.len());
                let mut params = Vec::with_capacity(calls.len());
                let mut finishes = Vec::with_capacity(calls.len());
                for (sql, p, finish) in calls {
                    sqls.push(sql);
                    params.push(p);
                    finishes.push(finish);
                }
                // Statements are prepared first: a call waiting on its
                // prepare would let later ones overtake it.
                let mut statements = Vec::with_capacity(sqls.len());
                for sql in &sqls {
                    statements.push(tx.prepare_cached(sql).await?);
                }
                let answers = {
                    let queries = params.iter().zip(&statements).map(|(params, statement)| {
                        let params: Vec<&(dyn ToSql + Sync)> =
                            params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
                        let tx = &tx;
                        async move { tx.query(statement, &params).await }
                    });
                    futures_join_in_order(queries).await
                };
                let mut failure = None;
                let mut logged = Vec::new();
                for (finish, answer) in finishes.into_iter().zip(answers) {
                    let answer = answer.map_err(|e| {
                        let classified = super::classify(&e);
                        failure.get_or_insert(e);
                        classified
                    });
                    let (completion, events) = finish(answer);
                    done.push(completion);
                    logged.extend(events);
                }
                if let Some(e) = failure {
                    // A call failed in SQL after all: the transaction is gone.
                    return Err(e);
                }
                if !logged.is_empty() {
                    super::log::insert_logged(&tx, &logged).await?;
                }
            }
            Erased::Script { run } => {
                let savepoint = tx.savepoint("job").await?;
                let (completion, ok) = run(&savepoint).await;
                done.push(completion);
                if ok {
                    savepoint.commit().await?;
                } else {
                    savepoint.rollback().await?;
                }
            }
        }
    }
    tx.commit().await
}

/// Polls every future, first polls in order (so each sends its request in
/// order), and returns their outputs in order.
async fn futures_join_in_order<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all_done = true;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => all_done = false,
                }
            }
        }
        if all_done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
