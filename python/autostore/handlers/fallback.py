"""Pickle (``.pkl``): the handler for every value no other handler takes."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from autostore.exceptions import HandlerError
from autostore.handlers._support import BuiltinHandler, decoding, encoding

__all__ = ["PickleHandler"]

_FORMAT_NAME = "pickle"


class PickleHandler(BuiltinHandler):
    """Any picklable value, at the lowest priority so every specific format is preferred.

    Loading a pickle runs code chosen by whoever wrote the file. With ``allow_pickle=False`` reading
    is refused before the file is even opened; writing stays allowed.
    """

    handled_extensions = (".pkl",)
    handler_priority = 0

    def __init__(self, allow_pickle: bool = True) -> None:
        """``allow_pickle=False`` makes :meth:`read_from_file` refuse every file."""
        self.allow_pickle = allow_pickle

    def can_handle_data(self, data: Any) -> bool:
        """Always true: whether a value really pickles is known only when writing it."""
        return True

    def read_from_file(self, file_path: Path, file_extension: str) -> Any:
        """The unpickled value; HandlerError without reading anything when pickle loading is disabled."""
        if not self.allow_pickle:
            raise HandlerError(
                f"refusing to read {file_path}: loading pickle files is disabled (allow_pickle=False), "
                "because unpickling can run arbitrary code"
            )
        with decoding(file_path, _FORMAT_NAME), open(file_path, "rb") as stream:
            return pickle.load(stream)

    def write_to_file(self, data: Any, file_path: Path, file_extension: str) -> None:
        """Pickle ``data`` with the highest protocol; an unpicklable value raises HandlerError."""
        with encoding(data, file_path, _FORMAT_NAME), open(file_path, "wb") as stream:
            pickle.dump(data, stream, protocol=pickle.HIGHEST_PROTOCOL)
