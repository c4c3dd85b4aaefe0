"""A real Moonlight client library against the service on loopback: moonlight-python
(GPL-3.0, a test dependency only) finds the host, pairs with the PIN the operator types,
lists apps, launches, quits; a wrong PIN pairs nothing; unpairing locks it out.

moonlight-python takes the HTTP port where it connects and learns the HTTPS port from
serverinfo, so the service's ephemeral ports work without patching it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from moonlight_python.discovery import connect_to_server
from moonlight_python.exceptions import (
    HttpResponseError,
    PairingAlreadyInProgress,
    WrongPinError,
)
from moonlight_python.http_client import NvHTTP
from moonlight_python.identity import Identity
from moonlight_python.pairing import pair
from moonlight_python.server import ServerInfo

from host.gamestream.identity import fingerprint
from host.gamestream.launch import InMemoryLauncher
from host.gamestream.nvhttp import App
from host.gamestream.service import GameStreamSettings
from tests.gamestream.support_pairing import ServiceThread

# moonlight-python checks the host by the certificate it pinned while pairing, not by a
# CA, so urllib3 calls every HTTPS request unverified; the library silences that itself,
# but pytest's warnings-as-errors filter comes back per test.
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")

SETTINGS = GameStreamSettings(
    bind="127.0.0.1",
    http_port=0,
    https_port=0,
    hostname="punktfunk-test",
    apps=(App(5, "Steam"),),
    codec_mask=0x10101,
    mdns=False,
)


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[ServiceThread]:
    with ServiceThread(tmp_path / "host", SETTINGS, rtsp_port=lambda: 48010) as running:
        yield running


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as executor:
        yield executor


class Moonlight:
    """One moonlight-python client: its identity (own dir) and the host as it sees it."""

    def __init__(self, directory: Path, http_port: int) -> None:
        self.identity = Identity(directory)
        self.server: ServerInfo = connect_to_server("127.0.0.1", self.identity, http_port)
        self.http = self._nvhttp(b"")

    def _nvhttp(self, server_cert_pem: bytes) -> NvHTTP:
        return NvHTTP(
            "127.0.0.1",
            self.identity,
            http_port=self.server.http_port,
            https_port=self.server.https_port,
            server_cert_pem=server_cert_pem,
        )

    def pair(self, pin: str) -> bytes:
        """Blocks until the host answers phase 1, i.e. until the operator enters a PIN."""
        cert = pair(self._nvhttp(b""), self.identity, pin, self.server, timeout=30)
        self.http = self._nvhttp(cert)
        return cert

    def close(self) -> None:
        self.http._session.close()


@pytest.fixture
def moonlight_client(svc: ServiceThread, tmp_path: Path) -> Iterator[Moonlight]:
    client = Moonlight(tmp_path / "moonlight", svc.http_port)
    yield client
    client.close()


def pair_with_operator(
    svc: ServiceThread, client: Moonlight, pool: ThreadPoolExecutor, pin: str, typed: str
) -> Future[bytes]:
    """The client pairs with `pin`; the operator types `typed` once the host waits."""
    pairing = pool.submit(client.pair, pin)
    svc.wait_for_pin_request()
    svc.run(lambda: svc.service.submit_pin(typed, "Moonlight test"))
    return pairing


def test_the_host_looks_like_a_sunshine_host(
    svc: ServiceThread, moonlight_client: Moonlight
) -> None:
    server = moonlight_client.server
    assert (server.http_port, server.https_port) == (svc.http_port, svc.https_port)
    assert (server.app_version, server.gfe_version) == ("7.1.431.-1", "3.23.0.74")
    assert server.hostname == "punktfunk-test"
    assert server.unique_id == svc.service.identity.uniqueid
    assert server.server_codec_mode_support == 0x10101
    assert server.max_luma_pixels_hevc > 0
    assert (server.state, server.paired) == ("SUNSHINE_SERVER_FREE", False)


def test_pair_list_apps_launch_and_quit(
    svc: ServiceThread, moonlight_client: Moonlight, pool: ThreadPoolExecutor
) -> None:
    cert = pair_with_operator(svc, moonlight_client, pool, "4321", "4321").result(30)
    assert cert == svc.service.identity.cert_pem  # the client pinned our certificate

    [client] = svc.run(svc.service.clients)
    assert client.name == "Moonlight test"
    assert client.id == fingerprint(moonlight_client.identity.cert_der)

    http = moonlight_client.http
    info = http.parse_server_info(http.get_server_info(use_https=True))
    assert info.paired

    apps = http.get_app_list()
    assert [(a.id, a.name) for a in apps] == [(1, "Desktop"), (5, "Steam")]

    rtsp = http.launch_app(
        5, 1920, 1080, 60, 20_000, 0x0001, os.urandom(16), os.urandom(16), 0x30002,
        launch_query_params="&corever=1",
    )  # fmt: skip
    assert rtsp == "rtsp://127.0.0.1:48010"
    launcher = svc.service.launcher
    assert isinstance(launcher, InMemoryLauncher)
    [request] = launcher.launches
    assert (request.app_id, request.width, request.height, request.fps) == (5, 1920, 1080, 60)
    assert (request.client_name, request.corever) == ("Moonlight test", 1)

    busy = http.parse_server_info(http.get_server_info(use_https=True))
    assert (busy.state, busy.current_game) == ("SUNSHINE_SERVER_BUSY", 5)
    http.quit_app()
    free = http.parse_server_info(http.get_server_info(use_https=True))
    assert (free.state, free.current_game) == ("SUNSHINE_SERVER_FREE", 0)


def test_a_wrong_pin_pairs_nothing(
    svc: ServiceThread, moonlight_client: Moonlight, pool: ThreadPoolExecutor
) -> None:
    pairing = pair_with_operator(svc, moonlight_client, pool, "1111", "2222")
    with pytest.raises(WrongPinError):
        pairing.result(30)
    assert svc.run(svc.service.clients) == []
    assert svc.run(svc.service.pairing_status) == (False, None)
    with pytest.raises(HttpResponseError) as refused:
        moonlight_client.http.get_app_list()
    assert refused.value.status_code == 401
    # The host is free again: the right PIN now pairs.
    pair_with_operator(svc, moonlight_client, pool, "1111", "1111").result(30)
    assert len(svc.run(svc.service.clients)) == 1


def test_unpairing_locks_the_client_out(
    svc: ServiceThread, moonlight_client: Moonlight, pool: ThreadPoolExecutor
) -> None:
    pair_with_operator(svc, moonlight_client, pool, "2468", "2468").result(30)
    assert moonlight_client.http.get_app_list()
    [client] = svc.run(svc.service.clients)
    assert svc.run(lambda: svc.service.unpair(client.id))
    with pytest.raises(HttpResponseError) as refused:
        moonlight_client.http.get_app_list()
    assert refused.value.status_code == 401


def test_a_second_client_hears_pairing_is_in_progress(
    svc: ServiceThread, moonlight_client: Moonlight, pool: ThreadPoolExecutor, tmp_path: Path
) -> None:
    first = pool.submit(moonlight_client.pair, "1357")
    svc.wait_for_pin_request()
    second = Moonlight(tmp_path / "second", svc.http_port)
    try:
        with pytest.raises(PairingAlreadyInProgress):
            second.pair("9999")
    finally:
        second.close()
    svc.run(lambda: svc.service.submit_pin("1357", "first"))
    first.result(30)
    assert [c.name for c in svc.run(svc.service.clients)] == ["first"]
