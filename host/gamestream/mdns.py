"""mDNS: announce the host as `_nvstream._tcp.local.` so Moonlight lists it by itself.

The record points at the HTTP port (Moonlight reads the HTTPS port from serverinfo).
Advertising is a convenience: when it fails (no multicast, port 5353 taken) one log line
says so and the host runs on; clients can still add it by address.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import re
import socket
from collections.abc import Sequence

import psutil
from zeroconf import InterfaceChoice, IPVersion, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

log = logging.getLogger(__name__)

SERVICE_TYPE = "_nvstream._tcp.local."
MAX_LABEL_BYTES = 63


def instance_label(hostname: str) -> str:
    """`hostname` as one DNS label: no dots, at most 63 bytes, never empty."""
    label = re.sub(r"[.\x00-\x1f]", "-", hostname).strip() or "punktfunk"
    while len(label.encode()) > MAX_LABEL_BYTES:
        label = label[:-1]
    return label


def local_ipv4_addresses() -> list[str]:
    return [
        a.address
        for addrs in psutil.net_if_addrs().values()
        for a in addrs
        if a.family == socket.AF_INET
    ]


def advertised_addresses(bind: str) -> list[str]:
    """The IPv4 addresses to announce: `bind` itself, or for a wildcard bind every
    non-loopback IPv4 address of this machine (loopback if it has no other)."""
    try:
        address = ipaddress.ip_address(bind)
    except ValueError:
        address = None
    if address is not None and address.version == 4 and not address.is_unspecified:
        return [bind]
    found = [a for a in local_ipv4_addresses() if not ipaddress.ip_address(a).is_loopback]
    return sorted(set(found)) or ["127.0.0.1"]


class MdnsAdvertiser:
    """Registers one `_nvstream._tcp` service while started."""

    def __init__(
        self,
        hostname: str,
        port: int,
        addresses: Sequence[str],
        *,
        interfaces: Sequence[str] | None = None,
    ) -> None:
        label = instance_label(hostname)
        self.info = ServiceInfo(
            SERVICE_TYPE,
            f"{label}.{SERVICE_TYPE}",
            port=port,
            parsed_addresses=list(addresses),
            server=f"{label}.local.",
        )
        self._interfaces = list(interfaces) if interfaces is not None else None
        self._zeroconf: AsyncZeroconf | None = None
        self._registered = False

    async def start(self) -> bool:
        """Announce; False (after one warning) if that is impossible here."""
        missing = sorted(set(self._interfaces or ()) - set(local_ipv4_addresses()))
        if missing:
            # Checked here because zeroconf, failing on such an address, leaks a socket.
            log.warning(
                "mDNS: cannot advertise the GameStream host: no interface has %s; "
                "Moonlight clients can still add it by address",
                ", ".join(missing),
            )
            return False
        try:
            self._zeroconf = AsyncZeroconf(
                interfaces=self._interfaces or InterfaceChoice.All, ip_version=IPVersion.V4Only
            )
            await (await self._zeroconf.async_register_service(self.info, allow_name_change=True))
            self._registered = True
        except Exception as exc:  # zeroconf raises many kinds; none may stop the host
            log.warning(
                "mDNS: cannot advertise the GameStream host (%s: %s); "
                "Moonlight clients can still add it by address",
                type(exc).__name__,
                exc,
            )
            await self.close()
            return False
        log.info("mDNS: advertising %s on port %d", self.info.name, self.info.port)
        return True

    async def close(self) -> None:
        zeroconf, self._zeroconf = self._zeroconf, None
        if zeroconf is None:
            return
        if self._registered:
            self._registered = False
            with contextlib.suppress(Exception):
                await (await zeroconf.async_unregister_service(self.info))
        await zeroconf.async_close()
