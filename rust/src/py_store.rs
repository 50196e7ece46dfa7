//! `autostore._core.Store`: the Python face of a [`CoreStore`]. Each method parses its arguments,
//! then waits for the matching async operation with the GIL released.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::{BoxStream, StreamExt};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3_bytes::PyBytes;

use crate::error::CoreError;
use crate::progress::Progress;
use crate::py_types::{metas, PyListResult, PyObjectMeta, PyPutResult};
use crate::runtime::wait_for;
use crate::store::{CoreStore, StoreConfig};
use crate::{batch, listing, transfer};

#[pyclass(frozen, name = "Store", module = "autostore._core")]
pub struct PyStore {
    pub inner: Arc<CoreStore>,
}

fn seconds(name: &str, value: f64) -> PyResult<Duration> {
    if value.is_finite() && value > 0.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(PyValueError::new_err(format!(
            "{name} must be a positive number of seconds, got {value}"
        )))
    }
}

#[pymethods]
impl PyStore {
    #[new]
    #[pyo3(signature = (
        url, *, access_key_id=None, secret_access_key=None, session_token=None, region=None,
        endpoint=None, profile=None, verify=true, timeout=30.0, connect_timeout=10.0,
        max_retries=3, retry_delay=1.0, multipart_threshold=64*1024*1024,
        multipart_chunksize=16*1024*1024, max_concurrency=10, skip_signature=false, backend=None,
        virtual_hosted_style=false
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        url: &str,
        access_key_id: Option<String>,
        secret_access_key: Option<String>,
        session_token: Option<String>,
        region: Option<String>,
        endpoint: Option<String>,
        profile: Option<String>,
        verify: bool,
        timeout: f64,
        connect_timeout: f64,
        max_retries: usize,
        retry_delay: f64,
        multipart_threshold: u64,
        multipart_chunksize: u64,
        max_concurrency: usize,
        skip_signature: bool,
        backend: Option<String>,
        virtual_hosted_style: bool,
    ) -> PyResult<Self> {
        let retry_delay = if retry_delay == 0.0 {
            Duration::ZERO
        } else {
            seconds("retry_delay", retry_delay)?
        };
        let config = StoreConfig {
            access_key_id,
            secret_access_key,
            session_token,
            region,
            endpoint,
            profile,
            verify,
            timeout: seconds("timeout", timeout)?,
            connect_timeout: seconds("connect_timeout", connect_timeout)?,
            max_retries,
            retry_delay,
            multipart_threshold,
            multipart_chunksize,
            max_concurrency,
            skip_signature,
            backend,
            virtual_hosted_style,
        };
        Ok(Self {
            inner: Arc::new(CoreStore::new(url, config)?),
        })
    }

    #[getter]
    fn url(&self) -> &str {
        &self.inner.url
    }

    #[getter]
    fn scheme(&self) -> &str {
        &self.inner.scheme
    }

    #[getter]
    fn identity(&self) -> &str {
        &self.inner.identity
    }

    fn __repr__(&self) -> String {
        format!("Store({:?})", self.inner.identity)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyStore>()
            .is_ok_and(|other| other.get().inner.identity == self.inner.identity)
    }

    fn __hash__(&self) -> u64 {
        let mut hasher = DefaultHasher::new();
        self.inner.identity.hash(&mut hasher);
        hasher.finish()
    }

    fn head(&self, py: Python<'_>, key: &str) -> PyResult<PyObjectMeta> {
        Ok(wait_for(py, None, transfer::head(&self.inner, key))?.into())
    }

    fn exists(&self, py: Python<'_>, key: &str) -> PyResult<bool> {
        wait_for(py, None, transfer::exists(&self.inner, key))
    }

    fn is_dir(&self, py: Python<'_>, prefix: &str) -> PyResult<bool> {
        wait_for(py, None, listing::is_dir(&self.inner, prefix))
    }

    fn get(&self, py: Python<'_>, key: &str) -> PyResult<PyBytes> {
        Ok(wait_for(py, None, transfer::get(&self.inner, key))?.into())
    }

    fn get_range(&self, py: Python<'_>, key: &str, start: u64, end: u64) -> PyResult<PyBytes> {
        Ok(wait_for(py, None, transfer::get_range(&self.inner, key, start, end))?.into())
    }

    #[pyo3(signature = (key, data, *, create_only=false))]
    fn put(
        &self,
        py: Python<'_>,
        key: &str,
        data: PyBytes,
        create_only: bool,
    ) -> PyResult<PyPutResult> {
        let data = data.into_inner();
        Ok(wait_for(py, None, transfer::put(&self.inner, key, data, create_only))?.into())
    }

    #[pyo3(signature = (path, key, *, progress=None))]
    fn upload_file(
        &self,
        py: Python<'_>,
        path: PathBuf,
        key: &str,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<PyPutResult> {
        let progress = Progress::new(progress);
        let upload = transfer::upload_file(&self.inner, &path, key, &progress.counter);
        Ok(wait_for(py, Some(&progress), upload)?.into())
    }

    #[pyo3(signature = (key, path, *, progress=None))]
    fn download_file(
        &self,
        py: Python<'_>,
        key: &str,
        path: PathBuf,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<PyObjectMeta> {
        let progress = Progress::new(progress);
        let download = transfer::download_file(&self.inner, key, &path, &progress.counter);
        Ok(wait_for(py, Some(&progress), download)?.into())
    }

    #[pyo3(signature = (src, dst, *, overwrite=true))]
    fn copy(&self, py: Python<'_>, src: &str, dst: &str, overwrite: bool) -> PyResult<()> {
        wait_for(py, None, transfer::copy(&self.inner, src, dst, overwrite))
    }

    #[pyo3(signature = (src, dst, *, overwrite=true))]
    fn rename(&self, py: Python<'_>, src: &str, dst: &str, overwrite: bool) -> PyResult<()> {
        wait_for(py, None, transfer::rename(&self.inner, src, dst, overwrite))
    }

    fn delete(&self, py: Python<'_>, key: &str) -> PyResult<()> {
        wait_for(py, None, transfer::delete(&self.inner, key))
    }

    fn delete_many(&self, py: Python<'_>, keys: Vec<String>) -> PyResult<Vec<Py<PyAny>>> {
        let results = wait_for(py, None, async {
            Ok(batch::delete_many(&self.inner, keys).await)
        })?;
        results
            .into_iter()
            .map(|result| match result {
                Ok(()) => Ok(py.None()),
                Err(err) => Ok(PyErr::from(err).into_value(py).into_any()),
            })
            .collect()
    }

    fn delete_prefix(&self, py: Python<'_>, prefix: &str) -> PyResult<usize> {
        wait_for(py, None, listing::delete_prefix(&self.inner, prefix))
    }

    #[pyo3(signature = (prefix="", *, recursive=true))]
    fn list(
        &self,
        py: Python<'_>,
        prefix: &str,
        recursive: bool,
    ) -> PyResult<Vec<Py<PyObjectMeta>>> {
        let objects = if recursive {
            wait_for(py, None, listing::list_recursive(&self.inner, prefix))?
        } else {
            wait_for(py, None, listing::list_dir(&self.inner, prefix))?.objects
        };
        metas(py, objects)
    }

    #[pyo3(signature = (prefix="", *, chunk_size=1000))]
    fn list_stream(&self, prefix: &str, chunk_size: usize) -> PyResult<ListStream> {
        if chunk_size == 0 {
            return Err(PyValueError::new_err("chunk_size must be at least 1"));
        }
        Ok(ListStream {
            stream: Mutex::new(Some(listing::list_stream(&self.inner, prefix)?)),
            chunk_size,
        })
    }

    #[pyo3(signature = (prefix=""))]
    fn list_dir(&self, py: Python<'_>, prefix: &str) -> PyResult<PyListResult> {
        let level = wait_for(py, None, listing::list_dir(&self.inner, prefix))?;
        PyListResult::new(py, level)
    }

    fn glob(&self, py: Python<'_>, pattern: &str) -> PyResult<Vec<Py<PyObjectMeta>>> {
        let found = wait_for(py, None, listing::glob(&self.inner, pattern))?;
        metas(py, found)
    }

    fn find_by_stem(
        &self,
        py: Python<'_>,
        directory: &str,
        stem: &str,
    ) -> PyResult<Vec<Py<PyObjectMeta>>> {
        let found = wait_for(
            py,
            None,
            listing::find_by_stem(&self.inner, directory, stem),
        )?;
        metas(py, found)
    }

    fn get_many(&self, py: Python<'_>, keys: Vec<String>) -> PyResult<Vec<Py<PyAny>>> {
        let results = wait_for(py, None, async {
            Ok(batch::get_many(&self.inner, keys).await)
        })?;
        results
            .into_iter()
            .map(|result| match result {
                Ok(data) => Ok(Py::new(py, PyBytes::from(data))?.into_any()),
                Err(err) => Ok(PyErr::from(err).into_value(py).into_any()),
            })
            .collect()
    }

    fn put_many(&self, py: Python<'_>, items: Vec<(String, PyBytes)>) -> PyResult<Vec<Py<PyAny>>> {
        let items = items
            .into_iter()
            .map(|(key, data)| (key, data.into_inner()))
            .collect();
        let results = wait_for(py, None, async {
            Ok(batch::put_many(&self.inner, items).await)
        })?;
        results
            .into_iter()
            .map(|result| match result {
                Ok(put) => Ok(Py::new(py, PyPutResult::from(put))?.into_any()),
                Err(err) => Ok(PyErr::from(err).into_value(py).into_any()),
            })
            .collect()
    }
}

/// Iterator over a recursive listing, one page-sized chunk per step.
#[pyclass(frozen, name = "ListStream", module = "autostore._core")]
pub struct ListStream {
    stream: Mutex<Option<BoxStream<'static, Result<object_store::ObjectMeta, CoreError>>>>,
    chunk_size: usize,
}

#[pymethods]
impl ListStream {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Vec<Py<PyObjectMeta>>>> {
        let mut guard = self
            .stream
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(stream) = guard.as_mut() else {
            return Ok(None);
        };
        let chunk_size = self.chunk_size;
        let chunk = wait_for(py, None, async move {
            let mut chunk = Vec::with_capacity(chunk_size);
            while chunk.len() < chunk_size {
                match stream.next().await {
                    Some(meta) => chunk.push(meta?),
                    None => break,
                }
            }
            Ok(chunk)
        })?;
        if chunk.is_empty() {
            *guard = None;
            return Ok(None);
        }
        metas(py, chunk).map(Some)
    }
}
