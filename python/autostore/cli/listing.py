"""Commands that read without changing anything: ``ls``, ``glob``, ``stat`` and ``cat``."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any, BinaryIO

from autostore import _core
from autostore.backends import Location, backend_for_local_dir
from autostore.cli.output import Output, format_time, human_size
from autostore.cli.session import Session
from autostore.cli.targets import Target, list_tree, relative_key
from autostore.exceptions import AutoStoreError, ObjectNotFoundError, PreconditionFailedError

__all__ = ["CAT_CHUNK_BYTES", "run_cat", "run_glob", "run_ls", "run_stat"]

CAT_CHUNK_BYTES = 8 * 1024 * 1024
"""``cat`` fetches remote objects in ranges of this size, so memory stays flat for any object."""


def _etag(location: Location, meta: _core.ObjectMeta) -> str | None:
    """The ETag without its quotes; ``None`` for local files, whose core ETag is not a content hash."""
    if location.backend.is_local or meta.etag is None:
        return None
    return meta.etag.strip('"')


def _file_record(name: str, location: Location, meta: _core.ObjectMeta) -> dict[str, Any]:
    return {
        "name": name,
        "uri": location.backend.uri(meta.key),
        "type": "file",
        "size": meta.size,
        "last_modified": meta.last_modified,
        "etag": _etag(location, meta),
    }


def _directory_record(name: str, uri: str) -> dict[str, Any]:
    return {"name": name, "uri": uri, "type": "directory"}


def _file_line(name: str, meta: _core.ObjectMeta, args: argparse.Namespace) -> str:
    if not args.long:
        return name
    size = human_size(meta.size) if args.human_readable else str(meta.size)
    return f"{format_time(meta.last_modified)}  {size:>10}  {name}"


def _directory_line(name: str, args: argparse.Namespace) -> str:
    return f"{'':19}  {'DIR':>10}  {name}" if args.long else name


def _show_file(
    output: Output, name: str, location: Location, meta: _core.ObjectMeta, args: argparse.Namespace
) -> None:
    output.listing(_file_line(name, meta, args))
    output.record(_file_record(name, location, meta))


def run_ls(args: argparse.Namespace, session: Session) -> int:
    """``autostore ls URI [-r] [-l [-h]]``: one level (directories end in '/'), or every object with -r."""
    target = session.target(args.uri)
    output = session.output
    tree = target.tree()
    store = tree.backend.store
    if args.recursive:
        found = False
        for meta in sorted(list_tree(tree), key=lambda meta: meta.key):
            found = True
            _show_file(output, relative_key(meta.key, tree.key), tree, meta, args)
        return 0 if found else _show_single(target, args, session)
    listing = store.list_dir(tree.key)
    if not listing.objects and not listing.prefixes:
        return _show_single(target, args, session)
    entries: list[tuple[str, _core.ObjectMeta | None, str]] = [
        (relative_key(prefix, tree.key) + "/", None, tree.backend.uri(prefix)) for prefix in listing.prefixes
    ]
    entries += [(relative_key(meta.key, tree.key), meta, "") for meta in listing.objects]
    for name, meta, uri in sorted(entries, key=lambda entry: entry[0]):
        if meta is None:
            output.listing(_directory_line(name, args))
            output.record(_directory_record(name, uri))
        else:
            _show_file(output, name, tree, meta, args)
    return 0


def _show_single(target: Target, args: argparse.Namespace, session: Session) -> int:
    """``ls`` of an operand with nothing below it: an object, an empty directory or bucket, or nothing."""
    if target.local_path is not None and target.local_path.is_dir():
        return 0
    location = target.file()
    if not location.key:
        return 0
    try:
        meta = location.backend.store.head(location.key)
    except ObjectNotFoundError:
        session.output.error(f"{target.uri}: no such file, directory or prefix")
        return 1
    _show_file(session.output, target.name, location, meta, args)
    return 0


def _glob_location(pattern: str, session: Session) -> tuple[Location, str]:
    """The store to search (rooted at the pattern's literal directory when local) and the pattern in it."""
    target = session.target(pattern)
    if target.remote is not None:
        return Location(target.remote.backend, ""), target.remote.key
    assert target.local_path is not None
    absolute = target.local_path
    relative = absolute.relative_to(absolute.anchor).as_posix()
    # The literal prefix is a directory path ending in '/' (or empty).
    prefix = _core.glob_prefix(relative).rstrip("/")
    root = Path(absolute.anchor, *prefix.split("/")) if prefix else Path(absolute.anchor)
    return Location(backend_for_local_dir(root), ""), relative_key(relative, prefix)


def run_glob(args: argparse.Namespace, session: Session) -> int:
    """``autostore glob PATTERN``: matching objects (``*``, ``?``, ``[...]`` in a segment; ``**`` across)."""
    location, pattern = _glob_location(args.pattern, session)
    matches = location.backend.store.glob(pattern)
    for meta in matches:
        uri = location.backend.uri(meta.key)
        session.output.listing(_file_line(uri, meta, args))
        session.output.record(_file_record(uri, location, meta))
    if not matches:
        session.output.error(f"nothing matches {args.pattern}")
        return 1
    return 0


def run_stat(args: argparse.Namespace, session: Session) -> int:
    """``autostore stat URI...``: size, modification time and ETag of each object."""
    failures = 0
    for index, text in enumerate(args.uris):
        target = session.target(text)
        record = _stat_record(target)
        if record is None:
            session.output.error(f"{target.uri}: no such file, directory or prefix")
            failures += 1
            continue
        session.output.record(record)
        if index:
            session.output.listing("")
        for label, value in _stat_lines(record):
            session.output.listing(f"{label + ':':<10}{value}")
    return 1 if failures else 0


def _stat_record(target: Target) -> dict[str, Any] | None:
    if target.local_path is not None and target.local_path.is_dir():
        return _directory_record(target.name, target.uri)
    location = target.file()
    if location.key:
        try:
            meta = location.backend.store.head(location.key)
        except ObjectNotFoundError:
            pass
        else:
            record = _file_record(target.name, location, meta)
            record["version"] = meta.version
            return record
    if target.remote is None:
        return None
    # A bucket's root is a directory; under it, a prefix is one when some object lies below it.
    if not target.remote.key or target.remote.backend.store.is_dir(target.remote.key):
        return _directory_record(target.name, target.uri)
    return None


def _stat_lines(record: dict[str, Any]) -> list[tuple[str, str]]:
    lines = [("uri", record["uri"]), ("type", record["type"])]
    if record["type"] == "file":
        size = record["size"]
        lines.append(("size", f"{size} bytes ({human_size(size)})" if size >= 1024 else f"{size} bytes"))
        lines.append(("modified", format_time(record["last_modified"])))
        lines.append(("etag", record["etag"] or "-"))
        if record.get("version"):
            lines.append(("version", record["version"]))
    return lines


def run_cat(args: argparse.Namespace, session: Session) -> int:
    """``autostore cat URI...``: the bytes of each object, in order, on stdout."""
    sink: BinaryIO = session.output.binary_stdout
    failures = 0
    for text in args.uris:
        target = session.target(text)
        try:
            if target.local_path is not None:
                with target.local_path.open("rb") as source:
                    shutil.copyfileobj(source, sink, CAT_CHUNK_BYTES)
            else:
                _stream_object(target.file(), sink)
        except BrokenPipeError:
            raise
        except (AutoStoreError, OSError) as error:
            sink.flush()
            session.output.error(str(error))
            failures += 1
    sink.flush()
    return 1 if failures else 0


def _stream_object(location: Location, sink: BinaryIO) -> None:
    """Write an object in ranges; if it changed meanwhile, say so rather than pass off mixed bytes."""
    store = location.backend.store
    meta = store.head(location.key)
    if meta.size <= CAT_CHUNK_BYTES:
        sink.write(store.get(location.key))
        return
    for start in range(0, meta.size, CAT_CHUNK_BYTES):
        sink.write(store.get_range(location.key, start, min(start + CAT_CHUNK_BYTES, meta.size)))
    after = store.head(location.key)
    if (after.etag, after.size) != (meta.etag, meta.size):
        raise PreconditionFailedError(f"{location.uri} changed while it was being read; its output is mixed")
