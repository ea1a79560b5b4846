//! Password hashing with argon2id, off the async runtime and bounded: at
//! most `max_concurrent` hashes run at once (each holds its memory cost in
//! RAM), the rest wait their turn, so a login flood queues instead of
//! eating all memory. Unknown users are verified against a dummy hash so a
//! wrong username and a wrong password take the same time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::domain::Password;
use crate::error::{AppError, Result};

#[derive(Clone)]
pub struct PasswordHasher {
    argon: Argon2<'static>,
    permits: Arc<Semaphore>,
    /// Hash of a random password, verified against when the user is unknown.
    dummy_hash: Arc<str>,
    /// Hashes running now, and the most that ever ran at once.
    running: Arc<(AtomicUsize, AtomicUsize)>,
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
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut random = [0u8; 24];
        getrandom::fill(&mut random).map_err(|e| std::io::Error::other(e.to_string()))?;
        let dummy_hash = argon
            .hash_password(&random)
            .map_err(|e| std::io::Error::other(format!("argon2: {e}")))?
            .to_string();
        Ok(PasswordHasher {
            argon,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            dummy_hash: dummy_hash.into(),
            running: Arc::default(),
        })
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: Password) -> Result<String> {
        let argon = self.argon.clone();
        self.run(move || {
            argon
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(AppError::internal)
        })
        .await
    }

    /// Checks a password against a stored hash, or against the dummy hash
    /// when there is none (unknown user), so both cost the same.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool> {
        let argon = self.argon.clone();
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        let matched = self
            .run(move || {
                let parsed = PasswordHash::new(&hash).map_err(AppError::internal)?;
                Ok(argon.verify_password(password.as_bytes(), &parsed).is_ok())
            })
            .await?;
        Ok(known && matched)
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
        let waiting = metrics::gauge!("chat_password_hash_waiting");
        waiting.increment(1.0);
        let permit = self.permits.clone().acquire_owned().await;
        waiting.decrement(1.0);
        let permit = permit.map_err(|_| AppError::Unavailable)?;
        let running = Arc::clone(&self.running);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let now = running.0.fetch_add(1, Ordering::SeqCst) + 1;
            running.1.fetch_max(now, Ordering::SeqCst);
            let outcome = work();
            running.0.fetch_sub(1, Ordering::SeqCst);
            outcome
        })
        .await
        .map_err(|e| AppError::internal(format_args!("password task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
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
}
