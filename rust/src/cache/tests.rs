//! Index logic of the cache against memory and local stores.

use std::sync::Arc;

use bytes::Bytes;

use super::*;
use crate::runtime::block_on;
use crate::store::StoreConfig;
use crate::transfer::put;

const DAY: Option<Duration> = Some(Duration::from_secs(86_400));

fn memory(name: &str) -> CoreStore {
    CoreStore::new(&format!("memory://cache-{name}"), StoreConfig::default()).unwrap()
}

fn write(store: &CoreStore, key: &str, data: &[u8]) {
    block_on(put(store, key, Bytes::copy_from_slice(data), false))
        .unwrap()
        .unwrap();
}

fn fetch(
    cache: &CoreCache,
    store: &CoreStore,
    key: &str,
    max_age: Option<Duration>,
) -> Result<CachedFile, CoreError> {
    block_on(cache.fetch(store, key, max_age, false, &Counter::new())).unwrap()
}

fn cache_in(dir: &tempfile::TempDir, max_bytes: Option<u64>) -> CoreCache {
    CoreCache::open(Some(dir.path().join("cache")), max_bytes).unwrap()
}

#[cfg(unix)]
fn inode(path: &Path) -> u64 {
    std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(path).unwrap())
}

#[test]
fn a_fresh_entry_is_served_without_asking_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_in(&dir, None);
    let store = memory("fresh");
    write(&store, "data/a.json", b"version 1");

    let first = fetch(&cache, &store, "data/a.json", DAY).unwrap();
    assert!(!first.hit);
    assert!(first.path.to_string_lossy().ends_with(".json"));
    assert_eq!(std::fs::read(&first.path).unwrap(), b"version 1");

    // Changed behind the cache's back: a fresh entry is still served, so no request was made.
    write(&store, "data/a.json", b"version 2");
    let second = fetch(&cache, &store, "data/a.json", DAY).unwrap();
    assert!(second.hit);
    assert_eq!(second.path, first.path);
    assert_eq!(std::fs::read(&second.path).unwrap(), b"version 1");
    let stats = cache.stats().unwrap();
    assert_eq!((stats.hits, stats.misses, stats.revalidations), (1, 1, 0));
    assert_eq!((stats.entries, stats.bytes), (1, 9));
}

#[test]
fn expiry_none_never_revalidates() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_in(&dir, None);
    let store = memory("never-expires");
    write(&store, "k", b"old");
    fetch(&cache, &store, "k", None).unwrap();
    write(&store, "k", b"new");
    std::thread::sleep(Duration::from_millis(20));
    let served = fetch(&cache, &store, "k", None).unwrap();
    assert!(served.hit);
    assert_eq!(std::fs::read(&served.path).unwrap(), b"old");
    assert_eq!(cache.stats().unwrap().revalidations, 0);
}

#[test]
fn a_stale_entry_is_revalidated_in_place_or_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_in(&dir, None);
    let store = memory("stale");
    let brief = Some(Duration::from_millis(10));
    write(&store, "k.txt", b"same");
    let first = fetch(&cache, &store, "k.txt", brief).unwrap();
    let before = cache.entry(&store, "k.txt").unwrap().unwrap();
    std::thread::sleep(Duration::from_millis(30));

    let unchanged = fetch(&cache, &store, "k.txt", brief).unwrap();
    assert!(unchanged.hit, "a 304 transfers no body");
    assert_eq!(unchanged.etag, first.etag);
    let after = cache.entry(&store, "k.txt").unwrap().unwrap();
    assert!(after.validated_at > before.validated_at);
    #[cfg(unix)]
    assert_eq!(inode(&unchanged.path), inode(&first.path));
    assert_eq!(cache.stats().unwrap().revalidations, 1);

    write(&store, "k.txt", b"changed!");
    std::thread::sleep(Duration::from_millis(30));
    let replaced = fetch(&cache, &store, "k.txt", brief).unwrap();
    assert!(!replaced.hit);
    assert_ne!(replaced.etag, first.etag);
    assert_eq!(std::fs::read(&replaced.path).unwrap(), b"changed!");
    assert_eq!(replaced.size, 8);
}

#[test]
fn refresh_downloads_even_a_fresh_entry() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_in(&dir, None);
    let store = memory("refresh");
    write(&store, "k", b"1");
    fetch(&cache, &store, "k", None).unwrap();
    write(&store, "k", b"22");
    let counter = Counter::new();
    let refreshed = block_on(cache.fetch(&store, "k", None, true, &counter))
        .unwrap()
        .unwrap();
    assert!(!refreshed.hit);
    assert_eq!(counter.done(), 2);
    assert_eq!(std::fs::read(&refreshed.path).unwrap(), b"22");
}

#[test]
fn an_entry_whose_file_is_missing_or_altered_is_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_in(&dir, None);
    let store = memory("crash-leftovers");
    write(&store, "k", b"complete content");
    let path = fetch(&cache, &store, "k", None).unwrap().path;

    // A crash between writing and indexing can leave a truncated or foreign file under the name.
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(4)
        .unwrap();
    assert!(cache.entry(&store, "k").unwrap().is_none());
    let served = fetch(&cache, &store, "k", None).unwrap();
    assert!(!served.hit);
    assert_eq!(std::fs::read(&served.path).unwrap(), b"complete content");

    std::fs::remove_file(&served.path).unwrap();
    assert!(cache.entry(&store, "k").unwrap().is_none());
    let served = fetch(&cache, &store, "k", None).unwrap();
    assert!(!served.hit);
    assert_eq!(std::fs::read(&served.path).unwrap(), b"complete content");
}

#[test]
fn least_recently_used_entries_are_evicted_beyond_max_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_in(&dir, Some(25));
    let store = memory("lru");
    for key in ["a", "b", "c"] {
        write(&store, key, &[b'x'; 10]);
    }
    let a = fetch(&cache, &store, "a", None).unwrap();
    let b = fetch(&cache, &store, "b", None).unwrap();
    assert!(fetch(&cache, &store, "a", None).unwrap().hit);
    fetch(&cache, &store, "c", None).unwrap();

    assert!(cache.entry(&store, "b").unwrap().is_none());
    assert!(!b.path.exists());
    assert!(a.path.exists());
    assert!(cache.entry(&store, "c").unwrap().is_some());
    assert_eq!(cache.stats().unwrap().bytes, 20);

    // An entry larger than the cap is still kept: the caller is about to read it.
    write(&store, "big", &[b'y'; 40]);
    let big = fetch(&cache, &store, "big", None).unwrap();
    assert!(big.path.exists());
    assert_eq!(cache.stats().unwrap().entries, 1);
}

#[test]
fn cleanup_removes_expired_entries_and_stray_files() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_in(&dir, None);
    let store = memory("cleanup");
    write(&store, "old", b"1");
    write(&store, "new", b"2");
    let old = fetch(&cache, &store, "old", None).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let new = fetch(&cache, &store, "new", None).unwrap();

    let stray = old.path.with_file_name("0000unindexed");
    std::fs::write(&stray, b"left by a crash").unwrap();
    let temp = cache.layout.staging_file(&old.path).unwrap();
    std::fs::write(&temp, b"partial").unwrap();
    let old_temp = cache.layout.staging_file(&old.path).unwrap();
    std::fs::write(&old_temp, b"partial").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&old_temp)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - 2 * TEMP_GRACE)
        .unwrap();

    assert_eq!(cache.cleanup(None).unwrap(), 2, "never-expiring cleanup");
    assert!(!stray.exists() && !old_temp.exists());
    assert!(temp.exists(), "a temporary still being written is kept");
    assert!(old.path.exists() && new.path.exists());

    assert_eq!(cache.cleanup(Some(Duration::from_millis(25))).unwrap(), 1);
    assert!(!old.path.exists());
    assert!(cache.entry(&store, "new").unwrap().is_some());

    assert_eq!(cache.clear().unwrap(), 1);
    assert!(!new.path.exists());
    assert_eq!(cache.stats().unwrap().entries, 0);
}

#[test]
fn write_through_insert_and_invalidation() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_in(&dir, None);
    let store = memory("insert");
    let source = dir.path().join("upload.bin");
    std::fs::write(&source, b"uploaded").unwrap();
    let result = block_on(cache.upload(&store, &source, "dir/one", &Counter::new()))
        .unwrap()
        .unwrap();
    assert!(source.exists(), "upload copies its source");
    let counter = Counter::new();
    let served = block_on(cache.fetch(&store, "dir/one", DAY, false, &counter))
        .unwrap()
        .unwrap();
    assert!(served.hit);
    assert_eq!(counter.done(), 0);
    assert_eq!(served.etag, result.e_tag);

    let moved = dir.path().join("moved.bin");
    std::fs::write(&moved, b"moved in").unwrap();
    cache
        .insert(&store, "dir/two", &moved, Some("\"e2\"".into()), true)
        .unwrap();
    assert!(!moved.exists());
    let entry = cache.entry(&store, "dir/two").unwrap().unwrap();
    assert_eq!(entry.etag.as_deref(), Some("\"e2\""));
    assert_eq!(std::fs::read(&entry.path).unwrap(), b"moved in");
    std::fs::write(&moved, b"x").unwrap();
    cache.insert(&store, "other", &moved, None, false).unwrap();

    let missing = cache
        .insert(&store, "k", &dir.path().join("nope"), None, false)
        .unwrap_err();
    assert!(missing.to_string().contains("nope"));
    let not_a_file = cache
        .insert(&store, "k", dir.path(), None, false)
        .unwrap_err();
    assert!(not_a_file.to_string().contains("memory://cache-insert/k"));

    assert_eq!(cache.invalidate_prefix(&store, "dir/").unwrap(), 2);
    assert!(!entry.path.exists());
    assert!(cache.entry(&store, "other").unwrap().is_some());
    cache.invalidate(&store, "other").unwrap();
    assert_eq!(cache.stats().unwrap().entries, 0);
}

#[test]
fn a_vanished_object_drops_its_entry_and_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_in(&dir, None);
    let store = memory("vanished");
    write(&store, "gone", b"soon");
    fetch(&cache, &store, "gone", None).unwrap();
    block_on(crate::transfer::delete(&store, "gone"))
        .unwrap()
        .unwrap();
    let err = block_on(cache.fetch(&store, "gone", None, true, &Counter::new()))
        .unwrap()
        .unwrap_err();
    assert!(err.is_not_found());
    assert!(err.to_string().contains("memory://cache-vanished/gone"));
    assert!(cache.entry(&store, "gone").unwrap().is_none());
    assert!(fetch(&cache, &store, "../escape", None).is_err());
}

#[test]
fn local_stores_are_served_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_in(&dir, None);
    let root = dir.path().join("files");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("sub/x.csv"), b"a,b\n").unwrap();
    let url = url::Url::from_directory_path(&root).unwrap();
    let store = CoreStore::new(url.as_str(), StoreConfig::default()).unwrap();
    let served = fetch(&cache, &store, "sub/x.csv", None).unwrap();
    assert!(served.hit);
    assert_eq!(served.path, root.join("sub/x.csv"));
    assert_eq!(served.size, 4);
    assert!(cache.entry(&store, "sub/x.csv").unwrap().is_none());
    assert!(fetch(&cache, &store, "sub/missing.csv", None)
        .unwrap_err()
        .is_not_found());
    assert_eq!(cache.stats().unwrap().entries, 0);
}

#[test]
fn caches_sharing_a_root_stay_consistent_under_concurrent_fills() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(memory("concurrent"));
    let payloads: Vec<Vec<u8>> = (0..4u8).map(|i| vec![i; 1000 + usize::from(i)]).collect();
    write(&store, "shared", &payloads[0]);
    // Two caches on one root behave like two processes: separate index connections.
    let caches = [
        Arc::new(cache_in(&dir, None)),
        Arc::new(cache_in(&dir, None)),
    ];
    let workers: Vec<_> = (0..6)
        .map(|worker| {
            let cache = Arc::clone(&caches[worker % 2]);
            let store = Arc::clone(&store);
            let payloads = payloads.clone();
            std::thread::spawn(move || {
                for round in 0..20 {
                    let which = (worker + round) % payloads.len();
                    if worker == 0 {
                        write(&store, "shared", &payloads[which]);
                    }
                    let got = block_on(cache.fetch(&store, "shared", None, true, &Counter::new()))
                        .unwrap()
                        .unwrap();
                    let content = std::fs::read(&got.path).unwrap();
                    assert!(
                        payloads.contains(&content),
                        "a partial or mixed file was served"
                    );
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let entry = caches[1].entry(&store, "shared").unwrap().unwrap();
    let content = std::fs::read(&entry.path).unwrap();
    assert_eq!(content.len() as u64, entry.size);
    assert!(payloads.contains(&content));
    assert_eq!(caches[0].cleanup(None).unwrap(), 0, "nothing stray is left");
    assert_eq!(caches[0].stats().unwrap().misses, 120);
}

#[test]
fn a_fresh_hit_writes_nothing_until_its_access_is_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_in(&dir, None);
    let store = memory("no-write-on-hit");
    write(&store, "k", b"data");
    let placed = fetch(&cache, &store, "k", None).unwrap();
    let placed_access = cache.entry(&store, "k").unwrap().unwrap().last_access;

    // SQLite changes a connection's data_version whenever another one commits.
    let watcher = rusqlite::Connection::open(cache.layout.index_path()).unwrap();
    let data_version = || {
        watcher
            .query_row("PRAGMA data_version", [], |row| row.get::<_, i64>(0))
            .unwrap()
    };
    let before = data_version();
    for _ in 0..3 {
        let served = cache.fresh(&store, "k", None).unwrap().unwrap();
        assert_eq!(served.path, placed.path);
    }
    assert!(fetch(&cache, &store, "k", None).unwrap().hit);
    assert_eq!(data_version(), before, "a fresh hit committed to the index");

    // Reads that report accesses flush them first.
    assert_eq!(cache.stats().unwrap().hits, 4);
    assert_ne!(data_version(), before);
    assert!(cache.entry(&store, "k").unwrap().unwrap().last_access > placed_access);
}

#[test]
fn another_process_sees_hits_once_flushed_by_the_timer_or_the_drop() {
    let dir = tempfile::tempdir().unwrap();
    let store = memory("cross-process");
    for key in ["a", "b", "c"] {
        write(&store, key, &[b'x'; 10]);
    }
    // Two caches on one root behave like two processes: separate connections and pending hits.
    let first = cache_in(&dir, Some(25));
    let other = cache_in(&dir, Some(25));
    fetch(&first, &store, "a", None).unwrap();
    fetch(&first, &store, "b", None).unwrap();
    assert!(fetch(&first, &store, "a", None).unwrap().hit);

    // The timer flushes within FLUSH_DELAY; the deadline only keeps a broken timer from hanging.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while other.stats().unwrap().hits == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the hit was never flushed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The other process's eviction now knows "a" was used after "b".
    fetch(&other, &store, "c", None).unwrap();
    assert!(other.entry(&store, "b").unwrap().is_none());
    assert!(other.entry(&store, "a").unwrap().is_some());

    assert!(fetch(&first, &store, "a", None).unwrap().hit);
    drop(first);
    assert_eq!(
        other.stats().unwrap().hits,
        2,
        "dropping a cache flushes its hits"
    );
}

/// Places `data` as a download of `key` requested at `requested_at`, as `download` does.
fn place_download(
    cache: &CoreCache,
    store: &CoreStore,
    key: &str,
    data: &[u8],
    requested_at: f64,
) -> CachedFile {
    let namespace = namespace(store);
    let file = cache.layout.entry_file(&namespace, key);
    let staged = Staged {
        path: cache
            .layout
            .staging_file(&cache.layout.absolute(&file))
            .unwrap(),
        placed: false,
    };
    std::fs::write(&staged.path, data).unwrap();
    let version = Version {
        etag: Some(format!("\"{}\"", String::from_utf8_lossy(data))),
        last_modified: None,
        requested_at: Some(requested_at),
    };
    cache
        .place(&namespace, key, &file, staged, version, Some(Event::Miss))
        .unwrap()
}

#[test]
fn a_download_never_replaces_an_entry_cached_after_it_was_requested() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_in(&dir, None);
    let store = memory("racing-fill");
    // A reader's GET returns "old"; before its body is placed, a writer uploads "new" and caches it.
    let requested_at = now();
    let upload = dir.path().join("upload.bin");
    std::fs::write(&upload, b"new").unwrap();
    cache
        .insert(&store, "k", &upload, Some("\"new\"".into()), false)
        .unwrap();
    let served = place_download(&cache, &store, "k", b"old", requested_at);
    assert_eq!(served.etag.as_deref(), Some("\"new\""));
    assert_eq!(std::fs::read(&served.path).unwrap(), b"new");
    assert_eq!(
        cache.entry(&store, "k").unwrap().unwrap().etag.as_deref(),
        Some("\"new\"")
    );
    let staged_left = std::fs::read_dir(served.path.parent().unwrap())
        .unwrap()
        .filter(|entry| {
            let name = entry.as_ref().unwrap().file_name();
            name.to_string_lossy().ends_with(".autostore-staging")
        })
        .count();
    assert_eq!(staged_left, 0, "the staged download is removed");

    // A download requested after the entry was cached is newer, and replaces it.
    let served = place_download(&cache, &store, "k", b"newer", now());
    assert_eq!(std::fs::read(&served.path).unwrap(), b"newer");
    assert_eq!(
        cache.entry(&store, "k").unwrap().unwrap().etag.as_deref(),
        Some("\"newer\"")
    );
}
