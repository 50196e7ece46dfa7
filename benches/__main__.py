"""``python -m benches``: run the benchmarks and write the table, JSON and chart to benches/results/.

Examples::

    python -m benches                      # the default suite, 3 interleaved rounds (several minutes)
    python -m benches --large              # also the 1 GiB transfers
    python -m benches --only listing glob-recursive --rounds 5
    python -m benches --quick --out /tmp/bench   # a smoke run with tiny sizes, well under a minute

The exit status is 0 when every AutoStore run succeeded and was verified, 1 when one failed (a
competitor failing is a result, shown in the table), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from benches.harness import BenchConfig, all_workloads, run_benchmarks, select_workloads
from benches.report import write_report
from benches.worker import AUTOSTORE


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benches",
        description="Benchmark AutoStore against obstore, boto3, s3fs, cloudpathlib, polars and the "
        "original autostore on a local S3 server.",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        default=[],
        help="run only these workloads or families (see --list)",
    )
    parser.add_argument(
        "--rounds", type=_positive, help="interleaved rounds per workload (default 3; 1 with --quick)"
    )
    parser.add_argument("--large", action="store_true", help="also run the 1 GiB transfers")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and one round: a smoke test")
    parser.add_argument(
        "--out",
        type=Path,
        default=BenchConfig.out_dir,
        help=f"where to write the results (default {BenchConfig.out_dir})",
    )
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, run the benchmarks, write and print the report; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.list:
        for module, workload in all_workloads():
            suffix = " (--large)" if workload.large_only else ""
            print(f"{module.rsplit('.', 1)[1]:10} {workload.name}{suffix}")
        return 0
    rounds = args.rounds if args.rounds is not None else 1 if args.quick else 3
    config = BenchConfig(
        rounds=rounds, quick=args.quick, large=args.large, only=tuple(args.only), out_dir=args.out
    )
    try:
        select_workloads(config.only, large=config.large)
    except ValueError as error:
        parser.error(str(error))
    results = run_benchmarks(config)
    markdown = write_report(results, config.out_dir)
    print(markdown)
    print(f"written to {config.out_dir}", file=sys.stderr)
    failed = [
        f"{workload.name}: {runs.failure}"
        for workload in results.workloads
        for runs in workload.tools
        if runs.tool == AUTOSTORE and runs.failure
    ]
    for failure in failed:
        print(f"AutoStore failed on {failure}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
