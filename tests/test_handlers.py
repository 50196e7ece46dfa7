"""The format layer: every built-in handler, the registry, and the README's custom handler example."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import os
import pickle
import subprocess
import sys
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pydantic
import pytest
import scipy.sparse as sp
import torch
import yaml
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from autostore.autostore import DataHandler
from autostore.exceptions import HandlerError, MissingDependencyError
from autostore.handlers import (
    BytesHandler,
    DataclassHandler,
    HandlerRegistry,
    ImageHandler,
    JSONHandler,
    NumpyHandler,
    PickleHandler,
    PolarsHandler,
    PydanticHandler,
    SparseHandler,
    TextHandler,
    TorchHandler,
    YAMLHandler,
    default_registry,
)

# ---------------------------------------------------------------------------------------------------
# Values used across the tests. Classes live at module level so their import path resolves on read.


class Address(pydantic.BaseModel):
    """A nested pydantic model."""

    city: str
    zip_code: str


class Person(pydantic.BaseModel):
    """A pydantic model with types JSON does not have natively (datetime, tuple, set, bytes)."""

    name: str
    born: dt.datetime
    tags: tuple[str, ...]
    scores: set[int]
    avatar: bytes
    address: Address


@dataclasses.dataclass
class Point:
    """A plain dataclass."""

    x: float
    y: float


@dataclasses.dataclass(frozen=True)
class Shape:
    """A frozen dataclass holding nested dataclasses and a field outside ``__init__``."""

    name: str
    corners: list[Point]
    anchors: dict[str, Point]
    label: str | None = None
    area: float = dataclasses.field(init=False, default=0.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "area", float(len(self.corners)))


@dataclasses.dataclass
class Interval:
    """A dataclass with a tuple field, which JSON cannot reproduce."""

    bounds: tuple[int, int]


class TinyNet(torch.nn.Module):
    """A small module to save whole."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(3, 2)


class Opaque:
    """An arbitrary object only pickle can store."""

    def __init__(self, payload: Any) -> None:
        self.payload = payload

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and other.payload == self.payload

    def __hash__(self) -> int:
        return hash(repr(self.payload))


class CreatesFileWhenLoaded:
    """Unpickling this object creates ``marker``: a stand-in for a malicious pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def sample_person() -> Person:
    return Person(
        name="Zoë",
        born=dt.datetime(1990, 5, 17, 8, 30, tzinfo=dt.timezone.utc),
        tags=("a", "b"),
        scores={3, 1, 2},
        avatar=b"\x00\x01binary",
        address=Address(city="Zürich", zip_code="8001"),
    )


def sample_shape() -> Shape:
    return Shape(
        name="triangle",
        corners=[Point(0.0, 0.0), Point(1.0, 0.0), Point(0.5, 1.0)],
        anchors={"top": Point(0.5, 1.0)},
    )


def sample_image(mode: str = "RGB") -> Image.Image:
    width, height = 8, 6
    pixels = bytes((index * 7) % 256 for index in range(width * height * len(mode)))
    return Image.frombytes(mode, (width, height), pixels)


def sample_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [1, 2, 3],
            "name": ["é", "b", None],
            "value": [1.5, None, -2.0],
            "day": [dt.date(2024, 1, 1), dt.date(2024, 2, 29), dt.date(2024, 12, 31)],
        }
    )


def sample_state_dict() -> OrderedDict[str, torch.Tensor]:
    torch.manual_seed(0)
    return TinyNet().state_dict()


def assert_same(expected: Any, actual: Any) -> None:
    """Assert that ``actual`` (a value read back) equals ``expected`` (the value written)."""
    if isinstance(expected, pl.LazyFrame):
        expected = expected.collect()
    if isinstance(expected, pl.DataFrame):
        assert isinstance(actual, pl.DataFrame)
        assert actual.equals(expected), f"{actual} != {expected}"
    elif sp.issparse(expected):
        assert type(actual) is type(expected)
        assert actual.dtype == expected.dtype
        assert actual.shape == expected.shape
        assert (actual != expected).nnz == 0
    elif isinstance(expected, np.ndarray):
        assert type(actual) is type(expected)
        assert actual.dtype == expected.dtype
        assert np.array_equal(np.asarray(actual), np.asarray(expected))
        assert np.array_equal(np.ma.getmaskarray(actual), np.ma.getmaskarray(expected))
    elif isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor)
        assert torch.equal(actual, expected)
    elif isinstance(expected, torch.nn.Module):
        assert type(actual) is type(expected)
        assert_same(expected.state_dict(), actual.state_dict())
    elif isinstance(expected, Image.Image):
        assert isinstance(actual, Image.Image)
        assert (actual.mode, actual.size) == (expected.mode, expected.size)
        assert actual.tobytes() == expected.tobytes()
    elif isinstance(expected, (dict, list, tuple)) and not is_plain(expected):
        assert type(actual) is type(expected)
        assert len(actual) == len(expected)
        if isinstance(expected, dict):
            assert list(actual) == list(expected)
            for key, item in expected.items():
                assert_same(item, actual[key])
        else:
            for expected_item, actual_item in zip(expected, actual, strict=True):
                assert_same(expected_item, actual_item)
    elif isinstance(expected, (bytearray, memoryview)):
        assert actual == bytes(expected)
        assert type(actual) is bytes
    else:
        assert type(actual) is type(expected)
        assert actual == expected


def is_plain(value: Any) -> bool:
    """Whether ``value`` holds no array, tensor, frame or image (so ``==`` compares it)."""
    if isinstance(value, dict):
        return all(is_plain(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return all(is_plain(item) for item in value)
    return not isinstance(value, (np.ndarray, torch.Tensor, pl.DataFrame, Image.Image)) and not sp.issparse(
        value
    )


def round_trip(handler: DataHandler, value: Any, path: Path, extension: str) -> Any:
    handler.write_to_file(value, path, extension)
    assert path.is_file()
    return handler.read_from_file(path, extension)


# ---------------------------------------------------------------------------------------------------
# Type -> handler and extension, then a round trip through the chosen handler.

TYPE_RULES: list[tuple[str, Any, type[DataHandler], str]] = [
    ("polars DataFrame", sample_frame, PolarsHandler, ".parquet"),
    ("polars LazyFrame", lambda: sample_frame().lazy(), PolarsHandler, ".parquet"),
    (
        "dict",
        lambda: {"name": "Zoë", "n": 3, "ok": True, "none": None, "nested": {"x": [1, 2.5]}},
        JSONHandler,
        ".json",
    ),
    ("empty dict", dict, JSONHandler, ".json"),
    ("list of dicts", lambda: [{"event": "start"}, {"event": "stop", "code": 0}], JSONHandler, ".jsonl"),
    ("list of scalars", lambda: [1, "two", 3.0, None], JSONHandler, ".json"),
    ("empty list", list, JSONHandler, ".json"),
    ("mixed list", lambda: [{"a": 1}, 2], JSONHandler, ".json"),
    ("str", lambda: "line one\r\nline two — ünïcode\n", TextHandler, ".txt"),
    ("bytes", lambda: b"\x00\xffraw", BytesHandler, ".bin"),
    ("bytearray", lambda: bytearray(b"\x01\x02"), BytesHandler, ".bin"),
    ("memoryview", lambda: memoryview(b"view"), BytesHandler, ".bin"),
    ("pydantic model", sample_person, PydanticHandler, ".pydantic.json"),
    ("dataclass", sample_shape, DataclassHandler, ".dataclass.json"),
    ("ndarray", lambda: np.arange(12, dtype=np.float32).reshape(3, 4), NumpyHandler, ".npy"),
    ("0-d ndarray", lambda: np.array(7, dtype=np.int16), NumpyHandler, ".npy"),
    ("dict of ndarrays", lambda: {"w": np.eye(3), "b": np.zeros(3, dtype=np.int8)}, NumpyHandler, ".npz"),
    (
        "sparse matrix",
        lambda: sp.random(20, 10, density=0.2, format="csr", random_state=1),
        SparseHandler,
        ".sparse",
    ),
    (
        "sparse array",
        lambda: sp.random_array((20, 10), density=0.2, format="coo", rng=1),
        SparseHandler,
        ".sparse",
    ),
    ("tensor", lambda: torch.arange(6, dtype=torch.float64).reshape(2, 3), TorchHandler, ".pt"),
    ("module", TinyNet, TorchHandler, ".pt"),
    ("state dict", sample_state_dict, TorchHandler, ".pt"),
    (
        "checkpoint",
        lambda: {"epoch": 3, "model": sample_state_dict(), "losses": [0.5, 0.25]},
        TorchHandler,
        ".pt",
    ),
    ("list of tensors", lambda: [torch.ones(2), torch.zeros(3)], TorchHandler, ".pt"),
    ("PIL image", sample_image, ImageHandler, ".png"),
    ("int", lambda: 42, PickleHandler, ".pkl"),
    ("tuple", lambda: (1, "a"), PickleHandler, ".pkl"),
    ("set", lambda: {1, 2, 3}, PickleHandler, ".pkl"),
    ("dict with a datetime", lambda: {"at": dt.datetime(2024, 1, 1)}, PickleHandler, ".pkl"),
    ("dict with int keys", lambda: {1: "a", 2: "b"}, PickleHandler, ".pkl"),
    ("dict holding a tuple", lambda: {"pair": (1, 2)}, PickleHandler, ".pkl"),
    ("dataclass with a tuple field", lambda: Interval((1, 5)), PickleHandler, ".pkl"),
    ("object ndarray", lambda: np.array([{"a": 1}, None], dtype=object), PickleHandler, ".pkl"),
    ("ndarray subclass", lambda: np.ma.masked_array([1, 2, 3], mask=[0, 1, 0]), PickleHandler, ".pkl"),
    ("custom object", lambda: Opaque({"k": [1, 2]}), PickleHandler, ".pkl"),
]


@pytest.mark.parametrize(
    ("make_value", "handler_class", "extension"),
    [pytest.param(make, cls, ext, id=name) for name, make, cls, ext in TYPE_RULES],
)
def test_type_picks_handler_and_round_trips(
    make_value: Any, handler_class: type[DataHandler], extension: str, tmp_path: Path
) -> None:
    registry = default_registry()
    value = make_value()
    handler, chosen_extension = registry.handler_for_data(value)
    assert type(handler) is handler_class
    assert chosen_extension == extension
    assert registry.handler_for_extension(chosen_extension) is handler
    result = round_trip(handler, value, tmp_path / f"value{chosen_extension}", chosen_extension)
    assert_same(value, result)


# ---------------------------------------------------------------------------------------------------
# Round trips through explicitly chosen extensions.


@pytest.mark.parametrize("extension", [".txt", ".html", ".md", ".TXT"])
def test_text_round_trips_byte_for_byte(extension: str, tmp_path: Path) -> None:
    text = "<p>héllo</p>\r\nsecond line\rthird\n"
    path = tmp_path / f"page{extension}"
    assert round_trip(TextHandler(), text, path, extension) == text
    assert path.read_bytes() == text.encode("utf-8")


@pytest.mark.parametrize("value", [{"a": [1, {"b": None}]}, [1, 2], "just a string", 12, 1.5, True, None])
def test_json_file_holds_any_json_value(value: Any, tmp_path: Path) -> None:
    assert_same(value, round_trip(JSONHandler(), value, tmp_path / "v.json", ".json"))


def test_json_is_utf8_without_ascii_escapes(tmp_path: Path) -> None:
    path = tmp_path / "v.json"
    JSONHandler().write_to_file({"city": "Zürich", "emoji": "🚀"}, path, ".json")
    raw = path.read_bytes()
    assert "Zürich".encode() in raw
    assert "🚀".encode() in raw
    assert b"\\u" not in raw


def test_json_reads_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"a": 1}).encode())
    assert JSONHandler().read_from_file(path, ".json") == {"a": 1}


def test_jsonl_writes_one_record_per_line_and_skips_blank_lines(tmp_path: Path) -> None:
    records = [{"event": "start", "note": "é"}, {"event": "stop"}]
    path = tmp_path / "log.jsonl"
    JSONHandler().write_to_file(records, path, ".jsonl")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == records
    path.write_text(path.read_text(encoding="utf-8") + "\n   \n", encoding="utf-8")
    assert JSONHandler().read_from_file(path, ".jsonl") == records


def test_jsonl_of_an_empty_list_reads_back_empty(tmp_path: Path) -> None:
    assert round_trip(JSONHandler(), [], tmp_path / "empty.jsonl", ".jsonl") == []


@pytest.mark.parametrize("extension", [".yaml", ".yml", ".YAML"])
@pytest.mark.parametrize(
    "value", [{"name": "Zoë", "layers": [64, 32], "dropout": 0.1, "nested": {"on": True}}, [1, "a", None]]
)
def test_yaml_round_trips_dicts_and_lists(value: Any, extension: str, tmp_path: Path) -> None:
    path = tmp_path / f"config{extension}"
    assert_same(value, round_trip(YAMLHandler(), value, path, extension))
    assert yaml.safe_load(path.read_text(encoding="utf-8")) == value


def test_yaml_keeps_key_order(tmp_path: Path) -> None:
    value = {"zeta": 1, "alpha": 2, "mid": 3}
    assert list(round_trip(YAMLHandler(), value, tmp_path / "c.yaml", ".yaml")) == ["zeta", "alpha", "mid"]


def test_pydantic_model_comes_back_as_its_class(tmp_path: Path) -> None:
    person = sample_person()
    result = round_trip(PydanticHandler(), person, tmp_path / "p.pydantic.json", ".pydantic.json")
    assert type(result) is Person
    assert type(result.address) is Address
    assert result == person


def test_dataclass_comes_back_as_its_class_with_nested_dataclasses(tmp_path: Path) -> None:
    shape = sample_shape()
    result = round_trip(DataclassHandler(), shape, tmp_path / "s.dataclass.json", ".dataclass.json")
    assert type(result) is Shape
    assert all(type(corner) is Point for corner in result.corners)
    assert type(result.anchors["top"]) is Point
    assert result == shape
    assert result.area == 3.0


def test_dataclass_file_records_the_import_path(tmp_path: Path) -> None:
    path = tmp_path / "p.dataclass.json"
    DataclassHandler().write_to_file(Point(1.0, 2.0), path, ".dataclass.json")
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["__dataclass__"] == f"{Point.__module__}:Point"
    assert document["fields"] == {"x": 1.0, "y": 2.0}


def test_dataclass_defined_in_a_function_is_refused_with_an_explanation(tmp_path: Path) -> None:
    @dataclasses.dataclass
    class Local:
        value: int

    handler = DataclassHandler()
    assert not handler.can_handle_data(Local(1))
    with pytest.raises(TypeError, match="module-level dataclass"):
        handler.write_to_file(Local(1), tmp_path / "l.dataclass.json", ".dataclass.json")
    assert not (tmp_path / "l.dataclass.json").exists()


@pytest.mark.parametrize(
    "value",
    [
        np.arange(10, dtype=np.int64),
        np.array([[1.5, np.nan], [np.inf, -0.0]]),
        np.array(["é", "bc"]),
        np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]),
        np.array([True, False]),
        np.zeros((0, 3)),
    ],
    ids=["int64", "float-nan", "unicode", "structured", "bool", "empty"],
)
def test_npy_round_trips(value: np.ndarray, tmp_path: Path) -> None:
    result = round_trip(NumpyHandler(), value, tmp_path / "a.npy", ".npy")
    assert result.dtype == value.dtype
    assert np.array_equal(result, value, equal_nan=value.dtype.kind == "f")


def test_npz_keeps_names_that_collide_with_savez_arguments(tmp_path: Path) -> None:
    arrays = {"file": np.arange(3), "allow_pickle": np.ones(2), "x": np.array([[1, 2]])}
    result = round_trip(NumpyHandler(), arrays, tmp_path / "a.npz", ".npz")
    assert list(result) == list(arrays)
    for name, array in arrays.items():
        assert np.array_equal(result[name], array)
    with np.load(tmp_path / "a.npz") as archive:  # a standard .npz file
        assert np.array_equal(archive["file"], arrays["file"])


def test_npy_and_npz_refuse_the_other_shape_of_value(tmp_path: Path) -> None:
    handler = NumpyHandler()
    with pytest.raises(TypeError, match=r"a\.npy"):
        handler.write_to_file({"a": np.ones(2)}, tmp_path / "a.npy", ".npy")
    with pytest.raises(TypeError, match=r"b\.npz"):
        handler.write_to_file(np.ones(2), tmp_path / "b.npz", ".npz")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["matrix", "array"])
@pytest.mark.parametrize("sparse_format", ["csr", "csc", "coo", "bsr", "dia", "lil", "dok"])
def test_sparse_reads_back_with_the_same_format_and_class(
    sparse_format: str, kind: str, tmp_path: Path
) -> None:
    dense = np.array([[0, 1.5, 0, 0], [2, 0, 0, 3], [0, 0, 0, 0], [0, 4, 5, 0]])
    value = sp.csr_matrix(dense) if kind == "matrix" else sp.csr_array(dense)
    value = value.asformat(sparse_format)
    path = tmp_path / "m.sparse"
    result = round_trip(SparseHandler(), value, path, ".sparse")
    assert_same(value, result)
    assert result.format == sparse_format
    with path.open("rb") as stream:  # still loadable by SciPy itself
        assert np.array_equal(sp.load_npz(stream).toarray(), dense)


def test_torch_module_and_state_dict_round_trip(tmp_path: Path) -> None:
    net = TinyNet()
    handler = TorchHandler()
    assert_same(net, round_trip(handler, net, tmp_path / "net.pt", ".pt"))
    state = net.state_dict()
    assert_same(state, round_trip(handler, state, tmp_path / "state.pth", ".pth"))
    assert type(handler.read_from_file(tmp_path / "state.pth", ".pth")) is OrderedDict


@pytest.mark.parametrize(
    ("mode", "extension"),
    # Not RGBA as BMP: Pillow writes the alpha channel but reads 32-bit BMP files back as RGB.
    [(mode, ext) for ext in (".png", ".tiff", ".tif", ".webp") for mode in ("RGB", "RGBA", "L")]
    + [("RGB", ".bmp"), ("L", ".bmp")],
)
def test_lossless_images_keep_every_pixel(mode: str, extension: str, tmp_path: Path) -> None:
    image = sample_image(mode)
    if extension == ".webp":
        handler = ImageHandler()
        handler.write_to_file(image, tmp_path / "i.webp", ".webp")
        result = handler.read_from_file(tmp_path / "i.webp", ".webp")
        assert result.size == image.size
        assert result.format == "WEBP"
        return
    result = round_trip(ImageHandler(), image, tmp_path / f"i{extension}", extension)
    assert_same(image, result)


@pytest.mark.parametrize("extension", [".jpg", ".jpeg", ".gif"])
def test_lossy_images_keep_size_and_format(extension: str, tmp_path: Path) -> None:
    image = sample_image("RGB")
    result = round_trip(ImageHandler(), image, tmp_path / f"i{extension}", extension)
    assert result.size == image.size
    assert result.format == {".jpg": "JPEG", ".jpeg": "JPEG", ".gif": "GIF"}[extension]


def test_image_read_holds_no_open_file(tmp_path: Path) -> None:
    path = tmp_path / "i.png"
    ImageHandler().write_to_file(sample_image(), path, ".png")
    image = ImageHandler().read_from_file(path, ".png")
    path.unlink()
    assert image.getpixel((1, 1)) == sample_image().getpixel((1, 1))


@pytest.mark.parametrize("extension", [".parquet", ".csv", ".PARQUET"])
@pytest.mark.parametrize("lazy", [False, True], ids=["DataFrame", "LazyFrame"])
def test_polars_round_trips_to_a_dataframe(extension: str, lazy: bool, tmp_path: Path) -> None:
    frame = sample_frame()
    if extension == ".csv":
        frame = frame.drop("day")  # CSV has no date type to read back
    value = frame.lazy() if lazy else frame
    result = round_trip(PolarsHandler(), value, tmp_path / f"t{extension}", extension)
    assert isinstance(result, pl.DataFrame)
    assert result.equals(frame)


@pytest.mark.parametrize("extension", [".parquet", ".csv"])
def test_polars_dataset_reads_many_files_as_one_lazyframe(extension: str, tmp_path: Path) -> None:
    handler = PolarsHandler()
    parts = [pl.DataFrame({"month": [month] * 2, "sales": [month * 10, month * 20]}) for month in (1, 2, 3)]
    paths = []
    for number, part in enumerate(parts):
        path = tmp_path / "weather" / f"part{number}{extension}"
        handler.write_to_file(part, path, extension)
        paths.append(path)
    dataset = handler.read_dataset(paths, extension)
    assert isinstance(dataset, pl.LazyFrame)
    assert dataset.collect().equals(pl.concat(parts))


def test_pickle_round_trips_arbitrary_objects(tmp_path: Path) -> None:
    value = {"object": Opaque([1, 2]), "set": {1, 2}, "tuple": (3, 4)}
    assert round_trip(PickleHandler(), value, tmp_path / "v.pkl", ".pkl") == value


def test_bytes_round_trip(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 10
    assert round_trip(BytesHandler(), payload, tmp_path / "b.bin", ".bin") == payload


def test_writes_create_parent_directories(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "c.json"
    JSONHandler().write_to_file({"deep": True}, path, ".json")
    assert json.loads(path.read_text(encoding="utf-8")) == {"deep": True}


# ---------------------------------------------------------------------------------------------------
# The registry.


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("a.pydantic.json", ("a", ".pydantic.json")),
        ("a.dataclass.json", ("a", ".dataclass.json")),
        ("a.tar.json", ("a.tar", ".json")),
        ("m.sparse.npz", ("m", ".sparse.npz")),
        ("m.npz", ("m", ".npz")),
        ("x.PARQUET", ("x", ".PARQUET")),
        ("dir/sub/My.Pydantic.JSON", ("dir/sub/My", ".Pydantic.JSON")),
        ("logs.jsonl", ("logs", ".jsonl")),
        ("a_pydantic.json", ("a_pydantic", ".json")),
        ("noext", ("noext", "")),
        ("archive.tar.gz", ("archive.tar.gz", "")),
        ("dir.json/file", ("dir.json/file", "")),
        ("dir/.json", ("dir/.json", "")),
        (".json", (".json", "")),
    ],
)
def test_split_extension_uses_the_longest_registered_extension(key: str, expected: tuple[str, str]) -> None:
    assert default_registry().split_extension(key) == expected


@given(st.text(alphabet="./aJsOnpdticPARQUEgzz.", max_size=24))
def test_split_extension_agrees_with_trying_every_registered_extension(key: str) -> None:
    registry = default_registry()
    expected = (key, "")
    name_start = key.rfind("/") + 1
    for extension in sorted(registry.extensions, key=len, reverse=True):
        cut = len(key) - len(extension)
        if cut > name_start and key[cut:].lower() == extension:
            expected = (key[:cut], key[cut:])
            break
    assert registry.split_extension(key) == expected


@pytest.mark.parametrize(
    ("extension", "handler_class"),
    [
        (".json", JSONHandler),
        ("json", JSONHandler),
        (".JSONL", JSONHandler),
        (".Pydantic.Json", PydanticHandler),
        (".dataclass.json", DataclassHandler),
        (".csv", PolarsHandler),
        (".npz", NumpyHandler),
        (".pth", TorchHandler),
        (".jpeg", ImageHandler),
        (".yml", YAMLHandler),
        (".md", TextHandler),
        (".bin", BytesHandler),
        (".pkl", PickleHandler),
        (".sparse", SparseHandler),
        (".sparse.npz", SparseHandler),
    ],
)
def test_handler_for_extension(extension: str, handler_class: type[DataHandler]) -> None:
    assert type(default_registry().handler_for_extension(extension)) is handler_class


def test_unknown_extension_has_no_handler() -> None:
    assert default_registry().handler_for_extension(".xlsx") is None


def test_extensions_are_listed_lowercase() -> None:
    extensions = default_registry().extensions
    assert {".parquet", ".csv", ".json", ".jsonl", ".pydantic.json", ".dataclass.json", ".txt"} <= set(
        extensions
    )
    assert {".npy", ".npz", ".sparse", ".pt", ".pth", ".png", ".jpg", ".yaml", ".yml", ".pkl", ".bin"} <= set(
        extensions
    )
    assert extensions == sorted(ext.lower() for ext in extensions)


def test_handlers_are_sorted_by_priority() -> None:
    priorities = [handler.priority for handler in default_registry().handlers]
    assert priorities == sorted(priorities, reverse=True)
    assert type(default_registry().handlers[-1]) is PickleHandler


class SuffixHandler(DataHandler):
    """A configurable test handler for one extension."""

    def __init__(self, extension: str, priority: int, accepts: type) -> None:
        self._extension = extension
        self._priority = priority
        self._accepts = accepts

    def can_handle_extension(self, extension: str) -> bool:
        return extension.lower() == self._extension

    def can_handle_data(self, data: Any) -> bool:
        return isinstance(data, self._accepts)

    def read_from_file(self, file_path: Path, file_extension: str) -> Any:
        return file_path.read_text(encoding="utf-8")

    def write_to_file(self, data: Any, file_path: Path, file_extension: str) -> None:
        file_path.write_text(str(data), encoding="utf-8")

    @property
    def extensions(self) -> list[str]:
        return [self._extension]

    @property
    def priority(self) -> int:
        return self._priority


def test_a_registration_replaces_the_handler_remembered_for_an_extension() -> None:
    registry = default_registry()
    assert type(registry.handler_for_extension(".JSON")) is JSONHandler
    assert registry.handler_for_extension(".nope") is None
    custom = SuffixHandler(".json", 100, dict)
    registry.register(custom)
    assert registry.handler_for_extension(".JSON") is custom
    assert registry.handler_for_extension("json") is custom


def test_registering_on_a_copy_leaves_the_original_alone() -> None:
    original = default_registry()
    copy = original.copy()
    custom = SuffixHandler(".custom", 100, str)
    copy.register(custom)
    assert copy.handler_for_extension(".custom") is custom
    assert copy.handler_for_data("text") == (custom, ".custom")
    assert copy.split_extension("a.custom") == ("a", ".custom")
    assert original.handler_for_extension(".custom") is None
    assert type(original.handler_for_data("text")[0]) is TextHandler
    assert original.split_extension("a.custom") == ("a.custom", "")
    assert default_registry().handler_for_extension(".custom") is None


def test_later_registration_wins_between_equal_priorities() -> None:
    registry = default_registry()
    text_priority = TextHandler().priority
    custom = SuffixHandler(".txt", text_priority, str)
    registry.register(custom)
    assert registry.handler_for_extension(".txt") is custom
    assert registry.handler_for_data("hello") == (custom, ".txt")


def test_registering_a_safer_pickle_handler_overrides_the_default(tmp_path: Path) -> None:
    registry = default_registry()
    registry.register(PickleHandler(allow_pickle=False))
    path = tmp_path / "v.pkl"
    path.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(HandlerError, match="allow_pickle=False"):
        registry.handler_for_extension(".pkl").read_from_file(path, ".pkl")


def test_register_validates_handlers() -> None:
    registry = HandlerRegistry()
    with pytest.raises(TypeError, match="DataHandler"):
        registry.register(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"start with '\.'"):
        registry.register(SuffixHandler("log", 1, str))


def test_empty_registry_cannot_write_anything() -> None:
    with pytest.raises(TypeError, match=r"builtins\.int"):
        HandlerRegistry().handler_for_data(5)


def test_allow_pickle_reaches_every_code_running_handler() -> None:
    for handler in default_registry(allow_pickle=False).handlers:
        if isinstance(handler, (PickleHandler, TorchHandler, DataclassHandler, PydanticHandler)):
            assert handler.allow_pickle is False


def test_only_polars_reads_datasets(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    JSONHandler().write_to_file({}, path, ".json")
    with pytest.raises(TypeError, match="JSONHandler"):
        JSONHandler().read_dataset([path], ".json")
    with pytest.raises(HandlerError, match="empty list"):
        PolarsHandler().read_dataset([], ".parquet")


# ---------------------------------------------------------------------------------------------------
# The README's "Custom Data Handlers" example, verbatim (it relies on the module's `import json`).


# fmt: off
class CustomLogHandler(DataHandler):
    def can_handle_extension(self, extension: str) -> bool:
        return extension.lower() == ".log"

    def can_handle_data(self, data) -> bool:
        return isinstance(data, list) and all(
            isinstance(item, dict) and "timestamp" in item
            for item in data
        )

    def read_from_file(self, file_path: Path, file_extension: str):
        logs = []
        with open(file_path, 'r') as f:  # noqa: UP015
            for line in f:
                if line.strip():
                    logs.append(json.loads(line))
        return logs

    def write_to_file(self, data, file_path: Path, file_extension: str):
        file_path.parent.mkdir(parents=True, exist_ok=True)
        with open(file_path, 'w') as f:
            for entry in data:
                f.write(json.dumps(entry) + '\n')

    @property
    def extensions(self):
        return [".log"]

    @property
    def priority(self):
        return 15
# fmt: on


def test_readme_custom_handler_example(tmp_path: Path) -> None:
    registry = default_registry()
    registry.register(CustomLogHandler())
    logs = [{"timestamp": "2024-01-01T00:00:00", "level": "info"}, {"timestamp": "2024-01-01T00:00:01"}]
    handler, extension = registry.handler_for_data(logs)
    assert isinstance(handler, CustomLogHandler)
    assert extension == ".log"
    assert registry.split_extension("app/run.log") == ("app/run", ".log")
    assert registry.handler_for_extension(".LOG") is handler
    path = tmp_path / "logs" / "run.log"
    handler.write_to_file(logs, path, extension)
    assert handler.read_from_file(path, extension) == logs
    # Lists of dicts without timestamps still go to JSON Lines.
    assert registry.handler_for_data([{"event": "start"}])[1] == ".jsonl"


# ---------------------------------------------------------------------------------------------------
# Corrupt input: HandlerError (a ValueError) naming the file and the format, chained.


def truncated_parquet() -> bytes:
    buffer = io.BytesIO()
    sample_frame().write_parquet(buffer)
    return buffer.getvalue()[: len(buffer.getvalue()) // 2]


def pydantic_document(class_path: str, data: Any) -> bytes:
    return json.dumps({"__pydantic__": class_path, "data": data}).encode()


def dataclass_document(class_path: str, fields: Any) -> bytes:
    return json.dumps({"__dataclass__": class_path, "fields": fields}).encode()


POINT_PATH = f"{Point.__module__}:Point"
PERSON_PATH = f"{Person.__module__}:Person"

CORRUPT_FILES: list[tuple[str, DataHandler, str, Any, str]] = [
    ("json", JSONHandler(), ".json", b'{"a": 1', "JSON"),
    ("jsonl", JSONHandler(), ".jsonl", b'{"a": 1}\n{"b": \n', "line 2"),
    ("jsonl-utf8", JSONHandler(), ".jsonl", b'{"a": "\xff"}\n', "JSON Lines"),
    ("text", TextHandler(), ".txt", b"caf\xe9 latin-1", "UTF-8 text"),
    ("yaml", YAMLHandler(), ".yaml", b"key: [1, 2\nother: {", "YAML"),
    ("pydantic-json", PydanticHandler(), ".pydantic.json", b"{not json", "pydantic"),
    ("pydantic-shape", PydanticHandler(), ".pydantic.json", b'{"name": "x"}', "__pydantic__"),
    (
        "pydantic-invalid",
        PydanticHandler(),
        ".pydantic.json",
        pydantic_document(PERSON_PATH, {"name": 1}),
        "validation",
    ),
    (
        "pydantic-missing-class",
        PydanticHandler(),
        ".pydantic.json",
        pydantic_document(f"{Person.__module__}:Gone", {}),
        "Gone",
    ),
    (
        "pydantic-missing-module",
        PydanticHandler(),
        ".pydantic.json",
        pydantic_document("no_such_module_x:M", {}),
        "no_such_module_x",
    ),
    (
        "pydantic-not-a-model",
        PydanticHandler(),
        ".pydantic.json",
        pydantic_document(POINT_PATH, {}),
        "not a pydantic model",
    ),
    ("dataclass-json", DataclassHandler(), ".dataclass.json", b"[1, 2", "dataclass"),
    ("dataclass-shape", DataclassHandler(), ".dataclass.json", b'{"x": 1}', "__dataclass__"),
    (
        "dataclass-bad-path",
        DataclassHandler(),
        ".dataclass.json",
        dataclass_document("nocolon", {}),
        "malformed",
    ),
    (
        "dataclass-unknown-field",
        DataclassHandler(),
        ".dataclass.json",
        dataclass_document(POINT_PATH, {"x": 1, "y": 2, "z": 3}),
        "'z'",
    ),
    (
        "dataclass-missing-field",
        DataclassHandler(),
        ".dataclass.json",
        dataclass_document(POINT_PATH, {"x": 1}),
        "'y'",
    ),
    (
        "dataclass-not-a-dataclass",
        DataclassHandler(),
        ".dataclass.json",
        dataclass_document(PERSON_PATH, {}),
        "not a dataclass",
    ),
    ("npy", NumpyHandler(), ".npy", b"\x93NUMPY\x01\x00garbage", "NumPy .npy"),
    ("npz", NumpyHandler(), ".npz", b"PK\x03\x04 not really a zip", "NumPy .npz"),
    ("sparse", SparseHandler(), ".sparse", b"not a sparse matrix", "sparse"),
    ("torch", TorchHandler(), ".pt", b"PK\x03\x04 broken checkpoint", "PyTorch"),
    ("torch-safe", TorchHandler(allow_pickle=False), ".pt", b"\x80\x02garbage", "PyTorch"),
    ("png", ImageHandler(), ".png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "image"),
    ("jpg", ImageHandler(), ".jpg", b"not an image at all", "image"),
    ("parquet", PolarsHandler(), ".parquet", truncated_parquet, "Parquet"),
    ("csv-ragged", PolarsHandler(), ".csv", b"a,b\n1,2\n3,4,5\n", "CSV"),
    ("csv-utf8", PolarsHandler(), ".csv", b"a,b\n\xff\xfe,2\n", "CSV"),
    ("pickle", PickleHandler(), ".pkl", pickle.dumps({"a": list(range(100))})[:30], "pickle"),
]


@pytest.mark.parametrize(
    ("handler", "extension", "content", "message"),
    [
        pytest.param(handler, ext, content, message, id=name)
        for name, handler, ext, content, message in CORRUPT_FILES
    ],
)
def test_corrupt_file_raises_handler_error_naming_the_path(
    handler: DataHandler, extension: str, content: Any, message: str, tmp_path: Path
) -> None:
    # Raw bytes (.bin) are absent: every byte sequence is a valid .bin file.
    path = tmp_path / f"broken{extension}"
    path.write_bytes(content() if callable(content) else content)
    with pytest.raises(HandlerError) as caught:
        handler.read_from_file(path, extension)
    assert str(path) in str(caught.value)
    assert message.lower() in str(caught.value).lower()
    assert caught.value.__cause__ is not None
    assert isinstance(caught.value, ValueError)


def test_corrupt_dataset_raises_handler_error(tmp_path: Path) -> None:
    path = tmp_path / "part0.parquet"
    path.write_bytes(truncated_parquet())
    with pytest.raises(HandlerError, match="Parquet dataset") as caught:
        PolarsHandler().read_dataset([path, tmp_path / "part1.parquet"], ".parquet")
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("handler", "extension"),
    [
        (JSONHandler(), ".json"),
        (PolarsHandler(), ".parquet"),
        (ImageHandler(), ".png"),
        (NumpyHandler(), ".npy"),
    ],
)
def test_missing_file_is_file_not_found_not_a_format_error(
    handler: DataHandler, extension: str, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError) as caught:
        handler.read_from_file(tmp_path / f"absent{extension}", extension)
    assert not isinstance(caught.value, HandlerError)


# ---------------------------------------------------------------------------------------------------
# Failed writes leave no file behind.


def test_unpicklable_value_raises_handler_error_and_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "v.pkl"
    with pytest.raises(HandlerError, match=r"v\.pkl") as caught:
        PickleHandler().write_to_file({"ok": 1, "bad": lambda: None}, path, ".pkl")
    assert "pickle" in str(caught.value)
    assert not path.exists()


def test_image_mode_the_format_cannot_store_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "i.jpg"
    with pytest.raises(HandlerError, match="RGBA"):
        ImageHandler().write_to_file(sample_image("RGBA"), path, ".jpg")
    assert not path.exists()


def test_nested_frame_to_csv_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    with pytest.raises(HandlerError, match="CSV"):
        PolarsHandler().write_to_file(pl.DataFrame({"nested": [[1, 2], [3]]}), path, ".csv")
    assert not path.exists()


@pytest.mark.parametrize(
    ("handler", "extension", "value"),
    [
        (JSONHandler(), ".json", {"when": dt.datetime(2024, 1, 1)}),
        (JSONHandler(), ".jsonl", {"a": 1}),
        (TextHandler(), ".txt", b"bytes"),
        (BytesHandler(), ".bin", "text"),
        (YAMLHandler(), ".yaml", "scalar"),
        (PydanticHandler(), ".pydantic.json", {"name": "x"}),
        (DataclassHandler(), ".dataclass.json", Interval((1, 2))),
        (NumpyHandler(), ".npy", np.array([object()], dtype=object)),
        (SparseHandler(), ".sparse", np.eye(2)),
        (TorchHandler(), ".pt", {"no": "tensors"}),
        (ImageHandler(), ".png", np.zeros((2, 2))),
        (PolarsHandler(), ".parquet", {"a": [1]}),
    ],
)
def test_write_refuses_values_the_format_cannot_reproduce(
    handler: DataHandler, extension: str, value: Any, tmp_path: Path
) -> None:
    path = tmp_path / f"v{extension}"
    with pytest.raises(TypeError) as caught:
        handler.write_to_file(value, path, extension)
    assert str(path) in str(caught.value)
    assert type(value).__qualname__ in str(caught.value)
    assert not path.exists()


# ---------------------------------------------------------------------------------------------------
# Safety: nothing a file contains runs unless allow_pickle=True.


def test_pickle_loading_disabled_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    PickleHandler().write_to_file(CreatesFileWhenLoaded(marker), path, ".pkl")
    with pytest.raises(HandlerError, match="allow_pickle=False") as caught:
        PickleHandler(allow_pickle=False).read_from_file(path, ".pkl")
    assert str(path) in str(caught.value)
    assert not marker.exists()
    # The payload is real: a trusting handler runs it.
    PickleHandler(allow_pickle=True).read_from_file(path, ".pkl")
    assert marker.exists()


def test_torch_with_pickle_disabled_loads_tensors_but_not_objects(tmp_path: Path) -> None:
    safe = TorchHandler(allow_pickle=False)
    trusting = TorchHandler(allow_pickle=True)
    tensor = torch.randn(3, 3)
    assert torch.equal(round_trip(safe, tensor, tmp_path / "t.pt", ".pt"), tensor)
    checkpoint = {"epoch": 2, "model": sample_state_dict()}
    assert_same(checkpoint, round_trip(safe, checkpoint, tmp_path / "c.pt", ".pt"))

    trusting.write_to_file(TinyNet(), tmp_path / "net.pt", ".pt")
    with pytest.raises(HandlerError, match="allow_pickle=False") as caught:
        safe.read_from_file(tmp_path / "net.pt", ".pt")
    assert str(tmp_path / "net.pt") in str(caught.value)

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    with evil.open("wb") as stream:
        torch.save({"weights": torch.ones(1), "payload": CreatesFileWhenLoaded(marker)}, stream)
    with pytest.raises(HandlerError, match="allow_pickle=False"):
        safe.read_from_file(evil, ".pt")
    assert not marker.exists()
    trusting.read_from_file(evil, ".pt")
    assert marker.exists()


@pytest.mark.parametrize("extension", [".npy", ".npz"])
def test_numpy_never_unpickles(extension: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = np.array([CreatesFileWhenLoaded(marker)], dtype=object)
    path = tmp_path / f"evil{extension}"
    with path.open("wb") as stream:
        if extension == ".npy":
            np.save(stream, payload, allow_pickle=True)
        else:
            np.savez(stream, payload=payload, allow_pickle=True)
    for handler in (NumpyHandler(), default_registry(allow_pickle=True).handler_for_extension(extension)):
        with pytest.raises(HandlerError, match="pickle") as caught:
            handler.read_from_file(path, extension)
        assert str(path) in str(caught.value)
    assert not marker.exists()
    # The payload is real: NumPy with allow_pickle=True runs it.
    loaded = np.load(path, allow_pickle=True)
    if extension == ".npz":
        loaded = loaded["payload"]
    assert marker.exists()


@pytest.mark.parametrize(
    ("handler", "document"),
    [
        (DataclassHandler(), dataclass_document("subprocess:run", {"args": ["touch", "MARKER"]})),
        (PydanticHandler(), pydantic_document("subprocess:run", {"args": ["touch", "MARKER"]})),
        (DataclassHandler(), dataclass_document("pathlib:Path.touch", {"self": "MARKER"})),
    ],
    ids=["dataclass", "pydantic", "dataclass-method"],
)
def test_model_files_cannot_call_arbitrary_callables(
    handler: DataHandler, document: bytes, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    extension = handler.extensions[0]
    path = tmp_path / f"evil{extension}"
    path.write_bytes(document.replace(b"MARKER", json.dumps(str(marker))[1:-1].encode()))
    with pytest.raises(HandlerError, match="not a"):
        handler.read_from_file(path, extension)
    assert not marker.exists()


@pytest.mark.parametrize("handler_class", [DataclassHandler, PydanticHandler])
def test_model_files_import_modules_only_when_pickle_is_allowed(
    handler_class: type[DataclassHandler | PydanticHandler], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module_name = f"autostore_test_models_{uuid.uuid4().hex}"
    marker = tmp_path / "imported"
    (tmp_path / f"{module_name}.py").write_text(
        "import dataclasses, pathlib\n"
        "import pydantic\n"
        f"pathlib.Path({str(marker)!r}).touch()\n"
        "@dataclasses.dataclass\n"
        "class Thing:\n"
        "    value: int\n"
        "class Model(pydantic.BaseModel):\n"
        "    value: int\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    if handler_class is DataclassHandler:
        document = dataclass_document(f"{module_name}:Thing", {"value": 3})
    else:
        document = pydantic_document(f"{module_name}:Model", {"value": 3})
    extension = handler_class().extensions[0]
    path = tmp_path / f"thing{extension}"
    path.write_bytes(document)
    try:
        with pytest.raises(HandlerError, match="allow_pickle=False"):
            handler_class(allow_pickle=False).read_from_file(path, extension)
        assert not marker.exists()
        result = handler_class(allow_pickle=True).read_from_file(path, extension)
        assert marker.exists()
        assert type(result).__module__ == module_name
        assert result.value == 3
        # Once the module is imported, a safe handler reads the file too.
        assert handler_class(allow_pickle=False).read_from_file(path, extension).value == 3
    finally:
        sys.modules.pop(module_name, None)


# ---------------------------------------------------------------------------------------------------
# Optional libraries: imported lazily, and a missing one names the extra to install.

MISSING_LIBRARIES = [
    ("polars", PolarsHandler(), ".parquet", "polars", sample_frame),
    ("numpy", NumpyHandler(), ".npy", "numpy", lambda: np.ones(2)),
    ("scipy.sparse", SparseHandler(), ".sparse", "scipy", lambda: sp.eye(2, format="csr")),
    ("torch", TorchHandler(), ".pt", "torch", lambda: torch.ones(2)),
    ("PIL.Image", ImageHandler(), ".png", "pillow", sample_image),
    ("yaml", YAMLHandler(), ".yaml", "yaml", lambda: {"a": 1}),
    ("pydantic", PydanticHandler(), ".pydantic.json", "pydantic", sample_person),
]


@pytest.mark.parametrize("case", [pytest.param(row, id=row[0]) for row in MISSING_LIBRARIES])
def test_missing_library_names_the_extra(
    case: tuple[str, DataHandler, str, str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module_name, handler, extension, extra, make_value = case
    value = make_value()
    path = tmp_path / f"v{extension}"
    handler.write_to_file(value, path, extension)
    monkeypatch.setitem(sys.modules, module_name, None)
    with pytest.raises(MissingDependencyError) as caught:
        handler.read_from_file(path, extension)
    assert f"pip install 'autostore[{extra}]'" in str(caught.value)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, ImportError)
    if module_name != "yaml":  # a YAML value is a plain dict, which exists without PyYAML
        assert not handler.can_handle_data(value)
        assert type(default_registry().handler_for_data(value)[0]) is not type(handler)
    with pytest.raises((MissingDependencyError, TypeError)):
        handler.write_to_file(value, tmp_path / f"w{extension}", extension)


def test_yaml_write_without_pyyaml_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(MissingDependencyError, match=r"autostore\[yaml\]"):
        YAMLHandler().write_to_file({"a": 1}, tmp_path / "c.yaml", ".yaml")
    assert not (tmp_path / "c.yaml").exists()


def test_importing_and_choosing_handlers_loads_no_optional_library() -> None:
    script = (
        "import sys\n"
        "import autostore.autostore\n"
        "from autostore.handlers import default_registry\n"
        "registry = default_registry()\n"
        "for value in ({'a': 1}, [{'a': 1}], 'text', b'raw', 5, object(), [1, 2]):\n"
        "    registry.handler_for_data(value)\n"
        "registry.split_extension('x.parquet')\n"
        "heavy = ('polars', 'numpy', 'torch', 'scipy', 'PIL', 'yaml', 'pydantic')\n"
        "print(sorted(name for name in heavy if name in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(entry for entry in sys.path if entry)}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]", result.stderr
