"""The GameStream audio process: source -> Opus -> RTP (+AES, +FEC) -> the client.

One process per session, beside the video processes and sharing nothing with them but
shared memory, so audio can never block or delay video. It gets the session's audio
socket (bound by the host before RTSP SETUP announced its port). Video-style, audio goes
to the address of the latest ping on that socket that carries the launch's ping payload
and comes from the launching client's IP; until the first one arrives (unless the host
already knows the address) nothing is sent.

Per packet slot of the `PacketClock` (one per packet duration on the monotonic clock;
slots missed by a stalled process are skipped, never sent as a burst) it reads one
packet of PCM, encodes it (`encode_us`), packetizes, encrypts, adds the parity after
every fourth packet and hands the datagrams to the kernel without waiting (`send_us`; a
full socket buffer drops the datagram). Counters: AUDIO_PACKETS_SENT (Opus packets whose
datagram the kernel took) and AUDIO_BYTES_SENT (bytes of every datagram taken, headers
and parity included). While measuring, one AudioRecord per packet: `packet_index` is
the clock slot (skipped slots leave gaps), `capture_ts_ns` the moment its samples were
read, `bytes` the Opus packet's size.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event

from host.gamestream.audio import AudioError, AudioSource, OpusEncoder, PacketClock, open_source
from host.gamestream.audio_wire import AudioCipher, AudioPacketizer, AudioWireError
from host.gamestream.send_process import MAX_PING, is_ping_from
from host.pipeline.process import give_up, owner_gone, streaming_process
from ipc import AUDIO_RECORD, ControlBlock, Counter, CountersBlock, Ring

log = logging.getLogger(__name__)

SEND_BUFFER = 256 * 1024  # ~1 s of the largest audio stream
HOUSEKEEPING_MS = 100  # how often the loop looks at the stop flag and its owner
_REFUSED = {errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOBUFS, errno.ECONNREFUSED}
_PINGS_PER_SLOT = 8  # bounded: a flood of junk on the port must not starve the audio


@dataclass(frozen=True)
class AudioConfig:
    session_id: int
    audio_socket: socket.socket  # bound; passed to the child by multiprocessing
    client_addr: tuple[str, int] | None  # None: wait for the client's first audio ping
    ping_payload: bytes  # X-SS-Ping-Payload of the launch
    client_ip: str  # the launching client: pings from elsewhere are ignored
    source: str  # "tone[@HZ]" | "pulse" | "silence" | "auto"
    channels: int  # StreamConfig.audio_channels: 2, 6 or 8
    packet_duration_ms: int  # StreamConfig.audio_packet_duration_ms
    high_quality: bool  # StreamConfig.audio_high_quality
    rikey: bytes | None  # the launch's AES key when audio is encrypted, else None
    rikeyid: int
    control_name: str
    counters_name: str
    audio_ring_name: str


def run(config: AudioConfig, stop: Event, errors: Connection) -> None:
    """Process entry point. Returns when stopped or orphaned; a source or encoder that
    cannot be opened, or an unexpected socket error, goes to the owner over `errors`."""
    with (
        contextlib.closing(errors),
        streaming_process(
            config.control_name, config.counters_name, config.audio_ring_name, AUDIO_RECORD
        ) as (control, counters, ring),
        config.audio_socket as sock,
    ):
        orphaned = owner_gone()
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
            sock.setblocking(False)
            source = open_source(config.source, config.channels, config.packet_duration_ms)
            try:
                encoder = OpusEncoder(
                    config.channels, config.packet_duration_ms, config.high_quality
                )
                try:
                    _stream(config, sock, source, encoder, control, counters, ring, stop, orphaned)
                finally:
                    encoder.close()
            finally:
                source.close()
        except (AudioError, AudioWireError) as exc:
            give_up(errors, config.session_id, f"audio: {exc}")
        except OSError as exc:
            give_up(errors, config.session_id, f"sending audio failed: {exc}")


def _stream(
    config: AudioConfig,
    sock: socket.socket,
    source: AudioSource,
    encoder: OpusEncoder,
    control: ControlBlock,
    counters: CountersBlock,
    ring: Ring,
    stop: Event,
    orphaned: Callable[[], bool],
) -> None:
    client = config.client_addr or _wait_for_ping(sock, config, stop, orphaned)
    if client is None:
        return
    cipher = None if config.rikey is None else AudioCipher(config.rikey, config.rikeyid)
    packetizer = AudioPacketizer(config.packet_duration_ms, cipher)
    write = ring.writer().write
    measuring = control.measuring
    now = time.monotonic_ns
    sendto = sock.sendto
    session_id = config.session_id
    housekeeping = max(1, HOUSEKEEPING_MS // config.packet_duration_ms)
    log.info(
        "session %d: audio from %s, %d ch, %d ms, Opus %d kbps, to %s:%d",
        session_id,
        source.kind,
        config.channels,
        config.packet_duration_ms,
        encoder.bitrate_bps // 1000,
        *client,
    )
    clock = PacketClock(config.packet_duration_ms * 1_000_000, now())
    packets = dropped = 0
    try:
        while True:
            if packets % housekeeping == 0 and (stop.is_set() or orphaned()):
                return
            wait = clock.wait_ns(now())
            if wait > 0:
                time.sleep(wait / 1e9)
            t0 = now()
            slot, skipped = clock.take(t0)
            if skipped:
                source.skip(skipped)
            pcm = source.read()
            t1 = now()
            opus = encoder.encode(pcm)
            t2 = now()
            sent_bytes = 0
            data_sent = False
            for i, datagram in enumerate(packetizer.packetize(opus)):
                try:
                    sendto(datagram, client)
                except OSError as exc:
                    if exc.errno not in _REFUSED:
                        raise
                    dropped += 1
                    continue
                sent_bytes += len(datagram)
                data_sent = data_sent or i == 0
            t3 = now()
            if data_sent:
                counters.add(Counter.AUDIO_PACKETS_SENT)
            counters.add(Counter.AUDIO_BYTES_SENT, sent_bytes)
            if measuring():
                write(session_id, 0, slot, t0, (t2 - t1) // 1000, (t3 - t2) // 1000, len(opus))
            packets += 1
            client = _latest_ping(sock, config) or client
    finally:
        log.info(
            "session %d: audio stopped after %d packets; %d slots skipped, %d datagrams dropped",
            session_id,
            packets,
            clock.skipped,
            dropped,
        )


def _wait_for_ping(
    sock: socket.socket, config: AudioConfig, stop: Event, orphaned: Callable[[], bool]
) -> tuple[str, int] | None:
    """The address of the client's first valid audio ping; None when stopped first."""
    while not stop.is_set() and not orphaned():
        readable, _, _ = select.select([sock], [], [], HOUSEKEEPING_MS / 1000)
        if not readable:
            continue
        client = _latest_ping(sock, config)
        if client is not None:
            return client
    return None


def _latest_ping(sock: socket.socket, config: AudioConfig) -> tuple[str, int] | None:
    """Read what waits on the audio port: the source of the latest valid ping, if any."""
    client = None
    for _ in range(_PINGS_PER_SLOT):
        try:
            data, addr = sock.recvfrom(MAX_PING + 1)
        except (BlockingIOError, InterruptedError):
            break
        except OSError:
            break  # e.g. an ICMP error queued on the socket: nothing to read
        if is_ping_from(data, addr[:2], config.ping_payload, config.client_ip):
            client = (addr[0], addr[1])
    return client
