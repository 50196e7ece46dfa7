"""Dataset load and collect: 50 parquet files (~200 MB) under one prefix, as one Polars frame.

AutoStore is ``AutoStore(...)["dataset/"]`` collected (a LazyFrame over every file of the prefix);
polars is its own cloud reader, ``pl.scan_parquet("s3://.../*.parquet", storage_options=...)``. Each
file holds a sequential ``id`` and two columns of random floats; a result is checked by its row count,
the sum of ``id`` and the sum of ``x``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from benches import clients
from benches.worker import AUTOSTORE, ORIGINAL, RunContext, Tool, VerificationError, Workload, expect

if TYPE_CHECKING:
    from benches.harness import BenchEnv

BUCKET = "bench-dataset"
PREFIX = "dataset/"
_RELATIVE_TOLERANCE = 1e-9


def _prepare(env: BenchEnv) -> dict[str, Any]:
    """Write the parquet files locally with polars and upload them with the core."""
    import numpy as np
    import polars as pl

    files, rows = env.scale.dataset_files, env.scale.dataset_rows_per_file
    generator = np.random.default_rng(8)
    local_dir = env.data_dir / "dataset"
    local_dir.mkdir()
    store = env.store(BUCKET)
    x_sum = 0.0
    total_bytes = 0
    for index in range(files):
        x = generator.random(rows)
        frame = pl.DataFrame(
            {
                "id": np.arange(index * rows, (index + 1) * rows, dtype=np.int64),
                "x": x,
                "y": generator.random(rows),
            }
        )
        path = local_dir / f"part-{index:03d}.parquet"
        frame.write_parquet(path)
        store.upload_file(path, f"{PREFIX}part-{index:03d}.parquet")
        total_bytes += path.stat().st_size
        x_sum += float(x.sum())
    total_rows = files * rows
    return {
        "bucket": BUCKET,
        "prefix": PREFIX,
        "rows": total_rows,
        "id_sum": total_rows * (total_rows - 1) // 2,
        "x_sum": x_sum,
        "bytes": total_bytes,
    }


def _collected(value: Any) -> Any:
    """A DataFrame from what a tool returned (a LazyFrame is collected, a DataFrame kept)."""
    collect = getattr(value, "collect", None)
    return collect() if callable(collect) else value


def _check_frame(ctx: RunContext, frame: Any) -> None:
    expect("row count of the dataset", frame.height, ctx.params["rows"])
    expect("sum of the id column", int(frame["id"].sum()), ctx.params["id_sum"])
    x_sum = float(frame["x"].sum())
    if not math.isclose(x_sum, ctx.params["x_sum"], rel_tol=_RELATIVE_TOLERANCE):
        raise VerificationError(f"sum of the x column: got {x_sum!r}, expected {ctx.params['x_sum']!r}")


def load_autostore(ctx: RunContext) -> None:
    """``AutoStore(...)["dataset/"]``, collected."""
    store = clients.autostore_store(ctx.server, f"s3://{ctx.bucket}/")
    with store:
        with ctx.timed():
            frame = _collected(store[ctx.params["prefix"]])
        _check_frame(ctx, frame)


def load_polars(ctx: RunContext) -> None:
    """``pl.scan_parquet("s3://bucket/dataset/*.parquet", storage_options=...).collect()``."""
    import polars as pl

    uri = f"s3://{ctx.bucket}/{ctx.params['prefix']}*.parquet"
    options = clients.polars_storage_options(ctx.server)
    with ctx.timed():
        frame = pl.scan_parquet(uri, storage_options=options).collect()
    _check_frame(ctx, frame)


def load_original(ctx: RunContext) -> None:
    """``AutoStore(...).read("dataset/", format="parquet")`` of autostore 0.1.18, collected.

    0.1.18 finds no handler for a bare ``store["dataset/"]`` on S3 and then fails, so it is given
    the format explicitly.
    """
    store = clients.original_store(ctx.server, ctx.bucket)
    with ctx.timed():
        frame = _collected(store.read(ctx.params["prefix"], format="parquet"))
    _check_frame(ctx, frame)


WORKLOADS = (
    Workload(
        name="dataset",
        title="dataset load + collect, {dataset}",
        tools=(
            Tool(AUTOSTORE, load_autostore),
            Tool("polars", load_polars),
            Tool(ORIGINAL, load_original, interpreter="original"),
        ),
        prepare=_prepare,
        requires=("AutoStore",),
        tags=frozenset({"dataset"}),
        measure_rss=True,
        note="AutoStore = AutoStore(...)['dataset/'].collect(); polars = pl.scan_parquet on the S3 prefix.",
    ),
)
