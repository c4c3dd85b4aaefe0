"""The native host: a TLS control listener that runs one NativeSession per client.

Per connection: hello -> welcome -> stream, then the client's feedback (written into the
session's counters block), keyframe requests and bye. A malformed message, a session
whose processes die, or a client that goes silent ends that session only; the host
keeps serving the others. Session ids and the session limit come from the host's
`SessionRegistry` (shared by every path), which also hears about sessions starting and
ending, the latter after the processes stopped but before the shared memory is
released, so a last window can be read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from dataclasses import dataclass

from host.native import messages
from host.native.channel import receive
from host.native.messages import (
    Bye,
    Feedback,
    Hello,
    KeyframeRequest,
    MessageDecoder,
    ProtocolError,
    Welcome,
)
from host.native.packetizer import DEFAULT_SHARD_SIZE
from host.native.session import NativeSession, TransportSettings
from host.native.tls import HostIdentity, server_context
from host.pipeline.session import (
    EncoderBackends,
    HostBusyError,
    SessionParams,
    SessionRegistry,
)
from ipc import ControlBlock, Counter

log = logging.getLogger(__name__)

DEFAULT_PORT = 47920
HELLO_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class NativeSettings:
    """What the native listener needs. The operator's settings (address, source, encoder,
    FEC, forced codec/bitrate) have one owner, `mgmt.settings.Settings`, which derives
    this; only protocol constants have defaults here."""

    bind: str
    port: int
    source: str
    encoder: str  # auto | cpu | nvenc
    fec_percent: int
    codec: str | None  # force this codec whatever the client asks for
    bitrate_kbps: int | None  # likewise the bitrate
    shard_size: int = DEFAULT_SHARD_SIZE
    pace_multiple: float = 8.0
    feedback_timeout_s: float = 5.0


class SessionFailedError(RuntimeError):
    """A session's streaming process gave up (its reason is the message)."""


class NativeHost:
    def __init__(
        self,
        settings: NativeSettings,
        control: ControlBlock,
        identity: HostIdentity,
        registry: SessionRegistry,
        backends: EncoderBackends | None = None,
    ) -> None:
        self.settings = settings
        self.control = control
        self.identity = identity
        self.registry = registry
        self.backends = backends or EncoderBackends(settings.encoder)
        self.sessions: dict[int, NativeSession] = {}
        self._server: asyncio.Server | None = None
        self._handlers: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self.address: tuple[str, int] = (settings.bind, settings.port)

    async def start(self) -> tuple[str, int]:
        self._server = await asyncio.start_server(
            self._serve_client,
            self.settings.bind,
            self.settings.port,
            ssl=server_context(self.identity),
            ssl_handshake_timeout=HELLO_TIMEOUT_S,
        )
        sockname = self._server.sockets[0].getsockname()
        self.address = (sockname[0], sockname[1])
        return self.address

    async def close(self, timeout: float = 10.0) -> None:
        """Stop listening and end every session the normal way: each control connection
        is closed, so its handler stops the processes, lets observers take the last
        window and releases the shared memory. Cancelling is the last resort."""
        if self._server is not None:
            self._server.close()
        handlers = list(self._handlers)
        for writer in list(self._handlers.values()):
            with contextlib.suppress(Exception):
                writer.write(messages.encode(Bye(reason="host shutting down")))
            writer.close()
        if handlers:
            _, stuck = await asyncio.wait(handlers, timeout=timeout)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers[task] = writer
        peer = writer.get_extra_info("peername") or ("?", 0)
        session: NativeSession | None = None
        reason = "client left"
        decoder = MessageDecoder()
        try:
            hello = await receive(reader, decoder, HELLO_TIMEOUT_S)
            if not isinstance(hello, Hello):
                raise ProtocolError(f"expected hello, got {type(hello).__name__.lower()}")
            if hello.version != messages.PROTOCOL_VERSION:
                raise ProtocolError(
                    f"protocol version {hello.version} unsupported "
                    f"(this host speaks {messages.PROTOCOL_VERSION})"
                )
            session = await asyncio.to_thread(self._open_session, hello, peer[0])
            writer.write(messages.encode(self._welcome(session)))
            await writer.drain()
            log.info("%s", session.describe(hello.client or "unnamed client", peer[0]))
            reason = await self._converse(session, reader, decoder)
        except (ProtocolError, SessionFailedError) as exc:
            failed = isinstance(exc, SessionFailedError)
            reason = f"{'session failed' if failed else 'protocol error'}: {exc}"
            log.warning("native client %s: %s", peer[0], reason)
            with contextlib.suppress(ConnectionError, OSError):
                writer.write(messages.encode(messages.Error(message=str(exc)[:1000])))
                await writer.drain()
        except (EOFError, ConnectionError, ssl.SSLError, TimeoutError) as exc:
            reason = f"connection lost: {exc or type(exc).__name__}"
        except Exception:
            reason = "internal error"
            log.exception("native client %s: unexpected error", peer[0])
        finally:
            if session is not None:
                await asyncio.to_thread(self._end_session, session, reason)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._handlers.pop(task, None)

    def _open_session(self, hello: Hello, peer_ip: str) -> NativeSession:
        try:
            session_id = self.registry.reserve(NativeSession.path.kind)
        except HostBusyError as exc:
            raise ProtocolError(str(exc)) from None
        try:
            codec = self.settings.codec or hello.codec
            bitrate = self.settings.bitrate_kbps or hello.bitrate_kbps
            session = NativeSession(
                session_id,
                SessionParams(hello.width, hello.height, hello.fps, codec, bitrate, hello.client),
                (peer_ip, hello.udp_port),
                self.settings.source,
                self.backends(codec),
                TransportSettings(
                    self.settings.shard_size,
                    self.settings.fec_percent,
                    self.settings.pace_multiple,
                ),
                self.control,
            )
            session.start()
        except BaseException:
            self.registry.abandon(session_id)
            raise
        self.sessions[session_id] = session
        self.registry.started(session)
        return session

    def _welcome(self, session: NativeSession) -> Welcome:
        p = session.params
        return Welcome(
            session_id=session.session_id,
            shard_size=session.transport.shard_size,
            fec_percent=session.transport.fec_percent,
            key=session.key,
            salt=session.salt,
            width=p.width,
            height=p.height,
            fps=p.fps,
            codec=p.codec,  # type: ignore[arg-type]
            encoder=session.encoder,
            bitrate_kbps=p.bitrate_kbps,
        )

    async def _converse(
        self, session: NativeSession, reader: asyncio.StreamReader, decoder: MessageDecoder
    ) -> str:
        """Read the client's messages until it leaves; returns why the session ends.

        `decoder` already holds whatever arrived after the hello. Waiting a second at a
        time lets the loop notice dead session processes and a silent client."""
        counters = session.counters
        silent_for = 0.0
        while True:
            if not session.alive:
                reason = session.failure() or "a streaming process stopped (see the host log)"
                raise SessionFailedError(reason)
            try:
                message = await receive(reader, decoder, idle_timeout=1.0)
            except TimeoutError:
                silent_for += 1.0
                if silent_for >= self.settings.feedback_timeout_s:
                    return f"no feedback for {silent_for:.0f} s"
                continue
            silent_for = 0.0
            if isinstance(message, Feedback):
                counters.set(Counter.PACKETS_RECEIVED, message.packets_received)
                counters.set(Counter.PACKETS_LOST, message.packets_lost)
                counters.set(Counter.FEC_RECOVERED, message.fec_recovered)
                counters.set(Counter.FRAMES_DECODED, message.frames_decoded)
                counters.set(Counter.FRAMES_UNRECOVERABLE, message.frames_unrecoverable)
                counters.set(Counter.DECODE_US_TOTAL, message.decode_us_total)
                counters.add(Counter.FEEDBACK_REPORTS)
            elif isinstance(message, KeyframeRequest):
                counters.add(Counter.KEYFRAME_REQUESTS)
            elif isinstance(message, Bye):
                return f"client said bye ({message.reason})" if message.reason else "client left"
            else:
                raise ProtocolError(f"unexpected {type(message).__name__.lower()} message")

    def _end_session(self, session: NativeSession, reason: str) -> None:
        session.stop()
        try:
            self.registry.ending(session)
        finally:
            self.sessions.pop(session.session_id, None)
            session.close()
        final = session.final_counters or {}
        log.info(
            "native session %d ended (%s): %d frames sent, %d dropped, %d datagrams, "
            "%d send-dropped",
            session.session_id,
            reason,
            final.get(Counter.FRAMES_NEW, 0) + final.get(Counter.FRAMES_REPEAT, 0),
            final.get(Counter.FRAMES_DROPPED, 0),
            final.get(Counter.DATAGRAMS_SENT, 0),
            final.get(Counter.SEND_DROPPED, 0),
        )
