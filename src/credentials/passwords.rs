//! Password hashing with argon2id, off the async runtime and bounded: at
//! most `max_concurrent` hashes run at once (each holds its memory cost in
//! RAM), the rest wait their turn, so a login flood queues instead of
//! eating all memory. Unknown users are verified against a dummy hash so a
//! wrong username and a wrong password take the same time.
//!
//! Hashes run on `max_concurrent` threads of their own, each reusing one
//! block of argon2's working memory from hash to hash and freeing it once
//! logins stop ([`IDLE`]). Letting the argon2 crate allocate 19 MiB per
//! hash on tokio's blocking pool kept one such block in the allocator arena
//! of every thread that ever hashed (measured: 330 MiB resident after 1,000
//! registrations), and a fresh mapping per hash costs a fifth more time in
//! page faults; a block per hashing thread costs neither.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

use crate::domain::Password;
use crate::error::{AppError, Result};

/// How long a hashing thread keeps its working memory without a hash to do.
const IDLE: Duration = Duration::from_secs(10);
const SALT_BYTES: usize = 16;

type HashJob = Box<dyn FnOnce() + Send>;

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// The hashing threads' queue; they stop when the last clone is dropped.
    queue: mpsc::Sender<HashJob>,
    /// Hash of a random password, verified against when the user is unknown.
    dummy_hash: Arc<str>,
    /// Hashes running now, and the most that ever ran at once.
    running: Arc<(AtomicUsize, AtomicUsize)>,
}

thread_local! {
    /// This hashing thread's argon2 working memory.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with `count` blocks of this thread's working memory.
fn with_blocks<T>(count: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    BLOCKS.with(|blocks| {
        let mut blocks = blocks.borrow_mut();
        if blocks.len() != count {
            *blocks = vec![Block::default(); count];
        }
        f(&mut blocks)
    })
}

fn release_blocks() {
    BLOCKS.with(|blocks| *blocks.borrow_mut() = Vec::new());
}

fn hash_error(e: impl std::fmt::Display) -> AppError {
    AppError::internal(format_args!("argon2: {e}"))
}

/// A new PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
fn hash_password(params: &Params, password: &[u8]) -> Result<String> {
    let mut salt = [0u8; SALT_BYTES];
    getrandom::fill(&mut salt).map_err(hash_error)?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    with_blocks(params.block_count(), |blocks| {
        argon.hash_password_into_with_memory(password, &salt, &mut out, blocks)
    })
    .map_err(hash_error)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(hash_error)?,
        salt: Some(Salt::new(&salt).map_err(hash_error)?),
        hash: Some(Output::new(&out).map_err(hash_error)?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches a stored PHC string, with the parameters the
/// string names (they may be older than the current flags).
fn verify_password(password: &[u8], stored: &str) -> Result<bool> {
    let parsed = PasswordHash::new(stored).map_err(hash_error)?;
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return Err(hash_error("a stored hash without salt or output"));
    };
    let algorithm = Algorithm::new(parsed.algorithm.as_str()).map_err(hash_error)?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(hash_error)?
        .unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(hash_error)?;
    let argon = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    with_blocks(params.block_count(), |blocks| {
        argon.hash_password_into_with_memory(password, salt.as_ref(), &mut out, blocks)
    })
    .map_err(hash_error)?;
    // `Output`'s equality is constant-time.
    Ok(Output::new(&out).map_err(hash_error)? == *expected)
}

impl PasswordHasher {
    pub fn new(
        memory_kib: u32,
        time_cost: u32,
        parallelism: u32,
        max_concurrent: usize,
    ) -> std::io::Result<Self> {
        let params = Params::new(memory_kib, time_cost, parallelism, None)
            .map_err(|e| std::io::Error::other(format!("argon2 parameters: {e}")))?;
        let mut random = [0u8; 24];
        getrandom::fill(&mut random).map_err(|e| std::io::Error::other(e.to_string()))?;
        let dummy_hash = hash_password(&params, &random).map_err(|e| std::io::Error::other(e.to_string()))?;
        release_blocks();
        let (queue, jobs) = mpsc::channel::<HashJob>();
        let jobs = Arc::new(Mutex::new(jobs));
        for i in 0..max_concurrent.max(1) {
            let jobs = Arc::clone(&jobs);
            std::thread::Builder::new()
                .name(format!("password-hash-{i}"))
                .spawn(move || hashing_thread(&jobs))?;
        }
        Ok(PasswordHasher {
            params,
            queue,
            dummy_hash: dummy_hash.into(),
            running: Arc::default(),
        })
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: Password) -> Result<String> {
        let params = self.params.clone();
        self.run(move || hash_password(&params, password.as_bytes()))
            .await
    }

    /// Checks a password against a stored hash, or against the dummy hash
    /// when there is none (unknown user), so both cost the same.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool> {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        let matched = self
            .run(move || verify_password(password.as_bytes(), &hash))
            .await?;
        Ok(known && matched)
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
        let waiting = metrics::gauge!("chat_password_hash_waiting");
        waiting.increment(1.0);
        let (reply, answer) = oneshot::channel();
        let running = Arc::clone(&self.running);
        let job: HashJob = Box::new(move || {
            metrics::gauge!("chat_password_hash_waiting").decrement(1.0);
            let now = running.0.fetch_add(1, Ordering::SeqCst) + 1;
            running.1.fetch_max(now, Ordering::SeqCst);
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
                .unwrap_or_else(|_| Err(AppError::internal("a password hash panicked")));
            running.0.fetch_sub(1, Ordering::SeqCst);
            // The caller may have gone (request cancelled).
            let _ = reply.send(outcome);
        });
        if self.queue.send(job).is_err() {
            waiting.decrement(1.0);
            return Err(AppError::Unavailable(crate::error::SHUTTING_DOWN));
        }
        answer
            .await
            .map_err(|_| AppError::internal("the password hashing threads are gone"))?
    }
}

/// One hashing thread: runs jobs until the queue closes; lets its working
/// memory go after [`IDLE`] without one.
fn hashing_thread(jobs: &Mutex<mpsc::Receiver<HashJob>>) {
    loop {
        // One thread waits on the queue at a time; the lock is let go
        // before the job runs.
        let next = jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv_timeout(IDLE);
        match next {
            Ok(job) => job(),
            Err(mpsc::RecvTimeoutError::Timeout) => release_blocks(),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_queues_behind_the_cap() {
        let hasher = PasswordHasher::new(256, 1, 1, 1).unwrap();
        let hashes = (0..6).map(|i| hasher.hash(Password::parse(format!("password {i}")).unwrap()));
        let done = futures::future::join_all(hashes).await;
        assert!(done.iter().all(Result::is_ok));
        assert_eq!(
            hasher.running.1.load(Ordering::SeqCst),
            1,
            "never more than one at once"
        );

        let wider = PasswordHasher::new(256, 1, 1, 3).unwrap();
        let hashes = (0..12).map(|i| wider.hash(Password::parse(format!("password {i}")).unwrap()));
        futures::future::join_all(hashes).await;
        assert!(wider.running.1.load(Ordering::SeqCst) <= 3);
    }

    #[test]
    fn hashes_are_what_the_argon2_crate_makes_and_reads() {
        let params = Params::new(512, 2, 1, None).unwrap();
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let ours = hash_password(&params, b"correct horse").unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=512,t=2,p=1$"), "{ours}");
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(argon.verify_password(b"correct horse", &parsed).is_ok());
        assert!(argon.verify_password(b"wrong horse", &parsed).is_err());

        // A hash the crate made (as every stored hash so far was), with other
        // parameters than ours.
        let theirs = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(256, 1, 1, None).unwrap(),
        )
        .hash_password(b"correct horse")
        .unwrap()
        .to_string();
        assert!(verify_password(b"correct horse", &theirs).unwrap());
        assert!(!verify_password(b"correct hors", &theirs).unwrap());
        assert!(verify_password(b"x", "not a hash").is_err());
    }
}
