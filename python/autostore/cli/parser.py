"""The argument parser of the ``autostore`` command.

This module imports nothing but :mod:`argparse`, so ``autostore --help`` never loads a command.
Each subcommand records in ``args.command`` the ``"module:function"`` that runs it; :func:`autostore.cli.main`
imports that module only when the command runs.
"""

from __future__ import annotations

import argparse

__all__ = ["build_parser"]

_EPILOG = """\
operands:
  s3://bucket/key, NAME://bucket/key for a scheme of the config file, file:///path, or a plain path.

configuration:
  --endpoint-url, --profile and --region configure s3:// URIs; otherwise the AWS environment
  variables (AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL, AWS_PROFILE, ...) and ~/.aws files are used.
  Named schemes (minio://...) come from a TOML file: --config FILE, $AUTOSTORE_CONFIG, or
  ~/.config/autostore/config.toml, e.g.

    [schemes.minio]
    endpoint_url = "http://127.0.0.1:9000"
    profile_name = "minio"

output:
  Text for people by default; --json prints JSON Lines (one object per listed entry, one summary
  object for other commands). Errors go to stderr. Progress bars appear on a terminal only.

exit status:
  0 success, 1 failure (for many items: at least one failed, the rest were done), 2 usage or
  configuration error, 130 interrupted (Ctrl-C; nothing partial is left behind).
"""

_SYNC_EPILOG = """\
An object is copied when it is missing from DST or its size differs. When both sides are S3 URIs on
the same endpoint, single-part ETags (content hashes) are compared too. Otherwise (local files,
different endpoints, multipart ETags) an object is copied when SRC was modified later than DST, to
the second. A second sync of unchanged trees copies nothing.
"""


def _common_options() -> argparse.ArgumentParser:
    """Options accepted before and after the subcommand: ``autostore --json ls`` = ``autostore ls --json``."""
    # SUPPRESS keeps a subcommand's unset option from overwriting the value given before it.
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("common options")
    group.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON Lines")
    group.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars or summaries"
    )
    group.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help="TOML config file")
    group.add_argument(
        "--endpoint-url", metavar="URL", default=argparse.SUPPRESS, help="S3 endpoint for s3:// URIs"
    )
    group.add_argument(
        "--profile", metavar="NAME", default=argparse.SUPPRESS, help="AWS profile for s3:// URIs"
    )
    group.add_argument("--region", metavar="NAME", default=argparse.SUPPRESS, help="region for s3:// URIs")
    return common


def _help_flag(parser: argparse.ArgumentParser) -> None:
    """``--help`` alone, for subcommands that give ``-h`` to ``--human-readable`` as ``ls`` does."""
    parser.add_argument("--help", action="help", help="show this help message and exit")


def build_parser() -> argparse.ArgumentParser:
    """The ``autostore`` parser with every subcommand."""
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="autostore",
        description="Copy, list and inspect files in local directories and S3-compatible object storage.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, target: str, help_text: str, **kwargs: object) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[common],
            formatter_class=argparse.RawDescriptionHelpFormatter,
            **kwargs,  # type: ignore[arg-type]
        )
        sub.set_defaults(command=target)
        return sub

    ls = command("ls", "autostore.cli.listing:run_ls", "list a directory or prefix", add_help=False)
    ls.add_argument("uri", nargs="?", default=".", help="directory, prefix or object (default: .)")
    ls.add_argument("-r", "--recursive", action="store_true", help="every object below, not one level")
    ls.add_argument("-l", "--long", action="store_true", help="show modification time and size")
    ls.add_argument("-h", "--human-readable", action="store_true", help="sizes as KiB, MiB, ... with -l")
    _help_flag(ls)

    glob = command(
        "glob", "autostore.cli.listing:run_glob", "list objects matching a pattern", add_help=False
    )
    glob.add_argument("pattern", help="e.g. 's3://bucket/data/**/*.parquet' (quote it from the shell)")
    glob.add_argument("-l", "--long", action="store_true", help="show modification time and size")
    glob.add_argument("-h", "--human-readable", action="store_true", help="sizes as KiB, MiB, ... with -l")
    _help_flag(glob)

    stat = command("stat", "autostore.cli.listing:run_stat", "show size, modification time and ETag")
    stat.add_argument("uris", nargs="+", metavar="URI")

    cat = command("cat", "autostore.cli.listing:run_cat", "write objects to stdout (binary-safe)")
    cat.add_argument("uris", nargs="+", metavar="URI")

    copy = command(
        "cp",
        "autostore.cli.transfer:run_cp",
        "copy a file or object, or a tree with -r, between any two backends",
        epilog="A DST ending in '/' (or an existing local directory) receives SRC under its own name.\n"
        "With -r, the files under SRC land under DST at their relative paths.",
    )
    copy.add_argument("source", metavar="SRC")
    copy.add_argument("destination", metavar="DST")
    copy.add_argument("-r", "--recursive", action="store_true", help="copy every object under SRC")

    move = command(
        "mv",
        "autostore.cli.transfer:run_mv",
        "move a file or object (or a tree with -r): copy, then delete what was copied",
    )
    move.add_argument("source", metavar="SRC")
    move.add_argument("destination", metavar="DST")
    move.add_argument("-r", "--recursive", action="store_true", help="move every object under SRC")

    remove = command("rm", "autostore.cli.remove:run_rm", "delete objects, or whole prefixes with -r")
    remove.add_argument("uris", nargs="+", metavar="URI")
    remove.add_argument("-r", "--recursive", action="store_true", help="delete every object under URI")
    remove.add_argument(
        "-y", "--yes", action="store_true", help="do not ask before deleting a prefix (needed off a terminal)"
    )

    sync = command(
        "sync",
        "autostore.cli.transfer:run_sync",
        "make DST hold what SRC holds, copying only what differs",
        epilog=_SYNC_EPILOG,
    )
    sync.add_argument("source", metavar="SRC")
    sync.add_argument("destination", metavar="DST")
    sync.add_argument("--delete", action="store_true", help="delete objects of DST that SRC does not have")
    sync.add_argument("-n", "--dry-run", action="store_true", help="show what would change, change nothing")

    cache = command("cache", "autostore.cli.admin:run_cache", "inspect or empty the local cache")
    cache.add_argument(
        "action", choices=("info", "clean", "clear"), help="info, clean (expired), clear (all)"
    )
    cache.add_argument("--cache-dir", metavar="DIR", help="cache root (default: config, then platform dir)")
    cache.add_argument(
        "--expiry-hours",
        type=float,
        metavar="HOURS",
        help="for clean: entries not validated this recently are removed (default: config, then 24)",
    )

    command("backends", "autostore.cli.admin:run_backends", "list URI schemes and their endpoints")
    return parser
