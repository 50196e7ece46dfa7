"""Operands of the command (``s3://b/k``, ``minio://b/k``, ``file:///p``, ``./p``) as store locations.

A remote operand is one :class:`~autostore.backends.Location` whatever the command does with it. A local
operand is a path that can be seen two ways, and the command picks: as a file (a store rooted at its
parent directory, keyed by its name) or as a directory tree (a store rooted at the directory itself,
so keys are the relative paths of its files, exactly what ``cp -r`` and ``sync`` map onto keys).
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

from autostore import _core
from autostore.backends import Location, backend_for_local_dir, resolve_uri, split_scheme
from autostore.cli.config import CliConfig
from autostore.exceptions import InvalidConfigError
from autostore.options import registered_schemes

__all__ = ["Target", "list_tree", "relative_key", "resolve_target"]

_LOCAL_SCHEMES = ("", "file")


@dataclass(frozen=True)
class Target:
    """One operand: a local path or a remote location, and whether it was written with a trailing '/'."""

    text: str
    local_path: Path | None
    remote: Location | None
    trailing_slash: bool

    @property
    def is_local(self) -> bool:
        """Whether the operand is a path on this machine."""
        return self.local_path is not None

    @property
    def uri(self) -> str:
        """How messages name the operand: the absolute path, or the URI without a trailing '/'."""
        if self.local_path is not None:
            return str(self.local_path)
        assert self.remote is not None
        return self.remote.uri

    @property
    def name(self) -> str:
        """The last path segment (``""`` for a bucket or the filesystem root)."""
        if self.local_path is not None:
            return self.local_path.name
        assert self.remote is not None
        return posixpath.basename(self.remote.key)

    def file(self) -> Location:
        """The operand as one object: for a local path, its name in a store of its parent directory."""
        if self.local_path is None:
            assert self.remote is not None
            return self.remote
        if not self.local_path.name:
            return self.tree()
        return Location(backend_for_local_dir(self.local_path.parent), self.local_path.name)

    def tree(self) -> Location:
        """The operand as a directory or prefix: key ``""`` is its root for a local path."""
        if self.local_path is None:
            assert self.remote is not None
            return self.remote
        return Location(backend_for_local_dir(self.local_path), "")

    def child(self, name: str) -> Target:
        """The operand ``name`` inside this one (``cp file dir/`` keeps the file's name)."""
        if self.local_path is not None:
            return Target(f"{self.local_path / name}", self.local_path / name, None, trailing_slash=False)
        assert self.remote is not None
        key = f"{self.remote.key}/{name}" if self.remote.key else name
        location = Location(self.remote.backend, key)
        return Target(location.uri, None, location, trailing_slash=False)

    def names_directory(self) -> bool:
        """Whether a file copied here keeps its own name: a trailing '/', a bucket, an existing directory."""
        if self.trailing_slash:
            return True
        if self.local_path is not None:
            return self.local_path.is_dir()
        assert self.remote is not None
        return not self.remote.key


def resolve_target(text: str, config: CliConfig) -> Target:
    """Parse one operand; an unknown scheme or a URI without a bucket is an :class:`InvalidConfigError`."""
    if not text:
        raise InvalidConfigError("an empty path or URI was given")
    scheme, _ = split_scheme(text)
    trailing_slash = text.endswith(("/", os.sep))
    if scheme in _LOCAL_SCHEMES:
        return Target(text, _local_path(text, scheme), None, trailing_slash)
    known = sorted(set(registered_schemes()) | set(config.schemes))
    if scheme not in known:
        where = config.path if config.path is not None else "the config file (see `autostore backends`)"
        raise InvalidConfigError(
            f"{text}: unknown scheme {scheme!r}; define [schemes.{scheme}] in {where}, "
            f"or use one of: {', '.join(known)}"
        )
    return Target(text, None, resolve_uri(text, config.options_by_scheme), trailing_slash)


def _local_path(text: str, scheme: str) -> Path:
    if scheme == "file":
        from urllib.parse import urlsplit
        from urllib.request import url2pathname

        raw = url2pathname(urlsplit(text).path)
    else:
        raw = text
    # abspath, not resolve(): '..' is folded as the user typed it, symlinks are left alone.
    return Path(os.path.abspath(os.path.expanduser(raw)))


def relative_key(key: str, prefix: str) -> str:
    """``key`` relative to the directory ``prefix`` (``""``: the store's root)."""
    return key[len(prefix) + 1 :] if prefix else key


def list_tree(location: Location) -> list[_core.ObjectMeta]:
    """Every object under ``location`` (a directory or prefix), in no particular order.

    The core lists independent sub-prefixes in parallel, which beats a page-by-page stream on deep trees.
    """
    return location.backend.store.list(location.key)
