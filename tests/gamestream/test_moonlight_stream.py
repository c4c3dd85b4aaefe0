"""A real Moonlight client streams from a real `punktfunk serve`.

The client is moonlight-common-c (the library inside every Moonlight client) driven by
`scripts/moonlight_client.py` in its own process; the host is `serve` on loopback. The
client is paired once for the module, through the REST API as an operator would, and
the other serves of the module start from a copy of that host state. What is checked:
each codec streams and decodes, a capture records the session with every GameStream
stage, an IDR request gets a keyframe, FEC repairs dropped datagrams, and each way a
stream ends (the client quits, the client vanishes, the host stops) tears it down.
"""

from __future__ import annotations

import itertools
import json
import re
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from av.video.frame import VideoFrame

from host.gamestream.video import FRAME_HEADER_SIZE, HEADER_SIZE, VideoPacketizer
from host.pipeline.encoder import CPU_ENCODERS, EncoderSettings, VideoEncoder
from mgmt.models import GAMESTREAM_STAGES, NATIVE_STAGES
from tests.support.moonlight import (
    MoonlightClient,
    copy_host_state,
    gamestream_port,
    live_sessions,
    log_lines,
    pair,
)
from tests.support.serve import Serve
from tests.support.shm import our_segments
from tests.support.waiting import wait_for

CLIENT_NAME = "Moonlight test"
SECONDS = 5.0
END_S = 5.0  # a stream the client quits is gone from the host within this
# A silent client: ENet gives up after 5 s or more without acknowledgements, the host's
# watchdog after 10 s of silence; then the teardown.
VANISH_S = 15.0


@dataclass
class Host:
    serve: Serve
    port: int  # the GameStream HTTP port


@dataclass
class Run:
    report: dict[str, Any]
    capture: dict[str, Any]  # the recording, as GET /stats/recordings/{id} returns it


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("moonlight-stream")


@pytest.fixture(scope="module")
def client_state(state: Path) -> Path:
    return state / "client"


def start_host(config: Path, *args: str) -> Host:
    serve = Serve(config, *args)
    try:
        return Host(serve, gamestream_port(serve))
    except BaseException:
        stop_host(serve)
        raise


def stop_host(serve: Serve, sig: int = signal.SIGTERM) -> int:
    code = serve.stop(sig)
    assert not [line for line in serve.stderr_lines if "Traceback" in line], "".join(
        serve.stderr_lines[-40:]
    )
    return code


@pytest.fixture(scope="module")
def host(state: Path, client_state: Path) -> Iterator[Host]:
    """The module's serve, with the client paired to it."""
    running = start_host(state / "host")
    try:
        pair(running.serve, client_state, CLIENT_NAME)
        yield running
    finally:
        stop_host(running.serve)


StartHost = Callable[..., Host]


@pytest.fixture
def other_host(state: Path, host: Host, request: pytest.FixtureRequest) -> Iterator[StartHost]:
    """Start another serve (its own args) from a copy of the paired host state."""
    started: list[Serve] = []

    def start(*args: str) -> Host:
        config = copy_host_state(host.serve.config, state / f"{request.node.name}-{len(started)}")
        running = start_host(config, *args)
        started.append(running.serve)
        return running

    yield start
    for serve in started:
        if serve.proc.poll() is None:
            stop_host(serve)


def stream(running: Host, client_state: Path, *args: str) -> MoonlightClient:
    # The client's receiving threads have 15 frames (250 ms) of slack; on two cores
    # shared with the host's encoder they go first, as on a client machine of its own.
    return MoonlightClient(running.port, client_state, "--json", "--nice", "-10", *args)


def streamed(
    running: Host, client_state: Path, *args: str, seconds: float = SECONDS
) -> dict[str, Any]:
    client = stream(running, client_state, "--seconds", str(seconds), *args)
    try:
        return client.report(timeout=seconds + 60)
    finally:
        client.close()


def captured_run(running: Host, client_state: Path, *args: str) -> Run:
    """Arm a capture, stream, wait until the session has ended (its last window is in),
    stop the capture and read the recording back."""
    serve = running.serve
    assert serve.api("POST", "/stats/capture/start").json()["armed"] is True
    report = streamed(running, client_state, *args)
    wait_for(lambda: live_sessions(serve) == 0, END_S, "the session's end")
    stopped = serve.api("POST", "/stats/capture/stop")
    assert stopped.status_code == 200, stopped.text
    recording = serve.api("GET", f"/stats/recordings/{stopped.json()['id']}")
    assert recording.status_code == 200, recording.text
    return Run(report, recording.json())


def said(report: dict[str, Any]) -> str:
    """A client report in full, for an assertion message."""
    return json.dumps(report)


def decoded_share(report: dict[str, Any]) -> float:
    """Pictures decoded per frame the host sent while the client listened."""
    assert report["expected"] > 0, said(report)
    share: float = report["decoded"] / report["expected"]
    return share


def gamestream_samples(capture: dict[str, Any]) -> list[dict[str, Any]]:
    names = list(GAMESTREAM_STAGES)
    return [s for s in capture["samples"] if [t["name"] for t in s["stages"]] == names]


@pytest.fixture(scope="module")
def h264_run(host: Host, client_state: Path) -> Run:
    """720p60 H.264 for 5 s with a capture armed, an IDR request at 2 s and a mouse move."""
    return captured_run(host, client_state, "--codec", "h264", "--idr-at", "2", "--input-at", "1")


# -- what the client's depacketizer needs of a keyframe ----------------------------------

# NAL unit types of a keyframe's picture: H.264 IDR slice; HEVC IDR (the CRA and BLA
# types are random-access points too, but a requested keyframe must be an IDR).
IDR_TYPES = {"h264": {5}, "hevc": {19, 20}}


def nal_types(data: bytes, codec: str) -> list[int]:
    headers = [data[m.end()] for m in re.finditer(b"\x00\x00\x01", data[:-1])]
    return [h & 0x1F if codec == "h264" else (h >> 1) & 0x3F for h in headers]


@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_a_keyframe_picture_starts_in_its_first_datagram(codec: str) -> None:
    """Moonlight looks for a keyframe's picture slice (after the parameter sets) only in
    the frame's first datagram; when it is not there, the client drops every frame while
    it waits for an IDR. x265's version SEI alone used to fill two datagrams."""
    encoder = VideoEncoder(EncoderSettings(codec, 1280, 720, 60, 10_000), CPU_ENCODERS[codec])
    # Smaller than the usual 1392 bytes, for margin.
    packetizer = VideoPacketizer(packet_size=1024)
    noise = np.random.default_rng(1).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    try:
        for index, keyframe in enumerate([True, False, True]):  # the first one, then asked
            frame = VideoFrame.from_ndarray(np.roll(noise, index, axis=1), format="rgb24")
            unit, is_key = encoder.encode(
                encoder.prepare(frame.reformat(format="yuv420p"), keyframe)
            )
            assert is_key == keyframe
            if not keyframe:
                continue
            first = packetizer.packetize(
                unit, frame_index=index + 1, is_idr=True, host_latency_us=1000,
                timestamp_90khz=0,
            )[0]  # fmt: skip
            in_first = nal_types(first[HEADER_SIZE + FRAME_HEADER_SIZE :], codec)
            assert IDR_TYPES[codec] & set(in_first), (in_first, nal_types(unit, codec))
    finally:
        encoder.close()


# -- streaming ------------------------------------------------------------------------


def test_h264_720p60_decodes_what_the_host_sent(h264_run: Run) -> None:
    report = h264_run.report
    assert report["expected"] >= 120, said(report)  # frames of two seconds at least
    assert decoded_share(report) >= 0.95, said(report)
    assert report["host_ended"] is False


def test_the_first_frame_arrives_within_two_seconds_of_launch(h264_run: Run) -> None:
    first = h264_run.report["first_frame_s"]
    assert first is not None, said(h264_run.report)
    assert first < 2.0, said(h264_run.report)


def test_every_frame_header_carries_the_host_latency(h264_run: Run) -> None:
    report = h264_run.report
    assert report["zero_latency_frames"] == 0, said(report)
    assert report["latency_us_min"] > 0, said(report)
    # The host's own figure (capture start until the sender takes the frame): milliseconds.
    assert report["latency_us_p50"] < 100_000, said(report)


def test_a_keyframe_follows_an_idr_request(h264_run: Run) -> None:
    report = h264_run.report
    asked = report["idr_requested_at"]
    assert asked is not None, said(report)
    assert report["idr_numbers"][0] == report["first_number"]  # a stream starts with one
    after = [n for n in report["idr_numbers"] if n > asked]
    assert after, said(report)
    assert after[0] - asked <= 10, said(report)


@pytest.mark.parametrize("codec", ["hevc", "av1"])
def test_hevc_and_av1_stream_too(host: Host, client_state: Path, codec: str) -> None:
    report = streamed(host, client_state, "--codec", codec)
    assert report["decoded"] > 0, said(report)
    assert decoded_share(report) >= 0.90, said(report)
    assert report["zero_latency_frames"] == 0, said(report)
    # The client's first frame is a keyframe by the bitstream, not only by its header.
    assert report["idr_numbers"][:1] == [report["first_number"]], said(report)


# -- capture ------------------------------------------------------------------------


def test_a_capture_records_the_gamestream_session_with_every_stage(h264_run: Run) -> None:
    meta, samples = h264_run.capture["meta"], h264_run.capture["samples"]
    assert (meta["kind"], meta["client"], meta["sessions"]) == ("gamestream", CLIENT_NAME, 1)
    assert (meta["width"], meta["height"], meta["fps"], meta["codec"]) == (1280, 720, 60, "h264")
    assert gamestream_samples(h264_run.capture) == samples
    assert len(samples) >= 4, samples  # 5 s of ~1 s windows
    for sample in samples:
        timings = {t["name"]: t["p50_us"] for t in sample["stages"]}
        assert all(us > 0 for us in timings.values()), sample
        assert sample["host_p50_us"] > 0
        assert sample["rtt_us"] is not None, sample
        assert sample["fps"] > 0
    # ~1 s windows; the last one may be the partial window the session ended in.
    spacing = [b["t_ms"] - a["t_ms"] for a, b in itertools.pairwise(samples[:-1])]
    assert spacing, samples
    assert all(700 <= ms <= 1400 for ms in spacing), spacing
    assert sum(s["input_events"] or 0 for s in samples) >= 1  # the mouse move


def test_one_capture_holds_a_native_and_a_gamestream_session(
    other_host: StartHost, client_state: Path
) -> None:
    running = other_host("--demo")
    serve = running.serve
    wait_for(lambda: live_sessions(serve, "native") == 1, 30, "the native demo session")
    run = captured_run(running, client_state, "--codec", "h264")
    assert decoded_share(run.report) > 0.5, said(run.report)
    by_session: dict[int, set[tuple[str, ...]]] = {}
    for sample in run.capture["samples"]:
        stages = tuple(t["name"] for t in sample["stages"])
        by_session.setdefault(sample["session_id"], set()).add(stages)
    assert sorted(by_session.values(), key=sorted) == sorted(
        [{NATIVE_STAGES}, {GAMESTREAM_STAGES}], key=sorted
    ), by_session
    assert run.capture["meta"]["sessions"] == 2


# -- FEC ------------------------------------------------------------------------------


def test_fec_recovers_datagrams_the_host_drops(other_host: StartHost, client_state: Path) -> None:
    running = other_host("--gamestream-loss-percent", "3")
    run = captured_run(running, client_state, "--codec", "h264")
    assert decoded_share(run.report) >= 0.90, said(run.report)
    samples = gamestream_samples(run.capture)
    assert samples
    # The client reports each FEC block it had to repair: with datagrams lost on
    # purpose, the samples carry measured repairs, not null.
    assert sum(s["fec_recovered"] or 0 for s in samples) > 0, samples
    assert sum(s["packets_dropped"] or 0 for s in samples) > 0, samples


# -- ending ------------------------------------------------------------------------------


def test_a_client_that_quits_ends_its_session(host: Host, client_state: Path) -> None:
    serve = host.serve
    before = our_segments()
    report = streamed(host, client_state, seconds=2)
    assert report["frames"] > 0, said(report)
    wait_for(
        lambda: log_lines(serve, f"stream of {CLIENT_NAME} ended (the client quit)"),
        END_S,
        "the host logging the client's quit",
    )
    wait_for(lambda: live_sessions(serve) == 0, END_S, "the session leaving /metrics")
    wait_for(lambda: our_segments() <= before, END_S, "the session's shared memory released")
    assert serve.api("GET", "/gamestream/status").status_code == 200


def test_a_client_that_vanishes_times_out(host: Host, client_state: Path) -> None:
    serve = host.serve
    before = our_segments()
    ended_before = len(log_lines(serve, f"stream of {CLIENT_NAME} ended"))
    client = stream(host, client_state, "--forever")
    try:
        wait_for(lambda: live_sessions(serve) == 1, 30, "the stream's first window")
        client.kill()
        wait_for(lambda: live_sessions(serve) == 0, VANISH_S, "the silent session's end")
    finally:
        client.close()
    [ended] = log_lines(serve, f"stream of {CLIENT_NAME} ended")[ended_before:]
    assert "control stream" in ended, ended
    wait_for(lambda: our_segments() <= before, END_S, "the session's shared memory released")
    # The host is free for the client again.
    report = streamed(host, client_state, seconds=1)
    assert report["frames"] > 0, said(report)


def test_host_sigterm_saves_the_running_capture(other_host: StartHost, client_state: Path) -> None:
    running = other_host()
    serve = running.serve
    before = our_segments()
    assert serve.api("POST", "/stats/capture/start").json()["armed"] is True
    client = stream(running, client_state, "--forever")
    try:
        wait_for(
            lambda: len(serve.api("GET", "/stats/capture/live").json()["samples"]) >= 2,
            30,
            "two windows of the stream",
        )
        assert stop_host(serve) == 0
        # The host told the client it ended the stream.
        report = client.report(timeout=30)
    finally:
        client.close()
    assert report["host_ended"] is True, said(report)
    assert log_lines(serve, "saved the running capture")
    [path] = (serve.config / "captures").glob("*.json")
    capture = json.loads(path.read_text())
    assert (capture["meta"]["kind"], capture["meta"]["client"]) == ("gamestream", CLIENT_NAME)
    assert len(gamestream_samples(capture)) >= 2
    assert our_segments() <= before
