//! Single-object operations: head, get, put, upload from a file, download to a file, copy, rename,
//! delete, and streaming copies between two different stores.

use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::stream::{FuturesUnordered, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, MultipartUpload, ObjectMeta, ObjectStoreExt, PutMode, PutOptions,
    PutPayload, PutResult,
};

use crate::error::CoreError;
use crate::progress::Counter;
use crate::runtime::runtime;
use crate::store::{parse_key, CoreStore};
use crate::tempfile::{write_all_at, TempFile};

/// S3 allows at most this many parts in one multipart upload.
const MAX_PARTS: u64 = 10_000;

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

/// The part size for an upload of `len` bytes: the configured chunk, grown so no upload needs more
/// than [`MAX_PARTS`] parts.
pub fn part_size(len: u64, chunk: u64) -> u64 {
    const MIB: u64 = 1024 * 1024;
    let needed = len.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
    chunk.max(needed)
}

/// Aborts a multipart upload that is dropped before completing, so no parts are left behind even
/// when the transfer is cancelled (Ctrl-C drops the future).
struct MultipartGuard {
    upload: Option<Box<dyn MultipartUpload>>,
}

impl MultipartGuard {
    fn upload(&mut self) -> &mut Box<dyn MultipartUpload> {
        self.upload
            .as_mut()
            .expect("upload present until completed")
    }

    async fn complete(mut self) -> object_store::Result<PutResult> {
        let mut upload = self.upload.take().expect("upload present until completed");
        match upload.complete().await {
            Ok(result) => Ok(result),
            Err(err) => {
                let _ = upload.abort().await;
                Err(err)
            }
        }
    }
}

impl Drop for MultipartGuard {
    fn drop(&mut self) {
        if let (Some(mut upload), Ok(runtime)) = (self.upload.take(), runtime()) {
            runtime.spawn(async move {
                let _ = upload.abort().await;
            });
        }
    }
}

/// Uploads a stream of parts with at most `concurrency` in flight, aborting on any failure.
async fn upload_parts<S>(
    store: &CoreStore,
    key: &str,
    path: &Path,
    mut parts: S,
    counter: &Counter,
) -> Result<PutResult, CoreError>
where
    S: futures::Stream<Item = Result<Bytes, CoreError>> + Unpin,
{
    let upload = store
        .inner
        .put_multipart(path)
        .await
        .map_err(store.err(key))?;
    let mut guard = MultipartGuard {
        upload: Some(upload),
    };
    let concurrency = store.config.max_concurrency;
    let mut in_flight = FuturesUnordered::new();
    while let Some(part) = parts.next().await {
        let part = part?;
        let len = part.len() as u64;
        let request = guard.upload().put_part(PutPayload::from(part));
        in_flight.push(async move { request.await.map(|()| len) });
        while in_flight.len() >= concurrency {
            if let Some(done) = in_flight.next().await {
                counter.add(done.map_err(store.err(key))?);
            }
        }
    }
    while let Some(done) = in_flight.next().await {
        counter.add(done.map_err(store.err(key))?);
    }
    guard.complete().await.map_err(store.err(key))
}

/// Reads a local file as a stream of `part` sized chunks, one chunk in memory per pending read.
fn file_parts(
    file: std::fs::File,
    len: u64,
    part: u64,
    source: String,
) -> impl futures::Stream<Item = Result<Bytes, CoreError>> + Unpin {
    let file = Arc::new(file);
    let offsets: Vec<u64> = (0..len).step_by(part as usize).collect();
    futures::stream::iter(offsets)
        .map(move |offset| {
            let file = Arc::clone(&file);
            let size = part.min(len - offset) as usize;
            let source = source.clone();
            async move {
                tokio::task::spawn_blocking(move || read_exact_at(&file, size, offset))
                    .await
                    .map_err(|err| CoreError::Transfer {
                        uri: source.clone(),
                        message: err.to_string(),
                    })?
                    .map_err(|err| CoreError::io(&source, err))
            }
        })
        // Reading one part ahead keeps the network busy without buffering the file.
        .buffered(2)
}

fn read_exact_at(file: &std::fs::File, size: usize, offset: u64) -> std::io::Result<Bytes> {
    let mut buf = BytesMut::zeroed(size);
    let mut filled = 0;
    while filled < size {
        #[cfg(unix)]
        let read =
            std::os::unix::fs::FileExt::read_at(file, &mut buf[filled..], offset + filled as u64)?;
        #[cfg(windows)]
        let read = std::os::windows::fs::FileExt::seek_read(
            file,
            &mut buf[filled..],
            offset + filled as u64,
        )?;
        if read == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "file shrank while it was being uploaded",
            ));
        }
        filled += read;
    }
    Ok(buf.freeze())
}

pub async fn upload_file(
    store: &CoreStore,
    source: &FsPath,
    key: &str,
    counter: &Counter,
) -> Result<PutResult, CoreError> {
    let path = parse_key(key)?;
    let source_name = source.display().to_string();
    let metadata = std::fs::metadata(source).map_err(|err| CoreError::io(&source_name, err))?;
    if metadata.is_dir() {
        return Err(CoreError::io(
            &source_name,
            std::io::Error::other("is a directory, not a file"),
        ));
    }
    let len = metadata.len();
    counter.set_total(len);
    if let Some(destination) = store.local_file(&path) {
        copy_local(source, &destination).await?;
        counter.add(len);
        let meta = store.inner.head(&path).await.map_err(store.err(key))?;
        return Ok(written(meta));
    }
    if len < store.config.multipart_threshold {
        let data = tokio::fs::read(source)
            .await
            .map_err(|err| CoreError::io(&source_name, err))?;
        let result = put(store, key, Bytes::from(data), false).await?;
        counter.add(len);
        return Ok(result);
    }
    let file = std::fs::File::open(source).map_err(|err| CoreError::io(&source_name, err))?;
    let parts = file_parts(
        file,
        len,
        part_size(len, store.config.multipart_chunksize),
        source_name,
    );
    upload_parts(store, key, &path, parts, counter).await
}

/// Copies a local file through a temp file in the destination directory.
async fn copy_local(source: &FsPath, destination: &FsPath) -> Result<(), CoreError> {
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

/// Regroups a body stream into `part`-byte chunks (the last one shorter).
fn rechunk<S>(body: S, part: usize) -> impl futures::Stream<Item = Result<Bytes, CoreError>> + Unpin
where
    S: futures::Stream<Item = Result<Bytes, CoreError>> + Unpin + Send + 'static,
{
    futures::stream::unfold(
        (body, BytesMut::with_capacity(part), false),
        move |(mut body, mut buf, ended)| async move {
            if ended {
                return None;
            }
            while buf.len() < part {
                match body.next().await {
                    Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                    Some(Err(err)) => return Some((Err(err), (body, buf, true))),
                    None if buf.is_empty() => return None,
                    None => {
                        let last = buf.split().freeze();
                        return Some((Ok(last), (body, buf, true)));
                    }
                }
            }
            let next = buf.split_to(part).freeze();
            Some((Ok(next), (body, buf, false)))
        },
    )
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::block_on;
    use crate::store::StoreConfig;

    #[test]
    fn part_size_keeps_uploads_under_ten_thousand_parts() {
        let chunk = 16 * 1024 * 1024;
        assert_eq!(part_size(1024, chunk), chunk);
        for len in [chunk * 10_000, chunk * 10_001, 5 * (1u64 << 40)] {
            let part = part_size(len, chunk);
            assert!(
                len.div_ceil(part) <= MAX_PARTS,
                "{len} bytes in parts of {part}"
            );
            assert_eq!(part % (1024 * 1024), 0);
        }
    }

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
    fn failed_download_leaves_no_partial_file() {
        let store = memory("transfer-missing");
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
