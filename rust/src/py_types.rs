//! The small value classes handed to Python: object metadata, write results, one-level listings.

use chrono::{DateTime, Utc};
use pyo3::prelude::*;

#[pyclass(frozen, name = "ObjectMeta", module = "autostore._core")]
pub struct PyObjectMeta {
    #[pyo3(get)]
    key: String,
    #[pyo3(get)]
    size: u64,
    #[pyo3(get)]
    last_modified: DateTime<Utc>,
    #[pyo3(get)]
    etag: Option<String>,
    #[pyo3(get)]
    version: Option<String>,
}

impl From<object_store::ObjectMeta> for PyObjectMeta {
    fn from(meta: object_store::ObjectMeta) -> Self {
        Self {
            key: meta.location.to_string(),
            size: meta.size,
            last_modified: meta.last_modified,
            etag: meta.e_tag,
            version: meta.version,
        }
    }
}

#[pymethods]
impl PyObjectMeta {
    fn __repr__(&self) -> String {
        format!(
            "ObjectMeta(key={:?}, size={}, last_modified='{}', etag={})",
            self.key,
            self.size,
            self.last_modified.to_rfc3339(),
            optional(&self.etag)
        )
    }
}

#[pyclass(frozen, name = "PutResult", module = "autostore._core")]
pub struct PyPutResult {
    #[pyo3(get)]
    etag: Option<String>,
    #[pyo3(get)]
    version: Option<String>,
}

impl From<object_store::PutResult> for PyPutResult {
    fn from(result: object_store::PutResult) -> Self {
        Self {
            etag: result.e_tag,
            version: result.version,
        }
    }
}

#[pymethods]
impl PyPutResult {
    fn __repr__(&self) -> String {
        format!(
            "PutResult(etag={}, version={})",
            optional(&self.etag),
            optional(&self.version)
        )
    }
}

#[pyclass(frozen, name = "ListResult", module = "autostore._core")]
pub struct PyListResult {
    #[pyo3(get)]
    objects: Vec<Py<PyObjectMeta>>,
    #[pyo3(get)]
    prefixes: Vec<String>,
}

impl PyListResult {
    pub fn new(py: Python<'_>, level: crate::listing::Level) -> PyResult<Self> {
        Ok(Self {
            objects: metas(py, level.objects)?,
            prefixes: level.prefixes,
        })
    }
}

#[pymethods]
impl PyListResult {
    fn __repr__(&self) -> String {
        format!(
            "ListResult({} objects, {} prefixes)",
            self.objects.len(),
            self.prefixes.len()
        )
    }
}

/// Converts listing results into Python objects in one pass.
pub fn metas(
    py: Python<'_>,
    metas: Vec<object_store::ObjectMeta>,
) -> PyResult<Vec<Py<PyObjectMeta>>> {
    metas
        .into_iter()
        .map(|meta| Py::new(py, PyObjectMeta::from(meta)))
        .collect()
}

/// Python's repr of an optional string.
fn optional(value: &Option<String>) -> String {
    value
        .as_ref()
        .map_or_else(|| "None".to_string(), |text| format!("{text:?}"))
}
