"""Plain text (``.txt``, ``.html``, ``.md``) and raw bytes (``.bin``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autostore.handlers._support import BuiltinHandler, decoding, encoding, wrong_type

__all__ = ["BytesHandler", "TextHandler"]


class TextHandler(BuiltinHandler):
    """A ``str`` stored as UTF-8, byte for byte: line endings are never translated."""

    handled_extensions = (".txt", ".html", ".md")
    handler_priority = 6

    def can_handle_data(self, data: Any) -> bool:
        """Whether ``data`` is a ``str``."""
        return isinstance(data, str)

    def read_from_file(self, file_path: Path, file_extension: str) -> str:
        """Decode the file as UTF-8; invalid UTF-8 raises HandlerError."""
        raw = file_path.read_bytes()
        with decoding(file_path, "UTF-8 text"):
            return raw.decode("utf-8")

    def write_to_file(self, data: Any, file_path: Path, file_extension: str) -> None:
        """Write ``data`` encoded as UTF-8."""
        if not isinstance(data, str):
            raise wrong_type(data, file_path, "text", "str")
        with encoding(data, file_path, "UTF-8 text"):
            file_path.write_bytes(data.encode("utf-8"))


class BytesHandler(BuiltinHandler):
    """Raw bytes, written and read back unchanged."""

    handled_extensions = (".bin",)
    handler_priority = 6

    def can_handle_data(self, data: Any) -> bool:
        """Whether ``data`` is ``bytes``, ``bytearray`` or ``memoryview``."""
        return isinstance(data, (bytes, bytearray, memoryview))

    def read_from_file(self, file_path: Path, file_extension: str) -> bytes:
        """The file's content as ``bytes``."""
        return file_path.read_bytes()

    def write_to_file(self, data: Any, file_path: Path, file_extension: str) -> None:
        """Write the bytes of ``data`` as they are."""
        if not self.can_handle_data(data):
            raise wrong_type(data, file_path, "raw bytes", "bytes, bytearray or memoryview")
        with encoding(data, file_path, "raw bytes"):
            file_path.write_bytes(data)
