//! Local files that appear only when complete: written under a temporary name in the destination
//! directory, fsync'd, then renamed over the destination. Dropped before `persist`, they vanish.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::CoreError;

pub struct TempFile {
    path: PathBuf,
    file: Arc<File>,
    persisted: bool,
}

impl TempFile {
    /// Creates an empty temporary file beside `destination`, creating its directory if needed.
    pub fn beside(destination: &Path) -> Result<Self, CoreError> {
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        let dir = match destination.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(|err| CoreError::io(dir.display(), err))?;
        let name = destination
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = dir.join(format!(
            ".{name}.{}-{}.autostore-partial",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        ));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|err| CoreError::io(path.display(), err))?;
        Ok(Self {
            path,
            file: Arc::new(file),
            persisted: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self) -> Arc<File> {
        Arc::clone(&self.file)
    }

    /// Flushes to disk and renames over `destination` (atomic on one filesystem).
    pub fn persist(mut self, destination: &Path) -> Result<(), CoreError> {
        self.file
            .sync_all()
            .map_err(|err| CoreError::io(self.path.display(), err))?;
        std::fs::rename(&self.path, destination)
            .map_err(|err| CoreError::io(destination.display(), err))?;
        self.persisted = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Writes all of `buf` at `offset` without moving a shared cursor, so parts can land concurrently.
pub fn write_all_at(file: &File, buf: &[u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.write_all_at(buf, offset)
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::FileExt;
        let (mut buf, mut offset) = (buf, offset);
        while !buf.is_empty() {
            let written = file.seek_write(buf, offset)?;
            if written == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            buf = &buf[written..];
            offset += written as u64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_temp_file_leaves_nothing_and_persisted_one_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let destination = dir.path().join("sub/out.bin");
        let temp = TempFile::beside(&destination).unwrap();
        let temp_path = temp.path().to_path_buf();
        drop(temp);
        assert!(!temp_path.exists());

        std::fs::write(&destination, b"old").unwrap();
        let temp = TempFile::beside(&destination).unwrap();
        write_all_at(&temp.file(), b"world", 5).unwrap();
        write_all_at(&temp.file(), b"hello", 0).unwrap();
        temp.persist(&destination).unwrap();
        assert_eq!(std::fs::read(&destination).unwrap(), b"helloworld");
        assert_eq!(
            std::fs::read_dir(dir.path().join("sub")).unwrap().count(),
            1
        );
    }
}
