"""Listing and glob over a tree of 10,000 keys in 100 top-level prefixes.

Each prefix ``tree/pNNN/`` holds parquet files at its top, JSON files beside them and more parquet files
one level down in ``meta/``, so ``tree/**/*.parquet`` (every parquet file) and the one-level
``tree/*/*.parquet`` (only the top ones) select different sets. Every tool's answer is compared with
the exact set of keys the pattern means under pathlib semantics, computed from the layout, not by a
glob implementation.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from benches import clients
from benches.worker import AUTOSTORE, ORIGINAL, RunContext, Tool, VerificationError, Workload

if TYPE_CHECKING:
    from benches.harness import BenchEnv

BUCKET = "bench-listing"
ROOT = "tree"
RECURSIVE_PATTERN = f"{ROOT}/**/*.parquet"
ONE_LEVEL_PATTERN = f"{ROOT}/*/*.parquet"
_SEED_BATCH = 2000


def tree_keys(prefixes: int, per_prefix: int) -> list[str]:
    """The keys of the tree: half top-level parquet, 30% JSON, the rest parquet under ``meta/``."""
    top_parquet = per_prefix // 2
    json_files = per_prefix * 3 // 10
    keys = []
    for prefix in range(prefixes):
        base = f"{ROOT}/p{prefix:03d}/"
        for index in range(per_prefix):
            if index < top_parquet:
                keys.append(f"{base}part-{index:04d}.parquet")
            elif index < top_parquet + json_files:
                keys.append(f"{base}part-{index:04d}.json")
            else:
                keys.append(f"{base}meta/part-{index:04d}.parquet")
    return keys


def _expected(ctx: RunContext, pattern: str | None) -> set[str]:
    keys = tree_keys(ctx.params["prefixes"], ctx.params["per_prefix"])
    if pattern is None:
        return set(keys)
    if pattern == RECURSIVE_PATTERN:
        return {key for key in keys if key.endswith(".parquet")}
    if pattern == ONE_LEVEL_PATTERN:
        return {key for key in keys if key.endswith(".parquet") and key.count("/") == 2}
    raise ValueError(f"no expected key set is defined for the pattern {pattern!r}")


def _check_keys(ctx: RunContext, found: Iterable[str], pattern: str | None) -> None:
    found_list = list(found)
    found_set = set(found_list)
    expected = _expected(ctx, pattern)
    what = f"keys matching {pattern}" if pattern else f"keys under {ROOT}/"
    if len(found_set) != len(found_list):
        raise VerificationError(f"{what}: {len(found_list) - len(found_set)} keys returned twice")
    if found_set != expected:
        missing, extra = sorted(expected - found_set), sorted(found_set - expected)
        raise VerificationError(
            f"{what}: {len(found_set)} found, {len(expected)} expected; "
            f"{len(missing)} missing (e.g. {missing[:2]}), {len(extra)} unexpected (e.g. {extra[:2]})"
        )


def _prepare(env: BenchEnv) -> dict[str, Any]:
    """Seed the tree (once for the family); objects are 16 bytes, listing is what is measured."""

    def make() -> dict[str, Any]:
        prefixes, per_prefix = env.scale.tree_prefixes, env.scale.tree_keys_per_prefix
        keys = tree_keys(prefixes, per_prefix)
        store = env.store(BUCKET)
        for start in range(0, len(keys), _SEED_BATCH):
            batch = [(key, key.encode()[-16:]) for key in keys[start : start + _SEED_BATCH]]
            failures = [result for result in store.put_many(batch) if isinstance(result, Exception)]
            if failures:
                raise failures[0]
        return {"bucket": BUCKET, "prefixes": prefixes, "per_prefix": per_prefix}

    return env.once("tree", make)


# List ---------------------------------------------------------------------------------------------


def list_autostore(ctx: RunContext) -> None:
    """``Store.list`` (recursive, fanned out over sub-prefixes in parallel)."""
    store = clients.core_store(ctx.server, ctx.bucket)
    with ctx.timed():
        found = [meta.key for meta in store.list(f"{ROOT}/")]
    _check_keys(ctx, found, None)


def list_obstore(ctx: RunContext) -> None:
    """``obstore.list(...).collect()``."""
    import obstore

    store = clients.obstore_store(ctx.server, ctx.bucket)
    with ctx.timed():
        found = [meta["path"] for meta in obstore.list(store, f"{ROOT}/").collect()]
    _check_keys(ctx, found, None)


def list_boto3(ctx: RunContext) -> None:
    """The ``list_objects_v2`` paginator."""
    client = clients.boto3_client(ctx.server)
    with ctx.timed():
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=ctx.bucket, Prefix=f"{ROOT}/")
        found = [item["Key"] for page in pages for item in page.get("Contents", [])]
    _check_keys(ctx, found, None)


def list_s3fs(ctx: RunContext) -> None:
    """``S3FileSystem.find``."""
    fs = clients.s3fs_filesystem(ctx.server)
    with ctx.timed():
        paths = fs.find(f"{ctx.bucket}/{ROOT}")
    _check_keys(ctx, (path.split("/", 1)[1] for path in paths), None)


def list_cloudpathlib(ctx: RunContext) -> None:
    """``S3Path.walk()`` (one recursive listing; ``rglob`` cannot tell files without a HEAD each)."""
    from cloudpathlib import S3Path

    client = clients.cloudpath_client(ctx.server, cache_dir=ctx.scratch / "cloudpathlib")
    root = S3Path(f"s3://{ctx.bucket}/{ROOT}", client=client)
    with ctx.timed():
        found = [
            f"{directory.key}/{name}".lstrip("/") for directory, _, names in root.walk() for name in names
        ]
    _check_keys(ctx, found, None)


def list_original(ctx: RunContext) -> None:
    """``AutoStore.list_files("tree/*")`` of autostore 0.1.18 (its ``*`` crosses ``/``)."""
    store = clients.original_store(ctx.server, ctx.bucket)
    with ctx.timed():
        found = list(store.list_files(f"{ROOT}/*", recursive=True))
    _check_keys(ctx, found, None)


# Glob ---------------------------------------------------------------------------------------------


def _glob_autostore(ctx: RunContext, pattern: str) -> None:
    store = clients.core_store(ctx.server, ctx.bucket)
    with ctx.timed():
        found = [meta.key for meta in store.glob(pattern)]
    _check_keys(ctx, found, pattern)


def _glob_s3fs(ctx: RunContext, pattern: str) -> None:
    fs = clients.s3fs_filesystem(ctx.server)
    with ctx.timed():
        paths = fs.glob(f"{ctx.bucket}/{pattern}")
    _check_keys(ctx, (path.split("/", 1)[1] for path in paths), pattern)


def _glob_cloudpathlib(ctx: RunContext, pattern: str) -> None:
    from cloudpathlib import S3Path

    client = clients.cloudpath_client(ctx.server, cache_dir=ctx.scratch / "cloudpathlib")
    root = S3Path(f"s3://{ctx.bucket}/{ROOT}", client=client)
    relative = pattern.split("/", 1)[1]
    with ctx.timed():
        found = [path.key for path in root.glob(relative)]
    _check_keys(ctx, found, pattern)


def _glob_original(ctx: RunContext, pattern: str) -> None:
    store = clients.original_store(ctx.server, ctx.bucket)
    with ctx.timed():
        found = list(store.list_files(pattern, recursive=True))
    _check_keys(ctx, found, pattern)


def glob_recursive_autostore(ctx: RunContext) -> None:
    """``Store.glob("tree/**/*.parquet")``: listing narrowed to ``tree/``, matching in Rust."""
    _glob_autostore(ctx, RECURSIVE_PATTERN)


def glob_recursive_s3fs(ctx: RunContext) -> None:
    """``S3FileSystem.glob``."""
    _glob_s3fs(ctx, RECURSIVE_PATTERN)


def glob_recursive_cloudpathlib(ctx: RunContext) -> None:
    """``S3Path.glob`` from ``tree``."""
    _glob_cloudpathlib(ctx, RECURSIVE_PATTERN)


def glob_recursive_original(ctx: RunContext) -> None:
    """``AutoStore.list_files(pattern)`` of autostore 0.1.18."""
    _glob_original(ctx, RECURSIVE_PATTERN)


def glob_one_level_autostore(ctx: RunContext) -> None:
    """``Store.glob("tree/*/*.parquet")``."""
    _glob_autostore(ctx, ONE_LEVEL_PATTERN)


def glob_one_level_s3fs(ctx: RunContext) -> None:
    """``S3FileSystem.glob``."""
    _glob_s3fs(ctx, ONE_LEVEL_PATTERN)


def glob_one_level_cloudpathlib(ctx: RunContext) -> None:
    """``S3Path.glob`` from ``tree``."""
    _glob_cloudpathlib(ctx, ONE_LEVEL_PATTERN)


def glob_one_level_original(ctx: RunContext) -> None:
    """``AutoStore.list_files(pattern)`` of autostore 0.1.18."""
    _glob_original(ctx, ONE_LEVEL_PATTERN)


WORKLOADS = (
    Workload(
        name="list",
        title="list {tree}",
        tools=(
            Tool(AUTOSTORE, list_autostore),
            Tool("obstore", list_obstore),
            Tool("boto3", list_boto3),
            Tool("s3fs", list_s3fs),
            Tool("cloudpathlib", list_cloudpathlib),
            Tool(ORIGINAL, list_original, interpreter="original"),
        ),
        prepare=_prepare,
        tags=frozenset({"transfer", "listing"}),
        note="AutoStore = the Rust core's Store.list and Store.glob.",
    ),
    Workload(
        name="glob-recursive",
        title=f"glob `{RECURSIVE_PATTERN}` over {{tree}}",
        tools=(
            Tool(AUTOSTORE, glob_recursive_autostore),
            Tool("s3fs", glob_recursive_s3fs),
            Tool("cloudpathlib", glob_recursive_cloudpathlib),
            Tool(ORIGINAL, glob_recursive_original, interpreter="original"),
        ),
        prepare=_prepare,
        tags=frozenset({"transfer", "glob"}),
        note="AutoStore = the Rust core's Store.list and Store.glob.",
    ),
    Workload(
        name="glob-one-level",
        title=f"glob `{ONE_LEVEL_PATTERN}` over {{tree}}",
        tools=(
            Tool(AUTOSTORE, glob_one_level_autostore),
            Tool("s3fs", glob_one_level_s3fs),
            Tool("cloudpathlib", glob_one_level_cloudpathlib),
            Tool(ORIGINAL, glob_one_level_original, interpreter="original"),
        ),
        prepare=_prepare,
        tags=frozenset({"transfer", "glob"}),
        note="AutoStore = the Rust core's Store.list and Store.glob.",
    ),
)
