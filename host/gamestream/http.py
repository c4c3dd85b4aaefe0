"""GameStream's HTTP and HTTPS listeners: asyncio servers that speak HTTP/1.1 via h11.

One request per connection (every answer says `Connection: close`), as Moonlight
expects. Bounds: the request head (`MAX_HEAD_BYTES`) and body (`MAX_BODY_BYTES`), the
time to deliver a whole request, TLS handshake included (`REQUEST_TIMEOUT_S`), and open
connections per listener (`MAX_CONNECTIONS`). The handler may take as long as it needs
(pairing holds its first request until the operator types the PIN); it is told through
`peer_gone` when the client hangs up meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Protocol

import h11
from OpenSSL import SSL

from host.gamestream.nvhttp import error_xml
from host.gamestream.tls import TlsError, TlsStream

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 16 * 1024  # above nvhttp.MAX_QUERY_BYTES, so a long query gets its own error
MAX_BODY_BYTES = 4096  # GameStream requests are GETs; a body is read and dropped
REQUEST_TIMEOUT_S = 10.0
SEND_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 64
XML = "application/xml; charset=utf-8"


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str  # the path without the query, e.g. "/serverinfo"
    query: bytes  # the raw query string, after "?"
    peer: str  # the client's IP address
    local_address: str  # the host's IP address the client reached
    secure: bool  # came over HTTPS
    client_cert_der: bytes | None  # HTTPS only: the certificate the client presented


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes
    content_type: str = XML


Handler = Callable[[HttpRequest, asyncio.Event], Awaitable[HttpResponse]]


class _Stream(Protocol):
    async def recv(self) -> bytes: ...
    async def send(self, data: bytes) -> None: ...
    async def close(self) -> None: ...


class _PlainStream:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def recv(self) -> bytes:
        return await self._reader.read(65536)

    async def send(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def close(self) -> None:
        return


def _address(sockaddr: object) -> str:
    host = str(sockaddr[0]) if isinstance(sockaddr, tuple) and sockaddr else ""
    # An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d.
    return host.removeprefix("::ffff:") if "." in host else host


class _BadRequestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _split_target(target: bytes) -> tuple[str, bytes]:
    path, _, query = target.partition(b"?")
    if not path.startswith(b"/"):
        raise _BadRequestError(400, "the request target must be a path")
    try:
        return path.decode("ascii"), query
    except UnicodeDecodeError:
        raise _BadRequestError(400, "the request path is not ASCII") from None


class Listener:
    """One listening socket (plain, or TLS when `tls_context` is given)."""

    def __init__(self, handler: Handler, *, tls_context: SSL.Context | None = None) -> None:
        self._handler = handler
        self._tls_context = tls_context
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def secure(self) -> bool:
        return self._tls_context is not None

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port (0 picks a free port); returns the port."""
        self._server = await asyncio.start_server(self._connection, host, port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def close(self) -> None:
        """Stop listening and end every open connection (held requests included)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None or len(self._connections) >= MAX_CONNECTIONS:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            return
        self._connections.add(task)
        stream: _Stream
        if self._tls_context is not None:
            stream = TlsStream(self._tls_context, reader, writer)
        else:
            stream = _PlainStream(reader, writer)
        try:
            await self._exchange(stream, writer)
        except (ConnectionError, TimeoutError) as exc:
            log.debug("GameStream connection ended: %s", exc)
        finally:
            with contextlib.suppress(ConnectionError, TimeoutError):
                async with asyncio.timeout(SEND_TIMEOUT_S):
                    await stream.close()
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self._connections.discard(task)

    async def _exchange(self, stream: _Stream, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                if isinstance(stream, TlsStream):
                    await stream.handshake()
                event = await self._read_request(conn, stream)
        except TimeoutError:
            log.debug("a GameStream client took too long to send its request")
            return
        except TlsError as exc:
            log.debug("GameStream HTTPS: %s", exc)
            return
        except h11.RemoteProtocolError as exc:
            await self._respond(
                conn,
                stream,
                HttpResponse(
                    exc.error_status_hint,
                    error_xml(exc.error_status_hint, f"malformed HTTP request: {exc}"),
                ),
            )
            return
        except _BadRequestError as exc:
            await self._respond(
                conn, stream, HttpResponse(exc.status, error_xml(exc.status, exc.message))
            )
            return
        if event is None:
            return
        path, query = _split_target(event.target)
        tls = stream if isinstance(stream, TlsStream) else None
        request = HttpRequest(
            method=event.method.decode("ascii", errors="replace"),
            path=path,
            query=query,
            peer=_address(writer.get_extra_info("peername")),
            local_address=_address(writer.get_extra_info("sockname")),
            secure=tls is not None,
            client_cert_der=tls.peer_certificate_der() if tls is not None else None,
        )
        peer_gone = asyncio.Event()
        watcher = asyncio.create_task(self._watch_hangup(stream, peer_gone))
        try:
            response = await self._handler(request, peer_gone)
        except Exception:
            log.exception("GameStream handler failed for %s", request.path)
            response = HttpResponse(200, error_xml(500, "internal error; the host log has it"))
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        # Answer even after a hang-up: a half-closed client may still read; a gone one
        # makes the write fail, which ends the connection like any other error.
        await self._respond(conn, stream, response)

    async def _read_request(self, conn: h11.Connection, stream: _Stream) -> h11.Request | None:
        request: h11.Request | None = None
        body_bytes = 0
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.recv())
            elif isinstance(event, h11.Request):
                # h11 bounds only a head that arrives in pieces; bound a whole one too.
                head = len(event.target) + sum(len(k) + len(v) + 4 for k, v in event.headers)
                if head > MAX_HEAD_BYTES:
                    raise _BadRequestError(431, f"request head over {MAX_HEAD_BYTES} bytes")
                declared = dict(event.headers).get(b"content-length", b"0")
                if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                    raise _BadRequestError(413, f"request body over {MAX_BODY_BYTES} bytes")
                request = event
                _split_target(event.target)  # reject a bad target before reading a body
            elif isinstance(event, h11.Data):
                body_bytes += len(event.data)
                if body_bytes > MAX_BODY_BYTES:
                    raise _BadRequestError(413, f"request body over {MAX_BODY_BYTES} bytes")
            elif isinstance(event, h11.EndOfMessage):
                return request
            else:  # ConnectionClosed before a whole request
                return None

    async def _watch_hangup(self, stream: _Stream, peer_gone: asyncio.Event) -> None:
        # Nothing more is expected after the request; the end of the stream means the
        # client gave up (Moonlight closes the socket when its user cancels pairing).
        with contextlib.suppress(ConnectionError):
            while await stream.recv():
                pass
        peer_gone.set()

    async def _respond(self, conn: h11.Connection, stream: _Stream, response: HttpResponse) -> None:
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        reason = HTTPStatus(response.status).phrase.encode()
        head = h11.Response(
            status_code=response.status,
            reason=reason,
            headers=[
                ("Content-Type", response.content_type),
                ("Content-Length", str(len(response.body))),
                ("Connection", "close"),
            ],
        )
        data = conn.send(head) or b""
        data += conn.send(h11.Data(data=response.body)) or b""
        data += conn.send(h11.EndOfMessage()) or b""
        async with asyncio.timeout(SEND_TIMEOUT_S):
            await stream.send(data)
