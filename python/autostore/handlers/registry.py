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
    overrides a built-in of the same rank.
    """

    def __init__(self, handlers: Iterable[DataHandler] = ()) -> None:
        """A registry holding ``handlers``, registered in order."""
        self._registered: list[DataHandler] = []
        self._by_rank: list[DataHandler] = []
        self._extensions_longest_first: list[str] = []
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
        every_extension = {ext.lower() for known in self._registered for ext in known.extensions}
        self._extensions_longest_first = sorted(every_extension, key=lambda ext: (-len(ext), ext))

    @property
    def handlers(self) -> list[DataHandler]:
        """The registered handlers, highest priority first."""
        return list(self._by_rank)

    @property
    def extensions(self) -> list[str]:
        """Every registered extension, lowercased, sorted."""
        return sorted(self._extensions_longest_first)

    def split_extension(self, key: str) -> tuple[str, str]:
        """Split ``key`` into its stem and the longest registered extension it ends with.

        The comparison ignores case and the extension is returned as spelled in ``key``:
        ``"a.pydantic.json"`` gives ``("a", ".pydantic.json")``, ``"x.PARQUET"`` gives
        ``("x", ".PARQUET")``. A key with no registered extension, or whose last path segment is only
        an extension (``"dir/.json"``), gives ``(key, "")``.
        """
        name_start = key.rfind("/") + 1
        for extension in self._extensions_longest_first:
            cut = len(key) - len(extension)
            if cut > name_start and key[cut:].lower() == extension:
                return key[:cut], key[cut:]
        return key, ""

    def handler_for_extension(self, extension: str) -> DataHandler | None:
        """The handler for files ending in ``extension`` (leading dot optional, any case), or None."""
        if not extension.startswith("."):
            extension = f".{extension}"
        for handler in self._by_rank:
            if handler.can_handle_extension(extension):
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
