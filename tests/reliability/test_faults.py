"""Faults between AutoStore and a real S3 server (SeaweedFS), injected by :mod:`faultproxy`.

Transient faults (a few 503/500 answers, a dropped body, a reset during a part upload, a short stall)
must be retried away with the data intact; permanent ones must end in a clear error naming the URI
and leave nothing behind: no partial object, no partial local file, no open multipart upload, no
cache entry that would be served. The server's state is always checked directly, never through the
proxy. Options are small (5 MiB parts, 1 s timeout, few retries, short delays) to keep this fast.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from tests.reliability.faultproxy import FaultProxy

from autostore import AutoPath, AutoStore, _core
from autostore.exceptions import AutoStoreError, TransferError
from autostore.testing import LocalS3Server

MIB = 1024 * 1024
PART = 5 * MIB


@pytest.fixture
def proxy(s3_server: LocalS3Server) -> Iterator[FaultProxy]:
    """A fault proxy in front of the session server, passing everything through until told otherwise."""
    with FaultProxy(s3_server.port) as fault_proxy:
        yield fault_proxy


@pytest.fixture
def server(s3_server: LocalS3Server) -> Any:
    """A boto3 client talking to the server directly (no proxy), to check what really is there."""
    return boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint_url,
        aws_access_key_id=s3_server.access_key_id,
        aws_secret_access_key=s3_server.secret_access_key,
        region_name=s3_server.region,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def fault_options(s3_server: LocalS3Server, endpoint: str, **overrides: Any) -> dict[str, Any]:
    """S3 options for a store reaching the server through ``endpoint``, tuned to fail fast."""
    options = s3_server.s3_options(
        endpoint_url=endpoint,
        timeout=1.0,
        max_retries=3,
        retry_delay=0.05,
        multipart_threshold=PART,
        multipart_chunksize=PART,
        max_concurrency=4,
    )
    options.update(overrides)
    return options


def object_on_server(server: Any, bucket: str, key: str) -> bytes | None:
    try:
        return server.get_object(Bucket=bucket, Key=key)["Body"].read()
    except server.exceptions.NoSuchKey:
        return None


def open_uploads(server: Any, bucket: str) -> list[str]:
    """Keys of the multipart uploads started and neither completed nor aborted."""
    answer = server.list_multipart_uploads(Bucket=bucket)
    return [upload["Key"] for upload in answer.get("Uploads", [])]


def leftovers(directory: Path) -> list[str]:
    """Every file under ``directory`` (partial downloads and temp files included), relative names."""
    if not directory.exists():
        return []
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*") if path.is_file())


# --- transient faults: retried, data intact -----------------------------------------------------


def test_faults_small_reads_writes_and_listing_retry_transient_errors(
    s3_server: LocalS3Server, s3_bucket: str, proxy: FaultProxy, server: Any
) -> None:
    store = AutoStore(f"s3://{s3_bucket}", **fault_options(s3_server, proxy.endpoint_url))
    payload = os.urandom(64 * 1024)

    refused_puts = proxy.fail(503, times=2, method="PUT")
    store["blob.bin"] = payload
    assert refused_puts.applied == 2
    assert object_on_server(server, s3_bucket, "blob.bin") == payload

    refused_gets = proxy.fail(500, times=2, method="GET")
    assert store["blob.bin"] == payload
    assert refused_gets.applied == 2

    dropped = proxy.drop(after_bytes=1000, times=1, method="GET")
    assert store["blob.bin"] == payload
    assert dropped.applied == 1

    for index in range(5):
        server.put_object(Bucket=s3_bucket, Key=f"dir/k{index}.bin", Body=bytes([index]) * 10)
    refused_lists = proxy.fail(503, times=2, method="GET", target=r"list-type=2")
    assert sorted(store.keys()) == ["blob", *(f"dir/k{index}" for index in range(5))]
    assert refused_lists.applied == 2
    assert len(proxy.faulted()) == 7


def test_faults_listing_survives_a_dropped_response_body(
    s3_server: LocalS3Server, s3_bucket: str, proxy: FaultProxy, server: Any
) -> None:
    keys = [f"many/{index:03d}.bin" for index in range(40)]
    for key in keys:
        server.put_object(Bucket=s3_bucket, Key=key, Body=b"x")
    store = _core.Store(
        f"s3://{s3_bucket}",
        access_key_id=s3_server.access_key_id,
        secret_access_key=s3_server.secret_access_key,
        endpoint=proxy.endpoint_url,
        region=s3_server.region,
        timeout=1.0,
        max_retries=3,
        retry_delay=0.05,
    )
    dropped = proxy.drop(after_bytes=500, times=1, method="GET", target=r"list-type=2")
    assert [meta.key for meta in store.list("many")] == keys
    assert dropped.applied == 1


def test_faults_multipart_upload_retries_part_resets_and_5xx(
    s3_server: LocalS3Server, s3_bucket: str, proxy: FaultProxy, server: Any, tmp_path: Path
) -> None:
    data = os.urandom(3 * PART - 12345)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    store = AutoStore(f"s3://{s3_bucket}", **fault_options(s3_server, proxy.endpoint_url))

    resets = proxy.reset_part_uploads(after_bytes=256 * 1024, times=2)
    refused_create = proxy.fail(503, times=1, method="POST", target=r"\?uploads")
    refused_parts = proxy.fail(500, times=1, method="PUT", target=r"partNumber=")
    refused_complete = proxy.fail(503, times=1, method="POST", target=r"uploadId=")
    AutoPath(f"s3://{s3_bucket}/up/big.bin", store=store).upload_from(source)

    assert (resets.applied, refused_create.applied, refused_parts.applied, refused_complete.applied) == (
        2,
        1,
        1,
        1,
    )
    # Three parts plus the four failed attempts; a server slowed by the broken uploads may add timeouts.
    assert len(proxy.requests("PUT", r"partNumber=")) >= 3 + 3
    assert object_on_server(server, s3_bucket, "up/big.bin") == data
    assert open_uploads(server, s3_bucket) == []


def test_faults_parallel_download_survives_dropped_bodies_and_a_short_stall(
    s3_server: LocalS3Server, s3_bucket: str, proxy: FaultProxy, server: Any, tmp_path: Path
) -> None:
    data = os.urandom(3 * PART - 777)
    server.put_object(Bucket=s3_bucket, Key="dl/big.bin", Body=data)
    store = AutoStore(f"s3://{s3_bucket}", **fault_options(s3_server, proxy.endpoint_url))

    drops = proxy.drop(after_bytes=MIB, times=2, method="GET")
    refused = proxy.fail(503, times=1, method="GET")
    stall = proxy.stall(0.3, after_bytes=2 * MIB, times=1, method="GET")
    destination = tmp_path / "out" / "big.bin"
    AutoPath(f"s3://{s3_bucket}/dl/big.bin", store=store).download_to(destination)

    assert destination.read_bytes() == data
    assert (drops.applied, refused.applied, stall.applied) == (2, 1, 1)
    # Ranged GETs fetched the parts beyond the first (the original GET, its retries, two ranges).
    assert len(proxy.requests("GET")) >= 3 + 2
    assert leftovers(tmp_path / "out") == ["big.bin"]


# --- permanent faults: a clear error, nothing left behind -----------------------------------------


def test_faults_permanent_part_resets_fail_and_abort_the_upload(
    s3_server: LocalS3Server, s3_bucket: str, proxy: FaultProxy, server: Any, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(2 * PART + 1))
    store = AutoStore(f"s3://{s3_bucket}", **fault_options(s3_server, proxy.endpoint_url, max_retries=2))
    resets = proxy.reset_part_uploads(times=None)
    uri = f"s3://{s3_bucket}/up/never.bin"
    with pytest.raises(TransferError) as failure:
        AutoPath(uri, store=store).upload_from(source)
    assert uri in str(failure.value)
    assert resets.applied >= 3
    assert object_on_server(server, s3_bucket, "up/never.bin") is None
    assert open_uploads(server, s3_bucket) == []


def test_faults_permanent_failure_to_complete_aborts_the_upload(
    s3_server: LocalS3Server, s3_bucket: str, proxy: FaultProxy, server: Any, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(PART + 1))
    store = AutoStore(f"s3://{s3_bucket}", **fault_options(s3_server, proxy.endpoint_url, max_retries=1))
    refused = proxy.fail(500, times=None, method="POST", target=r"uploadId=")
    uri = f"s3://{s3_bucket}/up/incomplete.bin"
    with pytest.raises(TransferError) as failure:
        AutoPath(uri, store=store).upload_from(source)
    assert uri in str(failure.value)
    assert refused.applied == 2
    assert object_on_server(server, s3_bucket, "up/incomplete.bin") is None
    assert open_uploads(server, s3_bucket) == []


def test_faults_permanent_write_failure_keeps_the_previous_value(
    s3_server: LocalS3Server, s3_bucket: str, proxy: FaultProxy, server: Any, tmp_path: Path
) -> None:
    options = fault_options(
        s3_server, proxy.endpoint_url, max_retries=1, cache_enabled=True, cache_dir=tmp_path / "cache"
    )
    store = AutoStore(f"s3://{s3_bucket}", **options)
    store["value.bin"] = b"old value"
    proxy.fail(503, times=None, method="PUT")
    with pytest.raises(TransferError) as failure:
        store["value.bin"] = b"new value"
    assert f"s3://{s3_bucket}/value.bin" in str(failure.value)
    with pytest.raises(TransferError):
        store["other.bin"] = b"never stored"
    proxy.clear()
    assert object_on_server(server, s3_bucket, "value.bin") == b"old value"
    assert object_on_server(server, s3_bucket, "other.bin") is None
    assert store["value.bin"] == b"old value"
    assert "other" not in store


@pytest.mark.parametrize("size", [64 * 1024, 3 * PART], ids=["small", "multipart"])
def test_faults_permanent_dropped_downloads_fail_and_leave_no_file_or_cache_entry(
    s3_server: LocalS3Server, s3_bucket: str, proxy: FaultProxy, server: Any, tmp_path: Path, size: int
) -> None:
    data = os.urandom(size)
    server.put_object(Bucket=s3_bucket, Key="dl/value.bin", Body=data)
    cache_dir = tmp_path / "cache"
    options = fault_options(
        s3_server, proxy.endpoint_url, max_retries=2, cache_enabled=True, cache_dir=cache_dir
    )
    cached = AutoStore(f"s3://{s3_bucket}", **options)
    plain = AutoStore(f"s3://{s3_bucket}", **fault_options(s3_server, proxy.endpoint_url, max_retries=2))
    uri = f"s3://{s3_bucket}/dl/value.bin"
    drops = proxy.drop(after_bytes=1000, times=None, method="GET")

    destination = tmp_path / "out" / "value.bin"
    with pytest.raises(TransferError) as failure:
        AutoPath(uri, store=plain).download_to(destination)
    assert uri in str(failure.value)
    assert leftovers(tmp_path / "out") == []

    with pytest.raises(TransferError) as failure:
        cached["dl/value.bin"]
    assert uri in str(failure.value)
    assert drops.applied >= 6
    assert [name for name in leftovers(cache_dir) if name.startswith("objects")] == []

    proxy.clear()
    assert cached["dl/value.bin"] == data
    assert AutoPath(uri, store=plain).download_to(destination).read_bytes() == data
    assert leftovers(tmp_path / "out") == ["value.bin"]


def test_faults_permanent_5xx_fail_with_the_uri_and_no_retry_storm(
    s3_server: LocalS3Server, s3_bucket: str, proxy: FaultProxy, server: Any
) -> None:
    server.put_object(Bucket=s3_bucket, Key="k.bin", Body=b"value")
    store = AutoStore(f"s3://{s3_bucket}", **fault_options(s3_server, proxy.endpoint_url, max_retries=2))
    refused = proxy.fail(503, times=None)
    with pytest.raises(TransferError) as failure:
        store["k.bin"]
    assert f"s3://{s3_bucket}/k.bin" in str(failure.value)
    assert "503" in str(failure.value)
    assert refused.applied == 3  # the request and max_retries retries, then the error
    with pytest.raises(AutoStoreError) as failure:
        list(store.keys())
    assert f"s3://{s3_bucket}" in str(failure.value)


# --- stalls longer than the timeout ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("after_bytes", "key"),
    [(None, "small.bin"), (256 * 1024, "small.bin"), (256 * 1024, "big.bin")],
    ids=["before-head", "mid-body", "mid-ranged-body"],
)
def test_faults_stall_longer_than_the_timeout_raises_a_timeout(
    s3_server: LocalS3Server,
    s3_bucket: str,
    proxy: FaultProxy,
    server: Any,
    tmp_path: Path,
    after_bytes: int | None,
    key: str,
) -> None:
    server.put_object(Bucket=s3_bucket, Key="small.bin", Body=os.urandom(MIB))
    server.put_object(Bucket=s3_bucket, Key="big.bin", Body=os.urandom(2 * PART))
    store = AutoStore(f"s3://{s3_bucket}", **fault_options(s3_server, proxy.endpoint_url, max_retries=1))
    # Far longer than the 1 s timeout: only the timeout can end the read.
    stalls = proxy.stall(600, after_bytes=after_bytes, times=None, method="GET")
    destination = tmp_path / "out" / key
    with pytest.raises(TimeoutError) as failure:
        AutoPath(f"s3://{s3_bucket}/{key}", store=store).download_to(destination)
    assert isinstance(failure.value, TransferError)
    message = str(failure.value)
    assert f"s3://{s3_bucket}/{key}" in message
    assert "timed out" in message
    assert stalls.applied >= 2
    assert leftovers(tmp_path / "out") == []


def test_faults_stalled_part_upload_times_out_and_is_aborted(
    s3_server: LocalS3Server, s3_bucket: str, proxy: FaultProxy, server: Any, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(PART + 1))
    store = AutoStore(f"s3://{s3_bucket}", **fault_options(s3_server, proxy.endpoint_url, max_retries=1))
    stalls = proxy.stall(600, times=None, method="PUT", target=r"partNumber=")
    uri = f"s3://{s3_bucket}/up/stalled.bin"
    with pytest.raises(TimeoutError) as failure:
        AutoPath(uri, store=store).upload_from(source)
    assert uri in str(failure.value)
    assert stalls.applied >= 2
    assert object_on_server(server, s3_bucket, "up/stalled.bin") is None
    assert open_uploads(server, s3_bucket) == []


# --- the server itself goes away ------------------------------------------------------------------


def test_faults_same_store_recovers_after_the_server_is_killed_and_restarted(
    s3_server: LocalS3Server, s3_bucket: str
) -> None:
    store = AutoStore(f"s3://{s3_bucket}", **fault_options(s3_server, s3_server.endpoint_url, max_retries=1))
    store["before.bin"] = b"written before the crash"
    assert store["before.bin"] == b"written before the crash"  # the connection pool now holds a connection
    s3_server.kill()
    try:
        with pytest.raises(TransferError) as failure:
            store["before.bin"]
        assert f"s3://{s3_bucket}/before.bin" in str(failure.value)
        with pytest.raises(TransferError):
            store["during.bin"] = b"cannot be written"
    finally:
        s3_server.restart()
    assert store["before.bin"] == b"written before the crash"
    store["after.bin"] = b"written after the restart"
    assert store["after.bin"] == b"written after the restart"
    assert sorted(store.keys()) == ["after", "before"]


# --- LIST answered 403 or 404 -----------------------------------------------------------------------


def test_faults_listing_refused_or_missing_bucket_raise_builtin_errors(
    s3_server: LocalS3Server, s3_bucket: str, proxy: FaultProxy
) -> None:
    missing = f"missing-{uuid.uuid4().hex}"
    store = _core.Store(
        f"s3://{missing}",
        access_key_id=s3_server.access_key_id,
        secret_access_key=s3_server.secret_access_key,
        endpoint=s3_server.endpoint_url,
        region=s3_server.region,
        max_retries=1,
        retry_delay=0.05,
    )
    with pytest.raises(FileNotFoundError) as not_found:
        store.list("")
    assert isinstance(not_found.value, AutoStoreError)
    assert f"s3://{missing}" in str(not_found.value)

    wrong_secret = _core.Store(
        f"s3://{s3_bucket}",
        access_key_id=s3_server.access_key_id,
        secret_access_key="not-the-secret",
        endpoint=s3_server.endpoint_url,
        region=s3_server.region,
        max_retries=1,
        retry_delay=0.05,
    )
    with pytest.raises(PermissionError) as refused:
        wrong_secret.list("some/prefix")
    assert isinstance(refused.value, AutoStoreError)
    assert f"s3://{s3_bucket}/some/prefix" in str(refused.value)
    assert "not-the-secret" not in str(refused.value)

    through_proxy = AutoStore(f"s3://{s3_bucket}", **fault_options(s3_server, proxy.endpoint_url))
    forbidden = proxy.fail(403, times=None, method="GET", target=r"list-type=2")
    with pytest.raises(PermissionError) as refused:
        list(through_proxy.keys())
    assert f"s3://{s3_bucket}" in str(refused.value)
    assert forbidden.applied >= 1
