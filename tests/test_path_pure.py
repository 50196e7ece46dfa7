"""Pure AutoPath operations agree with ``pathlib`` (property tests; nothing is contacted).

A remote path ``s3://bucket/<key>`` must behave as ``PurePosixPath("/<key>")``, the bucket playing the
file system root; a local path as ``pathlib.Path`` itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from autostore import AutoPath

NAMES = st.one_of(
    st.text(alphabet="ab.-_ é~", min_size=1, max_size=6),
    st.sampled_from(["", ".", "..", "a.tar.gz", ".hidden", "x.", "..b"]),
)
# Keys never start with '/': "//x" is a different root for POSIX paths ('//' is implementation-defined).
KEYS = st.lists(NAMES, max_size=5).map("/".join).filter(lambda key: not key.startswith("/"))
RELATIVE = KEYS.filter(bool)
JOINABLE = st.one_of(
    RELATIVE, RELATIVE.map(lambda key: f"/{key}").filter(lambda key: not key.startswith("//"))
)
NEW_NAMES = st.one_of(NAMES, st.sampled_from(["new.txt", "a/b", "", ".", "x.y.z"]))
SUFFIXES = st.sampled_from([".csv", ".yaml.bak", "", ".", "csv", ".a/b", ". ", ".gz"])
PATTERNS = st.one_of(
    st.text(alphabet="ab.*?/", min_size=1, max_size=6),
    st.sampled_from(["*", "*.gz", "a/*", "*/*.b", "?", "**", "/a", "a*b"]),
)
# Applied per test: loading a profile would change the settings of every other test module.
pure_settings = settings(max_examples=150, deadline=None)


def remote(key: str) -> AutoPath:
    return AutoPath(f"s3://bucket/{key}")


def remote_str(pure: PurePosixPath) -> str:
    """What ``str()`` of the remote path corresponding to the absolute ``pure`` must be."""
    text = str(pure)
    return "s3://bucket" if text == "/" else f"s3://bucket{text}"


def same_outcome(ours: Callable[[], Any], theirs: Callable[[], Any], convert: Callable[[Any], Any]) -> None:
    """Both calls return equal values (after ``convert`` of ours) or both raise ValueError."""
    try:
        expected = theirs()
    except ValueError:
        try:
            ours()
        except ValueError:
            return
        raise AssertionError("pathlib raised ValueError, AutoPath did not") from None
    assert convert(ours()) == expected


@pure_settings
@given(key=KEYS)
def test_remote_components_match_pure_posix_path(key: str) -> None:
    path, pure = remote(key), PurePosixPath(f"/{key}")
    assert str(path) == remote_str(pure)
    assert (path.name, path.stem, path.suffix, path.suffixes) == (
        pure.name,
        pure.stem,
        pure.suffix,
        pure.suffixes,
    )
    assert path.parts[1:] == pure.parts[1:]
    assert str(path.parent) == remote_str(pure.parent)
    assert [str(parent) for parent in path.parents] == [remote_str(parent) for parent in pure.parents]
    assert path.is_absolute()
    assert path.as_posix() == path.as_uri() == str(path)


@pure_settings
@given(key=KEYS, name=NEW_NAMES, suffix=SUFFIXES)
def test_remote_with_methods_match_pure_posix_path(key: str, name: str, suffix: str) -> None:
    path, pure = remote(key), PurePosixPath(f"/{key}")
    same_outcome(lambda: path.with_name(name), lambda: remote_str(pure.with_name(name)), str)
    same_outcome(lambda: path.with_stem(name), lambda: remote_str(pure.with_stem(name)), str)
    same_outcome(lambda: path.with_suffix(suffix), lambda: remote_str(pure.with_suffix(suffix)), str)


@pure_settings
@given(key=KEYS, other=JOINABLE)
def test_remote_joining_matches_pure_posix_path(key: str, other: str) -> None:
    path, pure = remote(key), PurePosixPath(f"/{key}")
    assert str(path / other) == remote_str(pure / other)
    assert str(path.joinpath(other, "x")) == remote_str(pure.joinpath(other, "x"))


@pure_settings
@given(key=KEYS, base=KEYS)
def test_remote_relative_to_matches_pure_posix_path(key: str, base: str) -> None:
    path, pure = remote(key), PurePosixPath(f"/{key}")
    for candidate in (base, str(PurePosixPath(f"/{key}").parent)[1:]):
        same_outcome(
            lambda candidate=candidate: path.relative_to(remote(candidate)),
            lambda candidate=candidate: pure.relative_to(f"/{candidate}"),
            lambda result: result,
        )
        assert path.is_relative_to(remote(candidate)) == pure.is_relative_to(f"/{candidate}")


@pure_settings
@given(key=KEYS, pattern=PATTERNS)
def test_remote_match_matches_pure_posix_path(key: str, pattern: str) -> None:
    path, pure = remote(key), PurePosixPath(f"/{key}")
    same_outcome(lambda: path.match(pattern), lambda: pure.match(pattern), lambda result: result)


@pure_settings
@given(raw=KEYS, other=JOINABLE, name=NEW_NAMES, suffix=SUFFIXES, pattern=PATTERNS)
def test_local_paths_behave_as_pathlib(raw: str, other: str, name: str, suffix: str, pattern: str) -> None:
    path, native = AutoPath(raw), Path(raw)
    assert str(path) == str(native)
    assert (path.name, path.stem, path.suffix, path.suffixes) == (
        native.name,
        native.stem,
        native.suffix,
        native.suffixes,
    )
    assert path.parts == native.parts
    assert str(path.parent) == str(native.parent)
    assert [str(parent) for parent in path.parents] == [str(parent) for parent in native.parents]
    assert str(path / other) == str(native / other)
    assert path.as_posix() == native.as_posix()
    assert path.is_absolute() == native.is_absolute()
    same_outcome(lambda: path.with_name(name), lambda: str(native.with_name(name)), str)
    same_outcome(lambda: path.with_stem(name), lambda: str(native.with_stem(name)), str)
    same_outcome(lambda: path.with_suffix(suffix), lambda: str(native.with_suffix(suffix)), str)
    same_outcome(lambda: path.match(pattern), lambda: native.match(pattern), lambda result: result)
    same_outcome(lambda: (path / other).relative_to(raw), lambda: str((native / other).relative_to(raw)), str)
