"""PIL/Pillow images (``.png``, ``.jpg``, ``.jpeg``, ``.gif``, ``.bmp``, ``.tiff``, ``.tif``, ``.webp``)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from autostore.handlers._support import (
    BuiltinHandler,
    decoding,
    encoding,
    loaded_module,
    require_module,
    wrong_type,
)

__all__ = ["ImageHandler"]


class ImageHandler(BuiltinHandler):
    """Pillow images (``pip install 'autostore[pillow]'``); the extension picks the file format.

    By type an image goes to ``.png``, which is lossless. A mode Pillow cannot write in the chosen
    format (RGBA as JPEG) raises HandlerError.
    """

    handled_extensions = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tiff", ".tif", ".webp")
    handler_priority = 9

    def can_handle_data(self, data: Any) -> bool:
        """Whether ``data`` is a ``PIL.Image.Image``."""
        image_module = loaded_module("PIL.Image")
        return image_module is not None and isinstance(data, image_module.Image)

    def read_from_file(self, file_path: Path, file_extension: str) -> Any:
        """The decoded image; it holds no open file, so the file may be removed right away."""
        image_module = require_module("PIL.Image", "pillow", f"reading image {file_path}")
        # Decoding from memory: an image opened on a path keeps the file open until it is closed.
        content = io.BytesIO(file_path.read_bytes())
        with decoding(file_path, f"an image ({file_extension})"):
            image = image_module.open(content)
            image.load()
            return image

    def write_to_file(self, data: Any, file_path: Path, file_extension: str) -> None:
        """Encode the image in the format named by ``file_extension``."""
        extension = self.checked_extension(file_path, file_extension)
        if not self.can_handle_data(data):
            raise wrong_type(data, file_path, f"an image ({file_extension})", "a PIL.Image.Image")
        image_module = require_module("PIL.Image", "pillow", f"writing image {file_path}")
        image_format = image_module.registered_extensions()[extension]
        with encoding(data, file_path, f"an image ({image_format})"), open(file_path, "wb") as stream:
            data.save(stream, format=image_format)
