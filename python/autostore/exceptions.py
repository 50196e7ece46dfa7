"""The exception tree of AutoStore.

Every error AutoStore raises is an :class:`AutoStoreError`. Where a built-in exception fits, the class
is also that built-in, so ``except FileNotFoundError`` works for a missing S3 object exactly as it does
for a missing local file (the same idea as cloudpathlib's ``CloudPathFileNotFoundError``).

The Rust core (``autostore._core``) raises these very classes.
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "AlreadyExistsError",
    "AmbiguousKeyError",
    "AutoStoreError",
    "DirectoryNotEmptyError",
    "ForkedProcessError",
    "HandlerError",
    "InvalidConfigError",
    "InvalidKeyError",
    "KeyNotFoundError",
    "MissingDependencyError",
    "ObjectNotFoundError",
    "PathIsADirectoryError",
    "PathNotADirectoryError",
    "PreconditionFailedError",
    "TransferError",
    "TransferTimeoutError",
]


class AutoStoreError(Exception):
    """Base class of every error raised by AutoStore."""


class ObjectNotFoundError(AutoStoreError, FileNotFoundError):
    """The object, file or prefix named in the message does not exist."""


class KeyNotFoundError(ObjectNotFoundError, KeyError):
    """A mapping key is missing from an :class:`~autostore.AutoStore`.

    It is a ``KeyError`` (the ``Mapping`` protocol) and a ``FileNotFoundError`` (the storage view).
    """

    def __str__(self) -> str:  # KeyError would quote the whole message
        return Exception.__str__(self)


class AccessDeniedError(AutoStoreError, PermissionError):
    """The credentials in use may not perform the operation on the URI in the message."""


class AlreadyExistsError(AutoStoreError, FileExistsError):
    """A create-only write found an existing object."""


class PathIsADirectoryError(AutoStoreError, IsADirectoryError):
    """A file operation named a directory (a local directory, or a prefix with objects under it)."""


class PathNotADirectoryError(AutoStoreError, NotADirectoryError):
    """A directory operation named a file (a local file, or an object)."""


class DirectoryNotEmptyError(AutoStoreError, OSError):
    """``rmdir`` on a directory (or prefix) that still holds files; ``errno`` is ``ENOTEMPTY``."""


class PreconditionFailedError(AutoStoreError, FileExistsError):
    """A conditional request failed: the object changed while it was being read or written."""


class InvalidConfigError(AutoStoreError, ValueError):
    """Options or a URI that cannot describe a store."""


class InvalidKeyError(AutoStoreError, ValueError):
    """A key that is empty, malformed, or escapes the store's root."""


class AmbiguousKeyError(AutoStoreError, LookupError):
    """An extension-less key matches several objects; the message lists them."""


class HandlerError(AutoStoreError, ValueError):
    """A handler could not encode or decode a value; the message names the key and the format."""


class TransferError(AutoStoreError, OSError):
    """A network or I/O failure that retries could not overcome."""


class TransferTimeoutError(TransferError, TimeoutError):
    """A request made no progress for longer than the ``timeout`` option, on every retry.

    The timeout measures stalls, not whole transfers: a long download that keeps moving never
    raises this.
    """


class ForkedProcessError(AutoStoreError, RuntimeError):
    """The Rust runtime was used in a child process created by ``fork()`` after it started."""


class MissingDependencyError(AutoStoreError, ImportError):
    """An optional library is not installed; the message names the extra that provides it."""
