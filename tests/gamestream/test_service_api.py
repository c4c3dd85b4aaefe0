"""The GameStream REST routes inside the real mgmt app, served by Hypercorn on the
service's own event loop (as `serve` will run them): status, the PIN, paired clients."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from host.gamestream.service import GameStreamService, GameStreamSettings
from mgmt.api import create_app
from mgmt.asgi_server import bind_socket, serve_on_socket
from mgmt.gamestream_api import MAX_PIN_BODY_BYTES, gamestream_routes
from mgmt.recorder import StatsRecorder
from tests.gamestream.support_pairing import PairingClient, ServiceThread, http_sender
from tests.mgmt.support import AUTH, TOKEN, assert_envelope

SETTINGS = GameStreamSettings(
    bind="127.0.0.1", http_port=0, https_port=0, hostname="api-test", mdns=False
)
STATUS = "/api/v1/gamestream/status"
PIN = "/api/v1/gamestream/pin"
CLIENTS = "/api/v1/gamestream/clients"


class Api:
    """The mgmt app with the GameStream routes, on Hypercorn on `loop_owner`'s loop."""

    def __init__(
        self, loop_owner: ServiceThread, service: GameStreamService | None, captures: Path
    ) -> None:
        self.owner = loop_owner
        app = create_app(
            StatsRecorder(captures), TOKEN, extra_routes=gamestream_routes(lambda: service)
        )
        sock = bind_socket("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.stop: asyncio.Event = loop_owner.run(asyncio.Event)
        self.served: Future[Any] = asyncio.run_coroutine_threadsafe(
            serve_on_socket(app, sock, shutdown_trigger=self.stop.wait), loop_owner.loop
        )
        self.http = httpx.Client(base_url=self.url, headers=AUTH, timeout=10)

    def close(self) -> None:
        self.http.close()
        self.owner.loop.call_soon_threadsafe(self.stop.set)
        self.served.result(15)


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[ServiceThread]:
    with ServiceThread(tmp_path / "config", SETTINGS) as running:
        yield running


@pytest.fixture
def api(svc: ServiceThread, tmp_path: Path) -> Iterator[httpx.Client]:
    served = Api(svc, svc.service, tmp_path / "captures")
    yield served.http
    served.close()


@pytest.fixture
def waiting_client(
    svc: ServiceThread, api: httpx.Client
) -> Iterator[tuple[PairingClient, Future[Any]]]:
    """A client whose phase 1 waits for the PIN 2580."""
    client = PairingClient(http_sender(f"http://127.0.0.1:{svc.http_port}"))
    with ThreadPoolExecutor(1) as pool:
        phase1 = pool.submit(client.phase1, "2580")
        svc.wait_for_pin_request()
        yield client, phase1
        if not phase1.done():
            svc.call(svc.service.close())  # ends the held request
            with pytest.raises(httpx.TransportError):
                phase1.result(10)


def test_status_of_an_idle_host(svc: ServiceThread, api: httpx.Client) -> None:
    response = api.get(STATUS)
    assert response.status_code == 200
    assert response.json() == {
        "enabled": True,
        "http_port": svc.http_port,
        "https_port": svc.https_port,
        "waiting": False,
        "client_name": None,
    }


def test_pairing_through_the_api(
    svc: ServiceThread, api: httpx.Client, waiting_client: tuple[PairingClient, Future[Any]]
) -> None:
    client, phase1 = waiting_client
    status = api.get(STATUS).json()
    assert (status["waiting"], status["client_name"]) == (True, "Moonlight 0123456789ABCDEF")

    response = api.post(PIN, json={"pin": "2580", "name": "Living-room TV"})
    assert response.status_code == 204, response.text
    assert phase1.result(10)[1]["paired"] == "1"
    client.phase2()
    client.phase3()
    assert client.phase4()[1] == {"paired": "1"}

    [listed] = api.get(CLIENTS).json()
    assert set(listed) == {"id", "name", "paired_unix_ms"}
    assert listed["name"] == "Living-room TV"
    assert listed["id"] == svc.run(svc.service.clients)[0].id
    assert api.get(STATUS).json()["waiting"] is False

    assert api.delete(f"{CLIENTS}/{listed['id']}").status_code == 204
    assert api.get(CLIENTS).json() == []
    assert_envelope(api.delete(f"{CLIENTS}/{listed['id']}"), 404, "client_not_found")


def test_a_pin_while_nobody_waits_is_a_conflict(api: httpx.Client) -> None:
    message = assert_envelope(api.post(PIN, json={"pin": "1234"}), 409, "no_client_waiting")
    assert "start pairing on the client" in message


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"pin": 1234}',
        b'{"name": "TV"}',
        b'{"pin": "1234", "extra": 1}',
        b'{"pin": "12a4"}',
        b'{"pin": "123"}',
        b'{"pin": "1234", "name": "' + b"x" * 65 + b'"}',
        b'{"pin": "1234", "name": "a\\u0000b"}',
        b"[]",
    ],
)
def test_a_malformed_pin_body_is_400_and_the_client_keeps_waiting(
    svc: ServiceThread,
    api: httpx.Client,
    waiting_client: tuple[PairingClient, Future[Any]],
    body: bytes,
) -> None:
    response = api.post(PIN, content=body, headers={"Content-Type": "application/json"})
    assert_envelope(response, 400, "invalid_parameter")
    assert api.get(STATUS).json()["waiting"] is True
    assert not waiting_client[1].done()


def test_an_oversized_pin_body_is_413(api: httpx.Client) -> None:
    body = b'{"pin": "1234", "name": "' + b"x" * MAX_PIN_BODY_BYTES + b'"}'
    assert_envelope(api.post(PIN, content=body), 413, "payload_too_large")


@pytest.mark.parametrize("client_id", ["nope", "A" * 64, "0" * 63, "0" * 64, "a b"])
def test_deleting_an_unknown_or_malformed_id_is_404(api: httpx.Client, client_id: str) -> None:
    assert_envelope(api.delete(f"{CLIENTS}/{client_id}"), 404, "client_not_found")


def test_an_id_with_a_slash_matches_no_route(api: httpx.Client) -> None:
    assert_envelope(api.delete(f"{CLIENTS}/%2e%2e%2fetc"), 404, "not_found")


def test_the_routes_need_the_token(api: httpx.Client, svc: ServiceThread) -> None:
    url = str(api.base_url)
    with httpx.Client(base_url=url, timeout=10) as anonymous:
        for method, path in [("GET", STATUS), ("POST", PIN), ("GET", CLIENTS)]:
            assert_envelope(anonymous.request(method, path), 401)


def test_with_gamestream_off(svc: ServiceThread, tmp_path: Path) -> None:
    served = Api(svc, None, tmp_path / "captures")
    try:
        assert served.http.get(STATUS).json() == {
            "enabled": False,
            "http_port": None,
            "https_port": None,
            "waiting": False,
            "client_name": None,
        }
        assert_envelope(served.http.post(PIN, json={"pin": "1234"}), 409, "gamestream_disabled")
        assert_envelope(served.http.get(CLIENTS), 409, "gamestream_disabled")
        assert_envelope(served.http.delete(f"{CLIENTS}/{'0' * 64}"), 409, "gamestream_disabled")
    finally:
        served.close()
