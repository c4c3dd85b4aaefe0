"""The GameStream send process: packetize -> FEC -> pace -> RTP video to the client.

It gets the access units of the shared capture/encode process over the same pipe as the
native sender, and the session's video socket (bound by the host before RTSP SETUP
announced its port, so the client's pings and our video share one port, as Moonlight
and NATs expect). Per frame it measures `packetize` (RTP/NV headers, Reed-Solomon
parity) and `send` (paced sendto until the last datagram is with the kernel) and, while
measuring, writes one SendRecord.

The client pings the video port every 500 ms; video goes to the address of the latest
ping that carries this launch's ping payload and comes from the launching client's IP.
Any other datagram on the port is counted in `pings_rejected` and ignored.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event

from host.gamestream.video import VideoPacketizer
from host.pipeline.capture_process import access_units
from host.pipeline.pacing import SEND_BUFFER, PacedSender
from host.pipeline.process import give_up, streaming_process
from ipc import SEND_RECORD, ControlBlock, Counter, CountersBlock, FrameFlags, Ring

log = logging.getLogger(__name__)

MAX_PING = 256  # a ping is 16-20 bytes; anything longer is not one


@dataclass(frozen=True)
class SendConfig:
    session_id: int
    video_socket: socket.socket  # bound, non-blocking; passed to the child by multiprocessing
    client_addr: tuple[str, int]  # where the first ping came from
    ping_payload: bytes  # the 16 bytes RTSP SETUP told the client to put in its pings
    packet_size: int  # payload bytes per datagram (the client's ANNOUNCE)
    fec_percent: int
    min_fec_packets: int
    bitrate_kbps: int
    fps: int
    pace_multiple: float
    loss_percent: float  # drop this share of datagrams on purpose (tests, demos)
    control_name: str
    counters_name: str
    send_ring_name: str


def is_ping_from(data: bytes, addr: tuple[str, int], payload: bytes, client_ip: str) -> bool:
    """A Moonlight video ping of this launch: our ping payload, from the launching IP.
    (Older clients ping with the 4 bytes "PING"; they are accepted from that IP too.)"""
    if addr[0] != client_ip or len(data) > MAX_PING:
        return False
    return data.startswith(payload) or data == b"PING"


def run(config: SendConfig, au_in: Connection, stop: Event, errors: Connection) -> None:
    """Process entry point. Returns when the capture process ends, when stopped, or when
    orphaned; an unexpected socket error goes to the owner over `errors`."""
    with (
        contextlib.closing(errors),
        contextlib.closing(au_in),
        streaming_process(
            config.control_name, config.counters_name, config.send_ring_name, SEND_RECORD
        ) as (control, counters, ring),
        config.video_socket as sock,
    ):
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
            sock.setblocking(False)
            _loop(config, sock, control, counters, ring, au_in, stop)
        except OSError as exc:
            give_up(errors, config.session_id, f"sending video failed: {exc}")


def _loop(
    config: SendConfig,
    sock: socket.socket,
    control: ControlBlock,
    counters: CountersBlock,
    ring: Ring,
    au_in: Connection,
    stop: Event,
) -> None:
    packetizer = VideoPacketizer(
        packet_size=config.packet_size,
        fec_percent=config.fec_percent,
        min_fec_packets=config.min_fec_packets,
    )
    sender = PacedSender(
        config.session_id,
        config.bitrate_kbps,
        config.fps,
        config.pace_multiple,
        control,
        counters,
        ring,
    )
    now = time.monotonic_ns
    client = config.client_addr
    client_ip = client[0]
    sendto = sock.sendto
    # Deliberate loss, for watching the client's FEC: counted as sent, never sent.
    lose = None
    if config.loss_percent:
        draw, loss = random.Random(config.session_id).random, config.loss_percent / 100
        lose = lambda: draw() < loss  # noqa: E731 - a one-line predicate

    def read_pings() -> None:
        nonlocal client
        client = _drain_pings(sock, client, config.ping_payload, client_ip, counters)

    for au in access_units(au_in, stop, poll_s=0.1, before_wait=read_pings):
        # Moonlight's overlay shows this as the host's processing latency (0.1 ms units).
        latency_us = max((au.arrived_ns - au.capture_ts_ns) // 1000, 100)
        frame = packetizer.packetize_frame(
            au.payload,
            frame_index=au.frame_index + 1,  # the client counts frames from 1
            is_idr=bool(au.flags & FrameFlags.KEYFRAME),
            host_latency_us=latency_us,
            timestamp_90khz=(au.capture_ts_ns * 9 // 100_000) & 0xFFFFFFFF,
        )
        sender.send_frame(
            frame.datagrams(),
            functools.partial(_send_to, sendto, client),
            arrived_ns=au.arrived_ns,
            packetized_ns=now(),
            frame_index=au.frame_index,
            flags=au.flags,
            capture_ts_ns=au.capture_ts_ns,
            encoded_ts_ns=au.encoded_ts_ns,
            payload_bytes=len(au.payload),
            parity_shards=frame.parity_shards,
            lose=lose,
        )


def _send_to(
    sendto: Callable[[bytes, tuple[str, int]], int], client: tuple[str, int], datagram: bytes
) -> int:
    return sendto(datagram, client)


def _drain_pings(
    sock: socket.socket,
    client: tuple[str, int],
    payload: bytes,
    client_ip: str,
    counters: CountersBlock,
) -> tuple[str, int]:
    """Read what waits on the video port; the latest valid ping names the client's port."""
    for _ in range(64):  # bounded: a flood of junk must not starve the video
        try:
            data, addr = sock.recvfrom(MAX_PING + 1)
        except (BlockingIOError, InterruptedError):
            break
        except OSError:
            break  # e.g. ICMP port unreachable reported on the socket: nothing to read
        if is_ping_from(data, addr[:2], payload, client_ip):
            client = (addr[0], addr[1])
        else:
            counters.add(Counter.PINGS_REJECTED)
    return client
