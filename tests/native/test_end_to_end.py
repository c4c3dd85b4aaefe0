"""The native path end to end on loopback: real processes, sockets, PyAV, shared memory."""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import struct
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from host.native import messages
from host.native.tls import CERT_FILE, KEY_FILE
from ipc import Counter, FrameFlags
from tests.support.native import HostThread, client_command, run_client
from tests.support.shm import SHM_DIR


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_720p60_h264_with_5_percent_loss_decodes_nearly_every_frame(
    native_host: Callable[..., HostThread],
) -> None:
    host = native_host()
    frames, sends = [], []

    def drain(session) -> None:  # type: ignore[no-untyped-def]
        frames.append(session.frame_ring.reader(from_start=True).read())
        sends.append(session.send_ring.reader(from_start=True).read())

    host.observer.on_ending = drain
    report = run_client(host.address, "--seconds", "5", "--loss", "5")

    wait_for(lambda: host.observer.ended, 10, "the session to end")
    ((_, counters),) = host.observer.ended
    sent = counters[Counter.FRAMES_NEW] + counters[Counter.FRAMES_REPEAT]
    assert sent >= 250  # 5 s at 60 fps on a busy 2-core machine
    assert report["frames_decoded"] >= 0.95 * sent
    seen = report["packets_received"] + report["packets_lost"]
    assert 0.03 * seen <= report["packets_lost"] <= 0.07 * seen
    # Gaps in the sequence numbers are what the client can count: every injected drop
    # except those after the last datagram it received (a frame's worth at most).
    assert report["packets_lost"] >= report["packets_injected_loss"] - 10
    assert report["fec_recovered"] > 0
    # The host learned it from the client's feedback.
    assert counters[Counter.FEEDBACK_REPORTS] >= 5
    assert counters[Counter.FEC_RECOVERED] > 0
    assert counters[Counter.PACKETS_LOST] > 0

    (frame_records,), (send_records,) = frames, sends
    assert len(frame_records) == sent  # measured every frame (perf is on)
    assert np.all(frame_records["capture_us"] > 0)
    assert np.all(frame_records["encode_us"] > 0)
    assert "submit_us" in frame_records.dtype.names
    assert frame_records["flags"][0] & FrameFlags.KEYFRAME
    assert len(send_records) >= sent - 2  # the last frames may be cut off by the stop
    assert np.all(send_records["send_us"] > 0)
    assert np.all(send_records["done_ts_ns"] > send_records["capture_ts_ns"])
    assert np.all(send_records["datagrams"] > send_records["parity_shards"])


def test_nothing_is_measured_while_neither_perf_nor_armed(
    native_host: Callable[..., HostThread],
) -> None:
    host = native_host(perf=False)
    counts: list[int] = []
    host.observer.on_ending = lambda s: counts.append(
        len(s.frame_ring.reader(from_start=True).read())
    )
    run_client(host.address, "--seconds", "1")
    wait_for(lambda: host.observer.ended, 10, "the session to end")
    assert counts == [0]
    ((_, counters),) = host.observer.ended
    assert counters[Counter.FRAMES_NEW] > 0  # counters run regardless


def test_measuring_follows_the_armed_flag_at_runtime(
    native_host: Callable[..., HostThread],
) -> None:
    host = native_host(perf=False)
    client = subprocess.Popen(client_command(host.address, "--seconds", "4"))
    try:
        wait_for(lambda: host.host.sessions, 20, "a session")
        (session,) = host.host.sessions.values()
        reader = session.frame_ring.reader()
        time.sleep(0.5)
        assert len(reader.read()) == 0
        host.control.set_armed(True)
        time.sleep(1.0)
        armed = reader.read()
        host.control.set_armed(False)
        time.sleep(0.3)
        reader.read()
        time.sleep(0.5)
        assert len(armed) >= 30
        assert len(reader.read()) == 0
    finally:
        client.wait(30)


def test_a_slow_source_produces_flagged_repeats(native_host: Callable[..., HostThread]) -> None:
    host = native_host(source="synthetic@20")
    flags: list[np.ndarray] = []
    host.observer.on_ending = lambda s: flags.append(
        s.frame_ring.reader(from_start=True).read()["flags"]
    )
    run_client(host.address, "--seconds", "2", "--mode", "640x360@60")
    wait_for(lambda: host.observer.ended, 10, "the session to end")
    ((_, counters),) = host.observer.ended
    assert counters[Counter.FRAMES_REPEAT] > counters[Counter.FRAMES_NEW] > 0
    repeats = int(np.count_nonzero(flags[0] & FrameFlags.REPEAT))
    assert repeats == counters[Counter.FRAMES_REPEAT]


@pytest.mark.parametrize("codec", ["hevc", "av1"])
def test_hevc_and_av1_stream_and_decode(native_host: Callable[..., HostThread], codec: str) -> None:
    host = native_host()
    report = run_client(host.address, "--seconds", "2", "--codec", codec, "--mode", "640x360@30")
    assert report["codec"] == codec
    assert report["encoder"] in {"libx265", "libsvtav1", f"{codec}_nvenc"}
    assert report["frames_decoded"] >= 30
    assert report["frames_unrecoverable"] == 0


def test_a_client_that_disappears_is_torn_down_and_its_memory_released(
    native_host: Callable[..., HostThread],
) -> None:
    host = native_host()
    client = subprocess.Popen(client_command(host.address))
    try:
        wait_for(lambda: host.host.sessions, 20, "a session")
        (session,) = host.host.sessions.values()
        wait_for(lambda: session.counters.get(Counter.FEEDBACK_REPORTS) > 0, 10, "feedback")
        names = [session.frame_ring.name, session.send_ring.name, session.counters.name]
        pids = list(session.pids.values())
        client.send_signal(signal.SIGKILL)
        wait_for(lambda: not host.host.sessions, 10, "the session to be torn down")
        wait_for(lambda: not any(_alive(pid) for pid in pids), 5, "the processes to exit")
        assert not any((SHM_DIR / name).exists() for name in names)
    finally:
        client.kill()
        client.wait()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it has exited for our purposes.
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split()[2] != "Z"


def test_a_stalled_sender_makes_the_encoder_drop_frames_not_queue_them(
    native_host: Callable[..., HostThread],
) -> None:
    host = native_host()
    client = subprocess.Popen(client_command(host.address, "--seconds", "6"))
    try:
        wait_for(lambda: host.host.sessions, 20, "a session")
        (session,) = host.host.sessions.values()
        wait_for(lambda: session.counters.get(Counter.FRAMES_NEW) > 30, 10, "frames")
        before = session.counters.get(Counter.FRAMES_DROPPED)
        os.kill(session.pids["send"], signal.SIGSTOP)
        try:
            time.sleep(1.5)
        finally:
            os.kill(session.pids["send"], signal.SIGCONT)
        # The capture loop was blocked on the full pipe (no queue grew anywhere); on
        # resuming it counts every tick it missed (~60/s) instead of catching up.
        wait_for(
            lambda: session.counters.get(Counter.FRAMES_DROPPED) - before >= 60,
            5,
            "the missed ticks to be counted as dropped frames",
        )
    finally:
        client.wait(30)


# -- the control channel under attack ------------------------------------------------


async def _raw_exchange(address: tuple[str, int], payload: bytes) -> messages.Message | None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection(*address, ssl=context)
    try:
        writer.write(payload)
        await writer.drain()
        try:
            return await messages.read_message(reader, idle_timeout=10)
        except EOFError:
            return None
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        (struct.pack(">I", 5) + b"\xc1\xc1\xc1\xc1\xc1", "undecodable"),
        (struct.pack(">I", 10**6), "limit"),
        (messages.encode(messages.Bye()), "expected hello"),
        (
            messages.encode(
                messages.Hello(
                    version=99,
                    client="x",
                    width=640,
                    height=360,
                    fps=30,
                    codec="h264",
                    bitrate_kbps=1000,
                    udp_port=9,
                )
            ),
            "version 99",
        ),
    ],
)
def test_a_malformed_control_message_ends_only_that_connection(
    native_host: Callable[..., HostThread], payload: bytes, complaint: str
) -> None:
    host = native_host()
    streaming = subprocess.Popen(client_command(host.address, "--seconds", "4"))
    try:
        wait_for(lambda: host.host.sessions, 20, "a session")
        (session,) = host.host.sessions.values()
        answer = asyncio.run(_raw_exchange(host.address, payload))
        assert isinstance(answer, messages.Error)
        assert complaint in answer.message
        frames = session.counters.get(Counter.FRAMES_NEW)
        time.sleep(0.5)
        assert session.counters.get(Counter.FRAMES_NEW) > frames  # still streaming
        assert list(host.host.sessions) == [session.session_id]
    finally:
        assert streaming.wait(30) == 0
    # ...and the host still takes new clients.
    assert run_client(host.address, "--seconds", "1")["frames_decoded"] > 0


def test_plain_tcp_garbage_does_not_disturb_the_host(
    native_host: Callable[..., HostThread],
) -> None:
    host = native_host()

    async def garbage() -> None:
        reader, writer = await asyncio.open_connection(*host.address)
        writer.write(os.urandom(4096))
        await writer.drain()
        await reader.read()  # the host drops us
        writer.close()

    asyncio.run(asyncio.wait_for(garbage(), 15))
    assert run_client(host.address, "--seconds", "1")["frames_decoded"] > 0


def test_the_client_refuses_a_host_whose_certificate_changed(
    native_host: Callable[..., HostThread], isolated_config: Path
) -> None:
    first = native_host()
    port = first.address[1]
    assert run_client(first.address, "--seconds", "0.5")["frames_decoded"] >= 0
    first.close()
    (isolated_config / CERT_FILE).unlink()
    (isolated_config / KEY_FILE).unlink()
    second = native_host(port=port)
    result = subprocess.run(
        client_command(second.address, "--seconds", "1"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "certificate of 127.0.0.1" in result.stderr
    assert "changed" in result.stderr
    assert "known_hosts.json" in result.stderr
    assert not second.host.sessions


def test_a_source_that_cannot_open_fails_the_session_and_the_client_hears_why(
    native_host: Callable[..., HostThread],
) -> None:
    host = native_host(source="x11:77")  # no X server on display :77
    result = subprocess.run(
        client_command(host.address, "--seconds", "5"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "cannot grab X11 display ':77'" in result.stderr.splitlines()[-1]
    wait_for(lambda: not host.host.sessions, 10, "the failed session to be cleaned up")
