"""Commands about the installation rather than the data: ``cache info|clean|clear`` and ``backends``."""

from __future__ import annotations

import argparse
from typing import Any

from autostore import _core
from autostore.cli.output import human_size
from autostore.cli.session import Session
from autostore.exceptions import AutoStoreError
from autostore.options import Options, options_class_for_scheme, registered_schemes

__all__ = ["run_backends", "run_cache"]

_BUILT_IN = {
    "file": "local files (plain paths or file:///...)",
    "memory": "process memory (lives only as long as one command)",
}


def run_cache(args: argparse.Namespace, session: Session) -> int:
    """``autostore cache info|clean|clear [--cache-dir DIR] [--expiry-hours H]``."""
    config = session.config
    root = args.cache_dir if args.cache_dir is not None else config.cache_dir
    cache = _core.Cache(str(root) if root is not None else None)
    output = session.output
    if args.action == "info":
        stats = cache.stats()
        record = {
            "command": "cache info",
            "root": cache.root,
            "entries": stats.entries,
            "bytes": stats.bytes,
            "hits": stats.hits,
            "misses": stats.misses,
            "revalidations": stats.revalidations,
        }
        output.record(record)
        output.listing(f"root:          {cache.root}")
        output.listing(f"entries:       {stats.entries}")
        output.listing(f"size:          {human_size(stats.bytes)} ({stats.bytes} bytes)")
        output.listing(f"hits:          {stats.hits}")
        output.listing(f"misses:        {stats.misses}")
        output.listing(f"revalidations: {stats.revalidations}")
        return 0
    if args.action == "clean":
        hours = args.expiry_hours if args.expiry_hours is not None else config.cache_expiry_hours
        removed = cache.cleanup(hours * 3600.0)
        expiry = "entries that never expire are kept" if hours == 0 else f"older than {hours:g} h"
        output.text(f"removed {removed} expired or broken entries from {cache.root} ({expiry})")
    else:
        removed = cache.clear()
        output.text(f"removed all {removed} entries from {cache.root}")
    output.record({"command": f"cache {args.action}", "root": cache.root, "removed": removed})
    return 0


def run_backends(args: argparse.Namespace, session: Session) -> int:
    """``autostore backends``: every scheme, with the endpoint, region and profile it would use."""
    config = session.config
    names = sorted(set(registered_schemes()) | set(config.schemes))
    for name in names:
        record = _describe(name, session)
        session.output.record(record)
        session.output.listing(_line(record))
    if config.path is not None:
        session.output.text(f"(config file: {config.path})")
    return 0


def _describe(name: str, session: Session) -> dict[str, Any]:
    """What the command knows of one scheme; credentials appear only as whether some were found."""
    if name in _BUILT_IN:
        return {"scheme": name, "kind": name, "description": _BUILT_IN[name], "source": "built-in"}
    configured = session.config.schemes.get(name)
    options: Options
    if configured is not None:
        options, source = configured.options, configured.source
    else:
        options, source = options_class_for_scheme(name)(scheme=name), "defaults (environment, AWS files)"
    record: dict[str, Any] = {
        "scheme": name,
        "kind": "s3",
        "options_class": type(options).__name__,
        "module": configured.backend_module if configured is not None else type(options).__module__,
        "source": source,
    }
    try:
        resolved = options.to_core_kwargs()
    except (AutoStoreError, ValueError) as error:
        record["error"] = str(error)
        return record
    record.update(
        endpoint=resolved.get("endpoint") or "AWS",
        region=resolved.get("region"),
        profile=resolved.get("profile"),
        credentials=resolved.get("access_key_id") is not None,
    )
    return record


def _line(record: dict[str, Any]) -> str:
    scheme = f"{record['scheme']}://"
    if "description" in record:
        return f"{scheme:<12} {record['description']}"
    if "error" in record:
        return f"{scheme:<12} error: {record['error']}"
    credentials = "credentials found" if record["credentials"] else "no credentials"
    profile = f", profile {record['profile']}" if record["profile"] else ""
    return (
        f"{scheme:<12} {record['endpoint']} (region {record['region']}{profile}; {credentials}) "
        f"from {record['source']}"
    )
