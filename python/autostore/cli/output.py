"""What the ``autostore`` command prints: human text or JSON Lines on stdout, errors on stderr, bars.

Human output is for reading; ``--json`` prints one JSON object per line (a listing prints one per
entry, every other command one summary object), so ``jq`` and ``json.loads`` per line both work.
Errors always go to stderr as text, prefixed with ``autostore:`` and naming the URI involved.

Progress bars are tqdm bars on stderr, shown only when stderr is a terminal and ``--quiet`` is off,
and only for transfers that last longer than :data:`BAR_DELAY_SECONDS` (a bar that flashes for a
few milliseconds is noise).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Any, BinaryIO, TextIO

__all__ = ["BAR_DELAY_SECONDS", "Output", "TransferProgress", "format_time", "human_size"]

BAR_DELAY_SECONDS = 0.5
"""A bar appears only once its transfer has run this long."""

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(size: int) -> str:
    """``1536`` -> ``"1.5 KiB"``: powers of 1024, one decimal below 10 units, none above."""
    value = float(size)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
        value /= 1024
    raise AssertionError("unreachable: the last unit always returns")


def format_time(moment: datetime) -> str:
    """A timestamp in the local time zone, to the second, as ``ls -l`` users read it."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


class Output:
    """Where and how one run of the command writes: text or JSON, quiet or not, bars or not."""

    def __init__(
        self,
        *,
        json_mode: bool = False,
        quiet: bool = False,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        """Write to ``stdout``/``stderr`` (the process's streams, looked up now, by default)."""
        self.json_mode = json_mode
        self.quiet = quiet
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr

    @property
    def binary_stdout(self) -> BinaryIO:
        """The byte stream under stdout, for ``cat``."""
        buffer: BinaryIO = self.stdout.buffer  # type: ignore[attr-defined]
        return buffer

    def text(self, line: str) -> None:
        """A line of human output (nothing in ``--json`` or ``--quiet`` mode)."""
        if not self.json_mode and not self.quiet:
            print(line, file=self.stdout)

    def listing(self, line: str) -> None:
        """A line of a listing's human output: the result itself, so ``--quiet`` keeps it."""
        if not self.json_mode:
            print(line, file=self.stdout)

    def record(self, record: dict[str, Any]) -> None:
        """One JSON object on its own line (``--json`` mode only)."""
        if self.json_mode:
            print(json.dumps(record, default=_json_default), file=self.stdout)

    def error(self, message: str) -> None:
        """An error on stderr, shown even with ``--quiet``."""
        print(f"autostore: {message}", file=self.stderr)

    def warning(self, message: str) -> None:
        """A warning on stderr, hidden by ``--quiet``."""
        if not self.quiet:
            print(f"autostore: warning: {message}", file=self.stderr)

    @property
    def bars_enabled(self) -> bool:
        """Whether transfers show a progress bar: stderr is a terminal and ``--quiet`` is off."""
        isatty = getattr(self.stderr, "isatty", None)
        return not self.quiet and callable(isatty) and bool(isatty())

    @contextlib.contextmanager
    def progress(self, description: str, total: int | None = None) -> Iterator[TransferProgress]:
        """A byte counter for one transfer (or one batch), passed to the Rust core as its callback.

        It always records what the core reports (the summary needs the byte count); it draws a tqdm
        bar only when :attr:`bars_enabled`. ``total`` is the batch size when the caller knows it from
        a listing; otherwise the total the core reports is used.
        """
        bar = None
        if self.bars_enabled:
            from tqdm import tqdm

            bar = tqdm(
                total=total,
                desc=description,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=self.stderr,
                delay=BAR_DELAY_SECONDS,
                leave=False,
                dynamic_ncols=True,
            )
        progress = TransferProgress(total, bar)
        try:
            yield progress
        finally:
            if bar is not None:
                bar.close()


class TransferProgress:
    """Bytes done and expected of a transfer, as last reported by the core; drives an optional bar."""

    def __init__(self, total: int | None, bar: Any = None) -> None:
        """Start at zero; ``bar`` is a tqdm bar to move along, or ``None``."""
        self.done = 0
        self.total = total
        self._bar = bar

    def __call__(self, done: int, total: int | None) -> None:
        """The core's callback: ``done`` bytes so far out of ``total`` (``None``: unknown)."""
        self.done = done
        if total is not None and self.total is None:
            self.total = total
            if self._bar is not None:
                self._bar.total = total
                self._bar.refresh()
        if self._bar is not None and done > self._bar.n:
            self._bar.update(done - self._bar.n)


def _json_default(value: object) -> object:
    """Datetimes as ISO 8601 (UTC as given by the core); anything else is a programming error."""
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialize {type(value).__name__} to JSON")
