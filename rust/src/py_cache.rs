//! `autostore._core.Cache`: the Python face of [`CoreCache`], with its value classes. Every call
//! that touches the disk or the network runs with the GIL released.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use pyo3::prelude::*;

use crate::cache::{flush_all, CachedFile, CoreCache, Entry, Stats};
use crate::error::CoreError;
use crate::progress::Progress;
use crate::py_store::PyStore;
use crate::py_types::PyPutResult;
use crate::runtime::wait_for;

/// An expiry in seconds as the cache takes it: None for 0 (never expires).
fn max_age(expiry_seconds: f64) -> Result<Option<Duration>, CoreError> {
    if !(expiry_seconds.is_finite() && expiry_seconds >= 0.0) {
        return Err(CoreError::Config(format!(
            "expiry_seconds must be a non-negative number of seconds (0 = never expires), \
             got {expiry_seconds}"
        )));
    }
    Ok((expiry_seconds > 0.0).then(|| Duration::from_secs_f64(expiry_seconds)))
}

fn path_text(path: &std::path::Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Writes the accesses of fresh hits still held in memory when Python exits: caches referenced
/// until then (module globals, the stores' shared caches) are never dropped, which flushes them.
#[pyfunction]
fn flush_caches_at_exit(py: Python<'_>) -> PyResult<()> {
    Ok(py.detach(flush_all)?)
}

/// Registers [`flush_caches_at_exit`] with `atexit`, once per process.
fn register_exit_flush(py: Python<'_>) -> PyResult<()> {
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    if REGISTERED.swap(true, Ordering::AcqRel) {
        return Ok(());
    }
    let registered = wrap_pyfunction!(flush_caches_at_exit, py)
        .and_then(|flush| py.import("atexit")?.call_method1("register", (flush,)));
    if registered.is_err() {
        REGISTERED.store(false, Ordering::Release);
    }
    registered.map(drop)
}

/// An on-disk cache of objects with an ETag index, shared by threads and processes.
#[pyclass(frozen, name = "Cache", module = "autostore._core")]
pub struct PyCache {
    inner: CoreCache,
}

#[pymethods]
impl PyCache {
    #[new]
    #[pyo3(signature = (root=None, *, max_bytes=None))]
    fn new(py: Python<'_>, root: Option<PathBuf>, max_bytes: Option<i64>) -> PyResult<Self> {
        let max_bytes = max_bytes
            .map(|max| {
                u64::try_from(max).map_err(|_| {
                    CoreError::Config(format!("max_bytes must be 0 or more, got {max}"))
                })
            })
            .transpose()?;
        register_exit_flush(py)?;
        let inner = py.detach(|| CoreCache::open(root, max_bytes))?;
        Ok(Self { inner })
    }

    #[getter]
    fn root(&self) -> String {
        path_text(self.inner.root())
    }

    #[getter]
    fn max_bytes(&self) -> Option<u64> {
        self.inner.max_bytes()
    }

    fn __repr__(&self) -> String {
        let max_bytes = self
            .inner
            .max_bytes()
            .map_or_else(|| "None".to_string(), |max| max.to_string());
        format!(
            "Cache(root={:?}, max_bytes={max_bytes})",
            path_text(self.inner.root())
        )
    }

    #[pyo3(signature = (store, key, *, expiry_seconds=86400.0, refresh=false, progress=None))]
    fn fetch(
        &self,
        py: Python<'_>,
        store: &PyStore,
        key: &str,
        expiry_seconds: f64,
        refresh: bool,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<PyCachedFile> {
        let max_age = max_age(expiry_seconds)?;
        if !refresh {
            // A fresh hit is a read of the index and a stat: done here, it skips the runtime.
            let store = &store.inner;
            if let Some(file) = py.detach(|| self.inner.fresh(store, key, max_age))? {
                return Ok(file.into());
            }
        }
        let progress = Progress::new(progress);
        let fetch = self
            .inner
            .fetch(&store.inner, key, max_age, refresh, &progress.counter);
        Ok(wait_for(py, Some(&progress), fetch)?.into())
    }

    #[pyo3(signature = (store, key, path, *, etag, r#move=false))]
    fn insert(
        &self,
        py: Python<'_>,
        store: &PyStore,
        key: &str,
        path: PathBuf,
        etag: Option<String>,
        r#move: bool,
    ) -> PyResult<()> {
        let store = &store.inner;
        py.detach(|| self.inner.insert(store, key, &path, etag, r#move))?;
        Ok(())
    }

    #[pyo3(signature = (store, path, key, *, progress=None))]
    fn upload(
        &self,
        py: Python<'_>,
        store: &PyStore,
        path: PathBuf,
        key: &str,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<PyPutResult> {
        let progress = Progress::new(progress);
        let upload = self
            .inner
            .upload(&store.inner, &path, key, &progress.counter);
        Ok(wait_for(py, Some(&progress), upload)?.into())
    }

    fn invalidate(&self, py: Python<'_>, store: &PyStore, key: &str) -> PyResult<()> {
        let store = &store.inner;
        py.detach(|| self.inner.invalidate(store, key))?;
        Ok(())
    }

    fn invalidate_prefix(&self, py: Python<'_>, store: &PyStore, prefix: &str) -> PyResult<u64> {
        let store = &store.inner;
        Ok(py.detach(|| self.inner.invalidate_prefix(store, prefix))?)
    }

    fn entry(&self, py: Python<'_>, store: &PyStore, key: &str) -> PyResult<Option<PyCacheEntry>> {
        let store = &store.inner;
        Ok(py
            .detach(|| self.inner.entry(store, key))?
            .map(PyCacheEntry::from))
    }

    fn cleanup(&self, py: Python<'_>, expiry_seconds: f64) -> PyResult<u64> {
        let max_age = max_age(expiry_seconds)?;
        Ok(py.detach(|| self.inner.cleanup(max_age))?)
    }

    fn clear(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(py.detach(|| self.inner.clear())?)
    }

    fn stats(&self, py: Python<'_>) -> PyResult<PyCacheStats> {
        Ok(py.detach(|| self.inner.stats())?.into())
    }
}

/// A complete local file holding an object, as `Cache.fetch` returns it.
#[pyclass(frozen, name = "CachedFile", module = "autostore._core")]
pub struct PyCachedFile {
    #[pyo3(get)]
    path: String,
    #[pyo3(get)]
    etag: Option<String>,
    #[pyo3(get)]
    size: u64,
    #[pyo3(get)]
    hit: bool,
}

impl From<CachedFile> for PyCachedFile {
    fn from(file: CachedFile) -> Self {
        Self {
            path: path_text(&file.path),
            etag: file.etag,
            size: file.size,
            hit: file.hit,
        }
    }
}

#[pymethods]
impl PyCachedFile {
    fn __fspath__(&self) -> &str {
        &self.path
    }

    fn __repr__(&self) -> String {
        format!(
            "CachedFile(path={:?}, etag={}, size={}, hit={})",
            self.path,
            self.etag
                .as_ref()
                .map_or_else(|| "None".to_string(), |etag| format!("{etag:?}")),
            self.size,
            if self.hit { "True" } else { "False" }
        )
    }
}

/// What the cache index records of one entry whose file is intact.
#[pyclass(frozen, name = "CacheEntry", module = "autostore._core")]
pub struct PyCacheEntry {
    #[pyo3(get)]
    key: String,
    #[pyo3(get)]
    path: String,
    #[pyo3(get)]
    etag: Option<String>,
    #[pyo3(get)]
    size: u64,
    #[pyo3(get)]
    last_modified: Option<DateTime<Utc>>,
    #[pyo3(get)]
    validated_at: DateTime<Utc>,
    #[pyo3(get)]
    last_access: DateTime<Utc>,
}

impl From<Entry> for PyCacheEntry {
    fn from(entry: Entry) -> Self {
        Self {
            key: entry.key,
            path: path_text(&entry.path),
            etag: entry.etag,
            size: entry.size,
            last_modified: entry.last_modified,
            validated_at: entry.validated_at,
            last_access: entry.last_access,
        }
    }
}

#[pymethods]
impl PyCacheEntry {
    fn __repr__(&self) -> String {
        format!(
            "CacheEntry(key={:?}, size={}, etag={}, validated_at='{}')",
            self.key,
            self.size,
            self.etag
                .as_ref()
                .map_or_else(|| "None".to_string(), |etag| format!("{etag:?}")),
            self.validated_at.to_rfc3339()
        )
    }
}

/// Totals of a cache root, counted across processes and restarts.
#[pyclass(frozen, name = "CacheStats", module = "autostore._core")]
pub struct PyCacheStats {
    #[pyo3(get)]
    entries: u64,
    #[pyo3(get)]
    bytes: u64,
    #[pyo3(get)]
    hits: u64,
    #[pyo3(get)]
    misses: u64,
    #[pyo3(get)]
    revalidations: u64,
}

impl From<Stats> for PyCacheStats {
    fn from(stats: Stats) -> Self {
        Self {
            entries: stats.entries,
            bytes: stats.bytes,
            hits: stats.hits,
            misses: stats.misses,
            revalidations: stats.revalidations,
        }
    }
}

#[pymethods]
impl PyCacheStats {
    fn __repr__(&self) -> String {
        format!(
            "CacheStats(entries={}, bytes={}, hits={}, misses={}, revalidations={})",
            self.entries, self.bytes, self.hits, self.misses, self.revalidations
        )
    }
}
