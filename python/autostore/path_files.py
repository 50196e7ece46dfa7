"""The file objects ``AutoPath.open`` returns for remote paths: a read of a local copy that is released
on close, and a write to a temporary file that is uploaded on close (discarded if the ``with`` block
raised), buffered and decoded as ``open()`` would.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

__all__ = ["ReadFile", "UploadFile", "wrap_raw"]


class ReadFile(io.FileIO):
    """A read-only local copy that releases it (a temporary download) when the file is closed."""

    def __init__(self, path: Path, release: Callable[[], None]) -> None:
        super().__init__(path, "rb")
        self._release: Callable[[], None] | None = release

    def close(self) -> None:
        """Close the file, then release the local copy."""
        try:
            super().close()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


class UploadFile(io.FileIO):
    """A temporary file whose content becomes the object when it is closed, unless discarded."""

    def __init__(self, path: Path, commit: Callable[[], None], cleanup: Callable[[], None]) -> None:
        super().__init__(path, "wb")
        self._commit: Callable[[], None] | None = commit
        self._cleanup = cleanup
        self.discarded = False

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        """Close; an exception in the ``with`` block discards the content instead of uploading it."""
        if exc_type is not None:
            self.discarded = True
        super().__exit__(exc_type, exc, traceback)

    def close(self) -> None:
        """Close the file and upload it (unless discarded); the temporary file is removed either way."""
        commit, self._commit = self._commit, None
        try:
            super().close()
            if commit is not None and not self.discarded:
                commit()
        finally:
            if commit is not None:
                self._cleanup()


class BufferedUpload(io.BufferedWriter):
    """The buffered layer of a remote file opened for writing; discards on an error in ``with``."""

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        """Discard the upload if the block raised, then close."""
        if exc_type is not None and isinstance(self.raw, UploadFile):
            self.raw.discarded = True
        super().__exit__(exc_type, exc, traceback)


class TextUpload(io.TextIOWrapper):
    """The text layer of a remote file opened for writing; discards on an error in ``with``."""

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        """Discard the upload if the block raised, then close."""
        raw = getattr(self.buffer, "raw", None)
        if exc_type is not None and isinstance(raw, UploadFile):
            raw.discarded = True
        super().__exit__(exc_type, exc, traceback)


def wrap_raw(
    raw: ReadFile | UploadFile,
    *,
    binary: bool,
    buffering: int,
    encoding: str | None,
    errors: str | None,
    newline: str | None,
) -> IO[Any]:
    """Buffer and decode ``raw`` as ``open()`` would for the same arguments."""
    if buffering == 0:
        return raw
    size = buffering if buffering > 1 else io.DEFAULT_BUFFER_SIZE
    buffered: io.BufferedIOBase
    if isinstance(raw, UploadFile):
        buffered = BufferedUpload(raw, buffer_size=size)
    else:
        buffered = io.BufferedReader(raw, buffer_size=size)
    if binary:
        return buffered
    text_class = TextUpload if isinstance(raw, UploadFile) else io.TextIOWrapper
    return text_class(buffered, encoding=encoding or "utf-8", errors=errors, newline=newline)
