"""Repeated reads with a warm cache: one 64 MiB object read 10 times, and 1,000 x 4 KiB objects.

Every tool reads each object once before the timed section, so its cache is warm; the timed section
then reads again. AutoStore is the ``AutoStore`` mapping with ``cache_enabled=True`` (``.bin`` keys
read as ``bytes``); fsspec is its ``filecache`` over s3fs (``filecache::s3://``), cloudpathlib its
local cache (which asks the server whether the object changed on every read), and ``local file``
reads the same bytes from a local file: the floor a cache hit is measured against. The 64 MiB reads
are checked by length each and by SHA-256 for the last one (hashing every read would cost more than
the read); the small objects are compared byte for byte.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benches import clients
from benches.worker import AUTOSTORE, ORIGINAL, RunContext, Tool, VerificationError, Workload, expect, payload

if TYPE_CHECKING:
    from benches.harness import BenchEnv

BUCKET = "bench-cache"
_SEED = "cache-small"
_LARGE_KEY = "large/blob.bin"


def _small_key(index: int) -> str:
    return f"small/{index:05d}.bin"


def _prepare_large(env: BenchEnv) -> dict[str, Any]:
    """A local file of random bytes, also uploaded as ``large/blob.bin``."""

    def make() -> dict[str, Any]:
        import os

        data = os.urandom(env.scale.cache_bytes)
        path = env.data_dir / "cache-blob.bin"
        path.write_bytes(data)
        env.store(BUCKET).upload_file(path, _LARGE_KEY)
        return {
            "bucket": BUCKET,
            "key": _LARGE_KEY,
            "local_path": str(path),
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "reads": env.scale.cache_reads,
        }

    return env.once("cache-large", make)


def _prepare_small(env: BenchEnv) -> dict[str, Any]:
    """Small objects ``small/00000.bin``... on the server and the same files in a local directory."""

    def make() -> dict[str, Any]:
        count, size = env.scale.cache_small_count, env.scale.small_size
        local_dir = env.data_dir / "cache-small"
        local_dir.mkdir()
        items = []
        for index in range(count):
            data = payload(_SEED, index, size)
            (local_dir / f"{index:05d}.bin").write_bytes(data)
            items.append((_small_key(index), data))
        failures = [result for result in env.store(BUCKET).put_many(items) if isinstance(result, Exception)]
        if failures:
            raise failures[0]
        return {"bucket": BUCKET, "count": count, "size": size, "local_dir": str(local_dir)}

    return env.once("cache-small", make)


def _read_large_repeatedly(ctx: RunContext, read: Callable[[], bytes]) -> None:
    """Warm up with one read, time ``reads`` more, check every length and the last one's SHA-256."""
    read()
    lengths = []
    with ctx.timed():
        for _ in range(ctx.params["reads"]):
            data = read()
            lengths.append(len(data))
    expect("lengths of the cached reads", lengths, [ctx.params["size"]] * ctx.params["reads"])
    expect("SHA-256 of the last cached read", hashlib.sha256(data).hexdigest(), ctx.params["sha256"])


def _read_small_warm(ctx: RunContext, read: Callable[[int], bytes]) -> None:
    """Warm up by reading every object once, then time reading them all again and check each."""
    count = ctx.params["count"]
    for index in range(count):
        read(index)
    with ctx.timed():
        results = [read(index) for index in range(count)]
    _check_small(ctx, results)


def _check_small(ctx: RunContext, results: Sequence[Any]) -> None:
    for index, result in enumerate(results):
        if bytes(result) != payload(_SEED, index, ctx.params["size"]):
            raise VerificationError(f"{_small_key(index)}: the cached bytes differ from the object's")


def _autostore(ctx: RunContext) -> Any:
    return clients.autostore_store(
        ctx.server, f"s3://{ctx.bucket}/", cache_enabled=True, cache_dir=str(ctx.scratch / "autostore-cache")
    )


def _filecache(ctx: RunContext) -> Any:
    import fsspec

    return fsspec.filesystem(
        "filecache",
        target_protocol="s3",
        target_options=clients.s3fs_options(ctx.server),
        cache_storage=str(ctx.scratch / "fsspec-cache"),
    )


def _fsspec_read(fs: Any, path: str) -> bytes:
    with fs.open(path, "rb") as file:
        data: bytes = file.read()
    return data


def _original(ctx: RunContext) -> Any:
    return clients.original_store(
        ctx.server, ctx.bucket, cache_enabled=True, cache_dir=str(ctx.scratch / "original-cache")
    )


# 64 MiB read repeatedly ---------------------------------------------------------------------------


def large_autostore(ctx: RunContext) -> None:
    """``store["large/blob.bin"]`` with ``cache_enabled=True``."""
    store = _autostore(ctx)
    _read_large_repeatedly(ctx, lambda: store[ctx.params["key"]])


def large_fsspec(ctx: RunContext) -> None:
    """``fs.open(path).read()`` on an fsspec ``filecache`` over s3fs."""
    fs = _filecache(ctx)
    _read_large_repeatedly(ctx, lambda: _fsspec_read(fs, f"{ctx.bucket}/{ctx.params['key']}"))


def large_cloudpathlib(ctx: RunContext) -> None:
    """``S3Path.read_bytes`` with a local cache directory."""
    from cloudpathlib import S3Path

    client = clients.cloudpath_client(ctx.server, cache_dir=ctx.scratch / "cloudpathlib-cache")
    path = S3Path(f"s3://{ctx.bucket}/{ctx.params['key']}", client=client)
    _read_large_repeatedly(ctx, path.read_bytes)


def large_local(ctx: RunContext) -> None:
    """``Path.read_bytes`` of a local file with the same bytes."""
    _read_large_repeatedly(ctx, Path(ctx.params["local_path"]).read_bytes)


def large_original(ctx: RunContext) -> None:
    """``AutoPath.read_bytes`` of autostore 0.1.18 with ``cache_enabled=True``."""
    path = clients.original_path(_original(ctx), f"s3://{ctx.bucket}/{ctx.params['key']}")
    _read_large_repeatedly(ctx, path.read_bytes)


# 1,000 small objects ------------------------------------------------------------------------------


def small_autostore(ctx: RunContext) -> None:
    """``store[key]`` for each object, with ``cache_enabled=True``."""
    store = _autostore(ctx)
    _read_small_warm(ctx, lambda index: store[_small_key(index)])


def small_fsspec(ctx: RunContext) -> None:
    """``fs.open(path).read()`` for each object on an fsspec ``filecache`` over s3fs."""
    fs = _filecache(ctx)
    _read_small_warm(ctx, lambda index: _fsspec_read(fs, f"{ctx.bucket}/{_small_key(index)}"))


def small_cloudpathlib(ctx: RunContext) -> None:
    """``S3Path.read_bytes`` for each object, with a local cache directory."""
    from cloudpathlib import S3Path

    client = clients.cloudpath_client(ctx.server, cache_dir=ctx.scratch / "cloudpathlib-cache")
    paths = [
        S3Path(f"s3://{ctx.bucket}/{_small_key(index)}", client=client)
        for index in range(ctx.params["count"])
    ]
    _read_small_warm(ctx, lambda index: paths[index].read_bytes())


def small_local(ctx: RunContext) -> None:
    """``Path.read_bytes`` for each of the same files in a local directory."""
    local_dir = Path(ctx.params["local_dir"])
    _read_small_warm(ctx, lambda index: (local_dir / f"{index:05d}.bin").read_bytes())


def small_original(ctx: RunContext) -> None:
    """``AutoPath.read_bytes`` of autostore 0.1.18 for each object, with ``cache_enabled=True``."""
    store = _original(ctx)
    _read_small_warm(
        ctx, lambda index: clients.original_path(store, f"s3://{ctx.bucket}/{_small_key(index)}").read_bytes()
    )


def _tools(*functions: Callable[[RunContext], None]) -> tuple[Tool, ...]:
    names = (AUTOSTORE, "fsspec filecache", "cloudpathlib", "local file", ORIGINAL)
    return tuple(
        Tool(name, function, interpreter="original" if name == ORIGINAL else "main")
        for name, function in zip(names, functions, strict=True)
    )


_NOTE = (
    "Warm cache: each tool read every object once before timing. AutoStore = AutoStore(cache_enabled=True)"
    "[key]; cloudpathlib checks the object's modification time with the server on every read."
)

WORKLOADS = (
    Workload(
        name="cache-large",
        title="warm-cache read {cache}",
        tools=_tools(large_autostore, large_fsspec, large_cloudpathlib, large_local, large_original),
        prepare=_prepare_large,
        requires=("AutoStore", "cache"),
        tags=frozenset({"cache"}),
        note=_NOTE,
    ),
    Workload(
        name="cache-small",
        title="warm-cache read {cache_small}",
        tools=_tools(small_autostore, small_fsspec, small_cloudpathlib, small_local, small_original),
        prepare=_prepare_small,
        requires=("AutoStore", "cache"),
        tags=frozenset({"cache"}),
        note=_NOTE,
    ),
)
