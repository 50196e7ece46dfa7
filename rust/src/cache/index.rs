//! The cache index: one SQLite database in WAL mode shared by every thread and process using a
//! cache root. Each change runs in an immediate (write-locked) transaction, so writers are
//! serialized across processes and a crash rolls back to the last committed state. Accesses by
//! fresh hits are batched in memory (see [`super::accesses`]) and applied by the next transaction.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, ErrorCode, OptionalExtension, TransactionBehavior};

use super::accesses::{self, Accesses, Pending};
use crate::error::CoreError;

/// Long enough for a cleanup of a large cache in another process to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);
const SCHEMA_VERSION: i64 = 1;
const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS entries (
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        file TEXT NOT NULL,
        etag TEXT,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        last_modified REAL,
        validated_at REAL NOT NULL,
        last_access REAL NOT NULL,
        PRIMARY KEY (namespace, key)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS entries_by_access ON entries (last_access);
    CREATE TABLE IF NOT EXISTS counters (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO counters (name, value)
        VALUES ('hits', 0), ('misses', 0), ('revalidations', 0);
";

/// One indexed entry. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub file: String,
    pub etag: Option<String>,
    pub size: u64,
    pub mtime_ns: i64,
    pub last_modified: Option<f64>,
    pub validated_at: f64,
    pub last_access: f64,
}

/// An entry as the LRU eviction and the bulk removals see it.
#[derive(Debug, Clone)]
pub struct Listed {
    pub namespace: String,
    pub key: String,
    pub file: String,
    pub size: u64,
}

/// The persistent counters reported by `stats()`.
#[derive(Debug, Clone, Copy)]
pub enum Event {
    Hit,
    Miss,
    Revalidation,
}

impl Event {
    fn name(self) -> &'static str {
        match self {
            Self::Hit => "hits",
            Self::Miss => "misses",
            Self::Revalidation => "revalidations",
        }
    }
}

/// Entries and bytes indexed, and the persistent event counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub entries: u64,
    pub bytes: u64,
    pub hits: u64,
    pub misses: u64,
    pub revalidations: u64,
}

/// A connection to the index of one cache root.
pub struct Index {
    connection: Mutex<Connection>,
    path: PathBuf,
    /// SQLite connections must not be used across `fork()`; a child gets a clear error instead.
    pid: u32,
    /// Fresh hits not yet written to the index.
    accesses: Accesses,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Index({})", self.path.display())
    }
}

/// Maps a SQLite error onto the index file's path.
fn sql_error(path: &Path) -> impl Fn(rusqlite::Error) -> CoreError + '_ {
    move |err| {
        CoreError::io(
            format!("cache index {}", path.display()),
            std::io::Error::other(err),
        )
    }
}

/// The current time in Unix seconds, as the index stores times.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

/// Applies the settings every connection needs: waiting for other writers, and WAL journaling.
fn configure(connection: &Connection, path: &Path) -> Result<(), CoreError> {
    let err = sql_error(path);
    connection.busy_timeout(BUSY_TIMEOUT).map_err(&err)?;
    enable_wal(connection, path)?;
    // In WAL mode NORMAL loses at most the last commits on power loss, never consistency.
    connection
        .pragma_update(None, "synchronous", "NORMAL")
        .map_err(&err)
}

/// Switches the database file to WAL journaling (a property of the file, kept once set).
///
/// Connections racing to switch a new file answer "busy" at once instead of waiting for each
/// other, so this retries until [`BUSY_TIMEOUT`].
fn enable_wal(connection: &Connection, path: &Path) -> Result<(), CoreError> {
    let journal_mode = |sql: &str| connection.query_row(sql, [], |row| row.get::<_, String>(0));
    let is_wal = |mode: &String| mode.eq_ignore_ascii_case("wal");
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        let mode = journal_mode("PRAGMA journal_mode").and_then(|mode| {
            if is_wal(&mode) {
                Ok(mode)
            } else {
                journal_mode("PRAGMA journal_mode = WAL")
            }
        });
        let busy = match &mode {
            Ok(mode) => !is_wal(mode),
            Err(err) => matches!(
                err.sqlite_error_code(),
                Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
            ),
        };
        if !busy || Instant::now() >= deadline {
            return match mode {
                Ok(mode) if is_wal(&mode) => Ok(()),
                Ok(mode) => Err(CoreError::io(
                    format!("cache index {}", path.display()),
                    std::io::Error::other(format!(
                        "cannot switch it to WAL journaling (it stays in {mode:?} mode)"
                    )),
                )),
                Err(err) => Err(sql_error(path)(err)),
            };
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Index {
    /// Opens (creating if needed) the index at `path`.
    pub fn open(path: PathBuf) -> Result<Self, CoreError> {
        let created = !path.exists();
        let connection = Connection::open(&path).map_err(sql_error(&path))?;
        if created {
            super::layout::make_private_file(&path)?;
        }
        configure(&connection, &path)?;
        let index = Self {
            connection: Mutex::new(connection),
            path,
            pid: std::process::id(),
            accesses: Accesses::default(),
        };
        index.write(|tx| {
            let version: i64 =
                tx.0.query_row("PRAGMA user_version", [], |row| row.get(0))
                    .map_err(tx.err())?;
            if version > SCHEMA_VERSION {
                return Err(CoreError::Config(format!(
                    "cache index {} was written by a newer AutoStore (schema {version}); \
                     upgrade AutoStore or use another cache directory",
                    tx.1.display()
                )));
            }
            tx.0.execute_batch(SCHEMA).map_err(tx.err())?;
            tx.0.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(tx.err())
        })?;
        Ok(index)
    }

    /// The connection, locked; refused in a child forked after the index was opened (SQLite
    /// connections must not cross fork()).
    fn connection(&self) -> Result<std::sync::MutexGuard<'_, rusqlite::Connection>, CoreError> {
        if self.pid != std::process::id() {
            return Err(CoreError::Forked);
        }
        Ok(self
            .connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Runs `change` in one immediate transaction, after the pending accesses: committed if it
    /// returns Ok, else rolled back with the accesses kept for the next transaction.
    pub fn write<T>(
        &self,
        change: impl FnOnce(&Tx<'_>) -> Result<T, CoreError>,
    ) -> Result<T, CoreError> {
        let mut connection = self.connection()?;
        let pending = self.accesses.take();
        let written = Self::commit(&mut connection, &self.path, &pending, change);
        if written.is_err() {
            self.accesses.restore(pending);
        }
        written
    }

    fn commit<T>(
        connection: &mut Connection,
        path: &Path,
        pending: &Pending,
        change: impl FnOnce(&Tx<'_>) -> Result<T, CoreError>,
    ) -> Result<T, CoreError> {
        let err = sql_error(path);
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let tx = Tx(transaction, path);
        tx.apply(pending)?;
        let value = change(&tx)?;
        tx.0.commit().map_err(&err)?;
        Ok(value)
    }

    /// The row of (`namespace`, `key`), read in one autocommit statement: no transaction to begin
    /// or end, and no lock that would wait for a writer (WAL readers see the last commit).
    pub fn get(&self, namespace: &str, key: &str) -> Result<Option<Row>, CoreError> {
        let connection = self.connection()?;
        select_row(&connection, &self.path, namespace, key)
    }

    /// Notes a fresh hit on (`namespace`, `key`) at `at`, to be written within
    /// [`accesses::FLUSH_DELAY`]. The timer holds only a weak reference: a dropped index flushes
    /// itself.
    pub fn record_hit(self: &Arc<Self>, namespace: &str, key: &str, at: f64) {
        if self.accesses.hit(namespace, key, at) {
            let index = Arc::downgrade(self);
            accesses::schedule(move || {
                if let Some(index) = index.upgrade() {
                    index.accesses.disarm();
                    // On failure the accesses stay pending for the next write or flush.
                    let _ = index.flush();
                }
            });
        }
    }

    /// Writes the pending accesses, if any, to the index. In a child forked with a copy of them it
    /// does nothing: they are the parent's to write.
    pub fn flush(&self) -> Result<(), CoreError> {
        if self.pid != std::process::id() || self.accesses.is_empty() {
            return Ok(());
        }
        self.write(|_| Ok(()))
    }

    /// Runs `query` on a consistent snapshot, without taking the write lock.
    pub fn read<T>(
        &self,
        query: impl FnOnce(&Tx<'_>) -> Result<T, CoreError>,
    ) -> Result<T, CoreError> {
        let mut connection = self.connection()?;
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(sql_error(&self.path))?;
        // Bound to a local: as a tail expression the transaction would outlive the guard it borrows.
        let result = query(&Tx(transaction, &self.path));
        result
    }
}

impl Drop for Index {
    fn drop(&mut self) {
        // A drop has no one to report an error to; the accesses are then lost, nothing else.
        let _ = self.flush();
    }
}

/// The row of (`namespace`, `key`) on `connection`, if indexed.
fn select_row(
    connection: &Connection,
    path: &Path,
    namespace: &str,
    key: &str,
) -> Result<Option<Row>, CoreError> {
    // Cached: parsing the statement would cost as much as running it, on every hit.
    connection
        .prepare_cached(
            "SELECT file, etag, size, mtime_ns, last_modified, validated_at, last_access
             FROM entries WHERE namespace = ?1 AND key = ?2",
        )
        .and_then(|mut statement| {
            statement.query_row(params![namespace, key], |row| {
                Ok(Row {
                    file: row.get(0)?,
                    etag: row.get(1)?,
                    size: to_u64(row.get(2)?),
                    mtime_ns: row.get(3)?,
                    last_modified: row.get(4)?,
                    validated_at: row.get(5)?,
                    last_access: row.get(6)?,
                })
            })
        })
        .optional()
        .map_err(sql_error(path))
}

/// An open transaction on the index, with the statements the cache needs.
pub struct Tx<'a>(rusqlite::Transaction<'a>, &'a Path);

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

impl Tx<'_> {
    fn err(&self) -> impl Fn(rusqlite::Error) -> CoreError + '_ {
        sql_error(self.1)
    }

    /// The row of (`namespace`, `key`), if indexed.
    pub fn get(&self, namespace: &str, key: &str) -> Result<Option<Row>, CoreError> {
        select_row(&self.0, self.1, namespace, key)
    }

    /// Records `row` for (`namespace`, `key`), replacing any previous one.
    pub fn upsert(&self, namespace: &str, key: &str, row: &Row) -> Result<(), CoreError> {
        self.0
            .execute(
                "INSERT OR REPLACE INTO entries
                 (namespace, key, file, etag, size, mtime_ns, last_modified, validated_at, last_access)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    namespace,
                    key,
                    row.file,
                    row.etag,
                    to_i64(row.size),
                    row.mtime_ns,
                    row.last_modified,
                    row.validated_at,
                    row.last_access
                ],
            )
            .map(drop)
            .map_err(self.err())
    }

    /// Drops the row of (`namespace`, `key`); says whether there was one.
    pub fn delete(&self, namespace: &str, key: &str) -> Result<bool, CoreError> {
        self.0
            .execute(
                "DELETE FROM entries WHERE namespace = ?1 AND key = ?2",
                params![namespace, key],
            )
            .map(|deleted| deleted > 0)
            .map_err(self.err())
    }

    /// Records an access (and, with `validated`, a successful revalidation) at `at`.
    pub fn touch(
        &self,
        namespace: &str,
        key: &str,
        at: f64,
        validated: bool,
    ) -> Result<(), CoreError> {
        let sql = if validated {
            "UPDATE entries SET last_access = ?3, validated_at = ?3 WHERE namespace = ?1 AND key = ?2"
        } else {
            "UPDATE entries SET last_access = ?3 WHERE namespace = ?1 AND key = ?2"
        };
        self.0
            .execute(sql, params![namespace, key, at])
            .map(drop)
            .map_err(self.err())
    }

    /// Adds one to the persistent counter of `event`.
    pub fn count(&self, event: Event) -> Result<(), CoreError> {
        self.count_many(event, 1)
    }

    fn count_many(&self, event: Event, times: u64) -> Result<(), CoreError> {
        self.0
            .execute(
                "UPDATE counters SET value = value + ?2 WHERE name = ?1",
                params![event.name(), to_i64(times)],
            )
            .map(drop)
            .map_err(self.err())
    }

    /// Writes accesses noted in memory. An access never moves an entry's last access back (another
    /// process may have recorded a later one), and one of an entry dropped since changes nothing.
    fn apply(&self, pending: &Pending) -> Result<(), CoreError> {
        if pending.is_empty() {
            return Ok(());
        }
        let mut statement = self
            .0
            .prepare(
                "UPDATE entries SET last_access = max(last_access, ?3)
                 WHERE namespace = ?1 AND key = ?2",
            )
            .map_err(self.err())?;
        for ((namespace, key), at) in &pending.last_access {
            statement
                .execute(params![namespace, key, at])
                .map_err(self.err())?;
        }
        self.count_many(Event::Hit, pending.hits)
    }

    /// Entries of `namespace` whose key starts with `prefix`.
    pub fn with_prefix(&self, namespace: &str, prefix: &str) -> Result<Vec<Listed>, CoreError> {
        self.select(
            "SELECT namespace, key, file, size FROM entries
             WHERE namespace = ?1 AND substr(key, 1, length(?2)) = ?2",
            params![namespace, prefix],
        )
    }

    /// Every entry.
    pub fn all(&self) -> Result<Vec<Listed>, CoreError> {
        self.select("SELECT namespace, key, file, size FROM entries", [])
    }

    /// Every entry with its row, for the consistency check of `cleanup`.
    pub fn rows(&self) -> Result<Vec<(Listed, Row)>, CoreError> {
        let mut statement = self
            .0
            .prepare(
                "SELECT namespace, key, file, etag, size, mtime_ns, last_modified, validated_at,
                        last_access FROM entries",
            )
            .map_err(self.err())?;
        let rows = statement
            .query_map([], |row| {
                let file: String = row.get(2)?;
                let size = to_u64(row.get(4)?);
                Ok((
                    Listed {
                        namespace: row.get(0)?,
                        key: row.get(1)?,
                        file: file.clone(),
                        size,
                    },
                    Row {
                        file,
                        etag: row.get(3)?,
                        size,
                        mtime_ns: row.get(5)?,
                        last_modified: row.get(6)?,
                        validated_at: row.get(7)?,
                        last_access: row.get(8)?,
                    },
                ))
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// The least recently used entries, other than (`namespace`, `key`), that together hold at
    /// least `bytes` bytes (fewer when the whole cache holds less).
    pub fn least_recently_used(
        &self,
        namespace: &str,
        key: &str,
        bytes: u64,
    ) -> Result<Vec<Listed>, CoreError> {
        let mut statement = self
            .0
            .prepare(
                "SELECT namespace, key, file, size FROM entries
                 WHERE NOT (namespace = ?1 AND key = ?2) ORDER BY last_access, validated_at",
            )
            .map_err(self.err())?;
        let mut rows = statement
            .query(params![namespace, key])
            .map_err(self.err())?;
        let mut victims = Vec::new();
        let mut freed = 0u64;
        while freed < bytes {
            let Some(row) = rows.next().map_err(self.err())? else {
                break;
            };
            let victim = listed(row).map_err(self.err())?;
            freed = freed.saturating_add(victim.size);
            victims.push(victim);
        }
        Ok(victims)
    }

    fn select(&self, sql: &str, params: impl rusqlite::Params) -> Result<Vec<Listed>, CoreError> {
        let mut statement = self.0.prepare(sql).map_err(self.err())?;
        let rows = statement.query_map(params, listed).map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// Drops every row; returns how many there were.
    pub fn delete_all(&self) -> Result<u64, CoreError> {
        self.0
            .execute("DELETE FROM entries", [])
            .map(|deleted| deleted as u64)
            .map_err(self.err())
    }

    /// Entries, bytes and counters, as of this transaction.
    pub fn totals(&self) -> Result<Totals, CoreError> {
        let (entries, bytes) = self
            .0
            .query_row(
                "SELECT count(*), coalesce(sum(size), 0) FROM entries",
                [],
                |row| Ok((to_u64(row.get(0)?), to_u64(row.get(1)?))),
            )
            .map_err(self.err())?;
        let counter = |event: Event| -> Result<u64, CoreError> {
            self.0
                .query_row(
                    "SELECT value FROM counters WHERE name = ?1",
                    params![event.name()],
                    |row| row.get::<_, i64>(0),
                )
                .optional()
                .map(|value| to_u64(value.unwrap_or(0)))
                .map_err(self.err())
        };
        Ok(Totals {
            entries,
            bytes,
            hits: counter(Event::Hit)?,
            misses: counter(Event::Miss)?,
            revalidations: counter(Event::Revalidation)?,
        })
    }
}

fn listed(row: &rusqlite::Row<'_>) -> rusqlite::Result<Listed> {
    Ok(Listed {
        namespace: row.get(0)?,
        key: row.get(1)?,
        file: row.get(2)?,
        size: to_u64(row.get(3)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(file: &str, size: u64, last_access: f64) -> Row {
        Row {
            file: file.to_string(),
            etag: Some(format!("\"{file}\"")),
            size,
            mtime_ns: 1,
            last_modified: None,
            validated_at: last_access,
            last_access,
        }
    }

    #[test]
    fn rows_survive_reopening_and_failed_changes_roll_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.sqlite");
        let index = Index::open(path.clone()).unwrap();
        index
            .write(|tx| tx.upsert("ns", "a", &row("fa", 3, 1.0)))
            .unwrap();
        let failed: Result<(), CoreError> = index.write(|tx| {
            tx.upsert("ns", "b", &row("fb", 4, 2.0))?;
            Err(CoreError::Config("abandoned".into()))
        });
        assert!(failed.is_err());
        drop(index);

        let index = Index::open(path).unwrap();
        let (a, b) = index
            .read(|tx| Ok((tx.get("ns", "a")?, tx.get("ns", "b")?)))
            .unwrap();
        assert_eq!(a, Some(row("fa", 3, 1.0)));
        assert_eq!(b, None);
    }

    #[test]
    fn pending_accesses_outlive_a_rolled_back_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let index = Arc::new(Index::open(dir.path().join("index.sqlite")).unwrap());
        index
            .write(|tx| tx.upsert("ns", "a", &row("fa", 3, 1.0)))
            .unwrap();
        index.record_hit("ns", "a", 5.0);
        index.record_hit("ns", "a", 4.0);
        let failed: Result<(), CoreError> =
            index.write(|_| Err(CoreError::Config("abandoned".into())));
        assert!(failed.is_err());
        assert_eq!(index.read(|tx| tx.totals()).unwrap().hits, 0);

        index.flush().unwrap();
        let (totals, a) = index
            .read(|tx| Ok((tx.totals()?, tx.get("ns", "a")?)))
            .unwrap();
        assert_eq!(totals.hits, 2);
        assert_eq!(a.unwrap().last_access, 5.0);

        // An older access than the one recorded (by another process, say) never moves it back.
        index.record_hit("ns", "a", 2.0);
        index.flush().unwrap();
        assert_eq!(index.get("ns", "a").unwrap().unwrap().last_access, 5.0);
    }

    #[test]
    fn connections_racing_to_create_the_index_all_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.sqlite");
        let barrier = std::sync::Barrier::new(8);
        std::thread::scope(|scope| {
            let openers: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        barrier.wait();
                        let index = Index::open(path.clone())?;
                        index.write(|tx| tx.count(Event::Miss))
                    })
                })
                .collect();
            for opener in openers {
                opener.join().unwrap().unwrap();
            }
        });
        let totals = Index::open(path).unwrap().read(|tx| tx.totals()).unwrap();
        assert_eq!(totals.misses, 8);
    }

    #[test]
    fn least_recently_used_skips_the_protected_entry_and_stops_when_enough() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(dir.path().join("index.sqlite")).unwrap();
        index
            .write(|tx| {
                tx.upsert("ns", "oldest", &row("f1", 10, 1.0))?;
                tx.upsert("ns", "older", &row("f2", 10, 2.0))?;
                tx.upsert("ns", "newest", &row("f3", 10, 3.0))?;
                tx.touch("ns", "oldest", 4.0, false)
            })
            .unwrap();
        let victims = index
            .read(|tx| tx.least_recently_used("ns", "older", 15))
            .unwrap();
        let keys: Vec<_> = victims.iter().map(|v| v.key.as_str()).collect();
        assert_eq!(keys, ["newest", "oldest"]);
    }

    #[test]
    fn prefix_matches_literally_and_counters_persist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.sqlite");
        let index = Index::open(path.clone()).unwrap();
        index
            .write(|tx| {
                for key in ["a%/x", "a_/y", "ab/z"] {
                    tx.upsert("ns", key, &row(key, 1, 1.0))?;
                }
                tx.upsert("other", "a%/x", &row("o", 1, 1.0))?;
                tx.count(Event::Hit)?;
                tx.count(Event::Hit)?;
                tx.count(Event::Revalidation)
            })
            .unwrap();
        let matched = index.read(|tx| tx.with_prefix("ns", "a%")).unwrap();
        assert_eq!(matched.len(), 1);
        assert_eq!(matched[0].key, "a%/x");
        drop(index);
        let totals = Index::open(path).unwrap().read(|tx| tx.totals()).unwrap();
        assert_eq!(
            totals,
            Totals {
                entries: 4,
                bytes: 4,
                hits: 2,
                misses: 0,
                revalidations: 1
            }
        );
    }
}
