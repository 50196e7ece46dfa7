"""config(), load_dotenv() and setup_logging()."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from autostore.settings import config, load_dotenv, setup_logging

SECRET = "p@ss-w0rd-EXAMPLE"
PREFIX = "AUTOSTORE_TEST_"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Remove this module's test variables before the test; monkeypatch restores what it set."""
    for name in list(os.environ):
        if name.startswith(PREFIX):
            monkeypatch.delenv(name)
    yield monkeypatch
    # load_dotenv writes os.environ directly, outside monkeypatch's bookkeeping.
    for name in list(os.environ):
        if name.startswith(PREFIX):
            del os.environ[name]


# --- config ---------------------------------------------------------------------------------------


def test_config_reads_a_variable(env: pytest.MonkeyPatch) -> None:
    env.setenv(f"{PREFIX}NAME", "value")
    assert config(f"{PREFIX}NAME") == "value"


def test_config_missing_without_default_raises_key_error_naming_it(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(KeyError) as caught:
        config(f"{PREFIX}MISSING")
    assert f"environment variable {PREFIX}MISSING is not set" in str(caught.value)


def test_config_missing_returns_the_default_even_none(env: pytest.MonkeyPatch) -> None:
    assert config(f"{PREFIX}MISSING", default=None) is None
    assert config(f"{PREFIX}MISSING", default=5, cast=int) == 5
    assert config(f"{PREFIX}MISSING", "fallback") == "fallback"


def test_config_casts_a_string_default(env: pytest.MonkeyPatch) -> None:
    assert config(f"{PREFIX}MISSING", default="8080", cast=int) == 8080
    assert config(f"{PREFIX}MISSING", default="yes", cast=bool) is True


def test_config_casts_the_value(env: pytest.MonkeyPatch) -> None:
    env.setenv(f"{PREFIX}PORT", "9000")
    env.setenv(f"{PREFIX}RATIO", "0.25")
    env.setenv(f"{PREFIX}PRICE", "1.10")
    assert config(f"{PREFIX}PORT", cast=int) == 9000
    assert config(f"{PREFIX}RATIO", cast=float) == 0.25
    assert config(f"{PREFIX}PRICE", cast=Decimal) == Decimal("1.10")
    assert config(f"{PREFIX}PORT", cast=lambda text: text.split("0")) == ["9", "", "", ""]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", True),
        ("true", True),
        ("True", True),
        ("YES", True),
        ("on", True),
        (" yes ", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("off", False),
        ("", False),
    ],
)
def test_config_bool_cast(env: pytest.MonkeyPatch, text: str, expected: bool) -> None:
    env.setenv(f"{PREFIX}FLAG", text)
    assert config(f"{PREFIX}FLAG", cast=bool) is expected


def test_config_bool_cast_rejects_other_words_without_showing_the_value(env: pytest.MonkeyPatch) -> None:
    env.setenv(f"{PREFIX}FLAG", SECRET)
    with pytest.raises(ValueError, match=rf"environment variable {PREFIX}FLAG is not a boolean") as caught:
        config(f"{PREFIX}FLAG", cast=bool)
    assert SECRET not in str(caught.value)


def test_config_failed_cast_names_the_variable_but_not_the_value(env: pytest.MonkeyPatch) -> None:
    env.setenv(f"{PREFIX}PORT", SECRET)
    with pytest.raises(ValueError, match="cannot be converted") as caught:
        config(f"{PREFIX}PORT", cast=int)
    assert str(caught.value) == f"environment variable {PREFIX}PORT cannot be converted with int: ValueError"
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


# --- load_dotenv ----------------------------------------------------------------------------------


def _write(tmp_path: Path, text: str, name: str = ".env") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_load_dotenv_missing_file_returns_false(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert load_dotenv(tmp_path / "absent.env") is False


def test_load_dotenv_defaults_to_dot_env_in_the_working_directory(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _write(tmp_path, f"{PREFIX}CWD=here\n")
    env.chdir(tmp_path)
    assert load_dotenv() is True
    assert os.environ[f"{PREFIX}CWD"] == "here"


def test_load_dotenv_parses_every_supported_form(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        f"""# a comment line
   # an indented comment

{PREFIX}PLAIN=value
{PREFIX}SPACED = spaced value
export {PREFIX}EXPORTED=exported
{PREFIX}INLINE=before # a comment
{PREFIX}HASH=a#b
{PREFIX}SINGLE='literal \\n $HOME # kept'
{PREFIX}DOUBLE="line1\\nline2\\t\\"q\\" \\\\ # kept"  # comment after the quote
{PREFIX}EMPTY=
{PREFIX}EMPTY_QUOTED=""
{PREFIX}EQUALS=a=b=c
{PREFIX}MULTI="first
second"
{PREFIX}URL=postgres://user:pw@host:5432/db?x=1
{PREFIX}dotted.name-x=ok
""",
    )
    assert load_dotenv(path) is True
    assert os.environ[f"{PREFIX}PLAIN"] == "value"
    assert os.environ[f"{PREFIX}SPACED"] == "spaced value"
    assert os.environ[f"{PREFIX}EXPORTED"] == "exported"
    assert os.environ[f"{PREFIX}INLINE"] == "before"
    assert os.environ[f"{PREFIX}HASH"] == "a#b"
    assert os.environ[f"{PREFIX}SINGLE"] == "literal \\n $HOME # kept"
    assert os.environ[f"{PREFIX}DOUBLE"] == 'line1\nline2\t"q" \\ # kept'
    assert os.environ[f"{PREFIX}EMPTY"] == ""
    assert os.environ[f"{PREFIX}EMPTY_QUOTED"] == ""
    assert os.environ[f"{PREFIX}EQUALS"] == "a=b=c"
    assert os.environ[f"{PREFIX}MULTI"] == "first\nsecond"
    assert os.environ[f"{PREFIX}URL"] == "postgres://user:pw@host:5432/db?x=1"
    assert os.environ[f"{PREFIX}dotted.name-x"] == "ok"


def test_load_dotenv_handles_crlf_and_a_byte_order_mark(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "windows.env"
    path.write_bytes(f"\ufeff{PREFIX}A=1\r\n{PREFIX}B='two'\r\n".encode())
    assert load_dotenv(path) is True
    assert (os.environ[f"{PREFIX}A"], os.environ[f"{PREFIX}B"]) == ("1", "two")


def test_load_dotenv_keeps_existing_variables_unless_override(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env.setenv(f"{PREFIX}KEEP", "from-environment")
    path = _write(tmp_path, f"{PREFIX}KEEP=from-file\n{PREFIX}NEW=new\n")
    assert load_dotenv(path) is True
    assert os.environ[f"{PREFIX}KEEP"] == "from-environment"
    assert os.environ[f"{PREFIX}NEW"] == "new"
    assert load_dotenv(path, override=True) is True
    assert os.environ[f"{PREFIX}KEEP"] == "from-file"


def test_load_dotenv_values_reach_config(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = _write(tmp_path, f"{PREFIX}DEBUG=yes\n{PREFIX}WORKERS=4\n")
    load_dotenv(path)
    assert config(f"{PREFIX}DEBUG", cast=bool) is True
    assert config(f"{PREFIX}WORKERS", cast=int) == 4


def test_load_dotenv_file_without_variables_returns_false(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert load_dotenv(_write(tmp_path, "# only a comment\n\n")) is False


def test_load_dotenv_skips_malformed_lines_with_a_warning_that_hides_them(
    env: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _write(
        tmp_path,
        f"{PREFIX}GOOD=1\nthis line has {SECRET}\n{PREFIX}AFTER='x' trailing\n{PREFIX}LAST=2\n",
    )
    with caplog.at_level(logging.WARNING, logger="autostore.settings"):
        assert load_dotenv(path) is True
    assert os.environ[f"{PREFIX}GOOD"] == "1"
    assert os.environ[f"{PREFIX}LAST"] == "2"
    assert f"{PREFIX}AFTER" not in os.environ
    messages = [record.getMessage() for record in caplog.records]
    assert f"{path}:2: not a KEY=VALUE line, skipped" in messages
    assert f"{path}:3: text after the closing quote, line skipped" in messages
    assert all(SECRET not in message for message in messages)


def test_load_dotenv_unterminated_quote_stops_parsing(
    env: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _write(tmp_path, f'{PREFIX}OK=1\n{PREFIX}OPEN="no end\n{PREFIX}NEVER=2\n')
    with caplog.at_level(logging.WARNING, logger="autostore.settings"):
        assert load_dotenv(path) is True
    assert os.environ[f"{PREFIX}OK"] == "1"
    assert f"{PREFIX}OPEN" not in os.environ
    assert f"{PREFIX}NEVER" not in os.environ
    assert any(':2: unterminated " quote' in record.getMessage() for record in caplog.records)


# --- setup_logging --------------------------------------------------------------------------------


@pytest.fixture
def package_logger() -> Iterator[logging.Logger]:
    """The "autostore" logger, restored to its handlers and level after the test."""
    logger = logging.getLogger("autostore")
    handlers, level = list(logger.handlers), logger.level
    for handler in handlers:
        logger.removeHandler(handler)
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    for handler in handlers:
        logger.addHandler(handler)
    logger.setLevel(level)


def test_setup_logging_configures_the_package_logger_not_the_root(
    package_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    root_handlers = list(logging.getLogger().handlers)
    logger = setup_logging("DEBUG", fmt="[%(levelname)s] %(name)s | %(message)s")
    assert logger is package_logger
    assert logger.level == logging.DEBUG
    assert len(logger.handlers) == 1
    assert logging.getLogger().handlers == root_handlers
    logging.getLogger("autostore.s3").debug("resolved %s", "credentials")
    assert "[DEBUG] autostore.s3 | resolved credentials" in capsys.readouterr().err


def test_setup_logging_twice_does_not_duplicate_handlers(
    package_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging("INFO")
    setup_logging("warning", fmt="%(levelname)s:%(message)s")
    assert len(package_logger.handlers) == 1
    assert package_logger.level == logging.WARNING
    logging.getLogger("autostore.store").info("hidden")
    logging.getLogger("autostore.store").warning("shown")
    err = capsys.readouterr().err
    assert "hidden" not in err
    assert err.count("WARNING:shown") == 1


def test_setup_logging_leaves_other_handlers_alone(package_logger: logging.Logger) -> None:
    mine = logging.NullHandler()
    package_logger.addHandler(mine)
    setup_logging(logging.ERROR)
    setup_logging(logging.ERROR)
    assert mine in package_logger.handlers
    assert len(package_logger.handlers) == 2


def test_setup_logging_rejects_unknown_levels(package_logger: logging.Logger) -> None:
    with pytest.raises(ValueError, match=r"unknown logging level 'LOUD'"):
        setup_logging("LOUD")
    with pytest.raises(TypeError, match="setup_logging level must be an int or a level name, got bool"):
        setup_logging(True)  # type: ignore[arg-type]
    assert package_logger.handlers == []
