"""The punktfunk/1 receiver: `punktfunk client HOST[:PORT]`.

Connects over TLS (pinning the host's certificate on first use), asks for a mode, then
receives the video datagrams: authenticate, reassemble, rebuild lost shards from parity,
decode with PyAV. After an unrecoverable frame it asks for a keyframe and skips frames
until one arrives (decoding them would only show corruption). At least once a second it
reports cumulative feedback to the host, which is how the host learns about loss and
FEC recoveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
import time
from collections.abc import Awaitable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import av
from av.video.codeccontext import VideoCodecContext

from host.native import messages
from host.native.channel import receive
from host.native.messages import (
    Bye,
    Error,
    Feedback,
    Hello,
    KeyframeRequest,
    MessageDecoder,
    ProtocolError,
    Welcome,
)
from host.native.reassembler import FrameDone, FrameLost, Reassembler
from host.native.server import DEFAULT_PORT
from host.native.tls import (
    KNOWN_HOSTS_FILE,
    CertificateChangedError,
    KnownHosts,
    client_context,
    fingerprint,
)
from host.native.wire import DatagramError, Opener
from ipc.records import FrameFlags

log = logging.getLogger(__name__)
T = TypeVar("T")

FEEDBACK_INTERVAL_S = 0.5
KEYFRAME_RETRY_S = 0.1  # re-ask while waiting, in case a request or its answer got lost
RECEIVE_BUFFER = 8 * 1024 * 1024
WELCOME_TIMEOUT_S = 15.0  # the host starts the session's processes before it answers
DECODERS = {"h264": ("h264",), "hevc": ("hevc",), "av1": ("libdav1d", "av1")}


class ClientError(RuntimeError):
    """The client could not connect or the host refused it; the message says why."""


class ClientInterruptedError(ClientError):
    """Told to stop before the stream began."""


@dataclass
class ClientOptions:
    host: str
    port: int = DEFAULT_PORT
    width: int = 1280
    height: int = 720
    fps: int = 60
    codec: str = "h264"
    bitrate_kbps: int = 10_000
    seconds: float | None = None
    loss_percent: float = 0.0
    label: str = "punktfunk client"
    config_dir: Path | None = None


@dataclass
class ClientReport:
    frames_decoded: int = 0
    frames_unrecoverable: int = 0
    frames_skipped: int = 0  # complete, but waiting for a keyframe after a loss
    frames_total: int = 0  # frames the host sent that this client accounted for
    decode_errors: int = 0
    packets_received: int = 0
    packets_lost: int = 0
    packets_injected_loss: int = 0
    fec_recovered: int = 0
    keyframes_requested: int = 0
    datagrams_dropped: dict[str, int] = field(default_factory=dict)
    decode_ms_mean: float = 0.0
    seconds: float = 0.0
    session_id: int = 0
    encoder: str = ""
    codec: str = ""
    mode: str = ""
    ended_by: str = ""

    @property
    def failed(self) -> bool:
        """The host ended the session with an error, or the control channel broke."""
        return self.ended_by.startswith(("host error", "control connection failed"))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_address(text: str) -> tuple[str, int]:
    if text.startswith("["):  # [v6]:port
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else DEFAULT_PORT
    host, sep, port = text.rpartition(":")
    if not sep or ":" in host:
        return text, DEFAULT_PORT
    return host, int(port)


class _Receiver(asyncio.DatagramProtocol):
    """Datagram path: everything here runs synchronously per datagram on the loop."""

    def __init__(self, welcome: Welcome, loss_percent: float, request_keyframe: Any) -> None:
        self.opener = Opener(welcome.key, welcome.salt, welcome.session_id)
        self.reassembler = Reassembler(welcome.shard_size)
        self.decoder = _open_decoder(welcome.codec)
        self.loss = loss_percent / 100
        self.rng = random.Random()
        self.request_keyframe = request_keyframe
        self.report = ClientReport(session_id=welcome.session_id, encoder=welcome.encoder)
        self.waiting_for_keyframe = False
        self.last_request = 0.0
        self.decode_us_total = 0
        self.highest_frame = -1

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if self.loss and self.rng.random() < self.loss:
            self.report.packets_injected_loss += 1
            return
        try:
            header, shard = self.opener.open(data)
        except DatagramError:
            return
        for event in self.reassembler.push(header, shard):
            self._on_event(event)

    def error_received(self, exc: Exception) -> None:
        log.debug("datagram socket error: %s", exc)

    def _on_event(self, event: FrameDone | FrameLost) -> None:
        if isinstance(event, FrameLost):
            self.report.frames_unrecoverable += event.count
            self.highest_frame = max(self.highest_frame, event.frame_index + event.count - 1)
            # A new loss always asks at once: it may have been the keyframe we waited for.
            self._ask_for_keyframe(urgent=True)
            return
        self.highest_frame = max(self.highest_frame, event.frame_index)
        if self.waiting_for_keyframe:
            if not event.flags & FrameFlags.KEYFRAME:
                self.report.frames_skipped += 1
                self._ask_for_keyframe(urgent=False)
                return
            self.waiting_for_keyframe = False
        t0 = time.perf_counter_ns()
        try:
            frames = self.decoder.decode(av.Packet(event.data))
        except av.FFmpegError:
            self.report.decode_errors += 1
            self._ask_for_keyframe(urgent=True)
            return
        self.decode_us_total += (time.perf_counter_ns() - t0) // 1000
        self.report.frames_decoded += len(frames)

    def _ask_for_keyframe(self, *, urgent: bool) -> None:
        self.waiting_for_keyframe = True
        now = time.monotonic()
        if urgent or now - self.last_request >= KEYFRAME_RETRY_S:
            self.last_request = now
            self.report.keyframes_requested += 1
            self.request_keyframe()

    def feedback(self) -> Feedback:
        window = self.opener.window
        return Feedback(
            packets_received=window.accepted,
            packets_lost=window.missing,
            fec_recovered=self.reassembler.fec_recovered,
            frames_decoded=self.report.frames_decoded,
            frames_unrecoverable=self.report.frames_unrecoverable,
            decode_us_total=self.decode_us_total,
            keyframes_requested=self.report.keyframes_requested,
        )

    def finish(self) -> ClientReport:
        report = self.report
        window = self.opener.window
        report.packets_received = window.accepted
        report.packets_lost = window.missing
        report.fec_recovered = self.reassembler.fec_recovered
        report.datagrams_dropped = {k: v for k, v in self.opener.dropped.items() if v}
        report.frames_total = self.highest_frame + 1
        if report.frames_decoded:
            report.decode_ms_mean = round(self.decode_us_total / report.frames_decoded / 1000, 3)
        return report


def _open_decoder(codec: str) -> VideoCodecContext:
    for name in DECODERS[codec]:
        try:
            decoder = cast(VideoCodecContext, av.CodecContext.create(name, "r"))
        except (av.FFmpegError, ValueError):
            continue
        decoder.thread_count = 1  # frame threading would add frames of latency
        return decoder
    raise ClientError(f"no decoder for {codec} in this FFmpeg build")


async def run(options: ClientOptions, stop: asyncio.Event | None = None) -> ClientReport:
    """Connect, stream, and report how it went.

    The stream ends when `options.seconds` run out, when the host ends the session, or
    when `stop` is set (the command line sets it on Ctrl-C): in each case the client
    sends a last feedback and a bye, and the report covers the whole stream. `stop` set
    before the stream began abandons the attempt with ClientInterruptedError.
    """
    stop = stop or asyncio.Event()
    known_hosts = KnownHosts((options.config_dir or Path(".")) / KNOWN_HOSTS_FILE)
    try:
        reader, writer = await _unless_stopped(
            asyncio.wait_for(
                asyncio.open_connection(options.host, options.port, ssl=client_context()), 10
            ),
            stop,
        )
    except (OSError, TimeoutError) as exc:
        raise ClientError(f"cannot connect to {options.host}:{options.port}: {exc}") from None
    try:
        return await _session(options, reader, writer, known_hosts, stop)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _session(
    options: ClientOptions,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    known_hosts: KnownHosts,
    stop: asyncio.Event,
) -> ClientReport:
    tls: ssl.SSLObject = writer.get_extra_info("ssl_object")
    der = tls.getpeercert(binary_form=True)
    if der is None:
        raise ClientError("the host presented no certificate")
    host_key = f"{options.host}:{options.port}"
    try:
        if known_hosts.verify(host_key, fingerprint(der)):
            log.info("pinned the certificate of %s (%s)", host_key, fingerprint(der))
    except CertificateChangedError as exc:
        # An SSLError, whose str() is its args tuple: the first argument is the message.
        raise ClientError(str(exc.args[0]) if exc.args else str(exc)) from None

    local_ip = writer.get_extra_info("sockname")[0]
    family = socket.AF_INET6 if ":" in local_ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    decoder = MessageDecoder()
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.bind((local_ip, 0))
        welcome = await _unless_stopped(
            _handshake(options, reader, writer, decoder, sock.getsockname()[1]), stop
        )

        def request_keyframe() -> None:
            writer.write(messages.encode(KeyframeRequest()))

        transport, receiver = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _Receiver(welcome, options.loss_percent, request_keyframe), sock=sock
        )
    except BaseException:
        sock.close()  # from here on the transport owns it
        raise
    try:
        return await _stream(options, reader, writer, decoder, welcome, receiver, stop)
    finally:
        transport.close()


async def _handshake(
    options: ClientOptions,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    decoder: MessageDecoder,
    udp_port: int,
) -> Welcome:
    """Hello out, welcome back; anything else is a ClientError saying why."""
    hello = Hello(
        version=messages.PROTOCOL_VERSION,
        client=options.label[:64],
        width=options.width,
        height=options.height,
        fps=options.fps,
        codec=options.codec,  # type: ignore[arg-type]
        bitrate_kbps=options.bitrate_kbps,
        udp_port=udp_port,
    )
    try:
        writer.write(messages.encode(hello))
        await writer.drain()
        reply = await receive(reader, decoder, WELCOME_TIMEOUT_S)
    except TimeoutError:
        raise ClientError(
            f"the host did not answer the hello within {WELCOME_TIMEOUT_S:g} s"
        ) from None
    except (EOFError, OSError) as exc:
        raise ClientError(f"the host did not answer the hello: {exc}") from None
    except ProtocolError as exc:
        raise ClientError(f"the host answered the hello with garbage: {exc}") from None
    if isinstance(reply, Error):
        raise ClientError(f"the host refused the session: {reply.message}")
    if not isinstance(reply, Welcome):
        raise ClientError(f"expected welcome, got {type(reply).__name__.lower()}")
    return reply


async def _stream(
    options: ClientOptions,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    decoder: MessageDecoder,
    welcome: Welcome,
    receiver: _Receiver,
    stop: asyncio.Event,
) -> ClientReport:
    """Receive until time is up, the host ends the session or `stop` is set, reporting
    feedback as it goes."""
    receiver.report.codec = welcome.codec
    receiver.report.mode = f"{welcome.width}x{welcome.height}@{welcome.fps}"
    started = time.monotonic()
    ended_by = "time"
    host_messages = asyncio.ensure_future(_host_messages(reader, decoder))
    stopped = asyncio.ensure_future(stop.wait())
    try:
        deadline = started + options.seconds if options.seconds else None
        while True:
            timeout = FEEDBACK_INTERVAL_S
            if deadline is not None:
                timeout = min(timeout, max(0.0, deadline - time.monotonic()))
            done, _ = await asyncio.wait(
                {host_messages, stopped}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if host_messages in done:
                ended_by = host_messages.result()
                break
            if stopped in done:
                ended_by = "interrupted"
                break
            try:
                writer.write(messages.encode(receiver.feedback()))
                await writer.drain()
            except ConnectionError:
                # The reader saw the same loss and says how the connection ended.
                ended_by = await host_messages
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
        # Frames still in flight when we stop are not the host's fault: flush what is
        # complete, but do not count the tail as lost.
        writer.write(messages.encode(receiver.feedback()))
        writer.write(messages.encode(Bye(reason="done" if ended_by == "time" else ended_by)))
        with contextlib.suppress(ConnectionError):
            await writer.drain()
    finally:
        host_messages.cancel()
        stopped.cancel()
        await asyncio.gather(host_messages, stopped, return_exceptions=True)
    report = receiver.finish()
    report.seconds = round(time.monotonic() - started, 3)
    report.ended_by = ended_by
    return report


async def _unless_stopped(awaitable: Awaitable[T], stop: asyncio.Event) -> T:
    """`awaitable`'s result, unless `stop` is set first: then it is cancelled and this
    raises ClientInterruptedError."""
    task = asyncio.ensure_future(awaitable)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            raise ClientInterruptedError("stopped before the stream began")
        return task.result()
    finally:
        task.cancel()
        stopped.cancel()
        await asyncio.gather(task, stopped, return_exceptions=True)


async def _host_messages(reader: asyncio.StreamReader, decoder: MessageDecoder) -> str:
    """Waits for the host to end the session; returns how it ended."""
    while True:
        try:
            message = await receive(reader, decoder)
        except EOFError:
            return "host closed the connection"
        except (ProtocolError, OSError) as exc:
            return f"control connection failed: {exc}"
        if isinstance(message, Error):
            return f"host error: {message.message}"
        if isinstance(message, Bye):
            return f"host said bye ({message.reason})" if message.reason else "host said bye"
