"""The GameStream host: everything a Moonlight client talks to, from serverinfo to video.

It owns the HTTP side (`GameStreamService`: serverinfo, pairing, apps, launch), the RTSP
server, the ENet control server and, per launch, a `Stream`: the launch's UDP sockets,
its RTSP handshake, its control channel and, once the client pinged the video port, its
`GameStreamSession` (the shared capture/encode process plus the GameStream sender).

One stream at a time (a GameStream host runs one app). A launch gets its video and
audio sockets bound before RTSP announces their ports; PLAY makes the host wait for the
client's first video ping and then start the session, whose first frame is an IDR.
A stream ends when the client quits (`cancel`), when its control channel goes silent
(ENet timeout), when a streaming process dies, or when the host closes; each path tears
down the same way: termination message, processes stopped, registry told (so the
aggregator takes the last window), shared memory released, sockets closed.

Ports follow the GameStream layout relative to the HTTP port (HTTPS -5, video +9,
control +10, audio +11, RTSP +21), or are all ephemeral when the HTTP port is 0; the
client learns them from serverinfo, sessionUrl0 and the RTSP answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from host.gamestream import control as control_messages
from host.gamestream.control_server import ControlChannel, ControlServer
from host.gamestream.inject import Injector, InputInjector
from host.gamestream.input import InputEvent
from host.gamestream.launch import LaunchError, LaunchRequest, rtsp_url
from host.gamestream.nvhttp import App, codec_mode_mask
from host.gamestream.rtsp import RtspSession, StreamConfig, StreamPorts
from host.gamestream.rtsp_server import RtspServer
from host.gamestream.send_process import MAX_PING, is_ping_from
from host.gamestream.service import GameStreamService, GameStreamSettings
from host.gamestream.session import AudioTransport, GameStreamSession, VideoTransport
from host.pipeline.session import EncoderBackends, HostBusyError, SessionParams, SessionRegistry
from ipc import ControlBlock, Counter

log = logging.getLogger(__name__)

PORT_OFFSETS = {"https": -5, "video": 9, "control": 10, "audio": 11, "rtsp": 21}
FIRST_PING_TIMEOUT_S = 10.0  # Moonlight gives up after ~10 s without video
WATCH_S = 0.25  # how often a stream looks at its processes and the control RTT


class AppsError(ValueError):
    """The `apps` setting is malformed; the message says how."""


def parse_apps(value: str) -> list[tuple[str, str]]:
    """'Title=SOURCE;Title=SOURCE' -> [(title, source)]; empty -> []."""
    apps: list[tuple[str, str]] = []
    for item in filter(None, (part.strip() for part in value.split(";"))):
        title, sep, source = item.partition("=")
        if not sep or not title.strip() or not source.strip():
            raise AppsError(f"apps: {item!r} is not Title=SOURCE")
        apps.append((title.strip(), source.strip()))
    return apps


@dataclass(frozen=True)
class GameStreamHostSettings:
    bind: str
    http_port: int  # 0: every GameStream socket on a free port
    source: str  # what the Desktop app streams
    fec_percent: int
    bitrate_kbps: int | None  # forced bitrate; None: what the client asks for
    apps: tuple[tuple[str, str], ...] = ()  # (title, source) after the desktop
    mdns: bool = True
    hostname: str = field(default_factory=socket.gethostname)
    first_ping_timeout_s: float = FIRST_PING_TIMEOUT_S
    control_timeout_s: float = 10.0
    loss_percent: float = 0.0  # video datagrams dropped on purpose (to watch FEC work)
    audio_source: str = "auto"  # auto: the tone with a synthetic picture, else the desktop's

    def port(self, name: str) -> int:
        return 0 if self.http_port == 0 else self.http_port + PORT_OFFSETS[name]


def _bind_udp(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


class Stream:
    """One launch: its sockets, its RTSP handshake, its control channel, its session.
    Also the control channel's listener: client messages become counter updates."""

    def __init__(self, request: LaunchRequest, source: str, rtsp: RtspSession) -> None:
        self.request = request
        self.source = source
        self.rtsp = rtsp
        self.video_socket: socket.socket | None = None
        self.audio_socket: socket.socket | None = None
        self.config: StreamConfig | None = None
        self.channel: ControlChannel | None = None
        self.session: GameStreamSession | None = None
        self.injector: Injector | None = None
        self.ending: asyncio.Task[None] | None = None
        self.end_reason = ""
        self.on_disconnect: Callable[[str], None] = lambda reason: None
        self.control_events = 0

    # -- ControlListener ------------------------------------------------------------------

    def connected(self) -> None:
        log.info("gamestream: %s connected its control stream", self.request.client_name)

    def event(self, event: object) -> None:
        self.control_events += 1
        session = self.session
        if session is None:
            return  # before the first frame: it will be an IDR anyway
        counters = session.counters
        if isinstance(
            event, control_messages.IdrRequest | control_messages.InvalidateReferenceFrames
        ):
            counters.add(Counter.KEYFRAME_REQUESTS)
        elif isinstance(event, control_messages.FrameFecStatus):
            # The client reports each FEC block it had to repair or lost. Data shards it
            # was missing were either rebuilt from parity or, past the parity, lost.
            missing = max(event.total_data_packets - event.received_data_packets, 0)
            have = event.received_data_packets + event.received_parity_packets
            counters.add(Counter.PACKETS_LOST, missing)
            if have >= event.total_data_packets:
                counters.add(Counter.FEC_RECOVERED, missing)
            else:
                counters.add(Counter.FRAMES_UNRECOVERABLE)

    def input(self, event: InputEvent) -> None:
        if self.session is not None:
            self.session.counters.add(Counter.INPUT_EVENTS)
        injector = self.injector
        if injector is not None:
            injector.submit(event)  # never blocks: a full queue drops and counts

    def input_rejected(self, reason: str) -> None:
        if self.session is not None:
            self.session.counters.add(Counter.INPUT_REJECTED)

    def dropped(self, reason: str) -> None:
        if self.session is not None:
            self.session.counters.add(Counter.CONTROL_REJECTED)

    def disconnected(self, reason: str) -> None:
        self.on_disconnect(f"control stream: {reason}")


class GameStreamHost:
    """The GameStream listener of a punktfunk host; the service's `Launcher`."""

    def __init__(
        self,
        settings: GameStreamHostSettings,
        control: ControlBlock,
        registry: SessionRegistry,
        backends: EncoderBackends,
        config_dir: Path,
    ) -> None:
        self.settings = settings
        self.control = control
        self.registry = registry
        self.backends = backends
        self.config_dir = config_dir
        self.apps = [
            App(2 + n, title) for n, (title, _) in enumerate(settings.apps)
        ]  # id 1 is the desktop
        self._sources = {1: settings.source} | {
            app.id: source for app, (_, source) in zip(self.apps, settings.apps, strict=True)
        }
        self.codecs: list[str] = []
        self.service: GameStreamService | None = None
        self.rtsp = RtspServer(on_announce=self._announced, on_play=self._play)
        self.control_server = ControlServer(
            settings.bind, settings.port("control"), timeout_s=settings.control_timeout_s
        )
        self.stream: Stream | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.ports: dict[str, int] = {}

    # -- lifetime -------------------------------------------------------------------------

    async def start(self) -> int:
        """Listen on every GameStream port; returns the HTTP port."""
        self.codecs = await asyncio.to_thread(self.backends.available)
        if "h264" not in self.codecs:
            raise RuntimeError("no H.264 encoder opens on this host; Moonlight needs one")
        s = self.settings
        self.service = GameStreamService(
            self.config_dir,
            GameStreamSettings(
                bind=s.bind,
                http_port=s.http_port,
                https_port=s.port("https"),
                hostname=s.hostname,
                apps=tuple(self.apps),
                codec_mask=codec_mode_mask(self.codecs),
                mdns=s.mdns,
            ),
            rtsp_port=lambda: self.rtsp.port,
            launcher=self,
        )
        try:
            await self.rtsp.start(s.bind, s.port("rtsp"))
            await self.control_server.start()
            http_port, https_port = await self.service.start()
        except BaseException:
            await self.close()
            raise
        self.ports = {
            "http": http_port,
            "https": https_port,
            "rtsp": self.rtsp.port,
            "control": self.control_server.port,
        }
        return http_port

    async def close(self) -> None:
        """End the running stream the normal way, then stop listening."""
        stream = self.stream
        if stream is not None:
            await self._end(stream, "host shutting down")
        if self.service is not None:
            await self.service.close()
        await self.rtsp.close()
        await self.control_server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- Launcher ---------------------------------------------------------------------------

    def running(self) -> LaunchRequest | None:
        stream = self.stream
        return stream.request if stream is not None and stream.ending is None else None

    def launch(self, request: LaunchRequest) -> str:
        current = self.stream
        if current is not None:
            if current.request.client_id != request.client_id:
                raise LaunchError(
                    f"the host is streaming to {current.request.client_name}", status_code=503
                )
            # The same client launching again (a resume after a lost connection, or
            # another app): the old stream makes way.
            self._begin_end(current, "the client launched again")
        source = self._sources.get(request.app_id)
        if source is None:
            raise LaunchError(f"no app with id {request.app_id}", status_code=404)
        s = self.settings
        video = _bind_udp(s.bind, s.port("video"))
        try:
            audio = _bind_udp(s.bind, s.port("audio"))
        except BaseException:
            video.close()
            raise
        ports = StreamPorts(
            audio=audio.getsockname()[1],
            video=video.getsockname()[1],
            control=self.control_server.port,
        )
        rtsp = RtspSession(ports, codecs=self.codecs)
        stream = Stream(request, source, rtsp)
        stream.video_socket, stream.audio_socket = video, audio
        stream.on_disconnect = lambda reason: self._begin_end(stream, reason)
        self.stream = stream
        self.rtsp.begin_launch(rtsp)
        log.info(
            "gamestream: %s launches app %d at %dx%d@%d",
            request.client_name,
            request.app_id,
            request.width,
            request.height,
            request.fps,
        )
        return rtsp_url(request.host_address, self.rtsp.port)

    def cancel(self, client_id: str) -> None:
        stream = self.stream
        if stream is not None and stream.request.client_id == client_id:
            self._begin_end(stream, "the client quit")

    # -- RTSP hooks -------------------------------------------------------------------------

    def _current(self) -> Stream | None:
        stream = self.stream
        if stream is None or stream.ending is not None:
            return None
        return stream if self.rtsp.launch is stream.rtsp else None

    def _announced(self, config: StreamConfig) -> None:
        stream = self._current()
        if stream is not None:
            stream.config = config

    def _play(self) -> None:
        stream = self._current()
        if stream is None or stream.config is None or stream.session is not None:
            return
        # Answer PLAY now; the client pings the video port once it has the answer.
        self._spawn(self._start_streaming(stream), f"gamestream-start-{stream.rtsp.session_id}")

    async def _start_streaming(self, stream: Stream) -> None:
        config = stream.config
        assert config is not None
        assert stream.video_socket is not None
        request = stream.request
        stream.channel = self.control_server.expect(
            stream.rtsp.connect_data,
            request.rikey,
            v2_iv=config.control_v2_encryption,
            client_ip=request.client_address,
            listener=stream,
        )
        try:
            client_addr = await self._first_ping(stream)
        except TimeoutError:
            log.warning(
                "gamestream: %s never pinged the video port within %.0f s",
                request.client_name,
                self.settings.first_ping_timeout_s,
            )
            self._begin_end(stream, "no video ping")
            return
        if stream.ending is not None:
            return
        try:
            stream.session = await asyncio.to_thread(self._open_session, stream, client_addr)
        except (HostBusyError, OSError, RuntimeError) as exc:
            log.warning("gamestream: cannot stream to %s: %s", request.client_name, exc)
            self._begin_end(stream, f"could not start: {exc}")
            return
        session = stream.session
        # Input goes to virtual devices of this session (or is only counted where the
        # host has no usable /dev/uinput; the injector says so in one log line).
        stream.injector = await asyncio.to_thread(InputInjector.open)
        if config.sends_fec_status:
            # This client reports every FEC block it repaired or lost: no report is a
            # measured zero, not an unknown.
            session.counters.add(Counter.FEEDBACK_REPORTS)
        log.info("%s", session.describe(request.client_name, client_addr[0]))
        self._spawn(self._watch(stream), f"gamestream-watch-{session.session_id}")

    async def _first_ping(self, stream: Stream) -> tuple[str, int]:
        sock = stream.video_socket
        assert sock is not None
        loop = asyncio.get_running_loop()
        payload = stream.rtsp.ping_payload.encode()
        deadline = time.monotonic() + self.settings.first_ping_timeout_s
        async with asyncio.timeout_at(loop.time() + self.settings.first_ping_timeout_s):
            while time.monotonic() < deadline:
                data, addr = await loop.sock_recvfrom(sock, MAX_PING + 1)
                if is_ping_from(data, addr[:2], payload, stream.request.client_address):
                    return addr[0], addr[1]
        raise TimeoutError

    def _open_session(self, stream: Stream, client_addr: tuple[str, int]) -> GameStreamSession:
        config = stream.config
        assert config is not None
        assert stream.video_socket is not None
        assert stream.audio_socket is not None
        audio_source = self.settings.audio_source
        if audio_source == "auto" and stream.source.startswith("synthetic"):
            audio_source = "tone"  # a test picture gets a test tone
        audio = AudioTransport(
            stream.audio_socket,
            stream.request.client_address,
            stream.rtsp.ping_payload.encode(),
            audio_source,
            config.audio_channels,
            config.audio_packet_duration_ms,
            config.audio_high_quality,
            stream.request.rikey if config.audio_encrypted else None,
            stream.request.rikeyid,
        )
        session_id = self.registry.reserve(GameStreamSession.path.kind)
        try:
            params = SessionParams(
                config.width,
                config.height,
                config.fps,
                config.codec,
                self.settings.bitrate_kbps or config.bitrate_kbps,
                stream.request.client_name,
            )
            session = GameStreamSession(
                session_id,
                params,
                stream.source,
                self.backends(config.codec),
                self.control,
                VideoTransport(
                    stream.video_socket,
                    client_addr,
                    stream.rtsp.ping_payload.encode(),
                    config.packet_size,
                    self.settings.fec_percent,
                    config.min_fec_packets,
                    loss_percent=self.settings.loss_percent,
                ),
                audio,
            )
            session.start()
        except BaseException:
            self.registry.abandon(session_id)
            raise
        self.registry.started(session)
        return session

    async def _watch(self, stream: Stream) -> None:
        session = stream.session
        assert session is not None
        while stream.ending is None:
            if not session.alive:
                reason = session.failure() or "a streaming process stopped (see the host log)"
                self._begin_end(stream, f"session failed: {reason}")
                return
            channel = stream.channel
            rtt = channel.rtt_us() if channel is not None else None
            if rtt:
                session.counters.set(Counter.RTT_US, rtt)
            await asyncio.sleep(WATCH_S)

    # -- ending -------------------------------------------------------------------------------

    def _begin_end(self, stream: Stream, reason: str) -> None:
        if stream.ending is None:
            stream.ending = self._spawn(self._teardown(stream, reason), "gamestream-end")

    async def _end(self, stream: Stream, reason: str) -> None:
        self._begin_end(stream, reason)
        assert stream.ending is not None
        await asyncio.shield(stream.ending)

    async def _teardown(self, stream: Stream, reason: str) -> None:
        stream.end_reason = reason
        if self.rtsp.launch is stream.rtsp:
            self.rtsp.end_launch()
        channel = stream.channel
        if channel is not None:
            with contextlib.suppress(Exception):
                channel.send_termination()
        session = stream.session
        injector, stream.injector = stream.injector, None
        if injector is not None:
            await asyncio.to_thread(injector.close)  # releases held keys, removes devices
        if session is not None:
            await asyncio.to_thread(self._end_session, session)
        if channel is not None:
            channel.close()
        for sock in (stream.video_socket, stream.audio_socket):
            if sock is not None:
                sock.close()
        if self.stream is stream:
            self.stream = None
        final = session.final_counters if session is not None else None
        log.info(
            "gamestream stream of %s ended (%s)%s",
            stream.request.client_name,
            reason,
            ""
            if final is None
            else f": {final[Counter.FRAMES_NEW] + final[Counter.FRAMES_REPEAT]} frames, "
            f"{final[Counter.DATAGRAMS_SENT]} datagrams, {final[Counter.SEND_DROPPED]} "
            "send-dropped",
        )

    def _end_session(self, session: GameStreamSession) -> None:
        session.stop()
        try:
            self.registry.ending(session)
        finally:
            session.close()
