"""Format I/O shared by :class:`~autostore.AutoStore` and :class:`~autostore.AutoPath`.

These functions join the two halves of AutoStore: a :class:`~autostore.backends.Backend` moves bytes
(through its cache when it has one) and a :class:`~autostore.handlers.DataHandler` turns files into
values. Every error names the URI of the object involved, never the temporary file a handler saw.

Small JSON documents, text and raw bytes skip the temporary file on remote stores without a cache:
they are encoded in memory exactly as their handler would encode them and sent in one request. A
handler subclass or a replacement registered by the user always goes through the file path.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import os
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple, TypeVar

from autostore import _core
from autostore.backends import TEMP_PREFIX, Backend, make_temp_file
from autostore.exceptions import AutoStoreError, HandlerError, ObjectNotFoundError
from autostore.handlers._support import BuiltinHandler, is_json_tree
from autostore.handlers.base import DataHandler
from autostore.handlers.registry import HandlerRegistry
from autostore.handlers.structured import JSONHandler
from autostore.handlers.text import BytesHandler, TextHandler

__all__ = [
    "DATASET_EXTENSIONS",
    "ObjectMetadata",
    "dataset_files",
    "delete_objects",
    "find_representations",
    "handler_for_read",
    "is_dataset",
    "is_hidden",
    "load",
    "load_dataset",
    "load_many",
    "metadata",
    "metadata_of",
    "normalize_format",
    "plan_write",
    "remove_other_representations",
    "representations_by_key",
    "representations_in",
    "save",
    "save_many",
]

logger = logging.getLogger("autostore.io")

DATASET_EXTENSIONS = (".parquet", ".csv")
"""Extensions that make a prefix a dataset, in order of preference (parquet wins over CSV)."""

_Fetched = TypeVar("_Fetched")
_DEFAULT_DATASET_CONCURRENCY = 8
_VANISHED_ATTEMPTS = 3
"""How often a read whose cached file vanished before it was opened is tried."""
_CONTENT_TYPES = {
    ".parquet": "application/vnd.apache.parquet",
    ".jsonl": "application/jsonl",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".md": "text/markdown",
    ".npy": "application/octet-stream",
    ".npz": "application/zip",
    ".sparse": "application/zip",
    ".pt": "application/octet-stream",
    ".pth": "application/octet-stream",
    ".pkl": "application/octet-stream",
    ".bin": "application/octet-stream",
}


@dataclass(frozen=True)
class ObjectMetadata:
    """What is known about one stored object without reading it."""

    key: str
    """The object's key inside its backend, extension included."""
    uri: str
    """The object's full URI (its path for local files)."""
    size: int
    """Size in bytes."""
    modified_time: datetime
    """When the object was last written (timezone-aware, UTC)."""
    etag: str | None
    """The entity tag the server reports (``None`` when the backend has none)."""
    content_type: str | None
    """The media type implied by the key's extension, ``None`` when unknown."""


def is_hidden(key: str) -> bool:
    """Whether ``key`` names a temporary file of an atomic write in progress (never a stored value)."""
    return PurePosixPath(key).name.startswith(TEMP_PREFIX)


def normalize_format(format: str) -> str:
    """``".parquet"`` for ``"parquet"``, ``".parquet"`` or ``"PARQUET"``; ValueError for an empty name."""
    if not isinstance(format, str):
        raise TypeError(f"format must be a str such as 'parquet' or '.json', got {type(format).__name__}")
    name = format.strip().lower()
    if not name.strip("."):
        raise ValueError(f"format must name an extension such as 'parquet' or '.json', got {format!r}")
    return name if name.startswith(".") else f".{name}"


def _handler_or_error(registry: HandlerRegistry, extension: str, uri: str) -> DataHandler:
    handler = registry.handler_for_extension(extension)
    if handler is None:
        raise HandlerError(
            f"no handler for {extension!r} files ({uri}); registered extensions: "
            f"{', '.join(registry.extensions)}"
        )
    return handler


def handler_for_read(
    registry: HandlerRegistry, key: str, uri: str, format: str | None = None
) -> tuple[DataHandler, str]:
    """The handler that reads ``key`` and the extension it is told the file has.

    ``format`` (``"parquet"`` or ``".parquet"``) overrides the key's own extension. A key without a
    registered extension and no ``format`` raises :class:`~autostore.exceptions.HandlerError`.
    """
    if format is not None:
        extension = normalize_format(format)
    else:
        extension = registry.split_extension(key)[1]
        if not extension:
            raise HandlerError(
                f"cannot tell the format of {uri}: its name ends in no registered extension "
                f"({', '.join(registry.extensions)}); pass format='...'"
            )
    return _handler_or_error(registry, extension, uri), extension


# --- in-memory codecs of the small built-in formats ----------------------------------------------


class _Codec(NamedTuple):
    encode: Callable[[Any, str], bytes | bytearray | memoryview]
    decode: Callable[[bytes, str], Any]


def _encode_json(data: Any, uri: str) -> bytes:
    # The same checks and bytes as JSONHandler.write_to_file for ".json".
    if not is_json_tree(data):
        raise TypeError(
            f"cannot write {_type_name(data)} to {uri} as JSON: expected a JSON value "
            "(dict with str keys, list, str, int, float, bool or None, nested)"
        )
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


def _decode_json(raw: bytes, uri: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise HandlerError(f"cannot read {uri} as JSON: {exc}") from exc


def _encode_text(data: Any, uri: str) -> bytes:
    if not isinstance(data, str):
        raise TypeError(f"cannot write {_type_name(data)} to {uri} as text: expected str")
    return data.encode("utf-8")


def _decode_text(raw: bytes, uri: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HandlerError(f"cannot read {uri} as UTF-8 text: {exc}") from exc


def _encode_bytes(data: Any, uri: str) -> bytes | bytearray | memoryview:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"cannot write {_type_name(data)} to {uri} as raw bytes: expected bytes, bytearray or memoryview"
        )
    return data


def _decode_bytes(raw: bytes, uri: str) -> bytes:
    return raw


_JSON_CODEC = _Codec(_encode_json, _decode_json)
_TEXT_CODEC = _Codec(_encode_text, _decode_text)
_FAST_CODECS: dict[tuple[type, str], _Codec] = {
    (JSONHandler, ".json"): _JSON_CODEC,
    (TextHandler, ".txt"): _TEXT_CODEC,
    (TextHandler, ".html"): _TEXT_CODEC,
    (TextHandler, ".md"): _TEXT_CODEC,
    (BytesHandler, ".bin"): _Codec(_encode_bytes, _decode_bytes),
}


def _fast_codec(backend: Backend, handler: DataHandler, extension: str) -> _Codec | None:
    """The in-memory codec for this handler and extension, when the backend can use one.

    Local files are read and written in place already, and a cache must see the file it keeps, so
    only uncached remote (and memory) stores take the shortcut. ``type(...)`` rather than
    ``isinstance``: a subclass may change the encoding.
    """
    if backend.is_local or backend.cache is not None:
        return None
    return _FAST_CODECS.get((type(handler), extension.lower()))


def _type_name(data: Any) -> str:
    kind = type(data)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


# --- single objects ---------------------------------------------------------------------------------


def _reason(exc: BaseException) -> str:
    """The message of the library error a handler wrapped, else the handler's own message.

    A handler's HandlerError names the temporary file it read; the cause says what was wrong.
    """
    cause = exc.__cause__
    return str(cause) if cause is not None else str(exc)


def load(
    backend: Backend,
    key: str,
    registry: HandlerRegistry,
    *,
    format: str | None = None,
    ignore_cache: bool = False,
) -> Any:
    """Read the object ``key`` of ``backend`` with the handler for its extension (or ``format``).

    Raises :class:`~autostore.exceptions.ObjectNotFoundError` (a ``FileNotFoundError``) when the
    object does not exist, :class:`~autostore.exceptions.HandlerError` when its content is not valid
    for the format or no handler reads it, and the handler's ``ImportError`` naming the extra to
    install when an optional library is missing. Every message names the URI.
    """
    uri = backend.uri(key)
    handler, extension = handler_for_read(registry, key, uri, format)
    codec = _fast_codec(backend, handler, extension)
    if codec is not None:
        return codec.decode(backend.store.get(key).to_bytes(), uri)
    for attempt in range(_VANISHED_ATTEMPTS):
        try:
            with backend.local_copy(key, ignore_cache=ignore_cache) as path, _reading(uri, handler, path):
                return handler.read_from_file(path, extension)
        except ObjectNotFoundError:
            raise
        except FileNotFoundError as exc:
            # The file vanished between being found and being opened: a concurrent delete of a local
            # file, or a cache entry replaced or evicted by another writer. Locally the object is
            # gone; a cached object is fetched again.
            if backend.is_local or attempt == _VANISHED_ATTEMPTS - 1:
                raise ObjectNotFoundError(f"{uri}: removed while it was being read") from exc
    raise AssertionError("unreachable")


class _reading:
    """Re-raise a handler's decoding failure as a HandlerError that names ``uri``, not ``path``.

    A class rather than a ``@contextmanager`` generator: it wraps every read, cache hits included,
    where the generator machinery costs more than the rest of the wrapper.
    """

    __slots__ = ("_handler", "_path", "_uri")

    def __init__(self, uri: str, handler: DataHandler, path: Path | None = None) -> None:
        self._uri, self._handler, self._path = uri, handler, path

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _traceback: Any) -> None:
        if not isinstance(exc, Exception):  # no exception, or KeyboardInterrupt and the like
            return
        uri, path = self._uri, self._path
        if isinstance(exc, HandlerError):
            reason = _reason(exc) if path is None else _renamed(_reason(exc), path, uri)
        elif isinstance(exc, (AutoStoreError, OSError, ImportError, MemoryError)):
            return
        else:
            # Custom handlers raise whatever their library raises; the caller needs to know which object.
            reason = str(exc) if path is None else _renamed(exc, path, uri)
        raise HandlerError(f"cannot read {uri} with {type(self._handler).__name__}: {reason}") from exc


def _check_accepts(handler: DataHandler, data: Any, extension: str, uri: str) -> None:
    """TypeError unless ``handler`` can store ``data`` under ``extension``.

    Built-in handlers accept more by extension than by type (any JSON value under ``.json``, a dict
    under ``.yaml``) and check precisely while writing; a custom handler is taken at its word.
    """
    if isinstance(handler, BuiltinHandler) or handler.can_handle_data(data):
        return
    raise TypeError(
        f"cannot store {_type_name(data)} at {uri}: the handler for {extension!r}, "
        f"{type(handler).__name__}, does not accept it"
    )


def _refused(reason: object, handler: DataHandler, data: Any, extension: str, uri: str) -> TypeError:
    return TypeError(
        f"cannot store {_type_name(data)} at {uri}: the handler for {extension!r}, "
        f"{type(handler).__name__}, refused it: {reason}"
    )


def _writer(handler: DataHandler, data: Any, extension: str, uri: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        try:
            handler.write_to_file(data, path, extension)
        except TypeError as exc:
            raise _refused(_renamed(exc, path, uri), handler, data, extension, uri) from exc
        except HandlerError as exc:
            raise _write_failed(_reason(exc), handler, data, uri, path) from exc
        except ValueError as exc:
            # A content error the handler let through (json.dumps refusing a too-long int): still a
            # HandlerError (a ValueError too) naming the object. Other exceptions of custom handlers
            # propagate unchanged.
            raise _write_failed(exc, handler, data, uri, path) from exc

    return write


def _write_failed(
    reason: object, handler: DataHandler, data: Any, uri: str, path: Path | None
) -> HandlerError:
    """The HandlerError for a value ``handler`` could not encode, naming ``uri`` (never ``path``)."""
    text = str(reason) if path is None else _renamed(reason, path, uri)
    return HandlerError(f"cannot write {_type_name(data)} to {uri} with {type(handler).__name__}: {text}")


def _renamed(message: object, path: Path, uri: str) -> str:
    """``message`` with the temporary file's path replaced by the URI it stands for."""
    return str(message).replace(str(path), uri)


def plan_write(
    registry: HandlerRegistry, key: str, data: Any, *, format: str | None = None, uri: Callable[[str], str]
) -> tuple[str, DataHandler, str]:
    """The key to write, the handler and the extension that :func:`save` would use for ``data``.

    The handler is the one for ``format`` if given, else for the key's registered extension, else
    the one chosen by the value's type. When the key has no registered extension, the handler's
    extension is appended (``"config"`` becomes ``"config.json"``). A handler chosen by extension
    that cannot store the value raises ``TypeError`` naming the URI (``uri(key)``), the type and the
    handler.
    """
    chosen_by_type = False
    if format is not None:
        extension = normalize_format(format)
        handler = _handler_or_error(registry, extension, uri(key))
        if not registry.split_extension(key)[1]:
            key += extension
    else:
        extension = registry.split_extension(key)[1]
        if extension:
            handler = _handler_or_error(registry, extension, uri(key))
        else:
            handler, extension = registry.handler_for_data(data)
            key += extension
            chosen_by_type = True
    if not chosen_by_type:
        _check_accepts(handler, data, extension, uri(key))
    return key, handler, extension


def save(
    backend: Backend,
    key: str,
    data: Any,
    registry: HandlerRegistry,
    *,
    format: str | None = None,
) -> str:
    """Write ``data`` at ``key`` atomically and return the key actually written.

    The key and handler are chosen by :func:`plan_write`. The previous value stays intact if
    anything fails. Other representations of an extension-less key are left alone: see
    :func:`remove_other_representations`.
    """
    key, handler, extension = plan_write(registry, key, data, format=format, uri=backend.uri)
    uri = backend.uri(key)
    codec = _fast_codec(backend, handler, extension)
    if codec is not None:
        backend.store.put(key, _encode_with(codec, handler, data, extension, uri))
    else:
        backend.write_via_file(key, _writer(handler, data, extension, uri))
        if backend.cache is not None:
            _confirm_write_through(backend, key)
    logger.debug("wrote %s with %s", uri, type(handler).__name__)
    return key


def _confirm_write_through(backend: Backend, key: str) -> None:
    """Drop the cache entry of ``key``, just written through, unless the server holds that version.

    Two writers of one key (threads or processes) can finish their uploads in one order and fill the
    cache in the other, leaving an entry that serves a value the server no longer holds until it
    expires. One HEAD after the insert settles it: whichever writer inserts last sees the server's
    final version (every upload ends before its own insert), so a wrong entry never survives.
    """
    entry = backend.cache.entry(backend.store, key)
    if entry is None:
        return
    try:
        current = backend.store.head(key).etag
    except ObjectNotFoundError:
        current = None
    if current is None or entry.etag != current:
        backend.invalidate(key)


def _encode_with(
    codec: _Codec, handler: DataHandler, data: Any, extension: str, uri: str
) -> bytes | bytearray | memoryview:
    try:
        return codec.encode(data, uri)
    except TypeError as exc:
        raise _refused(exc, handler, data, extension, uri) from exc
    except ValueError as exc:
        raise _write_failed(exc, handler, data, uri, None) from exc


# --- batches ----------------------------------------------------------------------------------------


def save_many(backend: Backend, items: list[tuple[str, Any]], registry: HandlerRegistry) -> list[str]:
    """Write ``(key, value)`` items to one backend; returns the key written for each item, in order.

    Keys and handlers are chosen as by :func:`save`. Remote values are all encoded in memory first
    (a value no handler accepts fails the batch before anything is sent), then sent concurrently
    with one ``put_many``; a later item for the same key wins. With a cache, each payload is then
    inserted into it (write-through) and confirmed against the server as :func:`save` does. Local
    files are written one by one, atomically each.
    """
    if backend.is_local:
        return [save(backend, key, value, registry) for key, value in items]
    written_keys: list[str] = []
    payloads: dict[str, bytes | bytearray | memoryview] = {}
    with tempfile.TemporaryDirectory(prefix="autostore-batch-") as scratch:
        for key, value in items:
            written, handler, extension = plan_write(registry, key, value, uri=backend.uri)
            payloads.pop(written, None)  # re-inserted at the end: the later item wins
            payloads[written] = _encode(handler, value, extension, backend.uri(written), Path(scratch))
            written_keys.append(written)
        batch = list(payloads.items())
        outcomes = backend.store.put_many(batch)
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                raise outcome
        if backend.cache is not None:
            for (written, payload), outcome in zip(batch, outcomes, strict=True):
                path = _scratch_file(Path(scratch), written)
                path.write_bytes(payload)
                backend.cache.insert(backend.store, written, path, etag=outcome.etag, move=True)
            _parallel(backend, list(payloads), lambda written: _confirm_write_through(backend, written))
    return written_keys


def load_many(
    backend: Backend, keys: list[str], registry: HandlerRegistry, *, ignore_cache: bool = False
) -> list[Any]:
    """The values of ``keys`` (each naming an object with a registered extension), in order.

    In place of a missing object the list holds its :class:`~autostore.exceptions.ObjectNotFoundError`;
    any other failure raises. Uncached remote objects are fetched with one concurrent ``get_many``
    and decoded in memory; cached ones are fetched through the cache on a thread pool (a fresh
    entry costs no request); local files are read in place.
    """
    handlers = [handler_for_read(registry, key, backend.uri(key)) for key in keys]
    if backend.is_local or backend.cache is not None:
        fetch = lambda key: _fetch_or_missing(backend, key, ignore_cache)  # noqa: E731
        fetched = [fetch(key) for key in keys] if backend.is_local else _parallel(backend, keys, fetch)
        values: list[Any] = []
        for key, (handler, extension), path in zip(keys, handlers, fetched, strict=True):
            if isinstance(path, ObjectNotFoundError):
                values.append(path)
                continue
            with _reading(backend.uri(key), handler, path):
                values.append(handler.read_from_file(path, extension))
        return values
    values = []
    with tempfile.TemporaryDirectory(prefix="autostore-batch-") as scratch:
        for key, (handler, extension), raw in zip(keys, handlers, backend.store.get_many(keys), strict=True):
            if isinstance(raw, ObjectNotFoundError):
                values.append(raw)
            elif isinstance(raw, Exception):
                raise raw
            else:
                values.append(_decode(handler, raw.to_bytes(), extension, backend.uri(key), Path(scratch)))
    return values


def _fetch_or_missing(backend: Backend, key: str, ignore_cache: bool) -> Path | ObjectNotFoundError:
    if backend.is_local:
        path = backend.local_path(key)
        return path if path.is_file() else ObjectNotFoundError(f"{path}: no such file")
    try:
        return _fetch_cached(backend, key, ignore_cache)
    except ObjectNotFoundError as exc:
        return exc


def _scratch_file(scratch: Path, key: str) -> Path:
    """A new path in ``scratch`` ending in the name of ``key`` (handlers pick formats by suffix)."""
    return make_temp_file(scratch, PurePosixPath(key).name)


def _encode(
    handler: DataHandler, data: Any, extension: str, uri: str, scratch: Path
) -> bytes | bytearray | memoryview:
    """The bytes ``handler`` writes for ``data``: in memory for JSON, text and bytes, else via a file."""
    codec = _FAST_CODECS.get((type(handler), extension.lower()))
    if codec is not None:
        return _encode_with(codec, handler, data, extension, uri)
    path = _scratch_file(scratch, uri)
    try:
        path.unlink()
        _writer(handler, data, extension, uri)(path)
        return path.read_bytes()
    finally:
        path.unlink(missing_ok=True)


def _decode(handler: DataHandler, raw: bytes, extension: str, uri: str, scratch: Path) -> Any:
    """The value ``handler`` reads from ``raw``: in memory for JSON, text and bytes, else via a file."""
    codec = _FAST_CODECS.get((type(handler), extension.lower()))
    if codec is not None:
        return codec.decode(raw, uri)
    path = _scratch_file(scratch, uri)
    try:
        path.write_bytes(raw)
        with _reading(uri, handler, path):
            return handler.read_from_file(path, extension)
    finally:
        path.unlink(missing_ok=True)


def find_representations(backend: Backend, key: str, registry: HandlerRegistry) -> list[str]:
    """Keys of the objects that store ``key`` under a registered extension (``key.json``, ``key.txt``).

    One LIST narrowed to the name on object stores, one directory scan locally. Sorted.
    """
    directory, _, name = key.rpartition("/")
    if backend.is_local:
        names = _local_names(backend, directory, f"{name}.")
    else:
        names = [PurePosixPath(meta.key).name for meta in backend.store.find_by_stem(directory, name)]
    return representations_in(directory, names, registry).get(key, [])


def representations_by_key(
    backend: Backend, directory: str, registry: HandlerRegistry
) -> dict[str, list[str]]:
    """Every object directly in ``directory`` that has a registered extension, by extension-less key.

    One LIST of the directory (a scan locally): cheaper than :func:`find_representations` per key
    when many keys of one directory are resolved together.
    """
    if backend.is_local:
        names = _local_names(backend, directory, "")
    else:
        names = [PurePosixPath(meta.key).name for meta in backend.store.list_dir(directory).objects]
    return representations_in(directory, names, registry)


def representations_in(directory: str, names: list[str], registry: HandlerRegistry) -> dict[str, list[str]]:
    """Group the object ``names`` of ``directory`` by extension-less key; each group sorted."""
    prefix = f"{directory}/" if directory else ""
    groups: dict[str, list[str]] = {}
    for name in sorted(names):
        stem, extension = registry.split_extension(name)
        if extension and not is_hidden(name):
            groups.setdefault(prefix + stem, []).append(prefix + name)
    return groups


def _local_names(backend: Backend, directory: str, start: str) -> list[str]:
    # A scan is far cheaper than the core's listing here: that one stats every file of the directory.
    try:
        with os.scandir(backend.local_path(directory)) as entries:
            return [entry.name for entry in entries if entry.name.startswith(start) and entry.is_file()]
    except (FileNotFoundError, NotADirectoryError):
        return []


def remove_other_representations(backend: Backend, written_key: str, registry: HandlerRegistry) -> list[str]:
    """Delete the objects storing the same extension-less key as ``written_key`` in another format.

    After ``store["config"] = "text"`` wrote ``config.txt``, an older ``config.json`` would make the
    key ambiguous; it is removed. Returns the keys deleted.
    """
    stem = registry.split_extension(written_key)[0]
    stale = [
        candidate for candidate in find_representations(backend, stem, registry) if candidate != written_key
    ]
    delete_objects(backend, stale)
    if stale:
        logger.debug("removed %s, replaced by %s", stale, backend.uri(written_key))
    return stale


def delete_objects(backend: Backend, keys: list[str]) -> None:
    """Delete ``keys`` concurrently and forget their cached copies; already-missing ones are fine."""
    if not keys:
        return
    for key, outcome in zip(keys, backend.store.delete_many(keys), strict=True):
        if isinstance(outcome, Exception) and not isinstance(outcome, ObjectNotFoundError):
            raise outcome
        backend.invalidate(key)


# --- metadata ---------------------------------------------------------------------------------------


def _content_type(key: str) -> str | None:
    suffix = PurePosixPath(key).suffix.lower()
    return _CONTENT_TYPES.get(suffix) or mimetypes.guess_type(PurePosixPath(key).name, strict=False)[0]


def metadata_of(backend: Backend, meta: _core.ObjectMeta) -> ObjectMetadata:
    """The :class:`ObjectMetadata` of an object the core listed or HEADed."""
    return ObjectMetadata(
        key=meta.key,
        uri=backend.uri(meta.key),
        size=meta.size,
        modified_time=meta.last_modified,
        etag=meta.etag,
        content_type=_content_type(meta.key),
    )


def metadata(backend: Backend, key: str) -> ObjectMetadata:
    """Size, modification time, ETag and content type of ``key`` (one HEAD; a ``stat`` locally).

    Raises :class:`~autostore.exceptions.ObjectNotFoundError` when there is no such object.
    """
    return metadata_of(backend, backend.store.head(key))


# --- datasets ---------------------------------------------------------------------------------------


def _dataset_extension(key: str) -> str | None:
    lowered = key.lower()
    for extension in DATASET_EXTENSIONS:
        if lowered.endswith(extension):
            return extension
    return None


def _directory_prefix(prefix: str) -> str:
    """``prefix`` as a directory (``"a/b/"``), so ``a/b`` never matches ``a/bc.parquet``."""
    stripped = prefix.strip("/")
    return f"{stripped}/" if stripped else ""


def is_dataset(backend: Backend, prefix: str) -> bool:
    """Whether some ``.parquet`` or ``.csv`` object lies under the directory ``prefix``.

    Stops at the first page of the listing that holds one.
    """
    directory = _directory_prefix(prefix)
    for chunk in backend.store.list_stream(directory):
        if any(_dataset_extension(meta.key) and not is_hidden(meta.key) for meta in chunk):
            return True
    return False


def dataset_files(backend: Backend, prefix: str) -> tuple[str, list[_core.ObjectMeta]]:
    """The extension and the objects of the dataset under ``prefix``, sorted by key.

    Parquet files if there are any, else CSV files; nested directories are included (hive-style
    partitions). Raises :class:`~autostore.exceptions.ObjectNotFoundError` when there are neither.
    """
    directory = _directory_prefix(prefix)
    by_extension: dict[str, list[_core.ObjectMeta]] = {extension: [] for extension in DATASET_EXTENSIONS}
    for meta in backend.store.list(directory):
        extension = _dataset_extension(meta.key)
        if extension is not None and not is_hidden(meta.key):
            by_extension[extension].append(meta)
    for extension in DATASET_EXTENSIONS:
        if by_extension[extension]:
            return extension, sorted(by_extension[extension], key=lambda meta: meta.key)
    raise ObjectNotFoundError(f"{backend.uri(directory)}: no parquet or CSV files under this prefix")


def load_dataset(
    backend: Backend,
    prefix: str,
    registry: HandlerRegistry,
    *,
    ignore_cache: bool = False,
    download_dir: str | os.PathLike[str] | None = None,
) -> Any:
    """Every parquet (else CSV) object under ``prefix`` as one value, a Polars ``LazyFrame``.

    Local files are scanned in place. Remote files are fetched in parallel: into the cache when the
    backend has one (the frame scans the cache entries), else into ``download_dir``, which must
    outlive the frame because it scans lazily (an AutoStore passes a directory it removes on
    ``close()``). Without ``download_dir`` the files go to a temporary directory, are read into
    memory, and the directory is removed before returning: nothing is left on disk, at the price of
    holding the whole table in memory.
    """
    extension, objects = dataset_files(backend, prefix)
    uri = backend.uri(_directory_prefix(prefix))
    handler = _handler_or_error(registry, extension, uri)
    keys = [meta.key for meta in objects]
    if backend.is_local:
        with _reading(uri, handler):
            return handler.read_dataset([backend.local_path(key) for key in keys], extension)
    if backend.cache is not None:
        paths = _parallel(backend, keys, lambda key: _fetch_cached(backend, key, ignore_cache))
        with _reading(uri, handler):
            return handler.read_dataset(paths, extension)
    if download_dir is not None:
        target = Path(tempfile.mkdtemp(prefix="dataset-", dir=download_dir))
        paths = _download_all(backend, keys, _directory_prefix(prefix), target)
        with _reading(uri, handler):
            return handler.read_dataset(paths, extension)
    with tempfile.TemporaryDirectory(prefix="autostore-dataset-") as scratch:
        paths = _download_all(backend, keys, _directory_prefix(prefix), Path(scratch))
        with _reading(uri, handler):
            return _in_memory(handler.read_dataset(paths, extension))


def _in_memory(frame: Any) -> Any:
    """The frame materialized and wrapped lazily again, so it no longer needs its files."""
    collect = getattr(frame, "collect", None)
    if collect is None:
        return frame
    return collect().lazy()


def _fetch_cached(backend: Backend, key: str, ignore_cache: bool) -> Path:
    cached = backend.cache.fetch(
        backend.store, key, expiry_seconds=backend.expiry_seconds, refresh=ignore_cache
    )
    return Path(cached.path)


def _download_all(backend: Backend, keys: list[str], directory: str, target: Path) -> list[Path]:
    """Download ``keys`` in parallel below ``target``, keeping their paths relative to ``directory``."""

    def download(key: str) -> Path:
        path = target.joinpath(*PurePosixPath(key[len(directory) :]).parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        backend.store.download_file(key, path)
        return path

    return _parallel(backend, keys, download)


def _parallel(backend: Backend, keys: list[str], fetch: Callable[[str], _Fetched]) -> list[_Fetched]:
    """``fetch`` every key on a thread pool (the core releases the GIL); results in key order."""
    workers = min(len(keys), getattr(backend.options, "max_concurrency", _DEFAULT_DATASET_CONCURRENCY))
    if workers <= 1:
        return [fetch(key) for key in keys]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="autostore-dataset") as pool:
        return list(pool.map(fetch, keys))
