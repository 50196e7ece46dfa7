"""The format layer: turning Python values into local files and back.

Importing this package loads no optional library; each handler imports polars, numpy, torch and the
others only when it reads or writes a file that needs them.
"""

from __future__ import annotations

from autostore.handlers.arrays import NumpyHandler, SparseHandler
from autostore.handlers.base import DataHandler
from autostore.handlers.dataframes import PolarsHandler
from autostore.handlers.fallback import PickleHandler
from autostore.handlers.images import ImageHandler
from autostore.handlers.models import DataclassHandler, PydanticHandler
from autostore.handlers.registry import HandlerRegistry, default_registry
from autostore.handlers.structured import JSONHandler, YAMLHandler
from autostore.handlers.tensors import TorchHandler
from autostore.handlers.text import BytesHandler, TextHandler

__all__ = [
    "BytesHandler",
    "DataHandler",
    "DataclassHandler",
    "HandlerRegistry",
    "ImageHandler",
    "JSONHandler",
    "NumpyHandler",
    "PickleHandler",
    "PolarsHandler",
    "PydanticHandler",
    "SparseHandler",
    "TextHandler",
    "TorchHandler",
    "YAMLHandler",
    "default_registry",
]
