"""`GameStreamService`: what the mgmt process owns to be a GameStream (Moonlight) host.

It ties the pieces together: the identity and paired clients (`identity`), pairing
(`pairing`), the nvhttp answers (`nvhttp`), the HTTP and HTTPS listeners (`http`,
`tls`), mDNS (`mdns`) and a `Launcher` (`launch`) that the streaming part provides.

Endpoints. Over HTTP (default port 47989): `serverinfo` (PairStatus 0), `pair` (phases
1-4) and `unpair` (ends this client's pairing attempt; it cannot unpair anyone: every
Moonlight client sends the same uniqueid and no certificate over HTTP). Over HTTPS
(47984), for a paired client certificate only (anything else gets the 401 XML):
`serverinfo` (PairStatus 1), `pair` (phase 5, `pairchallenge`), `applist`, `appasset`,
`launch`, `resume`, `cancel`, `unpair` (forgets the calling client).

Threading: every method runs on the event loop that called `start()` (the mgmt
process's loop); `submit_pin` and `unpair` refuse to run from another thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import psutil

from host.gamestream.appasset import app_asset_png
from host.gamestream.http import HttpRequest, HttpResponse, Listener
from host.gamestream.identity import (
    CLIENTS_FILE,
    ClientStore,
    PairedClient,
    fingerprint,
    load_or_create_host_identity,
)
from host.gamestream.launch import (
    DEFAULT_RTSP_PORT,
    InMemoryLauncher,
    Launcher,
    LaunchError,
    LaunchQueryError,
    parse_launch_query,
)
from host.gamestream.mdns import MdnsAdvertiser, advertised_addresses
from host.gamestream.nvhttp import (
    PLACEHOLDER_MAC,
    SCM_H264,
    App,
    Query,
    QueryError,
    ServerInfo,
    app_list,
    applist_xml,
    cancel_xml,
    error_xml,
    launch_xml,
    parse_query,
    resume_xml,
    serverinfo_xml,
    unauthorized_xml,
    unpair_xml,
)
from host.gamestream.pairing import (
    PIN_WAIT_S,
    AwaitPin,
    InvalidNameError,
    InvalidPinError,
    NoClientWaitingError,
    Pairing,
    PairingError,
    WaitingClient,
)
from host.gamestream.tls import server_context

__all__ = [
    "App",
    "GameStreamService",
    "GameStreamSettings",
    "InvalidNameError",
    "InvalidPinError",
    "NoClientWaitingError",
    "PairedClient",
    "PairingError",
    "PairingStatus",
    "WaitingClient",
]

log = logging.getLogger(__name__)

DEFAULT_HTTP_PORT = 47989
DEFAULT_HTTPS_PORT = 47984
STATE_SUBDIR = "gamestream"
PNG = "image/png"


@dataclass(frozen=True)
class GameStreamSettings:
    bind: str = "0.0.0.0"  # noqa: S104 - a host for clients on the LAN listens on all
    http_port: int = DEFAULT_HTTP_PORT  # 0 picks a free port
    https_port: int = DEFAULT_HTTPS_PORT  # 0 picks a free port
    hostname: str = field(default_factory=socket.gethostname)
    apps: tuple[App, ...] = ()  # listed after the desktop (id 1)
    codec_mask: int = SCM_H264  # ServerCodecModeSupport; nvhttp.codec_mode_mask builds it
    mdns: bool = True
    mdns_interfaces: tuple[str, ...] | None = None  # None: every interface
    pin_wait_s: float = PIN_WAIT_S


class PairingStatus(NamedTuple):
    waiting: bool
    client_name: str | None


def _mac_of(address: str) -> str:
    """The MAC address of the interface that has `address`, for Wake-on-LAN."""
    for addrs in psutil.net_if_addrs().values():
        if any(a.address == address for a in addrs):
            for a in addrs:
                if a.family == psutil.AF_LINK and a.address and a.address != PLACEHOLDER_MAC:
                    return a.address.replace("-", ":").lower()
    return PLACEHOLDER_MAC


def _xml(body: bytes, status: int = 200) -> HttpResponse:
    return HttpResponse(status, body)


class GameStreamService:
    """The GameStream host's HTTP side. State lives in `<config_dir>/gamestream/`."""

    def __init__(
        self,
        config_dir: Path,
        settings: GameStreamSettings,
        *,
        rtsp_port: Callable[[], int] = lambda: DEFAULT_RTSP_PORT,
        launcher: Launcher | None = None,
    ) -> None:
        """Loads (or makes) the identity and paired clients. Raises IdentityError,
        ClientStoreError, or ValueError for a bad app list or a zero codec mask."""
        if settings.codec_mask == 0:
            raise ValueError("codec_mask must not be 0: Moonlight refuses a host with no codec")
        self.settings = settings
        self.apps: Sequence[App] = app_list(settings.apps)
        directory = config_dir / STATE_SUBDIR
        self.identity = load_or_create_host_identity(directory)
        self.store = ClientStore(directory / CLIENTS_FILE)
        self.pairing = Pairing(self.identity, self.store)
        self.launcher: Launcher = launcher or InMemoryLauncher(rtsp_port)
        self._http = Listener(self._handle)
        self._https = Listener(self._handle, tls_context=server_context(self.identity))
        self._mdns: MdnsAdvertiser | None = None
        self._held: dict[int, asyncio.Future[bytes]] = {}
        self._loop_thread: int | None = None
        self.http_port: int | None = None
        self.https_port: int | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> tuple[int, int]:
        """Listen on both ports and advertise over mDNS; returns (http_port, https_port)."""
        self._loop_thread = threading.get_ident()
        bind = self.settings.bind
        try:
            self.http_port = await self._http.start(bind, self.settings.http_port)
            self.https_port = await self._https.start(bind, self.settings.https_port)
        except BaseException:
            await self.close()
            raise
        if self.settings.mdns:
            self._mdns = MdnsAdvertiser(
                self.settings.hostname,
                self.http_port,
                advertised_addresses(bind),
                interfaces=self.settings.mdns_interfaces,
            )
            await self._mdns.start()
        log.info(
            "GameStream host %r on %s: HTTP %d, HTTPS %d, %d paired client(s)",
            self.settings.hostname,
            bind,
            self.http_port,
            self.https_port,
            len(self.store.clients()),
        )
        return self.http_port, self.https_port

    async def close(self) -> None:
        """Stop advertising and listening; a held pairing request is abandoned."""
        if self._mdns is not None:
            await self._mdns.close()
            self._mdns = None
        await self._http.close()
        await self._https.close()
        self.http_port = self.https_port = None

    # -- the operator's side --------------------------------------------------------------

    def pairing_status(self) -> PairingStatus:
        self._on_loop_thread("pairing_status")
        waiting = self.pairing.waiting()
        return PairingStatus(waiting is not None, waiting.name if waiting else None)

    def waiting_client(self) -> WaitingClient | None:
        """The client waiting for a PIN, with its address and uniqueid."""
        self._on_loop_thread("waiting_client")
        return self.pairing.waiting()

    def _on_loop_thread(self, what: str) -> None:
        if self._loop_thread is not None and threading.get_ident() != self._loop_thread:
            raise RuntimeError(f"GameStreamService.{what} must be called on its event loop")

    def submit_pin(self, pin: str, name: str = "") -> None:
        """The PIN the waiting Moonlight client shows, and the name to pair it under
        (empty: its default name). Raises NoClientWaitingError, InvalidPinError or
        InvalidNameError. The pairing finishes with the client; `clients()` lists it
        once it has."""
        self._on_loop_thread("submit_pin")
        accepted = self.pairing.submit_pin(pin, name, time.monotonic())
        held = self._held.get(accepted.ticket)
        if held is not None and not held.done():
            held.set_result(accepted.xml)

    def clients(self) -> list[PairedClient]:
        """Every paired client, oldest pairing first."""
        self._on_loop_thread("clients")
        return self.store.clients()

    def unpair(self, client_id: str) -> bool:
        """Forget a paired client (its next HTTPS request gets 401) and end its stream.
        False if no client has that id; ClientStoreError if the file cannot be written."""
        self._on_loop_thread("unpair")
        client = self.store.find(client_id)
        if client is None or not self.store.remove(client_id):
            return False
        log.info("unpaired %s (client id %s)", client.name, client_id[:16])
        running = self.launcher.running()
        if running is not None and running.client_id == client_id:
            self.launcher.cancel(client_id)
        return True

    # -- the client's side ----------------------------------------------------------------

    async def _handle(self, request: HttpRequest, peer_gone: asyncio.Event) -> HttpResponse:
        if request.method != "GET":
            return _xml(error_xml(405, f"{request.method} is not supported; use GET"), 405)
        try:
            query = parse_query(request.query)
        except QueryError as exc:
            return _xml(error_xml(400, f"bad query string: {exc}"))
        command = request.path.rstrip("/")
        if not request.secure:
            return await self._handle_http(command, query, request, peer_gone)
        der = request.client_cert_der
        client = self.store.find(fingerprint(der)) if der is not None else None
        if client is None:
            return _xml(unauthorized_xml())
        return await self._handle_https(command, query, request, client, peer_gone)

    async def _handle_http(
        self, command: str, query: Query, request: HttpRequest, peer_gone: asyncio.Event
    ) -> HttpResponse:
        if command == "/serverinfo":
            return _xml(self._serverinfo(request, paired=False))
        if command == "/pair":
            return _xml(await self._pair(query, request, peer_gone))
        if command == "/unpair":
            self.pairing.client_unpaired(query.get("uniqueid", ""), request.peer)
            return _xml(unpair_xml())
        return _xml(error_xml(404, f"{command} is not served over HTTP"), 404)

    async def _handle_https(
        self,
        command: str,
        query: Query,
        request: HttpRequest,
        client: PairedClient,
        peer_gone: asyncio.Event,
    ) -> HttpResponse:
        if command == "/serverinfo":
            return _xml(self._serverinfo(request, paired=True))
        if command == "/pair":
            return _xml(await self._pair(query, request, peer_gone))
        if command == "/applist":
            return _xml(applist_xml(self.apps))
        if command == "/appasset":
            if self._app(query.get("appid")) is None:
                return _xml(error_xml(404, "no app with that appid"))
            return HttpResponse(200, app_asset_png(), PNG)
        if command == "/launch":
            return _xml(self._launch(query, request, client))
        if command == "/resume":
            return _xml(self._resume(query, request, client))
        if command == "/cancel":
            self.launcher.cancel(client.id)
            log.info("%s quit the running app", client.name)
            return _xml(cancel_xml())
        if command == "/unpair":
            self.unpair(client.id)
            return _xml(unpair_xml())
        return _xml(error_xml(404, f"{command} is not a GameStream command"), 404)

    def _serverinfo(self, request: HttpRequest, *, paired: bool) -> bytes:
        assert self.http_port is not None
        assert self.https_port is not None
        running = self.launcher.running()
        local_ip = request.local_address
        if ":" in local_ip:
            # Moonlight takes LocalIP for an IPv4 address; Sunshine sends loopback for v6.
            local_ip = "127.0.0.1"
        return serverinfo_xml(
            ServerInfo(
                hostname=self.settings.hostname,
                uniqueid=self.identity.uniqueid,
                http_port=self.http_port,
                https_port=self.https_port,
                codec_mask=self.settings.codec_mask,
                local_ip=local_ip,
                mac=_mac_of(request.local_address) if paired else PLACEHOLDER_MAC,
                paired=paired,
                current_game=running.app_id if running is not None else 0,
            )
        )

    async def _pair(self, query: Query, request: HttpRequest, peer_gone: asyncio.Event) -> bytes:
        outcome = self.pairing.handle(
            query, peer=request.peer, secure=request.secure, now=time.monotonic()
        )
        if not isinstance(outcome, AwaitPin):
            return outcome.xml
        return await self._await_pin(outcome, peer_gone)

    async def _await_pin(self, wait: AwaitPin, peer_gone: asyncio.Event) -> bytes:
        """Hold phase 1 until the PIN comes, the client hangs up, or the wait times out."""
        answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._held[wait.ticket] = answer
        hangup = asyncio.ensure_future(peer_gone.wait())
        waiters: set[asyncio.Future[Any]] = {answer, hangup}
        try:
            done, _ = await asyncio.wait(
                waiters,
                timeout=self.settings.pin_wait_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if answer.done():
                return answer.result()
            if hangup in done:
                return self.pairing.abandon(wait.ticket, "the client hung up")
            return self.pairing.abandon(
                wait.ticket, f"no PIN was entered within {self.settings.pin_wait_s:.0f} s"
            )
        except asyncio.CancelledError:
            # Even a PIN answer already made was not sent: the client cannot go on.
            self.pairing.abandon(wait.ticket, "the host is shutting down")
            raise
        finally:
            hangup.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await hangup
            answer.cancel()
            self._held.pop(wait.ticket, None)

    def _app(self, raw_id: str | None) -> App | None:
        if raw_id is None or not raw_id.isdecimal() or len(raw_id) > 10:
            return None
        return next((app for app in self.apps if app.id == int(raw_id)), None)

    def _launch(self, query: Query, request: HttpRequest, client: PairedClient) -> bytes:
        refused = (("gamesession", 0),)
        app = self._app(query.get("appid"))
        if app is None:
            listed = ", ".join(f"{a.id} ({a.title})" for a in self.apps)
            return error_xml(
                404, f"no app with appid {query.get('appid', '')[:20]!r}; listed: {listed}", refused
            )
        if self.launcher.running() is not None:
            return error_xml(
                400, "an app is already running on this host; resume it or quit it first", refused
            )
        try:
            launch_request = parse_launch_query(
                query,
                client_id=client.id,
                client_name=client.name,
                host_address=request.local_address,
                client_address=request.peer,
            )
            url = self.launcher.launch(launch_request)
        except LaunchQueryError as exc:
            return error_xml(400, f"bad launch request: {exc}", refused)
        except LaunchError as exc:
            log.warning("launching %s for %s failed: %s", app.title, client.name, exc.message)
            return error_xml(exc.status_code, exc.message, refused)
        log.info(
            "%s launched %s at %dx%d@%d; %s",
            client.name,
            app.title,
            launch_request.width,
            launch_request.height,
            launch_request.fps,
            url,
        )
        return launch_xml(url)

    def _resume(self, query: Query, request: HttpRequest, client: PairedClient) -> bytes:
        refused = (("resume", 0),)
        running = self.launcher.running()
        if running is None:
            return error_xml(503, "no app is running to resume; launch one", refused)
        try:
            resume_request = parse_launch_query(
                query,
                client_id=client.id,
                client_name=client.name,
                host_address=request.local_address,
                client_address=request.peer,
                resume_of=running,
            )
            url = self.launcher.launch(resume_request)
        except LaunchQueryError as exc:
            return error_xml(400, f"bad resume request: {exc}", refused)
        except LaunchError as exc:
            log.warning("resuming for %s failed: %s", client.name, exc.message)
            return error_xml(exc.status_code, exc.message, refused)
        log.info("%s resumed app %d; %s", client.name, resume_request.app_id, url)
        return resume_xml(url)
