"""A GameStream session: the shared pipeline session with the GameStream send process.

What it adds to `StreamSession`: the video socket (bound before RTSP announced its port),
the client's address from its first ping, the ping payload of the launch and the
stream settings of the client's ANNOUNCE (packet size, minimum FEC).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

from host.gamestream import send_process
from host.pipeline.session import SendEntry, SessionParams, StreamSession, preload
from host.pipeline.stages import GAMESTREAM
from ipc import ControlBlock

preload("host.gamestream.send_process")


@dataclass(frozen=True)
class VideoTransport:
    socket: socket.socket
    client_addr: tuple[str, int]
    ping_payload: bytes
    packet_size: int
    fec_percent: int
    min_fec_packets: int
    pace_multiple: float = 8.0
    loss_percent: float = 0.0


class GameStreamSession(StreamSession):
    path = GAMESTREAM

    def __init__(
        self,
        session_id: int,
        params: SessionParams,
        source: str,
        backend: str,
        control: ControlBlock,
        video: VideoTransport,
    ) -> None:
        super().__init__(session_id, params, source, backend, control)
        self.video = video

    def send_entry(self) -> tuple[SendEntry, Any]:
        v = self.video
        return send_process.run, send_process.SendConfig(
            self.session_id,
            v.socket,
            v.client_addr,
            v.ping_payload,
            v.packet_size,
            v.fec_percent,
            v.min_fec_packets,
            self.params.bitrate_kbps,
            self.params.fps,
            v.pace_multiple,
            v.loss_percent,
            self.control.name,
            self.counters.name,
            self.send_ring.name,
        )
