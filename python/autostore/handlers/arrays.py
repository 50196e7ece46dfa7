"""NumPy arrays (``.npy``, ``.npz``) and SciPy sparse matrices and arrays (``.sparse``, ``.sparse.npz``).

Neither handler ever unpickles: object arrays are refused on write (they go to the pickle handler
instead) and on read.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from autostore.handlers._support import (
    BuiltinHandler,
    decoding,
    encoding,
    loaded_module,
    require_module,
    wrong_type,
)

__all__ = ["NumpyHandler", "SparseHandler"]

_NPY_NAME = "NumPy .npy"
_NPZ_NAME = "NumPy .npz"
_SPARSE_NAME = "SciPy sparse (.sparse)"

# save_npz cannot write LIL and DOK; those are saved as CSR and this archive member records the
# format to convert back to, so the value read has the class that was written.
_SPARSE_FORMAT_MEMBER = "autostore_format.txt"


def _is_plain_array(value: Any, numpy: Any) -> bool:
    # Subclasses (np.matrix, masked arrays) would come back as plain arrays, so they are left to pickle.
    return type(value) is numpy.ndarray and not value.dtype.hasobject


class NumpyHandler(BuiltinHandler):
    """NumPy arrays as ``.npy`` and dicts of named arrays as ``.npz`` (``pip install 'autostore[numpy]'``).

    Arrays of Python objects are not accepted: storing them needs pickle, which ``.npy`` files must
    never run on load.
    """

    handled_extensions = (".npy", ".npz")
    handler_priority = 9

    def can_handle_data(self, data: Any) -> bool:
        """Whether ``data`` is a non-object ``ndarray`` or a non-empty dict of them with str keys."""
        numpy = loaded_module("numpy")
        if numpy is None:
            return False
        if type(data) is dict:
            return len(data) > 0 and all(
                type(name) is str and _is_plain_array(array, numpy) for name, array in data.items()
            )
        return _is_plain_array(data, numpy)

    def default_extension(self, data: Any) -> str:
        """``.npz`` for a dict of arrays, ``.npy`` for one array."""
        return ".npz" if type(data) is dict else ".npy"

    def read_from_file(self, file_path: Path, file_extension: str) -> Any:
        """One ``ndarray`` from ``.npy``; a dict of name to ``ndarray`` from ``.npz``."""
        extension = self.checked_extension(file_path, file_extension)
        format_name = _NPZ_NAME if extension == ".npz" else _NPY_NAME
        numpy = require_module("numpy", "numpy", f"reading {file_path} as {format_name}")
        # Always a file object: on a corrupt archive np.load(path) leaks the file it opened.
        with decoding(file_path, format_name), open(file_path, "rb") as stream:
            if extension == ".npy":
                return numpy.load(stream, allow_pickle=False)
            with numpy.load(stream, allow_pickle=False) as archive:
                return {name: archive[name] for name in archive.files}

    def write_to_file(self, data: Any, file_path: Path, file_extension: str) -> None:
        """Write an array to ``.npy`` or a dict of arrays to ``.npz`` (uncompressed, like ``np.savez``)."""
        extension = self.checked_extension(file_path, file_extension)
        numpy = require_module("numpy", "numpy", f"writing {file_path}")
        if extension == ".npy":
            if not _is_plain_array(data, numpy):
                raise wrong_type(data, file_path, _NPY_NAME, "a numpy.ndarray without Python objects")
            with encoding(data, file_path, _NPY_NAME), open(file_path, "wb") as stream:
                numpy.save(stream, data, allow_pickle=False)
            return
        if type(data) is not dict or not self.can_handle_data(data):
            raise wrong_type(
                data, file_path, _NPZ_NAME, "a non-empty dict of str to numpy.ndarray without Python objects"
            )
        # Written member by member rather than with np.savez, whose own keyword arguments ("file",
        # "allow_pickle") would collide with array names.
        with (
            encoding(data, file_path, _NPZ_NAME),
            zipfile.ZipFile(file_path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive,
        ):
            for name, array in data.items():
                with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                    numpy.lib.format.write_array(member, array, allow_pickle=False)


class SparseHandler(BuiltinHandler):
    """SciPy sparse matrices and arrays in ``scipy.sparse.save_npz`` format (``autostore[scipy]``).

    Every sparse format reads back as the class it was written from (``csr_matrix`` stays a
    ``csr_matrix``, ``lil_array`` a ``lil_array``), and the files load with ``scipy.sparse.load_npz``.
    """

    # ".sparse.npz" is the name AutoStore 0.1.x gave these files.
    handled_extensions = (".sparse", ".sparse.npz")
    handler_priority = 10

    def can_handle_data(self, data: Any) -> bool:
        """Whether ``data`` is a SciPy sparse matrix or sparse array."""
        sparse = loaded_module("scipy.sparse")
        return sparse is not None and bool(sparse.issparse(data))

    def read_from_file(self, file_path: Path, file_extension: str) -> Any:
        """The sparse matrix or array, in the format and class it was written with."""
        sparse = require_module("scipy.sparse", "scipy", f"reading {file_path} as {_SPARSE_NAME}")
        with decoding(file_path, _SPARSE_NAME), open(file_path, "rb") as stream:
            matrix = sparse.load_npz(stream)
            stream.seek(0)
            with zipfile.ZipFile(stream) as archive:
                if _SPARSE_FORMAT_MEMBER in archive.namelist():
                    matrix = matrix.asformat(archive.read(_SPARSE_FORMAT_MEMBER).decode("ascii"))
            return matrix

    def write_to_file(self, data: Any, file_path: Path, file_extension: str) -> None:
        """Write with ``scipy.sparse.save_npz`` (compressed)."""
        if not self.can_handle_data(data):
            raise wrong_type(data, file_path, _SPARSE_NAME, "a scipy.sparse matrix or array")
        sparse = require_module("scipy.sparse", "scipy", f"writing {file_path} as {_SPARSE_NAME}")
        convert = data.format in ("lil", "dok")
        with encoding(data, file_path, _SPARSE_NAME):
            with open(file_path, "wb") as stream:
                # A file object, not a path: given a path, save_npz appends ".npz" to it.
                sparse.save_npz(stream, data.tocsr() if convert else data)
            if convert:
                with zipfile.ZipFile(file_path, "a") as archive:
                    archive.writestr(_SPARSE_FORMAT_MEMBER, data.format)
