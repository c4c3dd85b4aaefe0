"""A punktfunk/1 session: the shared pipeline session with the native send process.

Adds what punktfunk/1 needs on top of `StreamSession`: the client's UDP address, the
datagram key and salt handed to the client in the welcome, and the transport settings
(shard size, FEC percent, pacing) of its send process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from host.native import send_process
from host.native.wire import KEY_SIZE, SALT_SIZE
from host.pipeline.session import SendEntry, SessionParams, StreamSession, preload
from host.pipeline.stages import NATIVE
from ipc import ControlBlock

preload("host.native.send_process")


@dataclass(frozen=True)
class TransportSettings:
    shard_size: int
    fec_percent: int
    pace_multiple: float


class NativeSession(StreamSession):
    path = NATIVE

    def __init__(
        self,
        session_id: int,
        params: SessionParams,
        client_addr: tuple[str, int],
        source: str,
        backend: str,
        transport: TransportSettings,
        control: ControlBlock,
    ) -> None:
        super().__init__(session_id, params, source, backend, control)
        self.client_addr = client_addr
        self.transport = transport
        self.key = os.urandom(KEY_SIZE)
        self.salt = os.urandom(SALT_SIZE)

    def send_entry(self) -> tuple[SendEntry, Any]:
        t = self.transport
        return send_process.run, send_process.SendConfig(
            self.session_id,
            self.client_addr,
            self.key,
            self.salt,
            t.shard_size,
            t.fec_percent,
            self.params.bitrate_kbps,
            self.params.fps,
            t.pace_multiple,
            self.control.name,
            self.counters.name,
            self.send_ring.name,
        )
