"""Just enough AWS Signature V4 to manage buckets on a test server, using only the standard library."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote, urlsplit

from autostore.exceptions import (
    AccessDeniedError,
    AlreadyExistsError,
    InvalidConfigError,
    ObjectNotFoundError,
    TransferError,
)

_UNRESERVED = "-_.~"


@dataclass(frozen=True)
class S3Response:
    """The answer to one :func:`signed_request`: status, lower-cased headers and the whole body."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    @property
    def error_code(self) -> str | None:
        """The ``<Code>`` of an S3 XML error body (``NoSuchBucket``, ``SignatureDoesNotMatch``...)."""
        if not self.body.lstrip().startswith(b"<"):
            return None
        try:
            root = ET.fromstring(self.body)
        except ET.ParseError:
            return None
        code = root.find("Code")
        return code.text if code is not None else None


def _hmac_sha256(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def signed_request(
    method: str,
    endpoint_url: str,
    path: str = "/",
    *,
    access_key_id: str,
    secret_access_key: str,
    region: str = "us-east-1",
    query: Mapping[str, str] | None = None,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> S3Response:
    """Send one path-style S3 request signed with AWS Signature Version 4 and return its answer.

    A deliberately small client (no retries, whole body in memory) so tests can talk to a server
    without botocore. ``path`` is the unencoded ``/bucket/key``; it and ``query`` are percent-encoded
    here. HTTP error statuses are returned, not raised.

    Raises:
        InvalidConfigError: ``endpoint_url`` is not ``http(s)://host[:port]``.
        OSError: the connection failed or timed out.
    """
    parts = urlsplit(endpoint_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidConfigError(f"endpoint_url must look like http://host:port, got {endpoint_url!r}")
    full_path = parts.path.rstrip("/") + "/" + path.lstrip("/")
    canonical_uri = quote(full_path, safe="/" + _UNRESERVED)
    canonical_query = "&".join(
        f"{quote(name, safe=_UNRESERVED)}={quote(value, safe=_UNRESERVED)}"
        for name, value in sorted((query or {}).items())
    )
    amz_date = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    payload_hash = hashlib.sha256(body).hexdigest()
    signed_headers = {"host": parts.netloc, "x-amz-date": amz_date, "x-amz-content-sha256": payload_hash}
    signed_headers.update({name.lower(): value.strip() for name, value in (headers or {}).items()})
    header_names = sorted(signed_headers)
    canonical_request = "\n".join(
        [
            method,
            canonical_uri,
            canonical_query,
            "".join(f"{name}:{signed_headers[name]}\n" for name in header_names),
            ";".join(header_names),
            payload_hash,
        ]
    )
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    string_to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    signing_key = ("AWS4" + secret_access_key).encode()
    for step in (amz_date[:8], region, "s3", "aws4_request"):
        signing_key = _hmac_sha256(signing_key, step)
    signature = hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    request_headers = dict(signed_headers)
    request_headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key_id}/{scope}, "
        f"SignedHeaders={';'.join(header_names)}, Signature={signature}"
    )
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname, parts.port, timeout=timeout)
    target = canonical_uri + (f"?{canonical_query}" if canonical_query else "")
    try:
        connection.request(method, target, body=body, headers=request_headers)
        response = connection.getresponse()
        return S3Response(
            status=response.status,
            headers={name.lower(): value for name, value in response.getheaders()},
            body=response.read(),
        )
    finally:
        connection.close()


def _raise_for_status(response: S3Response, action: str, uri: str) -> None:
    if response.ok:
        return
    detail = f"{action} {uri} failed: HTTP {response.status}"
    if response.error_code:
        detail += f" {response.error_code}"
    if response.status == 403:
        raise AccessDeniedError(detail)
    if response.status == 404:
        raise ObjectNotFoundError(detail)
    if response.status == 409:
        raise AlreadyExistsError(detail)
    if response.status == 400:
        raise InvalidConfigError(detail)
    raise TransferError(detail)
