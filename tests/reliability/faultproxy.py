"""A fault-injecting HTTP/1.1 proxy on 127.0.0.1, put between AutoStore and the local S3 server.

It forwards bytes verbatim (so SigV4 signatures, which cover the ``Host`` header, stay valid) while
parsing just enough HTTP to tell requests apart, and applies the first matching :class:`Fault`:

- ``status``: answer ``status`` (503, 500, ...) with an S3 error body instead of forwarding;
- ``drop``: forward the response head and ``after_bytes`` bytes of its body, then close the connection;
- ``stall``: stop forwarding for ``seconds`` — before the response head (``after_bytes=None``) or after
  ``after_bytes`` bytes of its body;
- ``reset``: read ``after_bytes`` bytes of the request body (a multipart part PUT, say), then reset the
  connection (RST, not FIN);
- ``throttle``: forward the request and response bodies at ``rate`` bytes per second, in small pieces
  (a slow link that never stalls).

A fault applies to the next ``times`` matching requests, or to every one when ``times`` is ``None``.
Every request is recorded in :attr:`FaultProxy.log` with the fault applied to it, so a test can prove
the fault really happened. The proxy runs an asyncio loop in one background thread; it is pure Python.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import struct
import threading
import time
import types
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

_HOST = "127.0.0.1"
_PIECE = 64 * 1024
_HEAD_LIMIT = 1024 * 1024
_ERROR_CODES = {403: "AccessDenied", 500: "InternalError", 502: "BadGateway", 503: "ServiceUnavailable"}

FaultKind = Literal["status", "drop", "stall", "reset", "throttle"]


@dataclass
class Fault:
    """One fault rule; see the module docstring for the kinds."""

    kind: FaultKind
    times: int | None = 1
    """How many matching requests it applies to; ``None``: all of them, for as long as it is installed."""
    method: str | None = None
    """Only requests with this method (``GET``, ``PUT``, ...); ``None``: any."""
    target: str | None = None
    """A regular expression searched in the request target (path and query); ``None``: any."""
    status: int = 503
    after_bytes: int | None = 0
    seconds: float = 0.0
    rate: float = 0.0
    """Bytes per second of a ``throttle``."""
    applied: int = 0
    """How many requests it was applied to so far."""

    def matches(self, method: str, target: str) -> bool:
        if self.times is not None and self.applied >= self.times:
            return False
        if self.method is not None and method != self.method:
            return False
        return self.target is None or re.search(self.target, target) is not None


@dataclass
class Exchange:
    """One request seen by the proxy and the fault applied to it (``None``: passed through)."""

    method: str
    target: str
    fault: FaultKind | None
    started: float = field(default_factory=time.monotonic)
    status: int | None = None
    """The status the server answered, once its head was forwarded (``None``: never forwarded)."""
    finished: float | None = None
    """When the whole response was forwarded."""


@dataclass
class _Head:
    first_line: str
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes = b""


class _Dropped(Exception):
    """The client connection was closed on purpose; stop serving it."""


def _parse_head(raw: bytes) -> _Head:
    lines = raw.decode("latin-1").split("\r\n")
    head = _Head(lines[0], raw=raw)
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            head.headers[name.strip().lower()] = value.strip()
    return head


def _framing(head: _Head, *, no_body: bool) -> tuple[str, int]:
    """How a message body is delimited: ("none"|"length"|"chunked"|"close", length)."""
    if no_body:
        return "none", 0
    if "chunked" in head.headers.get("transfer-encoding", "").lower():
        return "chunked", 0
    if "content-length" in head.headers:
        length = int(head.headers["content-length"])
        return ("length", length) if length else ("none", 0)
    return "close", 0


async def _pieces(reader: asyncio.StreamReader, framing: str, length: int) -> AsyncIterator[bytes]:
    """The raw bytes of a body (chunk framing included), in pieces as they arrive."""
    if framing == "length":
        remaining = length
        while remaining:
            data = await reader.read(min(_PIECE, remaining))
            if not data:
                raise asyncio.IncompleteReadError(b"", remaining)
            remaining -= len(data)
            yield data
    elif framing == "chunked":
        while True:
            line = await reader.readuntil(b"\r\n")
            yield line
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                while True:
                    trailer = await reader.readuntil(b"\r\n")
                    yield trailer
                    if trailer == b"\r\n":
                        return
            async for data in _pieces(reader, "length", size + 2):
                yield data
    elif framing == "close":
        while data := await reader.read(_PIECE):
            yield data


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST: SO_LINGER with a zero timeout, then close."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """A TCP proxy on a free port of 127.0.0.1 forwarding to ``upstream_port``, with injectable faults."""

    def __init__(
        self, upstream_port: int, *, upstream_host: str = _HOST, receive_buffer: int | None = None
    ) -> None:
        """Forward to ``upstream_port``; ``receive_buffer`` caps the kernel's buffer for each client
        connection (``SO_RCVBUF``), so that a ``throttle`` slows the client itself instead of filling
        megabytes of buffers that hide it."""
        self.upstream = (upstream_host, upstream_port)
        self.receive_buffer = receive_buffer
        self.log: list[Exchange] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        return f"http://{_HOST}:{self.port}"

    # --- control, from the test's thread ---------------------------------------------------------

    def add(self, fault: Fault) -> Fault:
        """Install ``fault`` after those already installed; returns it (its ``applied`` counts up)."""
        with self._lock:
            self._faults.append(fault)
        return fault

    def fail(
        self,
        status: int = 503,
        *,
        times: int | None = 1,
        method: str | None = None,
        target: str | None = None,
    ) -> Fault:
        """Answer ``status`` instead of forwarding."""
        return self.add(Fault("status", times, method, target, status=status))

    def drop(
        self,
        after_bytes: int,
        *,
        times: int | None = 1,
        method: str | None = "GET",
        target: str | None = None,
    ) -> Fault:
        """Close the connection after ``after_bytes`` bytes of the response body."""
        return self.add(Fault("drop", times, method, target, after_bytes=after_bytes))

    def stall(
        self,
        seconds: float,
        *,
        after_bytes: int | None = None,
        times: int | None = 1,
        method: str | None = None,
        target: str | None = None,
    ) -> Fault:
        """Forward nothing for ``seconds``, before the response head or after ``after_bytes`` of its body."""
        return self.add(Fault("stall", times, method, target, after_bytes=after_bytes, seconds=seconds))

    def reset(
        self,
        after_bytes: int = 0,
        *,
        times: int | None = 1,
        method: str | None = "PUT",
        target: str | None = None,
    ) -> Fault:
        """Reset the connection after reading ``after_bytes`` bytes of the request body."""
        return self.add(Fault("reset", times, method, target, after_bytes=after_bytes))

    def throttle(
        self, rate: float, *, times: int | None = 1, method: str | None = None, target: str | None = None
    ) -> Fault:
        """Forward request and response bodies at ``rate`` bytes per second."""
        return self.add(Fault("throttle", times, method, target, rate=rate))

    def reset_part_uploads(self, after_bytes: int = 64 * 1024, *, times: int | None = 1) -> Fault:
        """Reset multipart part uploads (``PUT ...?partNumber=...``) partway through their bodies."""
        return self.reset(after_bytes, times=times, method="PUT", target=r"[?&]partNumber=")

    def clear(self) -> None:
        """Remove every fault: from now on the proxy only forwards."""
        with self._lock:
            self._faults.clear()

    def faulted(self, kind: FaultKind | None = None) -> list[Exchange]:
        """The requests a fault (of ``kind``, if given) was applied to."""
        with self._lock:
            return [entry for entry in self.log if entry.fault is not None and kind in (None, entry.fault)]

    def requests(self, method: str | None = None, target: str | None = None) -> list[Exchange]:
        """The requests seen, filtered like a :class:`Fault` would match them."""
        with self._lock:
            return [
                entry
                for entry in self.log
                if (method is None or entry.method == method)
                and (target is None or re.search(target, entry.target))
            ]

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                if self.receive_buffer is not None:
                    # Accepted sockets inherit it; set before listen() so the window scale agrees.
                    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer)
                listener.bind((_HOST, 0))
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._serve, sock=listener, limit=_HEAD_LIMIT)
                )
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as error:  # reported to start()
                errors.append(error)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name=f"faultproxy->{self.upstream[1]}", daemon=True)
        self._thread.start()
        ready.wait()
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        thread.join(timeout=10)
        self._loop = self._thread = None

    # --- the proxy, on its own loop --------------------------------------------------------------

    def _match(self, method: str, target: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, target):
                    fault.applied += 1
                    return fault
        return None

    def _record(self, method: str, target: str, fault: Fault | None) -> Exchange:
        exchange = Exchange(method, target, fault.kind if fault is not None else None)
        with self._lock:
            self.log.append(exchange)
        return exchange

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while True:
                try:
                    raw = await client_reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                request = _parse_head(raw)
                method, target = [*request.first_line.split(" "), "", ""][:2]
                fault = self._match(method, target)
                exchange = self._record(method, target, fault)
                has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
                body = _pieces(client_reader, *_framing(request, no_body=not has_body))
                if fault is not None and fault.kind == "status":
                    async for _ in body:
                        pass
                    await self._answer_error(client_writer, fault.status, target)
                    continue
                if upstream is None or upstream[0].at_eof():
                    if upstream is not None:
                        upstream[1].close()
                    upstream = await asyncio.open_connection(*self.upstream, limit=_HEAD_LIMIT)
                up_reader, up_writer = upstream
                up_writer.write(raw)
                sent = 0
                async for piece in body:
                    if (
                        fault is not None
                        and fault.kind == "reset"
                        and sent + len(piece) >= (fault.after_bytes or 0)
                    ):
                        up_writer.write(piece[: (fault.after_bytes or 0) - sent])
                        _reset(client_writer)
                        up_writer.close()
                        raise _Dropped
                    if fault is not None and fault.kind == "throttle":
                        await self._trickle(piece, up_writer, fault.rate)
                    else:
                        up_writer.write(piece)
                        await up_writer.drain()
                    sent += len(piece)
                await up_writer.drain()
                if fault is not None and fault.kind == "reset":  # a body shorter than after_bytes
                    _reset(client_writer)
                    raise _Dropped
                response = _parse_head(await up_reader.readuntil(b"\r\n\r\n"))
                status = int(response.first_line.split(" ")[1])
                exchange.status = status
                if fault is not None and fault.kind == "stall" and fault.after_bytes is None:
                    await asyncio.sleep(fault.seconds)
                client_writer.write(response.raw)
                await client_writer.drain()
                no_body = method == "HEAD" or status in (204, 304) or status < 200
                framing = _framing(response, no_body=no_body)
                await self._forward_body(_pieces(up_reader, *framing), client_writer, fault)
                exchange.finished = time.monotonic()
                if framing[0] == "close" or "close" in response.headers.get("connection", "").lower():
                    return
        except (_Dropped, asyncio.CancelledError):
            return
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            return
        finally:
            if upstream is not None:
                upstream[1].close()
            client_writer.close()
            self._tasks.discard(task)

    async def _forward_body(
        self, pieces: AsyncIterator[bytes], writer: asyncio.StreamWriter, fault: Fault | None
    ) -> None:
        sent = 0
        pending = (
            fault
            if fault is not None and fault.kind in ("drop", "stall") and fault.after_bytes is not None
            else None
        )
        async for received in pieces:
            piece = received
            if pending is not None and sent + len(piece) >= (pending.after_bytes or 0):
                cut = (pending.after_bytes or 0) - sent
                writer.write(piece[:cut])
                await writer.drain()
                if pending.kind == "drop":
                    writer.close()
                    raise _Dropped
                await asyncio.sleep(pending.seconds)
                piece, sent, pending = piece[cut:], sent + cut, None
            if fault is not None and fault.kind == "throttle":
                await self._trickle(piece, writer, fault.rate)
            else:
                writer.write(piece)
                await writer.drain()
            sent += len(piece)

    @staticmethod
    async def _trickle(piece: bytes, writer: asyncio.StreamWriter, rate: float) -> None:
        """Write ``piece`` at ``rate`` bytes per second, a tenth of a second's worth at a time."""
        step = max(1, int(rate / 10))
        for start in range(0, len(piece), step):
            writer.write(piece[start : start + step])
            await writer.drain()
            await asyncio.sleep(min(step, len(piece) - start) / rate)

    @staticmethod
    async def _answer_error(writer: asyncio.StreamWriter, status: int, target: str) -> None:
        code = _ERROR_CODES.get(status, "InjectedFault")
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>injected by faultproxy</Message><Resource>{target}</Resource></Error>"
        ).encode()
        writer.write(
            f"HTTP/1.1 {status} {code}\r\nContent-Type: application/xml\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
