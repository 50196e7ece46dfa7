//! Single-object operations: head, get, put, upload from a file, download to a file, copy, rename,
//! delete, and streaming copies between two different stores.

use bytes::Bytes;
use futures::stream::TryStreamExt;
use object_store::{ObjectMeta, ObjectStoreExt, PutMode, PutOptions, PutPayload, PutResult};

use crate::error::CoreError;
use crate::progress::Counter;
use crate::store::{parse_key, CoreStore};

mod download;
mod upload;

use download::copy_local;
pub use download::{download_file, download_file_with};
pub use upload::{part_size, upload_file};
use upload::{rechunk, upload_parts};

pub async fn head(store: &CoreStore, key: &str) -> Result<ObjectMeta, CoreError> {
    let path = parse_key(key)?;
    store.inner.head(&path).await.map_err(store.err(key))
}

pub async fn exists(store: &CoreStore, key: &str) -> Result<bool, CoreError> {
    match head(store, key).await {
        Ok(_) => Ok(true),
        Err(err) if err.is_not_found() => Ok(false),
        Err(err) => Err(err),
    }
}

pub async fn get(store: &CoreStore, key: &str) -> Result<Bytes, CoreError> {
    let path = parse_key(key)?;
    let result = store.inner.get(&path).await.map_err(store.err(key))?;
    result.bytes().await.map_err(store.err(key))
}

pub async fn get_range(
    store: &CoreStore,
    key: &str,
    start: u64,
    end: u64,
) -> Result<Bytes, CoreError> {
    let path = parse_key(key)?;
    if end < start {
        return Err(CoreError::InvalidKey {
            key: key.to_string(),
            reason: format!("range end {end} is before its start {start}"),
        });
    }
    if end == start {
        return Ok(Bytes::new());
    }
    store
        .inner
        .get_range(&path, start..end)
        .await
        .map_err(store.err(key))
}

pub async fn put(
    store: &CoreStore,
    key: &str,
    data: Bytes,
    create_only: bool,
) -> Result<PutResult, CoreError> {
    let path = parse_key(key)?;
    let mode = if create_only {
        PutMode::Create
    } else {
        PutMode::Overwrite
    };
    let options = PutOptions {
        mode,
        ..Default::default()
    };
    store
        .inner
        .put_opts(&path, PutPayload::from(data), options)
        .await
        .map_err(store.err(key))
}

pub async fn copy(
    store: &CoreStore,
    from: &str,
    to: &str,
    overwrite: bool,
) -> Result<(), CoreError> {
    let (source, destination) = (parse_key(from)?, parse_key(to)?);
    if !overwrite && exists(store, to).await? {
        return Err(already_exists(store, to));
    }
    if let (Some(from_file), Some(to_file)) =
        (store.local_file(&source), store.local_file(&destination))
    {
        // object_store hard-links local copies: the copy would share its bytes with the original.
        if !from_file.is_file() {
            return Err(CoreError::store(
                store.uri(from),
                object_store::Error::NotFound {
                    path: from.to_string(),
                    source: "no such file".into(),
                },
            ));
        }
        return copy_local(&from_file, &to_file).await;
    }
    store
        .inner
        .copy(&source, &destination)
        .await
        .map_err(store.err(from))
}

pub async fn rename(
    store: &CoreStore,
    from: &str,
    to: &str,
    overwrite: bool,
) -> Result<(), CoreError> {
    let (source, destination) = (parse_key(from)?, parse_key(to)?);
    if !overwrite && exists(store, to).await? {
        return Err(already_exists(store, to));
    }
    store
        .inner
        .rename(&source, &destination)
        .await
        .map_err(store.err(from))
}

/// What a write reports when it was done by a means that returns no [`PutResult`] of its own.
fn written(meta: ObjectMeta) -> PutResult {
    PutResult {
        e_tag: meta.e_tag,
        version: meta.version,
        extensions: Default::default(),
    }
}

fn already_exists(store: &CoreStore, key: &str) -> CoreError {
    CoreError::store(
        store.uri(key),
        object_store::Error::AlreadyExists {
            path: key.to_string(),
            source: "the destination exists and overwrite is False".into(),
        },
    )
}

/// Deletes one object; a missing object is not an error (S3 semantics on every backend).
pub async fn delete(store: &CoreStore, key: &str) -> Result<(), CoreError> {
    let path = parse_key(key)?;
    match store.inner.delete(&path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(err) => Err(store.err(key)(err)),
    }
}

/// Streams one object between two stores; file-backed sides use the file paths directly.
pub async fn copy_between(
    source: &CoreStore,
    source_key: &str,
    destination: &CoreStore,
    destination_key: &str,
    counter: &Counter,
) -> Result<PutResult, CoreError> {
    if source.identity == destination.identity {
        copy(source, source_key, destination_key, true).await?;
        let meta = head(destination, destination_key).await?;
        return Ok(written(meta));
    }
    let source_path = parse_key(source_key)?;
    if let Some(file) = source.local_file(&source_path) {
        return upload_file(destination, &file, destination_key, counter).await;
    }
    let destination_path = parse_key(destination_key)?;
    if let Some(file) = destination.local_file(&destination_path) {
        download_file(source, source_key, &file, counter).await?;
        let meta = head(destination, destination_key).await?;
        return Ok(written(meta));
    }
    let result = source
        .inner
        .get(&source_path)
        .await
        .map_err(source.err(source_key))?;
    let size = result.meta.size;
    counter.set_total(size);
    if size < destination.config.multipart_threshold {
        let data = result.bytes().await.map_err(source.err(source_key))?;
        let put_result = put(destination, destination_key, data, false).await?;
        counter.add(size);
        return Ok(put_result);
    }
    let part = part_size(size, destination.config.multipart_chunksize) as usize;
    let uri = source.uri(source_key);
    let body = result
        .into_stream()
        .map_err(move |err| CoreError::store(uri.clone(), err));
    let parts = rechunk(body, part);
    upload_parts(
        destination,
        destination_key,
        &destination_path,
        parts,
        counter,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::block_on;
    use crate::store::StoreConfig;

    fn memory(name: &str) -> CoreStore {
        let config = StoreConfig {
            multipart_threshold: 6 * 1024 * 1024,
            multipart_chunksize: 5 * 1024 * 1024,
            ..StoreConfig::default()
        };
        CoreStore::new(&format!("memory://{name}"), config).unwrap()
    }

    #[test]
    fn multipart_upload_and_parallel_download_round_trip() {
        let store = memory("transfer-round-trip");
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("in.bin");
        let data: Vec<u8> = (0..23 * 1024 * 1024 + 7).map(|i| (i % 251) as u8).collect();
        std::fs::write(&source, &data).unwrap();
        let counter = Counter::new();
        block_on(upload_file(&store, &source, "big/object.bin", &counter))
            .unwrap()
            .unwrap();
        assert_eq!(counter.done(), data.len() as u64);

        let target = dir.path().join("out/copy.bin");
        let counter = Counter::new();
        let meta = block_on(download_file(&store, "big/object.bin", &target, &counter))
            .unwrap()
            .unwrap();
        assert_eq!(meta.size, data.len() as u64);
        assert_eq!(std::fs::read(&target).unwrap(), data);
        assert_eq!(counter.done(), data.len() as u64);
        assert_eq!(
            std::fs::read_dir(dir.path().join("out")).unwrap().count(),
            1
        );
    }

    #[test]
    fn copy_between_stores_streams_large_objects() {
        let source = memory("transfer-copy-src");
        let destination = memory("transfer-copy-dst");
        let data = Bytes::from(vec![7u8; 13 * 1024 * 1024]);
        block_on(put(&source, "k", data.clone(), false))
            .unwrap()
            .unwrap();
        block_on(copy_between(
            &source,
            "k",
            &destination,
            "k2",
            &Counter::new(),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(block_on(get(&destination, "k2")).unwrap().unwrap(), data);
    }

    #[test]
    fn a_key_below_a_local_file_is_simply_missing() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().display());
        let store = CoreStore::new(&url, StoreConfig::default()).unwrap();
        block_on(put(&store, "a.txt", Bytes::from_static(b"x"), false))
            .unwrap()
            .unwrap();
        let err = block_on(head(&store, "a.txt/b")).unwrap().unwrap_err();
        assert!(err.is_not_found(), "{err}");
        assert!(!block_on(exists(&store, "a.txt/b")).unwrap().unwrap());
    }

    #[test]
    fn local_copies_are_independent_files() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().display());
        let store = CoreStore::new(&url, StoreConfig::default()).unwrap();
        block_on(put(&store, "a", Bytes::from_static(b"one"), false))
            .unwrap()
            .unwrap();
        block_on(copy(&store, "a", "sub/b", true)).unwrap().unwrap();
        // Rewriting the original in place (same inode) must not show through the copy.
        std::fs::write(dir.path().join("a"), b"two").unwrap();
        assert_eq!(std::fs::read(dir.path().join("sub/b")).unwrap(), b"one");
        let missing = block_on(copy(&store, "nope", "c", true))
            .unwrap()
            .unwrap_err();
        assert!(missing.is_not_found());
    }

    #[test]
    fn create_only_put_refuses_to_overwrite() {
        let store = memory("transfer-create-only");
        block_on(put(&store, "once", Bytes::from_static(b"1"), true))
            .unwrap()
            .unwrap();
        let err = block_on(put(&store, "once", Bytes::from_static(b"2"), true))
            .unwrap()
            .unwrap_err();
        assert!(matches!(
            err,
            CoreError::Store {
                source: object_store::Error::AlreadyExists { .. },
                ..
            }
        ));
        assert_eq!(
            block_on(get(&store, "once")).unwrap().unwrap(),
            Bytes::from_static(b"1")
        );
    }
}
