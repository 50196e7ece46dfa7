"""AutoStore: the mapping rules of DESIGN.md §4-§5 on a local directory, memory and the local S3 server."""

from __future__ import annotations

import dataclasses
import gc
import json
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pydantic
import pytest
from PIL import Image
from scipy import sparse

from autostore import (
    AmbiguousKeyError,
    AutoStore,
    HandlerError,
    InvalidConfigError,
    InvalidKeyError,
    KeyNotFoundError,
    Options,
)
from autostore import io as store_io
from autostore.autostore import DataHandler
from autostore.handlers import JSONHandler, TextHandler
from autostore.s3 import S3Options


class Point(pydantic.BaseModel):
    """A pydantic model stored as ``.pydantic.json``."""

    x: int
    y: float
    label: str = "p"


@dataclasses.dataclass
class Run:
    """A dataclass stored as ``.dataclass.json``."""

    name: str
    scores: list[float]


class Opaque:
    """A value no specific handler takes: it goes to pickle."""

    def __init__(self, payload: object) -> None:
        self.payload = payload

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and other.payload == self.payload

    __hash__ = None  # type: ignore[assignment]


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture
def local_store(tmp_path: Path) -> Iterator[AutoStore]:
    """A store on a fresh local directory (not created until the first write)."""
    with AutoStore(tmp_path / "data") as store:
        yield store


@pytest.fixture
def s3_store(s3_bucket: str, s3_options: dict[str, Any]) -> Iterator[AutoStore]:
    """A store on ``s3://<fresh bucket>/data/`` of the local S3 server, without a cache."""
    with AutoStore(f"s3://{s3_bucket}/data/", **s3_options) as store:
        yield store


@pytest.fixture(params=["local", "memory", pytest.param("s3", marks=pytest.mark.s3)])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AutoStore]:
    """The same tests on each kind of backend."""
    if request.param == "local":
        store = AutoStore(tmp_path / "data")
    elif request.param == "memory":
        store = AutoStore(f"memory://{uuid.uuid4().hex}/root")
    else:
        bucket = request.getfixturevalue("s3_bucket")
        store = AutoStore(f"s3://{bucket}/data/", **request.getfixturevalue("s3_options"))
    with store:
        yield store


def object_keys(store: AutoStore) -> list[str]:
    """Every object under the store's root, extensions included, sorted."""
    return sorted(store.list_files("**/*"))


# --- every data type round-trips --------------------------------------------------------------------


def _frame() -> pl.DataFrame:
    return pl.DataFrame({"city": ["Oslo", "Lima"], "temp": [3.5, 18.25], "n": [1, 2]})


def _torch_values() -> list[tuple[str, Callable[[], Any], str]]:
    import torch

    return [
        ("tensor", lambda: torch.arange(6, dtype=torch.float32).reshape(2, 3), ".pt"),
        ("state_dict", lambda: {"weight": torch.ones(2, 2), "step": 3}, ".pt"),
    ]


ROUND_TRIPS: list[tuple[str, Callable[[], Any], str]] = [
    ("dataframe", _frame, ".parquet"),
    ("dict", lambda: {"key": "value", "nested": {"n": [1, 2.5, None, True]}}, ".json"),
    ("records", lambda: [{"event": "start"}, {"event": "stop", "t": 2}], ".jsonl"),
    ("list", lambda: [1, "two", 3.0], ".json"),
    ("empty_list", lambda: [], ".json"),
    ("text", lambda: "héllo\r\nworld", ".txt"),
    ("bytes", lambda: b"\x00\x01binary\xff", ".bin"),
    ("pydantic", lambda: Point(x=1, y=2.5, label="a"), ".pydantic.json"),
    ("dataclass", lambda: Run(name="r1", scores=[0.5, 0.75]), ".dataclass.json"),
    ("array", lambda: np.arange(12, dtype=np.int32).reshape(3, 4), ".npy"),
    ("arrays", lambda: {"a": np.zeros(3), "b": np.eye(2)}, ".npz"),
    ("sparse", lambda: sparse.csr_matrix(np.eye(4)), ".sparse"),
    ("image", lambda: Image.new("RGB", (4, 3), (10, 20, 30)), ".png"),
    ("object", lambda: Opaque({1, 2, 3}), ".pkl"),
]


def assert_same(expected: Any, actual: Any) -> None:
    """Equality that understands frames, arrays, sparse matrices, images and tensors."""
    if isinstance(expected, pl.DataFrame):
        assert isinstance(actual, pl.DataFrame)
        assert actual.equals(expected)
    elif isinstance(expected, np.ndarray):
        assert type(actual) is np.ndarray
        np.testing.assert_array_equal(actual, expected)
        assert actual.dtype == expected.dtype
    elif sparse.issparse(expected):
        assert type(actual) is type(expected)
        assert (actual != expected).nnz == 0
    elif isinstance(expected, Image.Image):
        assert isinstance(actual, Image.Image)
        assert actual.tobytes() == expected.tobytes()
        assert actual.size == expected.size
    elif type(expected) is dict and expected and all(isinstance(v, np.ndarray) for v in expected.values()):
        assert actual.keys() == expected.keys()
        for name, array in expected.items():
            np.testing.assert_array_equal(actual[name], array)
    elif type(expected).__module__.startswith("torch"):
        torch = sys.modules["torch"]
        assert torch.equal(actual, expected)
    elif type(expected) is dict and any(type(v).__module__.startswith("torch") for v in expected.values()):
        torch = sys.modules["torch"]
        assert actual.keys() == expected.keys()
        for name, value in expected.items():
            assert torch.equal(actual[name], value) if hasattr(value, "shape") else actual[name] == value
    else:
        assert type(actual) is type(expected)
        assert actual == expected


@pytest.mark.parametrize(("name", "make", "extension"), ROUND_TRIPS, ids=[row[0] for row in ROUND_TRIPS])
def test_every_type_round_trips_with_its_extension(
    any_store: AutoStore, name: str, make: Callable[[], Any], extension: str
) -> None:
    value = make()
    any_store[f"values/{name}"] = value
    assert object_keys(any_store) == [f"values/{name}{extension}"]
    assert_same(value, any_store[f"values/{name}"])
    assert_same(value, any_store[f"values/{name}{extension}"])


def test_torch_values_round_trip(local_store: AutoStore) -> None:
    for name, make, extension in _torch_values():
        value = make()
        local_store[name] = value
        assert f"{name}{extension}" in object_keys(local_store)
        assert_same(value, local_store[name])


def test_lazyframe_is_written_as_parquet_and_reads_back_as_dataframe(any_store: AutoStore) -> None:
    any_store["lazy"] = _frame().lazy()
    assert object_keys(any_store) == ["lazy.parquet"]
    assert any_store["lazy"].equals(_frame())


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("table.csv", _frame()),
        ("settings.yaml", {"a": 1, "b": ["x", "y"]}),
        ("settings.yml", ["only", "a", "list"]),
        ("page.html", "<p>hi</p>"),
        ("notes.md", "# title"),
        ("scalar.json", 42),
        ("model.pth", None),
        ("legacy.sparse.npz", sparse.coo_matrix(np.eye(3))),
        ("photo.jpg", Image.new("L", (2, 2), 128)),
    ],
)
def test_explicit_extensions_choose_the_format(local_store: AutoStore, key: str, value: Any) -> None:
    if key == "model.pth":
        import torch

        value = torch.nn.Linear(2, 1)
        local_store[key] = value
        loaded = local_store[key]
        assert isinstance(loaded, torch.nn.Linear)
        assert torch.equal(loaded.weight, value.weight)
        return
    local_store[key] = value
    assert object_keys(local_store) == [key]
    assert_same(value, local_store[key])


# --- write rules ------------------------------------------------------------------------------------


def test_extensionless_write_replaces_other_representations(any_store: AutoStore) -> None:
    any_store["config"] = {"key": "value"}
    assert object_keys(any_store) == ["config.json"]
    any_store["config"] = "now text"
    assert object_keys(any_store) == ["config.txt"]
    assert any_store["config"] == "now text"


def test_write_with_extension_keeps_other_formats_and_makes_the_key_ambiguous(any_store: AutoStore) -> None:
    any_store["report.json"] = {"a": 1}
    any_store["report.txt"] = "a=1"
    assert object_keys(any_store) == ["report.json", "report.txt"]
    with pytest.raises(AmbiguousKeyError) as caught:
        any_store["report"]
    assert "report.json" in str(caught.value)
    assert "report.txt" in str(caught.value)
    assert "report" in any_store
    assert any_store["report.txt"] == "a=1"


def test_longest_extension_wins_and_stem_must_match(local_store: AutoStore) -> None:
    local_store["point.pydantic.json"] = Point(x=3, y=4.0)
    local_store["config.backup.json"] = {"old": True}
    local_store["config"] = {"new": True}
    assert isinstance(local_store["point"], Point)
    assert sorted(local_store) == ["config", "config.backup", "point"]
    assert local_store["config"] == {"new": True}


def test_wrong_type_for_explicit_extension_names_key_type_and_handler(any_store: AutoStore) -> None:
    with pytest.raises(TypeError) as caught:
        any_store["frame.parquet"] = {"a": 1}
    message = str(caught.value)
    assert "frame.parquet" in message
    assert "dict" in message
    assert "PolarsHandler" in message
    with pytest.raises(TypeError, match=r"int at .*notes\.txt.*TextHandler.*expected str"):
        any_store["notes.txt"] = 5
    assert object_keys(any_store) == []


def test_failed_write_keeps_the_previous_value(any_store: AutoStore) -> None:
    any_store["state.json"] = {"version": 1}
    with pytest.raises(TypeError):
        any_store["state.json"] = {"bad": object()}

    class Exploding(DataHandler):
        """Writes half a file, then fails."""

        def can_handle_extension(self, extension: str) -> bool:
            return extension.lower() == ".json"

        def can_handle_data(self, data: Any) -> bool:
            return True

        def read_from_file(self, file_path: Path, file_extension: str) -> Any:
            return json.loads(file_path.read_bytes())

        def write_to_file(self, data: Any, file_path: Path, file_extension: str) -> None:
            file_path.write_bytes(b'{"version": ')
            raise RuntimeError("disk on fire")

        @property
        def extensions(self) -> list[str]:
            return [".json"]

        @property
        def priority(self) -> int:
            return 100

    any_store.register_handler(Exploding())
    with pytest.raises(RuntimeError, match="disk on fire"):
        any_store["state.json"] = {"version": 2}
    assert any_store["state.json"] == {"version": 1}
    assert object_keys(any_store) == ["state.json"]


def test_writing_to_a_prefix_key_is_refused(local_store: AutoStore) -> None:
    with pytest.raises(InvalidKeyError, match="names a directory"):
        local_store["folder/"] = {"a": 1}


def test_write_returns_the_key_written(any_store: AutoStore) -> None:
    assert any_store.write("a/b", {"x": 1}) == "a/b.json"
    assert any_store.write("a/c.yaml", {"x": 1}) == "a/c.yaml"
    assert any_store.write("a/d", {"x": 1}, format="yaml") == "a/d.yaml"
    assert any_store.read("a/d.yaml") == {"x": 1}


# --- read rules and mapping protocol -------------------------------------------------------------


def test_missing_key_is_keyerror_and_filenotfounderror(any_store: AutoStore) -> None:
    for key in ("missing", "missing.json", "dir/missing"):
        with pytest.raises(KeyNotFoundError) as caught:
            any_store[key]
        assert isinstance(caught.value, KeyError)
        assert isinstance(caught.value, FileNotFoundError)
        assert key in str(caught.value)
        assert key not in any_store
    assert any_store.get("missing", "fallback") == "fallback"


def test_keys_len_iter_contains_and_delete(any_store: AutoStore) -> None:
    any_store["a"] = {"n": 1}
    any_store["nested/deep/b"] = "text"
    any_store["nested/c.yaml"] = {"n": 3}
    assert sorted(any_store.keys()) == ["a", "nested/c", "nested/deep/b"]
    assert len(any_store) == 3
    assert sorted(any_store) == ["a", "nested/c", "nested/deep/b"]
    assert "a" in any_store
    assert "a.json" in any_store
    assert "a.txt" not in any_store
    assert "nested/deep/b" in any_store
    assert 42 not in any_store
    del any_store["nested/deep/b"]
    del any_store["a.json"]
    assert sorted(any_store) == ["nested/c"]
    with pytest.raises(KeyNotFoundError):
        del any_store["a"]
    with pytest.raises(KeyNotFoundError):
        del any_store["a.json"]


def test_objects_without_a_registered_extension_are_not_keys(local_store: AutoStore, tmp_path: Path) -> None:
    local_store["kept"] = 1.5
    (tmp_path / "data" / "raw.weird").write_bytes(b"??")
    assert list(local_store) == ["kept"]
    assert "raw.weird" in list(local_store.list_files("*"))
    assert local_store["kept"] == 1.5


def test_read_with_format_reads_the_exact_object(any_store: AutoStore) -> None:
    any_store["data.csv"] = _frame()
    location = any_store.locate("copy.dat")
    location.backend.store.put(location.key, location.backend.store.get(any_store.locate("data.csv").key))
    assert any_store.read("copy.dat", format="csv").equals(_frame())
    assert any_store.read("data.csv", format=".CSV").equals(_frame())
    with pytest.raises(HandlerError, match=r"copy\.dat"):
        any_store.read("copy.dat", format="nosuchformat")


def test_corrupt_json_names_the_key(any_store: AutoStore) -> None:
    location = any_store.locate("broken.json")
    location.backend.store.put(location.key, b'{"unterminated": ')
    with pytest.raises(HandlerError) as caught:
        any_store["broken"]
    assert location.uri in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_allow_pickle_false_refuses_to_load_pickles(tmp_path: Path) -> None:
    with AutoStore(tmp_path, allow_pickle=False) as store:
        store["obj"] = Opaque("x")
        with pytest.raises(HandlerError, match=r"obj\.pkl.*allow_pickle=False"):
            store["obj"]
    with AutoStore(tmp_path, allow_pickle=True) as store:
        assert store["obj"] == Opaque("x")


def test_missing_optional_library_names_the_extra(
    local_store: AutoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(ImportError, match=r"autostore\[yaml\]"):
        local_store["settings.yaml"] = {"a": 1}


# --- keys are checked and routed -------------------------------------------------------------------


@pytest.mark.parametrize("key", ["../escape", "a/../../escape", "/etc/passwd", "", "/", "a/\x00b"])
def test_keys_escaping_the_root_are_refused(tmp_path: Path, key: str) -> None:
    store = AutoStore(tmp_path / "root")
    with pytest.raises(InvalidKeyError) as caught:
        store[key] = {"x": 1}
    assert isinstance(caught.value, ValueError)
    with pytest.raises(InvalidKeyError):
        store[key]
    assert not (tmp_path / "escape.json").exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links need privileges on Windows")
def test_listings_of_a_local_root_never_enter_a_directory_outside_it(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "inner").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.json").write_text('{"secret": true}')
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "alias").symlink_to(root / "inner", target_is_directory=True)
    (root / "note.json").symlink_to(outside / "secret.json")
    store = AutoStore(root)
    store["inner/kept"] = {"kept": True}
    # link/ leads outside: never listed. Recursion does not follow directory links at all, so
    # inner/kept is not listed again as alias/kept. A file link is listed, as reading follows it.
    assert sorted(store.keys()) == ["inner/kept", "note"]
    assert sorted(store.list_files("**/*")) == ["inner/kept.json", "note.json"]


def test_non_str_key_is_a_typeerror(local_store: AutoStore) -> None:
    with pytest.raises(TypeError, match="str"):
        local_store[3] = 1  # type: ignore[index]


def test_unknown_scheme_is_refused_with_a_hint(local_store: AutoStore) -> None:
    with pytest.raises(InvalidConfigError, match=r"nosuchscheme.*register_scheme"):
        local_store["nosuchscheme://bucket/x.json"] = {"a": 1}
    with pytest.raises(InvalidConfigError, match="nosuchscheme"):
        AutoStore("nosuchscheme://bucket/prefix")


def test_uri_keys_route_to_their_backend(tmp_path: Path, s3_bucket: str, s3_options: dict[str, Any]) -> None:
    store = AutoStore(tmp_path / "local", options=[S3Options(scheme="s3", **s3_options)])
    store["here"] = {"where": "local"}
    store[f"s3://{s3_bucket}/there.json"] = {"where": "s3"}
    store[f"s3://{s3_bucket}/sub/ext"] = "remote text"
    assert store[f"s3://{s3_bucket}/there.json"] == {"where": "s3"}
    assert store[f"s3://{s3_bucket}/sub/ext"] == "remote text"
    assert f"s3://{s3_bucket}/there" in store
    assert list(store) == ["here"]
    remote = AutoStore(f"s3://{s3_bucket}", **s3_options)
    assert sorted(remote) == ["sub/ext", "there"]
    assert store.list_active_backends() == [f"primary: {tmp_path / 'local'}", f"s3: s3://{s3_bucket}/"]
    assert sorted(store.list_files(f"s3://{s3_bucket}/**/*.txt")) == [f"s3://{s3_bucket}/sub/ext.txt"]
    with pytest.raises(InvalidKeyError):
        store[f"s3://{s3_bucket}/a/../../b.json"]


def test_store_on_a_bucket_prefix_sees_only_its_prefix(s3_bucket: str, s3_options: dict[str, Any]) -> None:
    outer = AutoStore(f"s3://{s3_bucket}", **s3_options)
    inner = AutoStore(f"s3://{s3_bucket}/team/a/", **s3_options)
    inner["x"] = {"n": 1}
    outer["other"] = {"n": 2}
    assert list(inner) == ["x"]
    assert sorted(outer) == ["other", "team/a/x"]
    assert outer["team/a/x"] == {"n": 1}
    assert inner.write("y", [1]) == "y.json"


# --- options ----------------------------------------------------------------------------------------


def test_unknown_keyword_names_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(TypeError) as caught:
        AutoStore(tmp_path, cache_enable=True)
    assert "cache_enable" in str(caught.value)
    assert "cache_enabled" in str(caught.value)
    with pytest.raises(TypeError, match="profile_name"):
        AutoStore("s3://bucket/x", profil_name="p")


def test_keyword_arguments_win_over_the_options_object() -> None:
    base = S3Options(scheme="s3", region_name="eu-west-1", max_concurrency=4)
    store = AutoStore("s3://bucket/", options=base, max_concurrency=16, cache_enabled=False)
    assert isinstance(store.options, S3Options)
    assert store.options.max_concurrency == 16
    assert store.options.region_name == "eu-west-1"
    assert AutoStore("s3://bucket/", max_concurrency=3).options.max_concurrency == 3


def test_config_is_an_alias_of_options(tmp_path: Path) -> None:
    options = Options(retry_delay=0.5)
    assert AutoStore(tmp_path, config=options).options.retry_delay == 0.5
    with pytest.raises(TypeError, match="not both"):
        AutoStore(tmp_path, options=options, config=options)


def test_options_list_gives_each_scheme_its_options(tmp_path: Path) -> None:
    AutoStore.register_scheme("teststoreminio", "autostore.s3")
    aws = S3Options(scheme="s3", region_name="us-west-2")
    minio = S3Options(scheme="teststoreminio", endpoint_url="https://minio.example.com")
    store = AutoStore(tmp_path, options=[aws, minio], timeout=12.0)
    assert store.options_for_scheme("s3") is aws
    assert store.options_for_scheme("teststoreminio") is minio
    assert type(store.options) is Options
    assert store.options.timeout == 12.0
    assert "teststoreminio" in store.get_supported_backends()
    assert store.get_supported_backends()[-1] == ""
    with pytest.raises(InvalidConfigError, match="two options"):
        AutoStore(tmp_path, options=[aws, S3Options(scheme="s3")])
    with pytest.raises(TypeError, match="Options"):
        AutoStore(tmp_path, options=[aws, {"scheme": "s3"}])  # type: ignore[list-item]


def test_schemes_without_options_inherit_the_shared_settings(tmp_path: Path) -> None:
    store = AutoStore(tmp_path, cache_enabled=True, cache_expiry_hours=2.0, allow_pickle=False)
    inherited = store.options_for_scheme("s3")
    assert isinstance(inherited, S3Options)
    assert inherited.cache_enabled is True
    assert inherited.cache_expiry_hours == 2.0
    assert inherited.allow_pickle is False


def test_plain_options_for_an_s3_root_become_s3options() -> None:
    store = AutoStore("s3://bucket/", options=Options(cache_enabled=False, timeout=5.0))
    assert isinstance(store.options, S3Options)
    assert store.options.timeout == 5.0


def test_repr_shows_no_secret(s3_bucket: str, s3_options: dict[str, Any]) -> None:
    store = AutoStore(f"s3://{s3_bucket}/", **s3_options)
    assert s3_options["aws_secret_access_key"] not in repr(store)
    assert s3_options["aws_secret_access_key"] not in repr(store.primary_backend)
    assert s3_options["aws_secret_access_key"] not in repr(store.options)


# --- handlers per store -----------------------------------------------------------------------------


class UpperTextHandler(DataHandler):
    """Stores text upper-cased under ``.shout``."""

    def can_handle_extension(self, extension: str) -> bool:
        return extension.lower() == ".shout"

    def can_handle_data(self, data: Any) -> bool:
        return isinstance(data, str) and data.startswith("!")

    def read_from_file(self, file_path: Path, file_extension: str) -> Any:
        return file_path.read_text()

    def write_to_file(self, data: Any, file_path: Path, file_extension: str) -> None:
        file_path.write_text(data.upper())

    @property
    def extensions(self) -> list[str]:
        return [".shout"]

    @property
    def priority(self) -> int:
        return 20


def test_register_handler_affects_only_that_store(tmp_path: Path) -> None:
    first = AutoStore(tmp_path / "one")
    second = AutoStore(tmp_path / "two")
    first.register_handler(UpperTextHandler())
    first["msg"] = "!hello"
    second["msg"] = "!hello"
    assert first["msg"] == "!HELLO"
    assert (tmp_path / "one" / "msg.shout").is_file()
    assert second["msg"] == "!hello"
    with pytest.raises(TypeError, match=r"UpperTextHandler"):
        first["x.shout"] = 3


# --- metadata, copy, move, listing -----------------------------------------------------------------


def test_get_metadata(any_store: AutoStore) -> None:
    any_store["large_file"] = b"x" * 1000
    metadata = any_store.get_metadata("large_file")
    assert metadata.size == 1000
    assert metadata.key.endswith("large_file.bin")
    assert metadata.content_type == "application/octet-stream"
    assert metadata.modified_time.tzinfo is not None
    assert metadata.etag
    assert any_store.get_metadata("large_file.bin") == metadata
    with pytest.raises(KeyNotFoundError):
        any_store.get_metadata("absent")


def test_copy_and_move_within_a_store(any_store: AutoStore) -> None:
    any_store["original"] = {"v": 1}
    any_store["backup"] = "stale text representation"
    assert any_store.copy("original", "backup") == "backup.json"
    assert object_keys(any_store) == ["backup.json", "original.json"]
    assert any_store["backup"] == {"v": 1}
    any_store["temp_file"] = [1, 2]
    assert any_store.move("temp_file", "permanent_file") == "permanent_file.json"
    assert "temp_file" not in any_store
    assert any_store["permanent_file"] == [1, 2]
    with pytest.raises(KeyNotFoundError):
        any_store.copy("absent", "x")


def test_copy_and_move_across_backends(tmp_path: Path, s3_bucket: str, s3_options: dict[str, Any]) -> None:
    store = AutoStore(tmp_path, options=[S3Options(scheme="s3", **s3_options)])
    store["model"] = np.arange(5)
    remote = store.copy("model", f"s3://{s3_bucket}/models/model")
    assert remote == f"s3://{s3_bucket}/models/model.npy"
    np.testing.assert_array_equal(store[remote], np.arange(5))
    store.move(remote, "restored.npy")
    np.testing.assert_array_equal(store["restored"], np.arange(5))
    assert f"s3://{s3_bucket}/models/model" not in store


def test_list_files_recursive_and_not(any_store: AutoStore) -> None:
    for key in ("w/2024/jan.parquet", "w/2024/feb.parquet", "w/2024/q1/mar.parquet", "w/readme.md"):
        any_store[key] = _frame() if key.endswith(".parquet") else "# w"
    assert sorted(any_store.list_files("w/2024/*", recursive=False)) == [
        "w/2024/feb.parquet",
        "w/2024/jan.parquet",
    ]
    assert sorted(any_store.list_files("w/2024/*", recursive=True)) == [
        "w/2024/feb.parquet",
        "w/2024/jan.parquet",
        "w/2024/q1/mar.parquet",
    ]
    assert sorted(any_store.list_files("*.md")) == ["w/readme.md"]
    assert list(any_store.list_files("*.md", recursive=False)) == []


def test_list_files_treats_the_root_prefix_literally() -> None:
    bucket = f"memory://{uuid.uuid4().hex}"
    AutoStore(f"{bucket}/dab")["decoy"] = {"v": 1}
    store = AutoStore(f"{bucket}/da[b]*")
    store["real"] = {"v": 2}
    assert list(store.list_files("*")) == ["real.json"]


# --- datasets --------------------------------------------------------------------------------------


def test_dataset_prefix_reads_as_one_lazyframe(any_store: AutoStore) -> None:
    months = ["january", "february", "march"]
    for index, month in enumerate(months):
        any_store[f"weather/2024/{month}.parquet"] = pl.DataFrame({"month": [month], "n": [index]})
    any_store["weather/2024/notes.txt"] = "ignored by the dataset"
    for key in ("weather/2024/", "weather/2024"):
        frame = any_store[key]
        assert isinstance(frame, pl.LazyFrame)
        assert sorted(frame.collect()["month"].to_list()) == sorted(months)
    assert "weather/2024/" in any_store
    assert "weather/2024" in any_store
    assert any_store.primary_backend.is_dataset("weather/2024/")
    assert any_store.primary_backend.is_directory("weather")
    assert not any_store.primary_backend.is_dataset("weather/2023")
    assert not any_store.primary_backend.is_directory("nothing")
    single = any_store["weather/2024/january.parquet"]
    assert isinstance(single, pl.DataFrame)
    del any_store["weather/2024/"]
    assert "weather/2024/" not in any_store
    with pytest.raises(KeyNotFoundError):
        any_store["weather/2024/"]


def test_directory_named_like_a_file_reads_as_a_dataset(any_store: AutoStore) -> None:
    # Spark and Polars write partitioned tables this way.
    any_store["sales.parquet/part-0.parquet"] = pl.DataFrame({"v": [1, 2]})
    any_store["sales.parquet/part-1.parquet"] = pl.DataFrame({"v": [3]})
    assert "sales.parquet" in any_store
    assert any_store["sales.parquet"].collect()["v"].sum() == 6
    assert any_store.get_many(["sales.parquet"])[0].collect().height == 3
    del any_store["sales.parquet"]
    assert "sales.parquet" not in any_store
    with pytest.raises(KeyNotFoundError):
        any_store["sales.parquet"]


def test_csv_dataset_and_parquet_preference(local_store: AutoStore) -> None:
    local_store["csvs/a.csv"] = pl.DataFrame({"x": [1]})
    local_store["csvs/b.csv"] = pl.DataFrame({"x": [2]})
    assert sorted(local_store["csvs/"].collect()["x"].to_list()) == [1, 2]
    local_store["csvs/c.parquet"] = pl.DataFrame({"x": [30]})
    assert local_store["csvs/"].collect()["x"].to_list() == [30]


def test_remote_dataset_files_live_until_close(s3_bucket: str, s3_options: dict[str, Any]) -> None:
    with AutoStore(f"s3://{s3_bucket}", **s3_options) as writer:
        for part in range(4):
            writer[f"ds/part={part}/data.parquet"] = pl.DataFrame({"part": [part] * 3})
    store = AutoStore(f"s3://{s3_bucket}", **s3_options)
    frame = store["ds/"]
    temp_dir = store.temp_dir
    assert len(list(temp_dir.rglob("*.parquet"))) == 4
    assert frame.select(pl.col("part").sum()).collect().item() == 18
    store.close()
    assert not temp_dir.exists()
    store.close()
    with pytest.raises(FileNotFoundError):
        frame.collect()
    assert store["ds/"].collect().height == 12
    store.close()


def test_dataset_without_a_download_dir_is_read_into_memory(
    s3_bucket: str, s3_options: dict[str, Any]
) -> None:
    store = AutoStore(f"s3://{s3_bucket}", **s3_options)
    store["d/a.csv"] = pl.DataFrame({"v": [1, 2]})
    store["d/b.csv"] = pl.DataFrame({"v": [3]})
    location = store.locate("d/")
    frame = store_io.load_dataset(location.backend, location.key, store.handler_registry)
    assert isinstance(frame, pl.LazyFrame)
    assert sorted(frame.collect()["v"].to_list()) == [1, 2, 3]
    assert store._temp_path is None


# --- batches ----------------------------------------------------------------------------------------


def test_update_and_get_many(any_store: AutoStore) -> None:
    any_store["doc0"] = "old text representation"
    values = {f"doc{i}": {"i": i, "tags": ["a"] * i} for i in range(20)}
    values["arr"] = np.arange(4)
    values["notes.md"] = "# notes"
    any_store.update(values, extra="kw")
    assert "doc0.txt" not in object_keys(any_store)
    keys = [*values, "extra"]
    loaded = any_store.get_many(keys)
    for key, value in zip(keys[:-1], loaded[:-1], strict=True):
        assert_same(values[key], value)
    assert loaded[-1] == "kw"
    with pytest.raises(KeyNotFoundError, match="absent"):
        any_store.get_many(["doc1", "absent.json"])


def test_update_gives_the_result_of_writes_in_order(any_store: AutoStore) -> None:
    any_store["a"] = [1]
    any_store.update(
        [
            ("a", "first as text"),
            ("a", {"k": 1}),
            ("b", "text"),
            ("b.json", {"b": 2}),
            ("c.json", {"c": 3}),
            ("c", "text wins"),
            ("nested/d", "one key alone in its directory"),
        ]
    )
    assert object_keys(any_store) == ["a.json", "b.json", "b.txt", "c.txt", "nested/d.txt"]
    assert any_store.get_many(["a", "b.json", "b.txt", "c", "nested/d"]) == [
        {"k": 1},
        {"b": 2},
        "text",
        "text wins",
        "one key alone in its directory",
    ]
    with pytest.raises(AmbiguousKeyError, match="b"):
        any_store.get_many(["a", "b"])


def test_update_with_pairs_and_a_refused_value(s3_store: AutoStore) -> None:
    s3_store.update([("a.json", {"x": 1}), ("b", "text")])
    assert s3_store.get_many(["a", "b"]) == [{"x": 1}, "text"]
    with pytest.raises(TypeError, match=r"c\.txt"):
        s3_store.update({"c.txt": 5})


# --- the in-memory fast path writes what the handlers write -----------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "handler"),
    [
        ("doc.json", {"é": [1, 2.5, None], "k": "ü"}, JSONHandler()),
        ("page.txt", "línea\r\nzwei", TextHandler()),
        ("page.html", "<b>x</b>", TextHandler()),
    ],
)
def test_fast_path_bytes_equal_handler_bytes(
    s3_store: AutoStore, tmp_path: Path, key: str, value: Any, handler: DataHandler
) -> None:
    s3_store[key] = value
    location = s3_store.locate(key)
    stored = bytes(location.backend.store.get(location.key))
    reference = tmp_path / key
    handler.write_to_file(value, reference, Path(key).suffix)
    assert stored == reference.read_bytes()
    assert s3_store[key] == handler.read_from_file(reference, Path(key).suffix)


def test_fast_path_refuses_what_the_handler_refuses(s3_store: AutoStore) -> None:
    with pytest.raises(TypeError, match=r"doc\.json.*JSONHandler"):
        s3_store["doc.json"] = {1: "int keys do not survive JSON"}
    location = s3_store.locate("bad.txt")
    location.backend.store.put(location.key, b"\xff\xfe not utf-8")
    with pytest.raises(HandlerError, match=r"bad\.txt"):
        s3_store["bad"]


def test_handler_subclass_bypasses_the_fast_path(s3_store: AutoStore) -> None:
    class SortedJSON(JSONHandler):
        """Writes keys sorted: the in-memory codec would not."""

        handler_priority = 50

        def write_to_file(self, data: Any, file_path: Path, file_extension: str) -> None:
            file_path.write_text(json.dumps(data, sort_keys=True))

    s3_store.register_handler(SortedJSON())
    s3_store["doc.json"] = {"b": 1, "a": 2}
    location = s3_store.locate("doc.json")
    assert bytes(location.backend.store.get(location.key)) == b'{"a": 2, "b": 1}'


# --- lifetime ---------------------------------------------------------------------------------------


def test_context_manager_removes_temporary_files(tmp_path: Path) -> None:
    with AutoStore(tmp_path) as store:
        temp_dir = store.temp_dir
        (temp_dir / "scratch").write_text("x")
    assert not temp_dir.exists()


def test_unclosed_store_cleans_up_when_collected(tmp_path: Path) -> None:
    store = AutoStore(tmp_path)
    temp_dir = store.temp_dir
    del store
    gc.collect()
    assert not temp_dir.exists()


def test_cache_write_through_and_cleanup(s3_bucket: str, s3_options: dict[str, Any], tmp_path: Path) -> None:
    store = AutoStore(f"s3://{s3_bucket}/c/", cache_enabled=True, cache_dir=tmp_path / "cache", **s3_options)
    store["config"] = {"cached": True}
    store["frame"] = _frame()
    cache = store.primary_backend.backend.cache
    before = cache.stats()
    assert store["config"] == {"cached": True}
    assert store["frame"].equals(_frame())
    after = cache.stats()
    assert after.misses == before.misses
    assert after.hits >= before.hits + 2
    assert store.cleanup_cache() == 0
    del store["config"]
    assert "config" not in store


def test_cached_reads_see_remote_changes_only_when_asked(
    s3_bucket: str, s3_options: dict[str, Any], tmp_path: Path
) -> None:
    cached = AutoStore(f"s3://{s3_bucket}/", cache_enabled=True, cache_dir=tmp_path / "cache", **s3_options)
    direct = AutoStore(f"s3://{s3_bucket}/", **s3_options)
    cached["setting"] = {"v": 1}
    direct["setting.json"] = {"v": 2}
    assert cached["setting"] == {"v": 1}
    assert cached.read("setting", ignore_cache=True) == {"v": 2}
    assert cached.get_many(["setting"]) == [{"v": 2}]
    cached.copy("setting", "other")
    direct["other.json"] = {"v": 3}
    cached.move("other", "setting")
    assert cached["setting"] == {"v": 3}


def test_cached_dataset_is_served_from_the_cache(
    s3_bucket: str, s3_options: dict[str, Any], tmp_path: Path
) -> None:
    store = AutoStore(f"s3://{s3_bucket}/", cache_enabled=True, cache_dir=tmp_path / "cache", **s3_options)
    for part in range(3):
        store[f"ds/{part}.parquet"] = pl.DataFrame({"part": [part]})
    cache = store.primary_backend.backend.cache
    before = cache.stats()
    assert store["ds/"].collect()["part"].sum() == 3
    assert cache.stats().misses == before.misses
    assert store.read("ds/", ignore_cache=True).collect().height == 3
    assert cache.stats().misses == before.misses + 3
    assert store._temp_path is None


def test_cached_batches_write_through_and_read_in_parallel(
    s3_bucket: str, s3_options: dict[str, Any], tmp_path: Path
) -> None:
    store = AutoStore(f"s3://{s3_bucket}/", cache_enabled=True, cache_dir=tmp_path / "cache", **s3_options)
    values = {f"batch/doc{i}": {"i": i} for i in range(12)}
    values["batch/arr"] = np.arange(3)
    store.update(values)
    cache = store.primary_backend.backend.cache
    before = cache.stats()
    loaded = store.get_many(list(values))
    after = cache.stats()
    assert after.misses == before.misses
    assert after.hits == before.hits + len(values)
    for key, value in zip(values, loaded, strict=True):
        assert_same(values[key], value)
    assert store.get_many(["batch/doc3"], ignore_cache=True) == [{"i": 3}]
    assert cache.stats().misses == after.misses + 1
