"""The Rust glob engine agrees with ``pathlib.Path.glob`` on real directory trees.

Semantics pinned here (and in ``rust/src/glob.rs``): ``*``, ``?`` and ``[...]`` match within one path
segment with ``fnmatch.fnmatchcase`` rules, ``**`` matches zero or more whole segments, and a trailing
``**`` reaches every file below a directory (pathlib 3.13; older versions return directories only, so
the comparison asks them for the equivalent ``**/*``). ``Store.glob`` returns files only, so a pattern
ending in ``/`` (directories only) matches nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autostore import _core

# Names avoid a trailing '.' (Windows strips it) and upper case (Windows globs case-insensitively).
NAME_ALPHABET = "ab.-_[]é"
NAMES = st.text(alphabet=NAME_ALPHABET, min_size=1, max_size=4).filter(
    lambda name: name not in (".", "..") and not name.endswith(".")
)
FILE_PATHS = st.lists(NAMES, min_size=1, max_size=4).map("/".join)

WILDCARD_SEGMENTS = [
    "*",
    "?",
    "[a-c]",
    "[!x]",
    "[!a]",
    "a*",
    "*b",
    "a*.t?t",
    "*.*",
    ".*",
    "?.*",
    "[[]*",
    "*]",
    "[]]",
    "[a-]",
    "[!-]",
    "[é_]?",
    "é*",
]
# Pieces glued into one segment: literal characters and wildcards, e.g. "a[!x]?" or "-*é".
SEGMENT_PIECES = ["a", "b", ".", "-", "_", "[", "]", "é", "*", "?", "[a-c]", "[!x]"]
MIXED_SEGMENTS = (
    st.lists(st.sampled_from(SEGMENT_PIECES), min_size=1, max_size=4)
    .map("".join)
    .filter(lambda segment: "**" not in segment and segment != "..")
)
SEGMENTS = st.one_of(NAMES, st.sampled_from(WILDCARD_SEGMENTS), MIXED_SEGMENTS, st.just("**"), st.just("."))
PATTERNS = (
    st.lists(SEGMENTS, min_size=1, max_size=4)
    .filter(lambda segments: any(segment != "." for segment in segments))
    .map("/".join)
)


def make_tree(root: Path, keys: list[str]) -> list[str]:
    """Create the files named by ``keys`` under ``root``; a key that would need a file to be a directory
    (or the reverse) is dropped. Returns the keys created."""
    created: list[str] = []
    for key in keys:
        clashes = any(
            key == other or other.startswith(f"{key}/") or key.startswith(f"{other}/") for other in created
        )
        if clashes:
            continue
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(key.encode())
        created.append(key)
    return created


def store_for(root: Path) -> _core.Store:
    """A local store rooted at ``root``."""
    return _core.Store(root.resolve().as_uri())


def pathlib_files(root: Path, pattern: str) -> list[str]:
    """The files pathlib's glob selects, as sorted keys relative to ``root``."""
    segments = [segment for segment in pattern.split("/") if segment not in ("", ".")]
    if segments[-1] == "**":
        # Before 3.13 a trailing '**' selects directories only; '**/*' is the files below on every version.
        pattern = f"{pattern}/*"
    return sorted({path.relative_to(root).as_posix() for path in root.glob(pattern) if path.is_file()})


def glob_keys(store: _core.Store, pattern: str) -> list[str]:
    """The keys ``Store.glob`` returns, sorted, duplicates kept."""
    return sorted(meta.key for meta in store.glob(pattern))


def key_patterns(key: str) -> list[str]:
    """Patterns spelled after an existing key: they reach the matching branches far more often than
    random patterns do."""
    parent, _, name = key.rpartition("/")
    return [
        key,
        key.replace("a", "?"),
        key.replace("a", "[a-c]").replace("b", "[!a]"),
        key.replace("b", "[b-b]").replace("é", "[!-]"),
        f"**/{name}",
        f"{parent}/*" if parent else "*",
        f"{parent.split('/')[0]}/**" if parent else "**",
    ]


@settings(max_examples=200, deadline=None)
@given(
    keys=st.lists(FILE_PATHS, min_size=1, max_size=8),
    patterns=st.lists(PATTERNS, min_size=1, max_size=4),
    data=st.data(),
)
def test_glob_agrees_with_pathlib(
    tmp_path_factory: pytest.TempPathFactory, keys: list[str], patterns: list[str], data: st.DataObject
) -> None:
    root = tmp_path_factory.mktemp("tree")
    created = make_tree(root, keys)
    store = store_for(root)
    for pattern in patterns + key_patterns(data.draw(st.sampled_from(created))):
        expected = pathlib_files(root, pattern)
        assert glob_keys(store, pattern) == expected, pattern
        for key in created:
            assert _core.glob_match(pattern, key) == (key in expected), (pattern, key)
        prefix = _core.glob_prefix(pattern)
        assert all(key.startswith(prefix) for key in expected), (pattern, prefix)


@pytest.fixture
def data_tree(tmp_path: Path) -> Path:
    """A small dataset layout with top-level, nested and hidden files."""
    make_tree(
        tmp_path,
        [
            "top.parquet",
            "readme.txt",
            ".hidden",
            "data/a.parquet",
            "data/b.csv",
            "data/.env",
            "data/2024/jan.parquet",
            "data/2024/feb.parquet",
            "data/2024/deep/x.parquet",
            "other/[x]",
            "other/é.txt",
        ],
    )
    return tmp_path


def test_recursive_pattern_includes_top_level_files(data_tree: Path) -> None:
    assert glob_keys(store_for(data_tree), "**/*.parquet") == [
        "data/2024/deep/x.parquet",
        "data/2024/feb.parquet",
        "data/2024/jan.parquet",
        "data/a.parquet",
        "top.parquet",
    ]
    assert _core.glob_match("**/*.parquet", "top.parquet")


def test_star_does_not_cross_a_separator(data_tree: Path) -> None:
    store = store_for(data_tree)
    assert glob_keys(store, "*") == [".hidden", "readme.txt", "top.parquet"]
    assert glob_keys(store, "*.parquet") == ["top.parquet"]
    assert glob_keys(store, "data*") == []
    assert not _core.glob_match("*", "data/a.parquet")
    assert not _core.glob_match("data?a.parquet", "data/a.parquet")


def test_one_level_under_a_directory(data_tree: Path) -> None:
    store = store_for(data_tree)
    assert glob_keys(store, "data/*") == ["data/.env", "data/a.parquet", "data/b.csv"]
    assert glob_keys(store, "data/*/*.parquet") == ["data/2024/feb.parquet", "data/2024/jan.parquet"]
    assert glob_keys(store, "data/2024/j?n.*") == ["data/2024/jan.parquet"]


def test_trailing_recursive_reaches_every_file_below(data_tree: Path) -> None:
    assert glob_keys(store_for(data_tree), "data/2024/**") == [
        "data/2024/deep/x.parquet",
        "data/2024/feb.parquet",
        "data/2024/jan.parquet",
    ]
    assert not _core.glob_match("data/**", "data")
    assert _core.glob_match("data/**", "data/b.csv")


def test_hidden_files_are_matched_by_star(data_tree: Path) -> None:
    store = store_for(data_tree)
    assert ".hidden" in glob_keys(store, "*")
    assert glob_keys(store, "data/.*") == ["data/.env"]
    assert "data/.env" in glob_keys(store, "**/*")


def test_brackets_and_unicode_in_names(data_tree: Path) -> None:
    store = store_for(data_tree)
    assert glob_keys(store, "other/[[]x]") == ["other/[x]"]
    assert glob_keys(store, "other/[x]") == []
    assert glob_keys(store, "other/?.txt") == ["other/é.txt"]
    assert glob_keys(store, "other/[é]*") == ["other/é.txt"]


def test_literal_pattern_finds_exactly_one_file(data_tree: Path) -> None:
    store = store_for(data_tree)
    assert glob_keys(store, "data/2024/jan.parquet") == ["data/2024/jan.parquet"]
    assert glob_keys(store, "data/2024/missing.parquet") == []
    assert glob_keys(store, "data//2024/./jan.parquet") == ["data/2024/jan.parquet"]


def test_directory_only_patterns_match_no_file(data_tree: Path) -> None:
    store = store_for(data_tree)
    assert glob_keys(store, "data/") == []
    assert glob_keys(store, "*/") == []
    assert glob_keys(store, "data/**/") == []
    assert not _core.glob_match("data/", "data")
    assert not _core.glob_match("*/", "readme.txt")


def test_matching_is_case_sensitive() -> None:
    assert _core.glob_match("*.CSV", "x.CSV")
    assert not _core.glob_match("*.csv", "x.CSV")
    assert not _core.glob_match("[A-Z]*", "abc")


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [
        ("a/b/*.csv", "a/b/"),
        ("a/b/c.csv", "a/b/"),
        ("*.csv", ""),
        ("a/*/c.csv", "a/"),
        ("a/**/c", "a/"),
        ("a/b/**", "a/b/"),
        ("a//./b/*", "a/b/"),
        ("a/[bc]/d", "a/"),
    ],
)
def test_glob_prefix(pattern: str, prefix: str) -> None:
    assert _core.glob_prefix(pattern) == prefix


@pytest.mark.parametrize(
    "pattern",
    ["", "/abs/*.csv", "a**", "a/b**/c", "**.txt", "x/***", "..", "a/../b", ".", "./"],
)
def test_invalid_patterns_raise_value_error_naming_the_pattern(data_tree: Path, pattern: str) -> None:
    named = re.escape(f"'{pattern}'")
    with pytest.raises(ValueError, match=named):
        store_for(data_tree).glob(pattern)
    with pytest.raises(ValueError, match=named):
        _core.glob_match(pattern, "a")
    with pytest.raises(ValueError, match=named):
        _core.glob_prefix(pattern)
