"""Shared fixtures: a local SeaweedFS S3 server per pytest-xdist worker and fresh buckets on it.

Tests that use the server (directly or through ``s3_bucket``, ``s3_options`` or ``aws_env``) get the
``s3`` marker automatically, so ``pytest -m "not s3"`` runs everything that needs no server.
"""

from __future__ import annotations

import os
import textwrap
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from autostore.testing import LocalS3Server

# Set before any test imports an AWS SDK: nothing may probe the cloud metadata address.
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``s3`` marker (``--strict-markers`` is on)."""
    config.addinivalue_line(
        "markers", "s3: needs the local SeaweedFS S3 server (set by the s3_server fixture)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that depends on ``s3_server``, directly or through another fixture, with ``s3``."""
    for item in items:
        if "s3_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.s3)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[LocalS3Server]:
    """One running local S3 server for the session (each xdist worker starts its own)."""
    with LocalS3Server() as server:
        yield server


@pytest.fixture
def s3_bucket(s3_server: LocalS3Server) -> Iterator[str]:
    """The name of a new empty bucket, deleted with its objects after the test.

    A test that killed the session server and failed before restarting it would break every later
    test of its worker, so the server is brought back first (restart keeps all data).
    """
    if not s3_server.running:
        s3_server.restart()
    name = f"test-{uuid.uuid4().hex}"
    s3_server.create_bucket(name)
    yield name
    if not s3_server.running:
        s3_server.restart()
    s3_server.delete_bucket(name)


@pytest.fixture
def s3_options(s3_server: LocalS3Server) -> dict[str, Any]:
    """Keyword arguments for ``S3Options`` pointing at the session server."""
    return s3_server.s3_options()


@pytest.fixture
def aws_env(s3_server: LocalS3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """Point the standard AWS environment variables at the session server for one test.

    The user's own AWS profile, session token and config files are hidden so nothing leaks in.
    """
    env = s3_server.aws_env()
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    env["AWS_CONFIG_FILE"] = str(tmp_path / "no-aws-config")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "no-aws-credentials")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


_AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)


@pytest.fixture
def aws_profiles(
    s3_server: LocalS3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[Iterable[str]], Path]:
    """Write AWS config and credentials files whose profiles all reach the test server.

    Calling the fixture with profile names writes the files, clears the ``AWS_*`` variables and points
    ``AWS_CONFIG_FILE``/``AWS_SHARED_CREDENTIALS_FILE`` at them, so ``profile_name=...`` really resolves.
    """

    def write(profiles: Iterable[str]) -> Path:
        config: list[str] = []
        credentials: list[str] = []
        for profile in profiles:
            section = "default" if profile == "default" else f"profile {profile}"
            config += [
                f"[{section}]",
                f"region = {s3_server.region}",
                f"endpoint_url = {s3_server.endpoint_url}",
                "",
            ]
            credentials += [
                f"[{profile}]",
                f"aws_access_key_id = {s3_server.access_key_id}",
                f"aws_secret_access_key = {s3_server.secret_access_key}",
                "",
            ]
        directory = tmp_path / "aws"
        directory.mkdir(exist_ok=True)
        (directory / "config").write_text("\n".join(config))
        (directory / "credentials").write_text("\n".join(credentials))
        for name in _AWS_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_CONFIG_FILE", str(directory / "config"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(directory / "credentials"))
        return directory

    return write


@dataclass
class AwsFiles:
    """The AWS shared files of one test, empty until written."""

    config: Path
    credentials: Path

    def write_config(self, text: str) -> None:
        self.config.write_text(textwrap.dedent(text), encoding="utf-8")

    def write_credentials(self, text: str) -> None:
        self.credentials.write_text(textwrap.dedent(text), encoding="utf-8")


@pytest.fixture
def aws_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AwsFiles:
    """No AWS_* variable of the caller's environment, and shared files that start out absent."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    files = AwsFiles(tmp_path / "aws-config", tmp_path / "aws-credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(files.config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(files.credentials))
    return files
