"""Machinery shared by the built-in handlers: lazy imports, error translation, partial-file cleanup."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from autostore.exceptions import AutoStoreError, HandlerError, MissingDependencyError
from autostore.handlers.base import DataHandler

# Errors that describe the file system, not the file's content: the caller needs them as they are.
_FILESYSTEM_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


class BuiltinHandler(DataHandler):
    """A handler whose extensions and priority are fixed per class."""

    handled_extensions: ClassVar[tuple[str, ...]]
    handler_priority: ClassVar[int]

    def can_handle_extension(self, extension: str) -> bool:
        """Whether ``extension`` is one of :attr:`handled_extensions`, compared case-insensitively."""
        return extension.lower() in self.handled_extensions

    @property
    def extensions(self) -> list[str]:
        """The extensions of this format; the first one is appended when the type chose the handler."""
        return list(self.handled_extensions)

    @property
    def priority(self) -> int:
        """The fixed rank of this handler among those that accept the same value."""
        return self.handler_priority

    def checked_extension(self, file_path: Path, file_extension: str) -> str:
        """``file_extension`` lowercased, or HandlerError if this handler does not own it."""
        extension = file_extension.lower()
        if extension not in self.handled_extensions:
            raise HandlerError(
                f"{type(self).__name__} cannot handle {file_path}: {file_extension!r} is not one of "
                f"{list(self.handled_extensions)}"
            )
        return extension

    def __repr__(self) -> str:
        return f"{type(self).__name__}(extensions={list(self.handled_extensions)})"


def loaded_module(name: str) -> ModuleType | None:
    """The module ``name`` if something already imported it, else None, without importing it.

    A value of a library's type cannot exist before that library is imported, so ``can_handle_data``
    answers "no" from this alone instead of paying for a heavy import.
    """
    return sys.modules.get(name)


def require_module(name: str, extra: str, purpose: str) -> ModuleType:
    """Import the optional module ``name``, or raise MissingDependencyError naming the extra to install."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs the optional package {name!r}, which is not installed: "
            f"pip install 'autostore[{extra}]'"
        ) from exc


def _is_content_error(exc: BaseException) -> bool:
    """Whether ``exc`` says the bytes are not valid for the format, rather than the disk failed."""
    if isinstance(exc, (AutoStoreError, MemoryError, *_FILESYSTEM_ERRORS)):
        return False
    # Libraries (Pillow, NumPy) raise OSError without an errno for malformed content; a real I/O
    # failure from the operating system always carries one.
    if isinstance(exc, OSError) and exc.errno is not None:
        return False
    return isinstance(exc, Exception)


@contextmanager
def decoding(source: Path | str, format_name: str) -> Iterator[None]:
    """Turn any content error raised inside the block into a HandlerError naming the source and format."""
    try:
        yield
    except BaseException as exc:
        if _is_content_error(exc):
            raise HandlerError(f"cannot read {source} as {format_name}: {exc}") from exc
        raise


@contextmanager
def encoding(data: Any, file_path: Path, format_name: str) -> Iterator[None]:
    """Create the parent directory; on any failure inside the block remove the partial file.

    Content errors (a value the encoder rejects) become a HandlerError naming the file, the format
    and the value's type.
    """
    file_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException as exc:
        file_path.unlink(missing_ok=True)
        if _is_content_error(exc):
            raise HandlerError(
                f"cannot write {type(data).__name__} to {file_path} as {format_name}: {exc}"
            ) from exc
        raise


def wrong_type(data: Any, file_path: Path, format_name: str, expected: str) -> TypeError:
    """The error for a value this format cannot represent faithfully."""
    return TypeError(
        f"cannot write {type(data).__module__}.{type(data).__qualname__} to {file_path} as "
        f"{format_name}: expected {expected}"
    )


def is_json_tree(value: Any) -> bool:
    """Whether ``value`` survives a JSON round trip unchanged.

    Only dicts with str keys, lists, str, int, float, bool and None qualify: tuples, non-str keys and
    every other type would come back different (or not be encodable), so they are refused.
    """
    try:
        return _is_json_tree(value, set())
    except RecursionError:
        return False


# The exact types (not subclasses: an IntEnum would come back as an int) JSON reproduces.
JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def _is_json_tree(value: Any, open_containers: set[int]) -> bool:
    kind = type(value)
    if kind is dict:
        if any(type(key) is not str for key in value):
            return False
        children = value.values()
    elif kind is list:
        children = value
    else:
        return kind in JSON_SCALARS
    if id(value) in open_containers:  # a cycle: json.dumps would refuse it
        return False
    open_containers.add(id(value))
    for child in children:
        # Scalars are tested inline: this walk runs over every value a store is asked to write.
        child_kind = type(child)
        if child_kind in JSON_SCALARS:
            continue
        if (child_kind is dict or child_kind is list) and _is_json_tree(child, open_containers):
            continue
        return False
    open_containers.discard(id(value))
    return True
