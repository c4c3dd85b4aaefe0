"""`serve --demo`: local clients on every path, so a fresh install has something to measure.

- `DemoClient` keeps `punktfunk client` (the native receiver) streaming from the native
  listener.
- `MoonlightDemo` keeps a real Moonlight client streaming from the GameStream listener:
  `scripts/moonlight_client.py` of this checkout, which runs moonlight-python
  (moonlight-common-c inside) in its own process. moonlight-python is GPL-3.0 and an
  optional `demo` extra, so nothing here imports it; when it is missing, one log line
  says so and the demo runs native only. On first use the demo pairs itself: it starts
  the client with a PIN it made up and hands the host the same PIN, as an operator
  would in the console.

Both restart their client when it exits, waiting longer each time (1 s up to 10 s).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import logging
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from host.gamestream.host import GameStreamHost
from mgmt.settings import Settings, join_address, local_host

log = logging.getLogger(__name__)

RESTART_S = (1.0, 10.0)  # first and longest wait before restarting a demo client
MOONLIGHT_CLIENT = Path(__file__).resolve().parent.parent / "scripts" / "moonlight_client.py"
MOONLIGHT_NAME = "demo (Moonlight)"
PAIR_TIMEOUT_S = 60.0


class _Restarting:
    """One client process, restarted with a growing wait whenever it exits."""

    label = "demo client"

    def __init__(self) -> None:
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    def argv(self) -> Sequence[str]:
        raise NotImplementedError

    async def prepare(self) -> bool:
        """Anything to do before the first start; False: give up (logged)."""
        return True

    async def run(self) -> None:
        if not await self.prepare():
            return
        wait = RESTART_S[0]
        while True:
            self.starts += 1
            self.process = await asyncio.create_subprocess_exec(
                *self.argv(), stdout=asyncio.subprocess.DEVNULL
            )
            code = await self.process.wait()
            log.warning("%s exited with %s; restarting in %.0f s", self.label, code, wait)
            await asyncio.sleep(wait)
            wait = min(wait * 2, RESTART_S[1])

    async def stop(self) -> None:
        process = self.process
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                process.kill()
                await process.wait()


def demo_stream_flags(settings: Settings) -> list[str]:
    """What the demo clients ask to stream; both client commands take the same flags."""
    return [
        "--mode",
        settings.demo_mode,
        "--codec",
        settings.demo_codec,
        "--bitrate",
        str(settings.demo_bitrate_kbps),
    ]


class DemoClient(_Restarting):
    """Keeps one local `punktfunk client` streaming from the native listener."""

    label = "native demo client"

    def __init__(self, address: tuple[str, int], settings: Settings) -> None:
        super().__init__()
        self._argv = [
            sys.executable,
            "-m",
            "mgmt",
            "client",
            join_address(local_host(address[0]), address[1]),
            *demo_stream_flags(settings),
            "--label",
            "demo",
        ]

    def argv(self) -> Sequence[str]:
        return self._argv


def moonlight_problem() -> str | None:
    """Why the Moonlight demo cannot run here, or None."""
    if importlib.util.find_spec("moonlight_python") is None:
        return "moonlight-python is not installed (./scripts/serve installs the demo extra)"
    if not MOONLIGHT_CLIENT.is_file():
        return f"{MOONLIGHT_CLIENT} is missing (the Moonlight demo runs from a checkout)"
    return None


class MoonlightDemo(_Restarting):
    """Keeps a real Moonlight client streaming from the GameStream listener."""

    label = "Moonlight demo client"

    def __init__(self, host: GameStreamHost, http_port: int, settings: Settings, state: Path):
        super().__init__()
        self.host = host
        self.state = state  # the demo client's own identity (certificate and key)
        self._base = [
            sys.executable,
            str(MOONLIGHT_CLIENT),
            local_host(host.settings.bind),
            "--port",
            str(http_port),
            "--config",
            str(state),
        ]
        self._stream = [*demo_stream_flags(settings), "--forever"]

    def argv(self) -> Sequence[str]:
        return [*self._base, *self._stream]

    def _fingerprint(self) -> str | None:
        """The demo client's certificate fingerprint (its paired id), once it has one."""
        try:
            pem = (self.state / "cert.pem").read_bytes()
            der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
        except (OSError, ValueError):
            return None
        return hashlib.sha256(der).hexdigest()

    def _paired(self) -> bool:
        """Whether the host lists the demo client's certificate as paired."""
        service, fingerprint = self.host.service, self._fingerprint()
        return (
            service is not None
            and fingerprint is not None
            and any(c.id == fingerprint for c in service.clients())
        )

    def _demo_waits(self) -> bool:
        """Whether the client waiting for a PIN is the demo's own (never hand the demo's
        PIN to an operator's device that happens to pair at the same time)."""
        service = self.host.service
        waiting = service.waiting_client() if service is not None else None
        return waiting is not None and waiting.fingerprint == self._fingerprint()

    async def prepare(self) -> bool:
        if self._paired():
            return True
        service = self.host.service
        assert service is not None
        pin = f"{secrets.randbelow(10_000):04d}"
        pairing = await asyncio.create_subprocess_exec(
            *self._base,
            "--pin",
            pin,
            "--pair-only",
            stdout=asyncio.subprocess.DEVNULL,
        )
        try:
            async with asyncio.timeout(PAIR_TIMEOUT_S):
                while not self._demo_waits():
                    if pairing.returncode is not None:
                        break
                    await asyncio.sleep(0.1)
                else:
                    service.submit_pin(pin, MOONLIGHT_NAME)
                code = await pairing.wait()
        except TimeoutError:
            code = None
        finally:
            if pairing.returncode is None:
                pairing.kill()
                await pairing.wait()
        if code != 0:
            log.warning(
                "the Moonlight demo client could not pair (exit %s): native demo only", code
            )
            return False
        log.info("the Moonlight demo client paired as %r", MOONLIGHT_NAME)
        return True
