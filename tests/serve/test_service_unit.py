"""The systemd unit matches how serve behaves."""

from __future__ import annotations

import configparser
from pathlib import Path

UNIT = Path(__file__).resolve().parents[2] / "scripts" / "punktfunk.service"


def test_the_unit_is_a_notify_service_that_runs_serve() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(UNIT.read_text())
    service = unit["Service"]
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"  # serve notifies from its main process
    assert service["ExecStart"].endswith("punktfunk serve")
    assert service["KillMode"] == "mixed"  # SIGTERM to serve alone: it saves and ends sessions
    assert int(service["WatchdogSec"]) > 0
    assert unit["Install"]["WantedBy"] == "multi-user.target"
