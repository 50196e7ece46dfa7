"""Routing: which store of the Rust core serves a URI or a local path, under which options and cache.

A :class:`Backend` is one ``autostore._core.Store`` (a bucket, a local directory or a named memory
store) together with the :class:`~autostore.options.Options` it was built from and, when caching is
on, the shared :class:`~autostore._core.Cache`. Backends are shared process-wide: every AutoStore and
AutoPath that names the same bucket with the same options reuses one store and its connection pool.

Handlers work on local files, so a backend offers exactly two data paths:

* :meth:`Backend.local_copy` yields a complete local file holding an object (the file itself for local
  stores, the cache entry when caching, else a temporary download removed afterwards);
* :meth:`Backend.write_via_file` lets a handler write a temporary file that then replaces the object
  atomically (``os.replace`` locally; one PUT or a completed multipart upload remotely), so a failed
  write never leaves a partial value behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from autostore import _core
from autostore.exceptions import InvalidConfigError, InvalidKeyError, ObjectNotFoundError
from autostore.options import Options, options_class_for_scheme

__all__ = [
    "MAX_FILE_NAME_BYTES",
    "MAX_OBJECT_KEY_BYTES",
    "TEMP_PREFIX",
    "Backend",
    "Location",
    "backend_for_local_dir",
    "check_relative_key",
    "file_name_within_limit",
    "make_temp_file",
    "parse_uri",
    "resolve_uri",
    "split_scheme",
]

MAX_OBJECT_KEY_BYTES = 1024
"""S3 (and the services compatible with it) refuse object keys longer than this, in UTF-8 bytes."""
MAX_FILE_NAME_BYTES = 255
"""The longest file name (one path segment) common local file systems accept (ext4, APFS, XFS)."""

logger = logging.getLogger("autostore.backends")

_backends: dict[tuple[Any, ...], Backend] = {}
_caches: dict[tuple[str, int | None], Any] = {}
_lock = threading.Lock()
TEMP_PREFIX = ".autostore-"
"""Names of temporary files of writes in progress start with this; listings hide them."""
# mkstemp adds 8 random characters to the prefix, and a "-" separates them from the name.
_TEMP_NAME_OVERHEAD = len(TEMP_PREFIX) + 9
# A Windows drive: "C:" alone or followed by a separator ("C:x" is still a legal S3 key).
_DRIVE = re.compile(r"[A-Za-z]:(/|$)")
# Unicode category Cc, the characters the core refuses in keys too.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def split_scheme(uri: str) -> tuple[str, str]:
    """``("s3", "bucket/key")`` for ``"s3://bucket/key"``; ``("", uri)`` for a local path."""
    head, sep, rest = uri.partition("://")
    # A Windows drive ("C:\\x") or a plain path has no "://"; a one-letter scheme is a drive letter.
    if not sep or len(head) < 2 or not head.replace("+", "").replace("-", "").replace(".", "").isalnum():
        return "", uri
    return head.lower(), rest


@dataclass(frozen=True)
class Location:
    """A URI resolved to the backend that serves it and the key inside that backend."""

    backend: Backend
    key: str

    def __post_init__(self) -> None:
        """Refuse keys the backend cannot store or that leave a local root through a symbolic link."""
        self.backend.confine(self.backend.check_key(self.key))

    @property
    def uri(self) -> str:
        """The full URI (or local path) of the location."""
        return self.backend.uri(self.key)


def parse_uri(uri: str) -> tuple[str, str, str]:
    """Split ``scheme://bucket/key`` into its three parts, refusing malformed ones with a clear error."""
    scheme, rest = split_scheme(uri)
    if not scheme:
        raise InvalidConfigError(f"{uri!r} is not a URI (expected scheme://bucket/key)")
    if scheme == "file":
        path = urlsplit(uri).path
        return scheme, "", path
    bucket, _, key = rest.partition("/")
    if not bucket and scheme != "memory":
        raise InvalidConfigError(f"{uri!r} names no bucket (expected {scheme}://bucket/key)")
    return scheme, bucket, key.strip("/")


def _options_for(scheme: str, options_by_scheme: dict[str, Options] | None) -> Options:
    """The options registered for ``scheme``, else the defaults of its options class."""
    if options_by_scheme and scheme in options_by_scheme:
        return options_by_scheme[scheme]
    return options_class_for_scheme(scheme)(scheme=scheme)


def resolve_uri(uri: str, options_by_scheme: dict[str, Options] | None = None) -> Location:
    """The backend and key of ``uri`` (``s3://b/k``, ``minio://b/k``, ``memory://name/k``, ``file:///p``)."""
    scheme, bucket, key = parse_uri(uri)
    if scheme == "file":
        path = Path(key)
        root = Path(path.anchor or "/")
        return Location(backend_for_local_dir(root), path.relative_to(path.anchor).as_posix())
    options = _options_for(scheme, options_by_scheme)
    return Location(_backend(scheme, bucket, options), key)


def backend_for_local_dir(root: str | os.PathLike[str], options: Options | None = None) -> Backend:
    """The backend of a local directory (which need not exist yet: it is created by the first write)."""
    root_path = Path(root).expanduser().absolute()
    url = root_path.as_uri()
    options = options if options is not None else Options()
    key = ("file", str(root_path), options)
    with _lock:
        backend = _backends.get(key)
        if backend is None:
            store = _core.Store(url, **Options.to_core_kwargs(options))
            backend = Backend(store, options, root_dir=root_path)
            _backends[key] = backend
        return backend


def _backend(scheme: str, bucket: str, options: Options) -> Backend:
    key = (scheme, bucket, options)
    with _lock:
        backend = _backends.get(key)
    if backend is not None:
        return backend
    # Credentials are resolved outside the lock: a profile may run a credential process.
    core_kwargs = options.to_core_kwargs()
    if scheme not in ("memory",):
        core_kwargs.setdefault("backend", "s3")
    store = _core.Store(f"{scheme}://{bucket}", **core_kwargs)
    cache = _cache_for(options) if options.cache_enabled and scheme != "memory" else None
    with _lock:
        return _backends.setdefault(key, Backend(store, options, cache=cache))


def _cache_for(options: Options) -> Any:
    """The process-wide cache for a cache directory (one index and one set of files per directory)."""
    root = os.fspath(options.cache_dir) if options.cache_dir is not None else ""
    key = (root, options.cache_max_bytes)
    with _lock:
        cache = _caches.get(key)
        if cache is None:
            cache = _core.Cache(root or None, max_bytes=options.cache_max_bytes)
            _caches[key] = cache
        return cache


class Backend:
    """One store of the Rust core with its options and, when caching is on, its cache."""

    def __init__(
        self, store: _core.Store, options: Options, *, cache: Any = None, root_dir: Path | None = None
    ) -> None:
        """Wrap ``store``; ``root_dir`` is set for local directories, whose files are used in place."""
        self.store = store
        self.options = options
        self.cache = cache
        self.root_dir = root_dir
        # A directory other than a filesystem root can be escaped through a symbolic link.
        self._confining = root_dir is not None and root_dir != Path(root_dir.anchor)

    def __repr__(self) -> str:
        """The store's URL, never its credentials."""
        return f"Backend({self.store.url!r})"

    @property
    def scheme(self) -> str:
        """``file``, ``memory``, ``s3`` or a registered S3-compatible scheme such as ``minio``."""
        return self.store.scheme

    @property
    def is_local(self) -> bool:
        """Whether objects are plain files under :attr:`root_dir`."""
        return self.root_dir is not None

    @property
    def expiry_seconds(self) -> float:
        """How long a cached entry is served without asking the server (0: forever)."""
        return self.options.cache_expiry_hours * 3600.0

    def uri(self, key: str) -> str:
        """``s3://bucket/key`` for remote stores, the file path for local ones."""
        if self.root_dir is not None:
            return str(self.root_dir / key) if key else str(self.root_dir)
        return f"{self.store.url.rstrip('/')}/{key}" if key else self.store.url

    def check_key(self, key: str) -> str:
        """``key`` if this backend can store it, else InvalidKeyError naming it.

        Object stores refuse keys longer than :data:`MAX_OBJECT_KEY_BYTES` (S3's limit, checked here
        so that the error is clear rather than a server's 400); a local directory refuses a path
        segment longer than :data:`MAX_FILE_NAME_BYTES`. Memory stores take any key.
        """
        if self.root_dir is not None:
            for segment in key.split("/"):
                size = len(segment.encode("utf-8", "surrogatepass"))
                if size > MAX_FILE_NAME_BYTES:
                    raise InvalidKeyError(
                        f"invalid key {key!r}: the name {_shortened(segment)!r} is {size} bytes long, "
                        f"and local file systems allow at most {MAX_FILE_NAME_BYTES} bytes per name"
                    )
        elif self.scheme != "memory":
            size = len(key.encode("utf-8", "surrogatepass"))
            if size > MAX_OBJECT_KEY_BYTES:
                raise InvalidKeyError(
                    f"invalid key {self.uri(key)!r}: it is {size} bytes long in UTF-8, and object stores "
                    f"allow at most {MAX_OBJECT_KEY_BYTES}"
                )
        return key

    def confine(self, key: str) -> str:
        """``key``, after checking that it does not lead out of the root through a symbolic link.

        Only local directories below a filesystem root have anything to check. Each existing
        segment of the key is ``lstat``-ed (a top-level key costs one call). A symbolic link that
        resolves inside the root (itself resolved) is fine; one that leads outside raises
        :class:`~autostore.exceptions.InvalidKeyError` naming the key and the link, because reads,
        writes, listings and deletes under it would reach files outside the root. A link that is
        the key's last segment and points to a file is allowed: reading follows it as ``open()``
        would, and a write replaces the link itself, never its target. The check sees the file
        system as it is when called; it does not guard against links created concurrently.
        """
        if not self._confining or not key:
            return key
        assert self.root_dir is not None
        segments = [segment for segment in key.split("/") if segment]
        path = os.fspath(self.root_dir)
        for position, segment in enumerate(segments, start=1):
            path = os.path.join(path, segment)
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                return key  # nothing exists below a missing segment, so no link either
            if stat.S_ISLNK(mode):
                self._check_link(key, path, names_file=position == len(segments) and not key.endswith("/"))
        return key

    def _check_link(self, key: str, link: str, *, names_file: bool) -> None:
        root = os.path.realpath(self.root_dir)  # type: ignore[arg-type]
        target = os.path.realpath(link)
        if os.path.commonpath([root, target]) == root or (names_file and not os.path.isdir(target)):
            return
        raise InvalidKeyError(
            f"invalid key {key!r}: {link} is a symbolic link to {target}, outside the store's root {root}"
        )

    def local_path(self, key: str) -> Path:
        """The file behind ``key`` in a local store."""
        if self.root_dir is None:
            raise TypeError(f"{self.uri(key)} is not a local file")
        return self.root_dir.joinpath(*PurePosixPath(key).parts)

    @contextlib.contextmanager
    def local_copy(
        self,
        key: str,
        *,
        ignore_cache: bool = False,
        progress: Callable[[int, int | None], object] | None = None,
    ) -> Iterator[Path]:
        """A complete local file with the object's bytes, valid inside the ``with`` block."""
        if self.root_dir is not None:
            path = self.local_path(key)
            if not path.is_file():
                raise ObjectNotFoundError(f"{path}: no such file")
            yield path
            return
        if self.cache is not None:
            cached = self.cache.fetch(
                self.store, key, expiry_seconds=self.expiry_seconds, refresh=ignore_cache, progress=progress
            )
            yield Path(cached.path)
            return
        with tempfile.TemporaryDirectory(prefix="autostore-") as tmp:
            target = Path(tmp) / file_name_within_limit(PurePosixPath(key).name or "object")
            self.store.download_file(key, target, progress=progress)
            yield target

    def write_via_file(
        self,
        key: str,
        write: Callable[[Path], None],
        *,
        progress: Callable[[int, int | None], object] | None = None,
    ) -> None:
        """Let ``write`` fill a temporary file, then make it the object at ``key`` in one step.

        The temporary file keeps the key's name and extensions (libraries such as NumPy and Pillow
        choose the format from them). If ``write`` raises, the object keeps its previous value.
        """
        # The key may have gained an extension since it was located: check it again.
        name = PurePosixPath(self.check_key(key)).name
        if self.root_dir is not None:
            destination = self.local_path(key)
            destination.parent.mkdir(parents=True, exist_ok=True)
            with _temp_file_in(destination.parent, name) as temp:
                write(temp)
                os.replace(temp, destination)
            return
        with tempfile.TemporaryDirectory(prefix="autostore-") as tmp:
            temp = Path(tmp) / file_name_within_limit(name)
            write(temp)
            if self.cache is not None:
                self.cache.invalidate(self.store, key)
            written = self.store.upload_file(temp, key, progress=progress)
            if self.cache is not None:
                # Write-through: the file just uploaded becomes the cache entry (renamed, not copied,
                # when the cache is on the same filesystem), so reading it back downloads nothing.
                self.cache.insert(self.store, key, temp, etag=written.etag, move=True)

    def invalidate(self, key: str) -> None:
        """Forget the cached copy of ``key`` (after a delete or an out-of-band change)."""
        if self.cache is not None:
            self.cache.invalidate(self.store, key)

    def invalidate_prefix(self, prefix: str) -> None:
        """Forget every cached object under ``prefix``."""
        if self.cache is not None:
            self.cache.invalidate_prefix(self.store, prefix)


@contextlib.contextmanager
def _temp_file_in(directory: Path, name: str) -> Iterator[Path]:
    """A not-yet-existing path in ``directory`` ending in ``name``; removed if still there afterwards."""
    path = make_temp_file(directory, name)
    path.unlink()
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def make_temp_file(directory: Path, name: str) -> Path:
    """A new empty file in ``directory`` named ``.autostore-<random>-<name>``, hidden from listings.

    A name too long to take the temporary prefix keeps its end (where the extensions are).
    """
    suffix = f"-{file_name_within_limit(name, reserved=_TEMP_NAME_OVERHEAD)}"
    fd, raw = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=suffix, dir=directory)
    os.close(fd)
    return Path(raw)


def file_name_within_limit(name: str, reserved: int = 0) -> str:
    """``name``, or its end, short enough that ``reserved`` more bytes still fit in one file name.

    Temporary files are named after the object they hold because libraries choose the format from
    the extension (NumPy, Pillow); the end of a long name is kept, since that is where it is.
    """
    budget = MAX_FILE_NAME_BYTES - reserved
    encoded = name.encode("utf-8", "surrogatepass")
    if len(encoded) <= budget:
        return name
    # A cut through a multi-byte character leaves continuation bytes, which are dropped.
    return encoded[len(encoded) - budget :].decode("utf-8", "ignore")


def _shortened(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else f"{text[: limit // 2]}...{text[-limit // 2 :]}"


def check_relative_key(key: str) -> str:
    """Normalize a mapping key and refuse keys that would leave the store's root or cannot be stored.

    Normal form: ``\\`` is a separator (as on Windows, and as S3-compatible servers such as
    SeaweedFS treat it), empty and ``.`` segments are dropped, a trailing ``/`` (a prefix) is kept.
    Refused with :class:`~autostore.exceptions.InvalidKeyError` (a ``ValueError``) naming the key:
    empty keys, absolute paths (``/x``, ``C:/x``), ``..`` segments, control characters (NUL, newline,
    ...), text that is not valid Unicode (lone surrogates) and names starting with ``.autostore-``
    (reserved for temporary files, which listings hide). Everything else, including spaces,
    ``%``, ``+``, ``?``, ``#``, ``:`` and any Unicode, is kept exactly.
    """
    if not isinstance(key, str):
        raise TypeError(f"keys are str, got {type(key).__name__}: {key!r}")
    if not key or not key.strip("/\\"):
        raise InvalidKeyError(f"invalid key {key!r}: a key cannot be empty")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidKeyError(f"invalid key {key!r}: it is not valid Unicode text (lone surrogate)") from None
    if _CONTROL.search(key):
        raise InvalidKeyError(
            f"invalid key {key!r}: control characters (NUL, newline, tab, ...) are not allowed"
        )
    normalized = key.replace("\\", "/")
    if normalized.startswith("/") or _DRIVE.match(normalized):
        raise InvalidKeyError(f"invalid key {key!r}: absolute paths are not allowed; keys are relative")
    parts = [part for part in normalized.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise InvalidKeyError(f"invalid key {key!r}: '..' would leave the store's root")
    if any(part.startswith(TEMP_PREFIX) for part in parts):
        raise InvalidKeyError(
            f"invalid key {key!r}: names starting with {TEMP_PREFIX!r} are reserved for the temporary "
            "files of writes in progress"
        )
    return "/".join(parts) + ("/" if normalized.endswith("/") else "")
