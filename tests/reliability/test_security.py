"""Security: no code runs from a file unless pickles are allowed, secrets never show, TLS is verified.

Handler-level pickle refusal is covered in tests/test_handlers.py; here everything goes through the
public AutoStore and AutoPath API.
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
import ssl
import stat
import subprocess
import sys
import textwrap
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from autostore import AutoPath, AutoStore, Options
from autostore.exceptions import AccessDeniedError, AutoStoreError, HandlerError, TransferError
from autostore.s3 import S3Options

ACCESS_KEY = "AKIAFAKEACCESSKEY7Q3Z"
SECRET_KEY = "fakeSECRETkey/9Zr+distinctive+Q8wXyV2"
SESSION_TOKEN = "FAKEsessionTOKEN//distinctive+value=="
SECRETS = (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN)


class _CreatesFile:
    """Unpickling this object creates ``path``: proof that code ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


@pytest.fixture
def marker(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "code-ran"
    yield path
    assert not path.exists(), "loading a file ran code"


# --- nothing runs from a file -----------------------------------------------------------------------


def test_pickles_are_refused_through_the_store_and_paths(tmp_path: Path, marker: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    (root / "evil.pkl").write_bytes(pickle.dumps(_CreatesFile(marker)))
    (root / "other").mkdir()
    (root / "other" / "evil.bin").write_bytes(pickle.dumps(_CreatesFile(marker)))
    store = AutoStore(root, allow_pickle=False)
    attempts = [
        lambda: store["evil.pkl"],
        lambda: store["evil"],
        lambda: store.read("other/evil.bin", format="pkl"),
        lambda: store.get_many(["evil.pkl"]),
        lambda: AutoPath(root / "evil.pkl", store=store).load(),
        lambda: AutoPath(root / "other" / "evil.bin", store=store).load(format=".pkl"),
    ]
    for attempt in attempts:
        with pytest.raises(HandlerError, match="allow_pickle=False"):
            attempt()
        assert not marker.exists()


def test_one_options_object_refusing_pickles_is_enough(tmp_path: Path, marker: Path) -> None:
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(_CreatesFile(marker)))
    store = AutoStore(tmp_path, [Options(allow_pickle=True), S3Options(allow_pickle=False)])
    with pytest.raises(HandlerError, match="allow_pickle=False"):
        store["evil.pkl"]


def test_pickles_on_s3_are_refused(s3_bucket: str, s3_options: dict[str, Any], marker: Path) -> None:
    for cache_enabled in (False, True):
        store = AutoStore(
            f"s3://{s3_bucket}/c{cache_enabled}",
            S3Options(
                **s3_options, allow_pickle=False, cache_enabled=cache_enabled, cache_dir=marker.parent / "c"
            ),
        )
        AutoPath(f"{store.uri}/evil.pkl", store=store).write_bytes(pickle.dumps(_CreatesFile(marker)))
        with pytest.raises(HandlerError, match="allow_pickle=False"):
            store["evil"]
        with pytest.raises(HandlerError, match="allow_pickle=False"):
            AutoPath(f"{store.uri}/evil.pkl", store=store).load()


class TinyModel(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 2)


def test_full_torch_models_and_pickles_in_torch_files_are_refused(tmp_path: Path, marker: Path) -> None:
    torch.save(TinyModel(), tmp_path / "model.pt")
    torch.save({"weights": torch.ones(2), "payload": _CreatesFile(marker)}, tmp_path / "evil.pth")
    torch.save({"weights": torch.ones(2)}, tmp_path / "state.pt")
    store = AutoStore(tmp_path, allow_pickle=False)
    for key in ("model.pt", "model", "evil.pth"):
        with pytest.raises(HandlerError, match="allow_pickle=False"):
            store[key]
    assert torch.equal(store["state"]["weights"], torch.ones(2))  # tensors alone still load


def test_numpy_object_arrays_never_unpickle(tmp_path: Path, marker: Path) -> None:
    np.save(tmp_path / "objects.npy", np.array([_CreatesFile(marker), 1], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "archive.npz", a=np.array([_CreatesFile(marker)], dtype=object))
    store = AutoStore(tmp_path)  # pickles allowed for .pkl, still never for NumPy files
    for key in ("objects.npy", "objects", "archive.npz", "archive"):
        with pytest.raises(HandlerError, match="allow_pickle=False"):
            store[key]


def test_a_json_file_cannot_make_the_store_import_a_module(
    tmp_path: Path, marker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "modules"
    package.mkdir()
    (package / "side_effect_on_import.py").write_text(
        textwrap.dedent(f"""
            import dataclasses
            open({str(marker)!r}, "w").close()

            @dataclasses.dataclass
            class Point:
                x: int = 0
        """)
    )
    monkeypatch.syspath_prepend(str(package))
    (tmp_path / "point.dataclass.json").write_text(
        '{"__dataclass__": "side_effect_on_import:Point", "fields": {"x": 1}}'
    )
    store = AutoStore(tmp_path, allow_pickle=False)
    with pytest.raises(HandlerError, match="not imported"):
        store["point"]
    assert "side_effect_on_import" not in sys.modules


# --- secrets never show -----------------------------------------------------------------------------


def _assert_no_secret(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{where} shows a credential"


def _secret_options(**overrides: Any) -> S3Options:
    return S3Options(
        **{
            "aws_access_key_id": ACCESS_KEY,
            "aws_secret_access_key": SECRET_KEY,
            "aws_session_token": SESSION_TOKEN,
            **overrides,
        }
    )


def _full_text(error: BaseException) -> str:
    """The message, repr, arguments and whole traceback chain of ``error``."""
    return "".join(traceback.format_exception(error)) + repr(error) + repr(error.args)


def test_reprs_and_strs_never_show_credentials(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    options = _secret_options(endpoint_url="http://127.0.0.1:9", region_name="r")
    store = AutoStore("s3://bucket/prefix", options)
    path = AutoPath("s3://bucket/prefix/x.json", store=store)
    backend = store.primary_backend
    shown = [store, path, options, backend, backend.backend, backend.backend.store, store.options]
    for item in shown:
        _assert_no_secret(repr(item), f"repr({type(item).__name__})")
        _assert_no_secret(str(item), f"str({type(item).__name__})")
    _assert_no_secret(backend.backend.store.identity, "the store identity")
    _assert_no_secret(repr(options.merged(timeout=5.0)), "a merged copy")
    _assert_no_secret(caplog.text, "the log")


def test_errors_of_unreachable_endpoints_never_show_credentials(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = AutoStore(
        "s3://bucket", _secret_options(endpoint_url=f"http://127.0.0.1:{port}", max_retries=0, timeout=2.0)
    )
    for attempt in (lambda: store["x.json"], lambda: store.__setitem__("x.json", {"a": 1}), store.keys):
        with pytest.raises(TransferError) as caught:
            attempt()
        assert f"127.0.0.1:{port}" in str(caught.value)
        _assert_no_secret(_full_text(caught.value), "the error")
    _assert_no_secret(caplog.text, "the log")


def test_wrong_credentials_are_a_permission_error_without_them(
    s3_bucket: str, s3_options: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = {**s3_options, "aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY}
    store = AutoStore(f"s3://{s3_bucket}", S3Options(**wrong, max_retries=0))
    with pytest.raises(AccessDeniedError) as caught:
        store["x.json"] = {"a": 1}
    assert isinstance(caught.value, PermissionError)
    assert s3_bucket in str(caught.value)
    _assert_no_secret(_full_text(caught.value), "the error")
    with pytest.raises(AutoStoreError) as read_error:
        store["x.json"]
    _assert_no_secret(_full_text(read_error.value), "the error")
    _assert_no_secret(caplog.text, "the log")


def test_credentials_resolved_through_botocore_never_reach_the_log(
    aws_files: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("botocore", "autostore"):
        caplog.set_level(logging.DEBUG, logger=name)
    document = (
        f'{{"Version": 1, "AccessKeyId": "{ACCESS_KEY}", "SecretAccessKey": "{SECRET_KEY}", '
        f'"SessionToken": "{SESSION_TOKEN}"}}'
    )
    script = aws_files.config.parent / "credentials.py"
    script.write_text(f"print({document!r})")
    aws_files.write_config(f"""
        [profile process]
        region = us-east-1
        credential_process = {sys.executable} {script}
    """)
    options = S3Options(profile_name="process", endpoint_url="http://127.0.0.1:9")
    kwargs = options.to_core_kwargs()
    assert kwargs["secret_access_key"] == SECRET_KEY  # the keys really went through botocore
    store = AutoStore("s3://bucket", options)
    _assert_no_secret(repr(store) + repr(options), "a repr")
    _assert_no_secret(caplog.text, "the log at DEBUG (botocore included)")


def test_the_cache_holds_no_credentials_and_is_private(
    s3_bucket: str, s3_options: dict[str, Any], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    previous = os.umask(0o022)
    try:
        store = AutoStore(f"s3://{s3_bucket}", S3Options(**s3_options, cache_enabled=True, cache_dir=cache))
        store["config"] = {"a": 1}
        store["array"] = np.arange(5)
        AutoPath(f"s3://{s3_bucket}/uploaded.json", store=store).write_text('{"b": 2}')
        assert store["uploaded"] == {"b": 2}
        assert store.read("config", ignore_cache=True) == {"a": 1}
    finally:
        os.umask(previous)
    entries = [cache, *cache.rglob("*")]
    assert len(entries) > 3
    credentials = (s3_options["aws_access_key_id"].encode(), s3_options["aws_secret_access_key"].encode())
    for entry in entries:
        mode = stat.S_IMODE(entry.lstat().st_mode)
        expected = 0o700 if entry.is_dir() else 0o600
        assert mode == expected, f"{entry} has mode {oct(mode)}"
        assert not any(secret in entry.name.encode() for secret in credentials)
        if entry.is_file():
            content = entry.read_bytes()
            assert not any(secret in content for secret in credentials), f"{entry} holds a credential"


# --- TLS --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def self_signed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``https://127.0.0.1:PORT`` of a server with a self-signed certificate answering 404 to all."""
    directory = tmp_path_factory.mktemp("tls")
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stopping = threading.Event()

    def answer(connection: socket.socket) -> None:
        try:
            with context.wrap_socket(connection, server_side=True) as tls:
                tls.settimeout(5)
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = tls.recv(4096)
                    if not chunk:
                        return
                    request += chunk
                tls.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        except (OSError, ssl.SSLError):
            pass  # a client refusing the certificate hangs up mid-handshake

    def serve() -> None:
        while not stopping.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=answer, args=(connection,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{listener.getsockname()[1]}"
    stopping.set()
    thread.join()
    listener.close()


def test_tls_verification_is_on_by_default() -> None:
    assert S3Options().verify is True
    assert S3Options().to_core_kwargs()["verify"] is True


def test_a_self_signed_certificate_fails_unless_verification_is_off(self_signed_server: str) -> None:
    keys = {"aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY, "max_retries": 0}
    verified = AutoStore("s3://bucket", S3Options(endpoint_url=self_signed_server, **keys))
    with pytest.raises(TransferError) as caught:
        AutoPath("s3://bucket/x.json", store=verified).read_bytes()
    assert not isinstance(caught.value, FileNotFoundError)
    assert "404" not in str(caught.value)
    _assert_no_secret(_full_text(caught.value), "the TLS error")
    unverified = AutoStore("s3://bucket", S3Options(endpoint_url=self_signed_server, verify=False, **keys))
    with pytest.raises(AutoStoreError, match="404 Not Found"):  # the handshake succeeded: the server answered
        AutoPath("s3://bucket/x.json", store=unverified).read_bytes()
