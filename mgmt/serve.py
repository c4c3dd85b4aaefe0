"""`punktfunk serve`: the mgmt process that runs everything.

It owns the control block (armed/perf), the StatsRecorder, the aggregator and the
native host (whose sessions own their rings and processes), serves the REST API and the
console under Hypercorn, talks to systemd, and with `demo` keeps a local client
streaming so that a capture has something to measure.

Start-up binds both listeners before announcing anything: one stdout line
`mgmt listening on http://HOST:PORT`, then READY=1 to systemd. SIGTERM/SIGINT stop in
an order that loses nothing: STOPPING=1, the demo client, the native sessions (each one
gives the aggregator its last window), then the recorder saves an armed capture, then
the API goes down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass
from pathlib import Path

from host.config import config_dir, ensure_private_dir
from host.gamestream.host import GameStreamHost
from host.native.server import NativeHost
from host.native.tls import load_or_create_identity
from host.pipeline.session import EncoderBackends
from ipc import ControlBlock
from mgmt.aggregator import Aggregator
from mgmt.api import create_app
from mgmt.asgi_server import bind_socket, serve_on_socket
from mgmt.auth import load_or_create_token
from mgmt.demo import DemoClient, MoonlightDemo, moonlight_problem
from mgmt.gamestream_api import gamestream_routes
from mgmt.metrics import METRICS_PATH, metrics_route
from mgmt.recorder import StatsRecorder
from mgmt.sessions import Sessions
from mgmt.settings import (
    Settings,
    captures_dir,
    gamestream_settings,
    join_address,
    native_settings,
    split_address,
)
from mgmt.systemd import Notifier
from mgmt.telemetry import Telemetry

log = logging.getLogger(__name__)

CHECKOUT_CONSOLE = Path(__file__).resolve().parent.parent / "console" / "dist"


@dataclass
class Running:
    """What a running `serve` is made of (tests reach in through this)."""

    settings: Settings
    recorder: StatsRecorder
    aggregator: Aggregator
    sessions: Sessions
    native: NativeHost
    gamestream: GameStreamHost | None
    control: ControlBlock
    url: str


async def serve(settings: Settings, *, started: asyncio.Future[Running] | None = None) -> int:
    cfg = ensure_private_dir(config_dir())
    token = load_or_create_token(cfg)
    identity = load_or_create_identity(cfg)
    api_host, api_port = split_address(settings.bind, "bind")
    native = native_settings(settings)
    gamestream_config = gamestream_settings(settings) if settings.gamestream else None

    control = ControlBlock.create(perf=settings.perf, measure_always=settings.measure == "always")
    try:
        recorder = StatsRecorder(captures_dir(settings), on_armed_change=control.set_armed)
        aggregator = Aggregator(recorder, perf=settings.perf, telemetry=Telemetry())
        sessions = Sessions(settings.max_sessions, [aggregator])
        backends = EncoderBackends(settings.encoder)
        native_host = NativeHost(native, control, identity, sessions, backends)
        gamestream = (
            GameStreamHost(gamestream_config, control, sessions, backends, cfg)
            if gamestream_config is not None
            else None
        )
        console = Path(settings.console_dir) if settings.console_dir else CHECKOUT_CONSOLE
        app = create_app(
            recorder,
            token,
            console_dir=console,
            extra_routes=[
                metrics_route(aggregator, recorder),
                *gamestream_routes(lambda: gamestream.service if gamestream else None),
            ],
            extra_protected=() if settings.metrics_open else (METRICS_PATH,),
        )
        api_socket = bind_socket(api_host, api_port)
        native_address = await native_host.start()
        gamestream_port = await gamestream.start() if gamestream is not None else None
    except BaseException:
        await native_host.close()
        control.close()
        raise

    notifier = Notifier()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    api_stopped = asyncio.Event()
    host, port = api_socket.getsockname()[:2]
    url = f"http://{join_address(host, port)}"
    api = asyncio.ensure_future(serve_on_socket(app, api_socket, shutdown_trigger=api_stopped.wait))
    background = [
        asyncio.ensure_future(aggregator.run()),
        asyncio.ensure_future(notifier.watchdog()),
    ]
    demos: list[DemoClient | MoonlightDemo] = []
    if settings.demo:
        demos.append(DemoClient(native_address, settings))
        if settings.demo_gamestream and gamestream is not None and gamestream_port is not None:
            problem = moonlight_problem()
            if problem is None:
                demos.append(
                    MoonlightDemo(gamestream, gamestream_port, settings, cfg / "demo-moonlight")
                )
            else:
                log.info("no Moonlight demo client: %s; the demo streams natively only", problem)
    background += [asyncio.ensure_future(demo.run()) for demo in demos]
    print(f"mgmt listening on {url}", flush=True)
    if gamestream is not None and gamestream_port is not None:
        gs_host = join_address(gamestream.settings.bind, gamestream_port)
        print(f"gamestream listening on {gs_host}", flush=True)
    log.info(
        "native punktfunk/1 on %s:%d; console at %s (token: `punktfunk token`)%s",
        native_address[0],
        native_address[1],
        url,
        f"; {len(demos)} demo client(s) streaming" if demos else "",
    )
    notifier.ready(status=f"mgmt {url}, native port {native_address[1]}")
    if started is not None:
        started.set_result(
            Running(settings, recorder, aggregator, sessions, native_host, gamestream, control, url)
        )
    try:
        await stop.wait()
    finally:
        notifier.stopping()
        log.info("stopping")
        for task in background:
            task.cancel()
        for demo in demos:
            await demo.stop()
        await native_host.close()
        if gamestream is not None:
            await gamestream.close()
        saved = await asyncio.to_thread(recorder.shutdown)
        if saved is not None:
            log.info("saved the running capture as %s on the way out", saved.id)
        api_stopped.set()
        with contextlib.suppress(asyncio.CancelledError):
            await api
        await asyncio.gather(*background, return_exceptions=True)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        control.close()
    return 0
