//! One tokio runtime for the whole process, and the bridge that runs its futures for Python.
//!
//! Every blocking call releases the GIL while the future runs. The calling thread wakes up every
//! [`TICK`] to deliver progress and to let Python handle signals, so Ctrl-C cancels a transfer (the
//! future is dropped and its cleanup guards run) instead of being ignored until it ends.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use pyo3::prelude::*;
use tokio::runtime::Runtime;

use crate::error::CoreError;
use crate::progress::Progress;

const TICK: Duration = Duration::from_millis(100);

struct SharedRuntime {
    runtime: Runtime,
    /// The process that built the runtime: its worker threads do not survive `fork()`.
    pid: u32,
}

static RUNTIME: OnceLock<Result<SharedRuntime, String>> = OnceLock::new();

/// The process-wide runtime, or an error in a child forked after the runtime started.
pub fn runtime() -> Result<&'static Runtime, CoreError> {
    let shared = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("autostore-io")
            .build()
            .map(|runtime| SharedRuntime {
                runtime,
                pid: std::process::id(),
            })
            .map_err(|err| err.to_string())
    });
    match shared {
        Ok(shared) if shared.pid == std::process::id() => Ok(&shared.runtime),
        Ok(_) => Err(CoreError::Forked),
        Err(message) => Err(CoreError::Runtime(message.clone())),
    }
}

/// Runs `future` to completion with the GIL released, reporting progress and checking signals.
pub fn wait_for<F, T>(py: Python<'_>, progress: Option<&Progress>, future: F) -> PyResult<T>
where
    F: Future<Output = Result<T, CoreError>> + Send,
    T: Send,
{
    let runtime = runtime()?;
    let mut future = Box::pin(future);
    loop {
        let finished = py.detach(|| {
            runtime.block_on(async {
                tokio::select! {
                    result = &mut future => Some(result),
                    () = tokio::time::sleep(TICK) => None,
                }
            })
        });
        if let Some(progress) = progress {
            progress.report(py)?;
        }
        match finished {
            Some(result) => return result.map_err(PyErr::from),
            // Dropping `future` on a pending KeyboardInterrupt cancels the transfer.
            None => py.check_signals()?,
        }
    }
}

/// Runs `future` to completion without Python, for the Rust tests.
#[cfg(test)]
pub fn block_on<F: Future>(future: F) -> Result<F::Output, CoreError> {
    Ok(runtime()?.block_on(future))
}
