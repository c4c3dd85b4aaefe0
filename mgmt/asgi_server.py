"""Serve an ASGI app with Hypercorn on a socket the caller already bound.

Binding first lets the caller pick port 0 and know the real port before serving, and
lets `punktfunk serve` bind (and fail) before it reports READY to systemd.
`serve_on_socket` runs in the current event loop until its shutdown trigger returns;
`ServerThread` runs it on a thread with its own loop (tests and benchmarks).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Awaitable, Callable
from types import TracebackType

from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config, Sockets
from hypercorn.utils import wrap_app
from starlette.types import ASGIApp


def bind_socket(host: str = "127.0.0.1", port: int = 0, *, backlog: int = 128) -> socket.socket:
    """A listening TCP socket (IPv6 if `host` contains a colon)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def hypercorn_config(*, graceful_timeout_s: float = 2.0) -> Config:
    config = Config()
    config.accesslog = None
    # Through the standard logging tree (the CLI's handler, journald, pytest's capture)
    # rather than Hypercorn's own stderr handler.
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = graceful_timeout_s
    return config


async def serve_on_socket(
    app: ASGIApp,
    sock: socket.socket,
    *,
    shutdown_trigger: Callable[[], Awaitable[object]],
    config: Config | None = None,
) -> None:
    """Serve `app` on the listening `sock` until `shutdown_trigger` returns.

    The socket is handed to Hypercorn, which closes it on shutdown.
    """
    config = config or hypercorn_config()
    sock.setblocking(False)
    await worker_serve(
        wrap_app(app, config.wsgi_max_body_size, "asgi"),  # type: ignore[arg-type]
        config,
        sockets=Sockets(secure_sockets=[], insecure_sockets=[sock], quic_sockets=[]),
        shutdown_trigger=shutdown_trigger,
    )


class ServerThread:
    """`with ServerThread(app) as server:` serves `app` on `server.url` (127.0.0.1, a free port)."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.sock = bind_socket(host, port)
        bound_host, self.port = self.sock.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.url = f"http://{shown}:{self.port}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="hypercorn", daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await serve_on_socket(self.app, self.sock, shutdown_trigger=self._stop.wait)

        try:
            asyncio.run(main())
        except BaseException as err:
            self._error = err
        finally:
            self._ready.set()

    def start(self) -> ServerThread:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise RuntimeError("the server thread failed to start") from self._error
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and self._thread.is_alive():
            loop.call_soon_threadsafe(stop.set)
        self._thread.join(timeout_s)
        self.sock.close()
        if self._thread.is_alive():
            raise RuntimeError(f"the server thread did not stop within {timeout_s} s")
        if self._error is not None:
            raise RuntimeError("the server thread failed") from self._error

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
