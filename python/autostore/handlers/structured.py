"""JSON (``.json``), JSON Lines (``.jsonl``) and YAML (``.yaml``, ``.yml``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autostore.handlers._support import (
    BuiltinHandler,
    decoding,
    encoding,
    is_json_tree,
    require_module,
    wrong_type,
)

__all__ = ["JSONHandler", "YAMLHandler"]

_JSON_VALUE = "a JSON value (dict with str keys, list, str, int, float, bool or None, nested)"


def _is_record_list(data: Any) -> bool:
    return type(data) is list and len(data) > 0 and all(type(item) is dict for item in data)


class JSONHandler(BuiltinHandler):
    """JSON documents and JSON Lines files, UTF-8 and without ASCII escaping.

    By type it takes dicts and lists whose contents survive JSON unchanged (str keys; str, int,
    float, bool, None, dict and list values): a non-empty list of dicts goes to ``.jsonl``, any other
    to ``.json``. A ``.json`` key may hold any JSON value, scalars included.
    """

    handled_extensions = (".json", ".jsonl")
    handler_priority = 8

    def can_handle_data(self, data: Any) -> bool:
        """Whether ``data`` is a dict or list that reads back from JSON equal to itself."""
        return type(data) in (dict, list) and is_json_tree(data)

    def default_extension(self, data: Any) -> str:
        """``.jsonl`` for a non-empty list of dicts (one record per line), else ``.json``."""
        return ".jsonl" if _is_record_list(data) else ".json"

    def read_from_file(self, file_path: Path, file_extension: str) -> Any:
        """The JSON value of a ``.json`` file, or the list of values of a ``.jsonl`` file's lines."""
        if self.checked_extension(file_path, file_extension) == ".jsonl":
            return self._read_lines(file_path)
        raw = file_path.read_bytes()
        with decoding(file_path, "JSON"):
            # json.loads on bytes detects UTF-8/16/32 and a byte-order mark by itself.
            return json.loads(raw)

    def _read_lines(self, file_path: Path) -> list[Any]:
        records: list[Any] = []
        with decoding(file_path, "JSON Lines"), open(file_path, encoding="utf-8-sig") as lines:
            for line_number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"line {line_number}: {exc}") from exc
        return records

    def write_to_file(self, data: Any, file_path: Path, file_extension: str) -> None:
        """Write ``data`` as one JSON document, or for ``.jsonl`` a list as one value per line."""
        as_lines = self.checked_extension(file_path, file_extension) == ".jsonl"
        if as_lines and type(data) is not list:
            raise wrong_type(data, file_path, "JSON Lines", "a list of JSON values")
        if not is_json_tree(data):
            raise wrong_type(data, file_path, "JSON", _JSON_VALUE)
        if as_lines:
            with (
                encoding(data, file_path, "JSON Lines"),
                open(file_path, "w", encoding="utf-8", newline="\n") as out,
            ):
                for item in data:
                    out.write(json.dumps(item, ensure_ascii=False))
                    out.write("\n")
        else:
            document = json.dumps(data, ensure_ascii=False).encode("utf-8")
            with encoding(data, file_path, "JSON"):
                file_path.write_bytes(document)


class YAMLHandler(BuiltinHandler):
    """YAML documents through PyYAML's safe loader and dumper (``pip install 'autostore[yaml]'``).

    Chosen by extension only: by type a dict or list goes to JSON, which outranks this handler.
    """

    handled_extensions = (".yaml", ".yml")
    handler_priority = 5

    def can_handle_data(self, data: Any) -> bool:
        """Whether ``data`` is a dict or list that reads back from YAML equal to itself."""
        return type(data) in (dict, list) and is_json_tree(data)

    def read_from_file(self, file_path: Path, file_extension: str) -> Any:
        """The document parsed with ``yaml.safe_load``: no Python object is ever constructed."""
        yaml = require_module("yaml", "yaml", f"reading {file_path} as YAML")
        raw = file_path.read_bytes()
        with decoding(file_path, "YAML"):
            return yaml.safe_load(raw)

    def write_to_file(self, data: Any, file_path: Path, file_extension: str) -> None:
        """Write a dict or list with ``yaml.safe_dump``, keeping key order and non-ASCII text."""
        if type(data) not in (dict, list):
            raise wrong_type(data, file_path, "YAML", "a dict or a list")
        yaml = require_module("yaml", "yaml", f"writing {file_path} as YAML")
        with encoding(data, file_path, "YAML"):
            document = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
            file_path.write_bytes(document.encode("utf-8"))
