"""Polars tables as Parquet (``.parquet``) and CSV (``.csv``) (``pip install 'autostore[polars]'``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autostore.exceptions import HandlerError
from autostore.handlers._support import (
    BuiltinHandler,
    decoding,
    encoding,
    loaded_module,
    require_module,
    wrong_type,
)

__all__ = ["PolarsHandler"]

_FORMAT_NAMES = {".parquet": "Parquet", ".csv": "CSV"}


class PolarsHandler(BuiltinHandler):
    """Polars DataFrames and LazyFrames.

    One file reads as a ``DataFrame``; several files (a dataset prefix) read through
    :meth:`read_dataset` as one ``LazyFrame``. A ``LazyFrame`` is streamed to the file with
    ``sink_parquet``/``sink_csv`` rather than collected in memory first.
    """

    handled_extensions = (".parquet", ".csv")
    handler_priority = 10

    def can_handle_data(self, data: Any) -> bool:
        """Whether ``data`` is a polars ``DataFrame`` or ``LazyFrame``."""
        polars = loaded_module("polars")
        return polars is not None and isinstance(data, (polars.DataFrame, polars.LazyFrame))

    def read_from_file(self, file_path: Path, file_extension: str) -> Any:
        """The whole file as a ``polars.DataFrame``."""
        extension = self.checked_extension(file_path, file_extension)
        format_name = _FORMAT_NAMES[extension]
        polars = require_module("polars", "polars", f"reading {file_path} as {format_name}")
        with decoding(file_path, format_name):
            if extension == ".csv":
                return polars.read_csv(file_path)
            return polars.read_parquet(file_path)

    def read_dataset(self, file_paths: list[Path], file_extension: str) -> Any:
        """All ``file_paths`` (one format) as one ``polars.LazyFrame``.

        The frame reads the files when collected, so they must stay in place until then. The schema
        is read now, so a corrupt first file fails here rather than at ``collect()``.
        """
        extension = file_extension.lower()
        if extension not in _FORMAT_NAMES:
            return super().read_dataset(file_paths, file_extension)
        format_name = _FORMAT_NAMES[extension]
        if not file_paths:
            raise HandlerError(f"cannot read a {format_name} dataset from an empty list of files")
        polars = require_module("polars", "polars", f"reading a {format_name} dataset")
        with decoding(f"{file_paths[0]} and {len(file_paths) - 1} more files", f"a {format_name} dataset"):
            scan = polars.scan_csv if extension == ".csv" else polars.scan_parquet
            frame = scan(file_paths)
            frame.collect_schema()
            return frame

    def write_to_file(self, data: Any, file_path: Path, file_extension: str) -> None:
        """Write the table as Parquet or CSV; a ``LazyFrame`` runs as a streaming sink."""
        extension = self.checked_extension(file_path, file_extension)
        format_name = _FORMAT_NAMES[extension]
        if not self.can_handle_data(data):
            raise wrong_type(data, file_path, format_name, "a polars DataFrame or LazyFrame")
        polars = require_module("polars", "polars", f"writing {file_path} as {format_name}")
        with encoding(data, file_path, format_name):
            if isinstance(data, polars.LazyFrame):
                if extension == ".csv":
                    data.sink_csv(file_path)
                else:
                    data.sink_parquet(file_path)
            elif extension == ".csv":
                data.write_csv(file_path)
            else:
                data.write_parquet(file_path)
