"""Run `punktfunk stats` as a real subprocess, check its failure contract, and step into
its conversation with serve at an exact request (`Relay`, `CtrlCAt`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.support.serve import Serve

STATS = [sys.executable, "-m", "mgmt", "stats"]
"""The argv that runs `punktfunk stats` from this checkout."""


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any PUNKTFUNK_* setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUNKTFUNK_")}
    return {**env, **extra}


def run_stats(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*STATS, *args],
        capture_output=True,
        text=True,
        env=clean_env() if env is None else env,
        timeout=timeout,
        check=False,
    )


class Cli:
    """`punktfunk stats ...` against the package's serve: --url and --token by default."""

    def __init__(self, serve: Serve) -> None:
        self.serve = serve

    def argv(self, *args: str, url: bool | str = True, token: bool = True) -> list[str]:
        """`args` plus --url (serve's, or the one given) and --token."""
        url = self.serve.url if url is True else url
        return [
            *args,
            *(["--url", url] if url else []),
            *([f"--token={self.serve.token}"] if token else []),
        ]

    def env(self, **extra: str) -> dict[str, str]:
        return clean_env(PUNKTFUNK_CONFIG_DIR=str(self.serve.config), **extra)

    def __call__(
        self, *args: str, url: bool = True, token: bool = True, **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        env = kwargs.pop("env", None) or self.env()
        return run_stats(*self.argv(*args, url=url, token=token), env=env, **kwargs)

    def ok(self, *args: str, **kwargs: Any) -> str:
        result = self(*args, **kwargs)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        return result.stdout

    def spawn(self, *args: str, url: str | None = None, **popen: Any) -> subprocess.Popen[Any]:
        """Start `punktfunk stats ARGS` without waiting (stdout and stderr are pipes unless
        `popen` says otherwise); `url` instead of serve's, e.g. a `Relay`'s."""
        popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **popen}
        return subprocess.Popen(
            [*STATS, *self.argv(*args, url=url or True)], env=self.env(), **popen
        )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The failure contract: non-zero exit, exactly one stderr line, no traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stderr.endswith("\n")
    return lines[0]


# -- stepping into the conversation --------------------------------------------------------


@dataclass(frozen=True)
class Relayed:
    """One request as the relay received it."""

    method: str
    path: str  # without the query
    content_type: str | None
    body: bytes


class Relay:
    """A loopback HTTP relay in front of serve: a client pointed at `url` talks to serve
    through it, and `before_answer(method, path)` runs once serve has answered a request
    and before that answer goes back, which is an exact point in the client's run (e.g.
    "serve has started the capture, the CLI does not know yet")."""

    def __init__(self, upstream: str) -> None:
        self.seen: list[Relayed] = []
        self.before_answer: Callable[[str, str], None] | None = None
        self._upstream = httpx.Client(base_url=upstream, timeout=60)
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as against serve

            def do_GET(self) -> None:
                relay._forward(self)

            def do_POST(self) -> None:
                relay._forward(self)

            def do_DELETE(self) -> None:
                relay._forward(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the suite's output is the tests', not a request log

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="relay")
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        path = urlsplit(handler.path).path
        content_type = handler.headers.get("Content-Type")
        self.seen.append(Relayed(handler.command, path, content_type, body))
        headers = {
            name: value
            for name in ("Authorization", "Content-Type")
            if (value := handler.headers.get(name)) is not None
        }
        answer = self._upstream.request(
            handler.command, handler.path, content=body, headers=headers
        )
        if self.before_answer is not None:
            self.before_answer(handler.command, path)
        handler.send_response(answer.status_code)
        if "Content-Type" in answer.headers:
            handler.send_header("Content-Type", answer.headers["Content-Type"])
        if answer.status_code != 204:  # httpx decoded any gzip: the length is the plain one
            handler.send_header("Content-Length", str(len(answer.content)))
        handler.end_headers()
        handler.wfile.write(answer.content)

    def requests(self) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.seen]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
        self._upstream.close()


class CtrlCAt:
    """A `Relay.before_answer` that sends SIGINT to a CLI process when serve has answered
    its `nth` request `method path` and before the CLI receives that answer; `sent` says
    whether it did, so a test cannot pass without the interruption it is about."""

    def __init__(self, method: str, path: str, *, nth: int = 1) -> None:
        self.at = (method, path)
        self.nth = nth
        self.sent = threading.Event()
        self._count = 0
        self._proc: subprocess.Popen[Any] | None = None
        self._launched = threading.Event()

    def launched(self, proc: subprocess.Popen[Any]) -> None:
        """The process to interrupt (known only once Popen returns)."""
        self._proc = proc
        self._launched.set()

    def __call__(self, method: str, path: str) -> None:
        if (method, path) != self.at:
            return
        self._count += 1
        if self._count != self.nth:
            return
        # The CLI may be quick enough to ask before Popen has returned in the test.
        assert self._launched.wait(30), "launched() was never called"
        assert self._proc is not None
        # kill() makes the signal pending in the CLI before its answer is even written.
        self._proc.send_signal(signal.SIGINT)
        self.sent.set()
