"""Sustained mixed load: 64 threads sharing one AutoStore and 4 processes sharing its root (and its
cache) write, read, list and delete one key set; every value read and every final value is complete,
nothing deadlocks, and the RSS of the process stays flat."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import pytest
from concurrency_support import (
    StoreSpec,
    WorkloadReport,
    check_record,
    merge_reports,
    mixed_worker,
    rss_bytes,
    run_workload_process,
)

RUN_SECONDS = 10.0
"""Length of the mixed run for each store kind (split in two halves for the memory check)."""
THREADS = 64
PROCESSES = 4
THREADS_PER_PROCESS = 2
KEYS = [f"load/k{index:02d}" for index in range(24)]
RSS_GROWTH_LIMIT = 64 * 1024 * 1024
JOIN_TIMEOUT_SECONDS = 120.0


@pytest.fixture(params=["local", "s3-cached"])
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSpec:
    if request.param == "local":
        return StoreSpec(str(tmp_path / "root"))
    bucket = request.getfixturevalue("s3_bucket")
    options = {
        **request.getfixturevalue("s3_options"),
        "cache_enabled": True,
        "cache_dir": str(tmp_path / "cache"),
    }
    return StoreSpec(f"s3://{bucket}/shared", options)


def test_mixed_load_keeps_every_value_complete(spec: StoreSpec) -> None:
    store = spec.open()
    stop = threading.Event()
    reports = [WorkloadReport() for _ in range(THREADS)]
    threads = [
        threading.Thread(target=mixed_worker, args=(store, writer, KEYS, stop, reports[writer]))
        for writer in range(THREADS)
    ]
    context = multiprocessing.get_context("spawn")
    with context.Pool(PROCESSES) as pool:
        pending = [
            pool.apply_async(
                run_workload_process,
                (spec, [1000 + 100 * process + t for t in range(THREADS_PER_PROCESS)], KEYS, RUN_SECONDS),
            )
            for process in range(PROCESSES)
        ]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(RUN_SECONDS / 2)
        rss_half = rss_bytes()
        time.sleep(RUN_SECONDS / 2)
        rss_end = rss_bytes()
        stop.set()
        for thread in threads:
            thread.join(JOIN_TIMEOUT_SECONDS)
        assert not any(thread.is_alive() for thread in threads), "a worker thread deadlocked"
        children = [result.get(JOIN_TIMEOUT_SECONDS) for result in pending]
        elapsed = time.monotonic() - began

    report = merge_reports(reports + children)
    print(
        f"\n{spec.uri}: {report.operations} operations in {elapsed:.1f} s "
        f"({report.operations / elapsed:.0f}/s); RSS {rss_half / 2**20:.0f} -> {rss_end / 2**20:.0f} MiB"
    )
    assert report.errors == [], "\n".join(sorted(set(report.errors))[:20])
    assert rss_end - rss_half < RSS_GROWTH_LIMIT

    truth_store = spec.open_uncached()
    for key in KEYS:
        try:
            truth = truth_store[key]
        except KeyError:
            continue
        assert check_record(truth) in report.written.get(key, set()), f"{key} holds a value nobody wrote"
        if spec.cached:
            assert spec.open()[key] == truth, f"the cache disagrees with the server on {key}"
    assert set(truth_store.keys()) <= set(KEYS)
