//! Accesses by fresh hits, kept in memory and written to the index in batches.
//!
//! Recording an access in the index would take the index's write lock on every hit, which costs
//! several times what serving the file does and serializes readers across processes. So a hit only
//! notes its access here; the index applies what is pending at the start of each of its write
//! transactions (so eviction and cleanup in this process see every access), before reads that
//! report accesses, when a timer armed by the first pending access fires [`FLUSH_DELAY`] later,
//! and when the index is dropped. Other processes therefore see an access within about
//! [`FLUSH_DELAY`], which bounds how stale their LRU order and hit counts can be.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// How long an access may stay in memory before a timer writes it to the index.
pub const FLUSH_DELAY: Duration = Duration::from_secs(1);

/// Accesses not yet in the index.
#[derive(Debug, Default)]
pub struct Pending {
    /// The latest access time (Unix seconds) of each (namespace, key) served.
    pub last_access: HashMap<(String, String), f64>,
    /// Fresh hits served.
    pub hits: u64,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.hits == 0 && self.last_access.is_empty()
    }

    /// Adds `other`, keeping the later access time of an entry in both.
    fn merge(&mut self, other: Pending) {
        self.hits += other.hits;
        for (entry, at) in other.last_access {
            let known = self.last_access.entry(entry).or_insert(at);
            *known = known.max(at);
        }
    }
}

/// The accesses of one index, and whether a timer is already due to flush them.
#[derive(Debug, Default)]
pub struct Accesses {
    pending: Mutex<Pending>,
    timer_armed: AtomicBool,
}

impl Accesses {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        // Every update leaves the map consistent, so a panic elsewhere does not spoil it.
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Notes a hit on (`namespace`, `key`) at `at`. True when no flush timer is armed yet: the
    /// caller arms one.
    pub fn hit(&self, namespace: &str, key: &str, at: f64) -> bool {
        {
            let mut pending = self.lock();
            pending.hits += 1;
            let known = pending
                .last_access
                .entry((namespace.to_string(), key.to_string()))
                .or_insert(at);
            *known = known.max(at);
        }
        !self.timer_armed.swap(true, Ordering::AcqRel)
    }

    /// Whether anything waits to be flushed.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Everything pending, which the caller writes to the index or gives back with [`restore`].
    ///
    /// [`restore`]: Self::restore
    pub fn take(&self) -> Pending {
        std::mem::take(&mut *self.lock())
    }

    /// Puts back accesses whose write to the index was rolled back.
    pub fn restore(&self, pending: Pending) {
        if !pending.is_empty() {
            self.lock().merge(pending);
        }
    }

    /// Called by a timer as it fires, before it flushes: a hit after this arms a new timer.
    pub fn disarm(&self) {
        self.timer_armed.store(false, Ordering::Release);
    }
}

/// Runs `flush` on a blocking thread of the shared runtime after [`FLUSH_DELAY`]. Without a
/// runtime (in a forked child) nothing is scheduled: the next write transaction or the drop of the
/// index flushes instead.
pub fn schedule(flush: impl FnOnce() + Send + 'static) {
    if let Ok(runtime) = crate::runtime::runtime() {
        runtime.spawn(async move {
            tokio::time::sleep(FLUSH_DELAY).await;
            // SQLite blocks: keep it off the threads that drive transfers.
            let _ = tokio::task::spawn_blocking(flush).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_merge_by_latest_access_and_only_the_first_arms_a_timer() {
        let accesses = Accesses::default();
        assert!(accesses.hit("ns", "a", 2.0));
        assert!(!accesses.hit("ns", "a", 1.0));
        assert!(!accesses.hit("ns", "b", 3.0));
        let taken = accesses.take();
        assert!(accesses.is_empty());
        assert_eq!(taken.hits, 3);
        assert_eq!(taken.last_access[&("ns".into(), "a".into())], 2.0);

        accesses.hit("ns", "a", 5.0);
        accesses.restore(taken);
        let merged = accesses.take();
        assert_eq!(merged.hits, 4);
        assert_eq!(merged.last_access[&("ns".into(), "a".into())], 5.0);
        assert_eq!(merged.last_access[&("ns".into(), "b".into())], 3.0);

        assert!(
            !accesses.hit("ns", "c", 6.0),
            "still armed until the timer fires"
        );
        accesses.disarm();
        assert!(accesses.hit("ns", "c", 7.0));
    }
}
