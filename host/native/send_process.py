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
import errno
import logging
import socket
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event

from host.native.packetizer import Packetizer
from host.native.wire import Sealer
from host.pipeline.capture_process import AU_HEADER
from host.pipeline.process import give_up, owner_gone, streaming_process
from ipc import SEND_RECORD, ControlBlock, Counter, CountersBlock, Ring

log = logging.getLogger(__name__)

PACE_BURST = 4  # datagrams sent back to back between pacing checks
MIN_SLEEP_NS = 100_000  # below this, sleeping costs more than it spaces
SEND_BUFFER = 4 * 1024 * 1024
_REFUSED = {errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOBUFS, errno.ECONNREFUSED}


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
    write = ring.writer().write
    measuring = control.measuring
    now = time.monotonic_ns
    send = sock.send
    pace_bits_per_ns = config.bitrate_kbps * 1000 * config.pace_multiple / 1e9
    max_spread_ns = 1_000_000_000 // config.fps // 2
    orphaned = owner_gone()
    header_size = AU_HEADER.size
    while True:
        if not au_in.poll(0.25):
            if stop.is_set() or orphaned():
                return
            continue
        try:
            message = au_in.recv_bytes()
        except (EOFError, OSError):
            return  # the capture process ended
        t0 = now()
        frame_index, capture_ts, encoded_ts, flags = AU_HEADER.unpack_from(message)
        payload = message[header_size:]
        datagrams, parity = packetizer.packetize(frame_index, flags, payload)
        t1 = now()
        wire_bytes = sum(map(len, datagrams))
        spread_ns = min(wire_bytes * 8 / pace_bits_per_ns, max_spread_ns)
        step_ns = spread_ns / len(datagrams)
        sent_bytes = dropped = 0
        for i, datagram in enumerate(datagrams):
            if i and i % PACE_BURST == 0:
                wait = t0 + i * step_ns - now()
                if wait > MIN_SLEEP_NS:
                    time.sleep(wait / 1e9)
            try:
                send(datagram)
                sent_bytes += len(datagram)
            except OSError as exc:
                if exc.errno not in _REFUSED:
                    raise
                dropped += 1
        done = now()
        counters.add(Counter.BYTES_SENT, sent_bytes)
        counters.add(Counter.DATAGRAMS_SENT, len(datagrams) - dropped)
        counters.add(Counter.PAYLOAD_BYTES_SENT, len(payload))
        if dropped:
            counters.add(Counter.SEND_DROPPED, dropped)
        if measuring():
            write(
                config.session_id,
                flags,
                frame_index,
                capture_ts,
                done,
                max(t0 - encoded_ts, 0) // 1000,
                (t1 - t0) // 1000,
                (done - t1) // 1000,
                sent_bytes,
                len(datagrams),
                parity,
            )
