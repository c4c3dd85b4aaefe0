"""A GameStream session: the shared pipeline session with the GameStream send process.

What it adds to `StreamSession`: the video socket (bound before RTSP announced its port),
the client's address from its first ping, the ping payload of the launch and the
stream settings of the client's ANNOUNCE (packet size, minimum FEC).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

from host.gamestream import audio_process, send_process
from host.pipeline.session import (
    RING_CAPACITY,
    SendEntry,
    SessionParams,
    SideEntry,
    StreamSession,
    preload,
)
from host.pipeline.stages import GAMESTREAM
from ipc import AUDIO_RECORD, ControlBlock, Ring

preload("host.gamestream.send_process")
preload("host.gamestream.audio_process")

AUDIO_RING_CAPACITY = 4 * RING_CAPACITY  # 20 s of 5 ms packets


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


@dataclass(frozen=True)
class AudioTransport:
    socket: socket.socket  # bound before RTSP announced its port
    client_ip: str
    ping_payload: bytes
    source: str  # tone[@HZ] | pulse | silence | auto
    channels: int
    packet_duration_ms: int
    high_quality: bool
    key: bytes | None  # the launch's key when the client asked for encrypted audio
    key_id: int


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
        audio: AudioTransport | None = None,
    ) -> None:
        super().__init__(session_id, params, source, backend, control)
        self.video = video
        self.audio = audio
        if audio is not None:
            self.audio_ring = Ring.create(AUDIO_RECORD, AUDIO_RING_CAPACITY)

    def side_processes(self) -> list[tuple[str, SideEntry, Any]]:
        a, ring = self.audio, self.audio_ring
        if a is None or ring is None:
            return []
        config = audio_process.AudioConfig(
            self.session_id,
            a.socket,
            None,  # the audio process learns the client's port from its first ping
            a.ping_payload,
            a.client_ip,
            a.source,
            a.channels,
            a.packet_duration_ms,
            a.high_quality,
            a.key,
            a.key_id,
            self.control.name,
            self.counters.name,
            ring.name,
        )
        return [("audio", audio_process.run, config)]

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
