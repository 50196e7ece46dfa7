//! Listing a local root without leaving it.
//!
//! `object_store` walks local directories following every symbolic link, so a link to a directory
//! outside the root would list, and `delete_prefix` would delete, files that are not the store's.
//! Local listings are made here instead, by these rules:
//! - a link to a directory outside the root (resolved) is never listed, nor anything below it,
//!   and a listing that starts below such a link is refused (as every operation on a key through
//!   it is, SECURITY.md);
//! - a link to a directory inside the root shows as a sub-prefix in one-level listings, but
//!   recursive listings do not descend into it: what it holds is listed at its real place already,
//!   and a link to an ancestor would make the walk endless;
//! - a link to a file is listed under its own name like any file, wherever it points: reading it
//!   follows it as `open()` does (SECURITY.md), so listing it shows nothing a read would not;
//! - broken links, and the `name#123` temporaries `object_store` writes before renaming, are
//!   skipped, as `object_store` skips them.

use std::collections::VecDeque;
use std::fs::{self, Metadata};
use std::io::ErrorKind;
use std::path::{Path as FsPath, PathBuf};

use futures::stream::{self, BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{ListResult, ObjectMeta};

use crate::error::CoreError;

/// Entries read per blocking task while streaming a recursive listing.
const CHUNK: usize = 1024;

/// A directory entry as the rules above see it.
enum Kind {
    File(Metadata),
    Dir,
    LinkedDir,
    Skipped,
}

/// The root resolved, to tell where links lead.
struct Confinement {
    root: PathBuf,
    real_root: PathBuf,
}

impl Confinement {
    /// The directory of key prefix `dir`, or None when it (or the root) does not exist or is not
    /// a directory: nothing is listed below it, as below a missing S3 prefix.
    fn start(root: &FsPath, dir: &str) -> Result<Option<(Self, PathBuf)>, CoreError> {
        let real = |path: &FsPath| match fs::canonicalize(path) {
            Ok(real) => Ok(Some(real)),
            Err(err) if is_absent(&err) => Ok(None),
            Err(err) => Err(CoreError::io(path.display(), err)),
        };
        let Some(real_root) = real(root)? else {
            return Ok(None);
        };
        let mut path = root.to_path_buf();
        path.extend(dir.split('/').filter(|segment| !segment.is_empty()));
        let Some(real_dir) = real(&path)? else {
            return Ok(None);
        };
        if !real_dir.starts_with(&real_root) {
            return Err(CoreError::InvalidKey {
                key: dir.to_string(),
                reason: format!(
                    "{} leads outside the store's root {} through a symbolic link",
                    path.display(),
                    real_root.display()
                ),
            });
        }
        let confinement = Self {
            root: root.to_path_buf(),
            real_root,
        };
        Ok(real_dir.is_dir().then_some((confinement, path)))
    }

    fn classify(&self, entry: &fs::DirEntry) -> Result<Kind, CoreError> {
        let path = entry.path();
        let kind = match entry.file_type() {
            Ok(kind) if kind.is_symlink() => return Ok(self.link(&path)),
            Ok(kind) if kind.is_dir() => return Ok(Kind::Dir),
            Ok(kind) if !kind.is_file() => return Ok(Kind::Skipped),
            Ok(_) => entry.metadata().map(Kind::File),
            Err(err) => Err(err),
        };
        match kind {
            // Removed since the directory was read.
            Err(err) if is_absent(&err) => Ok(Kind::Skipped),
            found => found.map_err(|err| CoreError::io(path.display(), err)),
        }
    }

    /// What the link at `path` stands for. A link that cannot be resolved (broken, a cycle of
    /// links, a target that cannot be read) is skipped, as `object_store` skips it.
    fn link(&self, path: &FsPath) -> Kind {
        let Ok(target) = fs::canonicalize(path) else {
            return Kind::Skipped;
        };
        match fs::metadata(&target) {
            Ok(meta) if meta.is_file() => Kind::File(meta),
            Ok(meta) if meta.is_dir() && target.starts_with(&self.real_root) => Kind::LinkedDir,
            _ => Kind::Skipped,
        }
    }

    /// The key of `entry` in directory `dir` (a key prefix, empty for the root).
    fn key(&self, dir: &str, entry: &fs::DirEntry) -> Result<String, CoreError> {
        let name = entry.file_name();
        let name = name.to_str().ok_or_else(|| {
            CoreError::io(
                entry.path().display(),
                std::io::Error::new(ErrorKind::InvalidData, "the file name is not valid UTF-8"),
            )
        })?;
        Ok(if dir.is_empty() {
            name.to_string()
        } else {
            format!("{dir}/{name}")
        })
    }
}

/// What a missing file or a path through a non-directory looks like.
fn is_absent(err: &std::io::Error) -> bool {
    matches!(err.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory)
}

fn read_dir(path: &FsPath) -> Result<Option<fs::ReadDir>, CoreError> {
    match fs::read_dir(path) {
        Ok(entries) => Ok(Some(entries)),
        Err(err) if is_absent(&err) => Ok(None),
        Err(err) => Err(CoreError::io(path.display(), err)),
    }
}

/// `key` as an `object_store` path, kept exactly (`Path::from` would percent-encode `[`, `#`...).
fn location(key: &str) -> Result<Path, CoreError> {
    Path::parse(key).map_err(|err| CoreError::InvalidKey {
        key: key.to_string(),
        reason: err.to_string(),
    })
}

/// A file as `object_store` describes it, ETag included, so a listing and a HEAD agree.
fn object(key: &str, meta: &Metadata) -> Result<ObjectMeta, CoreError> {
    let location = location(key)?;
    let modified = meta.modified().unwrap_or(std::time::SystemTime::UNIX_EPOCH);
    let micros = modified
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros();
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(meta);
    #[cfg(not(unix))]
    let inode = 0u64;
    Ok(ObjectMeta {
        location,
        last_modified: modified.into(),
        size: meta.len(),
        e_tag: Some(format!("\"{inode:x}-{micros:x}-{:x}\"", meta.len())),
        version: None,
    })
}

/// Whether `key` names a temporary of an `object_store` write in progress (`name#123`).
fn is_temporary(key: &str) -> bool {
    let name = key.rsplit('/').next().unwrap_or(key);
    name.split_once('#').is_some_and(|(_, suffix)| {
        !suffix.is_empty() && suffix.bytes().all(|byte| byte.is_ascii_digit())
    })
}

/// Objects and sub-prefixes directly in the key prefix `dir` of the local root `root`.
pub async fn level(root: PathBuf, dir: String) -> Result<ListResult, CoreError> {
    let task = crate::runtime::runtime()?.spawn_blocking(move || level_now(&root, &dir));
    task.await
        .map_err(|err| CoreError::Runtime(err.to_string()))?
}

fn level_now(root: &FsPath, dir: &str) -> Result<ListResult, CoreError> {
    let mut listing = ListResult {
        common_prefixes: Vec::new(),
        objects: Vec::new(),
        extensions: Default::default(),
    };
    let Some((confinement, path)) = Confinement::start(root, dir)? else {
        return Ok(listing);
    };
    let Some(entries) = read_dir(&path)? else {
        return Ok(listing);
    };
    let prefix = dir.trim_matches('/');
    for entry in entries {
        let entry = entry.map_err(|err| CoreError::io(path.display(), err))?;
        let key = confinement.key(prefix, &entry)?;
        match confinement.classify(&entry)? {
            Kind::File(meta) if !is_temporary(&key) => listing.objects.push(object(&key, &meta)?),
            Kind::Dir | Kind::LinkedDir => listing.common_prefixes.push(location(&key)?),
            Kind::File(_) | Kind::Skipped => {}
        }
    }
    Ok(listing)
}

/// Every object below the key prefix `prefix` of the local root `root`, streamed in chunks read
/// on blocking threads.
pub fn list(root: PathBuf, prefix: String) -> BoxStream<'static, Result<ObjectMeta, CoreError>> {
    let walk = Walk {
        start: Some((root, prefix)),
        confinement: None,
        stack: Vec::new(),
    };
    stream::try_unfold(
        (walk, VecDeque::new()),
        |(mut walk, mut buffer)| async move {
            if buffer.is_empty() {
                let task = crate::runtime::runtime()?.spawn_blocking(move || {
                    buffer.extend(walk.by_ref().take(CHUNK));
                    (walk, buffer)
                });
                (walk, buffer) = task
                    .await
                    .map_err(|err| CoreError::Runtime(err.to_string()))?;
            }
            match buffer.pop_front() {
                Some(Err(err)) => Err(err),
                Some(Ok(meta)) => Ok(Some((meta, (walk, buffer)))),
                None => Ok(None),
            }
        },
    )
    .boxed()
}

/// A depth-first walk of real directories below a starting one.
struct Walk {
    /// The root and the key prefix to start from, until the first step opens it.
    start: Option<(PathBuf, String)>,
    confinement: Option<Confinement>,
    /// Directories being read, with their key prefixes.
    stack: Vec<(fs::ReadDir, String)>,
}

impl Walk {
    fn open(&mut self, root: &FsPath, prefix: &str) -> Result<(), CoreError> {
        if let Some((confinement, path)) = Confinement::start(root, prefix)? {
            if let Some(entries) = read_dir(&path)? {
                self.stack
                    .push((entries, prefix.trim_matches('/').to_string()));
            }
            self.confinement = Some(confinement);
        }
        Ok(())
    }

    fn step(&mut self) -> Result<Option<ObjectMeta>, CoreError> {
        if let Some((root, prefix)) = self.start.take() {
            self.open(&root, &prefix)?;
        }
        let Some(confinement) = &self.confinement else {
            return Ok(None);
        };
        while let Some((entries, dir)) = self.stack.last_mut() {
            let Some(entry) = entries.next() else {
                self.stack.pop();
                continue;
            };
            let entry = entry.map_err(|err| CoreError::io(confinement.root.display(), err))?;
            let key = confinement.key(dir, &entry)?;
            match confinement.classify(&entry)? {
                Kind::File(meta) if !is_temporary(&key) => return object(&key, &meta).map(Some),
                Kind::Dir => {
                    if let Some(entries) = read_dir(&entry.path())? {
                        self.stack.push((entries, key));
                    }
                }
                Kind::File(_) | Kind::LinkedDir | Kind::Skipped => {}
            }
        }
        Ok(None)
    }
}

impl Iterator for Walk {
    type Item = Result<ObjectMeta, CoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.step() {
            Ok(found) => found.map(Ok),
            Err(err) => {
                // After an error the walk is over: the stream ends with it.
                self.stack.clear();
                Some(Err(err))
            }
        }
    }
}
