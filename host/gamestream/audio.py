"""GameStream audio without sockets: PCM sources, the Opus encoder and the packet clock.

Everything here runs at 48 kHz in the client's channel count and order (FL FR C LFE RL
RR SL SR, the order `rtsp.DEFAULT_SURROUND_PARAMS` announces) and in packets of the
client's packet duration (`x-nv-aqos.packetDuration`: 5 ms unless it asks for 10/20).

Sources (`open_source(spec, ...)`; spec "tone[@HZ]" | "pulse" | "silence" | "auto"):

- `tone`: a sine (440 Hz unless given) on every channel, for the demo and the tests.
- `pulse`: the desktop's audio, i.e. the monitor of the default sink of a PulseAudio or
  PipeWire (pipewire-pulse) server. The PyAV wheel has no `pulse` input format (its
  FFmpeg carries only alsa, oss and lavfi devices), so this uses the `soundcard` package
  (BSD-3, maintained, cffi over the system's libpulse): it records a sink's monitor and,
  unlike the PulseAudio "simple" wrappers, lets us ask for an explicit channel map, so
  the server remixes 5.1/7.1 into the client's order instead of its own default order.
  A capture thread feeds a small jitter buffer; the packet clock takes from it.
- `silence`: zeros, when no audio server exists.
- `auto`: `pulse` when a server accepts a connection, else `silence` (one log line).

`OpusEncoder` is PyAV's libopus at constant bitrate (every packet the same size, which
the audio FEC needs), restricted low delay, one Opus packet per PCM packet, in the
stream layout and bitrate Sunshine uses for the client's channel count and quality.

`PacketClock` paces a fixed-rate packet stream on a monotonic clock: deadline-based (no
drift), never early, and when the sender falls a whole packet behind it skips the
missed slots (and counts them) instead of sending a burst.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, cast

import av
import numpy as np
import numpy.typing as npt
from av.audio.codeccontext import AudioCodecContext
from av.audio.frame import AudioFrame

from host.gamestream.audio_wire import MAX_PAYLOAD_SIZE
from host.gamestream.rtsp import OPUS_FRAME_MS

log = logging.getLogger(__name__)

SAMPLE_RATE = 48_000
CHANNEL_ORDER = ("FL", "FR", "C", "LFE", "RL", "RR", "SL", "SR")
CHANNEL_COUNTS = (2, 6, 8)
DEFAULT_TONE_HZ = 440.0
TONE_AMPLITUDE = 0.25  # -12 dBFS: audible, never clipping after Opus
SOURCE_KINDS = ("tone", "pulse", "silence", "auto")

Pcm = npt.NDArray[np.float32]  # (samples, channels), interleaved float32 in [-1, 1]


class AudioError(RuntimeError):
    """An audio source or encoder that cannot be opened, with what to do about it."""


def packet_samples(packet_duration_ms: int) -> int:
    """Samples per channel in one packet of this duration."""
    return SAMPLE_RATE * packet_duration_ms // 1000


def _check_format(channels: int, packet_duration_ms: int) -> None:
    if channels not in CHANNEL_COUNTS:
        raise AudioError(f"{channels} audio channels; the client asks for 2, 6 or 8")
    if packet_duration_ms not in OPUS_FRAME_MS:
        raise AudioError(
            f"audio packet duration {packet_duration_ms} ms; "
            f"Opus frames are {', '.join(map(str, sorted(OPUS_FRAME_MS)))} ms"
        )


# --- source specs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # one of SOURCE_KINDS
    tone_hz: float = DEFAULT_TONE_HZ


def parse_source(spec: str) -> SourceSpec:
    """Parse "tone", "tone@HZ", "pulse", "silence" or "auto"; AudioError for anything else."""
    kind, sep, arg = spec.strip().partition("@")
    if kind not in SOURCE_KINDS:
        raise AudioError(f"unknown audio source {spec!r}; use tone[@HZ], pulse, silence or auto")
    if not sep:
        return SourceSpec(kind)
    if kind != "tone":
        raise AudioError(f"audio source {kind!r} takes no argument (got {spec!r})")
    try:
        hz = float(arg)
    except ValueError:
        raise AudioError(f"tone frequency {arg!r} is not a number (e.g. tone@440)") from None
    if not 20.0 <= hz <= 20_000.0:
        raise AudioError(f"tone frequency {hz:g} Hz is outside 20..20000 Hz")
    return SourceSpec("tone", hz)


# --- sources ---------------------------------------------------------------------------------


class AudioSource(Protocol):
    """Packets of PCM on demand. `read` never blocks: the packet clock owns the timing."""

    kind: str
    channels: int
    samples: int  # per packet and channel

    def read(self) -> Pcm:
        """The next packet: (samples, channels) float32, C-contiguous."""
        ...

    def skip(self, packets: int) -> None:
        """The clock skipped `packets` slots: drop that much audio to stay in time."""
        ...

    def close(self) -> None: ...


class ToneSource:
    """A sine on every channel, phase-continuous across packets."""

    kind = "tone"

    def __init__(
        self,
        channels: int,
        packet_duration_ms: int,
        frequency_hz: float = DEFAULT_TONE_HZ,
        amplitude: float = TONE_AMPLITUDE,
    ) -> None:
        _check_format(channels, packet_duration_ms)
        self.channels = channels
        self.samples = packet_samples(packet_duration_ms)
        self.frequency_hz = frequency_hz
        self.amplitude = amplitude
        self._step = frequency_hz / SAMPLE_RATE  # cycles per sample
        self._ramp = np.arange(self.samples, dtype=np.float64) * self._step
        self._phase = 0.0  # in cycles, kept in [0, 1) so precision never degrades

    def read(self) -> Pcm:
        wave = self.amplitude * np.sin(2 * np.pi * (self._phase + self._ramp))
        self._advance(1)
        return np.repeat(wave.astype(np.float32)[:, None], self.channels, axis=1)

    def skip(self, packets: int) -> None:
        self._advance(packets)

    def _advance(self, packets: int) -> None:
        self._phase = (self._phase + packets * self.samples * self._step) % 1.0

    def close(self) -> None:
        pass


class SilenceSource:
    kind = "silence"

    def __init__(self, channels: int, packet_duration_ms: int) -> None:
        _check_format(channels, packet_duration_ms)
        self.channels = channels
        self.samples = packet_samples(packet_duration_ms)
        self._zeros: Pcm = np.zeros((self.samples, channels), dtype=np.float32)
        self._zeros.setflags(write=False)

    def read(self) -> Pcm:
        return self._zeros

    def skip(self, packets: int) -> None:
        pass

    def close(self) -> None:
        pass


class PcmBuffer:
    """The jitter buffer between a capture thread (`push`, any chunk size) and the packet
    clock (`pop`, one packet). Thread-safe.

    It hands out silence until `prime_packets` are held, so the capture's jitter does not
    turn into a gap per packet; after running dry it primes again (`underruns`). It holds
    at most `max_packets`: when the capture runs ahead of the clock (clock drift, a sender
    stall) the oldest samples go (`dropped_samples`) instead of the latency growing.
    """

    def __init__(
        self, channels: int, samples: int, prime_packets: int = 2, max_packets: int = 8
    ) -> None:
        if not 0 < prime_packets <= max_packets:
            raise ValueError("need 0 < prime_packets <= max_packets")
        self.channels = channels
        self.samples = samples
        self._prime = prime_packets * samples
        self._max = max_packets * samples
        self._chunks: deque[Pcm] = deque()
        self._held = 0
        self._primed = False
        self._lock = threading.Lock()
        self._silence: Pcm = np.zeros((samples, channels), dtype=np.float32)
        self._silence.setflags(write=False)
        self.underruns = 0
        self.dropped_samples = 0

    @property
    def held(self) -> int:
        """Samples per channel waiting."""
        return self._held

    def push(self, chunk: Pcm) -> None:
        if chunk.ndim != 2 or chunk.shape[1] != self.channels:
            raise ValueError(f"chunk of shape {chunk.shape}, expected (n, {self.channels})")
        if not len(chunk):
            return
        with self._lock:
            self._chunks.append(chunk)
            self._held += len(chunk)
            if self._held > self._max:
                self._drop(self._held - self._max)

    def pop(self) -> Pcm:
        """One packet: the oldest samples, or silence while priming or dry."""
        with self._lock:
            if not self._primed:
                if self._held < self._prime:
                    return self._silence
                self._primed = True
            if self._held < self.samples:
                self._primed = False
                self.underruns += 1
                return self._silence
            return self._take(self.samples)

    def discard(self, packets: int) -> None:
        """Drop up to `packets` packets of the oldest samples (the clock skipped them)."""
        with self._lock:
            self._remove(min(packets * self.samples, self._held))

    def _take(self, n: int) -> Pcm:
        parts: list[Pcm] = []
        need = n
        while need:
            head = self._chunks[0]
            if len(head) <= need:
                parts.append(self._chunks.popleft())
                need -= len(head)
            else:
                parts.append(head[:need])
                self._chunks[0] = head[need:]
                need = 0
        self._held -= n
        out = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return np.ascontiguousarray(out, dtype=np.float32)

    def _remove(self, n: int) -> None:
        self._held -= n
        while n:
            head = self._chunks[0]
            if len(head) <= n:
                self._chunks.popleft()
                n -= len(head)
            else:
                self._chunks[0] = head[n:]
                n = 0

    def _drop(self, n: int) -> None:
        self._remove(n)
        self.dropped_samples += n


class Recorder(Protocol):
    def record(self, numframes: int | None = None) -> npt.NDArray[Any]:
        """Whatever the server has captured: (frames, channels) float32; blocks until some."""
        ...


# Opens the capture stream; entered and left on the capture thread only.
OpenRecorder = Callable[[], AbstractContextManager[Recorder]]


class PulseSource:
    """A capture stream read by its own thread into a `PcmBuffer`.

    The stream is opened, read and closed on that thread alone (libpulse streams are not
    to be torn down under a reader). If capture fails mid-session, one log line says so
    and the source goes on with silence: missing sound must never end a session.
    """

    kind = "pulse"

    def __init__(
        self,
        channels: int,
        packet_duration_ms: int,
        open_recorder: OpenRecorder,
        description: str = "pulse",
        open_timeout_s: float = 5.0,
    ) -> None:
        _check_format(channels, packet_duration_ms)
        self.channels = channels
        self.samples = packet_samples(packet_duration_ms)
        self.description = description
        self.buffer = PcmBuffer(channels, self.samples)
        self._open = open_recorder
        self._closing = threading.Event()
        self._ready = threading.Event()
        self._open_errors: list[Exception] = []  # set by the capture thread before _ready
        self._thread = threading.Thread(target=self._capture, name="pf-audio-capture", daemon=True)
        self._thread.start()
        if not self._ready.wait(open_timeout_s):
            self.close()
            raise AudioError(f"the audio server did not open {description} in {open_timeout_s} s")
        if self._open_errors:
            self.close()
            raise AudioError(f"cannot record {description}: {self._open_errors[0]}")

    def _capture(self) -> None:
        try:
            with self._open() as recorder:
                self._ready.set()
                while not self._closing.is_set():
                    chunk = np.asarray(recorder.record(None), dtype=np.float32)
                    self.buffer.push(chunk.reshape(-1, self.channels))
        except Exception as exc:
            if not self._ready.is_set():
                self._open_errors.append(exc)
                self._ready.set()
            else:
                log.warning(
                    "audio capture from %s ended (%s); sending silence", self.description, exc
                )

    @property
    def capturing(self) -> bool:
        return self._thread.is_alive()

    def read(self) -> Pcm:
        return self.buffer.pop()

    def skip(self, packets: int) -> None:
        self.buffer.discard(packets)

    def close(self, timeout_s: float = 1.0) -> None:
        """Stop the capture thread. A thread stuck in the server stays behind as a daemon."""
        self._closing.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        if self.buffer.underruns or self.buffer.dropped_samples:
            log.info(
                "audio capture from %s: ran dry %d times, dropped %d ms running ahead",
                self.description,
                self.buffer.underruns,
                self.buffer.dropped_samples * 1000 // SAMPLE_RATE,
            )


# PulseAudio channel positions in soundcard's numbering (PA_CHANNEL_POSITION_* minus one),
# in the client's order: FL FR C LFE RL RR SL SR.
_PULSE_POSITIONS = (0, 1, 2, 6, 4, 5, 9, 10)
PULSE_PORT = 4713


def _pulse_addresses() -> Iterator[tuple[str, str, int]]:
    """Where libpulse would look for a server: ("unix", path, 0) or ("tcp", host, port)."""
    server = os.environ.get("PULSE_SERVER")
    if server:
        for item in server.split():
            # "{machine-id}address" names a server for that machine only; try it anyway.
            entry = item.partition("}")[2] if item.startswith("{") else item
            if entry.startswith("unix:"):
                yield ("unix", entry[5:], 0)
            elif entry.startswith("/"):
                yield ("unix", entry, 0)
            else:
                scheme, sep, rest = entry.partition(":")
                address = rest if sep and scheme in ("tcp", "tcp4", "tcp6") else entry
                yield ("tcp", *_host_port(address))
        return
    runtime = os.environ.get("PULSE_RUNTIME_PATH")
    if runtime:
        yield ("unix", os.path.join(runtime, "native"), 0)
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        yield ("unix", os.path.join(xdg, "pulse", "native"), 0)
    yield ("unix", f"/run/user/{os.getuid()}/pulse/native", 0)
    yield ("unix", "/var/run/pulse/native", 0)  # a system-wide server


def _host_port(address: str) -> tuple[str, int]:
    """ "host", "host:port", "[v6]" or "[v6]:port" (libpulse's tcp addresses)."""
    host, sep, port = address.rpartition(":")
    if sep and port.isdigit() and (host.endswith("]") or ":" not in host):
        return host.strip("[]"), int(port)
    return address.strip("[]"), PULSE_PORT


def pulse_server_available(timeout_s: float = 0.5) -> bool:
    """Whether a PulseAudio (or pipewire-pulse) server accepts a connection: a cheap probe
    that loads no audio library and leaves nothing behind."""
    for family, address, port in _pulse_addresses():
        try:
            if family == "unix":
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                    sock.settimeout(timeout_s)
                    sock.connect(address)
            else:
                socket.create_connection((address, port), timeout_s).close()
        except OSError:
            continue
        return True
    return False


def open_pulse_source(channels: int, packet_duration_ms: int) -> PulseSource:
    """Record the monitor of the server's default sink (what the desktop plays)."""
    _check_format(channels, packet_duration_ms)
    if not pulse_server_available():
        raise AudioError(
            "no PulseAudio/PipeWire server answers (PULSE_SERVER, XDG_RUNTIME_DIR/pulse); "
            "start one or use the tone or silence audio source"
        )
    argv = sys.argv
    try:
        # soundcard connects on import and names its client after sys.argv, which a
        # `python -c` child lacks.
        sys.argv = ["punktfunk"]
        import soundcard  # type: ignore[import-untyped,import-not-found,unused-ignore]  # noqa: PLC0415 - loads libpulse
    except ImportError as exc:
        raise AudioError(f"the pulse audio source needs the soundcard package: {exc}") from exc
    except Exception as exc:  # its import asserts that the server accepted the client
        raise AudioError(f"the PulseAudio server refused the connection ({exc!r})") from exc
    finally:
        sys.argv = argv
    try:
        sink = soundcard.default_speaker()
        # The monitor source of a sink is "<sink>.monitor" on PulseAudio and pipewire-pulse.
        monitor = soundcard.get_microphone(f"{sink.id}.monitor", include_loopback=True)
    except Exception as exc:
        raise AudioError(f"the audio server has no default sink to record: {exc}") from exc
    samples = packet_samples(packet_duration_ms)
    positions = list(_PULSE_POSITIONS[:channels])

    def open_recorder() -> AbstractContextManager[Recorder]:
        return cast(
            AbstractContextManager[Recorder],
            monitor.recorder(samplerate=SAMPLE_RATE, channels=positions, blocksize=samples),
        )

    return PulseSource(channels, packet_duration_ms, open_recorder, f"the monitor of {sink.name}")


def open_source(spec: str, channels: int, packet_duration_ms: int) -> AudioSource:
    """The source a spec names; AudioError when it cannot be opened."""
    parsed = parse_source(spec)
    _check_format(channels, packet_duration_ms)
    if parsed.kind == "tone":
        return ToneSource(channels, packet_duration_ms, parsed.tone_hz)
    if parsed.kind == "silence":
        return SilenceSource(channels, packet_duration_ms)
    if parsed.kind == "pulse":
        return open_pulse_source(channels, packet_duration_ms)
    if pulse_server_available():
        try:
            return open_pulse_source(channels, packet_duration_ms)
        except AudioError as exc:
            log.warning("audio: %s; sending silence", exc)
            return SilenceSource(channels, packet_duration_ms)
    log.info("audio: no PulseAudio/PipeWire server found; sending silence")
    return SilenceSource(channels, packet_duration_ms)


# --- Opus ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpusLayout:
    """How the channels travel in the Opus multistream packet, and at what bitrate."""

    channels: int
    streams: int
    coupled_streams: int
    bitrate_bps: int


# Per (channels, high quality): the layouts `rtsp.DEFAULT_SURROUND_PARAMS` announces (coded
# channel k is our channel k) at Sunshine's bitrates.
OPUS_LAYOUTS = {
    (2, False): OpusLayout(2, 1, 1, 96_000),
    (2, True): OpusLayout(2, 1, 1, 512_000),
    (6, False): OpusLayout(6, 4, 2, 256_000),
    (6, True): OpusLayout(6, 6, 0, 1_536_000),
    (8, False): OpusLayout(8, 5, 3, 450_000),
    (8, True): OpusLayout(8, 8, 0, 2_048_000),
}

_AV_LAYOUTS = {2: "stereo", 6: "5.1", 8: "7.1"}
# FFmpeg's libopus wrapper (mapping family -1) sends its input channel j to coded channel
# MAP[j] (its libavcodec-to-libopus table). To make coded channel k our channel k, input
# column j carries our channel MAP[j]. Stereo needs no reordering.
_FFMPEG_INPUT_ORDER = {6: (0, 1, 4, 5, 2, 3), 8: (0, 1, 6, 7, 4, 5, 2, 3)}
_AES_BLOCK = 16


def max_cbr_bitrate(packet_duration_ms: int) -> int:
    """The highest bitrate whose packets still fit one datagram once AES-CBC padded them."""
    largest = MAX_PAYLOAD_SIZE - MAX_PAYLOAD_SIZE % _AES_BLOCK - 1  # PKCS#7 adds 1..16
    return largest * 8 * 1000 // packet_duration_ms


class OpusEncoder:
    """One constant-size Opus packet per PCM packet (PyAV's libopus)."""

    def __init__(self, channels: int, packet_duration_ms: int, high_quality: bool = False) -> None:
        _check_format(channels, packet_duration_ms)
        self.layout = OPUS_LAYOUTS[channels, high_quality]
        self.channels = channels
        self.packet_duration_ms = packet_duration_ms
        self.samples = packet_samples(packet_duration_ms)
        self.bitrate_bps = min(self.layout.bitrate_bps, max_cbr_bitrate(packet_duration_ms))
        options = {
            "vbr": "off",  # constant size: the audio FEC needs equal payloads per block
            "application": "lowdelay",
            "frame_duration": str(packet_duration_ms),
        }
        if self.layout.coupled_streams == 0 and channels > 2:
            # One mono stream per channel, in order: libopus' "discrete" family.
            options["mapping_family"] = "255"
            self._order: tuple[int, ...] | None = None
        else:
            self._order = _FFMPEG_INPUT_ORDER.get(channels)
        self._av_layout = _AV_LAYOUTS[channels]
        try:
            ctx = av.CodecContext.create("libopus", "w")
            ctx.sample_rate = SAMPLE_RATE
            ctx.layout = self._av_layout
            ctx.format = "flt"
            ctx.bit_rate = self.bitrate_bps
            ctx.options = options
            ctx.open()
        except (av.FFmpegError, ValueError) as exc:
            raise AudioError(f"cannot open the Opus encoder (libopus): {exc}") from exc
        self._ctx: AudioCodecContext | None = ctx
        self._pts = 0

    def encode(self, pcm: Pcm) -> bytes:
        if self._ctx is None:
            raise AudioError("encode after close()")
        if pcm.shape != (self.samples, self.channels):
            raise AudioError(
                f"PCM of shape {pcm.shape}, expected ({self.samples}, {self.channels})"
            )
        if self._order is not None:
            pcm = pcm[:, self._order]
        samples = np.ascontiguousarray(pcm, dtype=np.float32).reshape(1, -1)
        frame = AudioFrame.from_ndarray(samples, format="flt", layout=self._av_layout)
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        self._pts += self.samples
        try:
            packets = self._ctx.encode(frame)
        except av.FFmpegError as exc:
            raise AudioError(f"libopus failed to encode: {exc}") from exc
        if len(packets) != 1:
            raise AudioError(f"libopus returned {len(packets)} packets for one frame")
        return bytes(packets[0])

    def close(self) -> None:
        self._ctx = None  # libopus keeps no lookahead worth draining: the session is over


# --- pacing ----------------------------------------------------------------------------------


class PacketClock:
    """Deadlines of a fixed-rate packet stream: slot i is due at start + i * interval.

    `wait_ns(now)` says how long until the next slot is due; `take(now)` claims it once it
    is. A caller a whole interval or more behind skips the slots it missed (`skipped`)
    rather than sending them back to back, so no window ever holds more packets than slots.
    """

    def __init__(self, interval_ns: int, start_ns: int) -> None:
        if interval_ns <= 0:
            raise ValueError("the interval must be positive")
        self.interval_ns = interval_ns
        self.start_ns = start_ns
        self.index = 0  # the next slot
        self.skipped = 0

    def deadline_ns(self) -> int:
        return self.start_ns + self.index * self.interval_ns

    def wait_ns(self, now_ns: int) -> int:
        return self.deadline_ns() - now_ns

    def take(self, now_ns: int) -> tuple[int, int]:
        """(the slot to send now, how many slots were skipped to get there)."""
        late = now_ns - self.deadline_ns()
        if late < 0:
            raise ValueError(f"slot {self.index} is not due for {-late} ns")
        missed = late // self.interval_ns
        self.index += missed
        self.skipped += missed
        slot = self.index
        self.index += 1
        return slot, missed
