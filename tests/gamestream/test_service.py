"""The GameStream service on real sockets: serverinfo, pairing over HTTP with the PIN held
for the operator, the HTTPS gate, apps, launch, unpairing, and hostile connections."""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from host.gamestream import http as gs_http
from host.gamestream.identity import CLIENTS_FILE, fingerprint
from host.gamestream.launch import InMemoryLauncher, LaunchError, LaunchRequest
from host.gamestream.nvhttp import PLACEHOLDER_MAC, App
from host.gamestream.pairing import NoClientWaitingError
from host.gamestream.service import GameStreamSettings
from tests.gamestream.support_pairing import (
    ClientIdentity,
    PairingClient,
    ServiceThread,
    client_tls_context,
    get,
    http_sender,
    parse_xml,
    pooled_client_identity,
    xml_root,
)

SETTINGS = GameStreamSettings(
    bind="127.0.0.1",
    http_port=0,
    https_port=0,
    hostname="den-pc",
    apps=(App(2, "Steam Big Picture"),),
    codec_mask=0x101,
    mdns=False,
)
RIKEY = "000102030405060708090a0b0c0d0e0f"
LAUNCH_QUERY = (
    f"appid=1&mode=1280x720x60&additionalStates=1&sops=0&rikey={RIKEY}&rikeyid=5"
    "&localAudioPlayMode=0&surroundAudioInfo=196610&remoteControllersBitmap=0&gcmap=0"
    "&gcpersist=0&&corever=1"
)


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[ServiceThread]:
    with ServiceThread(tmp_path / "config", SETTINGS, rtsp_port=lambda: 48123) as running:
        yield running


def http_url(s: ServiceThread, command: str) -> str:
    return f"http://127.0.0.1:{s.http_port}/{command}"


def https_url(s: ServiceThread, command: str) -> str:
    return f"https://127.0.0.1:{s.https_port}/{command}?uniqueid=0123456789ABCDEF&uuid=1"


def answer(response: httpx.Response) -> tuple[int, dict[str, str], str]:
    assert response.status_code == 200, response.text
    return parse_xml(response.content)


def pre_pair(s: ServiceThread, name: str = "TV") -> tuple[ClientIdentity, str]:
    """Store a client as paired (pairing itself is tested elsewhere); returns its
    identity and id."""
    identity = pooled_client_identity()
    client = s.run(lambda: s.service.store.add(identity[1], name, 1))
    return identity, client.id


@pytest.fixture
def paired_tls(svc: ServiceThread, tmp_path: Path) -> ssl.SSLContext:
    identity, _ = pre_pair(svc)
    return client_tls_context(tmp_path, identity)


# -- serverinfo ----------------------------------------------------------------------------


def test_free_ports_are_what_serverinfo_announces(svc: ServiceThread) -> None:
    assert svc.http_port != 0
    assert svc.https_port != 0
    status, fields, _ = answer(get(http_url(svc, "serverinfo?uniqueid=0123456789ABCDEF")))
    assert status == 200
    assert (fields["ExternalPort"], fields["HttpsPort"]) == (
        str(svc.http_port),
        str(svc.https_port),
    )
    assert fields["hostname"] == "den-pc"
    assert fields["uniqueid"] == svc.service.identity.uniqueid
    assert (fields["PairStatus"], fields["mac"], fields["LocalIP"]) == (
        "0",
        PLACEHOLDER_MAC,
        "127.0.0.1",
    )
    assert fields["ServerCodecModeSupport"] == "257"
    assert (fields["state"], fields["currentgame"]) == ("SUNSHINE_SERVER_FREE", "0")
    assert fields["appversion"] == "7.1.431.-1"


def test_https_serverinfo_of_a_paired_client_says_paired(
    svc: ServiceThread, paired_tls: ssl.SSLContext
) -> None:
    _, fields, _ = answer(get(https_url(svc, "serverinfo"), tls=paired_tls))
    assert fields["PairStatus"] == "1"


# -- pairing over the wire -------------------------------------------------------------------


def test_pairing_over_http_holds_phase_1_for_the_pin(svc: ServiceThread, tmp_path: Path) -> None:
    client = PairingClient(http_sender(f"http://127.0.0.1:{svc.http_port}"))
    with ThreadPoolExecutor(1) as pool:
        phase1 = pool.submit(client.phase1, "8642")
        svc.wait_for_pin_request()
        assert not phase1.done()  # held until the operator acts
        assert svc.run(svc.service.pairing_status) == (True, "Moonlight 0123456789ABCDEF")
        waiting = svc.run(svc.service.waiting_client)
        assert waiting is not None
        assert waiting.address == "127.0.0.1"
        svc.run(lambda: svc.service.submit_pin("8642", "Den TV"))
        status, fields, _ = phase1.result(10)
    assert (status, fields["paired"]) == (200, "1")
    assert svc.run(svc.service.pairing_status) == (False, None)
    client.phase2()
    client.phase3()
    assert client.server_proved_pin()
    assert client.phase4()[1] == {"paired": "1"}

    assert client.key is not None
    assert client.cert is not None
    tls = client_tls_context(tmp_path, (client.key, client.cert))
    _, fields, _ = answer(get(https_url(svc, "pair") + "&phrase=pairchallenge", tls=tls))
    assert fields == {"paired": "1"}
    [paired] = svc.run(svc.service.clients)
    assert paired.name == "Den TV"
    assert paired.id == fingerprint(client.cert.public_bytes(serialization.Encoding.DER))


def test_pairing_survives_a_restart(tmp_path: Path) -> None:
    config = tmp_path / "config"
    with ServiceThread(config, SETTINGS) as first:
        identity, client_id = pre_pair(first)
        uniqueid = first.service.identity.uniqueid
    tls = client_tls_context(tmp_path, identity)
    with ServiceThread(config, SETTINGS) as second:
        assert second.service.identity.uniqueid == uniqueid
        assert [c.id for c in second.run(second.service.clients)] == [client_id]
        status, _, _ = answer(get(https_url(second, "applist"), tls=tls))
        assert status == 200


def test_no_pin_in_time_answers_a_failure(tmp_path: Path) -> None:
    settings = replace(SETTINGS, pin_wait_s=0.3)
    with ServiceThread(tmp_path / "config", settings) as s:
        client = PairingClient(http_sender(f"http://127.0.0.1:{s.http_port}"))
        status, fields, message = client.phase1("1234")
        assert (status, fields) == (400, {"paired": "0"})
        assert "no PIN was entered" in message
        assert s.run(s.service.pairing_status) == (False, None)
        with pytest.raises(NoClientWaitingError):
            s.run(lambda: s.service.submit_pin("1234", ""))


def test_a_client_hanging_up_ends_its_wait(svc: ServiceThread) -> None:
    client = PairingClient(http_sender("unused"))
    request = f"GET /pair?{client.phase1_query('1234')} HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", svc.http_port)) as sock:
        sock.sendall(request.encode())
        svc.wait_for_pin_request()
    svc.wait_for(lambda: not svc.service.pairing_status().waiting)
    with pytest.raises(NoClientWaitingError):
        svc.run(lambda: svc.service.submit_pin("1234", ""))


def test_closing_the_service_releases_a_waiting_client(tmp_path: Path) -> None:
    s = ServiceThread(tmp_path / "config", SETTINGS)
    client = PairingClient(http_sender(f"http://127.0.0.1:{s.http_port}"))
    with ThreadPoolExecutor(1) as pool:
        phase1 = pool.submit(client.phase1, "1234")
        s.wait_for_pin_request()
        s.close()
        with pytest.raises(httpx.TransportError):
            phase1.result(10)


def test_a_second_client_is_told_another_pairing_is_in_progress(svc: ServiceThread) -> None:
    base = f"http://127.0.0.1:{svc.http_port}"
    first, second = PairingClient(http_sender(base)), PairingClient(http_sender(base))
    with ThreadPoolExecutor(1) as pool:
        phase1 = pool.submit(first.phase1, "1111")
        svc.wait_for_pin_request()
        assert second.phase1("2222")[:2] == (200, {"paired": "1"})  # no plaincert: busy
        assert second.server_cert is None
        # Moonlight then sends unpair over HTTP; it must not end the first pairing.
        answer(get(f"{base}/unpair?uniqueid=0123456789ABCDEF"))
        svc.run(lambda: svc.service.submit_pin("1111", "first"))
        assert phase1.result(10)[1]["paired"] == "1"
    first.phase2()
    first.phase3()
    assert first.phase4()[1] == {"paired": "1"}
    assert [c.name for c in svc.run(svc.service.clients)] == ["first"]


# -- the HTTPS gate ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["serverinfo", "applist", "launch", "appasset", "cancel"])
@pytest.mark.parametrize("who", ["no certificate", "unpaired certificate"])
def test_https_answers_401_xml_to_anyone_not_paired(
    svc: ServiceThread, tmp_path: Path, command: str, who: str
) -> None:
    identity = pooled_client_identity() if who == "unpaired certificate" else None
    tls = client_tls_context(tmp_path, identity)
    status, fields, message = answer(get(https_url(svc, command), tls=tls))
    assert (status, fields) == (401, {})
    assert "not authorized" in message


def test_unpair_makes_the_next_https_request_fail(svc: ServiceThread, tmp_path: Path) -> None:
    identity, client_id = pre_pair(svc)
    tls = client_tls_context(tmp_path, identity)
    answer(get(https_url(svc, "launch") + "&" + LAUNCH_QUERY, tls=tls))
    assert svc.run(lambda: svc.service.unpair(client_id))
    assert not svc.run(lambda: svc.service.unpair(client_id))
    assert svc.run(svc.service.launcher.running) is None  # its stream was ended
    assert answer(get(https_url(svc, "applist"), tls=tls))[0] == 401


def test_a_client_can_unpair_itself_over_https(svc: ServiceThread, tmp_path: Path) -> None:
    identity, _ = pre_pair(svc)
    tls = client_tls_context(tmp_path, identity)
    assert answer(get(https_url(svc, "unpair"), tls=tls))[0] == 200
    assert svc.run(svc.service.clients) == []
    assert answer(get(https_url(svc, "serverinfo"), tls=tls))[0] == 401


def test_unpair_over_plain_http_unpairs_nobody(svc: ServiceThread) -> None:
    pre_pair(svc)
    assert answer(get(http_url(svc, "unpair?uniqueid=0123456789ABCDEF")))[0] == 200
    assert len(svc.run(svc.service.clients)) == 1


# -- apps and launch ---------------------------------------------------------------------------


def test_applist_lists_the_desktop_and_configured_apps(
    svc: ServiceThread, paired_tls: ssl.SSLContext
) -> None:
    response = get(https_url(svc, "applist"), tls=paired_tls)
    root = xml_root(response.content)
    assert root.get("status_code") == "200"
    apps = [(a.findtext("ID"), a.findtext("AppTitle"), a.findtext("IsHdrSupported")) for a in root]
    assert apps == [("1", "Desktop", "0"), ("2", "Steam Big Picture", "0")]


def test_appasset_is_a_png(svc: ServiceThread, paired_tls: ssl.SSLContext) -> None:
    response = get(https_url(svc, "appasset") + "&appid=2&AssetType=2&AssetIdx=0", tls=paired_tls)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    png = response.content
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour = struct.unpack(">IIBB", png[16:26])
    assert (depth, colour) == (8, 2)
    idat = png.index(b"IDAT")
    (length,) = struct.unpack(">I", png[idat - 4 : idat])
    assert len(zlib.decompress(png[idat + 4 : idat + 4 + length])) == height * (1 + 3 * width)
    missing = get(https_url(svc, "appasset") + "&appid=99", tls=paired_tls)
    assert answer(missing)[0] == 404


def test_launch_resume_and_cancel(svc: ServiceThread, paired_tls: ssl.SSLContext) -> None:
    tls = paired_tls
    status, fields, _ = answer(get(https_url(svc, "launch") + "&" + LAUNCH_QUERY, tls=tls))
    assert (status, fields) == (200, {"sessionUrl0": "rtsp://127.0.0.1:48123", "gamesession": "1"})
    launcher = svc.service.launcher
    assert isinstance(launcher, InMemoryLauncher)
    [request] = launcher.launches
    assert isinstance(request, LaunchRequest)
    assert (request.client_name, request.app_id, request.width, request.height) == (
        "TV",
        1,
        1280,
        720,
    )
    assert request.rikey == bytes.fromhex(RIKEY)
    assert (request.host_address, request.client_address) == ("127.0.0.1", "127.0.0.1")

    _, info, _ = answer(get(https_url(svc, "serverinfo"), tls=tls))
    assert (info["state"], info["currentgame"]) == ("SUNSHINE_SERVER_BUSY", "1")

    status, fields, message = answer(get(https_url(svc, "launch") + "&" + LAUNCH_QUERY, tls=tls))
    assert (status, fields) == (400, {"gamesession": "0"})
    assert "already running" in message

    resume = f"rikey={RIKEY}&rikeyid=6&surroundAudioInfo=196610"
    status, fields, _ = answer(get(https_url(svc, "resume") + "&" + resume, tls=tls))
    assert (status, fields) == (200, {"sessionUrl0": "rtsp://127.0.0.1:48123", "resume": "1"})
    assert launcher.launches[-1].resume

    assert answer(get(https_url(svc, "cancel"), tls=tls))[1] == {"cancel": "1"}
    _, info, _ = answer(get(https_url(svc, "serverinfo"), tls=tls))
    assert (info["state"], info["currentgame"]) == ("SUNSHINE_SERVER_FREE", "0")
    status, fields, message = answer(get(https_url(svc, "resume") + "&" + resume, tls=tls))
    assert (status, fields) == (503, {"resume": "0"})


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        (LAUNCH_QUERY.replace("appid=1", "appid=42"), 404, "no app with appid '42'"),
        (LAUNCH_QUERY.replace("appid=1", "appid=<x>"), 404, "no app with appid"),
        (LAUNCH_QUERY.replace(f"rikey={RIKEY}", "rikey=zz"), 400, "rikey"),
        (LAUNCH_QUERY.replace("mode=1280x720x60", "mode=big"), 400, "mode"),
        (LAUNCH_QUERY + "&appid=2", 400, "given twice"),
        (LAUNCH_QUERY + "&x=%zz", 400, "percent-encoding"),
    ],
)
def test_bad_launches_get_a_clear_error(
    svc: ServiceThread, paired_tls: ssl.SSLContext, query: str, status: int, message: str
) -> None:
    got_status, _, got_message = answer(get(https_url(svc, "launch") + "&" + query, tls=paired_tls))
    assert got_status == status
    assert message in got_message
    assert svc.run(svc.service.launcher.running) is None


class RefusingLauncher(InMemoryLauncher):
    def launch(self, request: LaunchRequest) -> str:
        raise LaunchError("the encoder is busy", 503)


def test_a_launcher_refusal_reaches_the_client(tmp_path: Path) -> None:
    with ServiceThread(tmp_path / "config", SETTINGS, launcher=RefusingLauncher()) as s:
        identity, _ = pre_pair(s)
        tls = client_tls_context(tmp_path, identity)
        status, fields, message = answer(get(https_url(s, "launch") + "&" + LAUNCH_QUERY, tls=tls))
        assert (status, fields, message) == (503, {"gamesession": "0"}, "the encoder is busy")


# -- hostile connections -----------------------------------------------------------------------


def raw_exchange(port: int, data: bytes, timeout: float = 10) -> bytes:
    """Send `data`, then read until the host closes (a reset counts as closing: the
    host may close before reading what was sent)."""
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
    return b"".join(chunks)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /serverinfo?" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 431),
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /serverinfo HTTP/1.1\r\n\r\n", 400),  # HTTP/1.1 without Host
        (b"GET /serverinfo HTTP/1.1\r\nHost: x\r\nContent-Length: 9999\r\n\r\n", 413),
        (b"POST /pair HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405),
        (b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        (b"GET /applist HTTP/1.1\r\nHost: x\r\n\r\n", 404),  # HTTPS only
        (b"GET http://x/serverinfo HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ],
)
def test_malformed_http_gets_an_error_status(
    svc: ServiceThread, request_bytes: bytes, status: int
) -> None:
    reply = raw_exchange(svc.http_port, request_bytes)
    assert reply.startswith(f"HTTP/1.1 {status} ".encode()), reply[:80]
    assert b"connection: close" in reply.lower()


def test_a_long_query_is_an_xml_error(svc: ServiceThread) -> None:
    status, _, message = answer(get(http_url(svc, "serverinfo?a=" + "1" * 9000)))
    assert status == 400
    assert "longer than" in message


def test_a_slow_client_is_cut_off(svc: ServiceThread, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gs_http, "REQUEST_TIMEOUT_S", 0.3)
    started = time.monotonic()
    assert raw_exchange(svc.http_port, b"GET /serverinfo HTTP/1.1\r\n") == b""
    assert raw_exchange(svc.https_port, b"") == b""  # no TLS handshake at all
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "junk", [b"\x16\x03\x01\x00\x05hello", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", bytes(range(256))]
)
def test_junk_on_the_https_port_is_dropped(svc: ServiceThread, junk: bytes) -> None:
    raw_exchange(svc.https_port, junk)  # the host closes; nothing else happens
    assert answer(get(http_url(svc, "serverinfo")))[0] == 200


def test_too_many_connections_are_refused_at_once(
    svc: ServiceThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gs_http, "MAX_CONNECTIONS", 2)
    idle = [socket.create_connection(("127.0.0.1", svc.http_port)) for _ in range(2)]
    try:
        svc.wait_for(lambda: len(svc.service._http._connections) == 2)
        assert raw_exchange(svc.http_port, b"GET /serverinfo HTTP/1.1\r\nHost: x\r\n\r\n") == b""
    finally:
        for sock in idle:
            sock.close()
    svc.wait_for(lambda: len(svc.service._http._connections) == 0)
    assert answer(get(http_url(svc, "serverinfo")))[0] == 200


def test_a_damaged_clients_file_does_not_stop_the_service(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "config"
    (config / "gamestream").mkdir(parents=True)
    (config / "gamestream" / CLIENTS_FILE).write_text("{")
    with caplog.at_level(logging.ERROR), ServiceThread(config, SETTINGS) as s:
        assert s.run(s.service.clients) == []
        assert answer(get(http_url(s, "serverinfo")))[0] == 200
    assert any("moved it to" in r.getMessage() for r in caplog.records)
    assert len(list((config / "gamestream").glob(f"{CLIENTS_FILE}.corrupt-*"))) == 1


@pytest.mark.parametrize("taken", ["http_port", "https_port"])
def test_a_taken_port_fails_start_and_leaves_nothing_open(tmp_path: Path, taken: str) -> None:
    with socket.socket() as occupant:
        occupant.bind(("127.0.0.1", 0))
        occupant.listen()
        settings = replace(SETTINGS, **{taken: occupant.getsockname()[1]})
        with pytest.raises(OSError, match="in use"):
            ServiceThread(tmp_path / "config", settings)
    # Whatever start() had opened is closed again: warnings are errors in this suite.


def test_service_methods_refuse_other_threads(svc: ServiceThread) -> None:
    errors: list[BaseException] = []

    def call() -> None:
        try:
            svc.service.submit_pin("1234", "")
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    thread.join(10)
    assert len(errors) == 1
    assert isinstance(errors[0], RuntimeError)
    assert "event loop" in str(errors[0])
