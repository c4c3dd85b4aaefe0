"""The RTSP TCP edge: one request per connection, answered by the current launch.

Moonlight connects, sends one request and reads until the host closes, so each connection
is: read one bounded request (within `read_timeout_s`), answer it, close. Malformed or
oversized requests get 400, a request that does not arrive in time 408, a request while no
launch is pending 454. The protocol itself lives in `rtsp.py`.

One launch at a time: the GameStream host calls `begin_launch(RtspSession(...))` when a
client launches and `end_launch()` when the session ends. `on_announce(config)` runs when
the client has sent its stream configuration and `on_play()` when it starts playing; either
may be a coroutine function. If one raises, the client is answered 500 (the session's
state has already moved on; the client gives up on a 500 anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType

from host.gamestream.rtsp import (
    Announced,
    Playing,
    RtspError,
    RtspRequestParser,
    RtspResponse,
    RtspSession,
    StreamConfig,
    error_response,
)

log = logging.getLogger(__name__)

DEFAULT_PORT = 48010
READ_CHUNK = 4096
# After answering, what the client still sends is read and dropped (up to `linger_s` and
# LINGER_BYTES) before the socket closes: closing with unread bytes would reset the
# connection and could destroy the answer before the client reads it.
LINGER_BYTES = 256 * 1024

AnnounceHook = Callable[[StreamConfig], Awaitable[None] | None]
PlayHook = Callable[[], Awaitable[None] | None]


class RtspServer:
    def __init__(
        self,
        *,
        on_announce: AnnounceHook | None = None,
        on_play: PlayHook | None = None,
        read_timeout_s: float = 10.0,
        linger_s: float = 2.0,
        max_connections: int = 16,
    ) -> None:
        self.on_announce = on_announce
        self.on_play = on_play
        self.read_timeout_s = read_timeout_s
        self.linger_s = linger_s
        self.max_connections = max_connections
        self._launch: RtspSession | None = None
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def launch(self) -> RtspSession | None:
        return self._launch

    def begin_launch(self, session: RtspSession) -> None:
        """From now on connections are answered by this launch's session."""
        self._launch = session

    def end_launch(self) -> None:
        self._launch = None

    @property
    def connections(self) -> int:
        """Connections being served now."""
        return len(self._handlers)

    @property
    def port(self) -> int:
        """The bound port (useful when started on port 0)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the RTSP server is not listening")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self, host: str = "0.0.0.0", port: int = DEFAULT_PORT) -> None:  # noqa: S104
        self._server = await asyncio.start_server(self._connection, host, port)
        log.info("RTSP listening on %s:%d", host, self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    async def __aenter__(self) -> RtspServer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None or len(self._handlers) >= self.max_connections:
            await _close(writer)
            return
        self._handlers.add(task)
        try:
            response = await self._answer(reader)
            if response is not None:
                writer.write(response.to_bytes())
                await asyncio.wait_for(writer.drain(), self.read_timeout_s)
                writer.write_eof()  # the client reads until it sees the end
                await _discard_until_eof(reader, self.linger_s)
        except (ConnectionError, TimeoutError) as error:
            log.debug("RTSP connection dropped: %r", error)
        finally:
            self._handlers.discard(task)
            await _close(writer)

    async def _answer(self, reader: asyncio.StreamReader) -> RtspResponse | None:
        """The response to the connection's one request; None if the client left first."""
        parser = RtspRequestParser()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.read_timeout_s
        try:
            while True:
                data = await asyncio.wait_for(reader.read(READ_CHUNK), deadline - loop.time())
                if not data:
                    return None
                request = parser.feed(data)
                if request is not None:
                    break
        except TimeoutError:
            return error_response(RtspError("no complete request in time", 408))
        except RtspError as error:
            log.info("RTSP request rejected: %s", error)
            return error_response(error)
        session = self._launch
        if session is None:
            return error_response(RtspError("no launch is pending", 454), request.cseq)
        reply = session.handle(request)
        log.debug("RTSP %s %s -> %d", request.method, request.target, reply.response.status)
        for event in reply.events:
            try:
                await self._notify(event)
            except Exception:
                log.exception("RTSP %s hook failed", type(event).__name__)
                return error_response(
                    RtspError("the host could not start the stream", 500), request.cseq
                )
        return reply.response

    async def _notify(self, event: Announced | Playing) -> None:
        result: Awaitable[None] | None = None
        if isinstance(event, Announced):
            if self.on_announce is not None:
                result = self.on_announce(event.config)
        elif self.on_play is not None:
            result = self.on_play()
        if inspect.isawaitable(result):
            await result


async def _discard_until_eof(reader: asyncio.StreamReader, linger_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + linger_s
    discarded = 0
    with contextlib.suppress(TimeoutError, ConnectionError):
        while discarded < LINGER_BYTES:
            data = await asyncio.wait_for(reader.read(READ_CHUNK), deadline - loop.time())
            if not data:
                return
            discarded += len(data)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError, TimeoutError):
        await asyncio.wait_for(writer.wait_closed(), 5.0)
