"""Bad input: hostile or odd keys, malformed URIs and options, corrupt files, for local stores and S3.

Every refusal must be a package exception that is also the fitting built-in (ValueError for a key
or option, TypeError for a wrong type, OSError for the transport) and name what was refused; no
input may create anything outside the store's root.
"""

from __future__ import annotations

import io
import os
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from autostore import AutoPath, AutoStore
from autostore.exceptions import (
    AutoStoreError,
    HandlerError,
    InvalidConfigError,
    InvalidKeyError,
)
from autostore.handlers.registry import default_registry
from autostore.s3 import S3Options


def _tree(directory: Path) -> set[str]:
    """Every path under ``directory`` (links not followed), relative to it."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in dirnames + filenames:
            found.add(os.path.relpath(os.path.join(dirpath, name), directory))
    return found


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[tuple[AutoStore, Path]]:
    """A local store in ``tmp_path/root``; afterwards nothing new may exist beside the root."""
    root = tmp_path / "root"
    root.mkdir()
    before = set(os.listdir(tmp_path))
    yield AutoStore(root), root
    assert set(os.listdir(tmp_path)) == before


@pytest.fixture
def s3_store(s3_bucket: str, s3_options: dict[str, Any]) -> AutoStore:
    return AutoStore(f"s3://{s3_bucket}/prefix", S3Options(**s3_options))


# --- keys that must be refused ------------------------------------------------------------------

REFUSED_KEYS = [
    "",
    "/",
    "..",
    "../escape.txt",
    "a/../../escape.txt",
    "a/../b",
    "..\\escape.txt",
    "/etc/passwd",
    "/tmp/x.json",
    "C:/Windows/x.txt",
    "a\x00b",
    "a\nb",
    "tab\there",
    "del\x7f",
    "lone\ud800surrogate",
]


@pytest.mark.parametrize("key", REFUSED_KEYS)
def test_local_store_refuses_escaping_and_malformed_keys(sandbox: tuple[AutoStore, Path], key: str) -> None:
    store, root = sandbox
    for attempt in (
        lambda: store.__setitem__(key, "value"),
        lambda: store[key],
        lambda: store.__delitem__(key),
        lambda: store.read(key, format="txt"),
    ):
        with pytest.raises(InvalidKeyError) as caught:
            attempt()
        assert isinstance(caught.value, ValueError)
        assert repr(key) in str(caught.value)
    assert _tree(root) == set()


@pytest.mark.parametrize("key", ["../escape.txt", "/abs/x.txt", "a\x00b", "a\nb"])
def test_s3_store_refuses_the_same_keys(s3_store: AutoStore, key: str) -> None:
    with pytest.raises(InvalidKeyError, match="invalid key"):
        s3_store[key] = "value"
    with pytest.raises(InvalidKeyError, match="invalid key"):
        s3_store[key]
    assert list(s3_store.list_files()) == []


def test_keys_of_the_wrong_type_raise_type_error(sandbox: tuple[AutoStore, Path]) -> None:
    store, _ = sandbox
    for key in (1, b"bytes", None, ("a",)):
        with pytest.raises(TypeError, match="str"):
            store[key] = "x"  # type: ignore[index]
        assert key not in store


# --- symbolic links ---------------------------------------------------------------------------------


@pytest.fixture
def linked_root(tmp_path: Path) -> tuple[AutoStore, Path, Path]:
    """A store whose root holds ``link``, a symbolic link to a directory outside the root."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("outside the root")
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "inner").mkdir()
    (root / "alias").symlink_to(root / "inner", target_is_directory=True)
    return AutoStore(root), root, outside


def test_a_directory_link_leading_out_of_the_root_is_refused(
    linked_root: tuple[AutoStore, Path, Path],
) -> None:
    store, _, outside = linked_root
    operations = {
        "write": lambda: store.__setitem__("link/new.txt", "x"),
        "write nested": lambda: store.__setitem__("link/deeper/new", {"a": 1}),
        "read": lambda: store["link/secret.txt"],
        "read without extension": lambda: store["link/secret"],
        "delete": lambda: store.__delitem__("link/secret.txt"),
        "delete the prefix": lambda: store.__delitem__("link"),
        "copy into": lambda: store.copy("inner-missing", "link/copied.txt"),
        "contains": lambda: "link/secret" in store,
    }
    store["inner-missing"] = "source"
    for name, operation in operations.items():
        with pytest.raises(InvalidKeyError, match="symbolic link") as caught:
            operation()
        assert "outside the store's root" in str(caught.value), name
    assert _tree(outside) == {"secret.txt"}
    assert (outside / "secret.txt").read_text() == "outside the root"


def test_links_inside_the_root_work(linked_root: tuple[AutoStore, Path, Path]) -> None:
    store, root, _ = linked_root
    store["alias/value"] = {"through": "link"}
    assert (root / "inner" / "value.json").is_file()
    assert store["inner/value"] == {"through": "link"}
    assert store["alias/value"] == {"through": "link"}


def test_a_write_replaces_a_file_link_and_never_its_target(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside.txt"
    root.mkdir()
    outside.write_text("untouched")
    (root / "note.txt").symlink_to(outside)
    store = AutoStore(root)
    assert store["note.txt"] == "untouched"  # reading follows a file link, as open() does
    store["note.txt"] = "replaced"
    assert outside.read_text() == "untouched"
    assert not (root / "note.txt").is_symlink()
    assert store["note"] == "replaced"


# --- long keys --------------------------------------------------------------------------------------


def test_long_names_that_fit_the_file_system_round_trip(sandbox: tuple[AutoStore, Path]) -> None:
    store, root = sandbox
    name = "n" * 240  # with ".npy" still under 255 bytes, but not with a temporary-file prefix
    store[name] = np.arange(3)
    assert (root / f"{name}.npy").is_file()
    np.testing.assert_array_equal(store[name], np.arange(3))
    assert list(store.keys()) == [name]
    assert _tree(root) == {f"{name}.npy"}


@pytest.mark.parametrize("key", ["s" * 256 + ".txt", "dir/" + "é" * 130 + ".txt"])
def test_a_name_longer_than_255_bytes_is_refused_locally(sandbox: tuple[AutoStore, Path], key: str) -> None:
    store, root = sandbox
    with pytest.raises(InvalidKeyError, match="255 bytes"):
        store[key] = "x"
    with pytest.raises(InvalidKeyError, match="255 bytes"):
        store[key]
    assert _tree(root) == set()


def test_an_appended_extension_that_makes_a_name_too_long_is_refused(sandbox: tuple[AutoStore, Path]) -> None:
    store, root = sandbox
    with pytest.raises(InvalidKeyError, match="255 bytes"):
        store["m" * 253] = {"a": 1}  # becomes 258 bytes with ".json"
    assert _tree(root) == set()


def test_s3_keys_over_1024_bytes_are_refused_before_any_request(s3_store: AutoStore) -> None:
    key = "/".join(["segment" * 20] * 8) + ".txt"
    assert len(key.encode()) > 1024
    with pytest.raises(InvalidKeyError, match="1024") as caught:
        s3_store[key] = "x"
    assert "segment" in str(caught.value)
    with pytest.raises(InvalidKeyError, match="1024"):
        AutoPath(f"{s3_store.uri}/{key}", store=s3_store).write_text("x")
    assert list(s3_store.list_files()) == []


def test_s3_keys_just_under_the_limit_round_trip(s3_store: AutoStore) -> None:
    key = "/".join(["d" * 200] * 4) + "/" + "f" * 150 + ".txt"  # 1000 bytes with the "prefix/" root
    assert len(f"prefix/{key}".encode()) <= 1024
    s3_store[key] = "long"
    assert s3_store[key] == "long"
    assert list(s3_store.list_files()) == [key]


def test_long_names_go_through_the_batched_and_cached_paths(
    s3_bucket: str, s3_options: dict[str, Any], tmp_path: Path
) -> None:
    # 250-byte names leave no room for a temporary-file prefix: scratch and cache files keep their end.
    store = AutoStore(
        f"s3://{s3_bucket}/long-batch", S3Options(**s3_options, cache_enabled=True, cache_dir=str(tmp_path))
    )
    frame = pl.DataFrame({"x": [1, 2, 3]})
    values = {"j" * 245 + ".json": {"a": 1}, "p" * 242 + ".parquet": frame}
    store.update(values)
    store["s" * 246 + ".json"] = [1, 2]
    assert store["j" * 245 + ".json"] == {"a": 1}
    assert store["p" * 242 + ".parquet"].equals(frame)
    assert AutoStore(f"s3://{s3_bucket}/long-batch", S3Options(**s3_options))["s" * 246 + ".json"] == [1, 2]


# --- legal keys round-trip exactly ------------------------------------------------------------------

LEGAL_KEYS = [
    "with space",
    "percent%20encoded",
    "percent%",
    "plus+sign",
    "question?mark",
    "hash#tag",
    "colon:inside",
    "star*and[brackets]",
    "tilde~/home",
    unicodedata.normalize("NFC", "café"),
    unicodedata.normalize("NFD", "café"),
    "emoji😀/日本語",
    "dir with space/a+b?c#d%e",
    "trailing space ",
    "-dash",
    ".hidden",
]


def _round_trip(store: AutoStore, key: str) -> None:
    value = {"key": key}
    written = store.write(key, value)
    assert written == f"{key}.json"
    assert store[key] == value
    assert store[f"{key}.json"] == value
    assert key in store
    assert key in list(store)
    assert f"{key}.json" in list(store.list_files())


@pytest.mark.parametrize("key", LEGAL_KEYS)
def test_keys_legal_on_s3_round_trip_exactly_on_local_disk(sandbox: tuple[AutoStore, Path], key: str) -> None:
    store, root = sandbox
    _round_trip(store, key)
    assert (root / f"{key}.json").is_file()


def test_keys_legal_on_s3_round_trip_exactly_on_s3(s3_store: AutoStore) -> None:
    for key in LEGAL_KEYS:
        _round_trip(s3_store, key)
    assert sorted(s3_store.keys()) == sorted(LEGAL_KEYS)


def test_nfc_and_nfd_spellings_are_two_keys(sandbox: tuple[AutoStore, Path], s3_store: AutoStore) -> None:
    nfc, nfd = unicodedata.normalize("NFC", "é"), unicodedata.normalize("NFD", "é")
    for store in (sandbox[0], s3_store):
        store[nfc] = "composed"
        store[nfd] = "decomposed"
        assert (store[nfc], store[nfd]) == ("composed", "decomposed")


def test_backslashes_are_separators_everywhere(sandbox: tuple[AutoStore, Path], s3_store: AutoStore) -> None:
    for store in (sandbox[0], s3_store):
        assert store.write("dir\\sub\\name", "v") == "dir/sub/name.txt"
        assert store["dir/sub/name"] == "v"
        assert store["dir\\sub\\name"] == "v"
        assert list(store.keys()) == ["dir/sub/name"]
    assert (sandbox[1] / "dir" / "sub" / "name.txt").is_file()


def test_redundant_separators_and_dots_name_the_canonical_key(sandbox: tuple[AutoStore, Path]) -> None:
    store, root = sandbox
    assert store.write("./a//b/./c", {"v": 1}) == "a/b/c.json"
    assert store["a/b/c"] == {"v": 1}
    assert _tree(root) == {"a", "a/b", "a/b/c.json"}


# --- property: generated keys round-trip or are refused, and never leave the root --------------------

_KEY_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("/\\.%+?#:*[]~ -_")),
        st.characters(codec="utf-8"),
        st.sampled_from(["\x00", "\n", "\ud800", "é", "\u0301", "😀"]),
    ),
    min_size=0,
    max_size=40,
)


def _canonical(key: str) -> str:
    """The documented normal form: '\\' is '/', empty and '.' segments dropped."""
    return "/".join(part for part in key.replace("\\", "/").split("/") if part not in ("", "."))


def _names_a_format(key: str) -> bool:
    """Whether ``key`` ends in a registered extension, whose handler then decides what it accepts."""
    return default_registry().split_extension(_canonical(key))[1] != ""


def _write_or_refusal(store: AutoStore, key: str, value: Any) -> tuple[str, Exception | None]:
    """The key written, or the refusal (the only errors a key may cause)."""
    try:
        return store.write(key, value), None
    except (InvalidKeyError, KeyError) as refused:
        return "", refused


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=_KEY_TEXT)
def test_generated_keys_round_trip_or_are_refused(tmp_path: Path, key: str) -> None:
    assume(not _names_a_format(key))
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    beside = set(os.listdir(tmp_path))
    store = AutoStore(root)
    try:
        written, refused = _write_or_refusal(store, key, b"payload")
        if refused is not None:
            assert isinstance(refused, ValueError | KeyError)
            assert repr(key) in str(refused)
            return
        canonical = _canonical(key)
        assert written == f"{canonical}.bin"
        assert store[key] == b"payload"
        assert canonical in list(store)
        assert (root / written).is_file()
        del store[key]
        assert canonical not in list(store)
    finally:
        assert set(os.listdir(tmp_path)) == beside
        for path in sorted(root.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=_KEY_TEXT)
def test_generated_keys_round_trip_or_are_refused_on_s3(s3_store: AutoStore, key: str) -> None:
    assume(not _names_a_format(key))
    written, refused = _write_or_refusal(s3_store, key, "payload")
    if refused is not None:
        assert repr(key) in str(refused)
        return
    canonical = _canonical(key)
    assert written == f"{canonical}.txt"
    assert s3_store[key] == "payload"
    assert canonical in list(s3_store)
    del s3_store[key]
    assert canonical not in list(s3_store)


# --- URIs and endpoints -------------------------------------------------------------------------


@pytest.mark.parametrize("uri", ["nosuchscheme://bucket/key", "gopher://b/x"])
def test_unknown_schemes_name_the_scheme(sandbox: tuple[AutoStore, Path], uri: str) -> None:
    scheme = uri.split(":", maxsplit=1)[0]
    with pytest.raises(InvalidConfigError, match=f"scheme '{scheme}'"):
        AutoStore(uri)
    with pytest.raises(InvalidConfigError, match=f"scheme '{scheme}'"):
        sandbox[0][uri]
    with pytest.raises(InvalidConfigError, match=f"scheme '{scheme}'"):
        AutoPath(uri).read_bytes()


@pytest.mark.parametrize("uri", ["s3://", "s3:///key.json", "s3:////"])
def test_uris_without_a_bucket_are_refused(sandbox: tuple[AutoStore, Path], uri: str) -> None:
    with pytest.raises(InvalidConfigError, match="names no bucket"):
        AutoStore(uri)
    with pytest.raises(InvalidConfigError, match="names no bucket"):
        sandbox[0][uri]


def test_a_missing_bucket_is_an_os_error_naming_it(s3_options: dict[str, Any]) -> None:
    store = AutoStore("s3://no-such-bucket-here", S3Options(**s3_options, max_retries=0))
    with pytest.raises(OSError, match="no-such-bucket-here") as caught:
        store["anything.json"]
    assert isinstance(caught.value, AutoStoreError)
    with pytest.raises(OSError, match="no-such-bucket-here"):
        list(store.keys())


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("localhost:9000", "must be a URL with a scheme"),
        ("garbage", "must be a URL with a scheme"),
        ("ftp://host", "http:// or https://"),
        ("http://", "must name a host"),
        ("http://host:99999", "invalid port"),
        ("http://host:port", "invalid port"),
        ("http://host:-1", "invalid port"),
        ("http://host/?query=1", "query or fragment"),
        ("http://user:pw@host", "must not contain credentials"),
        ("   ", "must not be empty"),
    ],
)
def test_malformed_endpoints_are_refused_by_name(endpoint: str, message: str) -> None:
    with pytest.raises(InvalidConfigError, match="endpoint_url") as caught:
        S3Options(endpoint_url=endpoint)
    assert message in str(caught.value)
    assert "pw" not in str(caught.value)


def test_a_malformed_endpoint_in_the_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "not a url")
    with pytest.raises(InvalidConfigError, match="AWS_ENDPOINT_URL"):
        AutoStore("s3://bucket", aws_access_key_id="AKIDX", aws_secret_access_key="SECRETX")["x.json"]


# --- options --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("timeout", -1, InvalidConfigError),
        ("timeout", 0, InvalidConfigError),
        ("timeout", float("nan"), InvalidConfigError),
        ("timeout", float("inf"), InvalidConfigError),
        ("timeout", "30", TypeError),
        ("max_retries", -1, InvalidConfigError),
        ("max_retries", "3", TypeError),
        ("max_retries", 2.5, TypeError),
        ("max_retries", True, TypeError),
        ("retry_delay", -0.5, InvalidConfigError),
        ("cache_expiry_hours", -1, InvalidConfigError),
        ("cache_max_bytes", 0, InvalidConfigError),
        ("cache_enabled", "yes", TypeError),
        ("cache_enabled", 1, TypeError),
        ("cache_dir", 42, TypeError),
        ("cache_dir", "", InvalidConfigError),
        ("allow_pickle", "false", TypeError),
        ("max_concurrency", 0, InvalidConfigError),
        ("max_concurrency", 10_000, InvalidConfigError),
        ("max_concurrency", "8", TypeError),
        ("multipart_chunksize", 1024, InvalidConfigError),
        ("multipart_chunksize", 5 * 1024 * 1024 - 1, InvalidConfigError),
        ("multipart_chunksize", 6 * 1024**3, InvalidConfigError),
        ("multipart_threshold", 100, InvalidConfigError),
        ("multipart_chunksize", "16MB", TypeError),
        ("verify", "no", TypeError),
        ("region_name", "", InvalidConfigError),
        ("addressing_style", "sideways", InvalidConfigError),
    ],
)
def test_options_of_the_wrong_type_or_range_are_refused_by_name(field: str, value: Any, error: type) -> None:
    with pytest.raises(error, match=field) as caught:
        S3Options(**{field: value})
    if error is InvalidConfigError:
        assert isinstance(caught.value, ValueError)
    with pytest.raises(error, match=field):
        AutoStore("s3://bucket", **{field: value})


def test_unknown_and_positional_options_are_refused() -> None:
    with pytest.raises(TypeError, match="did you mean 'timeout'"):
        S3Options(timeuot=5)
    with pytest.raises(TypeError, match="keyword arguments only"):
        S3Options(5)  # type: ignore[misc]
    with pytest.raises(TypeError, match="timeuot"):
        AutoStore("s3://bucket", timeuot=5)


# --- corrupt files for every handler -----------------------------------------------------------------


def _parquet_bytes() -> bytes:
    buffer = io.BytesIO()
    pl.DataFrame({"a": list(range(2000)), "b": ["x"] * 2000}).write_parquet(buffer)
    return buffer.getvalue()


def _npy_bytes() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.arange(100))
    return buffer.getvalue()


def _npz_bytes() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, a=np.arange(100))
    return buffer.getvalue()


CORRUPT = {
    "truncated.parquet": _parquet_bytes()[: len(_parquet_bytes()) // 2],
    "headless.parquet": _parquet_bytes()[4:],
    "not-a-table.parquet": b"PAR1 this is not parquet PAR1",
    "invalid.json": b'{"unterminated": [1, 2',
    "binary.json": b"\xff\xfe\x00\x01",
    "broken-line.jsonl": b'{"a": 1}\n{"b": \n',
    "bad.yaml": b"a: [1, 2\n  b: :",
    "tabs.yml": b"\t- : :\n  - ]",
    "truncated.npy": _npy_bytes()[:40],
    "bad-header.npy": b"\x93NUMPY\x01\x00\x10\x00{'descr': nonsense}",
    "truncated.npz": _npz_bytes()[:60],
    "not-a-zip.npz": b"PK\x03\x04garbage",
    "junk.sparse": b"junk",
    "header-only.png": b"\x89PNG\r\n\x1a\nbroken",
    "garbage.jpg": b"\xff\xd8\xffgarbage",
    "empty.gif": b"",
    "bad.webp": b"RIFF\x00\x00\x00\x00WEBPjunk",
    "bad.tiff": b"II*\x00\xff\xff\xff\xff",
    "not-a-zip.pt": b"PK\x03\x04not a torch file",
    "truncated.pth": b"\x80\x02garbage",
    "truncated.pkl": b"\x80\x04\x95garbage",
    "ragged.csv": b'a,b\n1,2,3,4\n"unterminated',
    "latin1.txt": b"caf\xe9",
    "cut.md": b"\xc3",
    "wrong-shape.pydantic.json": b'{"x": 1}',
    "wrong-shape.dataclass.json": b'{"fields": {}}',
    "not-a-class.dataclass.json": b'{"__dataclass__": "os:system", "fields": {}}',
}


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_a_corrupt_local_file_raises_a_handler_error_naming_it(
    sandbox: tuple[AutoStore, Path], name: str
) -> None:
    store, root = sandbox
    (root / name).write_bytes(CORRUPT[name])
    with pytest.raises(HandlerError) as caught:
        store[name]
    assert isinstance(caught.value, ValueError)
    assert str(root / name) in str(caught.value)
    with pytest.raises(HandlerError, match=name.replace(".", r"\.")):
        AutoPath(root / name).load()
    assert (root / name).read_bytes() == CORRUPT[name]  # reading never rewrites


def test_corrupt_objects_on_s3_raise_handler_errors_naming_them(
    s3_bucket: str, s3_options: dict[str, Any]
) -> None:
    for cache_enabled in (False, True):
        store = AutoStore(
            f"s3://{s3_bucket}/c{cache_enabled}", S3Options(**s3_options, cache_enabled=cache_enabled)
        )
        for name, raw in CORRUPT.items():
            AutoPath(f"{store.uri}/{name}", store=store).write_bytes(raw)
            with pytest.raises(HandlerError) as caught:
                store[name]
            assert f"{store.uri}/{name}" in str(caught.value), name
        with pytest.raises(HandlerError, match=r"invalid\.json"):
            store.get_many(["invalid.json"])
