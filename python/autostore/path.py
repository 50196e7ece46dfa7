"""AutoPath: a ``pathlib``-like path over local files and object storage alike.

``AutoPath("s3://bucket/data/x.parquet")`` and ``AutoPath("./data/x.parquet")`` offer the same pure
operations (``/``, ``name``, ``parent``, ``with_suffix``, ...) with ``pathlib`` semantics, the same file
operations (``exists``, ``read_bytes``, ``iterdir``, ``glob``, ...) and the same errors
(``FileNotFoundError``, ``IsADirectoryError``, ...), plus transfers between any two backends and
``load``/``save`` through AutoStore's format handlers.

Object stores have no directories: a prefix with objects under it *is* a directory, ``mkdir`` creates
nothing there (it only checks), and ``rmdir`` of an empty prefix has nothing to remove. Local paths
use the file system directly, except that writes create missing parent directories, as writes to an
object store do. Every transfer runs in the Rust core; no file passes through Python bytes.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat as stat_module
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import IO, Any, TypeAlias
from urllib.parse import urlsplit
from urllib.request import url2pathname

from autostore import _core
from autostore import io as store_io
from autostore.backends import Backend, backend_for_local_dir, parse_uri, resolve_uri, split_scheme
from autostore.exceptions import (
    AccessDeniedError,
    AlreadyExistsError,
    AutoStoreError,
    DirectoryNotEmptyError,
    InvalidKeyError,
    ObjectNotFoundError,
    PathIsADirectoryError,
    PathNotADirectoryError,
)
from autostore.handlers.registry import HandlerRegistry, default_registry
from autostore.path_files import ReadFile, UploadFile, wrap_raw
from autostore.path_glob import GlobPattern, local_glob, remote_glob
from autostore.store import AutoStore

__all__ = ["AutoPath", "PathStat"]

ProgressCallback: TypeAlias = "Callable[[int, int | None], object]"
ProgressArgument: TypeAlias = "bool | ProgressCallback"
"""``False`` (no progress), ``True`` (a tqdm bar) or ``callback(bytes_done, bytes_total)``."""
PathArgument: TypeAlias = "str | os.PathLike[str] | AutoPath"

_LOCAL_ERRORS: dict[int, type[OSError]] = {
    errno.ENOENT: ObjectNotFoundError,
    errno.EACCES: AccessDeniedError,
    errno.EPERM: AccessDeniedError,
    errno.EEXIST: AlreadyExistsError,
    errno.EISDIR: PathIsADirectoryError,
    errno.ENOTDIR: PathNotADirectoryError,
    errno.ENOTEMPTY: DirectoryNotEmptyError,
}
_READ_MODES = {"r": False, "rt": False, "tr": False, "rb": True, "br": True}
_WRITE_MODES = {"w": False, "wt": False, "tw": False, "wb": True, "bw": True}
_default_registry: HandlerRegistry | None = None


@dataclass(frozen=True)
class PathStat:
    """What :meth:`AutoPath.stat` reports of a file or directory."""

    size: int
    """Size in bytes (0 for a directory of an object store)."""
    modified_time: datetime | None
    """Last modification, timezone-aware UTC; ``None`` for a directory of an object store."""
    etag: str | None
    """The entity tag of a file (as the store reports it); ``None`` for directories."""
    is_dir: bool
    """Whether the path is a directory (a prefix with objects under it, on an object store)."""

    @property
    def st_size(self) -> int:
        """:attr:`size`, under the name of ``os.stat_result``."""
        return self.size

    @property
    def mtime(self) -> float | None:
        """:attr:`modified_time` as seconds since the epoch (``None`` when unknown)."""
        return None if self.modified_time is None else self.modified_time.timestamp()


def _os_error(cls: type[OSError], code: int, where: str) -> OSError:
    """``cls`` with pathlib's message shape: ``[Errno 2] No such file or directory: 's3://b/k'``."""
    return cls(code, os.strerror(code), where)


@contextmanager
def _local_errors() -> Iterator[None]:
    """Re-raise the file system's errors as the AutoStore classes that are also those built-ins."""
    try:
        yield
    except AutoStoreError:
        raise
    except OSError as exc:
        cls = _LOCAL_ERRORS.get(exc.errno) if exc.errno is not None else None
        if cls is None:
            raise
        # Keeps errno, strerror and both file names: the message stays exactly pathlib's.
        raise cls(exc.errno, exc.strerror, exc.filename, None, exc.filename2) from exc


def _normalize_key(text: str) -> str:
    """A key as ``PurePosixPath`` normalizes a path: no empty or ``.`` segments (``..`` is kept)."""
    return "/".join(part for part in text.split("/") if part not in ("", "."))


def _registry_without_store() -> HandlerRegistry:
    """The handlers of paths created without a store: every built-in one, shared."""
    global _default_registry
    if _default_registry is None:
        _default_registry = default_registry()
    return _default_registry


@contextmanager
def _progress_callback(
    progress: ProgressArgument, description: str, total: int | None
) -> Iterator[ProgressCallback | None]:
    """The callback the core should call for ``progress`` (``None`` for none), closed afterwards.

    ``total`` is used when the core does not know it (a batch of copies reports ``None``).
    """
    if progress is False or progress is None:
        yield None
        return
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=description, unit="B", unit_scale=True, unit_divisor=1024, leave=False)

        def draw(done: int, reported_total: int | None) -> None:
            if reported_total is not None and bar.total != reported_total:
                bar.total = reported_total
            bar.update(done - bar.n)

        try:
            yield draw
        finally:
            bar.close()
        return
    if not callable(progress):
        raise TypeError(
            "progress must be True, False or a callable(bytes_done, bytes_total), "
            f"got {type(progress).__name__}"
        )
    user_callback = progress

    def forward(done: int, reported_total: int | None) -> None:
        user_callback(done, reported_total if reported_total is not None else total)

    yield forward


class AutoPath:
    """A path to a local file or directory, or to an object or prefix of an object store.

    ``AutoPath(*segments, store=None)`` joins ``segments`` (``str``, ``os.PathLike`` or ``AutoPath``)
    as ``pathlib`` does. A URI (``s3://bucket/key``, ``minio://bucket/key``, ``memory://name/key``)
    names an object store; anything else, and ``file://`` URIs, a local path. ``store`` supplies the
    options of each scheme (endpoint, credentials, cache) and the format handlers of :meth:`load` and
    :meth:`save`; without one, a URI uses its scheme's default or registered options and the built-in
    handlers. Nothing is contacted, and no directory created, until an operation needs it.

    ``str()`` is the full URI of a remote path and the path as given (normalized like ``pathlib``)
    of a local one. Two paths are equal when they name the same key of the same store: the same bucket
    on two endpoints gives two different paths.
    """

    __slots__ = ("_backend", "_bucket", "_key", "_local", "_scheme", "_store")

    _scheme: str
    _bucket: str
    _key: str
    _local: Path | None
    _store: AutoStore | None
    _backend: Backend | None

    def __init__(self, *segments: PathArgument, store: AutoStore | None = None) -> None:
        """Parse and join ``segments``; see the class docstring."""
        if store is not None and not isinstance(store, AutoStore):
            raise TypeError(f"store must be an AutoStore or None, got {type(store).__name__}")
        first, rest = (segments[0], segments[1:]) if segments else (".", ())
        if isinstance(first, AutoPath):
            self._assign(first, store if store is not None else first._store)
        else:
            self._store = store
            self._backend = None
            self._parse(first)
        if rest:
            self._assign(self.joinpath(*rest), self._store)

    def _assign(self, other: AutoPath, store: AutoStore | None) -> None:
        self._scheme, self._bucket, self._key, self._local = (
            other._scheme,
            other._bucket,
            other._key,
            other._local,
        )
        self._store = store
        # Another store may route the same bucket to other options: only the same store keeps the backend.
        self._backend = other._backend if store is other._store else None

    def _parse(self, segment: str | os.PathLike[str]) -> None:
        text = _as_text(segment)
        scheme, _ = split_scheme(text)
        if scheme == "file":
            self._set_local(Path(url2pathname(urlsplit(text).path)))
        elif scheme:
            scheme, bucket, key = parse_uri(text)
            self._scheme, self._bucket, self._key, self._local = scheme, bucket, _normalize_key(key), None
        else:
            self._set_local(Path(text))

    def _set_local(self, path: Path) -> None:
        self._scheme, self._bucket, self._key, self._local = "", "", "", path

    @classmethod
    def _remote(
        cls, scheme: str, bucket: str, key: str, store: AutoStore | None, backend: Backend | None
    ) -> AutoPath:
        path = object.__new__(cls)
        path._scheme, path._bucket, path._key, path._local = scheme, bucket, key, None
        path._store, path._backend = store, backend
        return path

    def _with_key(self, key: str) -> AutoPath:
        """The remote path ``key`` in this path's bucket, sharing its store and backend."""
        return AutoPath._remote(self._scheme, self._bucket, key, self._store, self._backend)

    def _child(self, relative: str) -> AutoPath:
        """The remote path ``relative`` below this one (this path itself for ``""``)."""
        if not relative:
            return self
        return self._with_key(f"{self._key}/{relative}" if self._key else relative)

    def _with_local(self, path: Path) -> AutoPath:
        result = object.__new__(AutoPath)
        result._set_local(path)
        result._store, result._backend = self._store, None
        return result

    # --- identity and representation ------------------------------------------------------------

    @property
    def store(self) -> AutoStore | None:
        """The store whose options and handlers this path uses, if one was given."""
        return self._store

    @property
    def scheme(self) -> str:
        """``s3``, ``minio``, ``memory``, ... for remote paths; ``""`` for local ones."""
        return self._scheme

    @property
    def bucket(self) -> str:
        """The bucket (or memory store name) of a remote path; ``""`` for local ones."""
        return self._bucket

    @property
    def is_local(self) -> bool:
        """Whether the path names a local file or directory."""
        return self._local is not None

    def __str__(self) -> str:
        """The full URI of a remote path; the local path as given, normalized like ``pathlib``."""
        if self._local is not None:
            return str(self._local)
        root = f"{self._scheme}://{self._bucket}"
        return f"{root}/{self._key}" if self._key else root

    def __repr__(self) -> str:
        """``AutoPath('s3://bucket/key')``."""
        return f"AutoPath({str(self)!r})"

    def __fspath__(self) -> str:
        """The local path, for ``open()`` and ``os`` functions; a remote path raises ``TypeError``."""
        if self._local is None:
            raise TypeError(
                f"{self} is not a local path: os.fspath() and open() need one; use AutoPath.open(), "
                "read_bytes() or download_to() for remote objects"
            )
        return str(self._local)

    def _identity(self) -> tuple[str, str]:
        if self._local is not None:
            return "file", str(self._local)
        return self._remote_backend().store.identity, self._key

    def __eq__(self, other: object) -> bool:
        """Same store (same endpoint, bucket and credentials profile) and same key or local path."""
        if not isinstance(other, AutoPath):
            return NotImplemented
        if self._local is not None or other._local is not None:
            return self._local == other._local
        if (self._scheme, self._bucket, self._key) != (other._scheme, other._bucket, other._key):
            return False
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        """Consistent with ``==``: hashes the store identity and the key."""
        return hash(self._identity())

    def _order(self, other: object) -> tuple[str, str]:
        if not isinstance(other, AutoPath):
            raise TypeError(f"cannot compare AutoPath with {type(other).__name__}")
        return str(self), str(other)

    def __lt__(self, other: AutoPath) -> bool:
        """Order by the string form, so ``sorted()`` works on paths."""
        mine, theirs = self._order(other)
        return mine < theirs

    def __le__(self, other: AutoPath) -> bool:
        """Order by the string form."""
        mine, theirs = self._order(other)
        return mine <= theirs

    def __gt__(self, other: AutoPath) -> bool:
        """Order by the string form."""
        mine, theirs = self._order(other)
        return mine > theirs

    def __ge__(self, other: AutoPath) -> bool:
        """Order by the string form."""
        mine, theirs = self._order(other)
        return mine >= theirs

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as the string form and the store (backends are rebuilt on the other side)."""
        return _unpickle, (str(self), self._store)

    # --- pure operations ------------------------------------------------------------------------

    @property
    def _pure(self) -> PurePosixPath:
        """The remote key as an absolute POSIX path: the bucket plays the file system root."""
        return PurePosixPath(f"/{self._key}")

    def joinpath(self, *others: PathArgument) -> AutoPath:
        """This path joined with ``others``; an absolute URI or path replaces what came before."""
        result = self
        for other in others:
            result = result._join(other)
        return result

    def _join(self, other: PathArgument) -> AutoPath:
        if isinstance(other, AutoPath):
            if other._local is None:
                return other
            text = str(other._local)
        else:
            text = _as_text(other)
        if split_scheme(text)[0]:
            return AutoPath(text, store=self._store)
        if self._local is not None:
            return self._with_local(self._local / text)
        base = "" if text.startswith("/") else f"{self._key}/"
        return self._with_key(_normalize_key(base + text))

    def __truediv__(self, other: PathArgument) -> AutoPath:
        """``path / "child"``: :meth:`joinpath` with one segment."""
        return self._join(other)

    def __rtruediv__(self, other: str | os.PathLike[str]) -> AutoPath:
        """``"parent" / path``."""
        return AutoPath(other, store=self._store)._join(self)

    @property
    def name(self) -> str:
        """The final segment (``""`` for a bucket root)."""
        return self._local.name if self._local is not None else self._pure.name

    @property
    def stem(self) -> str:
        """The final segment without its last suffix."""
        return self._local.stem if self._local is not None else self._pure.stem

    @property
    def suffix(self) -> str:
        """The last suffix of the final segment, dot included (``""`` if none)."""
        return self._local.suffix if self._local is not None else self._pure.suffix

    @property
    def suffixes(self) -> list[str]:
        """Every suffix of the final segment (``[".tar", ".gz"]``)."""
        return self._local.suffixes if self._local is not None else self._pure.suffixes

    @property
    def parts(self) -> tuple[str, ...]:
        """The segments; a remote path starts with its root (``"s3://bucket/"``)."""
        if self._local is not None:
            return self._local.parts
        root = f"{self._scheme}://{self._bucket}/"
        return (root, *self._key.split("/")) if self._key else (root,)

    @property
    def parent(self) -> AutoPath:
        """The directory holding this path; a bucket root is its own parent."""
        if self._local is not None:
            return self._with_local(self._local.parent)
        return self._with_key(self._key.rpartition("/")[0])

    @property
    def parents(self) -> tuple[AutoPath, ...]:
        """Every ancestor, nearest first, ending with the bucket root (or the local root or ``.``)."""
        if self._local is not None:
            return tuple(self._with_local(parent) for parent in self._local.parents)
        return tuple(self._with_key(str(parent)[1:]) for parent in self._pure.parents)

    def with_name(self, name: str) -> AutoPath:
        """This path with its final segment replaced by ``name``."""
        if self._local is not None:
            return self._with_local(self._local.with_name(name))
        self._require_name()
        return self._with_key(str(self._pure.with_name(name))[1:])

    def with_stem(self, stem: str) -> AutoPath:
        """This path with the stem of its final segment replaced (the suffix stays)."""
        if self._local is not None:
            return self._with_local(self._local.with_stem(stem))
        self._require_name()
        return self._with_key(str(self._pure.with_stem(stem))[1:])

    def with_suffix(self, suffix: str) -> AutoPath:
        """This path with its last suffix replaced by ``suffix`` (added if none; ``""`` removes it)."""
        if self._local is not None:
            return self._with_local(self._local.with_suffix(suffix))
        self._require_name()
        return self._with_key(str(self._pure.with_suffix(suffix))[1:])

    def _require_name(self) -> None:
        if not self._key:
            raise ValueError(f"{self} has an empty name")

    def _other(self, other: PathArgument) -> AutoPath:
        return other if isinstance(other, AutoPath) else AutoPath(other, store=self._store)

    def relative_to(self, other: PathArgument) -> AutoPath | PurePosixPath:
        """This path relative to ``other``.

        Local paths give a relative local AutoPath (as ``pathlib``); remote ones a ``PurePosixPath``
        such as ``run_1/results.json``, since a relative key belongs to no bucket. ``ValueError`` when
        ``other`` is not an ancestor, or is on another scheme or bucket (or is local and this is not).
        """
        base = self._other(other)
        if self._local is not None and base._local is not None:
            return self._with_local(self._local.relative_to(base._local))
        same_bucket = (self._scheme, self._bucket) == (base._scheme, base._bucket)
        if self._local is None and base._local is None and same_bucket:
            try:
                return self._pure.relative_to(base._pure)
            except ValueError:
                pass
        raise ValueError(f"{self} is not relative to {base}")

    def is_relative_to(self, other: PathArgument) -> bool:
        """Whether :meth:`relative_to` would succeed."""
        try:
            self.relative_to(other)
        except ValueError:
            return False
        return True

    def match(self, pattern: str) -> bool:
        """``pathlib``'s ``match``: a relative pattern matches from the right, a URI the whole path."""
        if self._local is not None:
            return self._local.match(pattern)
        scheme, _ = split_scheme(pattern)
        if not scheme:
            return self._pure.match(pattern)
        pattern_scheme, pattern_bucket, pattern_key = parse_uri(pattern)
        if (pattern_scheme, pattern_bucket) != (self._scheme, self._bucket):
            return False
        return self._pure.match(f"/{pattern_key}")

    def as_posix(self) -> str:
        """The string form with forward slashes (the URI itself for remote paths)."""
        return self._local.as_posix() if self._local is not None else str(self)

    def as_uri(self) -> str:
        """``s3://bucket/key`` for remote paths; an absolute ``file://`` URI for local ones."""
        return self._local.absolute().as_uri() if self._local is not None else str(self)

    def is_absolute(self) -> bool:
        """True for every URI; for local paths, as ``pathlib`` says."""
        return self._local.is_absolute() if self._local is not None else True

    def absolute(self) -> AutoPath:
        """A local path made absolute against the working directory; remote paths are already."""
        return self._with_local(self._local.absolute()) if self._local is not None else self

    def resolve(self) -> AutoPath:
        """A local path made absolute with symlinks resolved; remote paths are returned as they are."""
        if self._local is None:
            return self
        with _local_errors():
            return self._with_local(self._local.resolve())

    def expanduser(self) -> AutoPath:
        """A local path with ``~`` expanded; remote paths are returned as they are."""
        return self._with_local(self._local.expanduser()) if self._local is not None else self

    # --- where the bytes are --------------------------------------------------------------------

    def _remote_backend(self) -> Backend:
        if self._backend is None:
            root = f"{self._scheme}://{self._bucket}"
            self._backend = (
                self._store.locate(root).backend if self._store is not None else resolve_uri(root).backend
            )
        return self._backend

    def _remote_key(self) -> str:
        if ".." in self._key.split("/"):
            raise InvalidKeyError(f"{self}: object keys cannot contain '..' segments")
        return self._key

    def _location(self) -> tuple[Backend, str]:
        """The backend serving this path and the key inside it."""
        if self._local is None:
            backend = self._remote_backend()
            return backend, backend.check_key(self._remote_key())
        absolute = Path(os.path.abspath(self._local))
        anchor = absolute.anchor
        options = self._store.options_for_scheme("file") if self._store is not None else None
        return backend_for_local_dir(anchor, options), absolute.relative_to(anchor).as_posix()

    def _registry(self) -> HandlerRegistry:
        return self._store.handler_registry if self._store is not None else _registry_without_store()

    # --- queries --------------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether a file or a directory (a prefix with objects, or a bucket that exists) is here."""
        if self._local is not None:
            return self._local.exists()
        backend, key = self._location()
        if not key:
            return self._bucket_exists(backend)
        return backend.store.exists(key) or backend.store.is_dir(key)

    @staticmethod
    def _bucket_exists(backend: Backend) -> bool:
        try:
            next(iter(backend.store.list_stream("", chunk_size=1)), None)
        except ObjectNotFoundError:
            return False
        return True

    def is_file(self) -> bool:
        """Whether a file (an object) is here."""
        if self._local is not None:
            return self._local.is_file()
        backend, key = self._location()
        return bool(key) and backend.store.exists(key)

    def is_dir(self) -> bool:
        """Whether a directory is here: locally a real one; remotely a prefix with objects under it."""
        if self._local is not None:
            return self._local.is_dir()
        backend, key = self._location()
        if not key:
            return self._bucket_exists(backend)
        return backend.store.is_dir(key)

    def stat(self) -> PathStat:
        """Size, modification time and ETag of a file; directories report ``is_dir=True``."""
        backend, key = self._location()
        if self._local is not None:
            with _local_errors():
                result = self._local.stat()
            if stat_module.S_ISDIR(result.st_mode):
                modified = datetime.fromtimestamp(result.st_mtime, tz=timezone.utc)
                return PathStat(size=result.st_size, modified_time=modified, etag=None, is_dir=True)
            # The core's metadata carries the same ETag a listing of this file reports.
            meta = backend.store.head(key)
        else:
            found = None
            if key:
                with suppress(ObjectNotFoundError):
                    found = backend.store.head(key)
            if found is None:
                if self.is_dir():
                    return PathStat(size=0, modified_time=None, etag=None, is_dir=True)
                raise _os_error(ObjectNotFoundError, errno.ENOENT, str(self))
            meta = found
        return PathStat(size=meta.size, modified_time=meta.last_modified, etag=meta.etag, is_dir=False)

    # --- reading and writing whole files --------------------------------------------------------

    def read_bytes(self) -> bytes:
        """The file's content. ``IsADirectoryError`` for a directory, ``FileNotFoundError`` if absent."""
        if self._local is not None:
            with _local_errors():
                return self._local.read_bytes()
        backend, key = self._location()
        self._refuse_root(key)
        try:
            if backend.cache is not None:
                with backend.local_copy(key) as path:
                    return path.read_bytes()
            return backend.store.get(key).to_bytes()
        except ObjectNotFoundError:
            self._raise_if_directory(backend, key)
            raise

    def read_text(self, encoding: str | None = None, errors: str | None = None) -> str:
        """The file's content decoded (UTF-8 for remote files unless ``encoding`` says otherwise).

        Line endings are translated to ``\\n`` as ``pathlib`` does.
        """
        if self._local is not None:
            with _local_errors():
                return self._local.read_text(encoding=encoding, errors=errors)
        text = self.read_bytes().decode(encoding or "utf-8", errors or "strict")
        return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text

    def write_bytes(self, data: bytes | bytearray | memoryview) -> int:
        """Replace the file's content with ``data``; returns the number of bytes written."""
        view = memoryview(data)
        if self._local is not None:
            self._make_local_parent()
            with _local_errors():
                return self._local.write_bytes(view)
        backend, key = self._location()
        self._refuse_root(key)
        if backend.cache is None:
            backend.store.put(key, view)
        else:
            # Through a file, so the cache keeps what was written and the next read downloads nothing.
            backend.write_via_file(key, lambda path: path.write_bytes(view))
        return view.nbytes

    def write_text(
        self, data: str, encoding: str | None = None, errors: str | None = None, newline: str | None = None
    ) -> int:
        """Replace the file's content with ``data`` encoded (UTF-8 for remote files by default).

        Returns the number of characters written. Remote files keep ``\\n`` unless ``newline`` asks
        for another line ending.
        """
        if not isinstance(data, str):
            raise TypeError(f"data must be str, not {type(data).__name__}")
        if self._local is not None:
            self._make_local_parent()
            with _local_errors():
                return self._local.write_text(data, encoding=encoding, errors=errors, newline=newline)
        text = data.replace("\n", newline) if newline else data
        self.write_bytes(text.encode(encoding or "utf-8", errors or "strict"))
        return len(data)

    def open(
        self,
        mode: str = "r",
        buffering: int = -1,
        encoding: str | None = None,
        errors: str | None = None,
        newline: str | None = None,
    ) -> IO[Any]:
        """Open the file like ``pathlib.Path.open``.

        Local files support every mode of ``open()``. Remote objects support ``r``/``rb`` (a complete
        local copy is read and kept until the file is closed) and ``w``/``wb`` (written to a temporary
        file, uploaded in one step when the file is closed; if the ``with`` block raises, nothing is
        uploaded and the object keeps its previous content).
        """
        if self._local is not None:
            if any(flag in mode for flag in "wax+"):
                self._make_local_parent()
            with _local_errors():
                return self._local.open(mode, buffering, encoding, errors, newline)
        if mode in _READ_MODES:
            binary = _READ_MODES[mode]
            reading = True
        elif mode in _WRITE_MODES:
            binary = _WRITE_MODES[mode]
            reading = False
        else:
            raise ValueError(f"mode {mode!r} is not supported for {self}: use 'r', 'rb', 'w' or 'wb'")
        if binary and (encoding is not None or errors is not None or newline is not None):
            raise ValueError("binary mode doesn't take an encoding, errors or newline argument")
        if buffering == 0 and not binary:
            raise ValueError("can't have unbuffered text I/O")
        backend, key = self._location()
        self._refuse_root(key)
        raw = self._open_remote_read(backend, key) if reading else self._open_remote_write(backend, key)
        return wrap_raw(
            raw, binary=binary, buffering=buffering, encoding=encoding, errors=errors, newline=newline
        )

    def _open_remote_read(self, backend: Backend, key: str) -> ReadFile:
        stack = ExitStack()
        try:
            try:
                path = stack.enter_context(backend.local_copy(key))
            except ObjectNotFoundError:
                self._raise_if_directory(backend, key)
                raise
            return ReadFile(path, stack.close)
        except BaseException:
            stack.close()
            raise

    def _open_remote_write(self, backend: Backend, key: str) -> UploadFile:
        scratch = Path(tempfile.mkdtemp(prefix="autostore-"))
        temp = scratch / (PurePosixPath(key).name or "object")

        def commit() -> None:
            backend.write_via_file(key, lambda target: shutil.move(temp, target))

        try:
            return UploadFile(temp, commit, lambda: shutil.rmtree(scratch, ignore_errors=True))
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise

    def _refuse_root(self, key: str) -> None:
        if not key:
            raise _os_error(PathIsADirectoryError, errno.EISDIR, str(self))

    def _raise_if_directory(self, backend: Backend, key: str) -> None:
        """Called when no object is at ``key``: a prefix with objects is a directory, not a file."""
        if backend.store.is_dir(key):
            raise _os_error(PathIsADirectoryError, errno.EISDIR, str(self)) from None

    def _make_local_parent(self) -> None:
        assert self._local is not None
        with _local_errors():
            self._local.parent.mkdir(parents=True, exist_ok=True)

    # --- directories ----------------------------------------------------------------------------

    def iterdir(self) -> Iterator[AutoPath]:
        """The files and directories directly in this directory (never the directory itself).

        On an object store: one listing (one request per page) of the objects and sub-prefixes. An
        empty or absent prefix lists nothing; a file raises ``NotADirectoryError``.
        """
        if self._local is not None:
            with _local_errors():
                children = sorted(self._local.iterdir())
            for child in children:
                if not store_io.is_hidden(child.name):
                    yield self._with_local(child)
            return
        backend, key = self._location()
        listing = backend.store.list_dir(key)
        if not listing.objects and not listing.prefixes:
            if key and backend.store.exists(key):
                raise _os_error(PathNotADirectoryError, errno.ENOTDIR, str(self))
            return
        # Some tools store a directory marker object at the prefix itself: it is not a child.
        children = [
            meta.key
            for meta in listing.objects
            if meta.key.rstrip("/") != key and not store_io.is_hidden(meta.key)
        ]
        for child in sorted([*children, *listing.prefixes]):
            yield self._with_key(child)

    def glob(self, pattern: str) -> Iterator[AutoPath]:
        """Files and directories under this one matching ``pattern``, sorted.

        ``*``, ``?`` and ``[...]`` match within one segment, ``**`` any number of segments, as in
        ``pathlib``; a pattern ending in ``/`` selects directories only. Remote paths are matched by
        the Rust glob engine on listings narrowed to the pattern's literal prefix.
        """
        if not isinstance(pattern, str) or not pattern.strip("/"):
            raise ValueError(f"unacceptable glob pattern {pattern!r} for {self}")
        if pattern.startswith("/") or split_scheme(pattern)[0]:
            raise ValueError(f"glob patterns are relative to the path, got {pattern!r} for {self}")
        compiled = GlobPattern(pattern)
        if self._local is not None:
            local = self._local
            return iter([self._with_local(local / relative) for relative in local_glob(local, compiled)])
        backend, key = self._location()
        return iter([self._child(relative) for relative in remote_glob(backend, key, compiled)])

    def rglob(self, pattern: str) -> Iterator[AutoPath]:
        """:meth:`glob` with ``**/`` in front of ``pattern``: matches at any depth."""
        return self.glob(f"**/{pattern}")

    def mkdir(self, mode: int = 0o777, parents: bool = False, exist_ok: bool = False) -> None:
        """Create the directory (locally, as ``pathlib``); on an object store only check it.

        Object stores have no empty directories, so nothing is created there; ``FileExistsError`` is
        still raised when a file is at this key, or when the prefix holds objects and ``exist_ok`` is
        false.
        """
        if self._local is not None:
            with _local_errors():
                self._local.mkdir(mode=mode, parents=parents, exist_ok=exist_ok)
            return
        backend, key = self._location()
        if key and backend.store.exists(key):
            raise _os_error(AlreadyExistsError, errno.EEXIST, str(self))
        if not exist_ok and (not key or backend.store.is_dir(key)):
            raise _os_error(AlreadyExistsError, errno.EEXIST, str(self))

    def rmdir(self) -> None:
        """Remove an empty directory. On an object store an empty prefix has nothing to remove.

        ``NotADirectoryError`` for a file, ``OSError`` (``errno.ENOTEMPTY``) when files remain.
        """
        if self._local is not None:
            with _local_errors():
                self._local.rmdir()
            return
        backend, key = self._location()
        if key and backend.store.exists(key):
            raise _os_error(PathNotADirectoryError, errno.ENOTDIR, str(self))
        if backend.store.is_dir(key):
            raise _os_error(DirectoryNotEmptyError, errno.ENOTEMPTY, str(self))

    def unlink(self, missing_ok: bool = False) -> None:
        """Delete the file. ``IsADirectoryError`` for a directory; ``FileNotFoundError`` if absent."""
        if self._local is not None:
            with _local_errors():
                self._local.unlink(missing_ok=missing_ok)
            return
        backend, key = self._location()
        self._refuse_root(key)
        if backend.store.exists(key):
            backend.store.delete(key)
            backend.invalidate(key)
            return
        self._raise_if_directory(backend, key)
        if not missing_ok:
            raise _os_error(ObjectNotFoundError, errno.ENOENT, str(self))

    def delete(self, missing_ok: bool = False) -> None:
        """Delete the file, or the directory with everything under it.

        ``FileNotFoundError`` when nothing is here, unless ``missing_ok``.
        """
        if self._local is not None:
            with _local_errors():
                if self._local.is_dir() and not self._local.is_symlink():
                    shutil.rmtree(self._local)
                else:
                    self._local.unlink(missing_ok=missing_ok)
            return
        backend, key = self._location()
        is_file = bool(key) and backend.store.exists(key)
        is_dir = backend.store.is_dir(key)
        if not is_file and not is_dir:
            if missing_ok:
                return
            raise _os_error(ObjectNotFoundError, errno.ENOENT, str(self))
        if is_file:
            backend.store.delete(key)
            backend.invalidate(key)
        if is_dir:
            backend.store.delete_prefix(key)
            backend.invalidate_prefix(key)

    # --- transfers ------------------------------------------------------------------------------

    def copy_to(self, destination: PathArgument, *, progress: ProgressArgument = False) -> AutoPath:
        """Copy this file, or this directory with everything under it, to ``destination``.

        ``destination`` is the exact path of the copy (a string inherits this path's store). Works
        between any two backends; bytes stream inside the Rust core, and copies within one store stay
        on the server. ``progress=True`` draws a progress bar; a callable receives
        ``(bytes_done, bytes_total)``. Returns the destination path.
        """
        target = self._other(destination)
        self._transfer(target, progress, move=False)
        return target

    def move_to(self, destination: PathArgument, *, progress: ProgressArgument = False) -> AutoPath:
        """Move this file or directory to ``destination``: a copy, then deletion of the source.

        The source is deleted only after every object was copied; a failed copy leaves it intact.
        Returns the destination path.
        """
        target = self._other(destination)
        self._transfer(target, progress, move=True)
        return target

    def upload_from(self, source: PathArgument, *, progress: ProgressArgument = False) -> None:
        """Make this path a copy of ``source``, a local file or directory (or any AutoPath)."""
        self._other(source).copy_to(self, progress=progress)

    def download_to(self, destination: str | os.PathLike[str], *, progress: ProgressArgument = False) -> Path:
        """Copy this file or directory to the local path ``destination``; returns it as a ``Path``."""
        target = destination if isinstance(destination, AutoPath) else AutoPath(destination)
        if target._local is None:
            raise ValueError(f"download_to needs a local path, got {destination!s}; use copy_to for URIs")
        self.copy_to(target, progress=progress)
        return target._local

    def _transfer(self, target: AutoPath, progress: ProgressArgument, *, move: bool) -> None:
        source_backend, source_key = self._location()
        target_backend, target_key = target._location()
        same_store = source_backend.store == target_backend.store
        if same_store and source_key == target_key:
            raise ValueError(f"cannot {'move' if move else 'copy'} {self} onto itself")
        size = self._file_size(source_backend, source_key)
        if size is not None:
            with _progress_callback(progress, self.name, size) as callback:
                _copy_object(source_backend, source_key, target_backend, target_key, callback, move=move)
                if callback is not None and same_store:
                    # A copy inside one store moves no bytes through the client: report it done.
                    callback(size, size)
            if move and not same_store:
                self._delete_file(source_backend, source_key)
            return
        if same_store and (not source_key or target_key.startswith(f"{source_key}/")):
            raise ValueError(f"cannot {'move' if move else 'copy'} {self} into itself ({target})")
        self._transfer_tree(
            (source_backend, source_key), target, (target_backend, target_key), progress=progress, move=move
        )

    def _file_size(self, backend: Backend, key: str) -> int | None:
        """The size of the file at this path, ``None`` when there is none."""
        if self._local is not None:
            with _local_errors():
                try:
                    result = self._local.stat()
                except FileNotFoundError:
                    return None
            return result.st_size if stat_module.S_ISREG(result.st_mode) else None
        if not key:
            return None
        try:
            return backend.store.head(key).size
        except ObjectNotFoundError:
            return None

    def _delete_file(self, backend: Backend, key: str) -> None:
        if self._local is not None:
            with _local_errors():
                self._local.unlink()
            return
        backend.store.delete(key)
        backend.invalidate(key)

    def _transfer_tree(
        self,
        source: tuple[Backend, str],
        target: AutoPath,
        destination: tuple[Backend, str],
        *,
        progress: ProgressArgument,
        move: bool,
    ) -> None:
        (source_backend, source_key), (target_backend, target_key) = source, destination
        prefix = f"{source_key}/" if source_key else ""
        if self._local is not None and not self._local.is_dir():
            raise _os_error(ObjectNotFoundError, errno.ENOENT, str(self))
        objects = [meta for meta in source_backend.store.list(prefix) if not store_io.is_hidden(meta.key)]
        if not objects and self._local is None:
            raise _os_error(ObjectNotFoundError, errno.ENOENT, str(self))
        target_prefix = f"{target_key}/" if target_key else ""
        pairs = [(meta.key, target_prefix + meta.key[len(prefix) :]) for meta in objects]
        if target._local is not None:
            with _local_errors():
                target._local.mkdir(parents=True, exist_ok=True)
        total = sum(meta.size for meta in objects)
        with _progress_callback(progress, self.name or str(self), total) as callback:
            results = _core.copy_many(source_backend.store, target_backend.store, pairs, progress=callback)
        target_backend.invalidate_prefix(target_key)
        failures = [result for result in results if isinstance(result, BaseException)]
        if failures:
            raise failures[0]
        if not move:
            return
        if self._local is not None:
            with _local_errors():
                shutil.rmtree(self._local)
            return
        # Only what was copied: objects written under the prefix meanwhile are left alone.
        copied = [source for source, _ in pairs]
        for outcome in source_backend.store.delete_many(copied):
            if isinstance(outcome, BaseException) and not isinstance(outcome, ObjectNotFoundError):
                raise outcome
        source_backend.invalidate_prefix(source_key)

    # --- values through the format handlers -----------------------------------------------------

    def load(self, format: str | None = None, ignore_cache: bool = False) -> Any:
        """The value in this file, read by the handler for its extension (or for ``format``).

        A directory holding parquet (else CSV) files loads as one Polars LazyFrame. ``ignore_cache``
        downloads again even when a cached copy is fresh.
        """
        backend, key = self._location()
        registry = self._registry()
        if format is None and not registry.split_extension(key)[1]:
            if self.is_dir():
                return self._load_dataset(backend, key, registry, ignore_cache)
            if not self.is_file():
                raise _os_error(ObjectNotFoundError, errno.ENOENT, str(self))
        try:
            return store_io.load(backend, key, registry, format=format, ignore_cache=ignore_cache)
        except ObjectNotFoundError:
            if format is None and self.is_dir():
                return self._load_dataset(backend, key, registry, ignore_cache)
            raise

    def _load_dataset(self, backend: Backend, key: str, registry: HandlerRegistry, ignore_cache: bool) -> Any:
        # A LazyFrame over downloaded files needs them for as long as it lives: a store keeps them
        # until it is closed; without a store the frame is read into memory instead.
        keep_files = self._store is not None and not backend.is_local and backend.cache is None
        return store_io.load_dataset(
            backend,
            key,
            registry,
            ignore_cache=ignore_cache,
            download_dir=self._store.temp_dir if keep_files and self._store is not None else None,
        )

    def save(self, data: Any, format: str | None = None) -> AutoPath:
        """Write ``data`` with the handler for this path's extension (or ``format``), atomically.

        A name without a registered extension gets the one chosen for the value's type (or
        ``format``): ``results`` becomes ``results.json`` for a dict. Returns the path written.
        """
        backend, key = self._location()
        self._refuse_root(key)
        written = store_io.save(backend, key, data, self._registry(), format=format)
        added = written[len(key) :]
        if not added:
            return self
        if self._local is not None:
            return self._with_local(self._local.with_name(self._local.name + added))
        return self._with_key(written)


def _as_text(segment: str | os.PathLike[str]) -> str:
    if isinstance(segment, str):
        return segment
    if isinstance(segment, os.PathLike):
        text = os.fspath(segment)
        if isinstance(text, str):
            return text
    raise TypeError(f"AutoPath segments are str, os.PathLike[str] or AutoPath, got {type(segment).__name__}")


def _unpickle(text: str, store: AutoStore | None) -> AutoPath:
    return AutoPath(text, store=store)


def _copy_object(
    source: Backend,
    source_key: str,
    target: Backend,
    target_key: str,
    callback: ProgressCallback | None,
    *,
    move: bool,
) -> None:
    """Copy (or, within one store, rename) one object by the fastest route between the two backends."""
    if target.is_local:
        with _local_errors():
            target.local_path(target_key).parent.mkdir(parents=True, exist_ok=True)
    if source.store == target.store:
        if move:
            source.store.rename(source_key, target_key)
            source.invalidate(source_key)
        else:
            source.store.copy(source_key, target_key)
    elif source.is_local and not target.is_local:
        target.store.upload_file(source.local_path(source_key), target_key, progress=callback)
    elif target.is_local and not source.is_local:
        source.store.download_file(source_key, target.local_path(target_key), progress=callback)
    else:
        _core.copy_between(source.store, source_key, target.store, target_key, progress=callback)
    target.invalidate(target_key)
