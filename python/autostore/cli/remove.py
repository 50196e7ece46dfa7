"""``autostore rm``, and the tidying of local directories that deletions leave empty.

Deleting a prefix is the one command that can destroy much with a few keystrokes, so ``rm -r`` counts
what it is about to delete and asks first on a terminal; off a terminal (a script, a pipe) it refuses
unless ``--yes`` is given, with exit status 2. Deletions go through the core's ``delete_many``
(concurrent, one result per object), so one failure does not stop the rest.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from autostore.backends import Location
from autostore.cli.session import Session
from autostore.cli.targets import Target, list_tree
from autostore.exceptions import ObjectNotFoundError

__all__ = ["prune_empty_parents", "prune_tree", "run_rm"]


@dataclass(frozen=True)
class _Deletion:
    """What one operand deletes: keys in one store, and whether they came from listing a prefix."""

    target: Target
    location: Location
    keys: list[str]
    recursive: bool


def run_rm(args: argparse.Namespace, session: Session) -> int:
    """``autostore rm URI... [-r] [--yes]``."""
    output = session.output
    deletions: list[_Deletion] = []
    failures = 0
    for text in args.uris:
        target = session.target(text)
        deletion = _plan(target, recursive=args.recursive, session=session)
        if deletion is None:
            failures += 1
        else:
            deletions.append(deletion)
    listed = sum(len(deletion.keys) for deletion in deletions if deletion.recursive)
    if listed and not args.yes:
        where = ", ".join(deletion.target.uri for deletion in deletions if deletion.recursive)
        if not _stdin_is_terminal():
            output.error(
                f"refusing to delete {listed} object{'s' if listed != 1 else ''} under {where} without "
                "confirmation: stdin is not a terminal; pass --yes"
            )
            return 2
        if not _confirm(f"delete {listed} object{'s' if listed != 1 else ''} under {where}? [y/N] "):
            output.error("nothing deleted")
            return 1

    deleted: list[str] = []
    errors: list[dict[str, str]] = []
    for deletion in deletions:
        store = deletion.location.backend.store
        for key, result in zip(deletion.keys, store.delete_many(deletion.keys), strict=True):
            uri = deletion.location.backend.uri(key)
            if result is None:
                deleted.append(uri)
            else:
                errors.append({"uri": uri, "error": str(result)})
                output.error(f"{uri}: {result}")
        if deletion.recursive and deletion.target.local_path is not None:
            prune_tree(deletion.target.local_path)
    failures += len(errors)
    if len(deleted) == 1:
        output.text(f"deleted {deleted[0]}")
    else:
        output.text(f"deleted {len(deleted)} objects" + (f"; {failures} failed" if failures else ""))
    output.record(
        {"command": "rm", "deleted": len(deleted), "uris": deleted, "failed": failures, "errors": errors}
    )
    return 1 if failures else 0


def _plan(target: Target, *, recursive: bool, session: Session) -> _Deletion | None:
    """The keys ``target`` deletes, or ``None`` after reporting why it deletes nothing."""
    output = session.output
    if target.local_path is not None and target.local_path.is_dir():
        if not recursive:
            output.error(f"{target.uri} is a directory; use rm -r to delete it and everything in it")
            return None
        tree = target.tree()
        return _Deletion(target, tree, [meta.key for meta in list_tree(tree)], recursive=True)
    if recursive and target.remote is not None:
        tree = target.tree()
        keys = [meta.key for meta in list_tree(tree)]
        if keys:
            return _Deletion(target, tree, keys, recursive=True)
    location = target.file()
    if not location.key:
        output.error(f"{target.uri} is a bucket; buckets are not deleted (use rm -r to empty it)")
        return None
    try:
        location.backend.store.head(location.key)
    except ObjectNotFoundError:
        if not recursive and target.remote is not None and target.remote.backend.store.is_dir(location.key):
            output.error(f"{target.uri} is a prefix; use rm -r to delete every object under it")
        else:
            output.error(f"{target.uri}: no such file, object or prefix")
        return None
    return _Deletion(target, location, [location.key], recursive=False)


def _stdin_is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _confirm(question: str) -> bool:
    """Ask on stderr (stdout may be piped) and read the answer from the terminal."""
    print(question, end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def prune_tree(root: Path) -> None:
    """Remove the empty directories under ``root``, then ``root`` if it is empty; never a file."""
    for directory, _, _ in os.walk(root, topdown=False):
        try:
            os.rmdir(directory)
        except OSError:
            # Not empty (a file survived or appeared) or not ours to remove: leave it.
            continue


def prune_empty_parents(root: Path, keys: Iterable[str]) -> None:
    """After deleting ``keys`` from the directory ``root``, remove the directories they left empty."""
    for key in keys:
        parent = root.joinpath(*PurePosixPath(key).parent.parts)
        while parent != root and root in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent
