"""The on-disk cache (``autostore._core.Cache``) against the local S3 server: freshness, ETag
revalidation, write-through, several processes at once and crashes mid-download."""

from __future__ import annotations

import hashlib
import multiprocessing
import multiprocessing.queues
import multiprocessing.synchronize
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from autostore._core import Cache, Store
from autostore.exceptions import InvalidConfigError, InvalidKeyError, ObjectNotFoundError
from autostore.testing import LocalS3Server

MIB = 1024 * 1024


def s3_store(server: LocalS3Server, bucket: str, **options: object) -> Store:
    """A core store on ``bucket`` of ``server``; no retries, so an unexpected request fails fast."""
    return Store(
        f"s3://{bucket}",
        endpoint=server.endpoint_url,
        access_key_id=server.access_key_id,
        secret_access_key=server.secret_access_key,
        region=server.region,
        max_retries=0,
        **options,
    )


@pytest.fixture
def store(s3_server: LocalS3Server, s3_bucket: str) -> Store:
    """A core store on a fresh bucket of the session server."""
    return s3_store(s3_server, s3_bucket)


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    """A cache in a fresh directory."""
    return Cache(tmp_path / "cache")


class Transfers:
    """A progress callback recording every byte count it is told about."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int | None]] = []

    def __call__(self, done: int, total: int | None) -> None:
        self.calls.append((done, total))

    @property
    def bytes(self) -> int:
        """The last byte count reported (0 when nothing moved)."""
        return self.calls[-1][0] if self.calls else 0


def versioned(key: str, version: int, size: int) -> bytes:
    """Self-checking content: a header naming key and version, then filler derived from it."""
    header = f"{key}|{version}|".encode()
    seed = hashlib.sha256(header).digest()
    filler = (seed * (size // len(seed) + 1))[: size - len(header)]
    return header + filler


def is_intact(data: bytes) -> bool:
    """Whether ``data`` is exactly one complete :func:`versioned` payload."""
    parts = data.split(b"|", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return False
    return data == versioned(parts[0].decode(), int(parts[1]), len(data))


def hidden_files(cache: Cache) -> list[Path]:
    """Temporaries (hidden files) under the cache's object directory."""
    return [path for path in Path(cache.root, "objects").rglob(".*") if path.is_file()]


def test_a_fresh_entry_is_served_with_the_server_down(
    s3_server: LocalS3Server, store: Store, cache: Cache
) -> None:
    store.put("data/report.json", b'{"a": 1}')
    first = cache.fetch(store, "data/report.json")
    assert not first.hit
    assert first.path.endswith(".json")
    s3_server.kill()
    try:
        served = cache.fetch(store, "data/report.json", expiry_seconds=3600)
        assert served.hit
        assert served.path == first.path
        assert Path(served).read_bytes() == b'{"a": 1}'
        assert served.etag == first.etag
    finally:
        s3_server.restart()
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.revalidations) == (1, 1, 0)


def test_expiry_zero_never_revalidates(store: Store, cache: Cache) -> None:
    store.put("k.txt", b"old")
    cache.fetch(store, "k.txt", expiry_seconds=0)
    store.put("k.txt", b"new")
    time.sleep(0.3)
    served = cache.fetch(store, "k.txt", expiry_seconds=0)
    assert served.hit
    assert Path(served.path).read_bytes() == b"old"
    assert cache.stats().revalidations == 0


def test_a_remote_change_is_picked_up_after_expiry(store: Store, cache: Cache) -> None:
    store.put("k.txt", b"version 1")
    first = cache.fetch(store, "k.txt", expiry_seconds=0.5)
    changed = store.put("k.txt", b"version 2, longer")
    assert Path(cache.fetch(store, "k.txt", expiry_seconds=0.5).path).read_bytes() == b"version 1"
    time.sleep(0.6)
    transfers = Transfers()
    served = cache.fetch(store, "k.txt", expiry_seconds=0.5, progress=transfers)
    assert not served.hit
    assert served.etag == changed.etag != first.etag
    assert Path(served.path).read_bytes() == b"version 2, longer"
    assert transfers.bytes == len(b"version 2, longer")
    assert cache.entry(store, "k.txt").size == len(b"version 2, longer")


def test_a_304_revalidation_transfers_no_body(store: Store, cache: Cache) -> None:
    store.put("blob.bin", os.urandom(2 * MIB))
    first = cache.fetch(store, "blob.bin", expiry_seconds=0.2)
    before = os.stat(first.path)
    validated = cache.entry(store, "blob.bin").validated_at
    time.sleep(0.3)
    transfers = Transfers()
    served = cache.fetch(store, "blob.bin", expiry_seconds=0.2, progress=transfers)
    assert served.hit
    assert transfers.bytes == 0
    after = os.stat(served.path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert cache.entry(store, "blob.bin").validated_at > validated
    stats = cache.stats()
    assert (stats.misses, stats.revalidations) == (1, 1)


def test_write_through_serves_the_upload_without_a_transfer(
    s3_server: LocalS3Server, s3_bucket: str, cache: Cache, tmp_path: Path
) -> None:
    # Small parts so the 6 MiB file goes up as a multipart upload, whose ETag differs in form.
    store = s3_store(s3_server, s3_bucket, multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    for key, size in [("small.bin", 1000), ("large.bin", 6 * MIB)]:
        source = tmp_path / key
        source.write_bytes(os.urandom(size))
        result = cache.upload(store, source, key)
        assert source.exists()
        transfers = Transfers()
        served = cache.fetch(store, key, progress=transfers)
        assert served.hit
        assert transfers.bytes == 0
        assert served.etag == result.etag == store.head(key).etag
        assert Path(served.path).read_bytes() == source.read_bytes()
    assert cache.stats().misses == 0

    # The ETag recorded at upload is the one the server compares: a stale entry gets a 304.
    time.sleep(0.1)
    assert cache.fetch(store, "large.bin", expiry_seconds=0.05).hit
    assert cache.stats().revalidations == 1


def test_insert_moves_or_copies_and_invalidation_drops_entries(
    store: Store, cache: Cache, tmp_path: Path
) -> None:
    moved = tmp_path / "moved.json"
    moved.write_bytes(b"{}")
    cache.insert(store, "dir/a.json", moved, etag='"e1"', move=True)
    assert not moved.exists()
    kept = tmp_path / "kept.json"
    kept.write_bytes(b"[]")
    cache.insert(store, "dir/b.json", kept, etag=None)
    assert kept.exists()
    entry = cache.entry(store, "dir/a.json")
    assert entry is not None
    assert (entry.key, entry.etag, entry.size) == ("dir/a.json", '"e1"', 2)
    assert Path(entry.path).read_bytes() == b"{}"
    if os.name == "posix":
        assert stat.S_IMODE(os.stat(entry.path).st_mode) == 0o600

    assert cache.invalidate_prefix(store, "dir/") == 2
    assert cache.entry(store, "dir/b.json") is None
    assert not Path(entry.path).exists()
    cache.insert(store, "c", kept, etag=None)
    cache.invalidate(store, "c")
    assert cache.stats().entries == 0


def test_refresh_downloads_again(store: Store, cache: Cache) -> None:
    store.put("k", b"12345")
    cache.fetch(store, "k")
    transfers = Transfers()
    served = cache.fetch(store, "k", refresh=True, progress=transfers)
    assert not served.hit
    assert transfers.bytes == 5
    assert cache.stats().misses == 2


def test_errors_name_the_key_and_a_deleted_object_drops_its_entry(
    store: Store, cache: Cache, s3_bucket: str
) -> None:
    with pytest.raises(ObjectNotFoundError, match=f"s3://{s3_bucket}/missing.csv"):
        cache.fetch(store, "missing.csv")
    store.put("gone", b"x")
    cache.fetch(store, "gone")
    store.delete("gone")
    with pytest.raises(FileNotFoundError, match=f"s3://{s3_bucket}/gone"):
        cache.fetch(store, "gone", refresh=True)
    assert cache.entry(store, "gone") is None
    with pytest.raises(InvalidKeyError, match="escape"):
        cache.fetch(store, "../escape")
    with pytest.raises(InvalidConfigError, match="expiry_seconds"):
        cache.fetch(store, "gone", expiry_seconds=-1)
    with pytest.raises(InvalidConfigError, match="max_bytes"):
        Cache(cache.root, max_bytes=-5)
    with pytest.raises(ObjectNotFoundError, match="not-there"):
        cache.insert(store, "k", Path(cache.root, "not-there"), etag=None)


def test_two_endpoints_with_the_same_bucket_do_not_share_entries(
    s3_server: LocalS3Server, s3_bucket: str, store: Store, cache: Cache
) -> None:
    store.put("k", b"via 127.0.0.1")
    cache.fetch(store, "k")
    # The same server under another name is, as far as the cache can tell, another endpoint.
    other = Store(
        f"s3://{s3_bucket}",
        endpoint=s3_server.endpoint_url.replace("127.0.0.1", "localhost"),
        access_key_id=s3_server.access_key_id,
        secret_access_key=s3_server.secret_access_key,
        region=s3_server.region,
    )
    assert cache.entry(other, "k") is None
    assert cache.entry(store, "k") is not None


def test_local_stores_are_served_in_place(cache: Cache, tmp_path: Path) -> None:
    root = tmp_path / "files"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "x.csv").write_bytes(b"a,b\n")
    local = Store(root.as_uri())
    served = cache.fetch(local, "sub/x.csv")
    assert served.hit
    assert Path(served.path) == root / "sub" / "x.csv"
    assert served.size == 4
    assert cache.entry(local, "sub/x.csv") is None
    assert cache.stats().entries == 0


def test_max_bytes_evicts_the_least_recently_used(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache", max_bytes=25)
    memory = Store(f"memory://cache-lru-{os.getpid()}")
    for key in ("a", "b", "c"):
        memory.put(key, b"x" * 10)
    cache.fetch(memory, "a")
    cache.fetch(memory, "b")
    assert cache.fetch(memory, "a").hit
    cache.fetch(memory, "c")
    assert cache.entry(memory, "b") is None
    assert cache.entry(memory, "a") is not None
    assert cache.stats().bytes == 20
    assert cache.max_bytes == 25


def test_default_root_is_the_user_cache_dir_and_private(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("XDG_CACHE_HOME", "HOME", "LOCALAPPDATA"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    expected = {
        "darwin": tmp_path / "home" / "Library" / "Caches" / "autostore",
        "win32": tmp_path / "localappdata" / "autostore",
    }.get(sys.platform, tmp_path / "xdg_cache_home" / "autostore")
    cache = Cache()
    assert Path(cache.root) == expected
    assert Path(cache.root, "index.sqlite").is_file()
    if os.name == "posix":
        assert stat.S_IMODE(os.stat(cache.root).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(Path(cache.root, "index.sqlite")).st_mode) == 0o600
    assert repr(cache) == f"Cache(root={str(expected)!r}, max_bytes=None)".replace("'", '"')


HITS_THEN_EXIT = textwrap.dedent(
    """
    import sys
    from autostore._core import Cache, Store

    root, name = sys.argv[1:]
    store = Store(f"memory://{name}")
    store.put("k", b"data")
    CACHE = Cache(root)  # referenced until the interpreter exits
    assert not CACHE.fetch(store, "k").hit
    assert CACHE.fetch(store, "k").hit and CACHE.fetch(store, "k").hit
    """
)


def test_hits_kept_in_memory_are_counted_when_the_process_exits(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    for run in range(2):
        subprocess.run(
            [sys.executable, "-c", HITS_THEN_EXIT, str(root), f"exit-flush-{os.getpid()}-{run}"],
            check=True,
            timeout=120,
        )
    stats = Cache(root).stats()
    assert (stats.hits, stats.misses) == (4, 2)


def hammered_size(version: int) -> int:
    """The size of ``version`` in the two-process test: it tells a truncated file from a whole one."""
    return 300_000 + version * 1000


def hammer(
    root: str,
    connection: dict[str, str],
    keys: list[str],
    start: multiprocessing.synchronize.Barrier,
    fetch_counts: multiprocessing.queues.Queue[int],
) -> None:
    """Fetch ``keys`` over and over through a cache at ``root``, alternating freshness rules.

    Runs in a spawned process; ``connection`` holds the bucket and the :class:`Store` keywords. All
    processes open the (new) cache at once after ``start``. Every file served must be one complete
    version; the number of fetches made goes to ``fetch_counts``.
    """
    options = dict(connection)
    store = Store(f"s3://{options.pop('bucket')}", **options)
    start.wait()
    cache = Cache(root)
    fetches = 0
    for round_number in range(40):
        for key in keys:
            expiry, refresh = [(3600.0, False), (0.001, False), (0.0, True)][(round_number + fetches) % 3]
            served = cache.fetch(store, key, expiry_seconds=expiry, refresh=refresh)
            data = Path(served.path).read_bytes()
            # Another process may already have renamed a newer complete version over the served
            # path (the file is shared by the key's versions); a truncated or mixed one must never show.
            if not is_intact(data) or len(data) != hammered_size(int(data.split(b"|", 2)[1])):
                raise AssertionError(f"{key}: a partial or mixed file was served at {served.path}")
            fetches += 1
    fetch_counts.put(fetches)


def test_two_processes_hammering_the_same_keys_stay_consistent(
    s3_server: LocalS3Server, store: Store, s3_bucket: str, tmp_path: Path
) -> None:
    keys = [f"shared/{name}.bin" for name in ("a", "b", "c")]
    etags: dict[str, bytes] = {}
    for key in keys:
        data = versioned(key, 0, hammered_size(0))
        etags[store.put(key, data).etag] = data
    root = str(tmp_path / "cache")
    connection = {
        "bucket": s3_bucket,
        "endpoint": s3_server.endpoint_url,
        "access_key_id": s3_server.access_key_id,
        "secret_access_key": s3_server.secret_access_key,
        "region": s3_server.region,
    }
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    fetch_counts = context.Queue()
    workers = [
        context.Process(target=hammer, args=(root, connection, keys, start, fetch_counts)) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    try:
        # New versions land for as long as both processes read, with sizes changing so a mix of
        # two versions in one file would show.
        version = 0
        deadline = time.monotonic() + 120
        while any(worker.is_alive() for worker in workers) and time.monotonic() < deadline:
            version += 1
            for key in keys:
                data = versioned(key, version, hammered_size(version))
                etags[store.put(key, data).etag] = data
            time.sleep(0.05)
    finally:
        for worker in workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.kill()
                worker.join()
    assert [worker.exitcode for worker in workers] == [0, 0], "a worker failed (its traceback is above)"
    fetches = sum(fetch_counts.get(timeout=10) for _ in workers)
    assert version >= 3, "the processes finished before the store changed under them"

    cache = Cache(root)
    for key in keys:
        entry = cache.entry(store, key)
        assert entry is not None, key
        data = Path(entry.path).read_bytes()
        assert len(data) == entry.size
        assert etags[entry.etag] == data, f"{key}: the index's ETag does not describe its file"
    stats = cache.stats()
    assert stats.entries == len(keys)
    assert stats.hits + stats.misses + stats.revalidations == fetches
    assert cache.cleanup(0) == 0
    assert hidden_files(cache) == []


class ThrottlingProxy:
    """A TCP relay on 127.0.0.1 that passes the server's responses at a fixed rate.

    It makes a download take seconds whatever the machine, so a test can act in the middle of it.
    """

    def __init__(self, target_port: int, bytes_per_second: int) -> None:
        self._target_port = target_port
        self._chunk = max(1, bytes_per_second // 20)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed by close()
                return
            upstream = socket.create_connection(("127.0.0.1", self._target_port))
            threading.Thread(target=self._pump, args=(client, upstream, 1 << 16, 0.0), daemon=True).start()
            threading.Thread(
                target=self._pump, args=(upstream, client, self._chunk, 0.05), daemon=True
            ).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, chunk: int, pause: float) -> None:
        with source, sink:
            try:
                while data := source.recv(chunk):
                    sink.sendall(data)
                    time.sleep(pause)
            except OSError:  # the other side went away
                return

    def close(self) -> None:
        """Stop accepting connections (open ones end with their peers)."""
        self._listener.close()


@pytest.fixture
def slow_endpoint(s3_server: LocalS3Server) -> Iterator[str]:
    """The session server's endpoint behind a proxy passing about 2 MiB/s of responses."""
    proxy = ThrottlingProxy(s3_server.port, 2 * MIB)
    yield f"http://127.0.0.1:{proxy.port}"
    proxy.close()


KILLED_DOWNLOAD = textwrap.dedent(
    """
    import sys, time
    from autostore._core import Cache, Store

    root, endpoint, access_key_id, secret_access_key, region, bucket, key = sys.argv[1:]
    store = Store(f"s3://{bucket}", endpoint=endpoint, access_key_id=access_key_id,
                  secret_access_key=secret_access_key, region=region)

    def stall(done, total):
        # Reported from the thread that drives the download, so sleeping here freezes it mid-way.
        print("finished" if done == total else "partial", flush=True)
        time.sleep(600)

    Cache(root).fetch(store, key, progress=stall)
    """
)


def test_a_process_killed_mid_download_leaves_nothing_served(
    s3_server: LocalS3Server, store: Store, s3_bucket: str, slow_endpoint: str, tmp_path: Path
) -> None:
    key, data = "big.bin", os.urandom(8 * MIB)
    store.put(key, data)
    root = tmp_path / "cache"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            KILLED_DOWNLOAD,
            str(root),
            slow_endpoint,
            s3_server.access_key_id,
            s3_server.secret_access_key,
            s3_server.region,
            s3_bucket,
            key,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "partial"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    cache = Cache(root)
    leftovers = hidden_files(cache)
    assert len(leftovers) == 1, "the killed download should have left its partial file behind"
    assert leftovers[0].stat().st_size < len(data)
    assert cache.entry(store, key) is None
    served = cache.fetch(store, key)
    assert not served.hit
    assert Path(served.path).read_bytes() == data

    # Young temporaries may belong to a live download; once old, cleanup removes them.
    assert cache.cleanup(0) == 0
    long_ago = time.time() - 2 * 3600
    for path in leftovers:
        os.utime(path, (long_ago, long_ago))
    assert cache.cleanup(0) == len(leftovers)
    assert hidden_files(cache) == []
    assert cache.entry(store, key) is not None
