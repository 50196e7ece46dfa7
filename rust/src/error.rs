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
pyo3::import_exception!(autostore.exceptions, ForkedProcessError);

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("{uri}: {}", concise(source))]
    Store {
        uri: String,
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

/// The first line of an object_store error without the XML body servers attach to it.
fn concise(source: &object_store::Error) -> String {
    let text = source.to_string();
    let line = text.lines().next().unwrap_or_default();
    let line = line.split("<?xml").next().unwrap_or(line);
    line.trim_end_matches([' ', ':']).to_string()
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
    std::iter::successors(Some(error), |err| err.source()).filter_map(|err| {
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
            CoreError::Store { source, .. } => match source {
                E::NotFound { .. } => ObjectNotFoundError::new_err(message),
                E::PermissionDenied { .. } | E::Unauthenticated { .. } => {
                    AccessDeniedError::new_err(message)
                }
                E::AlreadyExists { .. } => AlreadyExistsError::new_err(message),
                E::Precondition { .. } => PreconditionFailedError::new_err(message),
                E::InvalidPath { .. } => InvalidKeyError::new_err(message),
                E::UnknownConfigurationKey { .. } => InvalidConfigError::new_err(message),
                _ => TransferError::new_err(message),
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
