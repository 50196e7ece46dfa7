//! Keeping the cache in shape: invalidation, inspection, cleanup of what crashes leave, totals.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::index::now;
use super::layout::remove_file;
use super::{file_matches, namespace, CoreCache, Entry, Stats, TEMP_GRACE};
use crate::error::CoreError;
use crate::store::{parse_key, parse_prefix, Backend, CoreStore};

fn from_unix(seconds: f64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros((seconds * 1e6) as i64).unwrap_or_default()
}

impl CoreCache {
    /// Drops the entry of `key`, if any.
    pub fn invalidate(&self, store: &CoreStore, key: &str) -> Result<(), CoreError> {
        parse_key(key)?;
        if matches!(store.backend, Backend::Local(_)) {
            return Ok(());
        }
        self.forget(&namespace(store), key)
    }

    /// Drops the entry of `key` in `namespace` with its file.
    pub(super) fn forget(&self, namespace: &str, key: &str) -> Result<(), CoreError> {
        self.index.write(|tx| {
            if let Some(row) = tx.get(namespace, key)? {
                tx.delete(namespace, key)?;
                remove_file(&self.layout.absolute(&row.file))?;
            }
            Ok(())
        })
    }

    /// Drops every entry of `store` whose key starts with `prefix` (a plain string prefix);
    /// returns how many were dropped.
    pub fn invalidate_prefix(&self, store: &CoreStore, prefix: &str) -> Result<u64, CoreError> {
        parse_prefix(prefix)?;
        if matches!(store.backend, Backend::Local(_)) {
            return Ok(0);
        }
        let namespace = namespace(store);
        self.index.write(|tx| {
            let entries = tx.with_prefix(&namespace, prefix)?;
            for entry in &entries {
                tx.delete(&entry.namespace, &entry.key)?;
                remove_file(&self.layout.absolute(&entry.file))?;
            }
            Ok(entries.len() as u64)
        })
    }

    /// The entry of `key` if it is cached and its file is intact.
    pub fn entry(&self, store: &CoreStore, key: &str) -> Result<Option<Entry>, CoreError> {
        parse_key(key)?;
        if matches!(store.backend, Backend::Local(_)) {
            return Ok(None);
        }
        let namespace = namespace(store);
        // The entry reports its last access: this process's pending ones count.
        self.index.flush()?;
        let Some(row) = self.index.get(&namespace, key)? else {
            return Ok(None);
        };
        let path = self.layout.absolute(&row.file);
        Ok(file_matches(&path, &row)?.then(|| Entry {
            key: key.to_string(),
            path,
            etag: row.etag,
            size: row.size,
            last_modified: row.last_modified.map(from_unix),
            validated_at: from_unix(row.validated_at),
            last_access: from_unix(row.last_access),
        }))
    }

    /// Removes entries not validated within `max_age` (None: none expire), entries whose file is
    /// missing or altered, files no entry names, and temporaries left by crashed processes.
    /// Returns how many entries and stray files were removed.
    pub fn cleanup(&self, max_age: Option<Duration>) -> Result<u64, CoreError> {
        let cutoff = max_age.map(|max_age| now() - max_age.as_secs_f64());
        self.index.write(|tx| {
            let mut removed = 0;
            let mut indexed = HashSet::new();
            for (entry, row) in tx.rows()? {
                let path = self.layout.absolute(&entry.file);
                let expired = cutoff.is_some_and(|cutoff| row.validated_at < cutoff);
                if expired || !file_matches(&path, &row)? {
                    tx.delete(&entry.namespace, &entry.key)?;
                    remove_file(&path)?;
                    removed += 1;
                } else {
                    indexed.insert(entry.file);
                }
            }
            Ok(removed + self.layout.sweep(&indexed, TEMP_GRACE)?)
        })
    }

    /// Removes every entry and stray file; returns how many entries were removed.
    pub fn clear(&self) -> Result<u64, CoreError> {
        self.index.write(|tx| {
            let entries = tx.all()?;
            tx.delete_all()?;
            for entry in &entries {
                remove_file(&self.layout.absolute(&entry.file))?;
            }
            self.layout.sweep(&HashSet::new(), TEMP_GRACE)?;
            Ok(entries.len() as u64)
        })
    }

    /// Entries, bytes, and the hit/miss/revalidation counts since the cache was created. Hits
    /// pending in other processes are counted once they flush them (within a second or so).
    pub fn stats(&self) -> Result<Stats, CoreError> {
        self.index.flush()?;
        self.index.read(|tx| tx.totals())
    }
}
