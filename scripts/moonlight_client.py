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
frames received and decoded, the frame-number range the host sent in that time, the
host processing latency from the frame headers, time to first frame, audio packets.
`--forever` streams until killed (the demo). Exit 0 on success, 1 with one stderr line
on failure.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import statistics
import sys
import threading
import time
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
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


class Report:
    def __init__(self) -> None:
        self.frames = 0
        self.decoded = 0
        self.first_number: int | None = None
        self.last_number: int | None = None
        self.idr_numbers: list[int] = []
        self.latency_us: list[int] = []
        self.first_frame_s: float | None = None
        self.idr_requested_at: int | None = None  # frame number when the IDR was asked for
        self.audio_packets = 0
        self.audio_samples: list[Any] = []
        self.audio_rate = 48_000

    def as_dict(self) -> dict[str, Any]:
        expected = (
            self.last_number - self.first_number + 1
            if self.first_number is not None and self.last_number is not None
            else 0
        )
        out: dict[str, Any] = {
            "frames": self.frames,
            "decoded": self.decoded,
            "first_number": self.first_number,
            "last_number": self.last_number,
            "expected": expected,
            "first_frame_s": self.first_frame_s,
            "latency_us_min": min(self.latency_us) if self.latency_us else None,
            "latency_us_p50": statistics.median(self.latency_us) if self.latency_us else None,
            "zero_latency_frames": sum(1 for v in self.latency_us if v == 0),
            "idr_numbers": self.idr_numbers[:50],
            "idr_requested_at": self.idr_requested_at,
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mode = MODE.match(args.mode)
    if mode is None:
        print(f"moonlight_client: bad --mode {args.mode!r}", file=sys.stderr)
        return 2
    width, height, fps = (int(g) for g in mode.groups())
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
        launched = time.monotonic()
        session, bundled_decoder = client._setup_stream(
            args.app, width, height, fps, args.bitrate, args.codec, record_audio=args.audio
        )
        bundled_decoder.close()
        decoder = VideoDecoder(args.codec)
        audio_thread = None
        if args.audio:
            audio_thread = threading.Thread(
                target=_pull_audio, args=(session, AudioDecoder, report, stop), daemon=True
            )
            audio_thread.start()
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
                    raise RuntimeError("the host ended the stream")
                continue
            now = time.monotonic()
            if report.first_frame_s is None:
                report.first_frame_s = round(now - launched, 3)
            report.frames += 1
            if report.first_number is None:
                report.first_number = frame.frame_number
            report.last_number = frame.frame_number
            report.latency_us.append(frame.host_processing_latency_us)
            if decoder.decode(frame.annex_b_data):
                report.decoded += 1
            if _is_idr(frame.annex_b_data, args.codec):
                report.idr_numbers.append(frame.frame_number)
            elapsed = now - launched
            if args.idr_at is not None and not idr_done and elapsed >= args.idr_at:
                idr_done = True
                report.idr_requested_at = frame.frame_number
                session.request_idr()
            if args.input_at is not None and not input_done and elapsed >= args.input_at:
                input_done = True
                session.nudge_mouse(10, restore=False)
        stop.set()
        if audio_thread is not None:
            session.wake_audio()
            audio_thread.join(5)
        decoder.close()
        client._http.quit_app()
    except Exception as exc:  # one line for the caller, whatever moonlight-python raised
        print(f"moonlight_client: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        stop.set()
        if session is not None:
            session.stop()
    if args.json:
        print(json.dumps(report.as_dict()), flush=True)
    return 0


class VideoDecoder:
    """PyAV decoding of the access units, counting the pictures that come out. (FFmpeg's
    native AV1 decoder needs a hardware device; dav1d does not.)"""

    def __init__(self, codec: str) -> None:
        import av

        self._av = av
        self._ctx = av.CodecContext.create(DECODERS[codec], "r")

    def decode(self, data: bytes) -> int:
        try:
            return len(self._ctx.decode(self._av.Packet(data)))
        except self._av.FFmpegError:
            return 0

    def close(self) -> None:
        self._ctx = None


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
