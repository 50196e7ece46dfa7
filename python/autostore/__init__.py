"""AutoStore: dictionary- and pathlib-like access to local files and S3-compatible object storage."""

from autostore._core import __version__
from autostore.exceptions import AutoStoreError

__all__ = ["AutoStoreError", "__version__"]
