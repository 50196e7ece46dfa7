"""The interface every data handler implements.

A handler turns one family of Python values into files and back. It works on local paths only: the
store layer downloads an object to a local file before calling :meth:`DataHandler.read_from_file` and
uploads the file :meth:`DataHandler.write_to_file` produced.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

__all__ = ["DataHandler"]


class DataHandler(ABC):
    """Reads and writes one family of data types, chosen by file extension or by the value's type.

    Subclasses implement the six abstract members. When several handlers can write a value, the one
    with the highest :attr:`priority` wins and its :meth:`default_extension` is appended to the key.
    """

    @abstractmethod
    def can_handle_extension(self, extension: str) -> bool:
        """Whether files ending in ``extension`` (such as ``".json"``, any case) are in this format."""

    @abstractmethod
    def can_handle_data(self, data: Any) -> bool:
        """Whether this handler can write ``data`` so that reading the file gives an equal value."""

    @abstractmethod
    def read_from_file(self, file_path: Path, file_extension: str) -> Any:
        """Decode the local file ``file_path``, whose format is given by ``file_extension``."""

    @abstractmethod
    def write_to_file(self, data: Any, file_path: Path, file_extension: str) -> None:
        """Encode ``data`` into the local file ``file_path`` in the format of ``file_extension``."""

    @property
    @abstractmethod
    def extensions(self) -> list[str]:
        """The extensions this handler owns, each with its leading dot; the first is the default."""

    @property
    @abstractmethod
    def priority(self) -> int:
        """Rank among handlers that accept the same value: the highest wins."""

    def default_extension(self, data: Any) -> str:
        """The extension to append to a key when this handler was chosen for ``data`` by its type."""
        return self.extensions[0]

    def read_dataset(self, file_paths: list[Path], file_extension: str) -> Any:
        """Read several local files of one format as a single value.

        Only formats with a notion of a multi-file dataset (Parquet and CSV tables) support this.
        """
        raise TypeError(
            f"{type(self).__name__} cannot read several {file_extension} files as one dataset "
            f"({len(file_paths)} files given)"
        )
