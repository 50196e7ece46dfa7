"""1,000 small JSON documents through the mapping API, against raw clients doing ``json.dumps``/``loads``.

AutoStore is the public ``AutoStore`` mapping: ``store[key] = doc`` and ``store[key]`` one by one, and
``store.update(docs)`` / ``store.get_many(keys)`` batched. Keys carry their ``.json`` extension so
every tool makes one request per document (an extension-less key costs AutoStore a LIST on top, to
find or replace the key's other representations). Documents read are compared with the originals;
documents written are read back and parsed by the harness.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from benches import clients
from benches.worker import AUTOSTORE, ORIGINAL, RunContext, Tool, VerificationError, Workload, document

if TYPE_CHECKING:
    from benches.harness import BenchEnv

BUCKET = "bench-mapping"
_READ_PREFIX = "docs/"


def _key(index: int) -> str:
    return f"docs/{index:05d}.json"


def _prepare(env: BenchEnv) -> dict[str, Any]:
    """Seed ``docs/00000.json``... for the read workloads (once for the family)."""

    def make() -> dict[str, Any]:
        count = env.scale.documents
        items = [(_key(index), json.dumps(document(index)).encode()) for index in range(count)]
        failures = [result for result in env.store(BUCKET).put_many(items) if isinstance(result, Exception)]
        if failures:
            raise failures[0]
        return {"bucket": BUCKET, "count": count}

    return env.once("documents", make)


def _documents(ctx: RunContext) -> dict[str, dict[str, Any]]:
    """What a write workload stores: key (relative to the run prefix) -> document."""
    return {_key(index): document(index) for index in range(ctx.params["count"])}


def _keys(ctx: RunContext) -> list[str]:
    return [_key(index) for index in range(ctx.params["count"])]


def _check_documents(keys: Sequence[str], values: Sequence[Any]) -> None:
    if len(values) != len(keys):
        raise VerificationError(f"got {len(values)} documents for {len(keys)} keys")
    for index, (key, value) in enumerate(zip(keys, values, strict=True)):
        if value != document(index):
            raise VerificationError(f"{key}: the document read differs from the one stored: {value!r:.80}")


def _check_written(env: BenchEnv, params: Mapping[str, Any], run_prefix: str) -> None:
    """Read back with the core every document the run wrote and compare it once parsed."""
    keys = [run_prefix + _key(index) for index in range(params["count"])]
    values = []
    for key, result in zip(keys, env.store(BUCKET).get_many(keys), strict=True):
        if isinstance(result, Exception):
            raise VerificationError(f"s3://{BUCKET}/{key} was not written: {result}")
        try:
            values.append(json.loads(bytes(result)))
        except ValueError as error:
            raise VerificationError(f"s3://{BUCKET}/{key} is not JSON: {error}") from None
    _check_documents(keys, values)


def _in_pool(function: Callable[[Any], Any], arguments: Sequence[Any]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=clients.BATCH_CONCURRENCY) as pool:
        return list(pool.map(function, arguments))


# Sequential write ---------------------------------------------------------------------------------


def write_autostore(ctx: RunContext) -> None:
    """``store[key] = doc`` for each document."""
    store = clients.autostore_store(ctx.server, f"s3://{ctx.bucket}/{ctx.run_prefix}")
    documents = _documents(ctx)
    with ctx.timed():
        for key, value in documents.items():
            store[key] = value


def write_obstore(ctx: RunContext) -> None:
    """``obstore.put(json.dumps(doc))`` for each document."""
    import obstore

    store, documents = clients.obstore_store(ctx.server, ctx.bucket), _documents(ctx)
    with ctx.timed():
        for key, value in documents.items():
            obstore.put(store, ctx.run_prefix + key, json.dumps(value).encode())


def write_boto3(ctx: RunContext) -> None:
    """``client.put_object(Body=json.dumps(doc))`` for each document."""
    client, documents = clients.boto3_client(ctx.server), _documents(ctx)
    with ctx.timed():
        for key, value in documents.items():
            client.put_object(Bucket=ctx.bucket, Key=ctx.run_prefix + key, Body=json.dumps(value).encode())


def write_original(ctx: RunContext) -> None:
    """``store[key] = doc`` with autostore 0.1.18 for each document."""
    store, documents = clients.original_store(ctx.server, ctx.bucket), _documents(ctx)
    with ctx.timed():
        for key, value in documents.items():
            store[ctx.run_prefix + key] = value


# Sequential read ----------------------------------------------------------------------------------


def read_autostore(ctx: RunContext) -> None:
    """``store[key]`` for each document."""
    store, keys = clients.autostore_store(ctx.server, f"s3://{ctx.bucket}/"), _keys(ctx)
    with ctx.timed():
        values = [store[key] for key in keys]
    _check_documents(keys, values)


def read_obstore(ctx: RunContext) -> None:
    """``json.loads(obstore.get(...).bytes())`` for each document."""
    import obstore

    store, keys = clients.obstore_store(ctx.server, ctx.bucket), _keys(ctx)
    with ctx.timed():
        values = [json.loads(bytes(obstore.get(store, key).bytes())) for key in keys]
    _check_documents(keys, values)


def read_boto3(ctx: RunContext) -> None:
    """``json.loads(client.get_object(...)['Body'].read())`` for each document."""
    client, keys = clients.boto3_client(ctx.server), _keys(ctx)
    with ctx.timed():
        values = [json.loads(client.get_object(Bucket=ctx.bucket, Key=key)["Body"].read()) for key in keys]
    _check_documents(keys, values)


def read_original(ctx: RunContext) -> None:
    """``store[key]`` with autostore 0.1.18 for each document."""
    store, keys = clients.original_store(ctx.server, ctx.bucket), _keys(ctx)
    with ctx.timed():
        values = [store[key] for key in keys]
    _check_documents(keys, values)


# Batched write ------------------------------------------------------------------------------------


def write_batch_autostore(ctx: RunContext) -> None:
    """One ``store.update(docs)`` (encoded one by one, uploaded in one concurrent batch)."""
    store = clients.autostore_store(ctx.server, f"s3://{ctx.bucket}/{ctx.run_prefix}")
    documents = _documents(ctx)
    with ctx.timed():
        store.update(documents)


def write_batch_obstore(ctx: RunContext) -> None:
    """``obstore.put_async(json.dumps(doc))`` under one ``asyncio.gather``, BATCH_CONCURRENCY at once."""
    import obstore

    store, documents = clients.obstore_store(ctx.server, ctx.bucket), _documents(ctx)

    async def put_all() -> None:
        limit = asyncio.Semaphore(clients.BATCH_CONCURRENCY)

        async def put_one(key: str, value: dict[str, Any]) -> None:
            async with limit:
                await obstore.put_async(store, ctx.run_prefix + key, json.dumps(value).encode())

        await asyncio.gather(*(put_one(key, value) for key, value in documents.items()))

    with ctx.timed():
        asyncio.run(put_all())


def write_batch_boto3(ctx: RunContext) -> None:
    """``client.put_object(Body=json.dumps(doc))`` in a thread pool."""
    client = clients.boto3_client(ctx.server, pool_size=clients.BATCH_CONCURRENCY)
    documents = _documents(ctx)

    def put_one(item: tuple[str, dict[str, Any]]) -> None:
        client.put_object(Bucket=ctx.bucket, Key=ctx.run_prefix + item[0], Body=json.dumps(item[1]).encode())

    with ctx.timed():
        _in_pool(put_one, list(documents.items()))


def write_batch_original(ctx: RunContext) -> None:
    """``store[key] = doc`` with autostore 0.1.18 in a thread pool (it has no batch API)."""
    store, documents = clients.original_store(ctx.server, ctx.bucket), _documents(ctx)

    def put_one(item: tuple[str, dict[str, Any]]) -> None:
        store[ctx.run_prefix + item[0]] = item[1]

    with ctx.timed():
        _in_pool(put_one, list(documents.items()))


# Batched read -------------------------------------------------------------------------------------


def read_batch_autostore(ctx: RunContext) -> None:
    """One ``store.get_many(keys)`` (fetched in one concurrent batch, decoded in memory)."""
    store, keys = clients.autostore_store(ctx.server, f"s3://{ctx.bucket}/"), _keys(ctx)
    with ctx.timed():
        values = store.get_many(keys)
    _check_documents(keys, values)


def read_batch_obstore(ctx: RunContext) -> None:
    """``obstore.get_async`` + ``json.loads`` under one ``asyncio.gather``, BATCH_CONCURRENCY at once."""
    import obstore

    store, keys = clients.obstore_store(ctx.server, ctx.bucket), _keys(ctx)

    async def get_all() -> list[Any]:
        limit = asyncio.Semaphore(clients.BATCH_CONCURRENCY)

        async def get_one(key: str) -> Any:
            async with limit:
                response = await obstore.get_async(store, key)
                return json.loads(bytes(await response.bytes_async()))

        return await asyncio.gather(*(get_one(key) for key in keys))

    with ctx.timed():
        values = asyncio.run(get_all())
    _check_documents(keys, values)


def read_batch_boto3(ctx: RunContext) -> None:
    """``json.loads(client.get_object(...))`` in a thread pool."""
    client = clients.boto3_client(ctx.server, pool_size=clients.BATCH_CONCURRENCY)
    keys = _keys(ctx)
    with ctx.timed():
        values = _in_pool(
            lambda key: json.loads(client.get_object(Bucket=ctx.bucket, Key=key)["Body"].read()), keys
        )
    _check_documents(keys, values)


def read_batch_original(ctx: RunContext) -> None:
    """``store[key]`` with autostore 0.1.18 in a thread pool (it has no batch API)."""
    store, keys = clients.original_store(ctx.server, ctx.bucket), _keys(ctx)
    with ctx.timed():
        values = _in_pool(store.__getitem__, keys)
    _check_documents(keys, values)


def _tools(*functions: Callable[[RunContext], None]) -> tuple[Tool, ...]:
    names = (AUTOSTORE, "obstore", "boto3", ORIGINAL)
    return tuple(
        Tool(name, function, interpreter="original" if name == ORIGINAL else "main")
        for name, function in zip(names, functions, strict=True)
    )


_NOTE = (
    "AutoStore = the AutoStore mapping (store[key] = doc, store[key]; update() and get_many() batched); "
    "obstore and boto3 call json.dumps/json.loads themselves."
)

WORKLOADS = (
    Workload(
        name="mapping-write",
        title="mapping: write {documents} JSON docs, one by one",
        tools=_tools(write_autostore, write_obstore, write_boto3, write_original),
        prepare=_prepare,
        check_written=_check_written,
        requires=("AutoStore",),
        tags=frozenset({"mapping"}),
        note=_NOTE,
    ),
    Workload(
        name="mapping-read",
        title="mapping: read {documents} JSON docs, one by one",
        tools=_tools(read_autostore, read_obstore, read_boto3, read_original),
        prepare=_prepare,
        requires=("AutoStore",),
        tags=frozenset({"mapping"}),
        note=_NOTE,
    ),
    Workload(
        name="mapping-write-batch",
        title="mapping: write {documents} JSON docs, batched",
        tools=_tools(write_batch_autostore, write_batch_obstore, write_batch_boto3, write_batch_original),
        prepare=_prepare,
        check_written=_check_written,
        requires=("AutoStore.batches",),
        tags=frozenset({"mapping"}),
        note=_NOTE,
    ),
    Workload(
        name="mapping-read-batch",
        title="mapping: read {documents} JSON docs, batched",
        tools=_tools(read_batch_autostore, read_batch_obstore, read_batch_boto3, read_batch_original),
        prepare=_prepare,
        requires=("AutoStore.batches",),
        tags=frozenset({"mapping"}),
        note=_NOTE,
    ),
)
