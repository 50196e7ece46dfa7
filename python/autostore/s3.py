"""Amazon S3 and S3-compatible services (MinIO, SeaweedFS, DigitalOcean Spaces, ...).

``AutoStore.register_scheme("minio", "autostore.s3")`` makes ``minio://bucket/key`` URIs use
:data:`OPTIONS_CLASS` (:class:`S3Options`) and the S3 protocol.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from autostore.credentials import (
    ResolvedCredentials,
    config_file_path,
    credentials_file_path,
    profile_has_credentials,
    profile_names,
    profile_settings,
    resolve_profile,
)
from autostore.exceptions import InvalidConfigError
from autostore.options import Options, _boolean, _choice, _integer, _text, secret_field

__all__ = ["OPTIONS_CLASS", "S3Options"]

logger = logging.getLogger("autostore.s3")

MIB = 1024 * 1024
MIN_PART_SIZE = 5 * MIB
"""S3 refuses multipart parts smaller than 5 MiB (except the last)."""
MAX_PART_SIZE = 5 * 1024 * MIB
"""S3 refuses multipart parts larger than 5 GiB."""
MAX_CONCURRENCY = 256
ADDRESSING_STYLES = ("auto", "path", "virtual")
DEFAULT_REGION = "us-east-1"


def _endpoint(label: str, value: object, *, secret: bool, optional: bool) -> str:
    """An ``http://`` or ``https://`` URL with a host and no user info; a trailing ``/`` is dropped."""
    text = _text(label, value, secret=secret, optional=optional).strip()
    authority = text.split("://", 1)[-1].split("/", 1)[0]
    # Checked before the URL is ever echoed: user info would put a password in the message.
    if "@" in authority:
        raise InvalidConfigError(
            f"{label} must not contain credentials (user:password@host); "
            "pass aws_access_key_id and aws_secret_access_key instead"
        )
    if "://" not in text:
        raise InvalidConfigError(
            f"{label} must be a URL with a scheme, got {text!r}; add one: 'https://{text}' "
            f"(or 'http://{text}' for a server without TLS)"
        )
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidConfigError(f"{label} must start with http:// or https://, got {text!r}")
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as err:
        raise InvalidConfigError(f"{label} has an invalid port: {text!r} ({err})") from None
    if not parts.hostname:
        raise InvalidConfigError(f"{label} must name a host, got {text!r}")
    if parts.query or parts.fragment:
        raise InvalidConfigError(f"{label} must not have a query or fragment, got {text!r}")
    return text.rstrip("/")


@dataclass(frozen=True, kw_only=True)
class S3Options(Options):
    """Options of an S3 or S3-compatible store.

    Credentials are resolved by :meth:`to_core_kwargs`, when a store is built, in this order:
    ``aws_access_key_id``/``aws_secret_access_key``; ``profile_name``; the environment variables
    ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``; the profile named by
    ``AWS_PROFILE``; the ``default`` profile. The access key, secret key and session token never
    appear in ``repr``, ``str``, logs or error messages.
    """

    scheme: str | None = "s3"
    """The URI scheme these options apply to: ``s3``, or one registered for an S3-compatible service."""
    aws_access_key_id: str | None = secret_field()
    """Access key; needs ``aws_secret_access_key``. Shown as ``'***'``: it names the account."""
    aws_secret_access_key: str | None = secret_field()
    """Secret key; shown as ``'***'``."""
    aws_session_token: str | None = secret_field()
    """Session token of temporary credentials; shown as ``'***'``."""
    profile_name: str | None = None
    """A profile of ``~/.aws/config`` / ``~/.aws/credentials`` (SSO and roles need ``autostore[aws]``)."""
    region_name: str | None = None
    """Region; else the profile's, ``AWS_REGION``, ``AWS_DEFAULT_REGION``, then ``us-east-1``."""
    endpoint_url: str | None = None
    """``http(s)://host[:port]`` of an S3-compatible service; else the profile's or ``AWS_ENDPOINT_URL``."""
    use_ssl: bool | None = None
    """Only used to build the AWS endpoint when none is given: ``False`` means plain HTTP."""
    verify: bool = True
    """Verify TLS certificates (``False`` only for self-signed test servers)."""
    multipart_threshold: int = 64 * MIB
    """Objects of at least this many bytes are uploaded in parts and downloaded in parallel ranges."""
    multipart_chunksize: int = 16 * MIB
    """Part size in bytes (grown when needed so that no upload has more than 10,000 parts)."""
    max_concurrency: int = 10
    """Concurrent requests of one transfer or batch operation."""
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    """``path`` (``endpoint/bucket/key``) or ``virtual`` (``bucket.endpoint/key``); ``auto`` uses path."""

    def __post_init__(self) -> None:
        """Validate the S3 fields after the shared ones, then check that they agree with each other."""
        super().__post_init__()
        for name in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
            self._check(name, _text, optional=True)
        self._check("profile_name", _text, optional=True)
        self._check("region_name", _text, optional=True)
        self._check("endpoint_url", _endpoint, optional=True)
        self._check("use_ssl", _boolean, optional=True)
        self._check("verify", _boolean)
        self._check("multipart_threshold", _integer, minimum=MIN_PART_SIZE)
        self._check("multipart_chunksize", _integer, minimum=MIN_PART_SIZE, maximum=MAX_PART_SIZE)
        self._check("max_concurrency", _integer, minimum=1, maximum=MAX_CONCURRENCY)
        self._check("addressing_style", _choice, choices=ADDRESSING_STYLES)
        self._check_consistency()

    def _check_consistency(self) -> None:
        name = type(self).__name__
        if self.aws_secret_access_key is not None and self.aws_access_key_id is None:
            raise InvalidConfigError(f"{name}.aws_secret_access_key is set but aws_access_key_id is not")
        if self.aws_access_key_id is not None and self.aws_secret_access_key is None:
            raise InvalidConfigError(f"{name}.aws_access_key_id is set but aws_secret_access_key is not")
        if self.aws_session_token is not None and self.aws_access_key_id is None:
            raise InvalidConfigError(
                f"{name}.aws_session_token is set without aws_access_key_id and aws_secret_access_key"
            )
        if self.endpoint_url is not None and self.use_ssl is not None:
            https = urlsplit(self.endpoint_url).scheme.lower() == "https"
            if self.use_ssl != https:
                raise InvalidConfigError(
                    f"{name}.use_ssl={self.use_ssl} contradicts endpoint_url {self.endpoint_url!r}; "
                    "the endpoint's scheme decides, so drop use_ssl"
                )

    def to_core_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :class:`autostore._core.Store`, with credentials resolved.

        Reads the environment and the AWS shared files now (see the class docstring for the order).
        Region: ``region_name``, the region of ``profile_name``, ``AWS_REGION``, ``AWS_DEFAULT_REGION``,
        the region of the ``AWS_PROFILE``/``default`` profile, ``us-east-1``. Endpoint: ``endpoint_url``,
        that of ``profile_name``, ``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``, that of the
        ``AWS_PROFILE``/``default`` profile; else AWS itself (over HTTP when ``use_ssl=False``).
        """
        kwargs = super().to_core_kwargs()
        kwargs.update(
            verify=self.verify,
            multipart_threshold=self.multipart_threshold,
            multipart_chunksize=self.multipart_chunksize,
            max_concurrency=self.max_concurrency,
            virtual_hosted_style=self.addressing_style == "virtual",
            backend="s3",
        )
        kwargs.update(self._resolve_connection())
        return kwargs

    def _resolve_connection(self) -> dict[str, Any]:
        """Keys, region, endpoint and profile name, following the documented precedence."""
        named = profile_settings(self.profile_name) if self.profile_name else {}
        ambient = _AmbientProfile()
        used_profile = self.profile_name
        keys: tuple[str, str, str | None] | None
        if self.aws_access_key_id is not None and self.aws_secret_access_key is not None:
            keys = (self.aws_access_key_id, self.aws_secret_access_key, self.aws_session_token)
            source = "options"
        elif self.profile_name:
            keys = _keys_of(resolve_profile(self.profile_name))
            source = f"profile {self.profile_name!r}"
        else:
            keys = _environment_keys()
            source = "environment"
            if keys is None and ambient.name and profile_has_credentials(ambient.name):
                keys = _keys_of(resolve_profile(ambient.name))
                source = f"profile {ambient.name!r}"
                used_profile = ambient.name

        region = (
            self.region_name
            or named.get("region")
            or _environ("AWS_REGION")
            or _environ("AWS_DEFAULT_REGION")
            or ambient.settings.get("region")
            or DEFAULT_REGION
        )
        endpoint = self._resolve_endpoint(named, ambient, region)
        access_key, secret_key, token = keys if keys is not None else (None, None, None)
        logger.debug(
            "S3 connection: credentials from %s, region %s, endpoint %s, profile %r",
            source if keys is not None else "nowhere (left to the core)",
            region,
            endpoint or "AWS",
            used_profile,
        )
        return {
            "access_key_id": access_key,
            "secret_access_key": secret_key,
            "session_token": token,
            "region": region,
            "endpoint": endpoint,
            "profile": used_profile,
        }

    def _resolve_endpoint(self, named: dict[str, str], ambient: _AmbientProfile, region: str) -> str | None:
        if self.endpoint_url:
            return self.endpoint_url
        candidates = [
            (f"endpoint_url of AWS profile {self.profile_name!r}", lambda: named.get("endpoint_url")),
            ("environment variable AWS_ENDPOINT_URL_S3", lambda: _environ("AWS_ENDPOINT_URL_S3")),
            ("environment variable AWS_ENDPOINT_URL", lambda: _environ("AWS_ENDPOINT_URL")),
            (f"endpoint_url of AWS profile {ambient.name!r}", lambda: ambient.settings.get("endpoint_url")),
        ]
        for label, read in candidates:
            value = read()
            if value:
                return _endpoint(label, value, secret=False, optional=False)
        if self.use_ssl is False:
            return f"http://s3.{region}.amazonaws.com"
        return None


class _AmbientProfile:
    """The profile in effect without ``profile_name``, read only if some setting is still missing.

    ``AWS_PROFILE`` (or the legacy ``AWS_DEFAULT_PROFILE``), else ``default`` if the files define it.
    Reading lazily keeps a stale ``AWS_PROFILE`` from breaking options that set everything explicitly.
    """

    def __init__(self) -> None:
        self._resolved = False
        self._name: str | None = None
        self._settings: dict[str, str] = {}

    def _resolve(self) -> None:
        if self._resolved:
            return
        self._resolved = True
        defined = profile_names()
        for variable in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
            name = _environ(variable)
            if name:
                if name not in defined:
                    # Name the variable: the user may not know it is set.
                    raise InvalidConfigError(
                        f"environment variable {variable} names AWS profile {name!r}, which is not defined "
                        f"in {config_file_path()} or {credentials_file_path()}"
                    )
                self._name = name
                break
        else:
            self._name = "default" if "default" in defined else None
        if self._name is not None:
            self._settings = profile_settings(self._name)

    @property
    def name(self) -> str | None:
        """The ambient profile's name, or ``None`` when there is none."""
        self._resolve()
        return self._name

    @property
    def settings(self) -> dict[str, str]:
        """The ambient profile's settings (empty when there is none)."""
        self._resolve()
        return self._settings


def _keys_of(credentials: ResolvedCredentials) -> tuple[str, str, str | None]:
    return credentials.access_key_id, credentials.secret_access_key, credentials.session_token


def _environ(name: str) -> str | None:
    """An environment variable, with an empty value treated as unset."""
    return os.environ.get(name) or None


def _environment_keys() -> tuple[str, str, str | None] | None:
    """``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``, or ``None`` if unset."""
    access_key, secret_key = _environ("AWS_ACCESS_KEY_ID"), _environ("AWS_SECRET_ACCESS_KEY")
    if access_key and secret_key:
        return access_key, secret_key, _environ("AWS_SESSION_TOKEN")
    if access_key or secret_key:
        present, missing = (
            ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
            if access_key
            else ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID")
        )
        raise InvalidConfigError(f"environment variable {present} is set but {missing} is not")
    return None


OPTIONS_CLASS = S3Options
"""The options class of this backend, looked up by ``AutoStore.register_scheme``."""
