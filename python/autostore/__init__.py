"""AutoStore: dictionary- and pathlib-like access to local files and S3-compatible object storage.

``AutoStore`` is a mapping of Python values kept as files; ``AutoPath`` is a ``pathlib``-like path
over the same backends. ``config``, ``load_dotenv`` and ``setup_logging`` help configure both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from autostore._core import __version__
from autostore.exceptions import (
    AccessDeniedError,
    AlreadyExistsError,
    AmbiguousKeyError,
    AutoStoreError,
    ForkedProcessError,
    HandlerError,
    InvalidConfigError,
    InvalidKeyError,
    KeyNotFoundError,
    MissingDependencyError,
    ObjectNotFoundError,
    PreconditionFailedError,
    TransferError,
    TransferTimeoutError,
)
from autostore.options import Options
from autostore.settings import config, load_dotenv, setup_logging
from autostore.store import AutoStore

if TYPE_CHECKING:
    from autostore.path import AutoPath

__all__ = [
    "AccessDeniedError",
    "AlreadyExistsError",
    "AmbiguousKeyError",
    "AutoPath",
    "AutoStore",
    "AutoStoreError",
    "ForkedProcessError",
    "HandlerError",
    "InvalidConfigError",
    "InvalidKeyError",
    "KeyNotFoundError",
    "MissingDependencyError",
    "ObjectNotFoundError",
    "Options",
    "PreconditionFailedError",
    "TransferError",
    "TransferTimeoutError",
    "__version__",
    "config",
    "load_dotenv",
    "setup_logging",
]


def __getattr__(name: str) -> Any:
    """Import ``AutoPath`` on first use: ``import autostore`` stays light and free of import cycles."""
    if name == "AutoPath":
        from autostore.path import AutoPath

        globals()["AutoPath"] = AutoPath
        return AutoPath
    raise AttributeError(f"module 'autostore' has no attribute {name!r}")
