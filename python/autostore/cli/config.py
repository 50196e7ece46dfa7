"""The command's configuration: named schemes and cache settings from a TOML file, plus flags.

The file is ``--config FILE``, else ``$AUTOSTORE_CONFIG``, else ``$XDG_CONFIG_HOME/autostore/config.toml``
(``~/.config/autostore/config.toml``); only the last may be absent. Its shape::

    [schemes.minio]                     # minio://bucket/key, over the S3 protocol
    endpoint_url = "http://127.0.0.1:9000"
    profile_name = "minio"              # or aws_access_key_id / aws_secret_access_key
    region_name = "us-east-1"
    # backend = "autostore.s3"          # module whose OPTIONS_CLASS holds these fields (default)

    [schemes.s3]                        # settings for plain s3:// URIs (optional)
    max_concurrency = 16

    [cache]
    dir = "/data/autostore-cache"       # default: the platform cache directory
    expiry_hours = 24

Every key of a scheme table is a field of the backend's options class (``S3Options`` for
``autostore.s3``) and is validated by it. Precedence for ``s3://`` URIs: ``--endpoint-url``,
``--profile`` and ``--region`` beat ``[schemes.s3]``, which beats the environment variables and AWS
config files that ``S3Options`` reads itself. Other schemes take their settings from their table only.
Error messages name the file and the table, never a secret's value.
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autostore.exceptions import InvalidConfigError, MissingDependencyError
from autostore.options import Options, fields_for, options_class_for_scheme, register_options_scheme

__all__ = ["CONFIG_ENV_VAR", "CliConfig", "SchemeConfig", "default_config_path", "load_config"]

CONFIG_ENV_VAR = "AUTOSTORE_CONFIG"
DEFAULT_BACKEND_MODULE = "autostore.s3"
FLAG_SCHEMES = ("s3",)
"""The schemes that ``--endpoint-url``, ``--profile`` and ``--region`` configure."""

_TOP_LEVEL_TABLES = ("schemes", "cache")
_CACHE_KEYS = ("dir", "expiry_hours")
_SECRET_KEYS = ("aws_secret_access_key", "aws_session_token")
_FLAG_FIELDS = {"endpoint_url": "--endpoint-url", "profile_name": "--profile", "region_name": "--region"}


@dataclass(frozen=True)
class SchemeConfig:
    """One scheme as the command will use it, and where its settings came from."""

    scheme: str
    options: Options
    backend_module: str
    source: str
    """``"config file PATH"``, ``"flags"``, ``"config file PATH and flags"`` or ``"defaults"``."""


@dataclass(frozen=True)
class CliConfig:
    """Everything the command reads before it touches a store."""

    path: Path | None
    """The config file that was read (``None``: there was none)."""
    schemes: dict[str, SchemeConfig] = field(default_factory=dict)
    cache_dir: Path | None = None
    cache_expiry_hours: float = 24.0

    @property
    def options_by_scheme(self) -> dict[str, Options]:
        """What :func:`autostore.backends.resolve_uri` takes."""
        return {name: scheme.options for name, scheme in self.schemes.items()}


def default_config_path() -> Path:
    """``$XDG_CONFIG_HOME/autostore/config.toml``, else ``~/.config/autostore/config.toml``."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "autostore" / "config.toml"


def _config_path(explicit: str | None) -> tuple[Path, bool]:
    """The file to read and whether it must exist (named by a flag or the environment)."""
    if explicit:
        return Path(explicit).expanduser(), True
    from_env = os.environ.get(CONFIG_ENV_VAR)
    if from_env:
        return Path(from_env).expanduser(), True
    return default_config_path(), False


def _parse_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        try:
            import tomli as tomllib
        except ImportError:
            raise MissingDependencyError(
                f"reading the config file {path} on Python 3.10 needs the 'tomli' package: pip install tomli"
            ) from None
    try:
        with path.open("rb") as stream:
            return tomllib.load(stream)
    except tomllib.TOMLDecodeError as error:
        # The decoder's message gives line and column, never the offending value.
        raise InvalidConfigError(f"config file {path} is not valid TOML: {error}") from None


def _check_private(path: Path, secrets_present: bool) -> str | None:
    """A warning when a file holding secret keys is readable by other users (POSIX only)."""
    if not secrets_present or os.name != "posix":
        return None
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return f"config file {path} holds secret keys but is readable by other users; run: chmod 600 {path}"
    return None


def load_config(
    explicit_path: str | None = None,
    *,
    endpoint_url: str | None = None,
    profile: str | None = None,
    region: str | None = None,
    warnings: list[str] | None = None,
) -> CliConfig:
    """Read the config file (see the module docstring) and apply the connection flags to ``s3``.

    Named schemes are registered with :func:`autostore.options.register_options_scheme` so the rest
    of the library resolves them too. Problems found that do not stop the command (a config file
    holding secrets readable by others) are appended to ``warnings``.
    """
    path, required = _config_path(explicit_path)
    document: dict[str, Any] = {}
    if path.is_file():
        document = _parse_toml(path)
    elif required:
        raise InvalidConfigError(f"config file {path} does not exist")
    read_path = path if path.is_file() else None

    unknown = sorted(set(document) - set(_TOP_LEVEL_TABLES))
    if unknown:
        raise InvalidConfigError(
            f"config file {path}: unknown table(s) {', '.join(unknown)}; "
            f"known: {', '.join(_TOP_LEVEL_TABLES)}"
        )
    scheme_tables = _table(document, "schemes", path)
    cache_table = _table(document, "cache", path)

    secrets_present = any(
        isinstance(table, dict) and any(key in table for key in _SECRET_KEYS)
        for table in scheme_tables.values()
    )
    warning = _check_private(path, secrets_present) if read_path is not None else None
    if warning is not None and warnings is not None:
        warnings.append(warning)

    flags = {
        name: value
        for name, value in (
            ("endpoint_url", endpoint_url),
            ("profile_name", profile),
            ("region_name", region),
        )
        if value is not None
    }
    schemes: dict[str, SchemeConfig] = {}
    for name, table in scheme_tables.items():
        if not isinstance(table, dict):
            raise InvalidConfigError(f"config file {path}: [schemes.{name}] must be a table of settings")
        schemes[name.lower()] = _scheme_config(path, name, dict(table), flags)
    for name in FLAG_SCHEMES:
        if name not in schemes and flags:
            schemes[name] = _scheme_config(None, name, {}, flags)

    cache_dir, expiry_hours = _cache_settings(path, cache_table)
    return CliConfig(path=read_path, schemes=schemes, cache_dir=cache_dir, cache_expiry_hours=expiry_hours)


def _table(document: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    table = document.get(name, {})
    if not isinstance(table, dict):
        raise InvalidConfigError(f"config file {path}: {name} must be a table ([{name}...])")
    return table


def _scheme_config(
    path: Path | None, name: str, table: dict[str, Any], flags: dict[str, str]
) -> SchemeConfig:
    where = f"config file {path}, [schemes.{name}]" if path is not None else "command-line flags"
    module = table.pop("backend", DEFAULT_BACKEND_MODULE)
    if not isinstance(module, str):
        raise InvalidConfigError(f"{where}: backend must be a module name such as {DEFAULT_BACKEND_MODULE!r}")
    if name.lower() in ("file", "memory"):
        raise InvalidConfigError(f"{where}: the scheme {name!r} is built in and takes no settings")
    try:
        if name.lower() in FLAG_SCHEMES and module == DEFAULT_BACKEND_MODULE:
            options_cls = options_class_for_scheme(name)
        else:
            options_cls = register_options_scheme(name, module)
    except ImportError as error:
        raise InvalidConfigError(f"{where}: cannot import backend module {module!r}: {error}") from None
    except (TypeError, ValueError) as error:
        raise InvalidConfigError(f"{where}: {error}") from None
    used_flags = {}
    if name.lower() in FLAG_SCHEMES:
        valid = fields_for(options_cls)
        used_flags = {key: value for key, value in flags.items() if key in valid}
    settings = {**table, **used_flags, "scheme": name}
    try:
        options = options_cls(**settings)
    except (TypeError, ValueError) as error:
        # Options' messages mask secrets; naming the flag helps when the bad value came from one.
        culprits = [_FLAG_FIELDS[key] for key in used_flags if key in str(error)]
        origin = f" (from {', '.join(culprits)})" if culprits else ""
        raise InvalidConfigError(f"{where}: {error}{origin}") from None
    source = "flags" if path is None else f"config file {path}" + (" and flags" if used_flags else "")
    return SchemeConfig(scheme=name.lower(), options=options, backend_module=module, source=source)


def _cache_settings(path: Path, table: dict[str, Any]) -> tuple[Path | None, float]:
    unknown = sorted(set(table) - set(_CACHE_KEYS))
    if unknown:
        raise InvalidConfigError(
            f"config file {path}, [cache]: unknown key(s) {', '.join(unknown)}; "
            f"known: {', '.join(_CACHE_KEYS)}"
        )
    directory = table.get("dir")
    if directory is not None and (not isinstance(directory, str) or not directory):
        raise InvalidConfigError(f"config file {path}, [cache]: dir must be a non-empty path string")
    expiry = table.get("expiry_hours", 24.0)
    if isinstance(expiry, bool) or not isinstance(expiry, (int, float)) or expiry < 0:
        raise InvalidConfigError(
            f"config file {path}, [cache]: expiry_hours must be a number >= 0 (0 = never expires)"
        )
    return (Path(directory).expanduser() if directory else None), float(expiry)
