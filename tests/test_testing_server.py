"""The local S3 server launcher (autostore.testing) and the fixtures built on it."""

from __future__ import annotations

import http.client
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import autostore.testing
from autostore._core import Store
from autostore.exceptions import (
    AlreadyExistsError,
    AutoStoreError,
    InvalidConfigError,
    ObjectNotFoundError,
    TransferError,
)
from autostore.testing import LocalS3Server, find_weed, signed_request

# Tests below that start their own server (or a fake one) rather than using the s3_server fixture.
needs_server = pytest.mark.s3


def _process_gone(pid: int) -> bool:
    """Whether ``pid`` no longer runs (a zombie waiting for a reaper counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        # The state letter follows the parenthesised command name.
        return stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    return False


def _wait_until(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def _refuses_connections(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture
def occupied_port() -> Iterator[int]:
    """A port from LocalS3Server's range, held by a listening socket for the test's duration."""
    with socket.socket() as holder:
        while True:
            port = random.randrange(20000, 30000)
            try:
                holder.bind(("127.0.0.1", port))
            except OSError:
                continue
            break
        holder.listen()
        yield port


def _child_env() -> dict[str, str]:
    """The environment for a child Python that must import this very autostore package."""
    package_parent = str(Path(autostore.testing.__file__).parents[2])
    return dict(os.environ, PYTHONPATH=os.pathsep.join([package_parent, os.environ.get("PYTHONPATH", "")]))


def _fake_weed(tmp_path: Path, script: str) -> Path:
    path = tmp_path / "weed"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return path


def test_find_weed_returns_an_executable() -> None:
    weed = find_weed()
    assert weed.is_file()
    assert os.access(weed, os.X_OK)
    assert weed.name in ("weed", "weed.exe")


def test_session_server_lists_buckets_for_its_identity(s3_server: LocalS3Server) -> None:
    assert s3_server.endpoint_url == f"http://127.0.0.1:{s3_server.port}"
    assert s3_server.region == "us-east-1"
    assert s3_server.running
    response = s3_server.request("GET", "/")
    assert response.status == 200
    assert b"ListAllMyBucketsResult" in response.body


def test_fixture_users_get_the_s3_marker(request: pytest.FixtureRequest, s3_bucket: str) -> None:
    assert request.node.get_closest_marker("s3") is not None


def test_bucket_fixture_gives_a_new_empty_bucket(s3_server: LocalS3Server, s3_bucket: str) -> None:
    assert s3_server.request("HEAD", f"/{s3_bucket}").status == 200
    listing = s3_server.request("GET", f"/{s3_bucket}", query={"list-type": "2"})
    assert listing.status == 200
    assert b"<Contents>" not in listing.body


@pytest.mark.parametrize("key", ["plain.bin", "nested/dir/file.txt", "with space+plus/ünïcode=&?.bin"])
def test_signed_put_and_get_round_trip_bytes(s3_server: LocalS3Server, s3_bucket: str, key: str) -> None:
    payload = os.urandom(70_000) + b"\x00end"
    put = s3_server.request(
        "PUT", f"/{s3_bucket}/{key}", body=payload, headers={"Content-Type": "application/octet-stream"}
    )
    assert put.status == 200, put.body
    got = s3_server.request("GET", f"/{s3_bucket}/{key}")
    assert got.status == 200
    assert got.body == payload
    assert got.headers["etag"] == put.headers["etag"]
    listing = s3_server.request(
        "GET", f"/{s3_bucket}", query={"list-type": "2", "prefix": key.split("/", maxsplit=1)[0]}
    )
    assert f"<Key>{key.replace('&', '&amp;')}</Key>".encode() in listing.body


def test_missing_object_is_404(s3_server: LocalS3Server, s3_bucket: str) -> None:
    response = s3_server.request("GET", f"/{s3_bucket}/absent")
    assert response.status == 404
    assert response.error_code == "NoSuchKey"


def test_wrong_secret_is_refused(s3_server: LocalS3Server, s3_bucket: str) -> None:
    response = signed_request(
        "GET",
        s3_server.endpoint_url,
        f"/{s3_bucket}",
        access_key_id=s3_server.access_key_id,
        secret_access_key=s3_server.secret_access_key + "x",
    )
    assert response.status == 403
    assert response.error_code == "SignatureDoesNotMatch"


def test_unknown_access_key_is_refused(s3_server: LocalS3Server, s3_bucket: str) -> None:
    response = signed_request(
        "PUT",
        s3_server.endpoint_url,
        f"/{s3_bucket}/intruder.txt",
        access_key_id="AKNOBODY",
        secret_access_key=s3_server.secret_access_key,
        body=b"no",
    )
    assert response.status == 403
    assert s3_server.request("HEAD", f"/{s3_bucket}/intruder.txt").status == 404


def test_anonymous_request_is_refused(s3_server: LocalS3Server, s3_bucket: str) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", s3_server.port, timeout=10)
    try:
        connection.request("GET", f"/{s3_bucket}")
        assert connection.getresponse().status == 403
    finally:
        connection.close()


def test_bucket_errors_map_to_autostore_exceptions(s3_server: LocalS3Server, s3_bucket: str) -> None:
    with pytest.raises(AlreadyExistsError, match=f"s3://{s3_bucket}"):
        s3_server.create_bucket(s3_bucket)
    with pytest.raises(InvalidConfigError, match="s3://Not_A_Bucket"):
        s3_server.create_bucket("Not_A_Bucket")
    missing = f"missing-{uuid.uuid4().hex}"
    with pytest.raises(ObjectNotFoundError, match=f"s3://{missing}.*NoSuchBucket"):
        s3_server.delete_bucket(missing)


def test_delete_bucket_removes_its_objects(s3_server: LocalS3Server) -> None:
    name = f"doomed-{uuid.uuid4().hex}"
    s3_server.create_bucket(name)
    assert s3_server.request("PUT", f"/{name}/a/b.txt", body=b"content").ok
    s3_server.delete_bucket(name)
    assert s3_server.request("HEAD", f"/{name}").status == 404
    s3_server.create_bucket(name)
    assert s3_server.request("GET", f"/{name}/a/b.txt").status == 404
    s3_server.delete_bucket(name)


def test_s3_options_fixture_and_overrides(s3_server: LocalS3Server, s3_options: dict[str, Any]) -> None:
    assert s3_options == {
        "aws_access_key_id": s3_server.access_key_id,
        "aws_secret_access_key": s3_server.secret_access_key,
        "endpoint_url": s3_server.endpoint_url,
        "region_name": "us-east-1",
    }
    overridden = s3_server.s3_options(region_name="eu-west-1", max_concurrency=4)
    assert overridden["region_name"] == "eu-west-1"
    assert overridden["max_concurrency"] == 4
    assert overridden["endpoint_url"] == s3_server.endpoint_url


def test_aws_env_fixture_sets_the_environment(s3_server: LocalS3Server, aws_env: dict[str, str]) -> None:
    assert os.environ["AWS_ACCESS_KEY_ID"] == s3_server.access_key_id
    assert os.environ["AWS_SECRET_ACCESS_KEY"] == s3_server.secret_access_key
    assert os.environ["AWS_ENDPOINT_URL"] == s3_server.endpoint_url
    assert os.environ["AWS_EC2_METADATA_DISABLED"] == "true"
    assert "AWS_PROFILE" not in os.environ
    assert not Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"]).exists()
    assert aws_env["AWS_REGION"] == os.environ["AWS_REGION"] == "us-east-1"


def test_repr_never_shows_the_secret(s3_server: LocalS3Server) -> None:
    text = repr(s3_server)
    assert s3_server.endpoint_url in text
    assert f"pid={s3_server.pid}" in text
    assert s3_server.secret_access_key not in text


def test_invalid_arguments_are_refused() -> None:
    with pytest.raises(InvalidConfigError, match="port"):
        LocalS3Server(port=60000)
    with pytest.raises(InvalidConfigError, match="startup_timeout"):
        LocalS3Server(startup_timeout=0)
    with pytest.raises(InvalidConfigError, match="ftp://x"):
        signed_request("GET", "ftp://x", access_key_id="a", secret_access_key="b")


@needs_server
def test_two_servers_run_at_once_in_isolation(s3_server: LocalS3Server) -> None:
    with LocalS3Server() as other:
        assert other.running
        assert s3_server.running
        assert other.pid != s3_server.pid
        assert other.data_dir != s3_server.data_dir
        assert set(other._command()[-10:]).isdisjoint(s3_server._command()[-10:])
        name = f"only-here-{uuid.uuid4().hex}"
        other.create_bucket(name)
        assert other.request("HEAD", f"/{name}").status == 200
        assert s3_server.request("HEAD", f"/{name}").status == 404
        # Each server accepts only its own generated identity.
        assert other.access_key_id != s3_server.access_key_id
        foreign = signed_request(
            "GET",
            s3_server.endpoint_url,
            "/",
            access_key_id=other.access_key_id,
            secret_access_key=other.secret_access_key,
        )
        assert foreign.status == 403


@needs_server
def test_restart_and_kill_keep_port_and_data() -> None:
    with LocalS3Server() as server:
        port, data_dir, first_pid = server.port, server.data_dir, server.pid
        server.create_bucket("kept")
        assert server.request("PUT", "/kept/object.bin", body=b"survives").ok

        server.restart()
        assert (server.port, server.data_dir) == (port, data_dir)
        assert server.pid != first_pid
        assert server.request("GET", "/kept/object.bin").body == b"survives"

        killed_pid = server.pid
        assert killed_pid is not None
        server.kill()
        assert not server.running
        assert _process_gone(killed_pid)
        assert _refuses_connections(port)
        with pytest.raises(ConnectionRefusedError):
            server.request("GET", "/kept/object.bin")

        server.restart()
        assert server.port == port
        assert server.request("GET", "/kept/object.bin").body == b"survives"


@needs_server
def test_stop_leaves_no_process_and_no_data_dir() -> None:
    server = LocalS3Server().start()
    pid, data_dir, port = server.pid, server.data_dir, server.port
    watchdog = server._watchdog
    grpc_sockets = server._grpc_socket_paths()
    assert any(path.exists() for path in grpc_sockets)
    assert pid is not None
    assert watchdog is not None
    assert data_dir.is_dir()

    server.stop()
    assert _process_gone(pid)
    assert watchdog.poll() is not None
    assert not data_dir.exists()
    assert not any(path.exists() for path in grpc_sockets)
    assert _refuses_connections(port)
    assert not server.running
    assert server.pid is None
    assert "stopped" in repr(server)
    server.stop()
    with pytest.raises(AutoStoreError, match="cannot restart"):
        server.restart()


@needs_server
def test_owner_killed_outright_leaves_no_server() -> None:
    owner_code = (
        "import os, signal\n"
        "from autostore.testing import LocalS3Server\n"
        "server = LocalS3Server().start()\n"
        "print(server.pid, server.port, server.data_dir, *server._grpc_socket_paths(), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    owner = subprocess.run(
        [sys.executable, "-c", owner_code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=_child_env(),
    )
    assert owner.returncode == -signal.SIGKILL, owner.stderr
    pid_text, port_text, data_dir_text, *socket_paths = owner.stdout.split()
    assert socket_paths
    assert _wait_until(lambda: _process_gone(int(pid_text)), timeout=20)
    assert _wait_until(lambda: not Path(data_dir_text).exists(), timeout=20)
    assert not any(Path(path).exists() for path in socket_paths)
    assert _refuses_connections(int(port_text))


@needs_server
def test_startup_failure_reports_the_log_tail(tmp_path: Path) -> None:
    fake = _fake_weed(tmp_path, 'echo "fatal: the disk is on fire"\nexit 3\n')
    server = LocalS3Server(weed_path=fake, startup_timeout=10)
    with pytest.raises(AutoStoreError, match=r"(?s)exited with code 3.*the disk is on fire"):
        server.start()
    assert not server.running
    with pytest.raises(AutoStoreError, match="no data directory"):
        _ = server.data_dir


@needs_server
def test_startup_timeout_reports_the_log_tail(tmp_path: Path) -> None:
    fake = _fake_weed(tmp_path, 'echo "still warming up"\nexec sleep 60\n')
    server = LocalS3Server(weed_path=fake, startup_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(AutoStoreError, match=r"(?s)did not answer .* within 0.5 s.*still warming up"):
        server.start()
    assert time.monotonic() - started < 10
    assert not server.running


@needs_server
def test_port_conflict_at_launch_is_retried_with_other_ports(
    monkeypatch: pytest.MonkeyPatch, occupied_port: int
) -> None:
    real_pick = autostore.testing.server._pick_free_ports
    picks: list[dict[str, tuple[int, int]]] = []

    def pick_taken_volume_port_first(s3_port: int | None) -> dict[str, tuple[int, int]]:
        ports = real_pick(s3_port)
        if not picks:
            # As if another process grabbed this port between the free check and weed's bind.
            ports["volume"] = (occupied_port, occupied_port + 10000)
        picks.append(ports)
        return ports

    monkeypatch.setattr(autostore.testing.server, "_pick_free_ports", pick_taken_volume_port_first)
    with LocalS3Server() as server:
        assert len(picks) == 2
        assert server._command().count(f"-volume.port={occupied_port}") == 0
        assert server.request("GET", "/").ok


@needs_server
def test_requested_port_in_use_is_refused(occupied_port: int) -> None:
    server = LocalS3Server(port=occupied_port)
    with pytest.raises(TransferError, match=str(occupied_port)):
        server.start()
    assert not server.running


@needs_server
def test_module_main_runs_a_server_until_sigterm() -> None:
    command = [sys.executable, "-m", "autostore.testing", "--bucket", "demo-one", "--bucket", "demo-two"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_child_env()
    )
    try:
        assert process.stdout is not None
        banner = []
        for line in process.stdout:
            banner.append(line.rstrip("\n"))
            if line.startswith("Press Ctrl+C"):
                break
        exported = dict(
            line.removeprefix("export ").split("=", 1) for line in banner if line.startswith("export ")
        )
        assert "buckets: demo-one, demo-two" in banner
        assert exported["AWS_EC2_METADATA_DISABLED"] == "true"
        server_pid = int(banner[0].split("(pid ")[1].split(")")[0])
        for bucket in ("demo-one", "demo-two"):
            response = signed_request(
                "HEAD",
                exported["AWS_ENDPOINT_URL"],
                f"/{bucket}",
                access_key_id=exported["AWS_ACCESS_KEY_ID"],
                secret_access_key=exported["AWS_SECRET_ACCESS_KEY"],
                region=exported["AWS_REGION"],
            )
            assert response.status == 200
        process.send_signal(signal.SIGTERM)
        remaining_output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert "stopped" in remaining_output
    assert _process_gone(server_pid)


def test_rust_core_round_trips_bytes_through_the_server(s3_server: LocalS3Server, s3_bucket: str) -> None:
    store = Store(
        f"s3://{s3_bucket}",
        endpoint=s3_server.endpoint_url,
        access_key_id=s3_server.access_key_id,
        secret_access_key=s3_server.secret_access_key,
        region=s3_server.region,
    )
    payload = os.urandom(100_000)
    store.put("core/blob.bin", payload)
    assert bytes(store.get("core/blob.bin")) == payload
    # What the core wrote is an ordinary object to any other S3 client.
    assert s3_server.request("GET", f"/{s3_bucket}/core/blob.bin").body == payload


def test_rust_core_with_a_wrong_secret_gets_permission_error(
    s3_server: LocalS3Server, s3_bucket: str
) -> None:
    store = Store(
        f"s3://{s3_bucket}",
        endpoint=s3_server.endpoint_url,
        access_key_id=s3_server.access_key_id,
        secret_access_key="not-the-secret",
        region=s3_server.region,
    )
    with pytest.raises(PermissionError, match=f"s3://{s3_bucket}/secret.bin") as caught:
        store.get("secret.bin")
    assert "not-the-secret" not in str(caught.value)
