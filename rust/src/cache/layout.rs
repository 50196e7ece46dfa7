//! Where the cache keeps things on disk: the root, the index file, entry files named by a hash of
//! (namespace, key), hidden temporaries beside them, and the sweep that removes what is not indexed.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::error::CoreError;

const INDEX_FILE: &str = "index.sqlite";
const OBJECTS_DIR: &str = "objects";
/// Longest key extension kept on an entry file (`.csv.gz`, `.pydantic.json`), so libraries that
/// pick a decoder by suffix still work on cached files.
const MAX_SUFFIX_LEN: usize = 24;

/// The cache directory tree under one root.
#[derive(Debug)]
pub struct Layout {
    root: PathBuf,
    objects: PathBuf,
}

/// Size and modification time of an entry file: what the index checks before serving it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub size: u64,
    pub mtime_ns: i64,
}

impl Layout {
    /// Creates (with user-only permissions) or opens the tree under `root`.
    pub fn create(root: PathBuf) -> Result<Self, CoreError> {
        let objects = root.join(OBJECTS_DIR);
        create_private_dir(&objects)?;
        Ok(Self { root, objects })
    }

    /// The cache directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The SQLite index file.
    pub fn index_path(&self) -> PathBuf {
        self.root.join(INDEX_FILE)
    }

    /// The entry file of `key` in `namespace`, as the index records it (relative, `/`-separated).
    ///
    /// The name is a SHA-256 of both, so no key, however crafted, can name a path outside the cache.
    pub fn entry_file(&self, namespace: &str, key: &str) -> String {
        let mut hasher = Sha256::new();
        // Length-prefixed, so no (namespace, key) pair hashes the bytes of another.
        hasher.update((namespace.len() as u64).to_le_bytes());
        hasher.update(namespace.as_bytes());
        hasher.update(key.as_bytes());
        let hex: String = hasher
            .finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        format!("{OBJECTS_DIR}/{}/{hex}{}", &hex[..2], suffix(key))
    }

    /// The absolute path of an entry file recorded as `relative`.
    pub fn absolute(&self, relative: &str) -> PathBuf {
        let mut path = self.root.clone();
        path.extend(relative.split('/'));
        path
    }

    /// A new hidden, unique path beside `entry` where a file is completed before it is renamed
    /// into place; its directory is created.
    pub fn staging_file(&self, entry: &Path) -> Result<PathBuf, CoreError> {
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        let dir = entry.parent().unwrap_or(&self.objects);
        create_private_dir(dir)?;
        let name = entry
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(dir.join(format!(
            ".{name}.{}-{}.autostore-staging",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        )))
    }

    /// Removes entry files that `indexed` does not list and temporaries untouched for `grace`;
    /// returns how many files were removed.
    ///
    /// Entry files are renamed into place only while the index's write lock is held, so a caller
    /// holding that lock sees no entry file that is about to be indexed. Temporaries (hidden names)
    /// may belong to a download still running in another process, hence the grace period.
    pub fn sweep(&self, indexed: &HashSet<String>, grace: Duration) -> Result<u64, CoreError> {
        let mut removed = 0;
        for shard in read_dir(&self.objects)? {
            let shard = shard.map_err(|err| CoreError::io(self.objects.display(), err))?;
            let shard_path = shard.path();
            if !shard_path.is_dir() {
                removed += u64::from(remove_file(&shard_path)?);
                continue;
            }
            let shard_name = shard.file_name().to_string_lossy().into_owned();
            for file in read_dir(&shard_path)? {
                let file = file.map_err(|err| CoreError::io(shard_path.display(), err))?;
                let name = file.file_name().to_string_lossy().into_owned();
                let path = file.path();
                let stray = if name.starts_with('.') {
                    untouched_for(&path, grace)
                } else {
                    !indexed.contains(&format!("{OBJECTS_DIR}/{shard_name}/{name}"))
                };
                if stray {
                    removed += u64::from(remove_file(&path)?);
                }
            }
        }
        Ok(removed)
    }
}

/// The key's extension (from the first dot of its last segment), when it is short and plain.
fn suffix(key: &str) -> &str {
    let name = key.rsplit('/').next().unwrap_or(key);
    let Some(dot) = name.get(1..).and_then(|rest| rest.find('.')) else {
        return "";
    };
    let suffix = &name[dot + 1..];
    let plain = suffix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if plain && suffix.len() <= MAX_SUFFIX_LEN && !suffix.ends_with('.') {
        suffix
    } else {
        ""
    }
}

fn read_dir(dir: &Path) -> Result<fs::ReadDir, CoreError> {
    fs::read_dir(dir).map_err(|err| CoreError::io(dir.display(), err))
}

fn untouched_for(path: &Path, grace: Duration) -> bool {
    let modified = fs::symlink_metadata(path).and_then(|meta| meta.modified());
    match modified {
        Ok(modified) => SystemTime::now()
            .duration_since(modified)
            .is_ok_and(|age| age >= grace),
        // Already gone: another sweep or its own writer removed it.
        Err(_) => false,
    }
}

/// Removes a file; one that is already gone was not removed by us.
pub fn remove_file(path: &Path) -> Result<bool, CoreError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(CoreError::io(path.display(), err)),
    }
}

/// The stamp of the file at `path`, or None when it does not exist.
pub fn stamp(path: &Path) -> Result<Option<Stamp>, CoreError> {
    match fs::metadata(path) {
        Ok(meta) if meta.is_file() => {
            let modified = meta
                .modified()
                .map_err(|err| CoreError::io(path.display(), err))?;
            Ok(Some(Stamp {
                size: meta.len(),
                mtime_ns: unix_nanos(modified),
            }))
        }
        Ok(_) => Ok(None),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(CoreError::io(path.display(), err)),
    }
}

fn unix_nanos(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

/// Creates `dir` and its missing parents, readable by the current user only.
pub fn create_private_dir(dir: &Path) -> Result<(), CoreError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|err| CoreError::io(dir.display(), err))
}

/// Restricts a file to the current user (a no-op where permissions are not Unix modes).
pub fn make_private_file(path: &Path) -> Result<(), CoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .map_err(|err| CoreError::io(path.display(), err))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The platform's per-user cache directory for AutoStore.
pub fn default_root() -> Result<PathBuf, CoreError> {
    let from_env = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|path| path.is_absolute())
    };
    let missing = |what: &str| {
        CoreError::Config(format!(
            "cannot find the user cache directory ({what} is not set); pass the cache root explicitly"
        ))
    };
    if cfg!(windows) {
        return from_env("LOCALAPPDATA")
            .map(|dir| dir.join("autostore"))
            .ok_or_else(|| missing("LOCALAPPDATA"));
    }
    if cfg!(target_os = "macos") {
        return from_env("HOME")
            .map(|home| home.join("Library/Caches/autostore"))
            .ok_or_else(|| missing("HOME"));
    }
    if let Some(cache) = from_env("XDG_CACHE_HOME") {
        return Ok(cache.join("autostore"));
    }
    from_env("HOME")
        .map(|home| home.join(".cache/autostore"))
        .ok_or_else(|| missing("HOME"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_files_stay_inside_the_cache_and_keep_plain_suffixes() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path().join("cache")).unwrap();
        let escaping = layout.entry_file("s3://b", "../../etc/passwd");
        assert!(!escaping.contains(".."));
        assert!(layout
            .absolute(&escaping)
            .starts_with(dir.path().join("cache/objects")));
        assert!(layout
            .entry_file("s3://b", "data/x.csv.gz")
            .ends_with(".csv.gz"));
        assert!(layout.entry_file("s3://b", "a.b/noext").len() == "objects/ab/".len() + 64);
        assert!(!layout.entry_file("s3://b", "x.we ird").contains(' '));
        assert!(!layout.entry_file("s3://b", ".hidden").ends_with("hidden"));
        assert_ne!(
            layout.entry_file("s3://one", "k"),
            layout.entry_file("s3://two", "k")
        );
        assert_ne!(
            layout.entry_file("s3://a", "b\0c"),
            layout.entry_file("s3://a\0b", "c")
        );
    }

    #[cfg(unix)]
    #[test]
    fn directories_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path().join("fresh/cache")).unwrap();
        for path in [layout.root().to_path_buf(), layout.root().join(OBJECTS_DIR)] {
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", path.display());
        }
    }

    #[test]
    fn sweep_removes_unindexed_files_and_old_temporaries_only() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path().to_path_buf()).unwrap();
        let kept = layout.entry_file("ns", "kept");
        let orphan = layout.entry_file("ns", "orphan");
        for relative in [&kept, &orphan] {
            let path = layout.absolute(relative);
            create_private_dir(path.parent().unwrap()).unwrap();
            fs::write(path, b"data").unwrap();
        }
        let entry = layout.absolute(&kept);
        let young = layout.staging_file(&entry).unwrap();
        let old = layout.staging_file(&entry).unwrap();
        fs::write(&young, b"partial").unwrap();
        fs::write(&old, b"partial").unwrap();
        let long_ago = SystemTime::now() - Duration::from_secs(7200);
        fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();

        let indexed = HashSet::from([kept.clone()]);
        assert_eq!(
            layout.sweep(&indexed, Duration::from_secs(3600)).unwrap(),
            2
        );
        assert!(entry.exists());
        assert!(young.exists());
        assert!(!old.exists());
        assert!(!layout.absolute(&orphan).exists());
    }
}
