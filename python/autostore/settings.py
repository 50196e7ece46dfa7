"""Environment configuration and logging helpers: :func:`config`, :func:`load_dotenv`, :func:`setup_logging`.

Every module of the package logs through ``logging.getLogger("autostore.<module>")``, so
:func:`setup_logging` (or any handler on the ``"autostore"`` logger) sees all of them.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["config", "load_dotenv", "setup_logging"]

logger = logging.getLogger("autostore.settings")


class _Missing:
    """Marks an absent ``default``: ``None`` is a legitimate default."""

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()

_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "off", "n", "f", ""})


def _parse_bool(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    # The value is not echoed: configuration variables often hold secrets.
    raise ValueError(
        f"environment variable {name} is not a boolean: expected one of 1/0, true/false, yes/no, on/off"
    )


def config(name: str, default: Any = _MISSING, cast: Callable[[str], Any] | None = None) -> Any:
    """The value of environment variable ``name`` (including those :func:`load_dotenv` loaded).

    ``cast`` converts the text (``cast=bool`` understands 1/0, true/false, yes/no, on/off, any case);
    a string ``default`` is cast too, any other default is returned as given. A missing variable
    without a default raises ``KeyError`` naming it; a failed cast raises ``ValueError`` naming it
    (never showing the value, which may be a secret).
    """
    raw = os.environ.get(name)
    if raw is None:
        if default is _MISSING:
            raise KeyError(f"environment variable {name} is not set (and config() was given no default)")
        if cast is None or not isinstance(default, str):
            return default
        raw = default
    if cast is None:
        return raw
    if cast is bool:
        return _parse_bool(name, raw)
    try:
        return cast(raw)
    except (ValueError, TypeError, ArithmeticError) as err:
        cast_name = getattr(cast, "__name__", repr(cast))
        raise ValueError(
            f"environment variable {name} cannot be converted with {cast_name}: {type(err).__name__}"
        ) from None


# KEY=VALUE, optionally after `export`; the key is what shells accept plus '.' and '-' as dotenv allows.
_LINE_START = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.\-]*)\s*=[ \t]*")
_DOUBLE_QUOTED_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


def _parse_dotenv(text: str, source: str) -> dict[str, str]:
    """Parse dotenv ``text``; malformed lines are skipped with a warning naming ``source`` and the line."""
    values: dict[str, str] = {}
    position, length = 0, len(text)
    while position < length:
        line_number = text.count("\n", 0, position) + 1
        line_end = text.find("\n", position)
        if line_end == -1:
            line_end = length
        line = text[position:line_end]
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            position = line_end + 1
            continue
        match = _LINE_START.match(text, position, line_end)
        if match is None:
            # The line is not quoted in the warning: it may hold a secret.
            logger.warning("%s:%d: not a KEY=VALUE line, skipped", source, line_number)
            position = line_end + 1
            continue
        key = match.group(1)
        value, position = _parse_value(text, match.end(), line_end, source, line_number)
        if value is None:
            continue
        values[key] = value
    return values


def _parse_value(
    text: str, start: int, line_end: int, source: str, line_number: int
) -> tuple[str | None, int]:
    """The value beginning at ``start`` and where the next line begins; ``None`` for a malformed value."""
    quote = text[start] if start < len(text) else ""
    if quote in ("'", '"'):
        # A quoted value may span lines; it ends at the next unescaped matching quote.
        chars: list[str] = []
        index = start + 1
        while index < len(text):
            char = text[index]
            if char == quote:
                break
            if quote == '"' and char == "\\" and index + 1 < len(text):
                following = text[index + 1]
                chars.append(_DOUBLE_QUOTED_ESCAPES.get(following, "\\" + following))
                index += 2
                continue
            chars.append(char)
            index += 1
        else:
            logger.warning("%s:%d: unterminated %s quote, rest of file skipped", source, line_number, quote)
            return None, len(text)
        rest_end = text.find("\n", index)
        rest_end = len(text) if rest_end == -1 else rest_end
        rest = text[index + 1 : rest_end].strip()
        if rest and not rest.startswith("#"):
            logger.warning("%s:%d: text after the closing quote, line skipped", source, line_number)
            return None, rest_end + 1
        return "".join(chars), rest_end + 1
    value = text[start:line_end]
    # An unquoted value ends at a comment: a '#' preceded by whitespace.
    comment = re.search(r"\s#", value)
    if comment:
        value = value[: comment.start()]
    return value.strip(), line_end + 1


def load_dotenv(path: str | os.PathLike[str] = ".env", override: bool = False) -> bool:
    """Load ``KEY=VALUE`` lines of a dotenv file into ``os.environ``.

    Understands ``export KEY=...``, single quotes (literal), double quotes (``\\n``, ``\\t``,
    ``\\"``, ``\\\\`` escapes; may span lines), ``#`` comments on their own line or after an unquoted
    value (``KEY=a #note``) and blank lines; no ``${VAR}`` expansion. Variables already set are kept
    unless ``override`` is true. Returns whether the file exists and defines at least one variable.
    """
    file_path = Path(path)
    try:
        text = file_path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        logger.debug("no dotenv file at %s", file_path)
        return False
    values = _parse_dotenv(text.replace("\r\n", "\n"), str(file_path))
    applied = 0
    for key, value in values.items():
        if override or key not in os.environ:
            os.environ[key] = value
            applied += 1
    logger.debug("loaded %d of %d variables from %s", applied, len(values), file_path)
    return bool(values)


_DEFAULT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _AutoStoreHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`setup_logging` installs; its class tells it apart from the user's handlers."""


def setup_logging(level: int | str = "INFO", fmt: str | None = None) -> logging.Logger:
    """Send the ``"autostore"`` logger's records at ``level`` and above to stderr, and return it.

    The handler is added to the ``"autostore"`` logger, not the root logger. Calling again changes
    the level and format of that one handler instead of adding another. ``level`` is a ``logging``
    level number or name (``"DEBUG"``, ``"info"``, ...); an unknown name raises ``ValueError``.
    """
    if isinstance(level, bool) or not isinstance(level, (int, str)):
        raise TypeError(f"setup_logging level must be an int or a level name, got {type(level).__name__}")
    if isinstance(level, str):
        numeric = logging.getLevelName(level.strip().upper())
        if not isinstance(numeric, int):
            raise ValueError(f"unknown logging level {level!r}; use DEBUG, INFO, WARNING, ERROR or CRITICAL")
        level = numeric
    package_logger = logging.getLogger("autostore")
    package_logger.setLevel(level)
    handler = next((h for h in package_logger.handlers if isinstance(h, _AutoStoreHandler)), None)
    if handler is None:
        handler = _AutoStoreHandler(sys.stderr)
        package_logger.addHandler(handler)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(fmt or _DEFAULT_FORMAT))
    return package_logger
