"""mDNS: the service announces `_nvstream._tcp` on its HTTP port, browsed here on loopback
(zeroconf binds to 127.0.0.1 and loops its multicast back), withdraws it on close, and a
failure to advertise is one log line, not a failed start."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path

import pytest
from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from host.gamestream.mdns import SERVICE_TYPE, MdnsAdvertiser, advertised_addresses, instance_label
from host.gamestream.service import GameStreamSettings
from tests.gamestream.support_pairing import ServiceThread

SETTINGS = GameStreamSettings(
    bind="127.0.0.1",
    http_port=0,
    https_port=0,
    hostname="mdns.test.host",
    mdns=True,
    mdns_interfaces=("127.0.0.1",),
)


class Browser:
    """Browses `_nvstream._tcp` on loopback and remembers what changed."""

    def __init__(self) -> None:
        self.zeroconf = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
        self.changes: list[tuple[str, ServiceStateChange]] = []
        self.changed = asyncio.Event()
        self.browser = AsyncServiceBrowser(
            self.zeroconf.zeroconf, SERVICE_TYPE, handlers=[self._on_change]
        )

    def _on_change(
        self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        self.changes.append((name, state_change))
        self.changed.set()

    async def wait_for(self, state: ServiceStateChange, timeout: float = 15) -> str:
        async with asyncio.timeout(timeout):
            while True:
                for name, seen in self.changes:
                    if seen is state:
                        return name
                self.changed.clear()
                await self.changed.wait()

    async def close(self) -> None:
        await self.browser.async_cancel()
        await self.zeroconf.async_close()


def test_the_service_is_announced_on_its_http_port_and_withdrawn(tmp_path: Path) -> None:
    with ServiceThread(tmp_path / "config", SETTINGS) as s:

        async def browse() -> None:
            browser = Browser()
            try:
                name = await browser.wait_for(ServiceStateChange.Added)
                assert name == f"mdns-test-host.{SERVICE_TYPE}"
                info = AsyncServiceInfo(SERVICE_TYPE, name)
                assert await info.async_request(browser.zeroconf.zeroconf, 3000)
                assert info.port == s.http_port
                assert info.parsed_addresses() == ["127.0.0.1"]
                await s.service.close()  # on the service's own loop: both run here
                await browser.wait_for(ServiceStateChange.Removed)
            finally:
                await browser.close()

        s.call(browse(), timeout=60)


def test_a_failure_to_advertise_is_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # 203.0.113.0/24 is documentation space: no interface of this machine has it.
    settings = replace(SETTINGS, mdns_interfaces=("203.0.113.7",))
    with (
        caplog.at_level(logging.WARNING, logger="host.gamestream.mdns"),
        ServiceThread(tmp_path / "config", settings) as s,
    ):
        assert s.http_port > 0  # started anyway
    [record] = [r for r in caplog.records if r.name == "host.gamestream.mdns"]
    assert "cannot advertise" in record.getMessage()


def test_an_advertiser_that_never_started_closes_quietly() -> None:
    asyncio.run(MdnsAdvertiser("h", 1, ["127.0.0.1"]).close())


@pytest.mark.parametrize(
    ("hostname", "label"),
    [("den.lan", "den-lan"), ("", "punktfunk"), ("x" * 80, "x" * 63), ("ü" * 40, "ü" * 31)],
)
def test_the_instance_name_is_one_dns_label(hostname: str, label: str) -> None:
    assert instance_label(hostname) == label


def test_a_specific_bind_address_is_the_one_advertised() -> None:
    assert advertised_addresses("192.168.1.5") == ["192.168.1.5"]
    everywhere = advertised_addresses("0.0.0.0")
    # Every non-loopback IPv4 address, or loopback alone on a machine without one.
    assert everywhere == ["127.0.0.1"] or "127.0.0.1" not in everywhere
