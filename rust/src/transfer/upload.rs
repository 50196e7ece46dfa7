//! Uploads in parts: from a local file read in chunks, or from a stream regrouped into parts; an
//! upload that fails or is dropped is aborted so no parts are left behind.

use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::stream::{FuturesUnordered, StreamExt};
use object_store::path::Path;
use object_store::{MultipartUpload, ObjectStoreExt, PutPayload, PutResult};

use super::download::copy_local;
use super::{put, written};
use crate::error::CoreError;
use crate::progress::Counter;
use crate::runtime::runtime;
use crate::store::{parse_key, CoreStore};

/// S3 allows at most this many parts in one multipart upload.
const MAX_PARTS: u64 = 10_000;

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

    /// Aborts now, waiting for the server's answer (the drop path can only start an abort).
    async fn abort(mut self) {
        if let Some(mut upload) = self.upload.take() {
            // The error that made us abort is the one to report; a failed abort leaves parts that
            // the bucket's lifecycle rules for incomplete uploads remove.
            let _ = upload.abort().await;
        }
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

/// Uploads a stream of parts with at most `concurrency` in flight. On any failure the parts still
/// in flight are cancelled and the upload is aborted before the error is returned, so the server
/// holds no parts of it once the caller sees the error.
pub(super) async fn upload_parts<S>(
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
    let sent = async {
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
        Ok::<(), CoreError>(())
    }
    .await;
    match sent {
        Ok(()) => guard.complete().await.map_err(store.err(key)),
        Err(err) => {
            guard.abort().await;
            Err(err)
        }
    }
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

/// Regroups a body stream into `part`-byte chunks (the last one shorter).
pub(super) fn rechunk<S>(
    body: S,
    part: usize,
) -> impl futures::Stream<Item = Result<Bytes, CoreError>> + Unpin
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
}
