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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from faultproxy import FaultProxy

from autostore import AutoPath, AutoStore, _core
from autostore.exceptions import AutoStoreError, TransferError, TransferTimeoutError
from autostore.testing import LocalS3Server

MIB = 1024 * 1024
PART = 5 * MIB


@dataclass
class Rig:
    """The session server, a new bucket on it, a fault proxy in front of it and a direct boto3 client."""

    s3: LocalS3Server
    bucket: str
    proxy: FaultProxy
    direct: Any
    tmp: Path

    def options(self, *, through_proxy: bool = True, **overrides: Any) -> dict[str, Any]:
        """S3 options tuned to fail fast, reaching the server through the proxy unless told otherwise."""
        endpoint = self.proxy.endpoint_url if through_proxy else self.s3.endpoint_url
        options = self.s3.s3_options(
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

    def store(self, **overrides: Any) -> AutoStore:
        return AutoStore(f"s3://{self.bucket}", **self.options(**overrides))

    def core_store(self, bucket: str | None = None, **overrides: Any) -> _core.Store:
        settings: dict[str, Any] = {
            "access_key_id": self.s3.access_key_id,
            "secret_access_key": self.s3.secret_access_key,
            "endpoint": self.proxy.endpoint_url,
            "region": self.s3.region,
            "timeout": 1.0,
            "max_retries": 1,
            "retry_delay": 0.05,
        }
        settings.update(overrides)
        return _core.Store(f"s3://{bucket or self.bucket}", **settings)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def put(self, key: str, data: bytes) -> None:
        self.direct.put_object(Bucket=self.bucket, Key=key, Body=data)

    def on_server(self, key: str) -> bytes | None:
        """The object's bytes as the server has them, or ``None``."""
        try:
            return self.direct.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self.direct.exceptions.NoSuchKey:
            return None

    def warm_up(self) -> None:
        """Write and delete one object directly, with a generous timeout.

        SeaweedFS can take many seconds to accept its first write after a restart (it sets up
        volumes again); the 1 s timeouts of these tests are for the faults, not for that.
        """
        self.direct.put_object(Bucket=self.bucket, Key="warm-up", Body=b"w")
        self.direct.delete_object(Bucket=self.bucket, Key="warm-up")

    def open_uploads(self) -> list[str]:
        """Keys of the multipart uploads started and neither completed nor aborted."""
        answer = self.direct.list_multipart_uploads(Bucket=self.bucket)
        return [upload["Key"] for upload in answer.get("Uploads", [])]

    def source(self, size: int) -> tuple[Path, bytes]:
        """A local file of ``size`` random bytes."""
        data = os.urandom(size)
        path = self.tmp / "source" / f"{size}.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        return path, data


@pytest.fixture
def rig(s3_server: LocalS3Server, s3_bucket: str, tmp_path: Path) -> Iterator[Rig]:
    direct = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint_url,
        aws_access_key_id=s3_server.access_key_id,
        aws_secret_access_key=s3_server.secret_access_key,
        region_name=s3_server.region,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, read_timeout=120),
    )
    with FaultProxy(s3_server.port) as proxy:
        rig = Rig(s3_server, s3_bucket, proxy, direct, tmp_path)
        rig.warm_up()  # another test may have restarted this worker's server
        yield rig


def leftovers(directory: Path) -> list[str]:
    """Every file under ``directory`` (partial downloads and temp files included), relative names."""
    if not directory.exists():
        return []
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*") if path.is_file())


# --- transient faults: retried, data intact -----------------------------------------------------


def test_faults_small_reads_writes_and_listing_retry_transient_errors(rig: Rig) -> None:
    store = rig.store()
    payload = os.urandom(64 * 1024)

    refused_puts = rig.proxy.fail(503, times=2, method="PUT")
    store["blob.bin"] = payload
    assert refused_puts.applied == 2
    assert rig.on_server("blob.bin") == payload

    refused_gets = rig.proxy.fail(500, times=2, method="GET")
    assert store["blob.bin"] == payload
    assert refused_gets.applied == 2

    dropped = rig.proxy.drop(after_bytes=1000, times=1, method="GET")
    assert store["blob.bin"] == payload
    assert dropped.applied == 1

    for index in range(5):
        rig.put(f"dir/k{index}.bin", bytes([index]) * 10)
    refused_lists = rig.proxy.fail(503, times=2, method="GET", target=r"list-type=2")
    assert sorted(store.keys()) == ["blob", *(f"dir/k{index}" for index in range(5))]
    assert refused_lists.applied == 2
    assert len(rig.proxy.faulted()) == 7


def test_faults_listing_survives_a_dropped_or_stalled_response_body(rig: Rig) -> None:
    keys = [f"many/{index:03d}.bin" for index in range(40)]
    for key in keys:
        rig.put(key, b"x")
    store = rig.core_store(max_retries=2)
    dropped = rig.proxy.drop(after_bytes=500, times=1, method="GET", target=r"list-type=2")
    assert [meta.key for meta in store.list("many")] == keys
    assert dropped.applied == 1
    # A body that stops for longer than the timeout is retried like one that breaks off.
    stalled = rig.proxy.stall(600, after_bytes=500, times=1, method="GET", target=r"list-type=2")
    assert [meta.key for meta in store.list("many")] == keys
    assert stalled.applied == 1
    dropped = rig.proxy.drop(after_bytes=100, times=1, method="GET", target=r"list-type=2")
    assert {meta.key for meta in store.glob("many/*.bin")} == set(keys)
    assert dropped.applied == 1


def test_faults_multipart_upload_retries_part_resets_and_5xx(rig: Rig) -> None:
    source, data = rig.source(3 * PART - 12345)
    resets = rig.proxy.reset_part_uploads(after_bytes=256 * 1024, times=2)
    refused_create = rig.proxy.fail(503, times=1, method="POST", target=r"\?uploads")
    refused_part = rig.proxy.fail(500, times=1, method="PUT", target=r"partNumber=")
    refused_complete = rig.proxy.fail(503, times=1, method="POST", target=r"uploadId=")
    AutoPath(rig.uri("up/big.bin"), store=rig.store()).upload_from(source)

    applied = (resets.applied, refused_create.applied, refused_part.applied, refused_complete.applied)
    assert applied == (2, 1, 1, 1)
    # Three parts plus three failed attempts; a server slowed by the broken uploads may add timeouts.
    assert len(rig.proxy.requests("PUT", r"partNumber=")) >= 3 + 3
    assert rig.on_server("up/big.bin") == data
    assert rig.open_uploads() == []


def test_faults_parallel_download_survives_dropped_bodies_and_a_short_stall(rig: Rig) -> None:
    data = os.urandom(3 * PART - 777)
    rig.put("dl/big.bin", data)
    drops = rig.proxy.drop(after_bytes=MIB, times=2, method="GET")
    refused = rig.proxy.fail(503, times=1, method="GET")
    stall = rig.proxy.stall(0.3, after_bytes=2 * MIB, times=1, method="GET")
    destination = rig.tmp / "out" / "big.bin"
    AutoPath(rig.uri("dl/big.bin"), store=rig.store()).download_to(destination)

    assert destination.read_bytes() == data
    assert (drops.applied, refused.applied, stall.applied) == (2, 1, 1)
    ranged = [entry for entry in rig.proxy.requests("GET") if entry.status == 206]
    assert len(ranged) >= 2  # the parts beyond the first came from ranged GETs
    assert leftovers(rig.tmp / "out") == ["big.bin"]


# --- permanent faults: a clear error, nothing left behind -----------------------------------------


def test_faults_permanent_part_resets_fail_and_abort_the_upload(rig: Rig) -> None:
    source, _ = rig.source(2 * PART + 1)
    resets = rig.proxy.reset_part_uploads(times=None)
    with pytest.raises(TransferError) as failure:
        AutoPath(rig.uri("up/never.bin"), store=rig.store(max_retries=2)).upload_from(source)
    assert rig.uri("up/never.bin") in str(failure.value)
    assert resets.applied >= 3
    assert rig.on_server("up/never.bin") is None
    assert rig.open_uploads() == []


def test_faults_permanent_failure_to_complete_aborts_the_upload(rig: Rig) -> None:
    source, _ = rig.source(PART + 1)
    refused = rig.proxy.fail(500, times=None, method="POST", target=r"uploadId=")
    with pytest.raises(TransferError) as failure:
        AutoPath(rig.uri("up/incomplete.bin"), store=rig.store(max_retries=1)).upload_from(source)
    assert rig.uri("up/incomplete.bin") in str(failure.value)
    assert refused.applied == 2
    assert rig.on_server("up/incomplete.bin") is None
    assert rig.open_uploads() == []


def test_faults_permanent_write_failure_keeps_the_previous_value(rig: Rig) -> None:
    store = rig.store(max_retries=1, cache_enabled=True, cache_dir=rig.tmp / "cache")
    store["value.bin"] = b"old value"
    rig.proxy.fail(503, times=None, method="PUT")
    with pytest.raises(TransferError) as failure:
        store["value.bin"] = b"new value"
    assert rig.uri("value.bin") in str(failure.value)
    with pytest.raises(TransferError):
        store["other.bin"] = b"never stored"
    rig.proxy.clear()
    assert rig.on_server("value.bin") == b"old value"
    assert rig.on_server("other.bin") is None
    assert store["value.bin"] == b"old value"
    assert "other" not in store


@pytest.mark.parametrize("size", [64 * 1024, 3 * PART], ids=["small", "multipart"])
def test_faults_permanent_dropped_downloads_fail_and_leave_no_file_or_cache_entry(
    rig: Rig, size: int
) -> None:
    data = os.urandom(size)
    rig.put("dl/value.bin", data)
    cache_dir = rig.tmp / "cache"
    cached = rig.store(max_retries=2, cache_enabled=True, cache_dir=cache_dir)
    plain = rig.store(max_retries=2)
    uri = rig.uri("dl/value.bin")
    drops = rig.proxy.drop(after_bytes=1000, times=None, method="GET")

    destination = rig.tmp / "out" / "value.bin"
    with pytest.raises(TransferError) as failure:
        AutoPath(uri, store=plain).download_to(destination)
    assert uri in str(failure.value)
    assert leftovers(rig.tmp / "out") == []

    with pytest.raises(TransferError) as failure:
        cached["dl/value.bin"]
    assert uri in str(failure.value)
    assert drops.applied >= 6
    assert [name for name in leftovers(cache_dir) if name.startswith("objects")] == []

    rig.proxy.clear()
    assert cached["dl/value.bin"] == data
    assert AutoPath(uri, store=plain).download_to(destination).read_bytes() == data
    assert leftovers(rig.tmp / "out") == ["value.bin"]


def test_faults_permanent_5xx_fail_with_the_uri_after_the_configured_retries(rig: Rig) -> None:
    rig.put("k.bin", b"value")
    store = rig.store(max_retries=2)
    refused = rig.proxy.fail(503, times=None)
    with pytest.raises(TransferError) as failure:
        store["k.bin"]
    assert rig.uri("k.bin") in str(failure.value)
    assert "503" in str(failure.value)
    assert refused.applied == 3  # the request and max_retries retries, then the error
    with pytest.raises(AutoStoreError) as failure:
        list(store.keys())
    assert f"s3://{rig.bucket}" in str(failure.value)


# --- stalls longer than the timeout ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("after_bytes", "key"),
    [(None, "small.bin"), (256 * 1024, "small.bin"), (256 * 1024, "big.bin")],
    ids=["before-head", "mid-body", "mid-ranged-body"],
)
def test_faults_stall_longer_than_the_timeout_raises_a_timeout(
    rig: Rig, after_bytes: int | None, key: str
) -> None:
    rig.put("small.bin", os.urandom(MIB))
    rig.put("big.bin", os.urandom(2 * PART))
    # Far longer than the 1 s timeout: only the timeout can end the read.
    stalls = rig.proxy.stall(600, after_bytes=after_bytes, times=None, method="GET")
    destination = rig.tmp / "out" / key
    with pytest.raises(TransferTimeoutError) as failure:
        AutoPath(rig.uri(key), store=rig.store(max_retries=1)).download_to(destination)
    assert isinstance(failure.value, TimeoutError)
    message = str(failure.value)
    assert rig.uri(key) in message
    assert "timed out: no progress for 1 s" in message
    assert stalls.applied >= 2
    assert leftovers(rig.tmp / "out") == []


def test_faults_stalled_part_upload_times_out_and_is_aborted(rig: Rig) -> None:
    source, _ = rig.source(PART + 1)
    stalls = rig.proxy.stall(600, times=None, method="PUT", target=r"partNumber=")
    with pytest.raises(TimeoutError) as failure:
        AutoPath(rig.uri("up/stalled.bin"), store=rig.store(max_retries=1)).upload_from(source)
    assert rig.uri("up/stalled.bin") in str(failure.value)
    assert stalls.applied >= 2
    assert rig.on_server("up/stalled.bin") is None
    assert rig.open_uploads() == []


def test_faults_slow_transfers_longer_than_the_timeout_succeed(s3_server: LocalS3Server, rig: Rig) -> None:
    # A small receive buffer at the proxy keeps the kernel from absorbing the throttled upload: the
    # client itself must send slowly, as over a slow link. What stays buffered (a few MiB on
    # loopback) drains well within the timeout; the whole part takes twice the timeout.
    with FaultProxy(s3_server.port, receive_buffer=64 * 1024) as slow_link:
        store = rig.store(
            endpoint_url=slow_link.endpoint_url, timeout=1.5, max_retries=0, multipart_chunksize=36 * MIB
        )
        source, data = rig.source(36 * MIB + 1)
        throttled = slow_link.throttle(12 * MIB, times=None, method="PUT", target=r"partNumber=1&")
        AutoPath(rig.uri("slow/up.bin"), store=store).upload_from(source)
        assert throttled.applied == 1
        [part] = slow_link.requests("PUT", r"partNumber=1&")
        assert part.finished is not None
        assert part.finished - part.started > 1.5 * 1.5
        assert rig.on_server("slow/up.bin") == data

        rig.put("slow/down.bin", data[: 4 * MIB])
        slow_link.clear()
        throttled = slow_link.throttle(2 * MIB, times=None, method="GET")
        assert store["slow/down.bin"] == data[: 4 * MIB]
        assert throttled.applied == 1


# --- the server itself goes away ------------------------------------------------------------------


def test_faults_same_store_recovers_after_the_server_is_killed_and_restarted(rig: Rig) -> None:
    store = rig.store(through_proxy=False, max_retries=1)
    store["before.bin"] = b"written before the crash"
    assert store["before.bin"] == b"written before the crash"  # the pool now holds a connection
    rig.s3.kill()
    try:
        with pytest.raises(TransferError) as failure:
            store["before.bin"]
        assert rig.uri("before.bin") in str(failure.value)
        with pytest.raises(TransferError):
            store["during.bin"] = b"cannot be written"
    finally:
        rig.s3.restart()
    rig.warm_up()
    assert store["before.bin"] == b"written before the crash"
    store["after.bin"] = b"written after the restart"
    assert store["after.bin"] == b"written after the restart"
    assert sorted(store.keys()) == ["after", "before"]


# --- LIST answered 403 or 404 -----------------------------------------------------------------------


def test_faults_listing_refused_or_missing_bucket_raise_builtin_errors(rig: Rig) -> None:
    missing = f"missing-{uuid.uuid4().hex}"
    with pytest.raises(FileNotFoundError) as not_found:
        rig.core_store(missing, endpoint=rig.s3.endpoint_url).list("")
    assert isinstance(not_found.value, AutoStoreError)
    assert f"s3://{missing}" in str(not_found.value)
    assert "NoSuchBucket" in str(not_found.value)

    wrong_secret = rig.core_store(endpoint=rig.s3.endpoint_url, secret_access_key="not-the-secret")
    with pytest.raises(PermissionError) as refused:
        wrong_secret.list("some/prefix")
    assert isinstance(refused.value, AutoStoreError)
    assert rig.uri("some/prefix") in str(refused.value)
    assert "not-the-secret" not in str(refused.value)

    forbidden = rig.proxy.fail(403, times=None, method="GET", target=r"list-type=2")
    with pytest.raises(PermissionError) as refused:
        list(rig.store().keys())
    assert f"s3://{rig.bucket}" in str(refused.value)
    assert forbidden.applied >= 1
