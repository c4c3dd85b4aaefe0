"""The send process: packetize -> FEC -> seal -> pace -> UDP, once per access unit.

Per frame, while measuring, it writes one SendRecord: `handoff` (encoder output until
this process picked the frame up, i.e. pipe transit and any wait behind the previous
frame) and `send` (packetize until the last datagram was handed to the kernel), plus
the frame's capture timestamp and the time its last datagram left, which give the
host latency of the frame in one record.

Pacing spreads a frame's datagrams at `pace_multiple` x the target bitrate, but never
over more than half a frame interval, so a burst does not overrun small buffers on the
path and a frame still leaves before the next one is due. Datagrams the kernel refuses
(EAGAIN, ENOBUFS, an ICMP error from a vanished client) are counted in `send_dropped`
and not retried: a late video datagram is worth nothing.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event

from host.native.packetizer import Packetizer
from host.native.wire import Sealer
from host.pipeline.capture_process import access_units
from host.pipeline.pacing import SEND_BUFFER, PacedSender
from host.pipeline.process import give_up, streaming_process
from ipc import SEND_RECORD, ControlBlock, CountersBlock, Ring

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendConfig:
    session_id: int
    client_addr: tuple[str, int]
    key: bytes
    salt: bytes
    shard_size: int
    fec_percent: int
    bitrate_kbps: int
    fps: int
    pace_multiple: float
    control_name: str
    counters_name: str
    send_ring_name: str


def run(config: SendConfig, au_in: Connection, stop: Event, errors: Connection) -> None:
    """Process entry point. Returns when the capture process ends, when stopped, or when
    orphaned; an unexpected socket error goes to the owner over `errors`."""
    family = socket.AF_INET6 if ":" in config.client_addr[0] else socket.AF_INET
    with (
        contextlib.closing(errors),
        contextlib.closing(au_in),
        streaming_process(
            config.control_name, config.counters_name, config.send_ring_name, SEND_RECORD
        ) as (control, counters, ring),
        socket.socket(family, socket.SOCK_DGRAM) as sock,
    ):
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
            sock.setblocking(False)
            sock.connect(config.client_addr)
            _loop(config, sock, control, counters, ring, au_in, stop)
        except OSError as exc:
            give_up(errors, config.session_id, f"sending failed: {exc}")


def _loop(
    config: SendConfig,
    sock: socket.socket,
    control: ControlBlock,
    counters: CountersBlock,
    ring: Ring,
    au_in: Connection,
    stop: Event,
) -> None:
    packetizer = Packetizer(
        Sealer(config.key, config.salt, config.session_id), config.shard_size, config.fec_percent
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
    send = sock.send
    for au in access_units(au_in, stop, poll_s=0.25):
        payload = au.payload.tobytes()  # the packetizer pads its last shard (bytes.ljust)
        datagrams, parity = packetizer.packetize(au.frame_index, au.flags, payload)
        sender.send_frame(
            datagrams,
            send,
            arrived_ns=au.arrived_ns,
            packetized_ns=now(),
            frame_index=au.frame_index,
            flags=au.flags,
            capture_ts_ns=au.capture_ts_ns,
            encoded_ts_ns=au.encoded_ts_ns,
            payload_bytes=len(payload),
            parity_shards=parity,
        )
