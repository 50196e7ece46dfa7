"""Every AutoPath example of the seed README, run as written against the local S3 server.

Substitutions only: each bucket name of the README (``my-bucket``, ``data``, ...) becomes a fresh
bucket of the test server, written ``B["my-bucket"]``; the AWS profiles the examples name
(``aws-prod``, ``production`` and, for paths without a store, ``default``) are static profiles of a
temporary AWS config holding the server's keys and endpoint, so ``profile_name=...`` really resolves;
local paths (``./data``) live in a temporary working directory. The objects an example reads are
written beforehand, and the comments of the examples ("True/False", "s3://my-bucket/...") are checked.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import polars as pl
import pytest

from autostore import AutoPath, AutoStore
from autostore.s3 import S3Options
from autostore.testing import LocalS3Server

README_BUCKETS = (
    "my-bucket",
    "backup-bucket",
    "data-bucket",
    "reports",
    "data",
    "config",
    "experiments",
    "datasets",
    "bucket",
    "logs",
    "app",
    "raw-data",
    "processed",
)
PROFILES = ("default", "aws-prod", "production")


@pytest.fixture
def B(
    s3_server: LocalS3Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    aws_profiles: Callable[[Iterable[str]], Path],
) -> Iterator[dict[str, str]]:
    """README bucket name -> a fresh bucket; AWS profiles and a working directory for the examples."""
    aws_profiles(PROFILES)
    # The examples' caches go to the platform cache directory: keep it inside the test.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    buckets = {name: f"{name}-{uuid.uuid4().hex[:12]}" for name in README_BUCKETS}
    for bucket in buckets.values():
        s3_server.create_bucket(bucket)
    yield buckets
    for bucket in buckets.values():
        s3_server.delete_bucket(bucket)


@pytest.fixture
def store(B: dict[str, str]) -> Iterator[AutoStore]:
    """The store of "Basic AutoPath Usage", which the later sections keep using."""
    # Create a store with multiple backends
    store = AutoStore(
        "./local-data",
        options=[S3Options(scheme="s3", profile_name="aws-prod", cache_enabled=True, cache_expiry_hours=6)],
    )
    yield store
    store.close()


def frame() -> pl.DataFrame:
    return pl.DataFrame({"region": ["north", "south", "north"], "sales": [10.0, 20.5, 7.25]})


def put(uri: str, value: object) -> None:
    """Write an object an example expects to find."""
    AutoPath(uri).save(value)


def read(uri: str) -> bytes:
    """The bytes of an object, read without the examples' store (and its cache)."""
    return AutoPath(uri).read_bytes()


def test_basic_autopath_usage(B: dict[str, str]) -> None:
    Path("local-data").mkdir()
    Path("local-data/config.json").write_text('{"old": true}')
    put(f"s3://{B['my-bucket']}/data/results.parquet", frame())
    stored_results = read(f"s3://{B['my-bucket']}/data/results.parquet")

    from autostore import AutoPath, AutoStore
    from autostore.s3 import S3Options

    # Create a store with multiple backends
    store = AutoStore(
        "./local-data",
        options=[S3Options(scheme="s3", profile_name="aws-prod", cache_enabled=True, cache_expiry_hours=6)],
    )

    # Create AutoPath instances
    local_path = AutoPath("./local-data/config.json", store=store)
    s3_path = AutoPath(f"s3://{B['my-bucket']}/data/results.parquet", store=store)

    # Path operations work the same for local and cloud storage
    config_exists = local_path.exists()  # True/False
    results_exists = s3_path.exists()  # True/False

    # Read files as text or bytes
    config_text = local_path.read_text()  # Read as string
    results_bytes = s3_path.read_bytes()  # Read as bytes

    # Write files
    local_path.write_text('{"key": "value"}')  # Write string
    s3_path.write_bytes(b"binary data")  # Write bytes

    assert (config_exists, results_exists) == (True, True)
    assert config_text == '{"old": true}'
    assert results_bytes == stored_results
    assert Path("local-data/config.json").read_text() == '{"key": "value"}'
    assert read(f"s3://{B['my-bucket']}/data/results.parquet") == b"binary data"
    # The cached copy follows the write: the store's read sees the new bytes.
    assert s3_path.read_bytes() == b"binary data"
    store.close()


def test_path_manipulation_and_file_and_directory_operations(
    B: dict[str, str],
    store: AutoStore,
    capsys: pytest.CaptureFixture[str],
) -> None:
    put(f"s3://{B['my-bucket']}/datasets/experiment_1/results.parquet", frame())
    put(f"s3://{B['my-bucket']}/datasets/experiment_1/metrics.csv", frame())
    put(f"s3://{B['my-bucket']}/datasets/summary.parquet", frame())

    # Path joining works like pathlib.Path
    data_dir = AutoPath(f"s3://{B['my-bucket']}/datasets", store=store)
    experiment_dir = data_dir / "experiment_1"
    results_file = experiment_dir / "results.parquet"

    print(results_file)  # s3://my-bucket/datasets/experiment_1/results.parquet

    # Path properties
    print(results_file.name)  # results.parquet
    print(results_file.stem)  # results
    print(results_file.suffix)  # .parquet
    print(results_file.parent)  # s3://my-bucket/datasets/experiment_1

    # Navigate parent directories
    parent = results_file.parent
    grandparent = parent.parent
    all_parents = results_file.parents  # List of all parent directories

    # File operations
    if results_file.exists():
        print("File exists")

    if results_file.is_file():
        print("It's a file")

    if data_dir.is_dir():
        print("It's a directory")

    # Directory listing
    for item in data_dir.iterdir():
        print(f"Found: {item}")
        if item.is_file():
            print(f"  File size: {item.stat().size}")

    # Glob patterns
    for parquet_file in data_dir.glob("**/*.parquet"):
        print(f"Parquet file: {parquet_file}")

    for csv_file in experiment_dir.glob("*.csv"):
        print(f"CSV file: {csv_file}")

    root = f"s3://{B['my-bucket']}"
    size = AutoPath(f"{root}/datasets/summary.parquet", store=store).stat().size
    assert capsys.readouterr().out.splitlines() == [
        f"{root}/datasets/experiment_1/results.parquet",
        "results.parquet",
        "results",
        ".parquet",
        f"{root}/datasets/experiment_1",
        "File exists",
        "It's a file",
        "It's a directory",
        f"Found: {root}/datasets/experiment_1",
        f"Found: {root}/datasets/summary.parquet",
        f"  File size: {size}",
        f"Parquet file: {root}/datasets/experiment_1/results.parquet",
        f"Parquet file: {root}/datasets/summary.parquet",
        f"CSV file: {root}/datasets/experiment_1/metrics.csv",
    ]
    assert str(grandparent) == f"{root}/datasets"
    assert [str(path) for path in all_parents] == [f"{root}/datasets/experiment_1", f"{root}/datasets", root]


def test_directory_management(B: dict[str, str], store: AutoStore) -> None:
    put(f"s3://{B['my-bucket']}/old-experiment/results.json", {"old": True})
    put(f"s3://{B['my-bucket']}/old-experiment/logs/run.txt", "log line")

    # For local paths, this creates real directories
    local_dir = AutoPath("./data/analysis", store=store)
    local_dir.mkdir(parents=True, exist_ok=True)

    # Remove directories
    empty_dir = AutoPath(f"s3://{B['my-bucket']}/empty-folder", store=store)
    empty_dir.rmdir()  # Remove empty directory

    # Delete files or directories with contents
    old_experiment = AutoPath(f"s3://{B['my-bucket']}/old-experiment", store=store)
    old_experiment.delete()  # Recursively deletes all contents

    assert Path("data/analysis").is_dir()
    assert not old_experiment.is_dir()
    assert not AutoPath(f"s3://{B['my-bucket']}/old-experiment/logs/run.txt").exists()


def test_file_transfer_operations(B: dict[str, str], store: AutoStore) -> None:
    for local, content in {
        "data/model.pt": b"model weights",
        "temp/processing.csv": b"a,b\n1,2\n",
        "analysis/results.xlsx": b"PK spreadsheet",
    }.items():
        Path(local).parent.mkdir(parents=True, exist_ok=True)
        Path(local).write_bytes(content)
    put(f"s3://{B['data']}/large_dataset.parquet", frame())

    # Copy files between any backends
    local_file = AutoPath("./data/model.pt", store=store)
    s3_backup = AutoPath(f"s3://{B['backup-bucket']}/models/model.pt", store=store)

    # Copy local file to S3
    local_file.copy_to(s3_backup)

    # Move files
    temp_file = AutoPath("./temp/processing.csv", store=store)
    final_location = AutoPath(f"s3://{B['data-bucket']}/processed/final.csv", store=store)
    temp_file.move_to(final_location)

    # Upload from local filesystem
    local_source = "./analysis/results.xlsx"
    s3_destination = AutoPath(f"s3://{B['reports']}/analysis/results.xlsx", store=store)
    s3_destination.upload_from(local_source)

    # Download to local filesystem
    s3_source = AutoPath(f"s3://{B['data']}/large_dataset.parquet", store=store)
    local_destination = "./downloads/dataset.parquet"
    s3_source.download_to(local_destination)

    assert s3_backup.read_bytes() == b"model weights"
    assert Path("data/model.pt").exists()
    assert final_location.read_bytes() == b"a,b\n1,2\n"
    assert not Path("temp/processing.csv").exists()
    assert s3_destination.read_bytes() == b"PK spreadsheet"
    assert pl.read_parquet("downloads/dataset.parquet").equals(frame())


def test_data_loading_with_automatic_format_detection(B: dict[str, str], store: AutoStore) -> None:
    put(f"s3://{B['data']}/sales.parquet", frame())
    put(f"s3://{B['config']}/settings.json", {"theme": "dark"})
    # "Force parquet parsing" of data.csv: an object whose name says CSV but holds parquet.
    AutoPath(f"s3://{B['data']}/data.csv").write_bytes(
        AutoPath(f"s3://{B['data']}/sales.parquet").read_bytes()
    )

    # Load data with automatic format detection
    parquet_path = AutoPath(f"s3://{B['data']}/sales.parquet", store=store)
    df = parquet_path.load()  # Returns Polars DataFrame

    json_path = AutoPath(f"s3://{B['config']}/settings.json", store=store)
    settings = json_path.load()  # Returns dict

    # Force specific format
    csv_as_parquet = AutoPath(f"s3://{B['data']}/data.csv", store=store)
    df = csv_as_parquet.load(format="parquet")  # Force parquet parsing

    # Bypass cache
    fresh_data = parquet_path.load(ignore_cache=True)

    # Save data with automatic format detection
    results = {"accuracy": 0.95, "model": "transformer"}
    results_path = AutoPath(f"s3://{B['experiments']}/run_001/results.json", store=store)
    results_path.save(results)  # Automatically saves as JSON

    # Save DataFrame
    import polars as pl

    df = pl.DataFrame({"a": [1, 2, 3], "b": [4, 5, 6]})
    data_path = AutoPath(f"s3://{B['datasets']}/processed.parquet", store=store)
    data_path.save(df)  # Automatically saves as Parquet

    assert settings == {"theme": "dark"}
    assert isinstance(fresh_data, pl.DataFrame)
    assert fresh_data.equals(frame())
    assert csv_as_parquet.load(format="parquet").equals(frame())
    assert AutoPath(f"s3://{B['experiments']}/run_001/results.json").load() == results
    assert AutoPath(f"s3://{B['datasets']}/processed.parquet").load().equals(df)


def test_autopath_without_explicit_store(B: dict[str, str]) -> None:
    put(f"s3://{B['bucket']}/file.json", {"old": "data"})

    # For local paths
    local_path = AutoPath("./data/file.json")  # Creates local store automatically

    # For S3 URIs
    s3_path = AutoPath(f"s3://{B['bucket']}/file.json")  # Creates S3 store with default options

    # Path operations work the same
    data = s3_path.load()
    s3_path.save({"new": "data"})

    assert data == {"old": "data"}
    assert s3_path.load() == {"new": "data"}
    assert not Path("data").exists()
    assert local_path.name == "file.json"


def test_advanced_path_operations(
    B: dict[str, str],
    store: AutoStore,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The paths of "AutoPath without Explicit Store", used at the end of this example.
    local_path = AutoPath("./data/file.json")
    s3_path = AutoPath(f"s3://{B['bucket']}/file.json")

    # Path pattern matching
    log_path = AutoPath(f"s3://{B['logs']}/app.2024-01-15.log", store=store)
    if log_path.match("*.log"):
        print("It's a log file")

    # Relative paths
    base_path = AutoPath(f"s3://{B['data']}/experiments", store=store)
    result_path = AutoPath(f"s3://{B['data']}/experiments/run_1/results.json", store=store)
    relative = result_path.relative_to(base_path)  # "run_1/results.json"

    # Path transformations
    config_path = AutoPath(f"s3://{B['app']}/config.yaml", store=store)
    backup_path = config_path.with_suffix(".yaml.bak")  # config.yaml.bak
    renamed_path = config_path.with_name("new_config.yaml")  # new_config.yaml
    stemmed_path = config_path.with_stem("production")  # production.yaml

    # Absolute and URI representations
    print(local_path.as_posix())  # Forward slashes
    print(local_path.as_uri())  # file:// URI
    print(s3_path.as_uri())  # s3:// URI
    print(s3_path.is_absolute())  # True for URIs

    assert str(relative) == "run_1/results.json"
    assert (backup_path.name, renamed_path.name, stemmed_path.name) == (
        "config.yaml.bak",
        "new_config.yaml",
        "production.yaml",
    )
    assert str(backup_path) == f"s3://{B['app']}/config.yaml.bak"
    assert capsys.readouterr().out.splitlines() == [
        "It's a log file",
        "data/file.json",
        (tmp_path / "work" / "data" / "file.json").as_uri(),
        f"s3://{B['bucket']}/file.json",
        "True",
    ]


def test_integration_example(B: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    for month, rows in {"january": 3, "february": 2, "march": 4}.items():
        regions = ["north", "south", "east"] * 2
        put(
            f"s3://{B['raw-data']}/sales/2024/{month}.parquet",
            pl.DataFrame({"region": regions[:rows], "sales": [float(i) for i in range(rows)]}),
        )

    from autostore import AutoPath, AutoStore
    from autostore.s3 import S3Options

    # Setup store with caching
    store = AutoStore(
        "./cache",
        options=[
            S3Options(
                scheme="s3",
                profile_name="production",
                cache_enabled=True,
                cache_expiry_hours=0,  # Never expire
            )
        ],
    )

    # Define paths
    raw_data = AutoPath(f"s3://{B['raw-data']}/sales/2024/", store=store)
    processed_data = AutoPath(f"s3://{B['processed']}/sales_summary.parquet", store=store)
    local_backup = AutoPath("./backups/sales_summary.parquet", store=store)

    # Process data using path-like interface
    if raw_data.is_dir():
        # Load all files in directory as dataset
        df = raw_data.load()  # Loads entire directory as LazyFrame

        # Process data
        summary = df.group_by("region").agg(
            [
                pl.col("sales").sum().alias("total_sales"),
                pl.col("sales").count().alias("transaction_count"),
            ]
        )

        # Save processed data
        processed_data.save(summary.collect())

        # Create local backup
        processed_data.copy_to(local_backup)

        # README: `summary.height`, but `summary` is a LazyFrame here, which has no height.
        print(f"Processed {summary.collect().height} regions")
        print(f"Backup created at: {local_backup}")

    assert isinstance(df, pl.LazyFrame)
    backup = pl.read_parquet("backups/sales_summary.parquet").sort("region")
    assert backup["region"].to_list() == ["east", "north", "south"]
    assert backup["transaction_count"].to_list() == [2, 4, 3]
    assert backup["total_sales"].to_list() == [4.0, 3.0, 3.0]
    assert capsys.readouterr().out.splitlines() == [
        "Processed 3 regions",
        "Backup created at: backups/sales_summary.parquet",
    ]
    store.close()
