"""``python -m autostore.testing``: run a local S3 server in the foreground and print its keys."""

from __future__ import annotations

import argparse
import signal
import sys
import types
from collections.abc import Iterator, Sequence

from autostore.testing.server import LocalS3Server, _log_tail


def _banner_lines(server: LocalS3Server, buckets: Sequence[str]) -> Iterator[str]:
    yield f"SeaweedFS S3 server running (pid {server.pid}), data in {server.data_dir}"
    if buckets:
        yield f"buckets: {', '.join(buckets)}"
    for name, value in server.aws_env().items():
        yield f"export {name}={value}"
    yield "Press Ctrl+C to stop."


def _raise_keyboard_interrupt(signum: int, frame: types.FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run a :class:`LocalS3Server` in the foreground until Ctrl+C or SIGTERM; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m autostore.testing",
        description="Run a local SeaweedFS S3 server and print its endpoint and credentials.",
    )
    parser.add_argument("--port", type=int, help="S3 port (default: a free one)")
    parser.add_argument("--bucket", action="append", default=[], help="create this bucket (repeatable)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        with LocalS3Server(port=args.port) as server:
            for bucket in args.bucket:
                server.create_bucket(bucket)
            for line in _banner_lines(server, args.bucket):
                print(line, flush=True)
            exit_code = server.wait()
            print(f"the server exited on its own with code {exit_code}:", flush=True)
            print(_log_tail(server.log_path), flush=True)
            return 1
    except KeyboardInterrupt:
        print("stopped", flush=True)
        return 0


if __name__ == "__main__":
    sys.exit(main())
