//! Memory given back to the system after load (glibc's malloc; elsewhere
//! a no-op).
//!
//! glibc returns freed memory only from the top of each thread arena's
//! heap, and only above a threshold that grows with the largest block seen
//! (a password hash's 19 MiB). After a burst (a login flood, a busy group,
//! thousands of connections) the freed memory inside the arenas stays
//! resident for good. `malloc_trim` hands every free page back; it takes a
//! fraction of a millisecond, so the server runs it every little while.
//! (A fixed mmap threshold, the other remedy, made every password hash
//! fault in its 19 MiB afresh: a fifth more time per login.)

use std::time::Duration;

/// How often free memory inside the arenas is handed back.
const TRIM_EVERY: Duration = Duration::from_secs(10);

/// Returns free heap pages to the system.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes the allocator's own locks; it is safe to
    // call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Trims every [`TRIM_EVERY`] until the returned task is aborted.
pub fn start_trimming() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {
        let mut tick = tokio::time::interval(TRIM_EVERY);
        tick.tick().await;
        loop {
            tick.tick().await;
            let started = std::time::Instant::now();
            trim();
            metrics::histogram!("chat_malloc_trim_duration_seconds").record(started.elapsed().as_secs_f64());
        }
    })
}
