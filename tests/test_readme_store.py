"""Every code example of the seed README's AutoStore sections, run as written.

Substitutions only: bucket names become fresh buckets of the local S3 server, endpoints become its
URL, and the AWS profiles the examples name (``my-profile``, ``prod``, ...) are static profiles of a
temporary AWS config holding the server's keys, so ``profile_name=...`` really resolves. Local paths
(``./data``) are relative to a temporary working directory.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from autostore.testing import LocalS3Server

PROFILES = ("default", "my-profile", "aws-production", "prod", "aws-prod", "production")


@dataclass
class ReadmeEnv:
    """The local S3 server as the README examples see it."""

    server: LocalS3Server
    make_bucket: Callable[[], str]


@pytest.fixture
def readme_env(
    s3_server: LocalS3Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    aws_profiles: Callable[[Iterable[str]], Path],
) -> Iterator[ReadmeEnv]:
    """AWS config files with the README's profiles, a temp working directory, fresh buckets."""
    if not s3_server.running:
        s3_server.restart()
    aws_profiles(PROFILES)
    # The default cache directory of the examples must not be the user's.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    buckets: list[str] = []

    def make_bucket() -> str:
        name = f"readme-{uuid.uuid4().hex[:20]}"
        s3_server.create_bucket(name)
        buckets.append(name)
        return name

    yield ReadmeEnv(s3_server, make_bucket)
    for name in buckets:
        s3_server.delete_bucket(name)


def sample_frame() -> pl.DataFrame:
    """The ``df`` the examples assume."""
    return pl.DataFrame({"region": ["north", "south", "north"], "sales": [10.0, 20.5, 7.25]})


def test_basic_usage_zero_configuration(readme_env: ReadmeEnv) -> None:
    df = sample_frame()

    from autostore import AutoStore

    # Local storage - no configuration needed
    store = AutoStore("./data")

    # Write data - automatically saves with appropriate extensions
    store["my_dataframe"] = df  # ./data/my_dataframe.parquet
    store["config"] = {"key": "value"}  # ./data/config.json
    store["logs"] = [{"event": "start"}]  # ./data/logs.jsonl

    # Read data
    df = store["my_dataframe"]  # Returns a Polars DataFrame
    config = store["config"]  # Returns a dict
    logs = store["logs"]  # Returns a list of dicts

    assert sorted(path.name for path in Path("data").iterdir()) == [
        "config.json",
        "logs.jsonl",
        "my_dataframe.parquet",
    ]
    assert isinstance(df, pl.DataFrame)
    assert df.equals(sample_frame())
    assert config == {"key": "value"}
    assert logs == [{"event": "start"}]


def test_cloud_storage_automatic_detection(readme_env: ReadmeEnv) -> None:
    bucket = readme_env.make_bucket()

    from autostore import AutoStore
    from autostore.s3 import S3Options

    # S3 - automatically detected from s3:// prefix
    store = AutoStore(f"s3://{bucket}/data/", profile_name="my-profile", cache_enabled=True)

    # Or with explicit options
    options = S3Options(
        profile_name="my-profile", region_name="us-east-1", cache_enabled=True, cache_expiry_hours=12
    )
    store = AutoStore(f"s3://{bucket}/data/", options=options)

    # Write data to S3
    store["experiment/results"] = {"accuracy": 0.95, "epochs": 100}

    # Read data from S3
    results = store["experiment/results"]  # Uses cache on subsequent loads

    assert results == {"accuracy": 0.95, "epochs": 100}
    listed = readme_env.server.request("GET", f"/{bucket}", query={"list-type": "2"})
    assert b"<Key>data/experiment/results.json</Key>" in listed.body
    assert store.primary_backend.backend.cache is not None


def test_cross_backend_access(readme_env: ReadmeEnv) -> None:
    bucket = readme_env.make_bucket()

    from autostore import AutoStore

    # Create a local store as primary backend
    store = AutoStore("./local-cache", cache_enabled=True)

    # Access different backends using full URIs
    store["local_file"] = {"type": "local"}  # Primary backend
    store[f"s3://{bucket}/remote.json"] = {"type": "s3"}  # S3 backend

    # Read from any backend
    local_data = store["local_file"]  # From local
    s3_data = store[f"s3://{bucket}/remote.json"]  # From S3

    assert local_data == {"type": "local"}
    assert s3_data == {"type": "s3"}
    assert Path("local-cache/local_file.json").is_file()


def test_multiple_s3_compatible_services(readme_env: ReadmeEnv) -> None:
    aws_bucket, minio_bucket, space = (readme_env.make_bucket() for _ in range(3))
    endpoint = readme_env.server.endpoint_url

    from autostore import AutoStore
    from autostore.s3 import S3Options

    # Register new schemes for different S3-compatible services
    AutoStore.register_scheme("minio", "autostore.s3")
    AutoStore.register_scheme("digitalocean", "autostore.s3")

    # Create service-specific options with different configurations
    aws_options = S3Options(
        scheme="s3", profile_name="aws-production", region_name="us-east-1", cache_enabled=True
    )

    minio_options = S3Options(
        scheme="minio",
        endpoint_url=endpoint,
        aws_access_key_id=readme_env.server.access_key_id,
        aws_secret_access_key=readme_env.server.secret_access_key,
        region_name="us-east-1",
    )

    digitalocean_options = S3Options(
        scheme="digitalocean", endpoint_url=endpoint, region_name="nyc3", cache_enabled=True
    )

    # Create AutoStore with multiple backend options
    store = AutoStore("./local-cache", options=[aws_options, minio_options, digitalocean_options])

    # Each scheme automatically uses its appropriate configuration
    store[f"s3://{aws_bucket}/data.json"] = {"source": "aws"}
    store[f"minio://{minio_bucket}/data.json"] = {"source": "minio"}
    store[f"digitalocean://{space}/data.json"] = {"source": "digitalocean"}

    # Cross-backend data access with automatic option selection
    aws_data = store[f"s3://{aws_bucket}/data.json"]
    minio_data = store[f"minio://{minio_bucket}/data.json"]
    digitalocean_data = store[f"digitalocean://{space}/data.json"]

    assert aws_data == {"source": "aws"}
    assert minio_data == {"source": "minio"}
    assert digitalocean_data == {"source": "digitalocean"}
    assert store.locate(f"minio://{minio_bucket}/x").backend.options is minio_options
    assert store.locate(f"digitalocean://{space}/x").backend.options is digitalocean_options
    assert store.locate(f"minio://{minio_bucket}/x").backend.cache is None


def test_dataset_support(readme_env: ReadmeEnv) -> None:
    bucket = readme_env.make_bucket()
    from autostore import AutoStore

    with AutoStore(f"s3://{bucket}/datasets/") as setup:
        for month, temps in (("january", [1.0, -2.0]), ("february", [0.5]), ("march", [6.0, 8.5])):
            setup[f"weather/2024/{month}.parquet"] = pl.DataFrame({"month": month, "temp": temps})

    store = AutoStore(f"s3://{bucket}/datasets/")

    # Access parquet dataset (multiple files)
    weather_data = store["weather/2024/"]  # Loads entire dataset as LazyFrame

    # Access individual file
    single_file = store["weather/2024/january.parquet"]

    # List files in dataset
    files = list(store.list_files("weather/2024/*", recursive=True))

    assert isinstance(weather_data, pl.LazyFrame)
    assert weather_data.collect().height == 5
    assert isinstance(single_file, pl.DataFrame)
    assert single_file["temp"].to_list() == [1.0, -2.0]
    assert sorted(files) == [
        "weather/2024/february.parquet",
        "weather/2024/january.parquet",
        "weather/2024/march.parquet",
    ]
    store.close()


def test_configuration_options(readme_env: ReadmeEnv) -> None:
    from autostore import Options

    base_options = Options(
        cache_enabled=True,  # Enable local caching
        cache_dir="./cache",  # Custom cache directory
        cache_expiry_hours=12,  # Cache expiration time (0 = never expire)
        timeout=30,  # Request timeout in seconds
        max_retries=3,  # Maximum retry attempts
        retry_delay=1.0,  # Delay between retries
    )

    from autostore.s3 import S3Options

    s3_options = S3Options(
        # Scheme specification for multi-backend support
        scheme="s3",  # URI scheme this options applies to
        # Authentication
        aws_access_key_id="your-key",
        aws_secret_access_key="your-secret",
        profile_name="my-profile",  # AWS profile name
        # Configuration
        region_name="us-east-1",
        endpoint_url=readme_env.server.endpoint_url,  # For S3-compatible services
        # Performance
        multipart_threshold=64 * 1024 * 1024,  # Files > 64MB use multipart
        multipart_chunksize=16 * 1024 * 1024,  # Chunk size for uploads
        max_concurrency=10,  # Concurrent operations
        # Inherited from Options
        cache_enabled=True,
        cache_expiry_hours=6,  # 0 = never expire
    )

    assert base_options.cache_expiry_hours == 12
    assert base_options.cache_dir == "./cache"
    assert s3_options.max_concurrency == 10
    assert "your-secret" not in repr(s3_options)


def test_usage_patterns(readme_env: ReadmeEnv) -> None:
    bucket = readme_env.make_bucket()
    from autostore import AutoStore
    from autostore.s3 import S3Options

    # Method 1: Keyword arguments
    store = AutoStore(f"s3://{bucket}/", profile_name="prod", cache_enabled=True)
    store["method1"] = {"m": 1}

    # Method 2: Single options object
    options = S3Options(scheme="s3", profile_name="prod", cache_enabled=True)
    store = AutoStore(f"s3://{bucket}/", options=options)
    assert store["method1"] == {"m": 1}

    # Method 3: Multiple options for different services
    AutoStore.register_scheme("minio", "autostore.s3")
    aws_options = S3Options(scheme="s3", profile_name="aws-prod")
    minio_options = S3Options(scheme="minio", endpoint_url="https://minio.example.com")
    store = AutoStore("./cache", options=[aws_options, minio_options])
    assert store[f"s3://{bucket}/method1.json"] == {"m": 1}
    assert store.options_for_scheme("minio") is minio_options

    # Method 4: Mixed (options object + additional kwargs)
    base_options = S3Options(scheme="s3", profile_name="prod")
    store = AutoStore(f"s3://{bucket}/", options=base_options, cache_enabled=True)
    assert store.options.cache_enabled is True
    assert store.options.profile_name == "prod"
    assert store["method1"] == {"m": 1}


def test_backend_management(readme_env: ReadmeEnv) -> None:
    bucket, minio_bucket, space = (readme_env.make_bucket() for _ in range(3))
    endpoint = readme_env.server.endpoint_url
    from autostore import AutoStore
    from autostore.s3 import S3Options

    # Register new S3-compatible services
    AutoStore.register_scheme("minio", "autostore.s3")
    AutoStore.register_scheme("digitalocean", "autostore.s3")

    store = AutoStore(
        "./data",
        options=[
            S3Options(scheme="s3", profile_name="aws-production"),
            S3Options(scheme="minio", profile_name="my-profile", endpoint_url=endpoint),
            S3Options(scheme="digitalocean", endpoint_url=endpoint, region_name="nyc3"),
        ],
    )
    store[f"s3://{bucket}/file.json"] = {"from": "s3"}
    store[f"minio://{minio_bucket}/file.json"] = {"from": "minio"}
    store[f"digitalocean://{space}/file.json"] = {"from": "digitalocean"}

    # Check supported backends
    backends = store.get_supported_backends()
    print(f"Available: {backends}")  # ['s3', 'minio', 'digitalocean', 'file', '']

    # View active backends
    active = store.list_active_backends()
    print(f"Active: {active}")  # ['primary: ./data', 's3: s3://bucket/', 'minio: minio://bucket/']

    # Backend auto-loading with appropriate options
    data = store[f"s3://{bucket}/file.json"]  # Uses AWS S3 options
    assert data == {"from": "s3"}
    data = store[f"minio://{minio_bucket}/file.json"]  # Uses MinIO options
    assert data == {"from": "minio"}
    data = store[f"digitalocean://{space}/file.json"]  # Uses DigitalOcean options
    assert data == {"from": "digitalocean"}

    assert {"s3", "minio", "digitalocean", "file", ""} <= set(backends)
    assert active == [
        "primary: ./data",
        f"s3: s3://{bucket}/",
        f"minio: minio://{minio_bucket}/",
        f"digitalocean: digitalocean://{space}/",
    ]


def test_dataset_operations(readme_env: ReadmeEnv) -> None:
    bucket = readme_env.make_bucket()
    from autostore import AutoStore

    store = AutoStore(f"s3://{bucket}/")
    for index in range(3):
        store[f"path/to/data/part{index}.parquet"] = pl.DataFrame({"n": [index]})
        store[f"dataset/chunk{index}.csv"] = pl.DataFrame({"n": [index]})
        store[f"weather_data/day{index}.parquet"] = pl.DataFrame({"n": [index, index]})

    # Dataset detection
    is_dataset = store.primary_backend.is_dataset("path/to/data/")
    is_directory = store.primary_backend.is_directory("path/")

    # List dataset files
    files = list(store.list_files("dataset/*", recursive=True))

    # Load entire dataset (for parquet/CSV collections)
    lazy_frame = store["weather_data/"]  # Loads all parquet files as one LazyFrame

    assert is_dataset is True
    assert is_directory is True
    assert sorted(files) == [f"dataset/chunk{index}.csv" for index in range(3)]
    assert lazy_frame.collect()["n"].sum() == 6
    store.close()


def test_caching_system(readme_env: ReadmeEnv) -> None:
    bucket = readme_env.make_bucket()
    from autostore import AutoStore

    # Enable caching for any backend
    store = AutoStore(f"s3://{bucket}/", cache_enabled=True, cache_expiry_hours=6)
    store["large_file"] = b"\x00" * 300_000
    assert store["large_file"] == b"\x00" * 300_000

    # Never expire cache entries (useful for immutable data)
    store = AutoStore(f"s3://{bucket}/", cache_enabled=True, cache_expiry_hours=0)

    # Cache management
    store.cleanup_cache()  # Remove expired cache entries

    # Check cache status
    metadata = store.get_metadata("large_file")
    print(f"File size: {metadata.size} bytes")
    print(f"ETag: {metadata.etag}")

    assert metadata.size == 300_000
    assert metadata.etag
    assert store["large_file"] == b"\x00" * 300_000


def test_custom_data_handlers(readme_env: ReadmeEnv) -> None:
    from autostore import AutoStore

    store = AutoStore("./data")

    from pathlib import Path

    from autostore.autostore import DataHandler

    class CustomLogHandler(DataHandler):
        def can_handle_extension(self, extension: str) -> bool:
            return extension.lower() == ".log"

        def can_handle_data(self, data) -> bool:
            return isinstance(data, list) and all(
                isinstance(item, dict) and "timestamp" in item for item in data
            )

        def read_from_file(self, file_path: Path, file_extension: str):
            logs = []
            with open(file_path) as f:
                for line in f:
                    if line.strip():
                        logs.append(json.loads(line))
            return logs

        def write_to_file(self, data, file_path: Path, file_extension: str):
            file_path.parent.mkdir(parents=True, exist_ok=True)
            with open(file_path, "w") as f:
                for entry in data:
                    f.write(json.dumps(entry) + "\n")

        @property
        def extensions(self):
            return [".log"]

        @property
        def priority(self):
            return 15

    # Register the handler
    store.register_handler(CustomLogHandler())

    events = [{"timestamp": "2024-01-01T00:00:00", "msg": "up"}, {"timestamp": "2024-01-01T00:01:00"}]
    store["service/events"] = events
    assert Path("data/service/events.log").is_file()
    assert store["service/events"] == events
    store["app.log"] = events[:1]
    assert store["app.log"] == events[:1]
    store["plain"] = [{"no": "timestamp"}]
    assert Path("data/plain.jsonl").is_file()


def test_file_operations(readme_env: ReadmeEnv, capsys: pytest.CaptureFixture[str]) -> None:
    bucket = readme_env.make_bucket()
    from autostore import AutoStore

    store = AutoStore(f"s3://{bucket}/files/", profile_name="my-profile")
    store["config"] = {"debug": False}
    store["large_dataset"] = sample_frame()
    store["original"] = {"version": 1}
    store["temp_file"] = "work in progress"
    store["old_data"] = [1, 2, 3]

    # Check existence
    if "config" in store:
        print("Config file exists")

    # List all files
    for key in store.keys():  # noqa: SIM118 - as the README writes it
        print(f"File: {key}")

    # Get file metadata
    metadata = store.get_metadata("large_dataset")
    print(f"Size: {metadata.size} bytes")
    print(f"Modified: {metadata.modified_time}")

    # Copy and move files
    store.copy("original", "backup")
    store.move("temp_file", "permanent_file")

    # Delete files
    del store["old_data"]

    printed = capsys.readouterr().out
    assert "Config file exists" in printed
    assert "File: large_dataset" in printed
    assert f"Size: {metadata.size} bytes" in printed
    assert metadata.size > 0
    assert store["backup"] == {"version": 1}
    assert store["permanent_file"] == "work in progress"
    assert "temp_file" not in store
    assert "old_data" not in store
    assert sorted(store) == ["backup", "config", "large_dataset", "original", "permanent_file"]


def test_context_management(readme_env: ReadmeEnv) -> None:
    from autostore import AutoStore, Options

    config = Options()
    large_dataset = sample_frame()

    # Automatic cleanup of temporary files and cache
    with AutoStore("./data", config=config) as store:
        store["data"] = large_dataset
        results = store["data"]
    # Temporary files are automatically cleaned up here

    assert results.equals(large_dataset)
    assert store._temp_path is None


def test_context_management_releases_remote_dataset_downloads(readme_env: ReadmeEnv) -> None:
    bucket = readme_env.make_bucket()
    from autostore import AutoStore, Options

    config = Options()
    with AutoStore(f"s3://{bucket}/", config=config) as store:
        store["parts/a.parquet"] = sample_frame()
        store["parts/b.parquet"] = sample_frame()
        results = store["parts/"]
        assert results.collect().height == 6
        downloads = store.temp_dir
        assert any(downloads.rglob("*.parquet"))
    assert not downloads.exists()
