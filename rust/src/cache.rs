//! The on-disk cache of remote objects and its ETag index (DESIGN.md §3).
//!
//! Entries are keyed by a namespace (the store identity) and the key. An entry file is completed
//! under a hidden temporary name and renamed into place while the index's write lock is held, in
//! the same transaction that records it; a reader serves an entry only when its file exists with
//! the indexed size and modification time. So a crash at any point, or two processes filling the
//! same key, never lets a partial or mismatched file be served. A fresh hit reads the index and
//! stats the file, nothing more: its access is written later, in a batch (see `accesses`).
//! Local (`file://`) stores are not cached: their files are served where they are. Memory stores
//! are cached like remote ones, in a namespace private to the process, because their objects live
//! only as long as the process.

mod accesses;
mod index;
mod layout;
mod maintenance;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use object_store::{GetOptions, PutResult};

use crate::error::CoreError;
use crate::progress::Counter;
use crate::store::{parse_key, Backend, CoreStore};
use crate::transfer::{download_file_with, head, upload_file};
use index::{now, Event, Index, Row, Tx};
use layout::{make_private_file, remove_file, stamp, Layout};

/// How long a hidden temporary may sit untouched before `cleanup` treats it as left by a crash.
/// Downloads write continuously and stall for at most the store's read timeout between writes.
const TEMP_GRACE: Duration = Duration::from_secs(3600);

/// A complete local copy of an object (or, for a local store, the object's own file).
#[derive(Debug, Clone)]
pub struct CachedFile {
    pub path: PathBuf,
    pub etag: Option<String>,
    pub size: u64,
    /// Served without transferring the object's body.
    pub hit: bool,
}

/// What the index records of one entry whose file is present.
#[derive(Debug, Clone)]
pub struct Entry {
    pub key: String,
    pub path: PathBuf,
    pub etag: Option<String>,
    pub size: u64,
    pub last_modified: Option<DateTime<Utc>>,
    pub validated_at: DateTime<Utc>,
    pub last_access: DateTime<Utc>,
}

pub use index::Totals as Stats;

/// What the store said of the version being placed in the cache.
struct Version {
    etag: Option<String>,
    /// Unix seconds; unknown for write-through entries.
    last_modified: Option<f64>,
    /// When the download of this version was requested (Unix seconds); None for write-through.
    requested_at: Option<f64>,
}

/// What a lookup decided to do for a key.
enum Plan {
    Serve(CachedFile),
    Revalidate(String),
    Download,
}

/// A temporary file removed on drop unless it was renamed into place.
struct Staged {
    path: PathBuf,
    placed: bool,
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.placed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// One cache root: its directory tree, its index, and its size cap.
pub struct CoreCache {
    layout: Layout,
    index: Arc<Index>,
    max_bytes: Option<u64>,
}

/// Every index opened by this process and not yet dropped, for [`flush_all`].
static OPEN_INDEXES: Mutex<Vec<Weak<Index>>> = Mutex::new(Vec::new());

/// Writes the accesses pending in every open cache of this process; for the process's exit, when
/// caches still referenced are never dropped. Returns the first error after trying them all.
pub fn flush_all() -> Result<(), CoreError> {
    let open: Vec<Arc<Index>> = OPEN_INDEXES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    open.iter()
        .map(|index| index.flush())
        .fold(Ok(()), Result::and)
}

impl std::fmt::Debug for CoreCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CoreCache({})", self.layout.root().display())
    }
}

/// The namespace of a store's entries: its identity, plus this process for memory stores.
fn namespace(store: &CoreStore) -> String {
    static PROCESS: OnceLock<String> = OnceLock::new();
    match store.backend {
        Backend::Memory => {
            let process = PROCESS.get_or_init(|| {
                format!(
                    "pid={}-{}",
                    std::process::id(),
                    chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
                )
            });
            format!("{}#{process}", store.identity)
        }
        _ => store.identity.clone(),
    }
}

/// Whether the file at `path` is the one `row` indexed: same size and modification time. A file
/// replaced without its row being committed (a crash between the two) fails this.
fn file_matches(path: &Path, row: &Row) -> Result<bool, CoreError> {
    Ok(stamp(path)?.is_some_and(|found| found.size == row.size && found.mtime_ns == row.mtime_ns))
}

fn is_fresh(row: &Row, max_age: Option<Duration>, at: f64) -> bool {
    max_age.is_none_or(|max_age| at - row.validated_at < max_age.as_secs_f64())
}

fn is_not_modified(err: &CoreError) -> bool {
    matches!(
        err,
        CoreError::Store {
            source: object_store::Error::NotModified { .. },
            ..
        }
    )
}

impl CoreCache {
    /// Opens the cache at `root` (default: the platform's user cache directory), creating it.
    pub fn open(root: Option<PathBuf>, max_bytes: Option<u64>) -> Result<Self, CoreError> {
        let root = match root {
            Some(root) => {
                std::path::absolute(&root).map_err(|err| CoreError::io(root.display(), err))?
            }
            None => layout::default_root()?,
        };
        let layout = Layout::create(root)?;
        let index = Arc::new(Index::open(layout.index_path())?);
        let mut open = OPEN_INDEXES
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        open.retain(|known| known.strong_count() > 0);
        open.push(Arc::downgrade(&index));
        drop(open);
        Ok(Self {
            layout,
            index,
            max_bytes,
        })
    }

    /// The absolute cache directory.
    pub fn root(&self) -> &Path {
        self.layout.root()
    }

    /// The size cap that eviction keeps the cache under, if any.
    pub fn max_bytes(&self) -> Option<u64> {
        self.max_bytes
    }

    /// The fresh, intact entry of `key`, found without a request or an index write; None when
    /// [`fetch`](Self::fetch) has more to do (and always for a local store, which is not cached).
    pub fn fresh(
        &self,
        store: &CoreStore,
        key: &str,
        max_age: Option<Duration>,
    ) -> Result<Option<CachedFile>, CoreError> {
        if store.local_file(&parse_key(key)?).is_some() {
            return Ok(None);
        }
        match self.lookup(&namespace(store), key, max_age)? {
            Plan::Serve(file) => Ok(Some(file)),
            Plan::Revalidate(_) | Plan::Download => Ok(None),
        }
    }

    /// A complete local file holding `key`.
    ///
    /// A fresh entry (validated less than `max_age` ago; None: never expires) is served without any
    /// request. A stale one is revalidated with `If-None-Match`; a missing one, or any entry when
    /// `refresh` is set, is downloaded.
    pub async fn fetch(
        &self,
        store: &CoreStore,
        key: &str,
        max_age: Option<Duration>,
        refresh: bool,
        counter: &Counter,
    ) -> Result<CachedFile, CoreError> {
        let path = parse_key(key)?;
        if let Some(file) = store.local_file(&path) {
            let meta = head(store, key).await?;
            return Ok(CachedFile {
                path: file,
                etag: meta.e_tag,
                size: meta.size,
                hit: true,
            });
        }
        let namespace = namespace(store);
        let plan = if refresh {
            Plan::Download
        } else {
            self.lookup(&namespace, key, max_age)?
        };
        let fetched = match plan {
            Plan::Serve(file) => return Ok(file),
            Plan::Revalidate(etag) => {
                let conditional = Some(etag.clone());
                match self
                    .download(store, key, &namespace, conditional, counter)
                    .await
                {
                    Err(err) if is_not_modified(&err) => {
                        match self.revalidated(&namespace, key, &etag)? {
                            Some(file) => return Ok(file),
                            // Another process replaced or dropped the entry meanwhile.
                            None => self.download(store, key, &namespace, None, counter).await,
                        }
                    }
                    fetched => fetched,
                }
            }
            Plan::Download => self.download(store, key, &namespace, None, counter).await,
        };
        if fetched.as_ref().is_err_and(CoreError::is_not_found) {
            self.forget(&namespace, key)?;
        }
        fetched
    }

    /// Serves a fresh, intact entry, or says what to fetch.
    ///
    /// One read of the index and a stat of the file: no write transaction, so hits never wait for
    /// writers or for each other. An entry whose file is missing or does not match the index (left
    /// by a crash) is downloaded again, which replaces its row; cleanup removes it otherwise.
    fn lookup(
        &self,
        namespace: &str,
        key: &str,
        max_age: Option<Duration>,
    ) -> Result<Plan, CoreError> {
        let Some(row) = self.index.get(namespace, key)? else {
            return Ok(Plan::Download);
        };
        let path = self.layout.absolute(&row.file);
        if !file_matches(&path, &row)? {
            return Ok(Plan::Download);
        }
        let at = now();
        if is_fresh(&row, max_age, at) {
            self.index.record_hit(namespace, key, at);
            return Ok(Plan::Serve(CachedFile {
                path,
                etag: row.etag,
                size: row.size,
                hit: true,
            }));
        }
        Ok(row.etag.map_or(Plan::Download, Plan::Revalidate))
    }

    /// The row of an entry whose file matches it; a row that does not is removed with its file.
    fn intact(
        &self,
        tx: &Tx<'_>,
        namespace: &str,
        key: &str,
    ) -> Result<Option<(Row, PathBuf)>, CoreError> {
        let Some(row) = tx.get(namespace, key)? else {
            return Ok(None);
        };
        let path = self.layout.absolute(&row.file);
        if file_matches(&path, &row)? {
            return Ok(Some((row, path)));
        }
        tx.delete(namespace, key)?;
        remove_file(&path)?;
        Ok(None)
    }

    /// Marks an entry validated after a 304 for `etag`, if it still is that version.
    fn revalidated(
        &self,
        namespace: &str,
        key: &str,
        etag: &str,
    ) -> Result<Option<CachedFile>, CoreError> {
        self.index.write(|tx| {
            let Some((row, path)) = self.intact(tx, namespace, key)? else {
                return Ok(None);
            };
            if row.etag.as_deref() != Some(etag) {
                return Ok(None);
            }
            tx.touch(namespace, key, now(), true)?;
            tx.count(Event::Revalidation)?;
            Ok(Some(CachedFile {
                path,
                etag: row.etag,
                size: row.size,
                hit: true,
            }))
        })
    }

    /// Downloads `key` (conditionally on `if_none_match`) and places it in the cache.
    async fn download(
        &self,
        store: &CoreStore,
        key: &str,
        namespace: &str,
        if_none_match: Option<String>,
        counter: &Counter,
    ) -> Result<CachedFile, CoreError> {
        let file = self.layout.entry_file(namespace, key);
        let staged = Staged {
            path: self.layout.staging_file(&self.layout.absolute(&file))?,
            placed: false,
        };
        let options = GetOptions {
            if_none_match,
            ..Default::default()
        };
        let requested_at = now();
        let meta = download_file_with(store, key, &staged.path, options, counter).await?;
        let version = Version {
            etag: meta.e_tag,
            last_modified: Some(meta.last_modified.timestamp_micros() as f64 / 1e6),
            requested_at: Some(requested_at),
        };
        self.place(namespace, key, &file, staged, version, Some(Event::Miss))
    }

    /// Renames a complete staged file into place and indexes it, in one index transaction, then
    /// evicts least-recently-used entries beyond `max_bytes`.
    fn place(
        &self,
        namespace: &str,
        key: &str,
        file: &str,
        mut staged: Staged,
        version: Version,
        event: Option<Event>,
    ) -> Result<CachedFile, CoreError> {
        make_private_file(&staged.path)?;
        let path = self.layout.absolute(file);
        self.index.write(|tx| {
            if let Some(newer) = self.placed_since(tx, namespace, key, version.requested_at)? {
                if let Some(event) = event {
                    tx.count(event)?;
                }
                return Ok(newer);
            }
            std::fs::rename(&staged.path, &path)
                .map_err(|err| CoreError::io(path.display(), err))?;
            staged.placed = true;
            let found = stamp(&path)?.ok_or_else(|| {
                CoreError::io(
                    path.display(),
                    std::io::Error::other("the cache file vanished right after it was written"),
                )
            })?;
            let at = now();
            tx.upsert(
                namespace,
                key,
                &Row {
                    file: file.to_string(),
                    etag: version.etag.clone(),
                    size: found.size,
                    mtime_ns: found.mtime_ns,
                    last_modified: version.last_modified,
                    validated_at: at,
                    last_access: at,
                },
            )?;
            if let Some(event) = event {
                tx.count(event)?;
            }
            self.evict(tx, namespace, key)?;
            Ok(CachedFile {
                path: path.clone(),
                etag: version.etag.clone(),
                size: found.size,
                hit: false,
            })
        })
    }

    /// The intact entry of `key` placed after `requested_at`, which a download requested then must
    /// not replace.
    ///
    /// Such an entry is at least as new as the download: a write-through of an upload that ended
    /// after the request began, or a later read. Replacing it could bring back a value the server
    /// no longer holds, and keep serving it until it expires.
    fn placed_since(
        &self,
        tx: &Tx<'_>,
        namespace: &str,
        key: &str,
        requested_at: Option<f64>,
    ) -> Result<Option<CachedFile>, CoreError> {
        let Some(requested_at) = requested_at else {
            return Ok(None);
        };
        Ok(self
            .intact(tx, namespace, key)?
            .filter(|(row, _)| row.validated_at > requested_at)
            .map(|(row, path)| CachedFile {
                path,
                etag: row.etag,
                size: row.size,
                hit: false,
            }))
    }

    /// Drops least-recently-used entries, never (`namespace`, `key`), until the cache fits.
    fn evict(&self, tx: &Tx<'_>, namespace: &str, key: &str) -> Result<(), CoreError> {
        let Some(max_bytes) = self.max_bytes else {
            return Ok(());
        };
        let bytes = tx.totals()?.bytes;
        if bytes <= max_bytes {
            return Ok(());
        }
        for victim in tx.least_recently_used(namespace, key, bytes - max_bytes)? {
            tx.delete(&victim.namespace, &victim.key)?;
            // A file that cannot go now (open elsewhere, on Windows) is no longer indexed, so the
            // next cleanup removes it; failing the insert that evicts it would help no one.
            let _ = remove_file(&self.layout.absolute(&victim.file));
        }
        Ok(())
    }

    /// Puts the local file `source` in the cache as `key` with `etag` (write-through after an
    /// upload). With `move_file` the file is renamed in when possible, else copied and removed.
    /// Local stores are not cached: `source` is left untouched.
    pub fn insert(
        &self,
        store: &CoreStore,
        key: &str,
        source: &Path,
        etag: Option<String>,
        move_file: bool,
    ) -> Result<(), CoreError> {
        let object = parse_key(key)?;
        if store.local_file(&object).is_some() {
            return Ok(());
        }
        let target =
            std::fs::metadata(source).map_err(|err| CoreError::io(source.display(), err))?;
        if !target.is_file() {
            return Err(CoreError::io(
                source.display(),
                std::io::Error::other(format!("cannot cache it as {}: not a file", store.uri(key))),
            ));
        }
        let namespace = namespace(store);
        let file = self.layout.entry_file(&namespace, key);
        let staged = Staged {
            path: self.layout.staging_file(&self.layout.absolute(&file))?,
            placed: false,
        };
        // A symlink is copied through: renaming it would cache the link, not the data.
        let is_link = std::fs::symlink_metadata(source).is_ok_and(|meta| meta.is_symlink());
        let moved = move_file && !is_link && std::fs::rename(source, &staged.path).is_ok();
        if !moved {
            std::fs::copy(source, &staged.path)
                .map_err(|err| CoreError::io(source.display(), err))?;
        }
        let version = Version {
            etag,
            last_modified: None,
            requested_at: None,
        };
        self.place(&namespace, key, &file, staged, version, None)?;
        if move_file && !moved {
            remove_file(source)?;
        }
        Ok(())
    }

    /// Uploads `source` to `key` and caches it with the ETag the server returned.
    ///
    /// The old entry is dropped first, so a failed or interrupted upload never leaves it being
    /// served as current.
    pub async fn upload(
        &self,
        store: &CoreStore,
        source: &Path,
        key: &str,
        counter: &Counter,
    ) -> Result<PutResult, CoreError> {
        self.invalidate(store, key)?;
        let result = upload_file(store, source, key, counter).await?;
        self.insert(store, key, source, result.e_tag.clone(), false)?;
        Ok(result)
    }
}

#[cfg(test)]
mod tests;
