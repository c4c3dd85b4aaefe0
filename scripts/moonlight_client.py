#!/usr/bin/env python3
"""A headless Moonlight client for the demo and the tests: pair, launch, stream, report.

It drives `moonlight-python` (moonlight-common-c, the library inside every Moonlight
client, with PyAV decoding). moonlight-python is GPL-3.0, so it is a test and demo
dependency only: this script runs in its own process and nothing in host/ or mgmt/
imports it. moonlight-common-c keeps one connection per process, so does this script.

    moonlight_client.py HOST [--port 47989] [--pin 1234] [--seconds 5] [--json]

With `--pin` it pairs first (the host holds the pairing until the operator, or the
test, hands the host the same PIN). With `--seconds` it streams that long, decoding
every frame, then quits the app (`cancel`) and prints one JSON report with `--json`:
frames received and pictures decoded, the frame-number range the host sent in that
time (`expected`), the host processing latency from the frame headers (`latency_us_*`,
in microseconds; the header carries 0.1 ms units), time to first frame, the frame
numbers of keyframes, audio packets. `--forever` streams until killed (the demo).
Exit 0 on success, 1 with one stderr line on failure.

Frames are decoded on a thread of their own, and with `--seconds` only once the time
is up: moonlight-common-c queues at most 15 frames and, when the application does not
take them in time, flushes the queue and asks the host for an IDR, so decoding in the
pulling loop (or competing with it for a busy machine's CPU) would measure this
machine's decoder rather than the stream. `--forever` decodes as frames come.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import re
import signal
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MODE = re.compile(r"^(\d+)x(\d+)@(\d+)$")
DECODERS = {"h264": "h264", "hevc": "hevc", "av1": "libdav1d"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("host")
    parser.add_argument("--port", type=int, default=47989, help="the host's HTTP port")
    parser.add_argument("--config", type=Path, default=Path("~/.moonlight-python"))
    parser.add_argument("--pin", help="pair first with this 4-digit PIN")
    parser.add_argument("--pair-only", action="store_true", help="pair, then exit")
    parser.add_argument("--app", default="Desktop")
    parser.add_argument("--mode", default="1280x720@60", help="WxH@FPS")
    parser.add_argument("--codec", default="h264", choices=("h264", "hevc", "av1"))
    parser.add_argument("--bitrate", type=int, default=10_000, metavar="KBPS")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--forever", action="store_true", help="stream until killed")
    parser.add_argument("--audio", action="store_true", help="receive and decode audio")
    parser.add_argument("--idr-at", type=float, default=None, metavar="S", help="ask for an IDR")
    parser.add_argument("--input-at", type=float, default=None, metavar="S", help="move the mouse")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        metavar="N",
        help="add N to this process's niceness (negative: more CPU; best effort)",
    )
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


class Report:
    def __init__(self) -> None:
        self.frames = 0
        self.decoded = 0
        self.undecoded = 0  # frames skipped or not decoded by the time the report was due
        self.first_number: int | None = None
        self.last_number: int | None = None
        self.idr_numbers: list[int] = []
        self.latency_field: list[int] = []  # the frame header's 0.1 ms units
        self.first_frame_s: float | None = None
        self.streamed_s = 0.0
        self.idr_requested_at: int | None = None  # frame number when the IDR was asked for
        self.host_ended = False
        self.audio_packets = 0
        self.audio_samples: list[Any] = []
        self.audio_rate = 48_000

    def as_dict(self) -> dict[str, Any]:
        expected = (
            self.last_number - self.first_number + 1
            if self.first_number is not None and self.last_number is not None
            else 0
        )
        latency_us = [field * 100 for field in self.latency_field]
        out: dict[str, Any] = {
            "frames": self.frames,
            "decoded": self.decoded,
            "undecoded": self.undecoded,
            "first_number": self.first_number,
            "last_number": self.last_number,
            "expected": expected,
            "first_frame_s": self.first_frame_s,
            "streamed_s": round(self.streamed_s, 3),
            "latency_us_min": min(latency_us) if latency_us else None,
            "latency_us_p50": statistics.median(latency_us) if latency_us else None,
            "latency_us_max": max(latency_us) if latency_us else None,
            "zero_latency_frames": sum(1 for v in latency_us if v == 0),
            "idr_numbers": self.idr_numbers[:50],
            "idr_requested_at": self.idr_requested_at,
            "host_ended": self.host_ended,
            "audio_packets": self.audio_packets,
        }
        out.update(self._audio_tone())
        return out

    def _audio_tone(self) -> dict[str, Any]:
        if not self.audio_samples:
            return {"audio_seconds": 0.0, "audio_peak_hz": None}
        import numpy as np

        mono = np.concatenate(
            [np.asarray(s, dtype=np.float64).reshape(-1) for s in self.audio_samples]
        )
        seconds = len(mono) / self.audio_rate / 2  # interleaved stereo
        left = mono[0::2]
        spectrum = np.abs(np.fft.rfft(left * np.hanning(len(left))))
        peak = float(np.argmax(spectrum[1:]) + 1) * self.audio_rate / len(left)
        return {"audio_seconds": round(seconds, 3), "audio_peak_hz": round(peak, 2)}


DECODE_DRAIN_S = 20.0  # the most the report waits for the decoder to catch up
MAX_DECODE_BACKLOG = 300  # access units waiting for the decoder (5 s at 60 fps)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mode = MODE.match(args.mode)
    if mode is None:
        print(f"moonlight_client: bad --mode {args.mode!r}", file=sys.stderr)
        return 2
    width, height, fps = (int(g) for g in mode.groups())
    if args.nice:
        # A real client has a machine of its own; sharing one with a busy host, its
        # receiving threads may be given precedence. Lowering niceness needs privileges
        # (CAP_SYS_NICE); without them the client runs as it is.
        with contextlib.suppress(OSError):
            os.nice(args.nice)
    try:
        from moonlight_python import MoonlightClient
        from moonlight_python.audio_decoder import AudioDecoder
    except ImportError:
        print("moonlight_client: moonlight-python is not installed", file=sys.stderr)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    client = MoonlightClient(config_dir=args.config.expanduser())
    report = Report()
    session = None
    decoder: VideoDecoder | None = None
    try:
        from moonlight_python.discovery import connect_to_server
        from moonlight_python.http_client import NvHTTP

        server = connect_to_server(args.host, client._identity, args.port)
        client._server = server
        client._http = NvHTTP(
            args.host,
            client._identity,
            http_port=args.port,
            https_port=server.https_port,
            server_cert_pem=server.server_cert_pem,
        )
        if args.pin:
            client.pair(server, pin=args.pin)
        if args.pair_only:
            return 0
        decoder = VideoDecoder(args.codec, live=args.forever)
        launched = time.monotonic()
        session, bundled_decoder = client._setup_stream(
            args.app, width, height, fps, args.bitrate, args.codec, record_audio=args.audio
        )
        bundled_decoder.close()
        watcher = threading.Thread(
            target=_watch, args=(session, stop, os.getppid()), name="watch", daemon=True
        )
        watcher.start()
        audio_thread = None
        if args.audio:
            audio_thread = threading.Thread(
                target=_pull_audio, args=(session, AudioDecoder, report, stop), daemon=True
            )
            audio_thread.start()
        _stream(session, decoder, report, args, launched, stop)
        stop.set()
        if audio_thread is not None:
            session.wake_audio()
            audio_thread.join(5)
        if not report.host_ended:
            # Frames keep coming until the host has our quit; nobody pulling them would
            # overflow the library's queue, which then asks the host for an IDR.
            with _discarding_frames(session):
                client._http.quit_app()
        report.decoded, report.undecoded = decoder.finish(DECODE_DRAIN_S)
    except Exception as exc:  # one line for the caller, whatever moonlight-python raised
        print(f"moonlight_client: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        stop.set()
        if decoder is not None:
            decoder.close()
        if session is not None:
            session.stop()
    if args.json:
        print(json.dumps(report.as_dict()), flush=True)
    return 0


def _stream(
    session: Any,
    decoder: VideoDecoder,
    report: Report,
    args: argparse.Namespace,
    launched: float,
    stop: threading.Event,
) -> None:
    """Pull frames until the time is up, the host ends the stream, or SIGTERM."""
    deadline = None if args.forever else launched + args.seconds
    if deadline is not None:
        # pull_frame blocks while no frame comes; wake it when the time is up.
        timer = threading.Timer(args.seconds + 0.5, lambda: (stop.set(), session.wake()))
        timer.daemon = True
        timer.start()
    idr_done = input_done = False
    while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
        frame = session.pull_frame()
        if frame is None:
            if stop.is_set():
                break
            if not session.is_connected:
                report.host_ended = True
                break
            continue
        now = time.monotonic()
        elapsed = now - launched
        if report.first_frame_s is None:
            report.first_frame_s = round(elapsed, 3)
        report.frames += 1
        if report.first_number is None:
            report.first_number = frame.frame_number
        report.last_number = frame.frame_number
        # moonlight-python names it _us, but it is the header's field: 0.1 ms units.
        report.latency_field.append(frame.host_processing_latency_us)
        keyframe = _is_idr(frame.annex_b_data, args.codec)
        if keyframe:
            report.idr_numbers.append(frame.frame_number)
        decoder.submit(frame.annex_b_data, keyframe)
        if args.idr_at is not None and not idr_done and elapsed >= args.idr_at:
            idr_done = True
            report.idr_requested_at = frame.frame_number
            session.request_idr()
        if args.input_at is not None and not input_done and elapsed >= args.input_at:
            input_done = True
            session.nudge_mouse(10, restore=False)
    report.streamed_s = time.monotonic() - launched


@contextlib.contextmanager
def _discarding_frames(session: Any) -> Iterator[None]:
    """Pull and drop frames while the body runs."""
    done = threading.Event()

    def discard() -> None:
        while not done.is_set() and session.is_connected:
            session.pull_frame()

    thread = threading.Thread(target=discard, name="discard", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        session.wake()
        thread.join(5)


class VideoDecoder:
    """PyAV decoding of the access units on a thread of its own, counting the pictures
    that come out. (FFmpeg's native AV1 decoder needs a hardware device; dav1d does
    not.) `live`: decode while streaming (a backlog beyond MAX_DECODE_BACKLOG skips to
    the next keyframe); otherwise keep the units and decode them in `finish`, so the
    decoder does not take CPU time from the host and the receiving threads."""

    def __init__(self, codec: str, *, live: bool) -> None:
        import av

        self._av = av
        self._live = live
        self._go = threading.Event()
        if live:
            self._go.set()
        self._ctx: Any = av.CodecContext.create(DECODERS[codec], "r")
        self._units: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._pending = 0
        self._pictures = 0
        self._skipped = 0
        self._skipping = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="decode", daemon=True)
        self._thread.start()

    def submit(self, data: bytes, keyframe: bool) -> None:
        with self._lock:
            if keyframe:
                self._skipping = False
            elif self._skipping or (self._live and self._pending >= MAX_DECODE_BACKLOG):
                # Far behind (a slow machine, --forever): skip to the next keyframe
                # rather than queue without bound.
                self._skipping = True
                self._skipped += 1
                return
            self._pending += 1
        self._units.put(data)

    def finish(self, timeout: float) -> tuple[int, int]:
        """Decode what was submitted (waiting at most `timeout`), then flush the decoder;
        returns (pictures decoded, access units skipped or not reached in time)."""
        self._units.put(None)
        self._go.set()
        self._thread.join(timeout)
        with self._lock:
            return self._pictures, self._pending + self._skipped

    def close(self) -> None:
        self._units.put(None)
        self._go.set()
        self._thread.join(5)

    def _run(self) -> None:
        ctx, av = self._ctx, self._av
        self._go.wait()
        while (data := self._units.get()) is not None:
            try:
                pictures = len(ctx.decode(av.Packet(data)))
            except av.FFmpegError:
                pictures = 0
            with self._lock:
                self._pending -= 1
                self._pictures += pictures
        try:
            flushed = len(ctx.decode(None))
        except av.FFmpegError:
            flushed = 0
        with self._lock:
            self._pictures += flushed


def _watch(session: Any, stop: threading.Event, parent: int) -> None:
    """Wake a blocked pull when told to stop (SIGTERM) or when the process that started
    us is gone: a host that vanished without a word must not leave this client behind."""
    while not stop.wait(1.0):
        if os.getppid() != parent:
            stop.set()
    session.wake()


def _pull_audio(session: Any, decoder_type: Any, report: Report, stop: threading.Event) -> None:
    config = session.wait_for_opus_config(5.0)
    decoder = decoder_type(
        sample_rate=config.sample_rate,
        channels=config.channel_count,
        streams=config.streams,
        coupled_streams=config.coupled_streams,
        mapping=list(config.mapping)[: config.channel_count],
    )
    report.audio_rate = config.sample_rate
    while not stop.is_set():
        packet = session.pull_audio_packet(timeout=0.5)
        if packet is None:
            continue
        report.audio_packets += 1
        report.audio_samples.extend(decoder.decode(packet.opus_data))
    decoder.close()


def _is_idr(data: bytes, codec: str) -> bool:
    """Whether an access unit starts a key frame: an H.264 IDR slice (type 5), an HEVC
    IRAP picture (types 16-21), or an AV1 sequence header OBU (our key frames carry one)."""
    if codec == "av1":
        return _av1_has_sequence_header(data)
    for match in re.finditer(b"\x00\x00\x01", data[:4096]):
        header = data[match.end() : match.end() + 1]
        if not header:
            continue
        if codec == "h264" and header[0] & 0x1F == 5:
            return True
        if codec == "hevc" and 16 <= (header[0] >> 1) & 0x3F <= 21:
            return True
    return False


def _av1_has_sequence_header(data: bytes) -> bool:
    at = 0
    while at < len(data):
        header = data[at]
        obu_type, has_extension, has_size = (header >> 3) & 0xF, header & 0x4, header & 0x2
        if obu_type == 1:
            return True
        at += 2 if has_extension else 1
        if not has_size:
            return False
        size = shift = 0
        while at < len(data):
            byte = data[at]
            at += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        at += size
    return False


if __name__ == "__main__":
    sys.exit(main())
