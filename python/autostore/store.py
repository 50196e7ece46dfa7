"""AutoStore: a dictionary of Python values kept as files, locally or in S3-compatible object storage.

``store[key] = value`` picks the file format from the key's extension or from the value's type and
writes the file atomically; ``store[key]`` finds the file (one LIST when the key has no extension)
and reads it back. A key that is a URI (``s3://bucket/x.json``, ``minio://bucket/x``) goes to the
backend of that scheme and bucket, built from the options registered for the scheme. The rules are
those of DESIGN.md §4 and §5.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import weakref
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from autostore import _core
from autostore import io as store_io
from autostore.backends import (
    Backend,
    Location,
    backend_for_local_dir,
    check_relative_key,
    parse_uri,
    resolve_uri,
    split_scheme,
)
from autostore.exceptions import (
    AmbiguousKeyError,
    InvalidConfigError,
    InvalidKeyError,
    KeyNotFoundError,
    ObjectNotFoundError,
)
from autostore.handlers.base import DataHandler
from autostore.handlers.registry import HandlerRegistry, default_registry
from autostore.io import ObjectMetadata
from autostore.options import Options, fields_for, options_class_for_scheme, registered_schemes
from autostore.options import register_options_scheme as _register_options_scheme

__all__ = ["AutoStore", "BackendView", "ObjectMetadata"]

logger = logging.getLogger("autostore.store")

_LOCAL_SCHEMES = ("", "file")
# Settings every backend understands; a scheme without options of its own inherits them from the
# store's primary options, so AutoStore("./data", cache_enabled=True) caches the S3 objects it reads.
_SHARED_FIELDS = tuple(name for name in fields_for(Options) if name != "scheme")

OptionsArgument = Options | Sequence[Options] | None


class BackendView:
    """A backend seen from a store's root: keys are relative to the root prefix.

    ``store.primary_backend`` is one. It answers questions about prefixes without reading objects.
    """

    def __init__(self, backend: Backend, prefix: str) -> None:
        """View ``backend`` from ``prefix`` (``""`` for the whole bucket or directory)."""
        self.backend = backend
        self.prefix = prefix

    def __repr__(self) -> str:
        """The root URI, never credentials."""
        return f"BackendView({self.uri!r})"

    @property
    def uri(self) -> str:
        """The URI (or local path) of the root."""
        return self.backend.uri(self.prefix.rstrip("/"))

    @property
    def scheme(self) -> str:
        """``file``, ``memory``, ``s3`` or a registered S3-compatible scheme."""
        return self.backend.scheme

    def key(self, relative: str) -> str:
        """The backend key of ``relative`` (checked: no ``..``, not absolute); ``""`` is the root."""
        if isinstance(relative, str) and not relative.strip("/"):
            return self.prefix
        return self.prefix + check_relative_key(relative)

    def exists(self, key: str) -> bool:
        """Whether the object ``key`` exists (one HEAD; a ``stat`` locally)."""
        return self.backend.store.exists(self.key(key))

    def is_directory(self, path: str) -> bool:
        """Whether at least one object lies under ``path/``."""
        return self.backend.store.is_dir(self.key(path).rstrip("/"))

    def is_dataset(self, path: str) -> bool:
        """Whether ``path/`` holds parquet or CSV files, so ``store[path]`` reads them as one table."""
        return store_io.is_dataset(self.backend, self.key(path))


class AutoStore(MutableMapping[str, Any]):
    """A mutable mapping from keys to Python values stored as files under one root URI.

    ``uri`` is a local directory (``./data``, ``file:///abs``), ``s3://bucket/prefix``, a URI of a
    registered S3-compatible scheme, or ``memory://name``. ``options`` is one
    :class:`~autostore.options.Options` (for the root's scheme unless it names another), or a list of
    them, one per scheme, used for the root and for URI keys of those schemes; ``config`` is an alias
    of ``options``. Keyword arguments are fields of the root's options class and win over the same
    fields of ``options``; an unknown one raises ``TypeError`` listing the valid names.

    A scheme without options of its own uses its options class's defaults plus the root options'
    shared settings (cache, timeouts, retries, ``allow_pickle``). Pickle files and full torch models
    are loaded only if every options object given allows it.

    Datasets read from a remote store without a cache are downloaded into a temporary directory that
    lives until :meth:`close` (or the end of the ``with`` block): the LazyFrame returned scans those
    files, so collect it before closing the store.
    """

    def __init__(
        self,
        uri: str | os.PathLike[str],
        options: OptionsArgument = None,
        *,
        config: OptionsArgument = None,
        **kwargs: Any,
    ) -> None:
        """Open the store rooted at ``uri``; no request reaches the storage until the first operation."""
        if config is not None:
            if options is not None:
                raise TypeError("AutoStore() takes options or config (an alias), not both")
            options = config
        if not isinstance(uri, (str, os.PathLike)):
            raise TypeError(f"AutoStore() needs a path or URI (str or os.PathLike), got {type(uri).__name__}")
        self.uri = os.fspath(uri)
        if not isinstance(self.uri, str) or not self.uri:
            raise InvalidConfigError(f"AutoStore() needs a non-empty path or URI, got {uri!r}")
        scheme = split_scheme(self.uri)[0]
        self._scheme = scheme or "file"
        registered, primary = _sort_options(_options_list(options), self._scheme)
        self.options: Options = _primary_options(primary, self._scheme, kwargs)
        """The options of the store's root."""
        registered[self._scheme] = self.options
        self._options_by_scheme = registered
        self._inherited_options: dict[str, Options] = {}
        allow_pickle = all(option.allow_pickle for option in registered.values())
        self.handler_registry: HandlerRegistry = default_registry(allow_pickle=allow_pickle)
        """The handlers of this store; :meth:`register_handler` adds to it and to no other store."""
        self._backend, self._prefix = self._open_root()
        self._uri_backends: dict[tuple[str, str], Backend] = {}
        self._temp_path: Path | None = None
        self._temp_finalizer: weakref.finalize | None = None
        # Not the store itself as the argument: logging takes a lone Mapping for named arguments and
        # tests its truth, and len() of a store lists it.
        logger.debug("opened %s", repr(self))

    def _open_root(self) -> tuple[Backend, str]:
        if self._scheme in _LOCAL_SCHEMES:
            root = parse_uri(self.uri)[2] if self._scheme == "file" and "://" in self.uri else self.uri
            return backend_for_local_dir(root, self.options), ""
        location = resolve_uri(self.uri, {self._scheme: self.options})
        key = location.key.strip("/")
        if key:
            key = check_relative_key(key)
        return location.backend, f"{key}/" if key else ""

    def __repr__(self) -> str:
        """``AutoStore('<uri>')``; options (and so secrets) are not shown."""
        return f"AutoStore({self.uri!r})"

    # --- schemes and backends -------------------------------------------------------------------

    @staticmethod
    def register_scheme(scheme: str, module: str) -> None:
        """Make ``scheme://bucket/key`` URIs use the backend module ``module`` (e.g. ``"autostore.s3"``).

        The module is imported now and must define ``OPTIONS_CLASS``; the registration is process-wide.
        """
        _register_options_scheme(scheme, module)

    @staticmethod
    def get_supported_backends() -> list[str]:
        """Every scheme a URI may use (built-in and registered), then ``""`` for plain local paths."""
        return [*registered_schemes(), ""]

    def list_active_backends(self) -> list[str]:
        """``"primary: <root>"`` and ``"<scheme>: <scheme>://<bucket>/"`` for each bucket used by URI keys."""
        active = [f"primary: {self.uri}"]
        active.extend(f"{scheme}: {scheme}://{bucket}/" for scheme, bucket in list(self._uri_backends))
        return active

    @property
    def primary_backend(self) -> BackendView:
        """The root's backend, answering ``is_dataset(prefix)`` and ``is_directory(prefix)``."""
        return BackendView(self._backend, self._prefix)

    def options_for_scheme(self, scheme: str) -> Options:
        """The options URIs of ``scheme`` are opened with by this store.

        Those given for the scheme, else the defaults of its options class with this store's shared
        settings. An unregistered scheme raises :class:`~autostore.exceptions.InvalidConfigError`.
        """
        scheme = scheme.lower()
        if scheme in _LOCAL_SCHEMES:
            scheme = "file"
        found = self._options_by_scheme.get(scheme) or self._inherited_options.get(scheme)
        if found is not None:
            return found
        options_cls = options_class_for_scheme(scheme)
        shared = {name: getattr(self.options, name) for name in _SHARED_FIELDS}
        inherited = options_cls(scheme=scheme, **shared)
        return self._inherited_options.setdefault(scheme, inherited)

    def locate(self, key: str) -> Location:
        """The backend and backend key serving ``key``: a key relative to the root, or a URI.

        Relative keys are refused (:class:`~autostore.exceptions.InvalidKeyError`, a ``ValueError``)
        when empty, absolute, or containing ``..``. A trailing ``/`` is kept: it marks a prefix.
        """
        if not isinstance(key, str):
            raise TypeError(f"AutoStore keys are str, got {type(key).__name__}: {key!r}")
        scheme, rest = split_scheme(key)
        if not scheme:
            return Location(self._backend, self._prefix + check_relative_key(key))
        if scheme == "file":
            return resolve_uri(key)
        scheme, bucket, object_key = parse_uri(key)
        if object_key:
            object_key = check_relative_key(object_key + ("/" if rest.endswith("/") else ""))
        backend = self._uri_backends.get((scheme, bucket))
        if backend is None:
            options = self.options_for_scheme(scheme)
            backend = resolve_uri(f"{scheme}://{bucket}", {scheme: options}).backend
            backend = self._uri_backends.setdefault((scheme, bucket), backend)
        return Location(backend, object_key)

    def register_handler(self, handler: DataHandler) -> None:
        """Add ``handler`` to this store's registry; it wins over built-ins of the same priority."""
        self.handler_registry.register(handler)

    # --- the mapping ----------------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        """The value at ``key``; see :meth:`read`."""
        return self.read(key)

    def __setitem__(self, key: str, value: Any) -> None:
        """Store ``value`` at ``key``; see :meth:`write`."""
        self.write(key, value)

    def read(self, key: str, *, format: str | None = None, ignore_cache: bool = False) -> Any:
        """The value at ``key``.

        A key with a registered extension names its object exactly. Without one, the single object
        ``key.<ext>`` is read (found with one LIST); if there is none and ``key`` is a prefix holding
        parquet or CSV files, they are read as one Polars LazyFrame. A key ending in ``/`` always
        names a dataset. ``format`` forces a handler (``"parquet"``) and makes ``key`` name the object
        exactly; ``ignore_cache`` downloads again even when a cached copy is fresh.

        Raises :class:`~autostore.exceptions.KeyNotFoundError` (a ``KeyError`` and a
        ``FileNotFoundError``) when nothing matches, and
        :class:`~autostore.exceptions.AmbiguousKeyError` listing the candidates when several do.
        """
        location = self.locate(key)
        backend, full = location.backend, location.key
        if format is not None:
            if not full or full.endswith("/"):
                raise InvalidKeyError(
                    f"key {key!r} names a dataset prefix; format= applies to single objects"
                )
            return self._load(backend, full, key, format, ignore_cache)
        resolved = self._resolve(backend, full, key)
        return self._read_resolved(backend, full, resolved, key, ignore_cache)

    def _load(self, backend: Backend, full: str, key: str, format: str | None, ignore_cache: bool) -> Any:
        try:
            return store_io.load(
                backend, full, self.handler_registry, format=format, ignore_cache=ignore_cache
            )
        except ObjectNotFoundError as exc:
            raise KeyNotFoundError(f"key {key!r} not found: no object {backend.uri(full)}") from exc

    def _read_dataset(self, backend: Backend, prefix: str, key: str, ignore_cache: bool) -> Any:
        try:
            return store_io.load_dataset(
                backend,
                prefix,
                self.handler_registry,
                ignore_cache=ignore_cache,
                download_dir=None if backend.is_local or backend.cache is not None else self.temp_dir,
            )
        except ObjectNotFoundError as exc:
            raise KeyNotFoundError(f"key {key!r} not found: {exc}") from exc

    def _ambiguous(self, key: str, backend: Backend, candidates: list[str]) -> AmbiguousKeyError:
        listed = ", ".join(backend.uri(candidate) for candidate in candidates)
        return AmbiguousKeyError(
            f"key {key!r} is ambiguous: {len(candidates)} objects match ({listed}); "
            "add the extension to the key to choose one"
        )

    def write(self, key: str, value: Any, *, format: str | None = None) -> str:
        """Store ``value`` at ``key`` atomically and return the key written, extension included.

        A key with a registered extension is written by that format's handler (``TypeError`` naming
        key, type and handler if it cannot store the value). Otherwise the handler is chosen by the
        value's type and its extension appended; then other representations of the key
        (``key.json`` when ``key.txt`` was just written) are removed, so the key keeps one value.
        ``format`` forces a handler. URI keys return the URI written.
        """
        location = self.locate(key)
        backend, full = location.backend, location.key
        self._check_writable(backend, full, key)
        written = store_io.save(backend, full, value, self.handler_registry, format=format)
        if written != full:
            store_io.remove_other_representations(backend, written, self.handler_registry)
        return self._display_key(key, location, written)

    def _check_writable(self, backend: Backend, full: str, key: str) -> None:
        if not full or full.endswith("/"):
            raise InvalidKeyError(
                f"cannot write to key {key!r}: {backend.uri(full) or key} names a directory, not an object"
            )

    def _display_key(self, key: str, location: Location, written: str) -> str:
        """``written`` in the style ``key`` was given in: relative to the root, or a URI."""
        if split_scheme(key)[0]:
            return location.backend.uri(written)
        return written[len(self._prefix) :]

    def __delitem__(self, key: str) -> None:
        """Delete the value at ``key``: its object, every representation, or a whole dataset prefix.

        Raises :class:`~autostore.exceptions.KeyNotFoundError` when there is nothing to delete.
        """
        location = self.locate(key)
        backend, full = location.backend, location.key
        if full and not full.endswith("/"):
            if self.handler_registry.split_extension(full)[1]:
                candidates = [full] if backend.store.exists(full) else []
            else:
                candidates = store_io.find_representations(backend, full, self.handler_registry)
            if candidates:
                store_io.delete_objects(backend, candidates)
                return
            if not store_io.is_dataset(backend, full):
                raise KeyNotFoundError(
                    f"key {key!r} not found: no {backend.uri(full)}.<extension> and no dataset under "
                    f"{backend.uri(full)}/"
                )
        directory = f"{full.rstrip('/')}/" if full.strip("/") else ""
        deleted = backend.store.delete_prefix(directory)
        backend.invalidate_prefix(directory)
        if not deleted:
            raise KeyNotFoundError(f"key {key!r} not found: nothing under {backend.uri(directory)}")

    def __contains__(self, key: object) -> bool:
        """Whether ``store[key]`` finds a value (an exact object, one or more representations, a dataset).

        Costs one HEAD for a key with an extension, one LIST otherwise, and one more LIST (for a
        dataset) when no object is found. Keys that are not ``str`` are never contained; malformed
        keys raise as they would for ``store[key]``.
        """
        if not isinstance(key, str):
            return False
        location = self.locate(key)
        backend, full = location.backend, location.key
        if not full or full.endswith("/"):
            return store_io.is_dataset(backend, full)
        if self.handler_registry.split_extension(full)[1]:
            found = backend.store.exists(full)
        else:
            found = bool(store_io.find_representations(backend, full, self.handler_registry))
        return found or store_io.is_dataset(backend, full)

    def __iter__(self) -> Iterator[str]:
        """Every key of the root: object keys without their registered extension, nested with ``/``.

        One recursive listing. Objects without a registered extension are not keys (no handler
        reads them); :meth:`list_files` shows every object.
        """
        seen: set[str] = set()
        start = len(self._prefix)
        for meta in self._backend.store.list(self._prefix):
            relative = meta.key[start:]
            if store_io.is_hidden(relative):
                continue
            stem, extension = self.handler_registry.split_extension(relative)
            if extension and stem not in seen:
                seen.add(stem)
                yield stem

    def __len__(self) -> int:
        """How many keys :meth:`__iter__` yields (one listing)."""
        return sum(1 for _ in self)

    def keys(self) -> list[str]:  # type: ignore[override]
        """Every key of the root (see :meth:`__iter__`), listed once, in listing order."""
        return list(self)

    # --- batches --------------------------------------------------------------------------------

    def update(self, other: Mapping[str, Any] | Iterable[tuple[str, Any]] = (), /, **kwargs: Any) -> None:
        """Store many values, sent concurrently in one batch per backend.

        The result is that of :meth:`write` called for each item in order (extensions, replacement
        of other representations, a later item winning over an earlier one). Values for remote
        stores are encoded in memory before the batch is sent (cached stores also keep a copy), so
        this is meant for many small values; local files are written one by one.
        """
        items = list(other.items() if isinstance(other, Mapping) else other)
        items.extend(kwargs.items())
        by_backend: dict[int, tuple[Backend, list[tuple[int, str, Any]]]] = {}
        for position, (key, value) in enumerate(items):
            location = self.locate(key)
            self._check_writable(location.backend, location.key, key)
            entries = by_backend.setdefault(id(location.backend), (location.backend, []))[1]
            entries.append((position, location.key, value))
        written_at: dict[tuple[int, str], int] = {}
        replacing: dict[tuple[int, str], tuple[Backend, str, int]] = {}
        for backend_id, (backend, entries) in by_backend.items():
            batch = [(full, value) for _, full, value in entries]
            written_keys = store_io.save_many(backend, batch, self.handler_registry)
            for (position, full, _), written in zip(entries, written_keys, strict=True):
                written_at[(backend_id, written)] = position
                if written != full:
                    replacing[(backend_id, full)] = (backend, written, position)
        found = self._representations([(backend, full) for (_, full), (backend, _, _) in replacing.items()])
        for (backend_id, full), (backend, written, position) in replacing.items():
            # What a later item of the batch wrote survives, as it would with writes one by one.
            stale = [
                candidate
                for candidate in found[(backend_id, full)]
                if candidate != written and written_at.get((backend_id, candidate), -1) < position
            ]
            store_io.delete_objects(backend, stale)

    def _representations(self, wanted: list[tuple[Backend, str]]) -> dict[tuple[int, str], list[str]]:
        """The representations of each extension-less backend key of ``wanted``.

        One LIST per directory holding several of the keys, else one LIST narrowed to the key.
        """
        by_directory: dict[tuple[int, str], list[tuple[Backend, str]]] = defaultdict(list)
        for backend, full in wanted:
            by_directory[(id(backend), full.rpartition("/")[0])].append((backend, full))
        found: dict[tuple[int, str], list[str]] = {}
        for (backend_id, directory), group in by_directory.items():
            backend = group[0][0]
            if len(group) > 1:
                listing = store_io.representations_by_key(backend, directory, self.handler_registry)
                found.update(((backend_id, full), listing.get(full, [])) for _, full in group)
            else:
                full = group[0][1]
                found[(backend_id, full)] = store_io.find_representations(
                    backend, full, self.handler_registry
                )
        return found

    def get_many(self, keys: Iterable[str], *, ignore_cache: bool = False) -> list[Any]:
        """The values at ``keys``, in order, fetched concurrently in one batch per backend.

        Keys resolve as in :meth:`read`, with one LIST per directory for the extension-less keys of
        that directory. Uncached remote objects come in one concurrent ``get_many`` and are decoded
        in memory (meant for many small values); cached ones are fetched through the cache in
        parallel (a fresh entry costs no request). A missing key raises
        :class:`~autostore.exceptions.KeyNotFoundError` naming it.
        """
        requested = list(keys)
        locations = [self.locate(key) for key in requested]
        found = self._representations(
            [
                (location.backend, location.key)
                for location in locations
                if location.key
                and not location.key.endswith("/")
                and not self.handler_registry.split_extension(location.key)[1]
            ]
        )
        results: list[Any] = [None] * len(requested)
        batches: dict[int, tuple[Backend, list[tuple[int, str, str]]]] = {}
        for index, (key, location) in enumerate(zip(requested, locations, strict=True)):
            backend, full = location.backend, location.key
            resolved = self._resolve(backend, full, key, found.get((id(backend), full)))
            if resolved is None:
                results[index] = self._read_dataset(backend, full, key, ignore_cache)
            else:
                batches.setdefault(id(backend), (backend, []))[1].append((index, key, resolved))
        for backend, entries in batches.values():
            resolved_keys = [resolved for _, _, resolved in entries]
            values = store_io.load_many(
                backend, resolved_keys, self.handler_registry, ignore_cache=ignore_cache
            )
            for (index, key, resolved), value in zip(entries, values, strict=True):
                missing = isinstance(value, ObjectNotFoundError)
                results[index] = (
                    self._dataset_instead(backend, resolved, key, ignore_cache) if missing else value
                )
        return results

    def _read_resolved(
        self, backend: Backend, full: str, resolved: str | None, key: str, ignore_cache: bool
    ) -> Any:
        if resolved is None:
            return self._read_dataset(backend, full, key, ignore_cache)
        try:
            return self._load(backend, resolved, key, None, ignore_cache)
        except KeyNotFoundError:
            return self._dataset_instead(backend, resolved, key, ignore_cache)

    def _dataset_instead(self, backend: Backend, full: str, key: str, ignore_cache: bool) -> Any:
        """The dataset under ``full/`` when there is no object ``full``, else KeyNotFoundError.

        Spark and Polars write partitioned tables as directories named like files (``sales.parquet/``).
        """
        if store_io.is_dataset(backend, full):
            return self._read_dataset(backend, full, key, ignore_cache)
        raise KeyNotFoundError(
            f"key {key!r} not found: no object {backend.uri(full)} and no dataset under it"
        )

    def _resolve(
        self, backend: Backend, full: str, key: str, candidates: list[str] | None = None
    ) -> str | None:
        """The object key that ``key`` names, or ``None`` when it names a dataset prefix.

        A trailing ``/`` always means a prefix; a registered extension names the object exactly;
        otherwise one LIST finds ``key.<ext>`` (unless ``candidates`` holds that listing already),
        and failing that, the prefix is checked for a dataset.
        """
        if not full or full.endswith("/"):
            return None
        if self.handler_registry.split_extension(full)[1]:
            return full
        if candidates is None:
            candidates = store_io.find_representations(backend, full, self.handler_registry)
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            raise self._ambiguous(key, backend, candidates)
        if store_io.is_dataset(backend, full):
            return None
        raise KeyNotFoundError(
            f"key {key!r} not found: no {backend.uri(full)}.<extension> and no dataset under "
            f"{backend.uri(full)}/"
        )

    def _resolve_object(self, backend: Backend, full: str, key: str) -> str:
        """Like :meth:`_resolve`, for operations on one object: a dataset prefix is refused."""
        resolved = self._resolve(backend, full, key)
        if resolved is None:
            raise InvalidKeyError(
                f"key {key!r} names a directory or dataset ({backend.uri(full)}), not a single object"
            )
        return resolved

    # --- files ----------------------------------------------------------------------------------

    def list_files(self, pattern: str = "*", recursive: bool = True) -> Iterator[str]:
        """Keys of the objects matching the glob ``pattern``, extensions included.

        ``*``, ``?`` and ``[...]`` match inside one path segment and ``**`` across segments; the
        listing is narrowed to the pattern's literal prefix and matched in the core. With
        ``recursive`` (the default) the last segment also matches in every subdirectory:
        ``"weather/*"`` covers ``weather/2024/jan.parquet``. A URI pattern (``s3://b/x/*.json``)
        lists that bucket and yields URIs.
        """
        if not isinstance(pattern, str) or not pattern:
            raise TypeError(f"list_files needs a non-empty str pattern, got {pattern!r}")
        if recursive and "**" not in pattern:
            directory, _, last = pattern.rpartition("/")
            pattern = f"{directory}/**/{last}" if directory else f"**/{last}"
        if split_scheme(pattern)[0]:
            scheme, bucket, within = parse_uri(pattern)
            backend = self.locate(f"{scheme}://{bucket}/").backend
            for meta in backend.store.glob(within):
                if not store_io.is_hidden(meta.key):
                    yield backend.uri(meta.key)
            return
        start = len(self._prefix)
        for meta in self._backend.store.glob(_glob_literal(self._prefix) + pattern.lstrip("/")):
            if not store_io.is_hidden(meta.key):
                yield meta.key[start:]

    def get_metadata(self, key: str) -> ObjectMetadata:
        """Size, modification time, ETag and content type of the object ``key`` resolves to."""
        location = self.locate(key)
        backend, full = location.backend, location.key
        resolved = self._resolve_object(backend, full, key)
        try:
            return store_io.metadata(backend, resolved)
        except ObjectNotFoundError as exc:
            raise KeyNotFoundError(f"key {key!r} not found: no object {backend.uri(resolved)}") from exc

    def copy(self, source: str, destination: str) -> str:
        """Copy the object ``source`` resolves to onto ``destination``; returns the key written.

        A destination without a registered extension takes the source's, and replaces the other
        representations of that key, as :meth:`write` does. Copies inside one backend run on the
        server; across backends the bytes stream through the core.
        """
        return self._transfer(source, destination, move=False)

    def move(self, source: str, destination: str) -> str:
        """Move the object ``source`` resolves to onto ``destination``; returns the key written."""
        return self._transfer(source, destination, move=True)

    def _transfer(self, source: str, destination: str, *, move: bool) -> str:
        src_location = self.locate(source)
        src_backend = src_location.backend
        src_key = self._resolve_object(src_backend, src_location.key, source)
        dst_location = self.locate(destination)
        dst_backend, dst_key = dst_location.backend, dst_location.key
        self._check_writable(dst_backend, dst_key, destination)
        extensionless = not self.handler_registry.split_extension(dst_key)[1]
        if extensionless:
            dst_key += self.handler_registry.split_extension(src_key)[1]
        if (src_backend, src_key) == (dst_backend, dst_key):
            return self._display_key(destination, dst_location, dst_key)
        try:
            if src_backend is dst_backend:
                if move:
                    src_backend.store.rename(src_key, dst_key)
                else:
                    src_backend.store.copy(src_key, dst_key)
            else:
                _core.copy_between(src_backend.store, src_key, dst_backend.store, dst_key)
                if move:
                    src_backend.store.delete(src_key)
        except ObjectNotFoundError as exc:
            raise KeyNotFoundError(f"key {source!r} not found: no object {src_backend.uri(src_key)}") from exc
        dst_backend.invalidate(dst_key)
        if move:
            src_backend.invalidate(src_key)
        if extensionless:
            store_io.remove_other_representations(dst_backend, dst_key, self.handler_registry)
        return self._display_key(destination, dst_location, dst_key)

    # --- cache and lifetime ---------------------------------------------------------------------

    def cleanup_cache(self) -> int:
        """Remove expired entries from the caches this store's backends use; returns how many."""
        removed = 0
        done: set[tuple[int, float]] = set()
        for backend in [self._backend, *list(self._uri_backends.values())]:
            if backend.cache is None:
                continue
            marker = (id(backend.cache), backend.expiry_seconds)
            if marker not in done:
                done.add(marker)
                removed += backend.cache.cleanup(backend.expiry_seconds)
        return removed

    @property
    def temp_dir(self) -> Path:
        """A directory for files that must live as long as this store (dataset downloads).

        Created on first use; removed by :meth:`close`, at the end of a ``with`` block, or when the
        store is garbage-collected.
        """
        if self._temp_path is None or not self._temp_path.is_dir():
            path = Path(tempfile.mkdtemp(prefix="autostore-store-"))
            self._temp_path = path
            self._temp_finalizer = weakref.finalize(self, shutil.rmtree, path, ignore_errors=True)
        return self._temp_path

    def close(self) -> None:
        """Remove the store's temporary files; LazyFrames of downloaded datasets stop working.

        The store stays usable. Calling it again does nothing.
        """
        if self._temp_finalizer is not None:
            self._temp_finalizer()
            self._temp_finalizer = None
            self._temp_path = None

    def __enter__(self) -> AutoStore:
        """The store itself."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """:meth:`close` the store."""
        self.close()


def _glob_literal(text: str) -> str:
    """``text`` as a glob pattern matching only itself: wildcards are bracketed (``[*]``, ``[[]``)."""
    return "".join(f"[{char}]" if char in "*?[" else char for char in text)


def _options_list(options: OptionsArgument) -> list[Options]:
    if options is None:
        return []
    if isinstance(options, Options):
        return [options]
    if isinstance(options, (str, bytes)) or not isinstance(options, Sequence):
        raise TypeError(
            f"AutoStore options must be an Options instance or a list of them, got {type(options).__name__}"
        )
    for item in options:
        if not isinstance(item, Options):
            raise TypeError(
                f"AutoStore options list holds a {type(item).__name__}, expected Options instances"
            )
    return list(options)


def _sort_options(options: list[Options], root_scheme: str) -> tuple[dict[str, Options], Options | None]:
    """Options by scheme, and those of the root (the ones without a scheme or with the root's)."""
    by_scheme: dict[str, Options] = {}
    for option in options:
        scheme = option.scheme or root_scheme
        if scheme in _LOCAL_SCHEMES:
            scheme = "file"
        if scheme in by_scheme:
            raise InvalidConfigError(
                f"AutoStore got two options objects for scheme {scheme!r}; give one per scheme"
            )
        by_scheme[scheme] = option
    return by_scheme, by_scheme.pop(root_scheme, None)


def _primary_options(given: Options | None, scheme: str, overrides: dict[str, Any]) -> Options:
    """The root's options: ``given`` (or the scheme's defaults) with ``overrides`` applied."""
    options_cls = options_class_for_scheme(scheme)
    if given is not None and type(given) is Options and options_cls is not Options:
        # Plain Options for an S3 root: keep its shared settings, gain the scheme's own fields.
        given = options_cls(**{name: getattr(given, name) for name in fields_for(Options)})
    target_cls = type(given) if given is not None else options_cls
    valid = fields_for(target_cls)
    unknown = sorted(name for name in overrides if name not in valid)
    if unknown:
        raise TypeError(
            f"AutoStore() got unexpected keyword argument(s) {', '.join(map(repr, unknown))} for "
            f"{target_cls.__name__}; valid: {', '.join(valid)}"
        )
    if given is None:
        return options_cls(**overrides)
    return given.merged(**overrides) if overrides else given
