"""Typed stubs of ``autostore._core``, the Rust transfer layer.

Every blocking call releases the GIL and runs on one process-wide tokio runtime. Keys are relative to
the store's root (the bucket for ``s3://bucket``, the directory for ``file:///root``), use ``/`` as the
separator and never start with ``/``. Errors are the classes of :mod:`autostore.exceptions`:
a missing object raises :class:`~autostore.exceptions.ObjectNotFoundError` (a ``FileNotFoundError``),
refused credentials :class:`~autostore.exceptions.AccessDeniedError` (a ``PermissionError``), a request
that makes no progress for ``timeout`` seconds on every retry
:class:`~autostore.exceptions.TransferTimeoutError` (a ``TimeoutError``), and every
message names the URI.
"""

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from os import PathLike
from typing import final

from typing_extensions import Buffer

ProgressCallback = Callable[[int, int | None], object]
"""Called as ``callback(bytes_done, bytes_total)`` from the calling thread, at most ~10 times a second."""

__version__: str

@final
class Bytes(Buffer):
    """Immutable bytes owned by Rust, exposed to Python without a copy through the buffer protocol."""

    def __len__(self) -> int: ...
    def __bytes__(self) -> bytes: ...
    def __eq__(self, other: object) -> bool: ...
    def __getitem__(self, index: int | slice) -> int | bytes: ...
    def __buffer__(self, flags: int) -> memoryview: ...
    def to_bytes(self) -> bytes: ...

@final
class ObjectMeta:
    """What a HEAD or LIST says of one object."""

    @property
    def key(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def last_modified(self) -> datetime: ...
    @property
    def etag(self) -> str | None: ...
    @property
    def version(self) -> str | None: ...

@final
class PutResult:
    """What the server answered to a completed write."""

    @property
    def etag(self) -> str | None: ...
    @property
    def version(self) -> str | None: ...

@final
class ListResult:
    """A one-level listing: the objects directly under a prefix and its sub-prefixes."""

    @property
    def objects(self) -> list[ObjectMeta]: ...
    @property
    def prefixes(self) -> list[str]: ...

@final
class Store:
    """One object store: ``file:///abs/dir``, ``memory://`` or ``s3://bucket``.

    S3-compatible services take ``endpoint``; plain ``http://`` endpoints are allowed only when the
    endpoint itself says ``http``. ``backend="s3"`` serves a custom scheme (``minio://bucket``) over
    the S3 protocol. ``profile`` is recorded in :attr:`identity` only; resolving a
    profile into keys is the caller's job. Secrets never appear in ``repr``, logs or errors.
    """

    def __init__(
        self,
        url: str,
        *,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        region: str | None = None,
        endpoint: str | None = None,
        profile: str | None = None,
        verify: bool = True,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        max_retries: int = 3,
        retry_delay: float = 1.0,
        multipart_threshold: int = 64 * 1024 * 1024,
        multipart_chunksize: int = 16 * 1024 * 1024,
        max_concurrency: int = 10,
        skip_signature: bool = False,
        backend: str | None = None,
        virtual_hosted_style: bool = False,
    ) -> None: ...
    @property
    def url(self) -> str:
        """The store's root as a URL, e.g. ``s3://bucket`` (no credentials)."""
    @property
    def scheme(self) -> str:
        """``file``, ``memory`` or ``s3``."""
    @property
    def identity(self) -> str:
        """Scheme, endpoint, bucket, region and profile — never secrets. Equal stores share it."""
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...
    def head(self, key: str) -> ObjectMeta: ...
    def exists(self, key: str) -> bool: ...
    def is_dir(self, prefix: str) -> bool:
        """True when at least one object lies under ``prefix/``."""
    def get(self, key: str) -> Bytes: ...
    def get_range(self, key: str, start: int, end: int) -> Bytes:
        """Bytes ``[start, end)`` of the object."""
    def put(self, key: str, data: Buffer, *, create_only: bool = False) -> PutResult:
        """Write ``data`` in one request; ``create_only`` raises FileExistsError if ``key`` exists."""
    def upload_file(
        self, path: str | PathLike[str], key: str, *, progress: ProgressCallback | None = None
    ) -> PutResult:
        """Upload a local file; multipart above ``multipart_threshold``, aborted on any failure."""
    def download_file(
        self, key: str, path: str | PathLike[str], *, progress: ProgressCallback | None = None
    ) -> ObjectMeta:
        """Download into ``path`` through a temp file renamed into place only when complete.

        Above ``multipart_threshold`` the object is fetched with concurrent ranged GETs pinned to
        its ETag. Returns the metadata of the version downloaded.
        """
    def copy(self, src: str, dst: str, *, overwrite: bool = True) -> None: ...
    def rename(self, src: str, dst: str, *, overwrite: bool = True) -> None: ...
    def delete(self, key: str) -> None:
        """Delete one object; deleting a missing object is not an error."""
    def delete_many(self, keys: Sequence[str]) -> list[Exception | None]:
        """Delete concurrently; one result per key, ``None`` for success."""
    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix/``; returns how many were deleted."""
    def list(self, prefix: str = "", *, recursive: bool = True) -> list[ObjectMeta]:
        """Every object under ``prefix`` (recursive listings fan out over sub-prefixes in parallel)."""
    def list_stream(self, prefix: str = "", *, chunk_size: int = 1000) -> Iterator[list[ObjectMeta]]:
        """The recursive listing of ``prefix`` in chunks, as the server returns its pages."""
    def list_dir(self, prefix: str = "") -> ListResult:
        """One level under ``prefix``: objects and sub-prefixes (no trailing slash)."""
    def glob(self, pattern: str) -> list[ObjectMeta]:
        """Objects matching a pathlib-style pattern (``*``, ``?``, ``[...]`` in a segment, ``**`` across).

        Lists only under the pattern's literal prefix; matching runs in Rust.
        """
    def find_by_stem(self, directory: str, stem: str) -> list[ObjectMeta]:
        """Objects directly in ``directory`` named ``stem`` or ``stem.<anything>``, in one LIST."""
    def get_many(self, keys: Sequence[str]) -> list[Bytes | Exception]:
        """Fetch concurrently; one result per key, in order."""
    def put_many(self, items: Sequence[tuple[str, Buffer]]) -> list[PutResult | Exception]:
        """Write concurrently; one result per item, in order."""

def copy_between(
    src: Store,
    src_key: str,
    dst: Store,
    dst_key: str,
    *,
    progress: ProgressCallback | None = None,
) -> PutResult:
    """Stream one object from ``src`` to ``dst`` (any two stores) without passing through Python."""

def copy_many(
    src: Store,
    dst: Store,
    pairs: Sequence[tuple[str, str]],
    *,
    progress: ProgressCallback | None = None,
) -> list[PutResult | Exception]:
    """Copy ``(src_key, dst_key)`` pairs concurrently, like :func:`copy_between` for each.

    One result per pair, in order. ``progress`` sees the bytes of all copies together; its total is
    ``None`` (the caller knows the batch's size from its listing).
    """

def glob_match(pattern: str, key: str) -> bool:
    """Whether ``key`` matches ``pattern`` under the same rules as :meth:`Store.glob`."""

def glob_prefix(pattern: str) -> str:
    """The literal directory prefix of ``pattern``: the part a listing can be narrowed to."""

# --- The on-disk cache -------------------------------------------------------------------------

@final
class CachedFile:
    """A complete local file holding an object, as :meth:`Cache.fetch` returns it (path-like)."""

    @property
    def path(self) -> str:
        """The local file: a cache entry, or the object's own file for a ``file://`` store."""
    @property
    def etag(self) -> str | None: ...
    @property
    def size(self) -> int: ...
    @property
    def hit(self) -> bool:
        """True when served without transferring the object's body (fresh entry, 304, local file)."""
    def __fspath__(self) -> str: ...

@final
class CacheEntry:
    """What the cache index records of one entry whose file is intact. Times are UTC."""

    @property
    def key(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def etag(self) -> str | None: ...
    @property
    def size(self) -> int: ...
    @property
    def last_modified(self) -> datetime | None:
        """The object's modification time on the server (None for write-through entries)."""
    @property
    def validated_at(self) -> datetime:
        """When the entry was last downloaded, written through or confirmed by a 304."""
    @property
    def last_access(self) -> datetime:
        """When the entry was last served; another process's fresh hits show within about a second."""

@final
class CacheStats:
    """Totals of a cache root; the counters persist in its index across processes and restarts.

    A fresh hit is counted in memory first, and written to the index by the process's next index
    change, within about a second, or when the cache is dropped or Python exits. So this process's
    hits are always included, another process's after that delay.
    """

    @property
    def entries(self) -> int: ...
    @property
    def bytes(self) -> int: ...
    @property
    def hits(self) -> int:
        """Fresh entries served with no request at all."""
    @property
    def misses(self) -> int:
        """Downloads (missing, changed, or refreshed entries)."""
    @property
    def revalidations(self) -> int:
        """Stale entries confirmed unchanged by a 304, with no body transferred."""

@final
class Cache:
    """An on-disk cache of objects with an ETag index, shared by threads and processes.

    Entries are namespaced by :attr:`Store.identity`, so two endpoints with the same bucket never
    collide, and named by a hash, so no key can write outside ``root``. Files appear only complete;
    the index (SQLite, WAL mode) survives crashes, and an entry whose file is missing or altered is
    never served. ``file://`` stores are not cached (their files are served in place); ``memory://``
    stores are cached in a namespace private to the process.
    """

    def __init__(self, root: str | PathLike[str] | None = None, *, max_bytes: int | None = None) -> None:
        """Open or create the cache at ``root``.

        Args:
            root: the cache directory; default: ``$XDG_CACHE_HOME/autostore`` (else
                ``~/.cache/autostore``), ``~/Library/Caches/autostore`` on macOS,
                ``%LOCALAPPDATA%\\autostore`` on Windows. Directories are created user-only (0o700).
            max_bytes: size cap; after each insert the least recently used entries are evicted
                until the cache fits (the entry just inserted is always kept). Uses by other
                processes count once they reach the index, about a second later. None: no cap.
        """
    @property
    def root(self) -> str: ...
    @property
    def max_bytes(self) -> int | None: ...
    def fetch(
        self,
        store: Store,
        key: str,
        *,
        expiry_seconds: float = 86400.0,
        refresh: bool = False,
        progress: ProgressCallback | None = None,
    ) -> CachedFile:
        """Return a complete local file holding ``key``, never a partial one.

        An entry validated within ``expiry_seconds`` (0: never expires) is served with no request at
        all; a stale one is revalidated with ``If-None-Match`` (304: kept, 200: replaced); a missing
        one, or any with ``refresh=True``, is downloaded. An object gone from the store drops its
        entry and raises :class:`~autostore.exceptions.ObjectNotFoundError`.
        """
    def insert(
        self,
        store: Store,
        key: str,
        path: str | PathLike[str],
        *,
        etag: str | None,
        move: bool = False,
    ) -> None:
        """Cache the local file ``path`` as ``key`` with ``etag`` (write-through after an upload).

        ``move=True`` hands the file over: renamed into the cache on the same filesystem, else copied
        and removed. For ``file://`` stores nothing is cached and ``path`` is left untouched.
        """
    def upload(
        self,
        store: Store,
        path: str | PathLike[str],
        key: str,
        *,
        progress: ProgressCallback | None = None,
    ) -> PutResult:
        """Upload ``path`` to ``key`` (as :meth:`Store.upload_file`) and cache a copy with its ETag."""
    def invalidate(self, store: Store, key: str) -> None:
        """Drop the entry of ``key``, if any."""
    def invalidate_prefix(self, store: Store, prefix: str) -> int:
        """Drop the entries of ``store`` whose key starts with ``prefix`` (a plain string prefix)."""
    def entry(self, store: Store, key: str) -> CacheEntry | None:
        """The entry of ``key`` if cached with an intact file; does not count as an access."""
    def cleanup(self, expiry_seconds: float) -> int:
        """Remove entries older than ``expiry_seconds`` (0: none expire), entries whose file is missing
        or altered, unindexed files, and temporaries a crashed process left over an hour ago.

        Returns how many entries and files were removed.
        """
    def clear(self) -> int:
        """Remove every entry and stray file; returns how many entries were removed.

        The hit/miss/revalidation counters are kept.
        """
    def stats(self) -> CacheStats: ...
