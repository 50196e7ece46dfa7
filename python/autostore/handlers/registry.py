"""The set of handlers a store consults, and the one with every built-in handler."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from autostore.handlers.arrays import NumpyHandler, SparseHandler
from autostore.handlers.base import DataHandler
from autostore.handlers.dataframes import PolarsHandler
from autostore.handlers.fallback import PickleHandler
from autostore.handlers.images import ImageHandler
from autostore.handlers.models import DataclassHandler, PydanticHandler
from autostore.handlers.structured import JSONHandler, YAMLHandler
from autostore.handlers.tensors import TorchHandler
from autostore.handlers.text import BytesHandler, TextHandler

__all__ = ["HandlerRegistry", "default_registry"]


class HandlerRegistry:
    """An ordered set of handlers: picks one by a key's extension or by a value's type.

    Among handlers that accept the same extension or value, the higher :attr:`DataHandler.priority`
    wins, and between equal priorities the one registered last, so a handler registered by the user
    overrides a built-in of the same rank. A handler's :meth:`DataHandler.can_handle_extension` is
    asked once per extension: its answer is remembered until the next :meth:`register`.
    """

    def __init__(self, handlers: Iterable[DataHandler] = ()) -> None:
        """A registry holding ``handlers``, registered in order."""
        self._registered: list[DataHandler] = []
        self._by_rank: list[DataHandler] = []
        self._extensions: frozenset[str] = frozenset()
        self._longest_extension = 0
        self._handler_by_extension: dict[str, DataHandler | None] = {}
        for handler in handlers:
            self.register(handler)

    def register(self, handler: DataHandler) -> None:
        """Add ``handler``; registering the same object again makes it the most recent one."""
        if not isinstance(handler, DataHandler):
            raise TypeError(f"expected a DataHandler instance, got {type(handler).__qualname__}")
        extensions = handler.extensions
        malformed = [ext for ext in extensions if not isinstance(ext, str) or not ext.startswith(".")]
        if not extensions or malformed:
            raise ValueError(
                f"{type(handler).__qualname__}.extensions must be a non-empty list of strings that "
                f"start with '.', got {extensions!r}"
            )
        self._registered = [known for known in self._registered if known is not handler]
        self._registered.append(handler)
        # sorted() is stable: walking the newest first keeps it ahead of older equal-priority handlers.
        self._by_rank = sorted(reversed(self._registered), key=lambda known: -known.priority)
        self._extensions = frozenset(ext.lower() for known in self._registered for ext in known.extensions)
        self._longest_extension = max(len(ext) for ext in self._extensions)
        self._handler_by_extension = {}

    @property
    def handlers(self) -> list[DataHandler]:
        """The registered handlers, highest priority first."""
        return list(self._by_rank)

    @property
    def extensions(self) -> list[str]:
        """Every registered extension, lowercased, sorted."""
        return sorted(self._extensions)

    def split_extension(self, key: str) -> tuple[str, str]:
        """Split ``key`` into its stem and the longest registered extension it ends with.

        The comparison ignores case and the extension is returned as spelled in ``key``:
        ``"a.pydantic.json"`` gives ``("a", ".pydantic.json")``, ``"x.PARQUET"`` gives
        ``("x", ".PARQUET")``. A key with no registered extension, or whose last path segment is only
        an extension (``"dir/.json"``), gives ``(key, "")``.
        """
        # Runs on every read and write: a set lookup per dot of the name's tail, not a scan of every
        # extension. Suffixes are tried from the leftmost dot (the longest, ".tar.gz" before ".gz"),
        # starting no further left than the longest registered extension and never at the name's
        # first character (".json" alone is a name, not an extension).
        after_name_start = key.rfind("/") + 2
        tail = len(key) - self._longest_extension
        dot = key.find(".", after_name_start if after_name_start > tail else tail)
        while dot != -1:
            extension = key[dot:]
            if extension.lower() in self._extensions:
                return key[:dot], extension
            dot = key.find(".", dot + 1)
        return key, ""

    def handler_for_extension(self, extension: str) -> DataHandler | None:
        """The handler for files ending in ``extension`` (leading dot optional, any case), or None."""
        known = self._handler_by_extension.get(extension)
        if known is not None:
            return known
        dotted = extension if extension.startswith(".") else f".{extension}"
        for handler in self._by_rank:
            if handler.can_handle_extension(dotted):
                # Remembered only for registered extensions, so arbitrary format names cannot grow it.
                if dotted.lower() in self._extensions:
                    self._handler_by_extension[extension] = handler
                return handler
        return None

    def handler_for_data(self, data: Any) -> tuple[DataHandler, str]:
        """The highest-priority handler that can write ``data``, and the extension it picks for it."""
        for handler in self._by_rank:
            if handler.can_handle_data(data):
                return handler, handler.default_extension(data)
        raise TypeError(
            f"no registered handler can write a value of type "
            f"{type(data).__module__}.{type(data).__qualname__}"
        )

    def copy(self) -> HandlerRegistry:
        """An independent registry with the same handlers: registering on it leaves this one as is."""
        return HandlerRegistry(self._registered)

    def __repr__(self) -> str:
        names = ", ".join(type(handler).__name__ for handler in self._by_rank)
        return f"HandlerRegistry([{names}])"


def default_registry(allow_pickle: bool = True) -> HandlerRegistry:
    """A new registry with every built-in handler.

    ``allow_pickle=False`` refuses to unpickle ``.pkl`` files, loads ``.pt`` files with
    ``weights_only=True`` and never imports a module named by a pydantic or dataclass file.
    """
    return HandlerRegistry(
        [
            PickleHandler(allow_pickle=allow_pickle),
            TextHandler(),
            BytesHandler(),
            JSONHandler(),
            YAMLHandler(),
            DataclassHandler(allow_pickle=allow_pickle),
            PydanticHandler(allow_pickle=allow_pickle),
            NumpyHandler(),
            SparseHandler(),
            TorchHandler(allow_pickle=allow_pickle),
            ImageHandler(),
            PolarsHandler(),
        ]
    )
