"""The benchmark run: one local S3 server, generated data, interleaved rounds, verified results.

For each selected workload the harness seeds the server (``Workload.prepare``), then runs every tool
once per round, rotating the order (A B C, B C A, C A B, ...) so that drift in the machine's load and
the server's background work spread over all tools alike. Each run is a fresh child process
(:mod:`benches.worker`) timed around the work alone; objects a run wrote are verified here with the
Rust core and deleted before the next run.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from autostore.testing import LocalS3Server, find_weed
from benches.clients import BATCH_CONCURRENCY, MAX_CONCURRENCY, MULTIPART_CHUNKSIZE, MULTIPART_THRESHOLD
from benches.worker import AUTOSTORE, ORIGINAL, ServerInfo, VerificationError, Workload

__all__ = [
    "FAMILIES",
    "FULL",
    "QUICK",
    "BenchConfig",
    "BenchEnv",
    "BenchResults",
    "Scale",
    "ToolRuns",
    "WorkloadResult",
    "all_workloads",
    "run_benchmarks",
    "run_tool",
    "select_workloads",
]

BENCHES_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCHES_DIR.parent
ORIGINAL_VENV = BENCHES_DIR / ".venv-original"
ORIGINAL_REQUIREMENTS = ("autostore[s3]==0.1.18", "polars")
FAMILIES = ("transfers", "small", "listing", "mapping", "cache", "dataset", "cli")
"""The workload modules of this package, in the order their workloads run and appear in the table."""

_KIB = 1024
_MIB = 1024 * _KIB
_GIB = 1024 * _MIB
_OUTPUT_TAIL = 1500
_INSTALL_TIMEOUT = 900.0
_STARTED = time.monotonic()


@dataclass(frozen=True)
class Scale:
    """The sizes of every workload; :data:`FULL` is the issue's, :data:`QUICK` a smoke test's."""

    transfer_bytes: int
    large_transfer_bytes: int
    small_count: int
    small_size: int
    tree_prefixes: int
    tree_keys_per_prefix: int
    documents: int
    cache_bytes: int
    cache_reads: int
    cache_small_count: int
    dataset_files: int
    dataset_rows_per_file: int
    cli_files: int
    run_timeout: float
    """Seconds one tool run may take before it is killed and reported as failed."""

    def labels(self) -> dict[str, str]:
        """The human-readable sizes that fill the ``{placeholders}`` of workload titles."""
        dataset_bytes = self.dataset_files * self.dataset_rows_per_file * 16
        return {
            "transfer": _size(self.transfer_bytes),
            "large": _size(self.large_transfer_bytes),
            "small": f"{self.small_count:,} x {_size(self.small_size)}",
            "tree": f"{self.tree_prefixes * self.tree_keys_per_prefix:,} keys",
            "documents": f"{self.documents:,}",
            "cache": f"{_size(self.cache_bytes)} x {self.cache_reads}",
            "cache_small": f"{self.cache_small_count:,} x {_size(self.small_size)}",
            "dataset": f"{self.dataset_files} files, {dataset_bytes / 1e6:.3g} MB",
            "cli": f"{self.cli_files:,} files",
        }


FULL = Scale(
    transfer_bytes=256 * _MIB,
    large_transfer_bytes=_GIB,
    small_count=1000,
    small_size=4 * _KIB,
    tree_prefixes=100,
    tree_keys_per_prefix=100,
    documents=1000,
    cache_bytes=64 * _MIB,
    cache_reads=10,
    cache_small_count=1000,
    dataset_files=50,
    dataset_rows_per_file=250_000,
    cli_files=1000,
    run_timeout=900.0,
)
QUICK = Scale(
    transfer_bytes=8 * _MIB,
    large_transfer_bytes=16 * _MIB,
    small_count=40,
    small_size=4 * _KIB,
    tree_prefixes=8,
    tree_keys_per_prefix=10,
    documents=40,
    cache_bytes=2 * _MIB,
    cache_reads=3,
    cache_small_count=40,
    dataset_files=5,
    dataset_rows_per_file=2000,
    cli_files=40,
    run_timeout=90.0,
)


def _size(count: int) -> str:
    for unit, factor in (("GiB", _GIB), ("MiB", _MIB), ("KiB", _KIB)):
        if count >= factor and count % factor == 0:
            return f"{count // factor} {unit}"
    return f"{count} B"


@dataclass(frozen=True)
class BenchConfig:
    """What one ``python -m benches`` invocation asked for."""

    rounds: int = 3
    quick: bool = False
    large: bool = False
    only: tuple[str, ...] = ()
    out_dir: Path = BENCHES_DIR / "results"

    @property
    def scale(self) -> Scale:
        """The sizes this run uses."""
        return QUICK if self.quick else FULL

    @property
    def jobs(self) -> int:
        """How many tools of one round run at once: one, except in a quick smoke run.

        A smoke run's times mean nothing, and running its tools side by side keeps it well under a
        minute on two cores; measured runs never overlap.
        """
        return max(2, os.cpu_count() or 1) if self.quick else 1


class BenchEnv:
    """What ``prepare`` and ``check_written`` functions get: the server, the sizes, a data directory.

    Attributes:
        server: the running local S3 server.
        info: its endpoint and credentials as the children receive them.
        scale: the sizes of this run.
        data_dir: a directory for generated local data, removed at the end of the run.
    """

    def __init__(self, server: LocalS3Server, scale: Scale, data_dir: Path) -> None:
        """Wrap a started server; buckets are created on first use."""
        self.server = server
        self.info = ServerInfo(
            endpoint_url=server.endpoint_url,
            access_key_id=server.access_key_id,
            secret_access_key=server.secret_access_key,
            region=server.region,
        )
        self.scale = scale
        self.data_dir = data_dir
        self._buckets: set[str] = set()
        self._stores: dict[str, Any] = {}
        self._memo: dict[str, Any] = {}

    def store(self, bucket: str) -> Any:
        """The core store of ``bucket`` (created on the server if needed), for seeding and checking."""
        from benches.clients import core_store

        if bucket not in self._buckets:
            self.server.create_bucket(bucket)
            self._buckets.add(bucket)
        if bucket not in self._stores:
            self._stores[bucket] = core_store(self.info, bucket)
        return self._stores[bucket]

    def once(self, key: str, make: Callable[[], Any]) -> Any:
        """``make()`` the first time ``key`` is asked for, its remembered result afterwards.

        Workloads of one family share their seeded data through this (the tree of the listing and
        both glob workloads, say).
        """
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]


@dataclass
class ToolRuns:
    """Every run of one tool on one workload.

    Attributes:
        tool: the tool's name.
        seconds: the timed section of each successful run.
        rss_peak_kib: each run's peak RSS.
        rss_baseline_kib: each run's peak RSS when its timed section began.
        failure: why the tool failed (``wrong result: ...`` or ``error: ...``); set, it disqualifies
            the tool for this workload and no further rounds run.
        skipped: why the tool did not run at all (not installed here, say).
    """

    tool: str
    seconds: list[float] = field(default_factory=list)
    rss_peak_kib: list[int] = field(default_factory=list)
    rss_baseline_kib: list[int] = field(default_factory=list)
    failure: str | None = None
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the tool ran every round and every result was verified."""
        return self.failure is None and self.skipped is None and bool(self.seconds)

    @property
    def median(self) -> float | None:
        """The median time of the verified runs."""
        return statistics.median(self.seconds) if self.ok else None


@dataclass
class WorkloadResult:
    """The results of one workload, or why it was left out."""

    name: str
    title: str
    tags: list[str]
    measure_rss: bool
    note: str
    tools: list[ToolRuns] = field(default_factory=list)
    left_out: str | None = None

    def runs_of(self, tool: str) -> ToolRuns | None:
        """The runs of ``tool``, if it took part."""
        return next((runs for runs in self.tools if runs.tool == tool), None)

    def ratio(self, tool: str) -> float | None:
        """``tool``'s median time over AutoStore's (> 1: AutoStore is faster), when both verified."""
        baseline, other = self.runs_of(AUTOSTORE), self.runs_of(tool)
        if baseline is None or other is None or baseline.median is None or other.median is None:
            return None
        return other.median / baseline.median


@dataclass
class BenchResults:
    """A whole run: environment, settings, every workload's results and general notes."""

    environment: dict[str, Any]
    settings: dict[str, Any]
    workloads: list[WorkloadResult]
    notes: list[str]

    def to_json(self) -> str:
        """The results as JSON (what ``results.json`` holds)."""
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> BenchResults:
        """Results read back from :meth:`to_json`'s output (to render a report again, say)."""
        data = json.loads(text)
        workloads = []
        for workload in data["workloads"]:
            tools = [ToolRuns(**runs) for runs in workload["tools"]]
            workloads.append(WorkloadResult(**{**workload, "tools": tools}))
        return cls(
            environment=data["environment"],
            settings=data["settings"],
            workloads=workloads,
            notes=data["notes"],
        )


def all_workloads() -> list[tuple[str, Workload]]:
    """Every workload of every family, as ``(module name, workload)``, in table order."""
    found = []
    for family in FAMILIES:
        module_name = f"benches.{family}"
        module = importlib.import_module(module_name)
        found.extend((module_name, workload) for workload in module.WORKLOADS)
    return found


def select_workloads(only: Sequence[str], *, large: bool) -> list[tuple[str, Workload]]:
    """The workloads ``--only`` names (workload or family names; all when empty).

    1 GiB variants run only with ``large``, unless named explicitly.

    Raises:
        ValueError: a name matches no workload or family; the message lists the valid names.
    """
    workloads = all_workloads()
    if not only:
        return [(module, w) for module, w in workloads if large or not w.large_only]
    known = {w.name for _, w in workloads} | set(FAMILIES)
    unknown = [name for name in only if name not in known]
    if unknown:
        raise ValueError(
            f"unknown workload or family {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    wanted = set(only)
    return [
        (module, w)
        for module, w in workloads
        if w.name in wanted or (module.rsplit(".", 1)[1] in wanted and (large or not w.large_only))
    ]


def library_features() -> dict[str, bool]:
    """Which parts of this project's library exist yet (workloads needing a missing one are left out)."""
    core = _import_or_none("autostore._core")
    package = _import_or_none("autostore")
    store_class = _attribute_or_none(package, "AutoStore")
    return {
        "core": core is not None,
        "AutoStore": store_class is not None,
        "AutoStore.batches": store_class is not None and hasattr(store_class, "get_many"),
        "AutoPath": _attribute_or_none(package, "AutoPath") is not None,
        "cache": store_class is not None and hasattr(core, "Cache"),
        "cli": _cli_copy_available(),
    }


def _cli_copy_available() -> bool:
    """Whether the ``autostore`` command is installed and the module running its ``cp`` exists.

    The CLI's parser names the ``module:function`` of each subcommand and imports it only when the
    command runs, so the parser alone existing does not mean ``cp`` works yet.
    """
    parser_module = _import_or_none("autostore.cli.parser")
    if parser_module is None or _console_script("autostore") is None:
        return False
    try:
        target = parser_module.build_parser().parse_args(["cp", "source", "destination"]).command
    except (AttributeError, SystemExit):
        return False
    module_name, _, function = str(target).partition(":")
    module = _import_or_none(module_name)
    return module is not None and hasattr(module, function)


def _import_or_none(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _attribute_or_none(module: Any, name: str) -> Any:
    # The package imports some names lazily, so a half-built library raises ImportError here.
    try:
        return getattr(module, name, None)
    except ImportError:
        return None


def _console_script(name: str) -> Path | None:
    """A console script of this environment (the venv's bin dir first), else one on ``PATH``."""
    suffix = ".exe" if os.name == "nt" else ""
    candidate = Path(sys.executable).parent / f"{name}{suffix}"
    if candidate.is_file():
        return candidate
    found = shutil.which(name)
    return Path(found) if found else None


def _original_python(*, create: bool) -> tuple[Path | None, str | None]:
    """The interpreter of the virtualenv holding ``autostore==0.1.18``, creating it if allowed.

    Returns ``(python, None)`` when usable, else ``(None, why)``.
    """
    bin_dir = ORIGINAL_VENV / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / ("python.exe" if os.name == "nt" else "python")
    marker = ORIGINAL_VENV / ".ready"
    if marker.is_file() and python.is_file():
        return python, None
    if not create:
        return None, (
            f"{ORIGINAL} skipped: --quick never creates {ORIGINAL_VENV.name} (a full run does, once)"
        )
    shutil.rmtree(ORIGINAL_VENV, ignore_errors=True)
    _log(f"creating {ORIGINAL_VENV} with {', '.join(ORIGINAL_REQUIREMENTS)} (first run only)")
    steps = (
        [sys.executable, "-m", "venv", str(ORIGINAL_VENV)],
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *ORIGINAL_REQUIREMENTS,
        ],
        [
            str(python),
            "-c",
            "import autostore; assert autostore.__version__ == '0.1.18', autostore.__version__",
        ],
    )
    for step in steps:
        try:
            completed = subprocess.run(
                step, check=False, capture_output=True, text=True, timeout=_INSTALL_TIMEOUT
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            return None, f"{ORIGINAL} skipped: `{' '.join(step[:4])}` failed ({error})"
        if completed.returncode != 0:
            tail = (completed.stderr or completed.stdout).strip()[-400:]
            return None, f"{ORIGINAL} skipped: `{' '.join(step[:4])}` exited {completed.returncode}: {tail}"
    marker.write_text("autostore==0.1.18\n")
    return python, None


def _child_env(scratch: Path) -> dict[str, str]:
    """The environment of a child run: this repo importable, no user AWS config, no metadata probing.

    Temporary files go to the run's scratch directory, which is removed afterwards: autostore 0.1.18
    leaves a ``autostore_temp_*`` directory behind in the system temp dir on every run.
    """
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "S3_"))}
    for variable in ("TMPDIR", "TEMP", "TMP"):
        env[variable] = str(scratch)
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["AWS_CONFIG_FILE"] = str(scratch / "no-aws-config")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(scratch / "no-aws-credentials")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_tool(python: str | Path, spec: Mapping[str, Any], *, scratch: Path, timeout: float) -> dict[str, Any]:
    """Run one tool in a fresh child process and return its outcome.

    ``spec`` is what :func:`benches.worker.main` reads (without ``scratch`` and ``result_path``, which
    are added here). The outcome has ``status`` (``ok``, ``wrong`` or ``error``), ``message``,
    ``seconds``, ``rss_baseline_kib`` and ``rss_peak_kib``. A child that crashes, hangs past
    ``timeout`` or writes no outcome yields an ``error`` outcome, never an exception.
    """
    work_dir = scratch / "work"
    work_dir.mkdir(parents=True)
    result_path = scratch / "outcome.json"
    full_spec = {**spec, "scratch": str(work_dir), "result_path": str(result_path)}
    process = subprocess.Popen(
        [str(python), "-m", "benches.worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=work_dir,
        env=_child_env(scratch),
        # Its own session, so a timeout can stop the child and anything it started (a CLI, say).
        start_new_session=os.name != "nt",
    )
    try:
        output, _ = process.communicate(json.dumps(full_spec), timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_tree(process)
        process.communicate()
        return _error_outcome(f"timed out after {timeout:g} s")
    if not result_path.is_file():
        tail = output.strip()[-_OUTPUT_TAIL:]
        return _error_outcome(f"the child exited with code {process.returncode} and no outcome: {tail}")
    outcome: dict[str, Any] = json.loads(result_path.read_text())
    if outcome["status"] == "error" and output.strip():
        _log(f"    child output:\n{output.strip()[-_OUTPUT_TAIL:]}")
    return outcome


def _kill_tree(process: subprocess.Popen[str]) -> None:
    if os.name == "nt":
        process.kill()
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _error_outcome(message: str) -> dict[str, Any]:
    return {
        "status": "error",
        "message": message,
        "seconds": None,
        "rss_baseline_kib": None,
        "rss_peak_kib": None,
    }


def _log(message: str) -> None:
    elapsed = time.monotonic() - _STARTED
    print(f"{elapsed:7.1f} s  {message}", file=sys.stderr, flush=True)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


class _Runner:
    """Runs the selected workloads against one server and collects their results."""

    def __init__(self, config: BenchConfig, env: BenchEnv, scratch: Path) -> None:
        self.config = config
        self.env = env
        self.scratch = scratch
        self.features = library_features()
        self._interpreters: dict[str, tuple[Path | None, str | None]] = {"main": (Path(sys.executable), None)}

    def interpreter(self, name: str) -> tuple[Path | None, str | None]:
        """``(python, None)`` for a tool's interpreter (``main`` or ``original``), or ``(None, why not)``."""
        if name not in self._interpreters:
            if name != "original":
                raise ValueError(f"unknown interpreter {name!r} (expected 'main' or 'original')")
            self._interpreters[name] = _original_python(create=not self.config.quick)
        return self._interpreters[name]

    def run(self, module: str, workload: Workload) -> WorkloadResult:
        """Prepare ``workload`` and run its tools round by round; a failure never stops the run."""
        labels = self.env.scale.labels()
        result = WorkloadResult(
            name=workload.name,
            title=workload.title.format(**labels),
            tags=sorted(workload.tags),
            measure_rss=workload.measure_rss,
            note=workload.note,
        )
        missing = [feature for feature in workload.requires if not self.features.get(feature, False)]
        if missing:
            result.left_out = f"the AutoStore side is not built yet (needs {', '.join(missing)})"
            _log(f"[{workload.name}] left out: {result.left_out}")
            return result
        _log(f"[{workload.name}] preparing {result.title}")
        try:
            params = workload.prepare(self.env)
        except Exception as error:
            result.left_out = f"preparing the data failed: {type(error).__name__}: {error}"
            _log(f"[{workload.name}] {result.left_out}")
            return result
        bucket = params["bucket"]
        runnable = []
        for tool in workload.tools:
            runs = ToolRuns(tool=tool.name)
            result.tools.append(runs)
            python, why = self.interpreter(tool.interpreter)
            if why is None and tool.probe is not None:
                why = tool.probe()
            if python is None or why:
                runs.skipped = why or f"no interpreter for {tool.name}"
                continue
            runnable.append((tool, runs, python))
        for round_index in range(self.config.rounds):
            # Each round starts one tool later (A B C, B C A, C A B): no tool always runs right after
            # the server absorbed the previous round's writes and deletions.
            shift = round_index % len(runnable) if runnable else 0
            ordered = runnable[shift:] + runnable[:shift]
            pending = [(tool.name, runs, python) for tool, runs, python in ordered if runs.failure is None]

            def run_one(entry: tuple[str, ToolRuns, Path], round_index: int = round_index) -> None:
                tool_name, runs, python = entry
                self._run_once(
                    module,
                    workload,
                    params,
                    bucket,
                    tool_name,
                    runs=runs,
                    python=python,
                    round_index=round_index,
                )

            if self.config.jobs > 1:
                with ThreadPoolExecutor(max_workers=self.config.jobs) as pool:
                    list(pool.map(run_one, pending))
            else:
                for entry in pending:
                    run_one(entry)
        return result

    def _run_once(
        self,
        module: str,
        workload: Workload,
        params: Mapping[str, Any],
        bucket: str,
        tool_name: str,
        *,
        runs: ToolRuns,
        python: Path,
        round_index: int,
    ) -> None:
        run_name = f"{round_index + 1}-{_slug(tool_name)}"
        run_prefix = f"runs/{workload.name}/{run_name}/"
        scratch = Path(tempfile.mkdtemp(prefix=f"{workload.name}-{run_name}-", dir=self.scratch))
        spec = {
            "module": module,
            "workload": workload.name,
            "tool": tool_name,
            "server": asdict(self.env.info),
            "bucket": bucket,
            "params": params,
            "run_prefix": run_prefix,
        }
        started = time.monotonic()
        try:
            outcome = run_tool(python, spec, scratch=scratch, timeout=self.env.scale.run_timeout)
            if outcome["status"] == "ok" and workload.check_written is not None:
                outcome = self._check_written(workload.check_written, params, run_prefix, outcome)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            if workload.check_written is not None:
                self.env.store(bucket).delete_prefix(run_prefix.rstrip("/"))
        status = outcome["status"]
        if status == "ok":
            runs.seconds.append(outcome["seconds"])
            if outcome["rss_peak_kib"] is not None:
                runs.rss_peak_kib.append(outcome["rss_peak_kib"])
                runs.rss_baseline_kib.append(outcome["rss_baseline_kib"])
            shown = f"{outcome['seconds']:.3f} s"
        else:
            label = "wrong result" if status == "wrong" else "error"
            runs.failure = f"{label}: {outcome['message']}"
            shown = runs.failure
        total, wall = self.config.rounds, time.monotonic() - started
        _log(f"[{workload.name}] round {round_index + 1}/{total} {tool_name}: {shown} ({wall:.1f} s in all)")

    def _check_written(
        self,
        check: Callable[[BenchEnv, Mapping[str, Any], str], None],
        params: Mapping[str, Any],
        run_prefix: str,
        outcome: dict[str, Any],
    ) -> dict[str, Any]:
        """The run's outcome, turned into a wrong result when what it wrote is missing or different."""
        try:
            check(self.env, params, run_prefix)
        except VerificationError as error:
            return {**outcome, "status": "wrong", "message": str(error)}
        except Exception as error:
            return {**outcome, "status": "wrong", "message": f"checking what it wrote failed: {error}"}
        return outcome


def environment_info() -> dict[str, Any]:
    """Date, machine and the version of every tool, for the table's header."""
    distributions = (
        "autostore",
        "obstore",
        "boto3",
        "botocore",
        "s3transfer",
        "s3fs",
        "fsspec",
        "cloudpathlib",
        "polars",
        "matplotlib",
    )
    versions = {}
    for name in distributions:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    versions["SeaweedFS"] = _weed_version()
    # s5cmd has a `version` subcommand and answers --version with its usage text.
    for name, command, flag in (("aws cli", "aws", "--version"), ("s5cmd", "s5cmd", "version")):
        executable = _console_script(command)
        if executable is not None:
            versions[name] = _command_version(executable, flag)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gib": _memory_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": [round(value, 2) for value in load] if load else None,
        "versions": versions,
    }


def _weed_version() -> str:
    try:
        output = subprocess.run(
            [str(find_weed()), "version"], check=False, capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except Exception as error:
        return f"unknown ({type(error).__name__})"
    # "version 30GB 4.48 <commit> linux amd64" -> "4.48"
    parts = output.split()
    return parts[2] if len(parts) > 2 else output


def _command_version(executable: Path, flag: str) -> str:
    """What ``executable flag`` prints as its version: ``aws-cli/1.45.11 ...`` gives ``1.45.11``."""
    try:
        completed = subprocess.run(
            [str(executable), flag], check=False, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unknown ({type(error).__name__})"
    words = (completed.stdout or completed.stderr).split()
    if not words:
        return "unknown"
    return words[0].partition("/")[2] or (words[1] if len(words) > 1 else words[0])


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / _GIB, 1)
    except (ValueError, OSError, AttributeError):
        return None


@contextlib.contextmanager
def _bench_server() -> Iterator[LocalS3Server]:
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    with LocalS3Server() as server:
        yield server


def run_benchmarks(config: BenchConfig) -> BenchResults:
    """Run the selected workloads and return their results (the report is written by the caller).

    Raises:
        ValueError: ``config.only`` names an unknown workload.
        AutoStoreError: the local S3 server did not start.
    """
    selected = select_workloads(config.only, large=config.large)
    settings = {
        "rounds": config.rounds,
        "quick": config.quick,
        "large": config.large,
        "only": list(config.only),
        "scale": asdict(config.scale),
        "multipart_threshold": MULTIPART_THRESHOLD,
        "multipart_chunksize": MULTIPART_CHUNKSIZE,
        "max_concurrency": MAX_CONCURRENCY,
        "batch_concurrency": BATCH_CONCURRENCY,
    }
    environment = environment_info()
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="autostore-bench-"))
    try:
        with _bench_server() as server:
            data_dir = scratch / "data"
            data_dir.mkdir()
            env = BenchEnv(server, config.scale, data_dir)
            runner = _Runner(config, env, scratch)
            workloads = [runner.run(module, workload) for module, workload in selected]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    settings["duration_seconds"] = round(time.monotonic() - started, 1)
    return BenchResults(environment=environment, settings=settings, workloads=workloads, notes=[])
