"""The native path end to end on loopback: real processes, sockets, PyAV, shared memory."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
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

from host.native import channel, messages, server
from host.native.channel import receive
from host.native.session import NativeSession
from host.native.tls import CERT_FILE, KEY_FILE, KNOWN_HOSTS_FILE
from ipc import Counter, FrameFlags
from tests.support.cli import one_error_line
from tests.support.native import (
    Client,
    HostThread,
    client_command,
    stream_until,
)
from tests.support.shm import SHM_DIR
from tests.support.waiting import wait_for


def decoded(at_least: int) -> Callable[[NativeSession], bool]:
    """The client has reported (in its feedback) decoding `at_least` frames."""
    return lambda session: session.counters.get(Counter.FRAMES_DECODED) >= at_least


def encoded(at_least: int) -> Callable[[NativeSession], bool]:
    return lambda session: session.counters.get(Counter.FRAMES_NEW) >= at_least


def test_720p60_h264_with_5_percent_loss_decodes_nearly_every_frame(
    native_host: Callable[..., HostThread],
) -> None:
    host = native_host()
    frames, sends = [], []

    def drain(session) -> None:  # type: ignore[no-untyped-def]
        frames.append(session.frame_ring.reader(from_start=True).read())
        sends.append(session.send_ring.reader(from_start=True).read())

    host.observer.on_ending = drain
    report = stream_until(host, decoded(300), "--loss", "5", what="5 s of frames decoded")

    wait_for(lambda: host.observer.ended, 10, "the session to end")
    ((_, counters),) = host.observer.ended
    sent = counters[Counter.FRAMES_NEW] + counters[Counter.FRAMES_REPEAT]
    # The host keeps sending until it reads the bye, after the client stopped listening,
    # so loss recovery is judged over the client's window: frames 0 .. frames_total - 1,
    # each of which it decoded, lost, or skipped while waiting for a keyframe.
    window = report["frames_total"]
    assert 300 <= window <= sent
    fates = ("frames_decoded", "frames_unrecoverable", "frames_skipped", "decode_errors")
    assert sum(report[fate] for fate in fates) == window
    assert report["frames_decoded"] >= 0.95 * window
    seen = report["packets_received"] + report["packets_lost"]
    assert 0.03 * seen <= report["packets_lost"] <= 0.07 * seen
    # Gaps in the sequence numbers are what the client can count: every injected drop
    # except those after the last datagram it received (a frame's worth at most).
    assert report["packets_lost"] >= report["packets_injected_loss"] - 10
    assert report["fec_recovered"] > 0
    # The host learned it from the client's feedback (every 0.5 s; 300 frames at 60 fps
    # take 5 s at least).
    assert counters[Counter.FEEDBACK_REPORTS] >= 10
    assert counters[Counter.FEC_RECOVERED] > 0
    assert counters[Counter.PACKETS_LOST] > 0

    (frame_records,), (send_records,) = frames, sends
    # Every frame was measured (perf is on), once and in order; the send process may not
    # have taken the last few from the pipe when it was stopped, but it sent every frame
    # of the client's window.
    assert np.array_equal(frame_records["frame_index"], np.arange(sent))
    assert np.array_equal(send_records["frame_index"], np.arange(len(send_records)))
    assert window <= len(send_records) <= sent
    assert np.all(frame_records["capture_us"] > 0)
    assert np.all(frame_records["encode_us"] > 0)
    assert "submit_us" in frame_records.dtype.names
    assert frame_records["flags"][0] & FrameFlags.KEYFRAME
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
    stream_until(host, encoded(30))  # counters run regardless...
    wait_for(lambda: host.observer.ended, 10, "the session to end")
    assert counts == [0]  # ...but no frame was recorded


def test_measuring_follows_the_armed_flag_at_runtime(
    native_host: Callable[..., HostThread],
) -> None:
    host = native_host(perf=False)
    with Client(host.address) as client:
        client.wait_for(lambda: host.host.sessions, 20, "a session")
        (session,) = host.host.sessions.values()
        reader = session.frame_ring.reader()

        def frames_pass(count: int) -> None:
            target = session.counters.get(Counter.FRAMES_NEW) + count
            wait_for(lambda: session.counters.get(Counter.FRAMES_NEW) >= target, 20, "frames")

        frames_pass(30)
        assert len(reader.read()) == 0
        host.control.set_armed(True)
        armed = 0

        def thirty_recorded() -> bool:
            nonlocal armed
            armed += len(reader.read())
            return armed >= 30

        wait_for(thirty_recorded, 20, "frames to be recorded while armed")
        host.control.set_armed(False)
        # A frame reads the flag when it starts and is recorded after it is counted, so
        # once two more frames are counted nothing started while armed is still unwritten.
        frames_pass(2)
        reader.read()
        frames_pass(30)
        assert len(reader.read()) == 0
        client.stop()


def test_a_slow_source_produces_flagged_repeats(native_host: Callable[..., HostThread]) -> None:
    host = native_host(source="synthetic@20")
    flags: list[np.ndarray] = []
    host.observer.on_ending = lambda s: flags.append(
        s.frame_ring.reader(from_start=True).read()["flags"]
    )
    stream_until(host, encoded(10), "--mode", "640x360@60")
    wait_for(lambda: host.observer.ended, 10, "the session to end")
    ((_, counters),) = host.observer.ended
    assert counters[Counter.FRAMES_REPEAT] > counters[Counter.FRAMES_NEW] >= 10
    repeats = int(np.count_nonzero(flags[0] & FrameFlags.REPEAT))
    assert repeats == counters[Counter.FRAMES_REPEAT]


@pytest.mark.parametrize("codec", ["hevc", "av1"])
def test_hevc_and_av1_stream_and_decode(native_host: Callable[..., HostThread], codec: str) -> None:
    host = native_host()
    report = stream_until(host, decoded(30), "--codec", codec, "--mode", "640x360@30")
    assert report["codec"] == codec
    assert report["encoder"] in {"libx265", "libsvtav1", f"{codec}_nvenc"}
    assert report["frames_decoded"] >= 30
    assert report["frames_unrecoverable"] == 0


def test_a_client_that_disappears_is_torn_down_and_its_memory_released(
    native_host: Callable[..., HostThread],
) -> None:
    host = native_host()
    with Client(host.address) as client:
        client.wait_for(lambda: host.host.sessions, 20, "a session")
        (session,) = host.host.sessions.values()
        client.wait_for(lambda: session.counters.get(Counter.FEEDBACK_REPORTS) > 0, 10, "feedback")
        names = [session.frame_ring.name, session.send_ring.name, session.counters.name]
        pids = list(session.pids.values())
        client.process.kill()
        wait_for(lambda: not host.host.sessions, 10, "the session to be torn down")
        wait_for(lambda: not any(_alive(pid) for pid in pids), 5, "the processes to exit")
        assert not any((SHM_DIR / name).exists() for name in names)


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
    with Client(host.address) as client:
        client.wait_for(lambda: host.host.sessions, 20, "a session")
        (session,) = host.host.sessions.values()
        client.wait_for(lambda: session.counters.get(Counter.FRAMES_NEW) > 30, 20, "frames")
        before = session.counters.get(Counter.FRAMES_DROPPED)
        os.kill(session.pids["send"], signal.SIGSTOP)
        try:
            # The capture loop blocks on the full pipe instead of queueing: no frame is
            # counted for a second and a half (at 60 fps one comes every 17 ms).
            still = Stillness(lambda: session.counters.get(Counter.FRAMES_NEW))
            wait_for(lambda: still.for_s() >= 1.5, 20, "the capture loop to block")
        finally:
            os.kill(session.pids["send"], signal.SIGCONT)
        # On resuming it counts every tick it missed (~60/s) instead of catching up.
        wait_for(
            lambda: session.counters.get(Counter.FRAMES_DROPPED) - before >= 60,
            10,
            "the missed ticks to be counted as dropped frames",
        )
        client.stop()


class Stillness:
    """How long a value has not changed, watched by polling."""

    def __init__(self, value: Callable[[], int]) -> None:
        self.value = value
        self.last = value()
        self.since = time.monotonic()

    def for_s(self) -> float:
        now, current = time.monotonic(), self.value()
        if current != self.last:
            self.last, self.since = current, now
        return now - self.since


# -- the control channel under attack ------------------------------------------------


async def _raw_exchange(address: tuple[str, int], payload: bytes) -> messages.Message | None:
    reader, writer = await _tls_connection(address)
    try:
        writer.write(payload)
        await writer.drain()
        try:
            return await receive(reader, messages.MessageDecoder(), idle_timeout=10)
        except EOFError:
            return None
    finally:
        await _closed(writer)


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
    with Client(host.address) as streaming:
        streaming.wait_for(lambda: host.host.sessions, 20, "a session")
        (session,) = host.host.sessions.values()
        answer = asyncio.run(_raw_exchange(host.address, payload))
        assert isinstance(answer, messages.Error)
        assert complaint in answer.message
        # The other session goes on: its client keeps decoding and telling the host.
        before = session.counters.get(Counter.FRAMES_DECODED)
        streaming.wait_for(lambda: decoded(before + 30)(session), 30, "the stream to go on")
        assert list(host.host.sessions) == [session.session_id]
        assert streaming.stop()["frames_decoded"] >= before + 30
    # ...and the host still takes new clients.
    assert stream_until(host, decoded(1))["frames_decoded"] > 0


async def _tls_connection(
    address: tuple[str, int],
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return await asyncio.open_connection(*address, ssl=context)


async def _closed(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        await writer.wait_closed()


HELLO = messages.Hello(
    version=messages.PROTOCOL_VERSION,
    client="raw",
    width=640,
    height=360,
    fps=30,
    codec="h264",
    bitrate_kbps=1000,
    udp_port=9,
)


def test_a_connection_that_never_says_hello_is_dropped(
    native_host: Callable[..., HostThread], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "HELLO_TIMEOUT_S", 0.5)
    host = native_host()

    async def silent() -> bytes:
        reader, writer = await _tls_connection(host.address)
        try:
            return await reader.read()  # the host hangs up: EOF
        finally:
            await _closed(writer)

    assert asyncio.run(asyncio.wait_for(silent(), 15)) == b""
    assert not host.observer.started


def test_a_peer_that_stalls_inside_its_hello_hears_why(
    native_host: Callable[..., HostThread], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(channel, "STALL_TIMEOUT_S", 0.5)
    host = native_host()
    answer = asyncio.run(
        asyncio.wait_for(_raw_exchange(host.address, messages.encode(HELLO)[:9]), 15)
    )
    assert isinstance(answer, messages.Error)
    assert "stalled" in answer.message
    assert not host.observer.started


def test_a_client_that_goes_silent_loses_its_session(
    native_host: Callable[..., HostThread], caplog: pytest.LogCaptureFixture
) -> None:
    host = native_host(feedback_timeout_s=2.0)

    async def hello_then_silence() -> tuple[messages.Message, messages.Message | None]:
        reader, writer = await _tls_connection(host.address)
        decoder = messages.MessageDecoder()
        try:
            writer.write(messages.encode(HELLO))
            await writer.drain()
            welcome = await receive(reader, decoder, idle_timeout=30)
            try:  # and then say nothing: the host ends the session and hangs up
                return welcome, await receive(reader, decoder, idle_timeout=30)
            except EOFError:
                return welcome, None
        finally:
            await _closed(writer)

    with caplog.at_level(logging.INFO, logger="host.native.server"):
        welcome, after = asyncio.run(hello_then_silence())
        assert isinstance(welcome, messages.Welcome)
        assert after is None
        wait_for(lambda: host.observer.ended, 10, "the session to end")
    assert not host.host.sessions
    assert any("no feedback for 2 s" in r.getMessage() for r in caplog.records), caplog.text


def test_plain_tcp_garbage_does_not_disturb_the_host(
    native_host: Callable[..., HostThread],
) -> None:
    host = native_host()

    async def garbage() -> bytes:
        reader, writer = await asyncio.open_connection(*host.address)
        try:
            writer.write(os.urandom(4096))
            await writer.drain()
            return await reader.read()  # until the host drops us
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    with contextlib.suppress(ConnectionError):  # dropped with a reset rather than a FIN
        asyncio.run(asyncio.wait_for(garbage(), 15))
    assert not host.host.sessions
    assert stream_until(host, decoded(1))["frames_decoded"] > 0


def test_the_client_refuses_a_host_whose_certificate_changed(
    native_host: Callable[..., HostThread], isolated_config: Path
) -> None:
    first = native_host()
    port = first.address[1]
    stream_until(first, lambda session: session.counters.get(Counter.FEEDBACK_REPORTS) > 0)
    pinned = json.loads((isolated_config / KNOWN_HOSTS_FILE).read_text())
    assert pinned == {f"127.0.0.1:{port}": first.host.identity.fingerprint}
    first.close()
    (isolated_config / CERT_FILE).unlink()
    (isolated_config / KEY_FILE).unlink()
    second = native_host(port=port)
    assert second.host.identity.fingerprint != first.host.identity.fingerprint
    result = subprocess.run(
        client_command(second.address, "--seconds", "1"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    line = one_error_line(result)
    assert line.startswith(f"punktfunk client: the certificate of 127.0.0.1:{port} changed")
    assert KNOWN_HOSTS_FILE in line
    assert not second.host.sessions
    # The refusal changed nothing: the first host's certificate stays pinned.
    assert json.loads((isolated_config / KNOWN_HOSTS_FILE).read_text()) == pinned


def test_a_source_that_cannot_open_fails_the_session_and_the_client_hears_why(
    native_host: Callable[..., HostThread],
) -> None:
    host = native_host(source="x11:77")  # no X server on display :77
    result = subprocess.run(
        client_command(host.address),  # streams until the host ends the session
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "cannot grab X11 display ':77'" in result.stderr.splitlines()[-1]
    wait_for(lambda: not host.host.sessions, 10, "the failed session to be cleaned up")
