//! Transfer progress shared between tokio tasks and the Python thread that reports it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use pyo3::prelude::*;

/// Counters updated by transfer tasks; a Python callback reads them from the calling thread only.
#[derive(Clone, Default)]
pub struct Counter {
    done: Arc<AtomicU64>,
    total: Arc<AtomicU64>,
}

const UNKNOWN_TOTAL: u64 = u64::MAX;

impl Counter {
    pub fn new() -> Self {
        Self {
            done: Arc::new(AtomicU64::new(0)),
            total: Arc::new(AtomicU64::new(UNKNOWN_TOTAL)),
        }
    }

    pub fn add(&self, bytes: u64) {
        self.done.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn set_total(&self, bytes: u64) {
        self.total.store(bytes, Ordering::Relaxed);
    }

    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    fn total(&self) -> Option<u64> {
        match self.total.load(Ordering::Relaxed) {
            UNKNOWN_TOTAL => None,
            total => Some(total),
        }
    }
}

/// A counter plus the optional Python callback `callback(done, total)` it is reported to.
pub struct Progress {
    pub counter: Counter,
    callback: Option<Py<PyAny>>,
    last_reported: AtomicU64,
}

impl Progress {
    pub fn new(callback: Option<Py<PyAny>>) -> Self {
        Self {
            counter: Counter::new(),
            callback,
            last_reported: AtomicU64::new(UNKNOWN_TOTAL),
        }
    }

    /// Calls the callback when the byte count moved since the last report.
    pub fn report(&self, py: Python<'_>) -> PyResult<()> {
        let Some(callback) = &self.callback else {
            return Ok(());
        };
        let done = self.counter.done();
        if self.last_reported.swap(done, Ordering::Relaxed) == done {
            return Ok(());
        }
        callback.call1(py, (done, self.counter.total()))?;
        Ok(())
    }
}
