"""Many small objects: 1,000 x 4 KiB put and get, one request after another and batched.

AutoStore here is the Rust core: ``Store.put``/``get`` in a loop, and ``put_many``/``get_many`` for the
batched workloads. Tools without a batch API get a thread pool (or, for obstore, an asyncio gather) of
:data:`benches.clients.BATCH_CONCURRENCY` requests in flight. Every payload read is compared with the
one written; every payload written is read back by the harness.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from benches import clients
from benches.worker import AUTOSTORE, ORIGINAL, RunContext, Tool, VerificationError, Workload, payload

if TYPE_CHECKING:
    from benches.harness import BenchEnv

BUCKET = "bench-small"
_SEED = "small"


def _key(prefix: str, index: int) -> str:
    return f"{prefix}{index:05d}.bin"


def _prepare(env: BenchEnv) -> dict[str, Any]:
    """Seed ``small/00000.bin``... for the get workloads (once for the family)."""

    def make() -> dict[str, Any]:
        count, size = env.scale.small_count, env.scale.small_size
        items = [(_key("small/", index), payload(_SEED, index, size)) for index in range(count)]
        failures = [result for result in env.store(BUCKET).put_many(items) if isinstance(result, Exception)]
        if failures:
            raise failures[0]
        return {"bucket": BUCKET, "count": count, "size": size, "prefix": "small/"}

    return env.once("small", make)


def _items(ctx: RunContext) -> list[tuple[str, bytes]]:
    """What a put workload writes: the run's keys and their payloads (built before timing)."""
    return [
        (_key(ctx.run_prefix, index), payload(_SEED, index, ctx.params["size"]))
        for index in range(ctx.params["count"])
    ]


def _read_keys(ctx: RunContext) -> list[str]:
    return [_key(ctx.params["prefix"], index) for index in range(ctx.params["count"])]


def _check_payloads(ctx: RunContext, keys: Sequence[str], results: Sequence[Any]) -> None:
    """Every result equals the payload stored under its key (errors count as wrong results)."""
    if len(results) != len(keys):
        raise VerificationError(f"got {len(results)} results for {len(keys)} keys")
    for index, (key, result) in enumerate(zip(keys, results, strict=True)):
        if isinstance(result, Exception):
            raise VerificationError(f"{key}: {type(result).__name__}: {result}")
        if bytes(result) != payload(_SEED, index, ctx.params["size"]):
            raise VerificationError(f"{key}: the bytes read differ from the bytes stored")


def _check_written(env: BenchEnv, params: Mapping[str, Any], run_prefix: str) -> None:
    """Read back with the core every object the run wrote and compare it with its payload."""
    keys = [_key(run_prefix, index) for index in range(params["count"])]
    results = env.store(BUCKET).get_many(keys)
    for index, (key, result) in enumerate(zip(keys, results, strict=True)):
        if isinstance(result, Exception):
            raise VerificationError(f"s3://{BUCKET}/{key} was not written: {result}")
        if bytes(result) != payload(_SEED, index, params["size"]):
            raise VerificationError(f"s3://{BUCKET}/{key} holds other bytes than were put")


def _in_pool(function: Callable[[Any], Any], arguments: Sequence[Any]) -> list[Any]:
    """``function`` over ``arguments`` with BATCH_CONCURRENCY threads, results in order."""
    with ThreadPoolExecutor(max_workers=clients.BATCH_CONCURRENCY) as pool:
        return list(pool.map(function, arguments))


# Sequential put -----------------------------------------------------------------------------------


def put_seq_autostore(ctx: RunContext) -> None:
    """``Store.put`` for each object."""
    store, items = clients.core_store(ctx.server, ctx.bucket), _items(ctx)
    with ctx.timed():
        for key, data in items:
            store.put(key, data)


def put_seq_obstore(ctx: RunContext) -> None:
    """``obstore.put`` for each object."""
    import obstore

    store, items = clients.obstore_store(ctx.server, ctx.bucket), _items(ctx)
    with ctx.timed():
        for key, data in items:
            obstore.put(store, key, data)


def put_seq_boto3(ctx: RunContext) -> None:
    """``client.put_object`` for each object."""
    client, items = clients.boto3_client(ctx.server), _items(ctx)
    with ctx.timed():
        for key, data in items:
            client.put_object(Bucket=ctx.bucket, Key=key, Body=data)


def put_seq_s3fs(ctx: RunContext) -> None:
    """``S3FileSystem.pipe`` for each object."""
    fs, items = clients.s3fs_filesystem(ctx.server), _items(ctx)
    with ctx.timed():
        for key, data in items:
            fs.pipe(f"{ctx.bucket}/{key}", data)


def put_seq_cloudpathlib(ctx: RunContext) -> None:
    """``S3Path.write_bytes`` for each object."""
    from cloudpathlib import S3Path

    client = clients.cloudpath_client(ctx.server, cache_dir=ctx.scratch / "cloudpathlib")
    items = _items(ctx)
    with ctx.timed():
        for key, data in items:
            S3Path(f"s3://{ctx.bucket}/{key}", client=client).write_bytes(data)


def put_seq_original(ctx: RunContext) -> None:
    """``AutoPath.write_bytes`` of autostore 0.1.18 for each object."""
    store, items = clients.original_store(ctx.server, ctx.bucket), _items(ctx)
    with ctx.timed():
        for key, data in items:
            clients.original_path(store, f"s3://{ctx.bucket}/{key}").write_bytes(data)


# Sequential get -----------------------------------------------------------------------------------


def get_seq_autostore(ctx: RunContext) -> None:
    """``Store.get`` for each object."""
    store, keys = clients.core_store(ctx.server, ctx.bucket), _read_keys(ctx)
    with ctx.timed():
        results = [store.get(key) for key in keys]
    _check_payloads(ctx, keys, results)


def get_seq_obstore(ctx: RunContext) -> None:
    """``obstore.get(...).bytes()`` for each object."""
    import obstore

    store, keys = clients.obstore_store(ctx.server, ctx.bucket), _read_keys(ctx)
    with ctx.timed():
        results = [obstore.get(store, key).bytes() for key in keys]
    _check_payloads(ctx, keys, results)


def get_seq_boto3(ctx: RunContext) -> None:
    """``client.get_object(...)['Body'].read()`` for each object."""
    client, keys = clients.boto3_client(ctx.server), _read_keys(ctx)
    with ctx.timed():
        results = [client.get_object(Bucket=ctx.bucket, Key=key)["Body"].read() for key in keys]
    _check_payloads(ctx, keys, results)


def get_seq_s3fs(ctx: RunContext) -> None:
    """``S3FileSystem.cat`` for each object."""
    fs, keys = clients.s3fs_filesystem(ctx.server), _read_keys(ctx)
    with ctx.timed():
        results = [fs.cat(f"{ctx.bucket}/{key}") for key in keys]
    _check_payloads(ctx, keys, results)


def get_seq_cloudpathlib(ctx: RunContext) -> None:
    """``S3Path.read_bytes`` for each object (downloads into cloudpathlib's cache, then reads)."""
    from cloudpathlib import S3Path

    client = clients.cloudpath_client(ctx.server, cache_dir=ctx.scratch / "cloudpathlib")
    keys = _read_keys(ctx)
    with ctx.timed():
        results = [S3Path(f"s3://{ctx.bucket}/{key}", client=client).read_bytes() for key in keys]
    _check_payloads(ctx, keys, results)


def get_seq_original(ctx: RunContext) -> None:
    """``AutoPath.read_bytes`` of autostore 0.1.18 for each object."""
    store, keys = clients.original_store(ctx.server, ctx.bucket), _read_keys(ctx)
    with ctx.timed():
        results = [clients.original_path(store, f"s3://{ctx.bucket}/{key}").read_bytes() for key in keys]
    _check_payloads(ctx, keys, results)


# Batched put --------------------------------------------------------------------------------------


def put_batch_autostore(ctx: RunContext) -> None:
    """One ``Store.put_many`` call."""
    store, items = clients.core_store(ctx.server, ctx.bucket), _items(ctx)
    with ctx.timed():
        results = store.put_many(items)
    errors = [result for result in results if isinstance(result, Exception)]
    if errors:
        raise VerificationError(f"{len(errors)} puts failed, the first: {errors[0]}")


def put_batch_obstore(ctx: RunContext) -> None:
    """``obstore.put_async`` for every object under one ``asyncio.gather``, BATCH_CONCURRENCY at once."""
    import obstore

    store, items = clients.obstore_store(ctx.server, ctx.bucket), _items(ctx)

    async def put_all() -> None:
        limit = asyncio.Semaphore(clients.BATCH_CONCURRENCY)

        async def put_one(key: str, data: bytes) -> None:
            async with limit:
                await obstore.put_async(store, key, data)

        await asyncio.gather(*(put_one(key, data) for key, data in items))

    with ctx.timed():
        asyncio.run(put_all())


def put_batch_boto3(ctx: RunContext) -> None:
    """``client.put_object`` in a thread pool."""
    client, items = clients.boto3_client(ctx.server, pool_size=clients.BATCH_CONCURRENCY), _items(ctx)
    with ctx.timed():
        _in_pool(lambda item: client.put_object(Bucket=ctx.bucket, Key=item[0], Body=item[1]), items)


def put_batch_s3fs(ctx: RunContext) -> None:
    """One ``S3FileSystem.pipe({path: data, ...})`` call."""
    fs, items = clients.s3fs_filesystem(ctx.server), _items(ctx)
    with ctx.timed():
        fs.pipe({f"{ctx.bucket}/{key}": data for key, data in items})


def put_batch_cloudpathlib(ctx: RunContext) -> None:
    """``S3Path.write_bytes`` in a thread pool."""
    from cloudpathlib import S3Path

    client = clients.cloudpath_client(ctx.server, cache_dir=ctx.scratch / "cloudpathlib")
    items = _items(ctx)
    with ctx.timed():
        _in_pool(
            lambda item: S3Path(f"s3://{ctx.bucket}/{item[0]}", client=client).write_bytes(item[1]), items
        )


def put_batch_original(ctx: RunContext) -> None:
    """``AutoPath.write_bytes`` of autostore 0.1.18 in a thread pool."""
    store, items = clients.original_store(ctx.server, ctx.bucket), _items(ctx)
    with ctx.timed():
        _in_pool(
            lambda item: clients.original_path(store, f"s3://{ctx.bucket}/{item[0]}").write_bytes(item[1]),
            items,
        )


# Batched get --------------------------------------------------------------------------------------


def get_batch_autostore(ctx: RunContext) -> None:
    """One ``Store.get_many`` call."""
    store, keys = clients.core_store(ctx.server, ctx.bucket), _read_keys(ctx)
    with ctx.timed():
        results = store.get_many(keys)
    _check_payloads(ctx, keys, results)


def get_batch_obstore(ctx: RunContext) -> None:
    """``obstore.get_async`` for every object under one ``asyncio.gather``, BATCH_CONCURRENCY at once."""
    import obstore

    store, keys = clients.obstore_store(ctx.server, ctx.bucket), _read_keys(ctx)

    async def get_all() -> list[Any]:
        limit = asyncio.Semaphore(clients.BATCH_CONCURRENCY)

        async def get_one(key: str) -> Any:
            async with limit:
                response = await obstore.get_async(store, key)
                return await response.bytes_async()

        return await asyncio.gather(*(get_one(key) for key in keys))

    with ctx.timed():
        results = asyncio.run(get_all())
    _check_payloads(ctx, keys, results)


def get_batch_boto3(ctx: RunContext) -> None:
    """``client.get_object`` in a thread pool."""
    client, keys = clients.boto3_client(ctx.server, pool_size=clients.BATCH_CONCURRENCY), _read_keys(ctx)
    with ctx.timed():
        results = _in_pool(lambda key: client.get_object(Bucket=ctx.bucket, Key=key)["Body"].read(), keys)
    _check_payloads(ctx, keys, results)


def get_batch_s3fs(ctx: RunContext) -> None:
    """One ``S3FileSystem.cat([path, ...])`` call."""
    fs, keys = clients.s3fs_filesystem(ctx.server), _read_keys(ctx)
    paths = [f"{ctx.bucket}/{key}" for key in keys]
    with ctx.timed():
        by_path = fs.cat(paths)
    _check_payloads(ctx, keys, [by_path.get(path, KeyError(path)) for path in paths])


def get_batch_cloudpathlib(ctx: RunContext) -> None:
    """``S3Path.read_bytes`` in a thread pool."""
    from cloudpathlib import S3Path

    client = clients.cloudpath_client(ctx.server, cache_dir=ctx.scratch / "cloudpathlib")
    keys = _read_keys(ctx)
    with ctx.timed():
        results = _in_pool(lambda key: S3Path(f"s3://{ctx.bucket}/{key}", client=client).read_bytes(), keys)
    _check_payloads(ctx, keys, results)


def get_batch_original(ctx: RunContext) -> None:
    """``AutoPath.read_bytes`` of autostore 0.1.18 in a thread pool."""
    store, keys = clients.original_store(ctx.server, ctx.bucket), _read_keys(ctx)
    with ctx.timed():
        results = _in_pool(
            lambda key: clients.original_path(store, f"s3://{ctx.bucket}/{key}").read_bytes(), keys
        )
    _check_payloads(ctx, keys, results)


def _tools(*functions: Callable[[RunContext], None]) -> tuple[Tool, ...]:
    """The six tools in table order, from their functions in the same order."""
    names = (AUTOSTORE, "obstore", "boto3", "s3fs", "cloudpathlib", ORIGINAL)
    return tuple(
        Tool(name, function, interpreter="original" if name == ORIGINAL else "main")
        for name, function in zip(names, functions, strict=True)
    )


_NOTE = "AutoStore = the Rust core's put/get (sequential) and put_many/get_many (batched)."

WORKLOADS = (
    Workload(
        name="put-seq",
        title="put {small}, sequential",
        tools=_tools(
            put_seq_autostore,
            put_seq_obstore,
            put_seq_boto3,
            put_seq_s3fs,
            put_seq_cloudpathlib,
            put_seq_original,
        ),
        prepare=_prepare,
        check_written=_check_written,
        tags=frozenset({"transfer"}),
        note=_NOTE,
    ),
    Workload(
        name="get-seq",
        title="get {small}, sequential",
        tools=_tools(
            get_seq_autostore,
            get_seq_obstore,
            get_seq_boto3,
            get_seq_s3fs,
            get_seq_cloudpathlib,
            get_seq_original,
        ),
        prepare=_prepare,
        tags=frozenset({"transfer"}),
        note=_NOTE,
    ),
    Workload(
        name="put-batch",
        title="put {small}, batched",
        tools=_tools(
            put_batch_autostore,
            put_batch_obstore,
            put_batch_boto3,
            put_batch_s3fs,
            put_batch_cloudpathlib,
            put_batch_original,
        ),
        prepare=_prepare,
        check_written=_check_written,
        tags=frozenset({"transfer", "batched-small"}),
        note=_NOTE,
    ),
    Workload(
        name="get-batch",
        title="get {small}, batched",
        tools=_tools(
            get_batch_autostore,
            get_batch_obstore,
            get_batch_boto3,
            get_batch_s3fs,
            get_batch_cloudpathlib,
            get_batch_original,
        ),
        prepare=_prepare,
        tags=frozenset({"transfer", "batched-small"}),
        note=_NOTE,
    ),
)
