//! `autostore._core`: the transfer layer of AutoStore, on `object_store` and one tokio runtime.

use pyo3::prelude::*;

mod batch;
mod cache;
mod error;
mod glob;
mod listing;
mod progress;
mod py_cache;
mod py_store;
mod py_types;
mod runtime;
mod store;
mod tempfile;
mod transfer;

use progress::Progress;
use py_store::PyStore;
use py_types::PyPutResult;

/// Streams one object between two stores without passing its bytes through Python.
#[pyfunction]
#[pyo3(signature = (src, src_key, dst, dst_key, *, progress=None))]
fn copy_between(
    py: Python<'_>,
    src: &PyStore,
    src_key: &str,
    dst: &PyStore,
    dst_key: &str,
    progress: Option<Py<PyAny>>,
) -> PyResult<PyPutResult> {
    let progress = Progress::new(progress);
    let copy = transfer::copy_between(&src.inner, src_key, &dst.inner, dst_key, &progress.counter);
    Ok(runtime::wait_for(py, Some(&progress), copy)?.into())
}

/// Copies many objects from `src` to `dst` concurrently; one result per pair, in order.
#[pyfunction]
#[pyo3(signature = (src, dst, pairs, *, progress=None))]
fn copy_many(
    py: Python<'_>,
    src: &PyStore,
    dst: &PyStore,
    pairs: Vec<(String, String)>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Vec<Py<PyAny>>> {
    let progress = Progress::new(progress);
    let copies =
        async { Ok(batch::copy_many(&src.inner, &dst.inner, pairs, &progress.counter).await) };
    let results = runtime::wait_for(py, Some(&progress), copies)?;
    results
        .into_iter()
        .map(|result| match result {
            Ok(put) => Ok(Py::new(py, PyPutResult::from(put))?.into_any()),
            Err(err) => Ok(PyErr::from(err).into_value(py).into_any()),
        })
        .collect()
}

/// Whether `key` matches the pathlib-style `pattern`.
#[pyfunction]
fn glob_match(pattern: &str, key: &str) -> PyResult<bool> {
    let pattern = glob::Pattern::new(pattern).map_err(error::CoreError::from)?;
    // A trailing '/' selects directories; a key names an object.
    Ok(!pattern.dirs_only() && pattern.matches(key))
}

/// The literal directory prefix of `pattern`.
#[pyfunction]
fn glob_prefix(pattern: &str) -> PyResult<String> {
    let pattern = glob::Pattern::new(pattern).map_err(error::CoreError::from)?;
    Ok(pattern.literal_prefix())
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<PyStore>()?;
    m.add_class::<py_types::PyObjectMeta>()?;
    m.add_class::<py_types::PyPutResult>()?;
    m.add_class::<py_types::PyListResult>()?;
    m.add_class::<py_store::ListStream>()?;
    m.add_class::<pyo3_bytes::PyBytes>()?;
    m.add_class::<py_cache::PyCache>()?;
    m.add_class::<py_cache::PyCachedFile>()?;
    m.add_class::<py_cache::PyCacheEntry>()?;
    m.add_class::<py_cache::PyCacheStats>()?;
    m.add_function(wrap_pyfunction!(copy_between, m)?)?;
    m.add_function(wrap_pyfunction!(copy_many, m)?)?;
    m.add_function(wrap_pyfunction!(glob_match, m)?)?;
    m.add_function(wrap_pyfunction!(glob_prefix, m)?)?;
    Ok(())
}
