"""What every command receives: the loaded configuration and the output it writes to."""

from __future__ import annotations

from dataclasses import dataclass

from autostore.cli.config import CliConfig
from autostore.cli.output import Output
from autostore.cli.targets import Target, resolve_target

__all__ = ["Session"]


@dataclass(frozen=True)
class Session:
    """One run of the command: configuration, output, and operand resolution under that configuration."""

    config: CliConfig
    output: Output

    def target(self, text: str) -> Target:
        """The operand ``text`` resolved under this run's configuration."""
        return resolve_target(text, self.config)
