"""AWS named profiles: read from the shared config files, resolved into keys.

Static profiles (keys written in ``~/.aws/credentials`` or ``~/.aws/config``) are read with
:mod:`configparser` and need nothing else. Profiles that obtain credentials at run time (SSO,
``role_arn``, ``credential_process``, web identity) are resolved through botocore, installed by the
``autostore[aws]`` extra. ``AWS_SHARED_CREDENTIALS_FILE`` and ``AWS_CONFIG_FILE`` relocate the files.

Temporary credentials are resolved once, when a store is built; they are not refreshed afterwards.
"""

from __future__ import annotations

import configparser
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from autostore.exceptions import InvalidConfigError, MissingDependencyError

__all__ = [
    "ResolvedCredentials",
    "config_file_path",
    "credentials_file_path",
    "profile_has_credentials",
    "profile_names",
    "profile_settings",
    "resolve_profile",
]

logger = logging.getLogger("autostore.credentials")

# Keys that make botocore obtain credentials at run time, in the order its provider chain tries them.
# A profile holding one of these is resolved through botocore even if it also holds static keys,
# because botocore would do the same; credential_process comes after static keys in that chain.
_DYNAMIC_BEFORE_STATIC = (
    "role_arn",
    "web_identity_token_file",
    "sso_session",
    "sso_start_url",
    "sso_account_id",
    "sso_role_name",
)
_DYNAMIC_AFTER_STATIC = ("credential_process",)
_ACCESS_KEY = "aws_access_key_id"
_SECRET_KEY = "aws_secret_access_key"
_SESSION_TOKEN = "aws_session_token"
_MASK = "***"


@dataclass(frozen=True)
class ResolvedCredentials:
    """Keys and connection settings of one AWS profile; ``repr`` shows ``'***'`` for the keys."""

    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    region: str | None = None
    endpoint_url: str | None = None

    def __repr__(self) -> str:
        """The fields, with the access key, secret key and session token masked."""
        token = None if self.session_token is None else _MASK
        return (
            f"ResolvedCredentials(access_key_id={_MASK!r}, secret_access_key={_MASK!r}, "
            f"session_token={token!r}, region={self.region!r}, endpoint_url={self.endpoint_url!r})"
        )


def config_file_path() -> Path:
    """``$AWS_CONFIG_FILE``, else ``~/.aws/config``."""
    return Path(os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config").expanduser()


def credentials_file_path() -> Path:
    """``$AWS_SHARED_CREDENTIALS_FILE``, else ``~/.aws/credentials``."""
    return Path(os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials").expanduser()


def _read_ini(path: Path) -> configparser.ConfigParser:
    """Parse one shared file; a missing file reads as empty."""
    # No interpolation: a secret may contain '%'. No DEFAULT section: AWS files have none, and a
    # section called [default] must stay an ordinary profile.
    parser = configparser.ConfigParser(interpolation=None, default_section="\x00", strict=False)
    try:
        with path.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        return parser
    except configparser.Error as err:
        # The parser's own message quotes the offending line, which may hold a secret.
        line = getattr(err, "lineno", None)
        errors = getattr(err, "errors", None)
        if line is None and errors:
            line = errors[0][0]
        where = f" at line {line}" if line is not None else ""
        raise InvalidConfigError(
            f"cannot parse AWS shared file {path}: {type(err).__name__}{where}"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise InvalidConfigError(f"cannot read AWS shared file {path}: {err}") from err
    return parser


def _config_profiles(parser: configparser.ConfigParser) -> dict[str, str]:
    """Profile name -> section name in the config file (``[default]``, ``[profile name]``)."""
    sections: dict[str, str] = {}
    for section in parser.sections():
        if section == "default":
            sections.setdefault("default", section)
        elif section.startswith("profile "):
            # [profile default] is the spelling botocore prefers when both exist.
            sections[section[len("profile ") :].strip()] = section
    return sections


def _services_endpoint(parser: configparser.ConfigParser, services_name: str) -> str | None:
    """The S3 ``endpoint_url`` of a ``[services name]`` section, whose ``s3`` value is a nested block."""
    section = f"services {services_name}"
    if not parser.has_section(section) or not parser.has_option(section, "s3"):
        return None
    for line in parser.get(section, "s3").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "endpoint_url" and value.strip():
            return value.strip()
    return None


def profile_names() -> list[str]:
    """Every profile defined in the shared config and credentials files, sorted."""
    names = set(_config_profiles(_read_ini(config_file_path())))
    names.update(_read_ini(credentials_file_path()).sections())
    return sorted(names)


def profile_settings(profile_name: str) -> dict[str, str]:
    """The merged settings of ``profile_name``: its config section, overlaid by its credentials section.

    ``endpoint_url`` is the one S3 uses: an ``s3`` entry of the profile's ``services`` section wins
    over the profile-level key. Raises :class:`~autostore.exceptions.InvalidConfigError` naming the
    profile and both files when neither defines it.
    """
    config_path, credentials_path = config_file_path(), credentials_file_path()
    config, credentials = _read_ini(config_path), _read_ini(credentials_path)
    config_sections = _config_profiles(config)
    if profile_name not in config_sections and not credentials.has_section(profile_name):
        raise InvalidConfigError(
            f"AWS profile {profile_name!r} not found in {config_path} or {credentials_path} "
            "(AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE relocate them)"
        )
    settings: dict[str, str] = {}
    if profile_name in config_sections:
        settings.update(config.items(config_sections[profile_name]))
    if credentials.has_section(profile_name):
        settings.update(credentials.items(profile_name))
    services_name = settings.get("services")
    if services_name:
        endpoint = _services_endpoint(config, services_name)
        if endpoint:
            settings["endpoint_url"] = endpoint
    return {key: value.strip() for key, value in settings.items()}


def _credential_source(settings: dict[str, str]) -> str | None:
    """``"static"``, the key that makes botocore resolve the profile, or ``None`` when it has neither."""
    for key in _DYNAMIC_BEFORE_STATIC:
        if settings.get(key):
            return key
    if settings.get(_ACCESS_KEY) or settings.get(_SECRET_KEY):
        return "static"
    for key in _DYNAMIC_AFTER_STATIC:
        if settings.get(key):
            return key
    return None


def profile_has_credentials(profile_name: str) -> bool:
    """Whether ``profile_name`` exists and holds keys or a way to obtain them (SSO, role, process)."""
    try:
        return _credential_source(profile_settings(profile_name)) is not None
    except InvalidConfigError:
        return False


def resolve_profile(profile_name: str) -> ResolvedCredentials:
    """The credentials, region and S3 endpoint of AWS profile ``profile_name``.

    Static keys are read from the shared files directly. SSO, ``role_arn``, web-identity and
    ``credential_process`` profiles go through botocore (a
    :class:`~autostore.exceptions.MissingDependencyError` naming ``autostore[aws]`` when it is not
    installed). An unknown profile, or one without credentials, raises
    :class:`~autostore.exceptions.InvalidConfigError`.
    """
    if not isinstance(profile_name, str) or not profile_name.strip():
        raise InvalidConfigError("an AWS profile name must be a non-empty string")
    settings = profile_settings(profile_name)
    source = _credential_source(settings)
    region = settings.get("region") or None
    endpoint_url = settings.get("endpoint_url") or None
    if source is None:
        raise InvalidConfigError(
            f"AWS profile {profile_name!r} holds no credentials (no {_ACCESS_KEY}/{_SECRET_KEY}, "
            f"sso_*, role_arn or credential_process) in {config_file_path()} or {credentials_file_path()}"
        )
    if source == "static":
        access_key, secret_key = settings.get(_ACCESS_KEY), settings.get(_SECRET_KEY)
        if not access_key or not secret_key:
            missing = _SECRET_KEY if access_key else _ACCESS_KEY
            raise InvalidConfigError(f"AWS profile {profile_name!r} has no {missing}")
        logger.debug("AWS profile %r: static keys from the shared files", profile_name)
        return ResolvedCredentials(
            access_key_id=access_key,
            secret_access_key=secret_key,
            session_token=settings.get(_SESSION_TOKEN) or None,
            region=region,
            endpoint_url=endpoint_url,
        )
    access_key, secret_key, token = _resolve_with_botocore(profile_name, source)
    return ResolvedCredentials(
        access_key_id=access_key,
        secret_access_key=secret_key,
        session_token=token,
        region=region,
        endpoint_url=endpoint_url,
    )


def _resolve_with_botocore(profile_name: str, source: str) -> tuple[str, str, str | None]:
    """Frozen keys of a profile whose credentials botocore obtains at run time."""
    try:
        import botocore.exceptions
        import botocore.session
    except ImportError as err:
        raise MissingDependencyError(
            f"AWS profile {profile_name!r} uses {source}, which needs botocore: pip install 'autostore[aws]'"
        ) from err
    session = botocore.session.Session(profile=profile_name)
    try:
        credentials = session.get_credentials()
        frozen = None if credentials is None else credentials.get_frozen_credentials()
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as err:
        raise InvalidConfigError(
            f"cannot obtain credentials of AWS profile {profile_name!r} ({source}): {err}"
        ) from err
    if frozen is None or not frozen.access_key or not frozen.secret_key:
        raise InvalidConfigError(f"botocore found no credentials for AWS profile {profile_name!r} ({source})")
    logger.debug("AWS profile %r: credentials obtained through botocore (%s)", profile_name, source)
    return frozen.access_key, frozen.secret_key, frozen.token or None
