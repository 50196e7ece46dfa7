"""PyTorch tensors, modules and state dicts (``.pt``, ``.pth``) (``pip install 'autostore[torch]'``)."""

from __future__ import annotations

import pickle
from collections import OrderedDict
from pathlib import Path
from typing import Any

from autostore.handlers._support import (
    JSON_SCALARS,
    BuiltinHandler,
    decoding,
    encoding,
    loaded_module,
    require_module,
    wrong_type,
)

__all__ = ["TorchHandler"]

_FORMAT_NAME = "PyTorch (torch.save)"
_MAPPINGS = frozenset({dict, OrderedDict})
_CONTAINERS = _MAPPINGS | {list, tuple}


class TorchHandler(BuiltinHandler):
    """Anything ``torch.save`` writes, read back with ``torch.load`` onto the CPU.

    By type it takes a tensor, an ``nn.Module``, or a state dict or checkpoint: dicts, lists and
    tuples of tensors and plain scalars holding at least one tensor. It ranks below JSON, which
    claims no value holding a tensor: JSON's check stops at the first tensor, while this one would
    walk all of a large tensor-free list before saying no.

    With ``allow_pickle=False`` files load with ``weights_only=True``: tensors, state dicts and
    checkpoints of plain values still load, a pickled module or any other object is refused.
    """

    handled_extensions = (".pt", ".pth")
    handler_priority = 7

    def __init__(self, allow_pickle: bool = True) -> None:
        """``allow_pickle=False`` restricts loading to tensors and plain containers."""
        self.allow_pickle = allow_pickle

    def can_handle_data(self, data: Any) -> bool:
        """Whether ``data`` is a tensor, a module, or a container of tensors and plain scalars."""
        torch = loaded_module("torch")
        if torch is None:
            return False
        if isinstance(data, (torch.Tensor, torch.nn.Module)):
            return True
        return type(data) in _CONTAINERS and _holds_tensors(data, torch.Tensor)

    def read_from_file(self, file_path: Path, file_extension: str) -> Any:
        """The saved object, with every tensor on the CPU."""
        torch = require_module("torch", "torch", f"reading {file_path} as {_FORMAT_NAME}")
        with decoding(file_path, _FORMAT_NAME):
            try:
                return torch.load(file_path, map_location="cpu", weights_only=not self.allow_pickle)
            except pickle.UnpicklingError as exc:
                if self.allow_pickle:
                    raise
                raise ValueError(
                    "it holds objects other than tensors and plain containers, and loading pickled "
                    f"objects is disabled (allow_pickle=False): {exc}"
                ) from exc

    def write_to_file(self, data: Any, file_path: Path, file_extension: str) -> None:
        """Write ``data`` with ``torch.save``."""
        if not self.can_handle_data(data):
            raise wrong_type(
                data, file_path, _FORMAT_NAME, "a tensor, an nn.Module, or a container holding tensors"
            )
        torch = require_module("torch", "torch", f"writing {file_path} as {_FORMAT_NAME}")
        with encoding(data, file_path, _FORMAT_NAME), open(file_path, "wb") as stream:
            torch.save(data, stream)


def _holds_tensors(root: Any, tensor_type: type) -> bool:
    """Whether a tree of containers holds at least one tensor and nothing but tensors and scalars."""
    found_tensor = False
    seen = {id(root)}
    pending = [root]
    while pending:
        container = pending.pop()
        if type(container) in _MAPPINGS:
            if any(type(key) not in JSON_SCALARS for key in container):
                return False
            children = container.values()
        else:
            children = container
        for child in children:
            kind = type(child)
            if kind in JSON_SCALARS:
                continue
            if kind in _CONTAINERS:
                # Shared or cyclic containers are walked once; torch.save (pickle) stores them as such.
                if id(child) not in seen:
                    seen.add(id(child))
                    pending.append(child)
            elif isinstance(child, tensor_type):
                found_tensor = True
            else:
                return False
    return found_tensor
