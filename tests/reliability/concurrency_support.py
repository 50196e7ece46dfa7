"""Shared pieces of the atomicity and load tests: stores that several processes can open, values
that prove themselves complete, and the RSS of the current process.

Every value written by these tests encodes who wrote it (writer id, sequence number) and a checksum
of its body, so a reader can tell a complete value from a torn or mixed one without knowing which
write it came from.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import resource
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autostore import AutoStore

# bytes payloads: magic, writer id, sequence, body length, then the body and its SHA-256.
_MAGIC = b"ASv1"
_HEADER = struct.Struct(">4sIIQ")
_DIGEST_SIZE = 32


@dataclass(frozen=True)
class StoreSpec:
    """How to open one shared store from any process (picklable for ``multiprocessing`` spawn)."""

    uri: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def cached(self) -> bool:
        return bool(self.options.get("cache_enabled"))

    def open(self, **overrides: Any) -> AutoStore:
        """A new AutoStore on the shared root; ``overrides`` change options (``cache_enabled=False``)."""
        return AutoStore(self.uri, **{**self.options, **overrides})

    def open_uncached(self) -> AutoStore:
        """A store that asks the server itself: the truth to compare a cache against."""
        options = {name: value for name, value in self.options.items() if not name.startswith("cache_")}
        return AutoStore(self.uri, **options)


def make_payload(writer: int, sequence: int, size: int) -> bytes:
    """``size`` random bytes framed with the writer, the sequence and their checksum."""
    body = os.urandom(size)
    header = _HEADER.pack(_MAGIC, writer, sequence, size)
    return header + body + hashlib.sha256(header + body).digest()


def check_payload(raw: bytes) -> tuple[int, int]:
    """``(writer, sequence)`` of a complete payload; AssertionError for a torn or foreign one."""
    assert isinstance(raw, bytes), f"expected bytes, read {type(raw).__name__}"
    assert len(raw) >= _HEADER.size + _DIGEST_SIZE, f"payload too short: {len(raw)} bytes"
    magic, writer, sequence, size = _HEADER.unpack_from(raw)
    assert magic == _MAGIC, f"payload has no header: starts with {raw[:8]!r}"
    assert len(raw) == _HEADER.size + size + _DIGEST_SIZE, (
        f"payload of writer {writer} seq {sequence} is {len(raw)} bytes, its header says "
        f"{_HEADER.size + size + _DIGEST_SIZE}"
    )
    assert hashlib.sha256(raw[:-_DIGEST_SIZE]).digest() == raw[-_DIGEST_SIZE:], (
        f"payload of writer {writer} seq {sequence} fails its checksum"
    )
    return writer, sequence


def make_record(writer: int, sequence: int, size: int) -> dict[str, Any]:
    """A JSON document of about ``size`` characters naming its writer, with a checksum of its body."""
    body = os.urandom(size // 2).hex()
    return {"writer": writer, "sequence": sequence, "body": body, "sha256": _text_digest(body)}


def check_record(value: Any) -> tuple[int, int]:
    """``(writer, sequence)`` of a complete record; AssertionError for anything else."""
    assert isinstance(value, dict), f"expected a dict, read {type(value).__name__}"
    assert set(value) == {"writer", "sequence", "body", "sha256"}, f"record has keys {sorted(value)}"
    assert _text_digest(value["body"]) == value["sha256"], (
        f"record of writer {value['writer']} seq {value['sequence']} fails its checksum"
    )
    return value["writer"], value["sequence"]


def _text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def rss_bytes() -> int:
    """The resident set size of this process now (Linux), else its peak (other platforms)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def stray_files(root: Path) -> list[str]:
    """Paths under ``root`` that are an atomic write's temporary file or a core staging file."""
    found = []
    for path in root.rglob("*"):
        if path.name.startswith(".autostore-") or "#" in path.name or path.name.endswith(".tmp"):
            found.append(str(path.relative_to(root)))
    return sorted(found)


def describe(value: Any) -> str:
    """A short description of a value for assertion messages (never megabytes of bytes)."""
    if isinstance(value, bytes):
        return f"<{len(value)} bytes starting {value[:24]!r}>"
    return json.dumps(value)[:200] if isinstance(value, (dict, list)) else repr(value)[:200]


def write_payloads(spec: StoreSpec, writer: int, key: str, count: int, size: int) -> list[tuple[int, int]]:
    """Write ``count`` payloads of ``writer`` to ``key`` (run in a spawned process); their ids."""
    store = spec.open()
    written = []
    for sequence in range(1, count + 1):
        store[key] = make_payload(writer, sequence, size)
        written.append((writer, sequence))
    return written


@dataclass
class WorkloadReport:
    """What the workers of one process did and saw during a mixed run."""

    operations: int = 0
    written: dict[str, set[tuple[int, int]]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def mixed_worker(store: AutoStore, writer: int, keys: list[str], stop: Any, report: WorkloadReport) -> None:
    """Write, read, list and delete random ``keys`` until ``stop`` is set; record what went wrong.

    A read must give a complete record, never an older record of this writer than its last write of
    that key (a lost update); a listing only keys of the key set; nothing may raise but KeyError.
    """
    import random

    rng = random.Random(writer)
    known = set(keys)
    last_own: dict[str, int] = {}
    sequence = 0
    while not stop.is_set():
        key = rng.choice(keys)
        roll = rng.random()
        try:
            if roll < 0.35:
                sequence += 1
                store[key] = make_record(writer, sequence, rng.randrange(64, 16384))
                last_own[key] = sequence
                report.written.setdefault(key, set()).add((writer, sequence))
            elif roll < 0.75:
                try:
                    found_writer, found_sequence = check_record(store[key])
                except KeyError:
                    pass
                else:
                    if found_writer == writer and found_sequence < last_own.get(key, 0):
                        report.errors.append(
                            f"{key}: read own seq {found_sequence} after writing {last_own[key]}"
                        )
            elif roll < 0.9:
                unknown = [listed for listed in store if listed not in known]
                if unknown:
                    report.errors.append(f"listing showed {unknown}")
            else:
                with contextlib.suppress(KeyError):
                    del store[key]
        except Exception as exc:  # every unexpected failure is a finding, reported by the test
            report.errors.append(f"{key}: {type(exc).__name__}: {exc}")
        report.operations += 1


def run_workload_process(
    spec: StoreSpec, writers: list[int], keys: list[str], seconds: float
) -> WorkloadReport:
    """Run one ``mixed_worker`` thread per writer id on a new store for ``seconds`` (in a child)."""
    import threading
    import time

    store = spec.open()
    stop = threading.Event()
    reports = [WorkloadReport() for _ in writers]
    threads = [
        threading.Thread(target=mixed_worker, args=(store, writer, keys, stop, report))
        for writer, report in zip(writers, reports, strict=True)
    ]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(60)
    merged = merge_reports(reports)
    merged.errors.extend(f"worker thread {thread.name} hung" for thread in threads if thread.is_alive())
    return merged


def merge_reports(reports: list[WorkloadReport]) -> WorkloadReport:
    """One report adding up ``reports``."""
    merged = WorkloadReport()
    for report in reports:
        merged.operations += report.operations
        merged.errors.extend(report.errors)
        for key, pairs in report.written.items():
            merged.written.setdefault(key, set()).update(pairs)
    return merged
