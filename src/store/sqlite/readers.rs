//! Reader threads: a few long-lived threads, each holding one pooled
//! connection, that run read jobs from a shared queue.
//!
//! A thread takes every job waiting (up to `MAX_BATCH`), runs each in its
//! own read transaction (one snapshot per job), and hands the answers back
//! to the async runtime in one message. Under load that is one wake-up per
//! batch instead of a blocking-pool thread hop per read, which on a busy
//! core was a quarter of the time a history page took.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::error::{AppError, Result};

/// The most jobs one thread takes at a time (the rest go to the others).
const MAX_BATCH: usize = 64;

type Answer = Box<dyn FnOnce() + Send>;

trait ReadJob: Send {
    fn run(self: Box<Self>, conn: &Connection) -> Answer;
}

struct Job<F, T> {
    work: F,
    reply: oneshot::Sender<Result<T>>,
}

impl<F, T> ReadJob for Job<F, T>
where
    F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> Answer {
        let Job { work, reply } = *self;
        let outcome = in_read_transaction(conn, work);
        Box::new(move || {
            let _ = reply.send(outcome);
        })
    }
}

fn in_read_transaction<T>(conn: &Connection, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    super::exec_cached(conn, "BEGIN")?;
    let outcome = super::run_guarded(conn, work, "read");
    super::exec_cached(conn, "COMMIT")?;
    outcome
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Box<dyn ReadJob>>,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

/// The handle reads go through; closing it (on drop of the last `Db`)
/// stops the threads.
pub struct Readers {
    shared: Arc<Shared>,
}

impl Drop for Readers {
    fn drop(&mut self) {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closed = true;
        self.shared.ready.notify_all();
    }
}

pub fn spawn(pool: r2d2::Pool<SqliteConnectionManager>, threads: usize) -> std::io::Result<Readers> {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue::default()),
        ready: Condvar::new(),
    });
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| std::io::Error::other("the database must be opened inside the async runtime"))?;
    let (answers, mut to_answer) = mpsc::unbounded_channel::<Vec<Answer>>();
    runtime.spawn(async move {
        while let Some(batch) = to_answer.recv().await {
            for answer in batch {
                answer();
            }
        }
    });
    for n in 0..threads.max(1) {
        let conn = pool
            .get()
            .map_err(|e| std::io::Error::other(format!("read connection: {e}")))?;
        let (shared, answers) = (Arc::clone(&shared), answers.clone());
        std::thread::Builder::new()
            .name(format!("sqlite-reader-{n}"))
            .spawn(move || run(&conn, &shared, &answers))?;
    }
    Ok(Readers { shared })
}

fn run(conn: &Connection, shared: &Shared, answers: &mpsc::UnboundedSender<Vec<Answer>>) {
    loop {
        let batch: Vec<Box<dyn ReadJob>> = {
            let mut queue = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
            while queue.jobs.is_empty() && !queue.closed {
                queue = shared.ready.wait(queue).unwrap_or_else(PoisonError::into_inner);
            }
            if queue.jobs.is_empty() {
                return; // closed and drained
            }
            let take = queue.jobs.len().min(MAX_BATCH);
            let batch = queue.jobs.drain(..take).collect();
            if !queue.jobs.is_empty() {
                shared.ready.notify_one();
            }
            batch
        };
        let done: Vec<Answer> = batch.into_iter().map(|job| job.run(conn)).collect();
        if let Err(mpsc::error::SendError(done)) = answers.send(done) {
            // The runtime is gone: answer from here.
            for answer in done {
                answer();
            }
        }
    }
}

impl Readers {
    pub async fn submit<T, F>(&self, work: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        {
            let mut queue = self.shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
            if queue.closed {
                return Err(AppError::Unavailable(crate::error::SHUTTING_DOWN));
            }
            queue.jobs.push_back(Box::new(Job { work, reply }));
        }
        self.shared.ready.notify_one();
        answer
            .await
            .map_err(|_| AppError::internal("a reader dropped a job"))?
    }
}
