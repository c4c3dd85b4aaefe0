"""A real `punktfunk serve` process on loopback, with its own config dir."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx


class Serve:
    def __init__(self, config: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mgmt",
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--native",
                "127.0.0.1:0",
                "--gamestream-port",
                "0",
                "--no-mdns",
                "--no-demo-gamestream",
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PUNKTFUNK_CONFIG_DIR": str(config), **(env or {})},
        )
        self.stdout: queue.Queue[str] = queue.Queue()
        self.stderr_lines: list[str] = []
        self._pumps = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout.put)),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr_lines.append)),
        ]
        for pump in self._pumps:
            pump.start()
        first = self.next_line(60)
        assert first.startswith("mgmt listening on http://"), first
        self.url = first.removeprefix("mgmt listening on ").strip()
        # With GameStream on (the default), serve's second line announces its HTTP port.
        self.gamestream_port: int | None = None
        if "--no-gamestream" not in args:
            second = self.next_line(30)
            assert second.startswith("gamestream listening on "), second
            self.gamestream_port = int(second.rsplit(":", 1)[1])
        self.token = (config / "token").read_text().strip()
        self.client = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )

    @staticmethod
    def _pump(stream: Any, sink: Callable[[str], None]) -> None:
        with stream:
            for line in stream:
                sink(line)

    def next_line(self, timeout: float) -> str:
        try:
            return self.stdout.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(
                f"serve printed nothing within {timeout} s; stderr:\n{''.join(self.stderr_lines)}"
            ) from None

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, f"/api/v1{path}", **kwargs)

    def wait_for_samples(self, count: int, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            live = self.api("GET", "/stats/capture/live")
            assert live.status_code == 200, live.text
            body: dict[str, Any] = live.json()
            if len(body["samples"]) >= count:
                return body
            assert time.monotonic() < deadline, f"only {len(body['samples'])} samples: {body}"
            time.sleep(0.5)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        for pump in self._pumps:
            pump.join(10)
        self.client.close()
        return code
