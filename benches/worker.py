"""The contract between the harness and its child processes, and the child's entry point.

Every measured run is one tool on one workload in a fresh process (``python -m benches.worker``), so
one run's imports, connection pools, caches and memory never leak into another's, and its peak RSS is
its own. The harness writes a JSON spec to the child's stdin (credentials travel there, never on a
command line); the child looks the tool up by module, workload and tool name, runs it, and writes a
JSON outcome to the file the spec names.

A tool function does its setup, wraps exactly the measured work in ``with ctx.timed():``, and then
checks what it got, raising :class:`VerificationError` when it differs from what was stored: a wrong
answer is reported as a failure of that tool for that workload, never as a time.

This module uses the standard library only: children of the original ``autostore`` package run it in
a virtualenv where this project's ``autostore`` is not importable.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import random
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import resource
except ImportError:  # Windows: no getrusage, so no peak RSS
    resource = None  # type: ignore[assignment]

__all__ = [
    "AUTOSTORE",
    "ORIGINAL",
    "RunContext",
    "ServerInfo",
    "Tool",
    "VerificationError",
    "Workload",
    "document",
    "expect",
    "main",
    "payload",
    "peak_rss_kib",
    "sha256_file",
]

AUTOSTORE = "AutoStore"
"""The tool every other tool's time is divided by."""
ORIGINAL = "autostore 0.1.18"
"""The original pure-Python package, run from its own virtualenv."""

_HASH_BLOCK = 8 * 1024 * 1024
_OUTCOME_ERROR_LIMIT = 600


class VerificationError(Exception):
    """What a tool read or wrote differs from what was expected, so its time does not count.

    Defined here rather than in ``autostore.exceptions`` because children of the original package
    cannot import this project's exception tree.
    """


@dataclass(frozen=True)
class ServerInfo:
    """Where the benchmark's S3 server is and the one identity it accepts."""

    endpoint_url: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    region: str


@dataclass
class RunContext:
    """Everything one tool run gets: the server, its bucket, the workload's parameters and a scratch dir.

    Attributes:
        server: the S3 server and its credentials.
        bucket: the bucket the workload's data lives in.
        params: what the workload's ``prepare`` returned (sizes, keys, local paths, checksums).
        scratch: an empty directory for this run only, removed afterwards.
        run_prefix: a key prefix (ending in ``/``) unique to this run, for everything it writes.
        seconds: the duration of the timed section, once it has run.
        rss_baseline_kib: the process's peak RSS when the timed section began.
    """

    server: ServerInfo
    bucket: str
    params: Mapping[str, Any]
    scratch: Path
    run_prefix: str
    seconds: float | None = None
    rss_baseline_kib: int | None = None

    @contextmanager
    def timed(self) -> Iterator[None]:
        """Measure the wall time of the ``with`` body; a run has exactly one timed section."""
        if self.seconds is not None:
            raise RuntimeError("a tool run may enter its timed section only once")
        self.rss_baseline_kib = peak_rss_kib()
        start = time.perf_counter()
        yield
        self.seconds = time.perf_counter() - start


ToolFunction = Callable[[RunContext], None]


@dataclass(frozen=True)
class Tool:
    """One way of doing a workload: a column of the results table.

    Attributes:
        name: the column name (``AutoStore``, ``boto3``, ...).
        run: the function run in the child process.
        interpreter: ``main`` (this project's environment) or ``original`` (the virtualenv holding
            ``autostore==0.1.18``).
        probe: called by the harness before the run; returns why the tool cannot run here (a missing
            executable, say), or ``None`` when it can.
    """

    name: str
    run: ToolFunction
    interpreter: str = "main"
    probe: Callable[[], str | None] | None = None


@dataclass(frozen=True)
class Workload:
    """One benchmark: the same job done by several tools, each verified.

    Attributes:
        name: a stable identifier, used by ``--only`` and in the JSON results.
        title: the table's row label; ``{placeholders}`` are filled from the run's scale labels.
        tools: the tools, AutoStore first.
        prepare: run once in the harness before the rounds (receives the harness's ``BenchEnv``);
            seeds the server and returns the JSON-serializable ``params`` of every run.
        check_written: for workloads that write, run in the harness after each run as
            ``check_written(env, params, run_prefix)``; raises :class:`VerificationError` when the
            objects the run wrote are missing or wrong.
        requires: library features the AutoStore side needs (``AutoStore``, ``AutoPath``, ``cache``,
            ``cli``); the workload is left out, with a note, until they exist.
        tags: labels the report's targets select workloads by.
        measure_rss: whether the report shows the peak RSS of this workload's runs.
        large_only: run only with ``--large``.
        note: a footnote for the table (what exactly each tool does, where it is not obvious).
    """

    name: str
    title: str
    tools: tuple[Tool, ...]
    prepare: Callable[[Any], dict[str, Any]]
    check_written: Callable[[Any, Mapping[str, Any], str], None] | None = None
    requires: tuple[str, ...] = ()
    tags: frozenset[str] = frozenset()
    measure_rss: bool = False
    large_only: bool = False
    note: str = ""

    def tool(self, name: str) -> Tool:
        """The tool called ``name``; ``KeyError`` naming the workload if there is none."""
        for tool in self.tools:
            if tool.name == name:
                return tool
        raise KeyError(f"workload {self.name!r} has no tool {name!r}")


def peak_rss_kib() -> int | None:
    """The peak resident set size of this process so far, in KiB (``None`` where unknown).

    On Linux this is ``VmHWM``, the high-water mark of the current process image: ``ru_maxrss`` survives
    fork and exec, so a child would start with its parent's peak (the harness's, hundreds of MiB).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    if resource is None:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # macOS reports bytes, Linux and the BSDs KiB.
    return peak // 1024 if sys.platform == "darwin" else peak


def payload(seed: str, index: int, size: int) -> bytes:
    """Deterministic pseudo-random bytes, so a child can check a payload without receiving it."""
    return random.Random(f"{seed}:{index}").randbytes(size)


def document(index: int) -> dict[str, Any]:
    """A small JSON document (about 200 bytes), different for every ``index``."""
    rng = random.Random(f"document:{index}")
    return {
        "id": index,
        "name": f"run-{index:05d}",
        "accuracy": round(rng.random(), 6),
        "epochs": rng.randrange(1, 500),
        "tags": [f"tag{rng.randrange(100)}" for _ in range(3)],
        "params": {"lr": round(rng.uniform(1e-5, 1e-1), 8), "batch": rng.choice([16, 32, 64, 128])},
    }


def sha256_file(path: str | Path) -> str:
    """The hex SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def expect(what: str, got: object, expected: object) -> None:
    """Raise :class:`VerificationError` naming ``what`` unless ``got == expected``."""
    if got != expected:
        got_text, expected_text = _short(got), _short(expected)
        raise VerificationError(f"{what}: got {got_text}, expected {expected_text}")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _run(spec: Mapping[str, Any]) -> dict[str, Any]:
    module = importlib.import_module(spec["module"])
    workloads: tuple[Workload, ...] = module.WORKLOADS
    workload = next(w for w in workloads if w.name == spec["workload"])
    tool = workload.tool(spec["tool"])
    server = ServerInfo(**spec["server"])
    context = RunContext(
        server=server,
        bucket=spec["bucket"],
        params=spec["params"],
        scratch=Path(spec["scratch"]),
        run_prefix=spec["run_prefix"],
    )
    outcome: dict[str, Any] = {"status": "ok", "message": None}
    try:
        tool.run(context)
        if context.seconds is None:
            outcome = {"status": "error", "message": "the tool never entered its timed section"}
    except VerificationError as error:
        outcome = {"status": "wrong", "message": str(error)}
    except Exception as error:
        # A competitor's exception may embed a request URL but never credentials; trimmed for the table.
        message = f"{type(error).__name__}: {error}"
        outcome = {"status": "error", "message": message[:_OUTCOME_ERROR_LIMIT]}
        traceback.print_exc()
    outcome["seconds"] = context.seconds
    outcome["rss_baseline_kib"] = context.rss_baseline_kib
    outcome["rss_peak_kib"] = peak_rss_kib()
    return outcome


def main() -> int:
    """Run the tool described by the JSON spec on stdin and write its outcome to ``spec['result_path']``."""
    spec = json.load(sys.stdin)
    outcome = _run(spec)
    Path(spec["result_path"]).write_text(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    # Run the copy imported as ``benches.worker``: the workload modules raise its VerificationError,
    # which ``except`` clauses of this ``__main__`` copy would not recognise.
    from benches.worker import main as worker_main

    sys.exit(worker_main())
