"""Large transfers: upload and download of one 256 MiB file (1 GiB with ``--large``).

AutoStore here is the Rust core (``Store.upload_file`` / ``download_file``), what ``AutoPath.upload_from``
and ``download_to`` run. Downloads are checked by SHA-256, uploads by downloading the object again
in the harness.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benches import clients
from benches.worker import AUTOSTORE, ORIGINAL, RunContext, Tool, Workload, expect, sha256_file

if TYPE_CHECKING:
    from benches.harness import BenchEnv

BUCKET = "bench-transfers"
_WRITE_BLOCK = 8 * 1024 * 1024
_STREAM_CHUNK = 8 * 1024 * 1024


def _local_file(env: BenchEnv, size: int) -> dict[str, Any]:
    """A file of ``size`` random bytes in the data dir, uploaded once as ``blob-<size>`` for downloads."""

    def make() -> dict[str, Any]:
        import hashlib

        path = env.data_dir / f"blob-{size}"
        digest = hashlib.sha256()
        with path.open("wb") as file:
            remaining = size
            while remaining:
                block = os.urandom(min(_WRITE_BLOCK, remaining))
                digest.update(block)
                file.write(block)
                remaining -= len(block)
        key = f"blob-{size}"
        env.store(BUCKET).upload_file(path, key)
        return {"bucket": BUCKET, "path": str(path), "key": key, "size": size, "sha256": digest.hexdigest()}

    return env.once(f"transfers-{size}", make)


def _prepare_regular(env: BenchEnv) -> dict[str, Any]:
    return _local_file(env, env.scale.transfer_bytes)


def prepare_large(env: BenchEnv) -> dict[str, Any]:
    """A local file of the large size, also uploaded once as the object downloads read."""
    return _local_file(env, env.scale.large_transfer_bytes)


def check_uploaded(env: BenchEnv, params: Mapping[str, Any], run_prefix: str) -> None:
    """Download what the run uploaded with the core and compare its SHA-256 with the source file's."""
    key = run_prefix + "blob"
    meta = env.store(BUCKET).head(key)
    expect(f"size of s3://{BUCKET}/{key}", meta.size, params["size"])
    copy = env.data_dir / f"uploaded-copy-{run_prefix.strip('/').replace('/', '-')}"
    try:
        env.store(BUCKET).download_file(key, copy)
        expect(f"SHA-256 of s3://{BUCKET}/{key}", sha256_file(copy), params["sha256"])
    finally:
        copy.unlink(missing_ok=True)


def check_downloaded(ctx: RunContext, path: Path) -> None:
    """The downloaded file has the object's size and SHA-256."""
    expect(f"size of the download {path.name}", path.stat().st_size, ctx.params["size"])
    expect(f"SHA-256 of the download {path.name}", sha256_file(path), ctx.params["sha256"])


# Upload -------------------------------------------------------------------------------------------


def upload_autostore(ctx: RunContext) -> None:
    """``Store.upload_file``: multipart above the threshold, parts read from the file in Rust."""
    store = clients.core_store(ctx.server, ctx.bucket)
    with ctx.timed():
        store.upload_file(ctx.params["path"], ctx.run_prefix + "blob")


def upload_obstore(ctx: RunContext) -> None:
    """``obstore.put`` of a ``Path`` with the same part size and concurrency."""
    import obstore

    store = clients.obstore_store(ctx.server, ctx.bucket)
    with ctx.timed():
        obstore.put(
            store,
            ctx.run_prefix + "blob",
            Path(ctx.params["path"]),
            chunk_size=clients.MULTIPART_CHUNKSIZE,
            max_concurrency=clients.MAX_CONCURRENCY,
        )


def upload_boto3(ctx: RunContext) -> None:
    """``client.upload_file`` with the common ``TransferConfig``."""
    client = clients.boto3_client(ctx.server)
    config = clients.transfer_config()
    with ctx.timed():
        client.upload_file(ctx.params["path"], ctx.bucket, ctx.run_prefix + "blob", Config=config)


def upload_s3fs(ctx: RunContext) -> None:
    """``S3FileSystem.put`` with s3fs's own defaults."""
    fs = clients.s3fs_filesystem(ctx.server)
    with ctx.timed():
        fs.put(ctx.params["path"], f"{ctx.bucket}/{ctx.run_prefix}blob")


def upload_cloudpathlib(ctx: RunContext) -> None:
    """``S3Path.upload_from`` (boto3 underneath, with the common ``TransferConfig``)."""
    from cloudpathlib import S3Path

    client = clients.cloudpath_client(ctx.server, cache_dir=ctx.scratch / "cloudpathlib")
    target = S3Path(f"s3://{ctx.bucket}/{ctx.run_prefix}blob", client=client)
    with ctx.timed():
        target.upload_from(ctx.params["path"], force_overwrite_to_cloud=True)


def upload_original(ctx: RunContext) -> None:
    """``AutoPath.upload_from`` of autostore 0.1.18 (boto3 with the same settings)."""
    store = clients.original_store(ctx.server, ctx.bucket)
    target = clients.original_path(store, f"s3://{ctx.bucket}/{ctx.run_prefix}blob")
    with ctx.timed():
        target.upload_from(ctx.params["path"])


# Download -----------------------------------------------------------------------------------------


def download_autostore(ctx: RunContext) -> None:
    """``Store.download_file``: concurrent ranged GETs pinned to the ETag, into a temp file."""
    store = clients.core_store(ctx.server, ctx.bucket)
    destination = ctx.scratch / "download"
    with ctx.timed():
        store.download_file(ctx.params["key"], destination)
    check_downloaded(ctx, destination)


def download_obstore(ctx: RunContext) -> None:
    """``obstore.get(...).stream()`` written to a file (obstore has no parallel download to a file)."""
    import obstore

    store = clients.obstore_store(ctx.server, ctx.bucket)
    destination = ctx.scratch / "download"
    with ctx.timed():
        response = obstore.get(store, ctx.params["key"])
        with destination.open("wb") as file:
            for chunk in response.stream(min_chunk_size=_STREAM_CHUNK):
                file.write(chunk)
    check_downloaded(ctx, destination)


def download_boto3(ctx: RunContext) -> None:
    """``client.download_file`` with the common ``TransferConfig`` (concurrent ranged GETs)."""
    client = clients.boto3_client(ctx.server)
    config = clients.transfer_config()
    destination = ctx.scratch / "download"
    with ctx.timed():
        client.download_file(ctx.bucket, ctx.params["key"], str(destination), Config=config)
    check_downloaded(ctx, destination)


def download_s3fs(ctx: RunContext) -> None:
    """``S3FileSystem.get`` with s3fs's own defaults."""
    fs = clients.s3fs_filesystem(ctx.server)
    destination = ctx.scratch / "download"
    with ctx.timed():
        fs.get(f"{ctx.bucket}/{ctx.params['key']}", str(destination))
    check_downloaded(ctx, destination)


def download_cloudpathlib(ctx: RunContext) -> None:
    """``S3Path.download_to`` (boto3 underneath, with the common ``TransferConfig``)."""
    from cloudpathlib import S3Path

    client = clients.cloudpath_client(ctx.server, cache_dir=ctx.scratch / "cloudpathlib")
    source = S3Path(f"s3://{ctx.bucket}/{ctx.params['key']}", client=client)
    destination = ctx.scratch / "download"
    with ctx.timed():
        source.download_to(destination)
    check_downloaded(ctx, destination)


def download_original(ctx: RunContext) -> None:
    """``AutoPath.download_to`` of autostore 0.1.18."""
    store = clients.original_store(ctx.server, ctx.bucket)
    source = clients.original_path(store, f"s3://{ctx.bucket}/{ctx.params['key']}")
    destination = ctx.scratch / "download"
    with ctx.timed():
        source.download_to(str(destination))
    check_downloaded(ctx, destination)


_UPLOAD_TOOLS = (
    Tool(AUTOSTORE, upload_autostore),
    Tool("obstore", upload_obstore),
    Tool("boto3", upload_boto3),
    Tool("s3fs", upload_s3fs),
    Tool("cloudpathlib", upload_cloudpathlib),
    Tool(ORIGINAL, upload_original, interpreter="original"),
)
_DOWNLOAD_TOOLS = (
    Tool(AUTOSTORE, download_autostore),
    Tool("obstore", download_obstore),
    Tool("boto3", download_boto3),
    Tool("s3fs", download_s3fs),
    Tool("cloudpathlib", download_cloudpathlib),
    Tool(ORIGINAL, download_original, interpreter="original"),
)
_NOTE = (
    "AutoStore = the Rust core's upload_file/download_file (what AutoPath.upload_from/download_to call); "
    "obstore downloads by streaming one GET into a file, it has no parallel download."
)

WORKLOADS = (
    Workload(
        name="upload",
        title="upload {transfer}",
        tools=_UPLOAD_TOOLS,
        prepare=_prepare_regular,
        check_written=check_uploaded,
        tags=frozenset({"transfer", "large-transfer"}),
        measure_rss=True,
        note=_NOTE,
    ),
    Workload(
        name="download",
        title="download {transfer}",
        tools=_DOWNLOAD_TOOLS,
        prepare=_prepare_regular,
        tags=frozenset({"transfer", "large-transfer"}),
        measure_rss=True,
        note=_NOTE,
    ),
    Workload(
        name="upload-large",
        title="upload {large}",
        tools=_UPLOAD_TOOLS,
        prepare=prepare_large,
        check_written=check_uploaded,
        tags=frozenset({"transfer", "large-transfer"}),
        measure_rss=True,
        large_only=True,
        note=_NOTE,
    ),
    Workload(
        name="download-large",
        title="download {large}",
        tools=_DOWNLOAD_TOOLS,
        prepare=prepare_large,
        tags=frozenset({"transfer", "large-transfer"}),
        measure_rss=True,
        large_only=True,
        note=_NOTE,
    ),
)
