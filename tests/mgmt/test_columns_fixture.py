"""The recording the console's tests chart from both sides: `console/test/fixtures/columns.json`.

It holds a recording (samples) and what `GET …/columns` answers for it, so the console's
tests check that the browser's columns (`columnsOf`) and its timeline built from the
host's columns agree with the samples. This test keeps the file in step with the host:
it fails when `to_columns` would answer something else. Regenerate with
`python -m tests.mgmt.test_columns_fixture`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import msgspec

from mgmt.columns import to_columns
from mgmt.models import GAMESTREAM_STAGES, Capture, StageTiming
from tests.support.samples import make_meta, make_sample

FIXTURE = Path(__file__).resolve().parents[2] / "console" / "test" / "fixtures" / "columns.json"


def fixture_capture() -> Capture:
    """Three sessions: 1 and 2 overlap (two lanes), 3 follows 1 in its lane; session 2 is
    GameStream (other stages, RTT, sound); one window of session 1 has no stage timings and
    one lacks a stage; the GPU is measured in some windows only."""
    samples = []
    for i in range(6):
        s = make_sample(i, session_id=1)
        if i == 2:
            s.stages = []
        if i == 3:
            s.stages = s.stages[:-1]
        s.gpu_util_pct = 40.0 + i if i % 2 else None
        samples.append(s)
    for i in range(4):
        s = make_sample(i, session_id=2)
        s.t_ms = 1000 + 2000 * i
        s.stages = [
            StageTiming(name, p50_us=200.0 * (n + 1) + i, p99_us=500.0 * (n + 1) + i)
            for n, name in enumerate(GAMESTREAM_STAGES)
        ]
        s.rtt_us = 1000.0 + i
        s.audio_packets = 50 * (i + 1)
        s.audio_encode_p50_us = 150.0
        s.audio_encode_p99_us = 400.0
        s.input_events = i
        samples.append(s)
    for i in range(3):
        s = make_sample(20 + i, session_id=3)
        samples.append(s)
    samples.sort(key=lambda s: (s.t_ms, s.session_id))
    meta = make_meta("2026-01-01T00-00-00Z_1920x1080", len(samples))
    meta.sessions = 3
    return Capture(meta, samples)


def fixture_bytes() -> bytes:
    capture = fixture_capture()
    both = {
        "capture": msgspec.to_builtins(capture),
        "columns": msgspec.to_builtins(to_columns(capture)),
    }
    return (json.dumps(both, indent=1) + "\n").encode()


def test_the_console_fixture_is_what_the_host_answers() -> None:
    assert FIXTURE.read_bytes() == fixture_bytes(), (
        f"{FIXTURE} is stale: python -m tests.mgmt.test_columns_fixture"
    )


if __name__ == "__main__":
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_bytes(fixture_bytes())
    sys.stdout.write(f"wrote {FIXTURE}\n")
