"""Pydantic models (``.pydantic.json``) and dataclass instances (``.dataclass.json``).

Both are stored as JSON next to the import path of their class (``module:QualName``), so reading the
file gives back an instance of that class, not a dict. Reading resolves that path: with
``allow_pickle=False`` only modules that are already imported are searched, so a file cannot make
AutoStore import code; and the resolved object must be a model class or a dataclass, so a file cannot
name an arbitrary callable.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import sys
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

__all__ = ["DataclassHandler", "PydanticHandler"]

_PYDANTIC_KEY = "__pydantic__"
_DATACLASS_KEY = "__dataclass__"


def _class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _is_importable(cls: type) -> bool:
    """Whether ``module:QualName`` of ``cls`` leads back to ``cls`` itself.

    False for classes defined inside functions, generic aliases such as ``Model[int]`` and classes
    built at run time: a file naming them could not be read back.
    """
    found: Any = sys.modules.get(cls.__module__)
    for part in cls.__qualname__.split("."):
        found = getattr(found, part, None)
    return found is cls


def _resolve_class(class_path: Any, allow_import: bool) -> Any:
    """The object named by ``module:QualName``; the caller checks what kind of object it is."""
    if not isinstance(class_path, str) or class_path.count(":") != 1:
        raise ValueError(f"malformed class path {class_path!r}, expected 'module:QualName'")
    module_name, qualname = class_path.split(":")
    module = sys.modules.get(module_name)
    if module is None:
        if not allow_import:
            raise ValueError(
                f"class {class_path} is in module {module_name!r}, which is not imported, and importing "
                "modules named by a file is disabled (allow_pickle=False): import it before reading"
            )
        module = importlib.import_module(module_name)
    found: Any = module
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


class PydanticHandler(BuiltinHandler):
    """Pydantic v2 models, stored as their JSON serialization (``pip install 'autostore[pydantic]'``).

    The file is ``{"__pydantic__": "module:QualName", "data": <model_dump_json>}``; reading validates
    ``data`` with that class's ``model_validate_json``, so the result equals the model written.
    """

    handled_extensions = (".pydantic.json",)
    handler_priority = 9

    def __init__(self, allow_pickle: bool = True) -> None:
        """``allow_pickle=False`` forbids importing a module named by a file (see the module docs)."""
        self.allow_pickle = allow_pickle

    def can_handle_data(self, data: Any) -> bool:
        """Whether ``data`` is a pydantic model whose class can be found again by its import path."""
        pydantic = loaded_module("pydantic")
        return pydantic is not None and isinstance(data, pydantic.BaseModel) and _is_importable(type(data))

    def read_from_file(self, file_path: Path, file_extension: str) -> Any:
        """An instance of the class recorded in the file, validated from the stored JSON."""
        pydantic = require_module("pydantic", "pydantic", f"reading {file_path} as a pydantic model")
        raw = file_path.read_bytes()
        with decoding(file_path, "pydantic model JSON"):
            document = json.loads(raw)
            if type(document) is not dict or _PYDANTIC_KEY not in document or "data" not in document:
                raise ValueError(f'expected {{"{_PYDANTIC_KEY}": "module:QualName", "data": ...}}')
            model_class = _resolve_class(document[_PYDANTIC_KEY], self.allow_pickle)
            if not (isinstance(model_class, type) and issubclass(model_class, pydantic.BaseModel)):
                raise ValueError(f"{document[_PYDANTIC_KEY]} is not a pydantic model class")
            return model_class.model_validate_json(json.dumps(document["data"], ensure_ascii=False))

    def write_to_file(self, data: Any, file_path: Path, file_extension: str) -> None:
        """Write the model's JSON (``round_trip=True``) together with its class's import path."""
        if not self.can_handle_data(data):
            raise wrong_type(
                data, file_path, "pydantic model JSON", "a pydantic model of a module-level class"
            )
        with encoding(data, file_path, "pydantic model JSON"):
            document = (
                f'{{"{_PYDANTIC_KEY}": {json.dumps(_class_path(type(data)))}, '
                f'"data": {data.model_dump_json(round_trip=True)}}}'
            )
            file_path.write_bytes(document.encode("utf-8"))


class DataclassHandler(BuiltinHandler):
    """Dataclass instances as JSON, nested dataclasses included.

    Each instance is stored as ``{"__dataclass__": "module:QualName", "fields": {...}}``. Field values
    may be str, int, float, bool, None, lists, dicts with str keys and further dataclass instances;
    a dataclass holding anything else is left to the pickle handler, which reproduces it exactly.
    """

    handled_extensions = (".dataclass.json",)
    handler_priority = 9

    def __init__(self, allow_pickle: bool = True) -> None:
        """``allow_pickle=False`` forbids importing a module named by a file (see the module docs)."""
        self.allow_pickle = allow_pickle

    def can_handle_data(self, data: Any) -> bool:
        """Whether ``data`` is a dataclass instance whose fields all survive a JSON round trip."""
        if not _is_dataclass_instance(data):
            return False
        try:
            return _is_encodable(data, set())
        except RecursionError:
            return False

    def read_from_file(self, file_path: Path, file_extension: str) -> Any:
        """An instance of the recorded dataclass, built through its ``__init__``."""
        raw = file_path.read_bytes()
        with decoding(file_path, "dataclass JSON"):
            document = json.loads(raw)
            if type(document) is not dict or _DATACLASS_KEY not in document:
                raise ValueError(f'expected {{"{_DATACLASS_KEY}": "module:QualName", "fields": {{...}}}}')
            return self._decode(document)

    def write_to_file(self, data: Any, file_path: Path, file_extension: str) -> None:
        """Write the instance's fields, recursively, with the import path of each dataclass."""
        if not self.can_handle_data(data):
            raise wrong_type(
                data,
                file_path,
                "dataclass JSON",
                "an instance of a module-level dataclass whose fields are JSON values or such dataclasses",
            )
        document = json.dumps(_encode(data), ensure_ascii=False).encode("utf-8")
        with encoding(data, file_path, "dataclass JSON"):
            file_path.write_bytes(document)

    def _decode(self, value: Any) -> Any:
        if type(value) is list:
            return [self._decode(item) for item in value]
        if type(value) is not dict:
            return value
        if _DATACLASS_KEY not in value:
            return {key: self._decode(item) for key, item in value.items()}
        class_path = value[_DATACLASS_KEY]
        cls = _resolve_class(class_path, self.allow_pickle)
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            raise ValueError(f"{class_path} is not a dataclass")
        stored = value.get("fields")
        if type(stored) is not dict:
            raise ValueError(f"the fields of {class_path} are not a JSON object")
        init_names = {field.name for field in dataclasses.fields(cls) if field.init}
        later_names = {field.name for field in dataclasses.fields(cls) if not field.init}
        unknown = stored.keys() - init_names - later_names
        if unknown:
            raise ValueError(f"{sorted(unknown)} are not fields of {class_path}")
        instance = cls(**{name: self._decode(item) for name, item in stored.items() if name in init_names})
        for name in later_names & stored.keys():
            # Fields with init=False are restored as written; object.__setattr__ also works when frozen.
            object.__setattr__(instance, name, self._decode(stored[name]))
        return instance


def _is_dataclass_instance(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _is_encodable(value: Any, open_containers: set[int]) -> bool:
    if type(value) in JSON_SCALARS:
        return True
    if id(value) in open_containers:
        return False
    if _is_dataclass_instance(value):
        if not _is_importable(type(value)):
            return False
        children = [getattr(value, field.name) for field in dataclasses.fields(value)]
    elif type(value) is list:
        children = value
    elif type(value) is dict:
        # A plain dict holding the marker key would be read back as a dataclass.
        if _DATACLASS_KEY in value or any(type(key) is not str for key in value):
            return False
        children = list(value.values())
    else:
        return False
    open_containers.add(id(value))
    encodable = all(_is_encodable(child, open_containers) for child in children)
    open_containers.discard(id(value))
    return encodable


def _encode(value: Any) -> Any:
    if _is_dataclass_instance(value):
        fields = {field.name: _encode(getattr(value, field.name)) for field in dataclasses.fields(value)}
        return {_DATACLASS_KEY: _class_path(type(value)), "fields": fields}
    if type(value) is list:
        return [_encode(item) for item in value]
    if type(value) is dict:
        return {key: _encode(item) for key, item in value.items()}
    return value
