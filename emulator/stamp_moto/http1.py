"""A one-thread HTTP/1.1 server for moto's WSGI application: requests run on the event loop.

Why not waitress (which served until 2026-12-07): moto holds the interpreter lock for the whole of
a request, so only one request ever runs at a time whatever the thread count, and waitress's
hand-offs around it (its I/O thread parses, wakes a worker, the worker answers, wakes the I/O
thread to write) cost about a quarter of the server's CPU under the fleet benchmark. Here the
thread that reads a request answers it and writes the response, with no hand-off.

What a thread pool gave and this keeps: simulated latency (`StampControl.wait_for`) is waited
out on the loop's timer, so concurrent requests still wait side by side. Nothing in moto or in
stamp's extensions blocks inside a request (no request calls this server back); one that did
would stall every other connection.

Scope: what AWS SDKs and CLIs send. Keep-alive (HTTP/1.1 default, HTTP/1.0 with the header),
`Content-Length` and chunked request bodies, `Expect: 100-continue`, several requests in one
read; responses are buffered whole (moto builds them in memory) and sent with their length.
"""

from __future__ import annotations

import asyncio
import email.utils
import io
import logging
import socket
import sys
import time
import traceback
from typing import Any, Callable, Iterable
from urllib.parse import unquote_to_bytes

log = logging.getLogger("stamp_moto.http1")

# A request head larger than this is refused (431) instead of buffered without end.
MAX_HEAD = 1 << 20
# Header names WSGI passes without the HTTP_ prefix.
_PLAIN = {"CONTENT_TYPE", "CONTENT_LENGTH"}
# Statuses that never carry a body (RFC 9110 6.4.1).
_NO_BODY = ("1", "204", "304")


class BadRequest(Exception):
    """The client sent something this server cannot read; answered with `status`, then closed."""

    def __init__(self, status: str, why: str):
        super().__init__(why)
        self.status = status


class _Clock:
    """The `Date` header, formatted once a second rather than per response."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def date(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._second, self._text = now, email.utils.formatdate(now, usegmt=True)
        return self._text


class Request:
    """One parsed request: its WSGI environ (less the body) and its body."""

    __slots__ = ("environ", "body", "keep_alive")

    def __init__(self, environ: dict[str, Any], keep_alive: bool):
        self.environ = environ
        self.body = b""
        self.keep_alive = keep_alive


def parse_head(head: bytes, server: tuple[str, int], peer: tuple[str, int]) -> Request:
    """The request line and headers (without the blank line) as a WSGI environ."""
    lines = head.split(b"\r\n")
    try:
        method, target, version = lines[0].decode("latin-1").split(" ")
    except ValueError:
        raise BadRequest("400 Bad Request", f"malformed request line {lines[0][:100]!r}") from None
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise BadRequest("505 HTTP Version Not Supported", f"unsupported version {version!r}")
    path, _, query = target.partition("?")
    if path.startswith("/"):
        # As waitress did: `//x` is the path `/x`, not a host.
        path = "/" + path.lstrip("/")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method.upper(),
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
        "QUERY_STRING": query,
        "REQUEST_URI": target,
        "SERVER_NAME": server[0],
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": version,
        "SERVER_SOFTWARE": "stamp_moto",
        "REMOTE_ADDR": peer[0],
        "REMOTE_HOST": peer[0],
        "REMOTE_PORT": str(peer[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
    }
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            raise BadRequest("400 Bad Request", f"malformed header line {line[:100]!r}")
        key = name.decode("latin-1").upper().replace("-", "_")
        key = key if key in _PLAIN else "HTTP_" + key
        text = value.strip().decode("latin-1")
        environ[key] = f"{environ[key]},{text}" if key in environ else text
    connection = environ.get("HTTP_CONNECTION", "").lower()
    keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
    return Request(environ, keep_alive)


def take_chunked(buf: bytearray, start: int) -> tuple[bytes, int] | None:
    """Decodes a chunked body starting at `buf[start]`: (body, end offset), or None while the
    last chunk has not arrived yet. Trailers are read and dropped."""
    out, pos = [], start
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size_text = bytes(buf[pos:eol]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BadRequest("400 Bad Request", f"bad chunk size {size_text[:20]!r}") from None
        pos = eol + 2
        if size == 0:
            end = buf.find(b"\r\n\r\n", pos - 2)
            return (b"".join(out), end + 4) if end >= 0 else None
        if len(buf) < pos + size + 2:
            return None
        out.append(bytes(buf[pos : pos + size]))
        pos += size + 2


class Connection(asyncio.Protocol):
    """One client connection: reads requests in order and answers each before the next."""

    def __init__(self, server: Server):
        self.server = server
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("", 0)
        # The request whose head was read and whose body has not all arrived.
        self.pending: Request | None = None
        # Waiting out simulated latency: later requests stay in `buf` until it is answered.
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer = (peer[0], peer[1]) if peer else ("", 0)
        self.server.app.connected()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.busy:
            self._serve_buffered()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def _serve_buffered(self) -> None:
        try:
            while self.transport is not None and not self.busy:
                request = self._next_request()
                if request is None:
                    return
                self._dispatch(request)
        except BadRequest as bad:
            self._answer_error(bad.status, str(bad))

    def _next_request(self) -> Request | None:
        """The next whole request in the buffer (removed from it), or None until more arrives."""
        request = self.pending
        if request is None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > MAX_HEAD:
                    raise BadRequest("431 Request Header Fields Too Large", "request head too large")
                return None
            request = parse_head(bytes(self.buf[:end]), self.server.address, self.peer)
            del self.buf[: end + 4]
            self.pending = request
            # Once, here where the head is read: the client sends the body after this.
            if request.environ.get("HTTP_EXPECT", "").lower() == "100-continue" and self.transport is not None:
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if not self._take_body(request):
            return None
        self.pending = None
        return request

    def _take_body(self, request: Request) -> bool:
        environ = request.environ
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            taken = take_chunked(self.buf, 0)
            if taken is None:
                return False
            request.body, end = taken
            del self.buf[:end]
            environ.pop("HTTP_TRANSFER_ENCODING")
            environ["CONTENT_LENGTH"] = str(len(request.body))
            return True
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise BadRequest("400 Bad Request", "Content-Length is not a number") from None
        if len(self.buf) < length:
            return False
        request.body = bytes(self.buf[:length])
        del self.buf[:length]
        return True

    def _dispatch(self, request: Request) -> None:
        wait = self.server.app.wait_for(request.environ)
        if wait <= 0:
            self._answer(request)
            return
        self.busy = True

        def waited() -> None:
            self.server.app.done_waiting()
            self.busy = False
            self._answer(request)
            self._serve_buffered()

        asyncio.get_running_loop().call_later(wait, waited)

    def _answer(self, request: Request) -> None:
        if self.transport is None:
            return
        status, headers, body = self.server.run_app(request)
        self._write(status, headers, body, request.environ["REQUEST_METHOD"] == "HEAD")
        if not request.keep_alive and self.transport is not None:
            self.transport.close()

    def _answer_error(self, status: str, why: str) -> None:
        body = f"{why}\n".encode()
        self._write(status, [("Content-Type", "text/plain"), ("Connection", "close")], body, False)
        if self.transport is not None:
            self.transport.close()

    def _write(self, status: str, headers: list[tuple[str, str]], body: bytes, head_only: bool) -> None:
        if self.transport is None:
            return
        names = {name.lower() for name, _ in headers}
        out = [f"HTTP/1.1 {status}\r\n"]
        out.extend(f"{name}: {value}\r\n" for name, value in headers)
        if status.startswith(_NO_BODY):
            body = b""
        elif "content-length" not in names:
            out.append(f"Content-Length: {len(body)}\r\n")
        if "date" not in names:
            out.append(f"Date: {self.server.clock.date()}\r\n")
        out.append("Server: stamp_moto\r\n\r\n")
        head = "".join(out).encode("latin-1")
        self.transport.write(head if head_only else head + body)


class Server:
    """The listening socket and the WSGI application every connection calls."""

    def __init__(self, app: Any, port: int):
        # `app` is a WSGI callable with `wait_for(environ) -> seconds` and `done_waiting()`
        # (StampControl): the simulated latency this server waits out before calling it; and
        # `connected()`, told of every connection accepted.
        self.app = app
        self.clock = _Clock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(1024)
        self.sock.setblocking(False)
        self.address: tuple[str, int] = self.sock.getsockname()[:2]

    def run(self) -> None:
        """Serves until the process exits (call from the thread that owns the loop)."""
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)

        def connection() -> Connection:
            return Connection(self)

        async def serve() -> None:
            server = await loop.create_server(connection, sock=self.sock)
            async with server:
                await server.serve_forever()

        loop.run_until_complete(serve())

    def run_app(self, request: Request) -> tuple[str, list[tuple[str, str]], bytes]:
        """Calls the application; an exception is logged and answered with a 500."""
        environ = request.environ
        environ["wsgi.input"] = io.BytesIO(request.body)
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            if exc_info and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [status, list(headers)]
            return chunks.append

        chunks: list[bytes] = []
        try:
            result: Iterable[bytes] = self.app(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception:
            log.error("request %s %s failed:\n%s", environ["REQUEST_METHOD"], environ["PATH_INFO"], traceback.format_exc())
            return "500 Internal Server Error", [("Content-Type", "text/plain")], b"internal error in the emulator\n"
        if not started:
            return "500 Internal Server Error", [("Content-Type", "text/plain")], b"the application never started a response\n"
        return started[0], started[1], b"".join(chunks)
