"""Glob for AutoPath: pathlib's pattern semantics, matched by the Rust engine on local trees and
object listings alike (a listing narrowed to the pattern's literal prefix, never one request per object).
"""

from __future__ import annotations

import os
from pathlib import Path

from autostore import _core
from autostore import io as store_io
from autostore.backends import Backend

__all__ = ["GlobPattern", "escape_glob", "local_glob", "remote_glob"]

GLOB_WILDCARDS = frozenset("*?[")


def escape_glob(text: str) -> str:
    """``text`` as a glob pattern matching itself literally."""
    return "".join(f"[{char}]" if char in GLOB_WILDCARDS else char for char in text)


class GlobPattern:
    """A glob pattern as ``pathlib`` reads it, matched by the Rust engine.

    Files match by :func:`autostore._core.glob_match`. Directories match the same way, and a trailing
    ``**`` also selects the directory it starts from (``data/**`` selects ``data``), as in pathlib.
    """

    def __init__(self, pattern: str) -> None:
        self.directories_only = pattern.endswith("/")
        segments: list[str] = []
        for segment in pattern.split("/"):
            if segment in ("", ".") or (segment == "**" and segments[-1:] == ["**"]):
                continue
            segments.append(segment)
        self.segments = segments
        self.text = "/".join(segments)
        self.recursive = "**" in segments
        self.selects_base = all(segment == "**" for segment in segments)
        self._head = "/".join(segments[:-1]) if segments[-1] == "**" and len(segments) > 1 else None

    def matches_file(self, relative: str) -> bool:
        """Whether the file at ``relative`` (to the globbed directory) is selected."""
        return not self.directories_only and _core.glob_match(self.text, relative)

    def matches_directory(self, relative: str) -> bool:
        """Whether the directory at ``relative`` is selected."""
        return _core.glob_match(self.text, relative) or (
            self._head is not None and _core.glob_match(self._head, relative)
        )


def local_glob(base: Path, pattern: GlobPattern) -> list[str]:
    """Paths under ``base`` matching ``pattern``, relative to it (``""`` for ``base``), sorted."""
    # Without '**' nothing deeper than the pattern's own depth can match: the walk stops there.
    max_depth = None if pattern.recursive else len(pattern.segments)
    literal = _core.glob_prefix(pattern.text)
    found: list[str] = [""] if pattern.selects_base and base.is_dir() else []
    start = base / literal if literal else base
    # The walk reports what is inside its start; the start itself may match too ("data/**").
    if literal and start.is_dir() and pattern.matches_directory(literal.rstrip("/")):
        found.append(literal.rstrip("/"))
    for directory, subdirectories, files in os.walk(start):
        relative_dir = Path(directory).relative_to(base).as_posix()
        depth = 0 if relative_dir == "." else relative_dir.count("/") + 1
        prefix = "" if relative_dir == "." else f"{relative_dir}/"
        found.extend(prefix + name for name in subdirectories if pattern.matches_directory(prefix + name))
        if max_depth is not None and depth + 1 >= max_depth:
            subdirectories.clear()
        found.extend(
            prefix + name
            for name in files
            if not store_io.is_hidden(name) and pattern.matches_file(prefix + name)
        )
    return sorted(found)


def remote_glob(backend: Backend, key: str, pattern: GlobPattern) -> list[str]:
    """Keys and directories under ``key`` matching ``pattern``, relative to it (``""`` for ``key``)."""
    base = f"{key}/" if key else ""
    segments = pattern.segments
    if not pattern.recursive and not any(GLOB_WILDCARDS & set(segment) for segment in segments[:-1]):
        # Only the last segment has wildcards: one listing of its directory holds every candidate.
        listing = backend.store.list_dir(base + "/".join(segments[:-1]))
        names = [
            name
            for name in (prefix[len(base) :] for prefix in listing.prefixes)
            if pattern.matches_directory(name)
        ]
        names.extend(
            name
            for name in (
                meta.key[len(base) :] for meta in listing.objects if not store_io.is_hidden(meta.key)
            )
            if pattern.matches_file(name)
        )
        return sorted(names)
    escaped_base = escape_glob(base)
    found: set[str] = set()
    files: list[_core.ObjectMeta] = []
    if not pattern.directories_only:
        files = backend.store.glob(escaped_base + pattern.text)
        found.update(meta.key[len(base) :] for meta in files if not store_io.is_hidden(meta.key))
    # A directory matches when some object lies below it; a trailing '**' already lists all of them.
    below = (
        files
        if segments[-1] == "**" and not pattern.directories_only
        else backend.store.glob(f"{escaped_base}{pattern.text}/**")
    )
    directories: set[str] = set()
    for meta in below:
        parts = meta.key[len(base) :].split("/")
        directories.update("/".join(parts[:depth]) for depth in range(1, len(parts)))
    found.update(directory for directory in directories if pattern.matches_directory(directory))
    if pattern.selects_base and below:
        found.add("")
    return sorted(found)
