"""Sending one frame's datagrams, paced, and accounting for it: shared by every sender.

A frame's datagrams are spread over part of the frame interval at a multiple of the
target bitrate (never more than half the interval), counted from when the frame
reached the send process, so that packetizing counts towards the spread instead of
adding to every frame's latency. Datagrams the kernel refuses (a full buffer) are
counted as `send_dropped`, never retried. Afterwards the frame's counters are updated
and, while measuring, its SendRecord is written.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable, Sequence

from ipc import ControlBlock, Counter, CountersBlock, Ring

PACE_BURST = 4  # datagrams sent back to back between pacing checks
MIN_SLEEP_NS = 100_000  # below this, sleeping costs more than it spaces
SEND_BUFFER = 4 * 1024 * 1024
_REFUSED = {errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOBUFS, errno.ECONNREFUSED}


class PacedSender:
    def __init__(
        self,
        session_id: int,
        bitrate_kbps: int,
        fps: int,
        pace_multiple: float,
        control: ControlBlock,
        counters: CountersBlock,
        ring: Ring,
    ) -> None:
        self.session_id = session_id
        self.pace_bits_per_ns = bitrate_kbps * 1000 * pace_multiple / 1e9
        self.max_spread_ns = 1_000_000_000 // fps // 2
        self.measuring = control.measuring
        self.counters = counters
        self.write = ring.writer().write

    def send_frame(
        self,
        datagrams: Sequence[bytes],
        send: Callable[[bytes], object],
        *,
        arrived_ns: int,
        packetized_ns: int,
        frame_index: int,
        flags: int,
        capture_ts_ns: int,
        encoded_ts_ns: int,
        payload_bytes: int,
        parity_shards: int,
        lose: Callable[[], bool] | None = None,
    ) -> None:
        """Send `datagrams` with `send`, paced; `lose()` True skips one on purpose (it
        counts as sent: deliberate loss for watching FEC work)."""
        now = time.monotonic_ns
        wire_bytes = sum(map(len, datagrams))
        spread_ns = min(wire_bytes * 8 / self.pace_bits_per_ns, self.max_spread_ns)
        step_ns = spread_ns / max(len(datagrams), 1)
        sent_bytes = dropped = 0
        for i, datagram in enumerate(datagrams):
            if i and i % PACE_BURST == 0:
                wait = arrived_ns + i * step_ns - now()
                if wait > MIN_SLEEP_NS:
                    time.sleep(wait / 1e9)
            if lose is not None and lose():
                continue
            try:
                send(datagram)
                sent_bytes += len(datagram)
            except OSError as exc:
                if exc.errno not in _REFUSED:
                    raise
                dropped += 1
        done = now()
        counters = self.counters
        counters.add(Counter.BYTES_SENT, sent_bytes)
        counters.add(Counter.DATAGRAMS_SENT, len(datagrams) - dropped)
        counters.add(Counter.PAYLOAD_BYTES_SENT, payload_bytes)
        if dropped:
            counters.add(Counter.SEND_DROPPED, dropped)
        if self.measuring():
            self.write(
                self.session_id,
                flags,
                frame_index,
                capture_ts_ns,
                done,
                max(arrived_ns - encoded_ts_ns, 0) // 1000,
                (packetized_ns - arrived_ns) // 1000,
                (done - packetized_ns) // 1000,
                sent_bytes,
                len(datagrams),
                parity_shards,
            )
