//! The one error type of the core and its mapping onto AutoStore's Python exceptions.

use pyo3::PyErr;

use crate::glob::GlobError;

pyo3::import_exception!(autostore.exceptions, ObjectNotFoundError);
pyo3::import_exception!(autostore.exceptions, AccessDeniedError);
pyo3::import_exception!(autostore.exceptions, AlreadyExistsError);
pyo3::import_exception!(autostore.exceptions, PreconditionFailedError);
pyo3::import_exception!(autostore.exceptions, InvalidConfigError);
pyo3::import_exception!(autostore.exceptions, InvalidKeyError);
pyo3::import_exception!(autostore.exceptions, TransferError);
pyo3::import_exception!(autostore.exceptions, TransferTimeoutError);
pyo3::import_exception!(autostore.exceptions, ForkedProcessError);

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("{uri}: {}", concise(source))]
    Store {
        uri: String,
        #[source]
        source: object_store::Error,
    },
    /// A request that made no progress for longer than the store's timeout, retries included.
    #[error(
        "{uri}: timed out: no progress for {seconds} s (the timeout), after the configured retries; {}",
        concise(source)
    )]
    Stalled {
        uri: String,
        seconds: f64,
        #[source]
        source: object_store::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey { key: String, reason: String },
    #[error("{0}")]
    Config(String),
    #[error("{uri}: {message}")]
    Transfer { uri: String, message: String },
    #[error("{0}")]
    Glob(#[from] GlobError),
    #[error(
        "autostore's I/O runtime was started before this process was forked; create stores and \
         transfer data only after fork(), or use the 'spawn' start method"
    )]
    Forked,
    #[error("cannot start the I/O runtime: {0}")]
    Runtime(String),
}

/// The first line of an object_store error without the XML body servers attach to it, plus the
/// S3 error code from that body (`NoSuchBucket`, `AccessDenied`) when there is one.
fn concise(source: &object_store::Error) -> String {
    let text = source.to_string();
    let line = text.lines().next().unwrap_or_default();
    let line = line.split("<?xml").next().unwrap_or(line);
    let line = line.trim_end_matches([' ', ':']);
    match s3_error_code(&text) {
        Some(code) if !line.contains(code) => format!("{line} ({code})"),
        _ => line.to_string(),
    }
}

fn s3_error_code(text: &str) -> Option<&str> {
    let (_, rest) = text.split_once("<Code>")?;
    let (code, _) = rest.split_once("</Code>")?;
    (!code.is_empty() && code.len() < 64).then_some(code)
}

/// The HTTP status of a request that object_store reports only as a generic error (LIST, for
/// one: it maps 403 and 404 to `Generic`, not to `PermissionDenied` and `NotFound`).
fn generic_status(source: &object_store::Error) -> Option<u16> {
    if !matches!(source, object_store::Error::Generic { .. }) {
        return None;
    }
    chain(source).find_map(|err| {
        let text = err.to_string();
        let (_, rest) = text.split_once("non-2xx status code: ")?;
        rest.get(..3)?.parse().ok()
    })
}

/// Whether the error is a request or body read that timed out (a stall, or no connection in time).
pub fn is_timeout(source: &object_store::Error) -> bool {
    use object_store::client::{HttpError, HttpErrorKind};
    chain(source).any(|err| {
        err.downcast_ref::<HttpError>()
            .is_some_and(|http| http.kind() == HttpErrorKind::Timeout)
            || err
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
    })
}

fn chain<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> + 'a {
    std::iter::successors(Some(error), |err| err.source())
}

impl CoreError {
    pub fn store(uri: impl Into<String>, source: object_store::Error) -> Self {
        Self::Store {
            uri: uri.into(),
            source,
        }
    }

    pub fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_string(),
            source,
        }
    }

    pub fn is_not_found(&self) -> bool {
        match self {
            Self::Store {
                source: object_store::Error::NotFound { .. },
                ..
            } => true,
            // A key below a local *file* ("a.txt/b") names nothing, as an S3 key would.
            Self::Store { source, .. } => io_kinds(source).any(|kind| {
                matches!(
                    kind,
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                )
            }),
            Self::Io { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
            _ => false,
        }
    }
}

/// The kinds of the I/O errors in an error's source chain.
fn io_kinds<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = std::io::ErrorKind> + 'a {
    chain(error).filter_map(|err| {
        err.downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
    })
}

impl From<CoreError> for PyErr {
    fn from(err: CoreError) -> PyErr {
        use object_store::Error as E;
        let message = err.to_string();
        if err.is_not_found() {
            return ObjectNotFoundError::new_err(message);
        }
        match &err {
            CoreError::Stalled { .. } => TransferTimeoutError::new_err(message),
            CoreError::Store { uri, source } if is_timeout(source) => {
                TransferTimeoutError::new_err(format!(
                    "{uri}: timed out: no progress for longer than the timeout; {}",
                    concise(source)
                ))
            }
            CoreError::Store { source, .. } => match source {
                E::NotFound { .. } => ObjectNotFoundError::new_err(message),
                E::PermissionDenied { .. } | E::Unauthenticated { .. } => {
                    AccessDeniedError::new_err(message)
                }
                E::AlreadyExists { .. } => AlreadyExistsError::new_err(message),
                E::Precondition { .. } => PreconditionFailedError::new_err(message),
                E::InvalidPath { .. } => InvalidKeyError::new_err(message),
                E::UnknownConfigurationKey { .. } => InvalidConfigError::new_err(message),
                _ => match generic_status(source) {
                    Some(401 | 403) => AccessDeniedError::new_err(message),
                    Some(404) => ObjectNotFoundError::new_err(message),
                    _ => TransferError::new_err(message),
                },
            },
            CoreError::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound => ObjectNotFoundError::new_err(message),
                std::io::ErrorKind::PermissionDenied => AccessDeniedError::new_err(message),
                std::io::ErrorKind::AlreadyExists => AlreadyExistsError::new_err(message),
                _ => TransferError::new_err(message),
            },
            CoreError::InvalidKey { .. } | CoreError::Glob(_) => InvalidKeyError::new_err(message),
            CoreError::Config(_) => InvalidConfigError::new_err(message),
            CoreError::Transfer { .. } => TransferError::new_err(message),
            CoreError::Forked => ForkedProcessError::new_err(message),
            CoreError::Runtime(_) => TransferError::new_err(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(text: &str) -> object_store::Error {
        object_store::Error::Generic {
            store: "S3",
            source: text.to_string().into(),
        }
    }

    #[test]
    fn generic_list_errors_reveal_their_status_and_s3_code() {
        let missing = generic(
            "Error performing list request: Error performing GET http://h/b?list-type=2 in 2ms - \
             Server returned non-2xx status code: 404 Not Found: <?xml version=\"1.0\"?>\
             <Error><Code>NoSuchBucket</Code></Error>",
        );
        assert_eq!(generic_status(&missing), Some(404));
        let text = concise(&missing);
        assert!(text.ends_with("404 Not Found (NoSuchBucket)"), "{text}");
        assert!(!text.contains("<?xml"), "{text}");
        let refused = generic("... non-2xx status code: 403 Forbidden: ");
        assert_eq!(generic_status(&refused), Some(403));
        assert_eq!(
            generic_status(&generic("HTTP error: connection refused")),
            None
        );
        let not_generic = object_store::Error::NotFound {
            path: "k".into(),
            source: "non-2xx status code: 404 Not Found".into(),
        };
        assert_eq!(generic_status(&not_generic), None);
    }

    #[test]
    fn timeouts_are_found_anywhere_in_the_chain() {
        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "operation timed out");
        let timed_out = object_store::Error::Generic {
            store: "S3",
            source: Box::new(io),
        };
        assert!(is_timeout(&timed_out));
        assert!(!is_timeout(&generic(
            "Server returned non-2xx status code: 503"
        )));
        let err = CoreError::Stalled {
            uri: "s3://b/k".into(),
            seconds: 1.5,
            source: timed_out,
        };
        assert!(err
            .to_string()
            .starts_with("s3://b/k: timed out: no progress for 1.5 s"));
    }
}
