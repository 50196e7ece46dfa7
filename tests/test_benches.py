"""The benchmark harness in benches/: a quick smoke run end to end, and its parts without a server.

Nothing here asserts on a time: benchmarks are never timed assertions. The smoke run only checks that
every workload runs, that AutoStore's results are verified, and that the report is written.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# benches/ is a package at the repository root, not part of the installed library; pytest puts only
# tests/ on sys.path (pyproject's `pythonpath = ["."]` would make this line unnecessary).
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benches.harness import (  # noqa: E402
    BenchResults,
    ToolRuns,
    WorkloadResult,
    all_workloads,
    run_tool,
    select_workloads,
)
from benches.listing import ONE_LEVEL_PATTERN, RECURSIVE_PATTERN, tree_keys  # noqa: E402
from benches.report import render_markdown  # noqa: E402
from benches.worker import AUTOSTORE, ORIGINAL  # noqa: E402

# Generous: the run takes well under a minute, but the machine may be busy with other tests.
QUICK_RUN_TIMEOUT = 300


@pytest.mark.s3
def test_quick_run_measures_every_built_workload_and_writes_the_report(tmp_path: Path) -> None:
    """``python -m benches --quick`` runs every workload whose AutoStore side exists, verified."""
    completed = subprocess.run(
        [sys.executable, "-m", "benches", "--quick", "--out", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=QUICK_RUN_TIMEOUT,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    markdown = (tmp_path / "benchmarks.md").read_text()
    assert completed.stdout.strip() == markdown.strip()

    names = [workload["name"] for workload in results["workloads"]]
    assert names == [w.name for _, w in all_workloads() if not w.large_only]
    measured = [workload for workload in results["workloads"] if workload["left_out"] is None]
    assert {"upload", "download", "get-batch", "list", "glob-recursive"} <= {w["name"] for w in measured}
    for workload in results["workloads"]:
        if workload["left_out"] is not None:
            assert "not built yet" in workload["left_out"], workload
            continue
        runs = {tool["tool"]: tool for tool in workload["tools"]}
        autostore = runs[AUTOSTORE]
        assert autostore["failure"] is None, workload
        assert autostore["skipped"] is None, workload
        assert len(autostore["seconds"]) == 1
        assert autostore["seconds"][0] > 0
        assert f"| {workload['title']}" in markdown
        for tool in runs.values():
            # Each competitor ran and was verified, failed with a reason, or was skipped with one.
            assert tool["seconds"] or tool["failure"] or tool["skipped"], (workload["name"], tool)
        if workload["measure_rss"]:
            assert autostore["rss_peak_kib"][0] >= autostore["rss_baseline_kib"][0] > 0

    original = [runs for w in results["workloads"] for runs in w["tools"] if runs["tool"] == ORIGINAL]
    assert all(runs["skipped"] or runs["seconds"] or runs["failure"] for runs in original)
    assert results["settings"]["quick"] is True
    assert results["environment"]["versions"]["obstore"] != "not installed"
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "ratios.png").read_bytes().startswith(b"\x89PNG")
    else:
        assert "matplotlib is not installed" in markdown


FAKE_WORKLOADS = """
import os
from benches.worker import RunContext, Tool, VerificationError, Workload


def right(ctx: RunContext) -> None:
    with ctx.timed():
        value = sum(range(1000))
    if value != 499500:
        raise VerificationError("sum is wrong")


def wrong(ctx: RunContext) -> None:
    with ctx.timed():
        value = 41
    if value != 42:
        raise VerificationError(f"answer: got {value}, expected 42")


def crash(ctx: RunContext) -> None:
    raise RuntimeError(f"cannot reach {ctx.server.endpoint_url}")


def untimed(ctx: RunContext) -> None:
    return None


def dies(ctx: RunContext) -> None:
    os._exit(3)


def hangs(ctx: RunContext) -> None:
    import time

    time.sleep(60)


WORKLOADS = (
    Workload(
        name="fake",
        title="fake",
        prepare=lambda env: {"bucket": "unused"},
        tools=tuple(Tool(f.__name__, f) for f in (right, wrong, crash, untimed, dies, hangs)),
    ),
)
"""


@pytest.fixture
def fake_workloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workload module ``fake_workloads`` importable by child processes, and a scratch dir for runs."""
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "fake_workloads.py").write_text(textwrap.dedent(FAKE_WORKLOADS))
    monkeypatch.setenv("PYTHONPATH", str(modules))
    return tmp_path / "runs"


def _run_fake(scratch_root: Path, tool: str, timeout: float = 60) -> dict[str, object]:
    spec = {
        "module": "fake_workloads",
        "workload": "fake",
        "tool": tool,
        "server": {
            "endpoint_url": "http://127.0.0.1:9",
            "access_key_id": "AKFAKE",
            "secret_access_key": "not-a-secret-but-never-shown",
            "region": "us-east-1",
        },
        "bucket": "unused",
        "params": {},
        "run_prefix": "runs/fake/",
    }
    return run_tool(sys.executable, spec, scratch=scratch_root / tool, timeout=timeout)


def test_a_verified_run_reports_its_time_and_memory(fake_workloads: Path) -> None:
    outcome = _run_fake(fake_workloads, "right")
    assert outcome["status"] == "ok"
    assert isinstance(outcome["seconds"], float)
    assert outcome["seconds"] > 0
    if os.name != "nt":
        assert isinstance(outcome["rss_peak_kib"], int)
        assert outcome["rss_peak_kib"] > 0


def test_a_wrong_answer_is_a_failure_with_its_reason_not_a_time(fake_workloads: Path) -> None:
    outcome = _run_fake(fake_workloads, "wrong")
    assert outcome["status"] == "wrong"
    assert outcome["message"] == "answer: got 41, expected 42"


def test_an_exception_in_a_tool_is_reported_not_raised(fake_workloads: Path) -> None:
    outcome = _run_fake(fake_workloads, "crash")
    assert outcome["status"] == "error"
    assert outcome["message"] == "RuntimeError: cannot reach http://127.0.0.1:9"


def test_a_tool_that_never_times_its_work_is_an_error(fake_workloads: Path) -> None:
    outcome = _run_fake(fake_workloads, "untimed")
    assert outcome["status"] == "error"
    assert "timed section" in str(outcome["message"])


def test_a_child_that_dies_or_hangs_is_an_error_outcome(fake_workloads: Path) -> None:
    died = _run_fake(fake_workloads, "dies")
    assert died["status"] == "error"
    assert "exited with code 3" in str(died["message"])
    hung = _run_fake(fake_workloads, "hangs", timeout=3)
    assert hung["status"] == "error"
    assert hung["message"] == "timed out after 3 s"


def test_a_run_never_shows_the_secret(fake_workloads: Path) -> None:
    for tool in ("right", "wrong", "crash", "dies"):
        assert "never-shown" not in json.dumps(_run_fake(fake_workloads, tool))


def test_selection_by_workload_or_family_and_large_variants() -> None:
    default = [w.name for _, w in select_workloads([], large=False)]
    assert "upload" in default
    assert "upload-large" not in default
    assert "upload-large" in [w.name for _, w in select_workloads([], large=True)]
    assert [w.name for _, w in select_workloads(["listing"], large=False)] == [
        "list",
        "glob-recursive",
        "glob-one-level",
    ]
    assert [w.name for _, w in select_workloads(["upload-large", "list"], large=False)] == [
        "upload-large",
        "list",
    ]
    with pytest.raises(ValueError, match=r"unknown workload or family nope; known: .*glob-recursive"):
        select_workloads(["nope"], large=False)


def test_every_workload_starts_with_autostore_and_names_tools_once() -> None:
    for _, workload in all_workloads():
        names = [tool.name for tool in workload.tools]
        assert names[0] == AUTOSTORE, workload.name
        assert len(names) == len(set(names)), workload.name


def test_the_glob_patterns_select_different_key_sets() -> None:
    keys = tree_keys(3, 10)
    assert len(keys) == len(set(keys)) == 30
    recursive = [key for key in keys if key.endswith(".parquet")]
    one_level = [key for key in recursive if key.count("/") == 2]
    assert RECURSIVE_PATTERN == "tree/**/*.parquet"
    assert ONE_LEVEL_PATTERN == "tree/*/*.parquet"
    assert len(recursive) == 21
    assert len(one_level) == 15


def _results(*workloads: WorkloadResult) -> BenchResults:
    return BenchResults(
        environment={
            "date": "2026-01-01 00:00 UTC",
            "cores": 2,
            "cpu": "test cpu",
            "memory_gib": 4.0,
            "platform": "test",
            "python": "3.11.0",
            "load_average_at_start": None,
            "versions": {"obstore": "0.12.1"},
        },
        settings={
            "rounds": 3,
            "quick": False,
            "scale": {"transfer_bytes": 256 * 2**20},
            "multipart_threshold": 64 * 2**20,
            "multipart_chunksize": 16 * 2**20,
            "max_concurrency": 10,
            "batch_concurrency": 32,
            "duration_seconds": 1.0,
        },
        workloads=list(workloads),
        notes=[],
    )


def test_the_report_shows_ratios_failures_targets_and_left_out_workloads() -> None:
    download = WorkloadResult(
        name="download",
        title="download 256 MiB",
        tags=["large-transfer", "transfer"],
        measure_rss=True,
        note="",
        tools=[
            ToolRuns(
                AUTOSTORE, seconds=[1.0, 1.2, 1.1], rss_peak_kib=[60_000] * 3, rss_baseline_kib=[50_000] * 3
            ),
            ToolRuns("boto3", seconds=[1.4, 1.3, 1.5]),
            ToolRuns("obstore", failure="wrong result: SHA-256 of the download: got 'ab', expected 'cd'"),
            ToolRuns(ORIGINAL, skipped="autostore 0.1.18 skipped: no network"),
        ],
    )
    mapping = WorkloadResult(
        name="mapping-read", title="mapping read", tags=["mapping"], measure_rss=False, note="", left_out="x"
    )
    assert download.ratio("boto3") == pytest.approx(1.4 / 1.1)
    assert download.ratio("obstore") is None
    markdown = render_markdown(_results(download, mapping))

    row = next(line for line in markdown.splitlines() if line.startswith("| download 256 MiB |"))
    assert "1.10 s (1.00-1.20)" in row
    assert "1.40 s (1.30-1.50) **x1.27**" in row
    assert "✗ wrong result [1]" in row
    assert "skipped [2]" in row
    assert "1. obstore, download 256 MiB: wrong result: SHA-256 of the download" in markdown
    assert (
        "| at least 1.5x boto3 on large transfers (≥ x1.50) | download 256 MiB | x1.27 | **no** |" in markdown
    )
    assert "| download 256 MiB | AutoStore | 59 MiB | 10 MiB |" in markdown
    assert "- mapping read: left out, x." in markdown
