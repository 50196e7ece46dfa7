"""Atomicity of writes: a failed write (handler or network), racing writers and a writer killed with
SIGKILL all leave one complete value at the key, on a local root and on S3 with and without a cache.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from concurrency_support import (
    StoreSpec,
    check_payload,
    describe,
    make_payload,
    stray_files,
    write_payloads,
)
from polars.testing import assert_frame_equal

from autostore import AutoStore
from autostore.autostore import DataHandler
from autostore.exceptions import AutoStoreError, HandlerError
from autostore.testing import LocalS3Server

MIB = 1024 * 1024
PART_SIZE = 5 * MIB
"""The smallest multipart threshold and part size S3 allows: big values really go in parts."""

THREADS = 16
THREAD_VALUE_SIZE = 1 * MIB
PROCESSES = 4
WRITES_PER_PROCESS = 2
PROCESS_VALUE_SIZE = 6 * MIB
JOIN_TIMEOUT_SECONDS = 120.0

CRASH_ROUNDS = 4
CRASH_VALUE_SIZE = {"local": 32 * MIB, "s3": 3 * PART_SIZE}
CHILD_READY_TIMEOUT_SECONDS = 60.0
SETTLE_INTERVAL_SECONDS = 0.3
SETTLE_TIMEOUT_SECONDS = 10.0

KINDS = ["local", "s3", "s3-cached"]
REMOTE_KINDS = ["s3", "s3-cached"]


def _spec(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> StoreSpec:
    if kind == "local":
        return StoreSpec(str(tmp_path / "root"))
    bucket = request.getfixturevalue("s3_bucket")
    options: dict[str, Any] = {
        **request.getfixturevalue("s3_options"),
        "multipart_threshold": PART_SIZE,
        "multipart_chunksize": PART_SIZE,
        "max_concurrency": 4,
        "max_retries": 1,
        "retry_delay": 0.1,
        "timeout": 10.0,
    }
    if kind == "s3-cached":
        options.update(cache_enabled=True, cache_dir=str(tmp_path / "cache"))
    return StoreSpec(f"s3://{bucket}/atomic", options)


@pytest.fixture(params=KINDS)
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSpec:
    """A shared store root: a local directory, an S3 prefix, or an S3 prefix with a cache."""
    return _spec(request.param, request, tmp_path)


@pytest.fixture(params=REMOTE_KINDS)
def remote_spec(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSpec:
    """An S3 prefix, with and without a cache."""
    return _spec(request.param, request, tmp_path)


def every_object(spec: StoreSpec) -> list[str]:
    """Every object under the root as the core lists it, temporaries included (no filtering)."""
    if "://" not in spec.uri:
        root = Path(spec.uri)
        return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())
    view = spec.open_uncached().primary_backend
    return sorted(meta.key[len(view.prefix) :] for meta in view.backend.store.list(view.prefix))


def assert_no_strays(spec: StoreSpec, expected: list[str]) -> None:
    """The root holds exactly ``expected`` objects: no temporary file, no partial object."""
    assert every_object(spec) == sorted(expected)
    if "://" not in spec.uri:
        assert stray_files(Path(spec.uri)) == []


def assert_cache_agrees(spec: StoreSpec, key: str) -> None:
    """A read through a (new) cached store gives what the server holds."""
    if not spec.cached:
        return
    truth = spec.open_uncached()[key]
    seen = spec.open()[key]
    assert seen == truth, f"cache serves {describe(seen)}, server holds {describe(truth)}"


# --- a write the handler fails --------------------------------------------------------------------


class Unpicklable:
    """Pickling it fails after everything before it in a list has been written to the file."""

    def __getstate__(self) -> Any:
        raise RuntimeError("this object refuses to be pickled")


class HalfWrite:
    """A value whose handler writes half of ``payload`` to the file, then fails when ``fail``."""

    def __init__(self, payload: bytes, *, fail: bool) -> None:
        self.payload = payload
        self.fail = fail


class HalfWriteHandler(DataHandler):
    """A custom handler that leaves a partial file behind and raises, as a buggy plugin would."""

    def can_handle_extension(self, extension: str) -> bool:
        return extension.lower() == ".half"

    def can_handle_data(self, data: Any) -> bool:
        return isinstance(data, HalfWrite)

    def read_from_file(self, file_path: Path, file_extension: str) -> Any:
        return file_path.read_bytes()

    def write_to_file(self, data: Any, file_path: Path, file_extension: str) -> None:
        if not data.fail:
            file_path.write_bytes(data.payload)
            return
        file_path.write_bytes(data.payload[: len(data.payload) // 2])
        raise RuntimeError("the plugin crashed halfway through the file")

    @property
    def extensions(self) -> list[str]:
        return [".half"]

    @property
    def priority(self) -> int:
        return 5


def _object_frame() -> pl.DataFrame:
    return pl.DataFrame({"a": [object(), object()]}, schema={"a": pl.Object})


# key, old value, new value the handler fails on, how to compare two values read back
FAILING_WRITES: list[tuple[str, Callable[[], Any], Callable[[], Any], Callable[[Any, Any], None]]] = [
    ("frame.parquet", lambda: pl.DataFrame({"a": [1, 2, 3]}), _object_frame, assert_frame_equal),
    (
        "blob.pkl",
        lambda: {"version": "old"},
        lambda: [b"x" * (2 * MIB), Unpicklable()],
        lambda a, b: (a == b) or pytest.fail(f"{a!r} != {b!r}"),
    ),
    (
        "lines.jsonl",
        lambda: [{"version": "old"}],
        lambda: [{"i": i} for i in range(5000)] + [{"too big to encode": 10**5000}],
        lambda a, b: (a == b) or pytest.fail(f"{a!r} != {b!r}"),
    ),
    (
        "doc.json",
        lambda: {"version": "old"},
        lambda: {"too big to encode": 10**5000},
        lambda a, b: (a == b) or pytest.fail(f"{a!r} != {b!r}"),
    ),
    (
        "plugin.half",
        lambda: b"old value",
        lambda: HalfWrite(b"new" * MIB, fail=True),
        lambda a, b: (a == b) or pytest.fail(f"{describe(a)} != {describe(b)}"),
    ),
]


@pytest.mark.parametrize(("key", "old", "new", "same"), FAILING_WRITES, ids=[w[0] for w in FAILING_WRITES])
def test_a_write_the_handler_fails_leaves_the_previous_value(
    spec: StoreSpec,
    key: str,
    old: Callable[[], Any],
    new: Callable[[], Any],
    same: Callable[[Any, Any], None],
) -> None:
    store = spec.open()
    store.register_handler(HalfWriteHandler())
    old_value = old()
    store[key] = HalfWrite(old_value, fail=False) if key.endswith(".half") else old_value

    with pytest.raises((HandlerError, TypeError, RuntimeError)) as failure:
        store[key] = new()

    if not isinstance(failure.value, RuntimeError):  # a custom handler's own error propagates as is
        assert key in str(failure.value), f"the error does not name the key: {failure.value}"
    same(store[key], old_value)
    fresh = spec.open_uncached()
    fresh.register_handler(HalfWriteHandler())
    same(fresh[key], old_value)
    assert_no_strays(spec, [key])


def test_a_failed_write_of_a_new_key_leaves_nothing(spec: StoreSpec) -> None:
    store = spec.open()
    with pytest.raises(HandlerError):
        store["nested/dir/frame.parquet"] = _object_frame()
    with pytest.raises(HandlerError):
        store["nested/blob"] = [b"x" * MIB, Unpicklable()]
    assert store.keys() == []
    assert_no_strays(spec, [])


# --- a write the network fails --------------------------------------------------------------------


@pytest.mark.parametrize("size", [1024, 3 * PART_SIZE], ids=["single-request", "multipart"])
def test_a_write_to_a_stopped_server_leaves_the_previous_value(
    remote_spec: StoreSpec, s3_server: LocalS3Server, size: int
) -> None:
    store = remote_spec.open()
    store["value"] = make_payload(1, 1, size)
    store["doc"] = {"version": "old"}

    s3_server.kill()
    try:
        with pytest.raises((AutoStoreError, OSError)) as failure:
            store["value"] = make_payload(1, 2, size)
        assert "value" in str(failure.value)
        with pytest.raises((AutoStoreError, OSError)):
            store["doc"] = {"version": "new"}
    finally:
        s3_server.restart()

    # The same store recovers, and a store that never saw the failure agrees.
    assert check_payload(store["value"]) == (1, 1)
    assert store["doc"] == {"version": "old"}
    assert check_payload(remote_spec.open_uncached()["value"]) == (1, 1)
    assert_cache_agrees(remote_spec, "value")
    assert_no_strays(remote_spec, ["doc.json", "value.bin"])


def test_a_write_to_a_closed_port_fails_cleanly(tmp_path: Path) -> None:
    with closed_port() as port:
        store = AutoStore(
            "s3://bucket/prefix",
            endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id="AKNOBODY",
            aws_secret_access_key="nobody-secret",
            region_name="us-east-1",
            max_retries=1,
            retry_delay=0.05,
            cache_enabled=True,
            cache_dir=str(tmp_path / "cache"),
        )
        with pytest.raises((AutoStoreError, OSError)) as failure:
            store["value"] = b"never stored"
    assert "value" in str(failure.value)
    assert "nobody-secret" not in str(failure.value)
    cached = [path for path in (tmp_path / "cache").rglob("*") if path.is_file() and "index" not in path.name]
    assert cached == [], f"a failed write left files in the cache: {cached}"


@contextmanager
def closed_port() -> Iterator[int]:
    """A local TCP port that nothing listens on while the block runs (bound, never listening)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as bound:
        bound.bind(("127.0.0.1", 0))
        yield int(bound.getsockname()[1])


def test_a_server_killed_during_a_multipart_write_leaves_old_or_new(
    remote_spec: StoreSpec, s3_server: LocalS3Server
) -> None:
    store = remote_spec.open()
    store["value"] = make_payload(1, 1, 3 * PART_SIZE)
    outcome: list[BaseException | None] = []

    def write_new() -> None:
        try:
            store["value"] = make_payload(1, 2, 3 * PART_SIZE)
        except BaseException as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    writer = threading.Thread(target=write_new)
    writer.start()
    time.sleep(random.uniform(0.01, 0.2))
    s3_server.kill()
    writer.join(JOIN_TIMEOUT_SECONDS)
    s3_server.restart()
    assert not writer.is_alive(), "the write did not give up after the server died"

    held = check_payload(remote_spec.open_uncached()["value"])
    if outcome[0] is None:
        assert held == (1, 2), "a write that returned is not on the server"
    else:
        assert isinstance(outcome[0], (AutoStoreError, OSError)), repr(outcome[0])
        assert held in {(1, 1), (1, 2)}
    assert check_payload(store["value"]) == held
    assert_cache_agrees(remote_spec, "value")
    assert every_object(remote_spec) == ["value.bin"]


# --- writers racing on one key --------------------------------------------------------------------


def test_racing_threads_leave_one_complete_value(spec: StoreSpec) -> None:
    store = spec.open()
    start = threading.Barrier(THREADS)
    failures: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            payload = make_payload(writer, 1, THREAD_VALUE_SIZE)
            start.wait()
            store["contended"] = payload
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(writer,)) for writer in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT_SECONDS)
    assert not any(thread.is_alive() for thread in threads), "a writer hung"
    assert failures == []

    writer, _ = check_payload(spec.open_uncached()["contended"])
    assert 0 <= writer < THREADS
    assert check_payload(store["contended"]) == (writer, 1)
    assert_cache_agrees(spec, "contended")
    assert_no_strays(spec, ["contended.bin"])


def test_racing_processes_leave_one_complete_value(spec: StoreSpec) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(PROCESSES) as pool:
        pending = [
            pool.apply_async(
                write_payloads, (spec, writer, "contended", WRITES_PER_PROCESS, PROCESS_VALUE_SIZE)
            )
            for writer in range(PROCESSES)
        ]
        written = {pair for result in pending for pair in result.get(JOIN_TIMEOUT_SECONDS)}

    assert len(written) == PROCESSES * WRITES_PER_PROCESS
    held = check_payload(spec.open_uncached()["contended"])
    assert held in written
    assert check_payload(spec.open()["contended"]) == held
    assert_cache_agrees(spec, "contended")
    assert_no_strays(spec, ["contended.bin"])


# --- a writer killed mid-write --------------------------------------------------------------------

_CRASH_CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
from concurrency_support import StoreSpec, make_payload
spec = StoreSpec(**json.loads(sys.argv[2]))
store = spec.open()
payload = make_payload(int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
print("ready", flush=True)
store["crash"] = payload
print("done", flush=True)
"""


def _crash_writer(spec: StoreSpec, writer: int, sequence: int, size: int) -> subprocess.Popen[str]:
    arguments = [str(Path(__file__).parent), json.dumps(vars(spec)), str(writer), str(sequence), str(size)]
    return subprocess.Popen(
        [sys.executable, "-c", _CRASH_CHILD, *arguments], stdout=subprocess.PIPE, text=True
    )


def settled_value(spec: StoreSpec, key: str) -> tuple[int, int]:
    """The id of the payload the server holds once it stops changing.

    A PUT whose body already sat in the kernel's socket buffer when its writer was killed is still
    delivered and committed a moment later: that is the new value winning, not a torn write.
    """
    store = spec.open_uncached()
    held = check_payload(store[key])
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(SETTLE_INTERVAL_SECONDS)
        again = check_payload(store[key])
        if again == held:
            return held
        held = again
    pytest.fail(f"{spec.uri}/{key} kept changing for {SETTLE_TIMEOUT_SECONDS} s after its writer died")


def test_a_writer_killed_mid_write_leaves_old_or_new(spec: StoreSpec) -> None:
    size = CRASH_VALUE_SIZE["local" if "://" not in spec.uri else "s3"]
    store = spec.open()
    began = time.monotonic()
    store["crash"] = make_payload(0, 0, size)
    write_seconds = time.monotonic() - began
    held = (0, 0)
    outcomes = []

    for round_number in range(1, CRASH_ROUNDS + 1):
        child = _crash_writer(spec, 100, round_number, size)
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
            # Anywhere from before the first byte to about when a full write ends.
            time.sleep(random.uniform(0.0, write_seconds))
            child.send_signal(signal.SIGKILL)
        finally:
            child.wait(CHILD_READY_TIMEOUT_SECONDS)
        finished = child.returncode == 0

        now_held = settled_value(spec, "crash")
        assert now_held in {held, (100, round_number)}, f"round {round_number}: {now_held}"
        if finished:
            assert now_held == (100, round_number)
        assert check_payload(spec.open()["crash"]) == now_held
        assert_cache_agrees(spec, "crash")
        assert spec.open().keys() == ["crash"]
        assert list(spec.open().list_files("**")) == ["crash.bin"]
        outcomes.append("completed" if finished else ("new" if now_held != held else "old"))
        held = now_held
    print(f"crash rounds ({spec.uri}): {outcomes}")
    if "://" in spec.uri:
        assert every_object(spec) == ["crash.bin"]
