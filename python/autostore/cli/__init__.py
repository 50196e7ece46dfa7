"""The ``autostore`` command: copy, list, sync and inspect local files and S3-compatible objects.

Run ``autostore --help`` for the commands. Every byte of a transfer moves inside the Rust core
(``copy_between`` for one object, ``copy_many`` for trees, ``delete_many`` for removals), with the GIL
released; this package only parses arguments, lists, decides what to copy and reports.

Choices:

* **argparse** (standard library) rather than click or typer: no dependency to install or keep
  compatible, and a fast start. The parser module imports nothing else and each command's module is
  imported only when that command runs, so ``autostore --help`` costs little more than ``import
  autostore`` itself.
* **tqdm** for progress bars: already a dependency of the library, light to import (only when a bar
  is shown), and it handles rates, ETAs, unknown totals and terminal widths. Bars go to stderr and
  appear only on a terminal, only for transfers that last more than half a second.

Modules: :mod:`~autostore.cli.parser` (arguments), :mod:`~autostore.cli.config` (TOML config and
flags), :mod:`~autostore.cli.output` (text, JSON Lines, bars), :mod:`~autostore.cli.targets` (operands
to store locations), and one module per command group: :mod:`~autostore.cli.listing` (ls, glob, stat,
cat), :mod:`~autostore.cli.transfer` (cp, mv, sync), :mod:`~autostore.cli.remove` (rm),
:mod:`~autostore.cli.admin` (cache, backends).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from autostore.cli.session import Session

__all__ = ["EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "main"]

EXIT_OK = 0
EXIT_FAILURE = 1
"""An operation failed; for many items, at least one failed and the others were still done."""
EXIT_USAGE = 2
"""Bad arguments, URI or configuration, or a refused confirmation off a terminal."""
EXIT_INTERRUPTED = 130
"""Ctrl-C (128 + SIGINT, as shells report it)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default: ``sys.argv[1:]``) and return its exit status."""
    from autostore.cli.parser import build_parser

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        # argparse exits on --help (0) and on usage errors (2, message already printed).
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    if args.version:
        from autostore import __version__

        print(f"autostore {__version__}")
        return EXIT_OK
    if not hasattr(args, "command"):
        parser.print_usage(sys.stderr)
        print("autostore: error: a command is required (see autostore --help)", file=sys.stderr)
        return EXIT_USAGE
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    """Load the configuration, run the chosen command, and turn its errors into exit statuses."""
    from autostore.cli.config import load_config
    from autostore.cli.output import Output
    from autostore.cli.session import Session
    from autostore.exceptions import AutoStoreError, InvalidConfigError, InvalidKeyError

    output = Output(json_mode=getattr(args, "json", False), quiet=getattr(args, "quiet", False))
    try:
        warnings: list[str] = []
        config = load_config(
            getattr(args, "config", None),
            endpoint_url=getattr(args, "endpoint_url", None),
            profile=getattr(args, "profile", None),
            region=getattr(args, "region", None),
            warnings=warnings,
        )
        for warning in warnings:
            output.warning(warning)
        command = _command(args.command)
        return command(args, Session(config, output))
    except KeyboardInterrupt:
        output.error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of stdout (`| head`) stopped reading: not a failure of the command. Pointing
        # stdout at devnull keeps the interpreter's final flush from raising again.
        _silence_stdout()
        return EXIT_OK
    except (InvalidConfigError, InvalidKeyError) as error:
        output.error(str(error))
        return EXIT_USAGE
    except (AutoStoreError, OSError) as error:
        output.error(str(error))
        return EXIT_FAILURE


def _command(target: str) -> Callable[[argparse.Namespace, Session], int]:
    """Import the ``"module:function"`` that runs a subcommand."""
    import importlib

    module_name, _, function_name = target.partition(":")
    function: Callable[[argparse.Namespace, Session], int] = getattr(
        importlib.import_module(module_name), function_name
    )
    return function


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        # stdout has no file descriptor (an in-process test's capture): nothing will flush to a pipe.
        return
