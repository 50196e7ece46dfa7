"""Smoke test of an installed autostore wheel: ``python tests/smoke_wheel.py`` in a fresh venv.

It checks that the compiled core loads on this platform and that a JSON value round-trips through a
local AutoStore and through the core itself. It uses only the wheel and its required dependencies,
not pytest or any extra, so it runs right after ``pip install autostore-*.whl``. Failures exit with
status 1 and a message saying what differed.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import autostore
from autostore import AutoStore, _core


def _check(condition: bool, message: str) -> None:
    # Not `assert`: the script must still check under `python -O`.
    if not condition:
        raise SystemExit(f"smoke test failed: {message}")


def main() -> int:
    """Run the checks; return 0 when all pass (a failure exits with status 1)."""
    source_tree = Path(__file__).resolve().parents[1] / "python"
    package_dir = Path(autostore.__file__).resolve().parent
    _check(
        not package_dir.is_relative_to(source_tree),
        f"autostore was imported from the source tree {package_dir}, not from the installed wheel",
    )

    value = {"name": "smoke", "numbers": [1, 2.5, None], "text": "ünïcode ✓", "nested": {"ok": True}}
    with tempfile.TemporaryDirectory(prefix="autostore-smoke-") as root:
        store = AutoStore(root)
        store["config"] = value
        written = Path(root) / "config.json"
        _check(written.is_file(), f"store['config'] = dict did not create {written}")
        read_back = store["config"]
        _check(read_back == value, f"store['config'] read back {read_back!r}, expected {value!r}")
        _check("config" in store, "'config' is missing from the store after writing it")

        core_store = _core.Store(Path(root).as_uri())
        payload = b'{"from": "core"}'
        core_store.put("core/raw.json", payload)
        _check(
            bytes(core_store.get("core/raw.json")) == payload,
            "bytes written through autostore._core.Store did not read back equal",
        )
        _check((Path(root) / "core" / "raw.json").read_bytes() == payload, "the core wrote elsewhere")

    print(f"autostore {autostore.__version__} OK on Python {sys.version.split()[0]} ({_core.__file__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
