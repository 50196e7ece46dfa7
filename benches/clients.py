"""How each tool is pointed at the benchmark's S3 server, with the same transfer settings for all.

Every library is imported inside the function that needs it: a child process imports only the tool it
runs, and children of the original package (another virtualenv) can import this module at all.

Fairness: the multipart threshold, part size and per-transfer concurrency are AutoStore's defaults
(``S3Options``: 64 MiB, 16 MiB, 10) for every tool that has such settings; batched small-object
workloads use :data:`BATCH_CONCURRENCY` requests in flight for every tool, the concurrency of the
core's batch operations (``max(max_concurrency, 32)``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benches.worker import ServerInfo

MIB = 1024 * 1024
MULTIPART_THRESHOLD = 64 * MIB
MULTIPART_CHUNKSIZE = 16 * MIB
MAX_CONCURRENCY = 10
BATCH_CONCURRENCY = 32


def core_store(server: ServerInfo, bucket: str) -> Any:
    """An ``autostore._core.Store`` on ``bucket`` with AutoStore's default transfer settings."""
    from autostore import _core

    return _core.Store(
        f"s3://{bucket}",
        access_key_id=server.access_key_id,
        secret_access_key=server.secret_access_key,
        endpoint=server.endpoint_url,
        region=server.region,
        multipart_threshold=MULTIPART_THRESHOLD,
        multipart_chunksize=MULTIPART_CHUNKSIZE,
        max_concurrency=MAX_CONCURRENCY,
    )


def autostore_options(server: ServerInfo, **extra: Any) -> dict[str, Any]:
    """Keyword arguments of ``AutoStore``/``S3Options`` (this project's and the original's) for the server."""
    options: dict[str, Any] = {
        "aws_access_key_id": server.access_key_id,
        "aws_secret_access_key": server.secret_access_key,
        "endpoint_url": server.endpoint_url,
        "region_name": server.region,
    }
    options.update(extra)
    return options


def autostore_store(server: ServerInfo, uri: str, **extra: Any) -> Any:
    """This project's ``AutoStore`` on ``uri`` (``s3://bucket/prefix/``)."""
    from autostore import AutoStore

    return AutoStore(uri, **autostore_options(server, **extra))


def original_store(server: ServerInfo, bucket: str, **extra: Any) -> Any:
    """The original package's ``AutoStore`` on ``s3://bucket`` (run only in its own virtualenv)."""
    from autostore.backends.s3 import S3Options

    from autostore import AutoStore

    # A list registers the options for the scheme too: with a single options object, AutoPath URIs
    # fall back to default options without credentials.
    store = AutoStore(f"s3://{bucket}", options=[S3Options(**autostore_options(server, **extra))])
    # AutoPath URIs get their own backend (a boto3 session and client) on first use; built here, before
    # timing, as every other tool's client is. Threads racing to build it would each make one.
    original_path(store, f"s3://{bucket}/").exists()
    return store


def original_path(store: Any, uri: str) -> Any:
    """The original package's ``AutoPath`` for ``uri`` on ``store``."""
    from autostore import AutoPath

    return AutoPath(uri, store=store)


def obstore_store(server: ServerInfo, bucket: str) -> Any:
    """An ``obstore.store.S3Store`` on ``bucket`` (path-style, plain HTTP allowed for the local server)."""
    from obstore.store import S3Store

    return S3Store(
        bucket,
        endpoint=server.endpoint_url,
        access_key_id=server.access_key_id,
        secret_access_key=server.secret_access_key,
        region=server.region,
        virtual_hosted_style_request=False,
        client_options={"allow_http": True},
    )


def boto3_client(server: ServerInfo, *, pool_size: int = MAX_CONCURRENCY) -> Any:
    """A boto3 S3 client whose connection pool holds ``pool_size`` connections."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=server.endpoint_url,
        aws_access_key_id=server.access_key_id,
        aws_secret_access_key=server.secret_access_key,
        region_name=server.region,
        config=Config(max_pool_connections=pool_size, s3={"addressing_style": "path"}),
    )


def transfer_config() -> Any:
    """An s3transfer ``TransferConfig`` with AutoStore's threshold, part size and concurrency."""
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(
        multipart_threshold=MULTIPART_THRESHOLD,
        multipart_chunksize=MULTIPART_CHUNKSIZE,
        max_concurrency=MAX_CONCURRENCY,
        use_threads=True,
    )


def s3fs_options(server: ServerInfo) -> dict[str, Any]:
    """Keyword arguments of ``s3fs.S3FileSystem`` (also fsspec's ``target_options``) for the server."""
    return {
        "key": server.access_key_id,
        "secret": server.secret_access_key,
        "client_kwargs": {"endpoint_url": server.endpoint_url, "region_name": server.region},
        # A fresh filesystem per run: fsspec otherwise reuses instances (and their listing caches).
        "skip_instance_cache": True,
    }


def s3fs_filesystem(server: ServerInfo) -> Any:
    """A new ``s3fs.S3FileSystem`` for the server."""
    import s3fs

    return s3fs.S3FileSystem(**s3fs_options(server))


def cloudpath_client(server: ServerInfo, *, cache_dir: Path | None = None) -> Any:
    """A cloudpathlib ``S3Client`` for the server, with the common transfer config and cache dir."""
    import boto3
    from cloudpathlib import S3Client

    session = boto3.session.Session(
        aws_access_key_id=server.access_key_id,
        aws_secret_access_key=server.secret_access_key,
        region_name=server.region,
    )
    return S3Client(
        boto3_session=session,
        endpoint_url=server.endpoint_url,
        addressing_style="path",
        boto3_transfer_config=transfer_config(),
        local_cache_dir=cache_dir,
    )


def polars_storage_options(server: ServerInfo) -> dict[str, str]:
    """``storage_options`` for polars' native cloud reader pointed at the server."""
    return {
        "aws_access_key_id": server.access_key_id,
        "aws_secret_access_key": server.secret_access_key,
        "aws_endpoint_url": server.endpoint_url,
        "aws_region": server.region,
        "aws_allow_http": "true",
        "aws_virtual_hosted_style_request": "false",
    }
