"""Compatibility module: the import path of the handler API in AutoStore 0.1.x.

``from autostore.autostore import DataHandler`` keeps working for custom handlers written against
the original package.
"""

from __future__ import annotations

from autostore.handlers.base import DataHandler
from autostore.handlers.registry import HandlerRegistry

__all__ = ["DataHandler", "HandlerRegistry"]
