//! Downloads to a local file: one GET, or ranged GETs in parallel pinned to the ETag, written into
//! a temp file beside the destination and renamed over it only when complete.

use std::path::Path as FsPath;

use bytes::Bytes;
use futures::stream::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectMeta, ObjectStoreExt};

use crate::error::CoreError;
use crate::progress::Counter;
use crate::store::{parse_key, CoreStore};
use crate::tempfile::{write_all_at, TempFile};

/// Copies a local file through a temp file in the destination directory.
pub(super) async fn copy_local(source: &FsPath, destination: &FsPath) -> Result<(), CoreError> {
    let (source, destination) = (source.to_path_buf(), destination.to_path_buf());
    tokio::task::spawn_blocking(move || {
        let temp = TempFile::beside(&destination)?;
        std::fs::copy(&source, temp.path()).map_err(|err| CoreError::io(source.display(), err))?;
        temp.persist(&destination)
    })
    .await
    .map_err(|err| CoreError::Runtime(err.to_string()))?
}

pub async fn download_file(
    store: &CoreStore,
    key: &str,
    destination: &FsPath,
    counter: &Counter,
) -> Result<ObjectMeta, CoreError> {
    download_file_with(store, key, destination, GetOptions::default(), counter).await
}

/// [`download_file`] whose first GET carries `options`: a cache revalidation sets `if_none_match`,
/// and an unchanged object then fails with a `NotModified` store error before anything is written.
/// Local stores ignore `options`.
pub async fn download_file_with(
    store: &CoreStore,
    key: &str,
    destination: &FsPath,
    options: GetOptions,
    counter: &Counter,
) -> Result<ObjectMeta, CoreError> {
    let path = parse_key(key)?;
    if let Some(source) = store.local_file(&path) {
        let meta = store.inner.head(&path).await.map_err(store.err(key))?;
        counter.set_total(meta.size);
        copy_local(&source, destination).await?;
        counter.add(meta.size);
        return Ok(meta);
    }
    let result = store
        .inner
        .get_opts(&path, options)
        .await
        .map_err(store.err(key))?;
    let meta = result.meta.clone();
    counter.set_total(meta.size);
    let temp = TempFile::beside(destination)?;
    let part = store.config.multipart_chunksize;
    let first_end =
        if meta.size > store.config.multipart_threshold && store.config.max_concurrency > 1 {
            part.min(meta.size)
        } else {
            meta.size
        };
    let first = write_stream(
        store,
        key,
        result.into_stream(),
        &temp,
        0,
        first_end,
        counter,
    );
    let rest = download_ranges(store, key, &path, &meta, first_end, &temp, counter);
    futures::try_join!(first, rest)?;
    temp.persist(destination)?;
    Ok(meta)
}

/// Fetches `[start, size)` of the object with concurrent ranged GETs pinned to its ETag.
async fn download_ranges(
    store: &CoreStore,
    key: &str,
    path: &Path,
    meta: &ObjectMeta,
    start: u64,
    temp: &TempFile,
    counter: &Counter,
) -> Result<(), CoreError> {
    let part = store.config.multipart_chunksize;
    let ranges: Vec<(u64, u64)> = (start..meta.size)
        .step_by(part as usize)
        .map(|offset| (offset, (offset + part).min(meta.size)))
        .collect();
    futures::stream::iter(ranges)
        .map(|(from, to)| async move {
            let options = GetOptions {
                range: Some(GetRange::Bounded(from..to)),
                if_match: meta.e_tag.clone(),
                ..Default::default()
            };
            let result = store
                .inner
                .get_opts(path, options)
                .await
                .map_err(store.err(key))?;
            write_stream(store, key, result.into_stream(), temp, from, to, counter).await
        })
        .buffer_unordered(store.config.max_concurrency.saturating_sub(1).max(1))
        .try_collect::<()>()
        .await
}

/// Writes a body stream at `[from, to)` of the temp file, stopping once `to` is reached (the
/// first, unranged GET is abandoned there while ranged GETs fetch the rest).
async fn write_stream(
    store: &CoreStore,
    key: &str,
    mut body: futures::stream::BoxStream<'static, object_store::Result<Bytes>>,
    temp: &TempFile,
    from: u64,
    to: u64,
    counter: &Counter,
) -> Result<(), CoreError> {
    let file = temp.file();
    let mut offset = from;
    while offset < to {
        let Some(chunk) = body.next().await else {
            break;
        };
        let mut chunk = chunk.map_err(store.err(key))?;
        chunk.truncate((to - offset).min(chunk.len() as u64) as usize);
        write_all_at(&file, &chunk, offset)
            .map_err(|err| CoreError::io(temp.path().display(), err))?;
        offset += chunk.len() as u64;
        counter.add(chunk.len() as u64);
    }
    if offset != to {
        return Err(CoreError::Transfer {
            uri: store.uri(key),
            message: format!("the body ended after {offset} bytes, expected {to}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::block_on;
    use crate::store::StoreConfig;

    #[test]
    fn failed_download_leaves_no_partial_file() {
        let store = CoreStore::new("memory://transfer-missing", StoreConfig::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("never.bin");
        let err = block_on(download_file(&store, "missing", &target, &Counter::new()))
            .unwrap()
            .unwrap_err();
        assert!(err.is_not_found());
        assert!(err
            .to_string()
            .contains("memory://transfer-missing/missing"));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
