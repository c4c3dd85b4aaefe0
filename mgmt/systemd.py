"""systemd's notify protocol, spoken inline: READY, STOPPING, WATCHDOG, STATUS.

One datagram per message to the unix socket in $NOTIFY_SOCKET (a leading '@' means the
abstract namespace). Without $NOTIFY_SOCKET (not under systemd) every call is a no-op.
The watchdog pings at half of $WATCHDOG_USEC, as sd_watchdog_enabled(3) advises, and
only if $WATCHDOG_PID is unset or names this process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self.watchdog_s: float | None = None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog_s = int(usec) / 1e6

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, *assignments: str) -> None:
        if not self.address:
            return
        message = "\n".join(assignments).encode()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            try:
                sock.sendto(message, self.address)
            except OSError as exc:
                log.warning("systemd notify to %s failed: %s", self.address, exc)

    def ready(self, status: str = "") -> None:
        self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    async def watchdog(self) -> None:
        """Ping forever at half the watchdog interval (returns at once if none is set)."""
        if self.watchdog_s is None or not self.address:
            return
        while True:
            self.notify("WATCHDOG=1")
            await asyncio.sleep(self.watchdog_s / 2)
