"""Commands that copy: ``cp``, ``mv`` and ``sync``.

One object moves with ``_core.copy_between``; a tree moves with one ``_core.copy_many`` call (concurrent,
one result per object, one aggregate progress counter), so a thousand small files cost one call into
the core, not a thousand. The core writes local files through a temporary name renamed into place
and aborts unfinished multipart uploads, so an interrupted copy leaves neither half a file nor half
an object; a deleted source is only ever one whose copy completed.
"""

from __future__ import annotations

import argparse
import errno
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from autostore import _core
from autostore.backends import Location
from autostore.cli.output import human_size
from autostore.cli.remove import prune_empty_parents, prune_tree
from autostore.cli.session import Session
from autostore.cli.targets import Target, list_tree, relative_key
from autostore.exceptions import ObjectNotFoundError

__all__ = ["run_cp", "run_mv", "run_sync"]

_LOCAL_COPY_CHUNK = 1024 * 1024


def run_cp(args: argparse.Namespace, session: Session) -> int:
    """``autostore cp SRC DST [-r]``."""
    source, destination = session.target(args.source), session.target(args.destination)
    if args.recursive:
        return _transfer_tree(source, destination, session, command="cp")
    return _transfer_file(source, destination, session, command="cp")


def run_mv(args: argparse.Namespace, session: Session) -> int:
    """``autostore mv SRC DST [-r]``: a copy, then the deletion of every source that was copied."""
    source, destination = session.target(args.source), session.target(args.destination)
    if args.recursive:
        return _transfer_tree(source, destination, session, command="mv")
    return _transfer_file(source, destination, session, command="mv")


# --- one object ---------------------------------------------------------------------------------


def _transfer_file(source: Target, destination: Target, session: Session, *, command: str) -> int:
    output = session.output
    if source.local_path is not None and source.local_path.is_dir():
        output.error(f"{source.uri} is a directory; use {command} -r to {_verb(command)} what it holds")
        return 1
    source_location = source.file()
    if not source_location.key:
        output.error(f"{source.uri} is a bucket; use {command} -r to {_verb(command)} what it holds")
        return 1
    if destination.names_directory():
        destination = destination.child(source.name)
    destination_location = destination.file()
    if _same_object(source_location, destination_location):
        output.error(f"{source.uri} and {destination.uri} are the same object")
        return 1
    started = time.monotonic()
    try:
        size = _copy_one(source, destination, session, move=command == "mv")
    except ObjectNotFoundError:
        if source.remote is not None and source.remote.backend.store.is_dir(source.remote.key):
            output.error(f"{source.uri} is a prefix; use {command} -r to {_verb(command)} what it holds")
            return 1
        raise
    elapsed = time.monotonic() - started
    shown = f" ({human_size(size)})" if size is not None else ""
    output.text(f"{_past(command)} {source.uri} -> {destination.uri}{shown} in {elapsed:.1f} s")
    output.record(
        {
            "command": command,
            "source": source.uri,
            "destination": destination.uri,
            "bytes": size,
            "seconds": round(elapsed, 3),
        }
    )
    return 0


def _copy_one(source: Target, destination: Target, session: Session, *, move: bool) -> int | None:
    """Copy (or move) one object; returns its size when known."""
    source_location, destination_location = source.file(), destination.file()
    if source.local_path is not None and destination.local_path is not None:
        return _copy_local_file(source.local_path, destination.local_path, move=move)
    source_store, destination_store = source_location.backend.store, destination_location.backend.store
    if move and source_store == destination_store:
        # One store renames server-side (S3: copy and delete inside the service).
        source_store.rename(source_location.key, destination_location.key)
        return None
    with session.output.progress(source.name or source.uri) as progress:
        _core.copy_between(
            source_store, source_location.key, destination_store, destination_location.key, progress=progress
        )
    if move:
        source_store.delete(source_location.key)
    return progress.total if progress.total is not None else progress.done


def _copy_local_file(source: Path, destination: Path, *, move: bool) -> int:
    """A local-to-local copy or move through a temporary file beside the destination.

    Done here rather than in the core because the core's copy within one local store is a hard link,
    which would make the copy change whenever the original is modified in place.
    """
    size = source.stat().st_size
    destination.parent.mkdir(parents=True, exist_ok=True)
    if move:
        try:
            os.replace(source, destination)
            return size
        except OSError as error:
            if error.errno != errno.EXDEV:
                raise
    descriptor, temp_name = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=".autostore-partial", dir=destination.parent
    )
    try:
        with os.fdopen(descriptor, "wb") as sink, source.open("rb") as stream:
            shutil.copyfileobj(stream, sink, _LOCAL_COPY_CHUNK)
        # mkstemp creates the file private (0600); a copy gets the original's permission bits, as with cp.
        shutil.copymode(source, temp_name)
        os.replace(temp_name, destination)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    if move:
        source.unlink()
    return size


def _same_object(first: Location, second: Location) -> bool:
    return first.backend.store == second.backend.store and first.key == second.key


def _verb(command: str) -> str:
    return "copy" if command == "cp" else "move"


def _past(command: str) -> str:
    return "copied" if command == "cp" else "moved"


# --- trees --------------------------------------------------------------------------------------


@dataclass
class _BatchOutcome:
    """What a batch of copies did: successes (with their sizes) and failures (with their errors)."""

    copied: list[tuple[str, str, int]] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    copied_keys: list[str] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        """Bytes of the objects that were copied."""
        return sum(size for _, _, size in self.copied)


def _copy_batch(
    source: Location, destination: Location, plan: list[tuple[_core.ObjectMeta, str]], session: Session
) -> _BatchOutcome:
    """Copy ``(source meta, destination key)`` pairs in one core call; report each failure on stderr."""
    outcome = _BatchOutcome()
    if not plan:
        return outcome
    total = sum(meta.size for meta, _ in plan)
    pairs = [(meta.key, key) for meta, key in plan]
    label = f"{len(plan)} file{'s' if len(plan) != 1 else ''}"
    with session.output.progress(label, total) as progress:
        results = _core.copy_many(source.backend.store, destination.backend.store, pairs, progress=progress)
    for (meta, key), result in zip(plan, results, strict=True):
        source_uri, destination_uri = source.backend.uri(meta.key), destination.backend.uri(key)
        if isinstance(result, Exception):
            outcome.failed.append((source_uri, destination_uri, str(result)))
            session.output.error(f"{source_uri} -> {destination_uri}: {result}")
        else:
            outcome.copied.append((source_uri, destination_uri, meta.size))
            outcome.copied_keys.append(meta.key)
    return outcome


def _tree_listing(target: Target) -> tuple[Location, list[_core.ObjectMeta]]:
    tree = target.tree()
    return tree, list_tree(tree)


def _join(prefix: str, relative: str) -> str:
    return f"{prefix}/{relative}" if prefix else relative


def _overlaps(source: Location, destination: Location) -> bool:
    """Whether the destination tree is the source tree (copying a tree onto itself)."""
    return source.backend.store == destination.backend.store and source.key == destination.key


def _transfer_tree(source: Target, destination: Target, session: Session, *, command: str) -> int:
    output = session.output
    source_tree, objects = _tree_listing(source)
    if not objects:
        if source.local_path is not None and source.local_path.is_dir():
            output.text(f"nothing to {_verb(command)}: {source.uri} holds no files")
            return 0
        # `cp -r` of a single object copies that object, as `cp` would.
        if source.local_path is not None and source.local_path.is_file():
            return _transfer_file(source, destination, session, command=command)
        if (
            source.remote is not None
            and source.remote.key
            and source.remote.backend.store.exists(source.remote.key)
        ):
            return _transfer_file(source, destination, session, command=command)
        output.error(f"{source.uri}: no such file, directory or prefix")
        return 1
    destination_tree = destination.tree()
    if _overlaps(source_tree, destination_tree):
        output.error(f"{source.uri} and {destination.uri} are the same directory")
        return 1
    plan = [(meta, _join(destination_tree.key, relative_key(meta.key, source_tree.key))) for meta in objects]
    started = time.monotonic()
    outcome = _copy_batch(source_tree, destination_tree, plan, session)
    if command == "mv" and outcome.copied_keys:
        _delete_sources(source, source_tree, outcome, session)
    elapsed = time.monotonic() - started
    _report_tree(command, source, destination, outcome=outcome, elapsed=elapsed, session=session)
    return 1 if outcome.failed else 0


def _delete_sources(source: Target, source_tree: Location, outcome: _BatchOutcome, session: Session) -> None:
    """Delete the sources of completed copies; a failed deletion counts as a failed item."""
    results = source_tree.backend.store.delete_many(outcome.copied_keys)
    for key, result in zip(outcome.copied_keys, results, strict=True):
        if result is not None:
            uri = source_tree.backend.uri(key)
            outcome.failed.append((uri, "", f"copied but not deleted: {result}"))
            session.output.error(f"{uri}: copied but not deleted: {result}")
    if source.local_path is not None:
        prune_tree(source.local_path)


def _report_tree(
    command: str,
    source: Target,
    destination: Target,
    *,
    outcome: _BatchOutcome,
    elapsed: float,
    session: Session,
) -> None:
    count = len(outcome.copied)
    noun = "file" if count == 1 else "files"
    summary = (
        f"{_past(command)} {count} {noun} ({human_size(outcome.bytes)}) "
        f"from {source.uri} to {destination.uri} in {elapsed:.1f} s"
    )
    if outcome.failed:
        summary += f"; {len(outcome.failed)} failed"
    session.output.text(summary)
    session.output.record(
        {
            "command": command,
            "source": source.uri,
            "destination": destination.uri,
            "copied": count,
            "bytes": outcome.bytes,
            "failed": len(outcome.failed),
            "seconds": round(elapsed, 3),
            "items": [{"source": src, "destination": dst, "size": size} for src, dst, size in outcome.copied],
            "errors": [
                {"source": src, "destination": dst, "error": error} for src, dst, error in outcome.failed
            ],
        }
    )


# --- sync ---------------------------------------------------------------------------------------


def _s3_endpoint(location: Location) -> str | None:
    """The endpoint of an S3 store, from its identity (``s3://bucket?endpoint=...``); else ``None``."""
    identity = location.backend.store.identity
    if not identity.startswith("s3://"):
        return None
    return parse_qs(identity.partition("?")[2]).get("endpoint", [""])[0] or None


def _whole_seconds(moment: datetime) -> int:
    # S3 reports modification times to the second (or the millisecond); a local file has nanoseconds.
    return int(moment.timestamp())


def _content_etag(meta: _core.ObjectMeta) -> str | None:
    """A single-part ETag, which is a hash of the content; multipart ETags (``...-N``) depend on part size."""
    if meta.etag is None or "-" in meta.etag:
        return None
    return meta.etag.strip('"')


def _differs(source: _core.ObjectMeta, destination: _core.ObjectMeta, *, compare_etags: bool) -> bool:
    """The rule in ``autostore sync --help``."""
    if source.size != destination.size:
        return True
    if compare_etags:
        source_etag, destination_etag = _content_etag(source), _content_etag(destination)
        if source_etag is not None and destination_etag is not None:
            return source_etag != destination_etag
    return _whole_seconds(source.last_modified) > _whole_seconds(destination.last_modified)


def run_sync(args: argparse.Namespace, session: Session) -> int:
    """``autostore sync SRC DST [--delete] [--dry-run]``: copy what is missing or differs."""
    output = session.output
    source, destination = session.target(args.source), session.target(args.destination)
    source_tree, source_objects = _tree_listing(source)
    if not source_objects and not (source.local_path is not None and source.local_path.is_dir()):
        # Refusing here keeps a typo in SRC from turning `sync --delete` into "delete everything".
        output.error(f"{source.uri}: no such directory or prefix (or it holds no objects)")
        return 1
    destination_tree, destination_objects = _tree_listing(destination)
    if _overlaps(source_tree, destination_tree):
        output.error(f"{source.uri} and {destination.uri} are the same directory")
        return 1
    source_endpoint = _s3_endpoint(source_tree)
    compare_etags = source_endpoint is not None and source_endpoint == _s3_endpoint(destination_tree)
    existing = {relative_key(meta.key, destination_tree.key): meta for meta in destination_objects}
    wanted = {relative_key(meta.key, source_tree.key) for meta in source_objects}
    plan = []
    for meta in source_objects:
        relative = relative_key(meta.key, source_tree.key)
        present = existing.get(relative)
        if present is None or _differs(meta, present, compare_etags=compare_etags):
            plan.append((meta, _join(destination_tree.key, relative)))
    stale = [meta.key for relative, meta in existing.items() if relative not in wanted] if args.delete else []
    up_to_date = len(source_objects) - len(plan)

    if args.dry_run:
        return _report_dry_run(
            source_tree, destination_tree, plan, stale=stale, up_to_date=up_to_date, session=session
        )

    started = time.monotonic()
    outcome = _copy_batch(source_tree, destination_tree, plan, session)
    deleted, delete_failures = _delete_stale(destination, destination_tree, stale, session)
    elapsed = time.monotonic() - started
    failed = len(outcome.failed) + len(delete_failures)
    summary = (
        f"synced {source.uri} to {destination.uri}: copied {len(outcome.copied)} "
        f"({human_size(outcome.bytes)}), {up_to_date} up to date"
    )
    if args.delete:
        summary += f", deleted {len(deleted)}"
    if failed:
        summary += f"; {failed} failed"
    output.text(summary + f" in {elapsed:.1f} s")
    output.record(
        {
            "command": "sync",
            "source": source.uri,
            "destination": destination.uri,
            "copied": len(outcome.copied),
            "bytes": outcome.bytes,
            "up_to_date": up_to_date,
            "deleted": len(deleted),
            "failed": failed,
            "seconds": round(elapsed, 3),
            "items": [{"source": src, "destination": dst, "size": size} for src, dst, size in outcome.copied],
            "deleted_uris": deleted,
            "errors": [
                {"source": src, "destination": dst, "error": error} for src, dst, error in outcome.failed
            ]
            + [{"destination": uri, "error": error} for uri, error in delete_failures],
        }
    )
    return 1 if failed else 0


def _delete_stale(
    destination: Target, destination_tree: Location, keys: list[str], session: Session
) -> tuple[list[str], list[tuple[str, str]]]:
    """Delete what SRC no longer has; returns the deleted URIs and ``(uri, error)`` failures."""
    if not keys:
        return [], []
    store = destination_tree.backend.store
    deleted: list[str] = []
    failures: list[tuple[str, str]] = []
    for key, result in zip(keys, store.delete_many(keys), strict=True):
        uri = destination_tree.backend.uri(key)
        if result is None:
            deleted.append(uri)
        else:
            failures.append((uri, str(result)))
            session.output.error(f"{uri}: not deleted: {result}")
    if destination.local_path is not None:
        prune_empty_parents(destination.local_path, keys)
    return deleted, failures


def _report_dry_run(
    source: Location,
    destination: Location,
    plan: list[tuple[_core.ObjectMeta, str]],
    *,
    stale: list[str],
    up_to_date: int,
    session: Session,
) -> int:
    output = session.output
    for meta, key in plan:
        output.text(f"would copy {source.backend.uri(meta.key)} -> {destination.backend.uri(key)}")
    for key in stale:
        output.text(f"would delete {destination.backend.uri(key)}")
    output.text(f"{len(plan)} to copy, {len(stale)} to delete, {up_to_date} up to date (dry run)")
    record: dict[str, Any] = {
        "command": "sync",
        "dry_run": True,
        "to_copy": [
            {
                "source": source.backend.uri(meta.key),
                "destination": destination.backend.uri(key),
                "size": meta.size,
            }
            for meta, key in plan
        ],
        "to_delete": [destination.backend.uri(key) for key in stale],
        "up_to_date": up_to_date,
    }
    output.record(record)
    return 0
