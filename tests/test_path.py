"""AutoPath against the local SeaweedFS server, local directories and memory stores.

Pure path operations are property-tested in ``test_path_pure.py``; the README's examples run in
``test_readme_path.py``.
"""

from __future__ import annotations

import errno
import os
import pickle
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from autostore import AutoPath, AutoStore
from autostore.exceptions import (
    AccessDeniedError,
    AlreadyExistsError,
    DirectoryNotEmptyError,
    InvalidConfigError,
    InvalidKeyError,
    ObjectNotFoundError,
    PathIsADirectoryError,
    PathNotADirectoryError,
)
from autostore.path import PathStat
from autostore.testing import LocalS3Server

TREE = {
    "top.csv": b"a\n1\n",
    "readme.txt": b"read me",
    "data/a.parquet": b"PAR1 a",
    "data/b.csv": b"b\n2\n",
    "data/2024/jan.parquet": b"PAR1 jan",
    "data/2024/feb.parquet": b"PAR1 feb",
    "data/2024/deep/x.parquet": b"PAR1 x",
    "docs/[draft]?.md": b"# odd name",
}


@pytest.fixture
def store(s3_options: dict[str, Any], tmp_path: Path) -> Iterator[AutoStore]:
    """A store whose S3 options point at the test server (its root is a local directory)."""
    with AutoStore(str(tmp_path / "store-root"), options=[_s3_options(s3_options)]) as opened:
        yield opened


def _s3_options(values: dict[str, Any], **overrides: Any) -> Any:
    from autostore.s3 import S3Options

    return S3Options(scheme="s3", **{**values, **overrides})


@pytest.fixture
def bucket_root(s3_bucket: str, store: AutoStore) -> AutoPath:
    """The root of a fresh bucket."""
    return AutoPath(f"s3://{s3_bucket}", store=store)


@pytest.fixture
def second_bucket(s3_server: LocalS3Server) -> Iterator[str]:
    """Another fresh bucket, removed afterwards."""
    name = f"test-{uuid.uuid4().hex}"
    s3_server.create_bucket(name)
    yield name
    s3_server.delete_bucket(name)


def write_tree(root: AutoPath, files: dict[str, bytes] = TREE) -> None:
    for key, content in files.items():
        (root / key).write_bytes(content)


def relative_names(paths: Iterator[AutoPath], base: AutoPath) -> list[str]:
    return [str(path.relative_to(base)) for path in paths]


# --- construction, identity -----------------------------------------------------------------------


def test_construction_from_str_path_and_autopath(store: AutoStore, tmp_path: Path) -> None:
    remote = AutoPath("s3://bucket/a/b.json", store=store)
    assert str(remote) == "s3://bucket/a/b.json"
    assert AutoPath(remote).store is store
    assert str(AutoPath(remote, "c")) == "s3://bucket/a/b.json/c"
    assert str(AutoPath("s3://bucket//a/./b/")) == "s3://bucket/a/b"
    assert str(AutoPath("s3://bucket", "x", "y.txt")) == "s3://bucket/x/y.txt"

    local = AutoPath(tmp_path / "new" / "file.txt")
    assert local.is_local
    assert str(local) == str(tmp_path / "new" / "file.txt")
    assert str(AutoPath("./data/../x")) == "data/../x"
    assert str(AutoPath()) == "."
    assert AutoPath((tmp_path / "f.txt").as_uri()) == AutoPath(tmp_path / "f.txt")
    # A local path with a store creates nothing until something is written.
    AutoPath(tmp_path / "new" / "file.txt", store=store).exists()
    assert not (tmp_path / "new").exists()

    with pytest.raises(TypeError, match="AutoStore or None"):
        AutoPath("s3://bucket/x", store="not a store")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="segments"):
        AutoPath(42)  # type: ignore[arg-type]


def test_unknown_scheme_fails_on_first_use_with_a_clear_error() -> None:
    path = AutoPath("nosuchscheme://bucket/key.json")
    assert path.name == "key.json"
    with pytest.raises(InvalidConfigError, match="nosuchscheme"):
        path.exists()
    with pytest.raises(InvalidConfigError, match="names no bucket"):
        AutoPath("s3:///key")


def test_fspath_only_for_local_paths(tmp_path: Path) -> None:
    local = AutoPath(tmp_path / "f.txt")
    local.write_text("local")
    with open(local) as handle:
        assert handle.read() == "local"
    remote = AutoPath("s3://bucket/f.txt")
    with pytest.raises(TypeError, match=r"s3://bucket/f\.txt"):
        os.fspath(remote)


def test_equality_and_hash_follow_store_identity(s3_options: dict[str, Any], tmp_path: Path) -> None:
    server = AutoStore(str(tmp_path / "a"), options=[_s3_options(s3_options)])
    same_server = AutoStore(str(tmp_path / "b"), options=[_s3_options(s3_options)])
    other_endpoint = AutoStore(
        str(tmp_path / "c"), options=[_s3_options(s3_options, endpoint_url="http://127.0.0.1:9")]
    )
    first = AutoPath("s3://bucket/key.json", store=server)
    assert first == AutoPath("s3://bucket/key.json", store=same_server)
    assert hash(first) == hash(AutoPath("s3://bucket/key.json", store=same_server))
    assert first != AutoPath("s3://bucket/key.json", store=other_endpoint)
    assert first != AutoPath("s3://bucket/other.json", store=server)
    assert first != AutoPath("s3://other-bucket/key.json", store=server)
    assert first != AutoPath("bucket/key.json")
    assert AutoPath("x/y") == AutoPath("x//y")
    assert AutoPath("x/y") != AutoPath("y")
    assert len({first, AutoPath("s3://bucket/key.json", store=same_server)}) == 1
    assert sorted([AutoPath("s3://b/z"), AutoPath("s3://b/a")]) == [
        AutoPath("s3://b/a"),
        AutoPath("s3://b/z"),
    ]


def test_paths_pickle_as_their_uri(tmp_path: Path) -> None:
    restored = pickle.loads(pickle.dumps(AutoPath("memory://pickled/a/b.txt")))
    assert str(restored) == "memory://pickled/a/b.txt"
    assert pickle.loads(pickle.dumps(AutoPath(tmp_path))) == AutoPath(tmp_path)


def test_path_without_store_uses_default_options(aws_env: dict[str, str], s3_bucket: str) -> None:
    path = AutoPath(f"s3://{s3_bucket}/plain.json")
    path.save({"from": "environment"})
    assert path.load() == {"from": "environment"}
    assert path.store is None


# --- pure operations on URIs ----------------------------------------------------------------------


def test_pure_operations_on_uris() -> None:
    path = AutoPath("s3://bucket/datasets/run.1/results.tar.gz")
    assert (path.name, path.stem, path.suffix) == ("results.tar.gz", "results.tar", ".gz")
    assert path.suffixes == [".tar", ".gz"]
    assert str(path.parent) == "s3://bucket/datasets/run.1"
    assert [str(parent) for parent in path.parents] == [
        "s3://bucket/datasets/run.1",
        "s3://bucket/datasets",
        "s3://bucket",
    ]
    assert path.parents[-1] == path.parents[-1].parent
    assert str(AutoPath("s3://bucket").parent) == "s3://bucket"
    assert path.parts == ("s3://bucket/", "datasets", "run.1", "results.tar.gz")
    assert str(path.with_name("x.csv")) == "s3://bucket/datasets/run.1/x.csv"
    assert str(path.with_stem("final")) == "s3://bucket/datasets/run.1/final.gz"
    assert str(path.with_suffix(".zip")) == "s3://bucket/datasets/run.1/results.tar.zip"
    assert str(path.parent / "/absolute/key") == "s3://bucket/absolute/key"
    assert str(path / "s3://elsewhere/k") == "s3://elsewhere/k"
    assert str("prefix" / AutoPath("s3://b/k")) == "s3://b/k"
    assert path.as_posix() == path.as_uri() == str(path)
    assert path.is_absolute()
    assert path.match("*.gz")
    assert path.match("run.1/*.tar.gz")
    assert path.match("s3://bucket/datasets/*/*.gz")
    assert not path.match("s3://other/datasets/*/*.gz")
    assert not path.match("*.csv")
    with pytest.raises(ValueError, match="empty name"):
        AutoPath("s3://bucket").with_suffix(".txt")


def test_relative_to_returns_a_path_and_refuses_other_buckets(tmp_path: Path) -> None:
    base = AutoPath("s3://data/experiments")
    result = AutoPath("s3://data/experiments/run_1/results.json")
    relative = result.relative_to(base)
    assert str(relative) == "run_1/results.json"
    assert str(base / relative) == str(result)
    assert result.is_relative_to("s3://data")
    for other in ("s3://elsewhere/experiments", "minio://data/experiments", "s3://data/other", str(tmp_path)):
        with pytest.raises(ValueError, match="is not relative to"):
            result.relative_to(other)
    local = AutoPath(tmp_path / "a" / "b.txt").relative_to(tmp_path)
    assert isinstance(local, AutoPath)
    assert local == AutoPath("a/b.txt")
    with pytest.raises(ValueError, match="is not relative to"):
        AutoPath(tmp_path).relative_to("s3://data")


def test_local_uri_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = AutoPath("./sub/file.txt")
    assert str(relative) == "sub/file.txt"
    assert relative.as_posix() == "sub/file.txt"
    assert relative.as_uri() == (tmp_path / "sub" / "file.txt").as_uri()
    assert not relative.is_absolute()
    assert relative.absolute() == AutoPath(tmp_path / "sub" / "file.txt")


# --- file operations on S3 ------------------------------------------------------------------------


def test_read_write_exists_stat(bucket_root: AutoPath, s3_server: LocalS3Server) -> None:
    path = bucket_root / "dir" / "note.txt"
    assert not path.exists()
    assert path.write_text("line 1\r\nline 2\n") == len("line 1\r\nline 2\n")
    assert path.exists()
    assert path.is_file()
    assert not path.is_dir()
    assert path.parent.exists()
    assert path.parent.is_dir()
    assert not path.parent.is_file()
    assert path.read_text() == "line 1\nline 2\n"
    assert path.read_bytes() == b"line 1\r\nline 2\n"
    assert path.write_bytes(bytearray(b"\x00\x01")) == 2
    assert path.read_bytes() == b"\x00\x01"
    (bucket_root / "crlf.txt").write_text("a\nb", newline="\r\n")
    assert (bucket_root / "crlf.txt").read_bytes() == b"a\r\nb"
    (bucket_root / "latin.txt").write_text("é", encoding="latin-1")
    assert (bucket_root / "latin.txt").read_text(encoding="latin-1") == "é"

    info = path.stat()
    assert isinstance(info, PathStat)
    assert (info.size, info.st_size, info.is_dir) == (2, 2, False)
    listed = s3_server.request("HEAD", f"/{bucket_root.bucket}/dir/note.txt")
    assert info.etag == listed.headers["etag"]
    assert info.modified_time is not None
    assert info.mtime == info.modified_time.timestamp()
    directory = path.parent.stat()
    assert (directory.is_dir, directory.size, directory.etag, directory.mtime) == (True, 0, None, None)
    assert bucket_root.exists()
    assert bucket_root.is_dir()
    with pytest.raises(FileNotFoundError, match=r"missing\.txt"):
        (bucket_root / "missing.txt").stat()


def test_missing_and_directory_reads_fail_like_pathlib(bucket_root: AutoPath) -> None:
    (bucket_root / "folder" / "inner.txt").write_text("x")
    missing = bucket_root / "missing.txt"
    with pytest.raises(FileNotFoundError, match=r"missing\.txt") as caught:
        missing.read_bytes()
    assert isinstance(caught.value, ObjectNotFoundError)
    with pytest.raises(IsADirectoryError, match=r"folder'") as directory:
        (bucket_root / "folder").read_bytes()
    assert isinstance(directory.value, PathIsADirectoryError)
    assert directory.value.errno == errno.EISDIR
    with pytest.raises(IsADirectoryError):
        bucket_root.read_text()
    with pytest.raises(IsADirectoryError):
        (bucket_root / "folder").open("rb")
    with pytest.raises(NotADirectoryError, match=r"inner\.txt") as not_directory:
        list((bucket_root / "folder" / "inner.txt").iterdir())
    assert isinstance(not_directory.value, PathNotADirectoryError)
    with pytest.raises(InvalidKeyError, match=r"'\.\.'"):
        (bucket_root / ".." / "x").read_bytes()


def test_permission_error_for_refused_credentials(
    s3_options: dict[str, Any], s3_bucket: str, tmp_path: Path
) -> None:
    refused = AutoStore(
        str(tmp_path), options=[_s3_options(s3_options, aws_secret_access_key="wrong-secret")]
    )
    with pytest.raises(PermissionError) as caught:
        AutoPath(f"s3://{s3_bucket}/x.txt", store=refused).read_bytes()
    assert isinstance(caught.value, AccessDeniedError)
    assert "wrong-secret" not in str(caught.value)


def test_iterdir_lists_files_and_subdirectories_once(bucket_root: AutoPath) -> None:
    write_tree(bucket_root)
    assert relative_names(bucket_root.iterdir(), bucket_root) == ["data", "docs", "readme.txt", "top.csv"]
    data = bucket_root / "data"
    children = list(data.iterdir())
    assert relative_names(iter(children), data) == ["2024", "a.parquet", "b.csv"]
    assert [child.is_file() for child in children] == [False, True, True]
    assert list((bucket_root / "nothing-here").iterdir()) == []


GLOB_PATTERNS = [
    "*",
    "*.csv",
    "data/*",
    "data/*.parquet",
    "*/*",
    "**/*.parquet",
    "**/*",
    "data/**/*.parquet",
    "d*/2024/*",
    "*/",
    "data/*/",
    "**/",
    "[d]ata/2024/deep/x.parquet",
    "docs/[[]draft]?.md",
    "data/**",
    "**/2024",
]


def test_glob_agrees_between_s3_local_and_pathlib(bucket_root: AutoPath, tmp_path: Path) -> None:
    write_tree(bucket_root)
    local_root = AutoPath(tmp_path / "tree")
    write_tree(local_root)
    for pattern in GLOB_PATTERNS:
        remote = relative_names(bucket_root.glob(pattern), bucket_root)
        local = relative_names(local_root.glob(pattern), local_root)
        assert remote == local, pattern
        if not pattern.endswith("**"):
            # pathlib before 3.13 gives a trailing '**' another meaning; every other pattern agrees.
            expected = sorted(
                str(found.relative_to(tmp_path / "tree")) for found in (tmp_path / "tree").glob(pattern)
            )
            assert remote == expected, pattern
    assert relative_names(bucket_root.rglob("*.csv"), bucket_root) == ["data/b.csv", "top.csv"]
    data = bucket_root / "data"
    assert relative_names(data.glob("**/*.parquet"), data) == [
        "2024/deep/x.parquet",
        "2024/feb.parquet",
        "2024/jan.parquet",
        "a.parquet",
    ]
    assert relative_names((bucket_root / "docs").glob("*.md"), bucket_root / "docs") == ["[draft]?.md"]
    for bad in ("", "/abs/*", "s3://b/*"):
        with pytest.raises(ValueError, match="pattern"):
            list(bucket_root.glob(bad))


def test_mkdir_rmdir_unlink_delete_on_s3(bucket_root: AutoPath) -> None:
    folder = bucket_root / "folder"
    folder.mkdir()
    folder.mkdir(parents=True)
    assert not folder.exists()
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")
    with pytest.raises(FileExistsError) as exists:
        folder.mkdir()
    assert isinstance(exists.value, AlreadyExistsError)
    folder.mkdir(exist_ok=True)
    with pytest.raises(FileExistsError, match=r"a\.txt"):
        (folder / "a.txt").mkdir(exist_ok=True)
    with pytest.raises(OSError, match="not empty") as not_empty:
        folder.rmdir()
    assert isinstance(not_empty.value, DirectoryNotEmptyError)
    assert not_empty.value.errno == errno.ENOTEMPTY
    with pytest.raises(NotADirectoryError):
        (folder / "a.txt").rmdir()
    (bucket_root / "never-written").rmdir()

    with pytest.raises(IsADirectoryError):
        (folder / "sub").unlink()
    (folder / "a.txt").unlink()
    assert not (folder / "a.txt").exists()
    with pytest.raises(FileNotFoundError, match=r"a\.txt"):
        (folder / "a.txt").unlink()
    (folder / "a.txt").unlink(missing_ok=True)

    (folder / "c.txt").write_text("c")
    folder.delete()
    assert not folder.is_dir()
    assert not (folder / "sub" / "b.txt").exists()
    with pytest.raises(FileNotFoundError, match="folder"):
        folder.delete()
    folder.delete(missing_ok=True)
    single = bucket_root / "single.txt"
    single.write_text("s")
    single.delete()
    assert not single.exists()


def fail_while_writing(path: AutoPath, mode: str, content: str | bytes, buffering: int = -1) -> None:
    """Write ``content`` through ``path.open(mode)`` and raise inside the ``with`` block."""
    with path.open(mode, buffering) as handle:
        handle.write(content)
        raise RuntimeError("boom")


def test_open_reads_and_writes_remote_objects(bucket_root: AutoPath) -> None:
    path = bucket_root / "opened" / "file.txt"
    with path.open("w") as handle:
        handle.write("first\n")
        handle.write("second\n")
        assert not path.exists()
    assert path.read_text() == "first\nsecond\n"
    with path.open() as handle:
        local_copy = Path(handle.name)
        assert local_copy.exists()
        assert handle.readlines() == ["first\n", "second\n"]
    # The temporary download lives exactly as long as the file object.
    assert not local_copy.exists()
    with path.open("rb") as handle:
        assert handle.read(5) == b"first"
    with path.open("wb") as handle:
        handle.write(b"\x00binary")
    assert path.read_bytes() == b"\x00binary"
    with pytest.raises(RuntimeError, match="boom"):
        fail_while_writing(path, "w", "partial")
    assert path.read_bytes() == b"\x00binary"
    untouched = bucket_root / "never.txt"
    with pytest.raises(RuntimeError, match="boom"):
        fail_while_writing(untouched, "wb", b"x", buffering=0)
    assert not untouched.exists()
    for mode in ("a", "r+", "x"):
        with pytest.raises(ValueError, match=re.escape(f"mode {mode!r}")):
            path.open(mode)
    with pytest.raises(ValueError, match="binary mode"):
        path.open("rb", encoding="utf-8")


# --- local files ----------------------------------------------------------------------------------


def test_local_operations_and_errors(tmp_path: Path) -> None:
    root = AutoPath(tmp_path / "root")
    file = root / "deep" / "file.txt"
    file.write_text("created with parents")
    assert file.read_text() == "created with parents"
    assert file.stat().size == len("created with parents")
    assert file.stat().etag
    assert root.stat().is_dir
    with pytest.raises(FileNotFoundError, match="missing") as missing:
        (root / "missing").read_bytes()
    assert isinstance(missing.value, ObjectNotFoundError)
    assert missing.value.errno == errno.ENOENT
    with pytest.raises(IsADirectoryError) as directory:
        (root / "deep").read_bytes()
    assert isinstance(directory.value, PathIsADirectoryError)
    with pytest.raises(NotADirectoryError) as not_directory:
        list(file.iterdir())
    assert isinstance(not_directory.value, PathNotADirectoryError)
    with pytest.raises(FileExistsError) as exists:
        (root / "deep").mkdir()
    assert isinstance(exists.value, AlreadyExistsError)
    with pytest.raises(OSError, match="not empty") as not_empty:
        (root / "deep").rmdir()
    assert isinstance(not_empty.value, DirectoryNotEmptyError)
    (root / "empty").mkdir()
    assert (root / "empty").is_dir()
    assert relative_names(root.iterdir(), root) == ["deep", "empty"]
    (root / "empty").rmdir()
    with open(root / "deep" / "raw.bin", "wb") as handle:
        handle.write(b"raw")
    with (root / "deep" / "raw.bin").open("ab") as handle:
        handle.write(b"+")
    assert (root / "deep" / "raw.bin").read_bytes() == b"raw+"
    root.delete()
    assert not root.exists()
    with pytest.raises(FileNotFoundError):
        root.delete()
    root.delete(missing_ok=True)


# --- transfers ------------------------------------------------------------------------------------


def test_copy_and_move_single_files_between_backends(
    bucket_root: AutoPath, second_bucket: str, tmp_path: Path
) -> None:
    local = AutoPath(tmp_path / "model.pt")
    local.write_bytes(b"weights" * 1000)
    uploaded = local.copy_to(bucket_root / "models" / "model.pt")
    assert uploaded.read_bytes() == b"weights" * 1000
    assert local.exists()

    other_bucket = AutoPath(f"s3://{second_bucket}/backup/model.pt", store=bucket_root.store)
    assert uploaded.copy_to(other_bucket) == other_bucket
    assert other_bucket.read_bytes() == b"weights" * 1000

    renamed = other_bucket.move_to(f"s3://{second_bucket}/renamed.pt")
    assert renamed.store is bucket_root.store
    assert not other_bucket.exists()
    assert renamed.exists()

    downloaded = renamed.download_to(tmp_path / "downloads" / "nested" / "model.pt")
    assert downloaded == tmp_path / "downloads" / "nested" / "model.pt"
    assert downloaded.read_bytes() == b"weights" * 1000

    memory = AutoPath(f"memory://{uuid.uuid4().hex}/m.bin")
    memory.write_bytes(b"from memory")
    to_s3 = memory.move_to(bucket_root / "from-memory.bin")
    assert to_s3.read_bytes() == b"from memory"
    assert not memory.exists()

    target = bucket_root / "uploaded.txt"
    (tmp_path / "source.txt").write_text("upload me")
    target.upload_from(str(tmp_path / "source.txt"))
    assert target.read_text() == "upload me"

    with pytest.raises(FileNotFoundError, match="nothing"):
        (bucket_root / "nothing").copy_to(tmp_path / "x")
    with pytest.raises(ValueError, match="onto itself"):
        target.copy_to(str(target))
    with pytest.raises(ValueError, match="local path"):
        target.download_to("s3://bucket/x")


def test_copy_and_move_directory_trees(bucket_root: AutoPath, tmp_path: Path) -> None:
    source = AutoPath(tmp_path / "source")
    write_tree(source)
    remote = source.copy_to(bucket_root / "tree")
    assert sorted(relative_names(remote.rglob("*"), remote)) == sorted(
        relative_names(source.rglob("*"), source)
    )
    back = remote.download_to(tmp_path / "back")
    for key, content in TREE.items():
        assert (back / key).read_bytes() == content

    moved = remote.move_to(bucket_root / "moved")
    assert not remote.is_dir()
    assert (moved / "data" / "2024" / "deep" / "x.parquet").read_bytes() == TREE["data/2024/deep/x.parquet"]

    local_moved = AutoPath(tmp_path / "source").move_to(tmp_path / "elsewhere" / "tree")
    assert not source.exists()
    assert (local_moved / "docs" / "[draft]?.md").read_bytes() == TREE["docs/[draft]?.md"]

    with pytest.raises(ValueError, match="into itself"):
        moved.copy_to(moved / "inside")


def test_move_keeps_the_source_when_the_copy_fails(
    bucket_root: AutoPath, second_bucket: str, s3_options: dict[str, Any], tmp_path: Path
) -> None:
    source = bucket_root / "keep" / "me.txt"
    source.write_text("precious")
    refused = AutoStore(str(tmp_path), options=[_s3_options(s3_options, aws_secret_access_key="wrong")])
    unwritable = AutoPath(f"s3://{second_bucket}/me.txt", store=refused)
    with pytest.raises(PermissionError):
        source.move_to(unwritable)
    assert source.read_text() == "precious"
    with pytest.raises(PermissionError):
        source.parent.move_to(unwritable.parent / "dir")
    assert source.read_text() == "precious"
    local = AutoPath(tmp_path / "local.txt")
    local.write_text("local")
    with pytest.raises(PermissionError):
        local.move_to(unwritable)
    assert local.read_text() == "local"


def test_progress_callbacks_and_bars(
    bucket_root: AutoPath, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    local = AutoPath(tmp_path / "payload.bin")
    local.write_bytes(os.urandom(300_000))
    calls: list[tuple[int, int | None]] = []
    remote = local.copy_to(
        bucket_root / "payload.bin", progress=lambda done, total: calls.append((done, total))
    )
    assert calls[-1] == (300_000, 300_000)

    tree_calls: list[tuple[int, int | None]] = []
    write_tree(AutoPath(tmp_path / "tree"))
    AutoPath(tmp_path / "tree").copy_to(
        bucket_root / "tree", progress=lambda done, total: tree_calls.append((done, total))
    )
    total = sum(len(content) for content in TREE.values())
    assert tree_calls[-1] == (total, total)

    remote.download_to(tmp_path / "again.bin", progress=True)
    assert "payload.bin" in capsys.readouterr().err
    same_store_calls: list[tuple[int, int | None]] = []
    remote.copy_to(
        bucket_root / "copy.bin", progress=lambda done, total: same_store_calls.append((done, total))
    )
    assert same_store_calls[-1] == (300_000, 300_000)
    with pytest.raises(TypeError, match="progress"):
        remote.copy_to(bucket_root / "x.bin", progress="yes")  # type: ignore[arg-type]


# --- values through the handlers ------------------------------------------------------------------


def test_load_and_save_through_handlers(bucket_root: AutoPath, tmp_path: Path) -> None:
    settings = bucket_root / "config" / "settings.json"
    assert settings.save({"a": 1}) == settings
    assert settings.load() == {"a": 1}
    assert settings.read_text() == '{"a": 1}'

    written = (bucket_root / "results").save({"accuracy": 0.95})
    assert str(written) == f"{bucket_root}/results.json"
    assert written.load() == {"accuracy": 0.95}
    text_as_json = bucket_root / "data.txt"
    text_as_json.write_text('{"forced": true}')
    assert text_as_json.load() == '{"forced": true}'
    assert text_as_json.load(format="json") == {"forced": True}
    assert text_as_json.load(ignore_cache=True) == '{"forced": true}'

    local = AutoPath(tmp_path / "local" / "values")
    saved = local.save([1, 2, 3])
    assert saved == AutoPath(tmp_path / "local" / "values.json")
    assert saved.load() == [1, 2, 3]

    with pytest.raises(FileNotFoundError, match="absent"):
        (bucket_root / "absent").load()
    with pytest.raises(FileNotFoundError, match=r"absent\.json"):
        (bucket_root / "absent.json").load()


def test_directories_load_as_datasets(bucket_root: AutoPath, tmp_path: Path, aws_env: dict[str, str]) -> None:
    import polars as pl

    frames = {
        "sales/2024/january.parquet": pl.DataFrame({"region": ["n", "s"], "sales": [1, 2]}),
        "sales/2024/february.parquet": pl.DataFrame({"region": ["n"], "sales": [3]}),
    }
    for key, frame in frames.items():
        (bucket_root / key).save(frame)
        AutoPath(tmp_path / key).save(frame)
    for directory in (bucket_root / "sales" / "2024", AutoPath(tmp_path / "sales" / "2024")):
        lazy = directory.load()
        assert isinstance(lazy, pl.LazyFrame)
        assert lazy.collect().sort("sales")["sales"].to_list() == [1, 2, 3]
    # Without a store the files are read into memory: the frame outlives every temporary file.
    without_store = AutoPath(str(bucket_root / "sales")).load()
    assert without_store.collect().height == 3


def test_cached_paths_follow_their_own_writes_copies_and_deletes(
    s3_options: dict[str, Any], bucket_root: AutoPath, tmp_path: Path
) -> None:
    cached_store = AutoStore(
        str(tmp_path / "root"),
        options=[_s3_options(s3_options, cache_enabled=True, cache_dir=str(tmp_path / "cache"))],
    )
    path = AutoPath(f"{bucket_root}/cached.txt", store=cached_store)
    path.write_text("v1")
    assert path.read_text() == "v1"
    with path.open("w") as handle:
        handle.write("v2")
    assert path.read_text() == "v2"
    with path.open() as handle:
        assert handle.read() == "v2"
    (tmp_path / "v3.txt").write_text("v3")
    path.upload_from(tmp_path / "v3.txt")
    assert path.read_text() == "v3"
    assert path.load(format="txt") == "v3"
    path.unlink()
    with pytest.raises(FileNotFoundError):
        path.read_text()
    path.write_text("v4")
    assert path.read_text() == "v4"
    path.parent.delete()
    assert not path.exists()
    with pytest.raises(FileNotFoundError):
        path.read_bytes()
