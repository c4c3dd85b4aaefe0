"""A real Moonlight client against a real `serve`: `scripts/moonlight_client.py` (moonlight-
python, moonlight-common-c inside) in its own process, paired once through the REST API
the way an operator pairs one in the console, plus the host-side views the tests read
(the GameStream port, live sessions in /metrics, the serve log)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.support.serve import Serve
from tests.support.waiting import wait_for

MOONLIGHT_CLIENT = Path(__file__).resolve().parents[2] / "scripts" / "moonlight_client.py"
PAIR_TIMEOUT_S = 60.0


def gamestream_port(serve: Serve) -> int:
    """The HTTP port serve announced (`gamestream listening on HOST:PORT`)."""
    assert serve.gamestream_port is not None, "this serve runs without GameStream"
    return serve.gamestream_port


class MoonlightClient:
    """One run of the client script; `report()` waits for its JSON report."""

    def __init__(self, port: int, state: Path, *args: str) -> None:
        self.argv = [
            sys.executable,
            str(MOONLIGHT_CLIENT),
            "127.0.0.1",
            "--port",
            str(port),
            "--config",
            str(state),
            *args,
        ]
        # moonlight-python is third-party code: its warnings are not ours to fail on.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )

    def wait(self, timeout: float) -> tuple[int, str, str]:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the Moonlight client ran past {timeout} s") from None
        return self.proc.returncode, out, err

    def report(self, timeout: float = 60) -> dict[str, Any]:
        code, out, err = self.wait(timeout)
        assert code == 0, f"the Moonlight client exited with {code}: {err.strip()[-2000:]}"
        lines = out.strip().splitlines()
        assert lines, f"the Moonlight client printed no report; stderr: {err[-2000:]}"
        report: dict[str, Any] = json.loads(lines[-1])
        return report

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.communicate(timeout=30)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


class PairingMoonlight:
    """A Moonlight client asking the host to pair with `pin`; once constructed, the host
    waits for the operator to type the PIN. `status` reads the host's GameStream status
    (`GET /api/v1/gamestream/status`) however the caller reaches the host."""

    def __init__(
        self,
        status: Callable[[], dict[str, Any]],
        state: Path,
        pin: str,
        timeout: float = PAIR_TIMEOUT_S,
    ) -> None:
        now = status()
        assert now["enabled"], now
        assert not now["waiting"], now
        self.client = MoonlightClient(now["http_port"], state, "--pin", pin, "--pair-only")
        try:
            wait_for(lambda: self._waiting(status), timeout, "the client's pairing request")
        except BaseException:
            self.close()
            raise

    def _waiting(self, status: Callable[[], dict[str, Any]]) -> bool:
        if self.client.proc.poll() is not None:
            _, err = self.client.proc.communicate()
            raise AssertionError(f"the Moonlight client exited early: {err}")
        return bool(status()["waiting"])

    def finish(self, timeout: float = 30) -> tuple[int, str]:
        """Its exit code and stderr once it has finished pairing (or failed)."""
        code, _, err = self.client.wait(timeout)
        return code, err

    def close(self) -> None:
        """Stop it if it still runs (a held pairing request ends with the connection)."""
        self.client.close()


def pair(serve: Serve, state: Path, name: str, pin: str = "4321") -> None:
    """Pair the client in `state` as `name`: the client shows its PIN and waits; the
    operator (this function) types it through the REST API once the host says a client
    waits."""
    client = PairingMoonlight(lambda: serve.api("GET", "/gamestream/status").json(), state, pin)
    try:
        entered = serve.api("POST", "/gamestream/pin", json={"pin": pin, "name": name})
        assert entered.status_code == 204, entered.text
        code, err = client.finish(PAIR_TIMEOUT_S)
        assert code == 0, f"pairing failed ({code}): {err.strip()[-2000:]}"
    finally:
        client.close()


def copy_host_state(source: Path, target: Path) -> Path:
    """A config dir for another serve with the same identities and paired clients (so
    the paired client needs no second pairing), but no recordings."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("captures"))
    return target


def live_sessions(serve: Serve, kind: str = "gamestream") -> int:
    """How many sessions of `kind` (path) /metrics shows: each live session has its
    latest window's fps there."""
    scraped = serve.client.get("/metrics")
    assert scraped.status_code == 200, scraped.text
    return len(
        {
            sample.labels["session"]
            for family in text_string_to_metric_families(scraped.text)
            if family.name == "punktfunk_fps"
            for sample in family.samples
            if sample.labels.get("path") == kind
        }
    )


def log_lines(serve: Serve, fragment: str) -> list[str]:
    return [line for line in list(serve.stderr_lines) if fragment in line]
