"""The ``autostore`` command against local directories and the local S3 server.

Most tests call :func:`autostore.cli.main` in-process (fast); a few run ``python -m autostore`` as a
real process to check exit statuses and that Ctrl-C leaves nothing partial behind. Credentials reach
the command the way they reach it in a shell: AWS_* variables (the ``aws_env`` fixture) for ``s3://``
and a TOML config file (``$AUTOSTORE_CONFIG``) for the named scheme ``minio://``.
"""

from __future__ import annotations

import io
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from autostore import _core
from autostore.cli import listing, main, output, remove
from autostore.cli.output import Output, human_size
from autostore.testing import LocalS3Server

MIB = 1024 * 1024
# A region unlike the s3:// one gives minio:// a different store identity on the same server, so copies
# between them stream through the core as they would between two services.
MINIO_REGION = "eu-test-1"

TREE = {
    "a.txt": b"alpha\n",
    "sub/b.bin": bytes(range(256)) * 4,
    "sub/deeper/c.json": b'{"c": 3}',
    "with space.txt": b"spaced",
}


@dataclass(frozen=True)
class Result:
    """What one run of the command did."""

    code: int
    out: str
    err: str

    def records(self) -> list[dict[str, Any]]:
        """The ``--json`` output: one object per line."""
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    def record(self) -> dict[str, Any]:
        """The single ``--json`` object of a command that prints one."""
        records = self.records()
        assert len(records) == 1, self.out
        return records[0]


Cli = Callable[..., Result]


@pytest.fixture
def config_file(
    aws_env: dict[str, str], s3_server: LocalS3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A config file defining ``minio://`` on the test server, named by ``$AUTOSTORE_CONFIG``."""
    path = tmp_path / "autostore.toml"
    path.write_text(
        f"""
[schemes.minio]
endpoint_url = "{s3_server.endpoint_url}"
aws_access_key_id = "{s3_server.access_key_id}"
aws_secret_access_key = "{s3_server.secret_access_key}"
region_name = "{MINIO_REGION}"
multipart_threshold = {5 * MIB}
multipart_chunksize = {5 * MIB}
"""
    )
    path.chmod(0o600)
    monkeypatch.setenv("AUTOSTORE_CONFIG", str(path))
    return path


@pytest.fixture
def cli(config_file: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run ``main(argv)`` in-process and capture what it printed."""

    def run(*argv: str) -> Result:
        code = main(list(argv))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def bucket_store(s3_server: LocalS3Server, s3_bucket: str) -> _core.Store:
    """A core store on the test bucket, for setting up and checking objects behind the command's back."""
    return _core.Store(
        f"s3://{s3_bucket}",
        access_key_id=s3_server.access_key_id,
        secret_access_key=s3_server.secret_access_key,
        endpoint=s3_server.endpoint_url,
        region=s3_server.region,
    )


def make_tree(root: Path, files: dict[str, bytes] = TREE) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def remote_tree(store: _core.Store, prefix: str) -> dict[str, bytes]:
    """``{relative key: bytes}`` of every object under ``prefix``."""
    metas = store.list(prefix)
    return {meta.key[len(prefix) + 1 :]: bytes(store.get(meta.key)) for meta in metas}


def local_tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*") if path.is_file()
    }


# --- parser, help, exit statuses ------------------------------------------------------------------


def test_help_version_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for command in ("ls", "glob", "cp", "mv", "rm", "cat", "stat", "sync", "cache", "backends"):
        assert f"    {command} " in text
    assert "exit status" in text
    assert main(["sync", "--help"]) == 0
    assert "ETag" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("autostore ")
    assert main([]) == 2
    assert "a command is required" in capsys.readouterr().err
    assert main(["ls", "--no-such-flag"]) == 2
    assert main(["cp", "only-one-operand"]) == 2


def test_help_loads_no_command_module() -> None:
    """``--help`` imports only the parser: commands, tqdm and the data handlers stay unloaded."""
    probe = (
        "import sys\n"
        "from autostore.cli import main\n"
        "code = main(['--help'])\n"
        "modules = ('autostore.cli.transfer', 'autostore.cli.listing', 'tqdm')\n"
        "heavy = [name for name in modules if name in sys.modules]\n"
        "print(code, heavy, file=sys.stderr)\n"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert completed.stderr.strip() == "0 []"


def test_exit_statuses_of_a_real_process(config_file: Path, s3_bucket: str, tmp_path: Path) -> None:
    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "autostore", *argv],
            check=False,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            cwd=tmp_path,
            timeout=60,
        )

    (tmp_path / "file.txt").write_text("hello")
    ok = run("cp", "file.txt", f"s3://{s3_bucket}/dir/")
    assert ok.returncode == 0, ok.stderr
    missing = run("cp", f"s3://{s3_bucket}/nope.txt", "out.txt")
    assert missing.returncode == 1
    assert f"s3://{s3_bucket}/nope.txt" in missing.stderr
    assert not (tmp_path / "out.txt").exists()
    assert run("ls", "--bogus").returncode == 2
    refused = run("rm", "-r", f"s3://{s3_bucket}/dir")
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
    assert run("stat", f"s3://{s3_bucket}/dir/file.txt").returncode == 0


# --- ls, glob, stat, cat --------------------------------------------------------------------------


def test_ls_one_level_recursive_long_and_json(cli: Cli, s3_bucket: str, tmp_path: Path) -> None:
    source = make_tree(tmp_path / "tree")
    assert cli("cp", "-r", str(source), f"s3://{s3_bucket}/data/").code == 0

    for root in (str(source), f"s3://{s3_bucket}/data"):
        level = cli("ls", root)
        assert level.code == 0
        assert level.out.splitlines() == ["a.txt", "sub/", "with space.txt"]

        recursive = cli("ls", "-r", "--json", root)
        names = {record["name"]: record for record in recursive.records()}
        assert set(names) == set(TREE)
        assert names["sub/b.bin"]["size"] == 1024
        assert names["sub/b.bin"]["type"] == "file"

        long = cli("ls", "-l", "-h", root)
        line = next(line for line in long.out.splitlines() if line.endswith("a.txt"))
        assert "     6 B  a.txt" in line
        assert "DIR  sub/" in long.out

    remote = {record["name"]: record for record in cli("ls", "--json", f"s3://{s3_bucket}/data/").records()}
    assert remote["sub/"] == {"name": "sub/", "uri": f"s3://{s3_bucket}/data/sub", "type": "directory"}
    assert remote["a.txt"]["uri"] == f"s3://{s3_bucket}/data/a.txt"
    assert remote["a.txt"]["etag"]
    assert cli("ls", f"s3://{s3_bucket}/data/a.txt").out.strip() == "a.txt"

    missing = cli("ls", f"s3://{s3_bucket}/nothing-here")
    assert missing.code == 1
    assert f"s3://{s3_bucket}/nothing-here" in missing.err


def test_glob_matches_across_segments(cli: Cli, s3_bucket: str, tmp_path: Path) -> None:
    source = make_tree(tmp_path / "tree")
    cli("cp", "-r", str(source), f"s3://{s3_bucket}/g/")
    remote = cli("glob", f"s3://{s3_bucket}/g/**/*.json")
    assert remote.code == 0
    assert remote.out.splitlines() == [f"s3://{s3_bucket}/g/sub/deeper/c.json"]
    local = cli("glob", "--json", str(source / "*.txt"))
    assert sorted(record["uri"] for record in local.records()) == [
        str(source / "a.txt"),
        str(source / "with space.txt"),
    ]
    nothing = cli("glob", f"s3://{s3_bucket}/g/*.csv")
    assert nothing.code == 1
    assert "nothing matches" in nothing.err


def test_stat_reports_size_mtime_and_etag(cli: Cli, s3_bucket: str, bucket_store: _core.Store) -> None:
    written = bucket_store.put("k/data.bin", b"x" * 2048)
    result = cli("stat", "--json", f"s3://{s3_bucket}/k/data.bin", f"s3://{s3_bucket}/k")
    assert result.code == 0
    file_record, directory_record = result.records()
    assert file_record["size"] == 2048
    assert file_record["etag"] == (written.etag or "").strip('"')
    assert file_record["last_modified"].startswith(time.strftime("%Y-", time.gmtime()))
    assert directory_record["type"] == "directory"

    human = cli("stat", f"s3://{s3_bucket}/k/data.bin")
    assert "size:     2048 bytes (2.0 KiB)" in human.out
    assert f"etag:     {file_record['etag']}" in human.out

    missing = cli("stat", f"s3://{s3_bucket}/k/data.bin", f"s3://{s3_bucket}/k/missing")
    assert missing.code == 1
    assert f"s3://{s3_bucket}/k/missing" in missing.err


def test_cat_is_binary_safe_and_streams_in_ranges(
    *,
    config_file: Path,
    s3_bucket: str,
    bucket_store: _core.Store,
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    payload = bytes(range(256)) * 40 + b"\r\n\x00end"
    bucket_store.put("blob.bin", payload)
    (tmp_path / "local.bin").write_bytes(b"\x00local\xff")
    # Small ranges make the 10 KiB object take the ranged path that large objects take.
    monkeypatch.setattr(listing, "CAT_CHUNK_BYTES", 1000)
    assert main(["cat", f"s3://{s3_bucket}/blob.bin", str(tmp_path / "local.bin")]) == 0
    assert capsysbinary.readouterr().out == payload + b"\x00local\xff"

    assert main(["cat", f"s3://{s3_bucket}/missing", str(tmp_path / "local.bin")]) == 1
    captured = capsysbinary.readouterr()
    assert captured.out == b"\x00local\xff"
    assert f"s3://{s3_bucket}/missing".encode() in captured.err


# --- cp and mv ------------------------------------------------------------------------------------


def test_cp_single_files_follow_trailing_slash_rules(
    cli: Cli, s3_bucket: str, bucket_store: _core.Store, tmp_path: Path
) -> None:
    source = tmp_path / "report.csv"
    source.write_bytes(b"a,b\n1,2\n")
    assert cli("cp", str(source), f"s3://{s3_bucket}/reports/").code == 0
    assert cli("cp", str(source), f"s3://{s3_bucket}/exact-name").code == 0
    assert bytes(bucket_store.get("reports/report.csv")) == source.read_bytes()
    assert bytes(bucket_store.get("exact-name")) == source.read_bytes()

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    result = cli("cp", "--json", f"s3://{s3_bucket}/reports/report.csv", str(downloads))
    assert result.code == 0
    assert result.record()["destination"] == str(downloads / "report.csv")
    assert result.record()["bytes"] == len(source.read_bytes())
    assert (downloads / "report.csv").read_bytes() == source.read_bytes()
    assert cli("cp", f"file://{source}", str(tmp_path / "new" / "copy.csv")).code == 0
    copy = tmp_path / "new" / "copy.csv"
    assert copy.read_bytes() == source.read_bytes()
    assert copy.stat().st_ino != source.stat().st_ino
    assert stat.S_IMODE(copy.stat().st_mode) == stat.S_IMODE(source.stat().st_mode)

    directory = cli("cp", str(tmp_path / "downloads"), f"s3://{s3_bucket}/x/")
    assert directory.code == 1
    assert "cp -r" in directory.err
    prefix = cli("cp", f"s3://{s3_bucket}/reports", str(tmp_path / "r"))
    assert prefix.code == 1
    assert "is a prefix" in prefix.err


def test_cp_recursive_in_both_directions_keeps_relative_paths(
    cli: Cli, s3_bucket: str, bucket_store: _core.Store, tmp_path: Path
) -> None:
    source = make_tree(tmp_path / "up")
    upload = cli("cp", "-r", "--json", str(source), f"s3://{s3_bucket}/prefix/")
    assert upload.code == 0
    record = upload.record()
    assert (record["copied"], record["failed"], record["bytes"]) == (
        len(TREE),
        0,
        sum(map(len, TREE.values())),
    )
    assert remote_tree(bucket_store, "prefix") == TREE

    download = cli("cp", "-r", f"s3://{s3_bucket}/prefix/", str(tmp_path / "down"))
    assert download.code == 0
    assert f"copied {len(TREE)} files" in download.out
    assert local_tree(tmp_path / "down") == TREE
    assert not [path for path in (tmp_path / "down").rglob("*autostore-partial*")]
    assert cli("cp", "-r", str(source), str(tmp_path / "local-copy")).code == 0
    assert local_tree(tmp_path / "local-copy") == TREE

    missing = cli("cp", "-r", f"s3://{s3_bucket}/absent/", str(tmp_path / "none"))
    assert missing.code == 1
    assert f"s3://{s3_bucket}/absent" in missing.err


def test_cp_between_endpoints_streams_through_the_core(
    cli: Cli, s3_bucket: str, bucket_store: _core.Store, tmp_path: Path
) -> None:
    big = os.urandom(6 * MIB)  # above minio's 5 MiB multipart threshold: the multipart streaming path
    bucket_store.put("src/big.bin", big)
    bucket_store.put("src/small.txt", b"small")
    assert cli("cp", f"s3://{s3_bucket}/src/big.bin", f"minio://{s3_bucket}/dst/big.bin").code == 0
    assert bytes(bucket_store.get("dst/big.bin")) == big
    tree = cli("cp", "-r", "--json", f"s3://{s3_bucket}/src", f"minio://{s3_bucket}/tree/")
    assert tree.code == 0
    assert tree.record()["destination"] == f"minio://{s3_bucket}/tree"
    assert remote_tree(bucket_store, "tree") == {"big.bin": big, "small.txt": b"small"}


def test_mv_moves_files_and_trees(
    cli: Cli, s3_bucket: str, bucket_store: _core.Store, tmp_path: Path
) -> None:
    source = make_tree(tmp_path / "src")
    assert cli("mv", "-r", str(source), f"s3://{s3_bucket}/moved").code == 0
    assert remote_tree(bucket_store, "moved") == TREE
    assert not source.exists()
    assert cli("mv", f"s3://{s3_bucket}/moved/a.txt", f"s3://{s3_bucket}/renamed.txt").code == 0
    assert not bucket_store.exists("moved/a.txt")
    assert bytes(bucket_store.get("renamed.txt")) == TREE["a.txt"]
    assert cli("mv", f"s3://{s3_bucket}/renamed.txt", str(tmp_path / "back.txt")).code == 0
    assert (tmp_path / "back.txt").read_bytes() == TREE["a.txt"]
    assert not bucket_store.exists("renamed.txt")
    assert cli("mv", str(tmp_path / "back.txt"), str(tmp_path / "again.txt")).code == 0
    assert (tmp_path / "again.txt").read_bytes() == TREE["a.txt"]
    assert not (tmp_path / "back.txt").exists()


# --- rm -------------------------------------------------------------------------------------------


def test_rm_objects_and_prefixes(cli: Cli, s3_bucket: str, bucket_store: _core.Store, tmp_path: Path) -> None:
    for key in ("p/one", "p/two", "p/sub/three", "single"):
        bucket_store.put(key, b"x")
    single = cli("rm", "--json", f"s3://{s3_bucket}/single")
    assert single.code == 0
    assert single.record()["uris"] == [f"s3://{s3_bucket}/single"]
    assert not bucket_store.exists("single")

    assert cli("rm", f"s3://{s3_bucket}/single").code == 1
    prefix_without_r = cli("rm", f"s3://{s3_bucket}/p")
    assert prefix_without_r.code == 1
    assert "rm -r" in prefix_without_r.err

    refused = cli("rm", "-r", f"s3://{s3_bucket}/p")
    assert refused.code == 2
    assert "3 objects" in refused.err
    assert len(bucket_store.list("p")) == 3

    removed = cli("rm", "-r", "--yes", "--json", f"s3://{s3_bucket}/p")
    assert removed.code == 0
    assert removed.record()["deleted"] == 3
    # Checked key by key: SeaweedFS goes on listing an emptied directory as a 0-byte entry.
    assert not any(bucket_store.exists(key) for key in ("p/one", "p/two", "p/sub/three"))

    local = make_tree(tmp_path / "local")
    assert cli("rm", str(local)).code == 1
    assert cli("rm", "-r", "-y", str(local)).code == 0
    assert not local.exists()


def test_rm_asks_on_a_terminal(
    cli: Cli, s3_bucket: str, bucket_store: _core.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket_store.put("ask/one", b"1")
    monkeypatch.setattr(remove, "_stdin_is_terminal", lambda: True)
    monkeypatch.setattr(sys, "stdin", io.StringIO("n\n"))
    declined = cli("rm", "-r", f"s3://{s3_bucket}/ask")
    assert declined.code == 1
    assert "delete 1 object under" in declined.err
    assert bucket_store.exists("ask/one")
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    assert cli("rm", "-r", f"s3://{s3_bucket}/ask").code == 0
    assert not bucket_store.exists("ask/one")


# --- sync -----------------------------------------------------------------------------------------


def test_sync_local_to_s3_is_idempotent_and_deletes_on_request(
    cli: Cli, s3_bucket: str, bucket_store: _core.Store, tmp_path: Path
) -> None:
    source = make_tree(tmp_path / "src")
    destination = f"s3://{s3_bucket}/mirror"
    first = cli("sync", "--json", str(source), destination).record()
    assert (first["copied"], first["up_to_date"]) == (len(TREE), 0)
    second = cli("sync", "--json", str(source), destination).record()
    assert (second["copied"], second["up_to_date"], second["items"]) == (0, len(TREE), [])

    (source / "a.txt").write_bytes(b"alpha, longer now\n")
    (source / "new.txt").write_bytes(b"new")
    bucket_store.put("mirror/stale.txt", b"gone soon")
    dry = cli("sync", "--json", "--dry-run", "--delete", str(source), destination).record()
    assert sorted(item["destination"] for item in dry["to_copy"]) == [
        f"{destination}/a.txt",
        f"{destination}/new.txt",
    ]
    assert dry["to_delete"] == [f"{destination}/stale.txt"]
    assert bucket_store.exists("mirror/stale.txt")

    third = cli("sync", "--json", "--delete", str(source), destination).record()
    assert (third["copied"], third["deleted"]) == (2, 1)
    assert remote_tree(bucket_store, "mirror") == local_tree(source)

    # Local vs S3 compares sizes and modification times: a same-size change on the newer side stays.
    bucket_store.put("mirror/with space.txt", b"SPACED")
    assert cli("sync", "--json", str(source), destination).record()["copied"] == 0


def test_sync_between_s3_prefixes_compares_etags(cli: Cli, s3_bucket: str, bucket_store: _core.Store) -> None:
    for key, data in TREE.items():
        bucket_store.put(f"a/{key}", data)
    source, destination = f"s3://{s3_bucket}/a", f"s3://{s3_bucket}/b"
    assert cli("sync", "--json", source, destination).record()["copied"] == len(TREE)
    assert cli("sync", "--json", source, destination).record()["copied"] == 0
    # Same size, newer destination: only the ETag tells the contents apart.
    bucket_store.put("b/a.txt", b"ALPHA\n")
    again = cli("sync", "--json", source, destination).record()
    assert [item["destination"] for item in again["items"]] == [f"{destination}/a.txt"]
    assert bytes(bucket_store.get("b/a.txt")) == TREE["a.txt"]


def test_sync_s3_to_local_twice_copies_once(
    cli: Cli, s3_bucket: str, bucket_store: _core.Store, tmp_path: Path
) -> None:
    for key, data in TREE.items():
        bucket_store.put(f"src/{key}", data)
    target = tmp_path / "mirror"
    assert cli("sync", "--json", f"s3://{s3_bucket}/src", str(target)).record()["copied"] == len(TREE)
    assert local_tree(target) == TREE
    assert cli("sync", "--json", f"s3://{s3_bucket}/src", str(target)).record()["copied"] == 0


def test_sync_refuses_a_missing_source(cli: Cli, s3_bucket: str, bucket_store: _core.Store) -> None:
    bucket_store.put("keep/me", b"1")
    result = cli("sync", "--delete", f"s3://{s3_bucket}/typo", f"s3://{s3_bucket}/keep")
    assert result.code == 1
    assert f"s3://{s3_bucket}/typo" in result.err
    assert bucket_store.exists("keep/me")


# --- configuration, backends, secrets -------------------------------------------------------------


def test_backends_lists_schemes_without_secrets(
    cli: Cli, s3_server: LocalS3Server, config_file: Path
) -> None:
    result = cli("backends", "--json", "--region", "flag-region")
    assert result.code == 0
    records = {record["scheme"]: record for record in result.records()}
    assert {"file", "s3", "minio"} <= set(records)
    assert records["minio"]["endpoint"] == s3_server.endpoint_url
    assert records["minio"]["region"] == MINIO_REGION
    assert records["minio"]["credentials"] is True
    assert str(config_file) in records["minio"]["source"]
    assert records["s3"]["region"] == "flag-region"
    assert records["s3"]["source"] == "flags"
    human = cli("backends")
    assert "minio://" in human.out
    for text in (result.out, result.err, human.out, human.err):
        assert s3_server.secret_access_key not in text


def test_config_errors_are_usage_errors_that_hide_secrets(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[schemes.broken]\naws_secret_access_key = "TOPSECRETVALUE"\n')
    bad.chmod(0o600)
    result = cli("--config", str(bad), "ls", "broken://bucket/")
    assert result.code == 2
    assert str(bad) in result.err
    assert "[schemes.broken]" in result.err
    assert "TOPSECRETVALUE" not in result.err

    typo = tmp_path / "typo.toml"
    typo.write_text("[schemes.x]\nendpoint = 'http://127.0.0.1:1'\n")
    assert "endpoint_url" in cli("--config", str(typo), "backends").err

    assert cli("--config", str(tmp_path / "absent.toml"), "backends").code == 2
    assert cli("ls", "nosuchscheme://bucket/key").code == 2
    assert "nosuchscheme" in cli("ls", "nosuchscheme://bucket/key").err
    assert cli("ls", "s3://").code == 2

    shared = tmp_path / "shared.toml"
    shared.write_text(
        '[schemes.team]\nendpoint_url = "http://127.0.0.1:1"\n'
        'aws_access_key_id = "AKID"\naws_secret_access_key = "TOPSECRETVALUE"\n'
    )
    shared.chmod(0o644)
    warned = cli("--config", str(shared), "backends")
    assert "chmod 600" in warned.err
    assert "TOPSECRETVALUE" not in warned.out + warned.err


def test_default_config_path_and_profiles(
    *,
    aws_env: dict[str, str],
    s3_server: LocalS3Server,
    s3_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A scheme set up by ``profile_name`` in the default config file needs no keys in the environment."""
    Path(aws_env["AWS_CONFIG_FILE"]).write_text(
        "[profile local]\n"
        f"aws_access_key_id = {s3_server.access_key_id}\n"
        f"aws_secret_access_key = {s3_server.secret_access_key}\n"
    )
    config_home = tmp_path / "xdg"
    (config_home / "autostore").mkdir(parents=True)
    (config_home / "autostore" / "config.toml").write_text(
        f'[schemes.viaprofile]\nendpoint_url = "{s3_server.endpoint_url}"\nprofile_name = "local"\n'
    )
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    monkeypatch.delenv("AUTOSTORE_CONFIG", raising=False)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    (tmp_path / "f.txt").write_text("via profile")
    assert main(["cp", str(tmp_path / "f.txt"), f"viaprofile://{s3_bucket}/f.txt"]) == 0
    assert main(["--profile", "local", "cat", f"s3://{s3_bucket}/f.txt"]) == 0
    assert capsys.readouterr().out.endswith("via profile")


# --- cache ----------------------------------------------------------------------------------------


def test_cache_info_clean_and_clear(
    cli: Cli, s3_bucket: str, bucket_store: _core.Store, tmp_path: Path
) -> None:
    cache_dir = tmp_path / "cache"
    bucket_store.put("cached.bin", b"c" * 100)
    _core.Cache(str(cache_dir)).fetch(bucket_store, "cached.bin")
    info = cli("cache", "info", "--json", "--cache-dir", str(cache_dir)).record()
    assert (info["entries"], info["bytes"], info["misses"]) == (1, 100, 1)
    assert Path(info["root"]) == cache_dir
    assert "entries:       1" in cli("cache", "info", "--cache-dir", str(cache_dir)).out

    kept = cli("cache", "clean", "--json", "--cache-dir", str(cache_dir), "--expiry-hours", "1").record()
    assert kept["removed"] == 0
    time.sleep(0.05)
    expired = cli(
        "cache", "clean", "--json", "--cache-dir", str(cache_dir), "--expiry-hours", "0.00001"
    ).record()
    assert expired["removed"] == 1

    _core.Cache(str(cache_dir)).fetch(bucket_store, "cached.bin")
    cleared = cli("cache", "clear", "--json", "--cache-dir", str(cache_dir)).record()
    assert cleared["removed"] == 1
    assert cli("cache", "info", "--json", "--cache-dir", str(cache_dir)).record()["entries"] == 0


# --- output ---------------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_human_sizes() -> None:
    assert [human_size(n) for n in (0, 1023, 1536, 10 * MIB, 3 * 1024 * MIB)] == [
        "0 B",
        "1023 B",
        "1.5 KiB",
        "10 MiB",
        "3.0 GiB",
    ]


def test_progress_bars_only_on_a_terminal_and_not_when_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output, "BAR_DELAY_SECONDS", 0.0)
    terminal = _Terminal()
    with Output(stderr=terminal).progress("upload", 100) as progress:
        progress(50, None)
        progress(100, None)
    assert "upload:" in terminal.getvalue()
    assert "/100 [" in terminal.getvalue()
    assert progress.done == 100

    for quiet, stream in ((True, _Terminal()), (False, io.StringIO())):
        with Output(stderr=stream, quiet=quiet).progress("upload") as silent:
            silent(10, 10)
        assert stream.getvalue() == ""
        assert silent.total == 10


def test_cp_draws_a_bar_on_a_terminal(
    cli: Cli, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(output, "BAR_DELAY_SECONDS", 0.0)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    source = tmp_path / "bar.bin"
    source.write_bytes(os.urandom(2 * MIB))
    assert cli("cp", str(source), f"s3://{s3_bucket}/bar.bin").code == 0
    assert "bar.bin" in terminal.getvalue()
    assert "B/s" in terminal.getvalue()


# --- Ctrl-C ---------------------------------------------------------------------------------------


def _multipart_uploads(server: LocalS3Server, bucket: str) -> int:
    response = server.request("GET", f"/{bucket}", query={"uploads": ""})
    assert response.ok, response.body
    return response.body.count(b"<Upload>")


def _slow_config(tmp_path: Path) -> Path:
    """One request at a time in 5 MiB parts: a large copy lasts long enough to be interrupted."""
    path = tmp_path / "slow.toml"
    path.write_text(
        f"[schemes.s3]\nmax_concurrency = 1\n"
        f"multipart_threshold = {5 * MIB}\nmultipart_chunksize = {5 * MIB}\n"
    )
    return path


def _start(tmp_path: Path, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "autostore", "--config", str(_slow_config(tmp_path)), *argv],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert process.poll() is None, f"the copy ended before {what}: {process.communicate()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _interrupt(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    return err


@pytest.mark.skipif(os.name == "nt", reason="SIGINT cannot be sent to a console child on Windows")
def test_interrupted_upload_leaves_no_object_and_no_upload(
    config_file: Path, s3_server: LocalS3Server, s3_bucket: str, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    block = os.urandom(MIB)
    with source.open("wb") as stream:
        for _ in range(160):
            stream.write(block)
    process = _start(tmp_path, "cp", str(source), f"s3://{s3_bucket}/big.bin")
    _wait_for(lambda: _multipart_uploads(s3_server, s3_bucket) > 0, process, "the multipart upload began")
    assert "interrupted" in _interrupt(process)
    assert s3_server.request("HEAD", f"/{s3_bucket}/big.bin").status == 404
    deadline = time.monotonic() + 5
    while _multipart_uploads(s3_server, s3_bucket) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _multipart_uploads(s3_server, s3_bucket) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["autostore.toml", "big.bin", "slow.toml"]


@pytest.mark.skipif(os.name == "nt", reason="SIGINT cannot be sent to a console child on Windows")
def test_interrupted_download_leaves_no_partial_file(
    config_file: Path, s3_bucket: str, bucket_store: _core.Store, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(MIB) * 96)
    bucket_store.upload_file(source, "big.bin")
    target = tmp_path / "downloads"
    target.mkdir()
    process = _start(tmp_path, "cp", f"s3://{s3_bucket}/big.bin", f"{target}/")
    _wait_for(lambda: any(target.iterdir()), process, "the download began")
    _interrupt(process)
    assert list(target.iterdir()) == []
