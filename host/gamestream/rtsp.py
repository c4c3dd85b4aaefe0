"""RTSP for the GameStream path: bounded request parsing and the per-launch handshake.

Sans-I/O: `RtspRequestParser` turns bytes into an `RtspRequest`; `RtspSession.handle` turns a
request into an `RtspResponse` plus events (`Announced`, `Playing`). `rtsp_server.py` is the
TCP edge.

Moonlight in Sunshine-host mode (appversion 7.1.431.-1) opens one TCP connection per request
and reads the answer until the host closes it. Its order is OPTIONS, DESCRIBE, SETUP
`streamid=audio/0/0`, SETUP `streamid=video/0/0`, SETUP `streamid=control/13/0`, ANNOUNCE
(the stream configuration as SDP `a=name:value` lines), PLAY. What the client reads from our
answers:

- every answer: the status code; its parser needs at least one header, so CSeq is always sent.
- DESCRIBE: a non-empty body. `sprop-parameter-sets=AAAAAU` says the host can do HEVC,
  `a=rtpmap:98 AV1/90000` AV1 (the client then picks the best codec both sides have and says
  which in ANNOUNCE); `x-nv-video[0].refPicInvalidation` enables reference-frame invalidation;
  `x-ss-general.featureFlags` / `encryptionSupported` / `encryptionRequested` are Sunshine's
  extensions; `a=fmtp:97 surround-params=...` describes the Opus layouts for 5.1 and 7.1.
- SETUP: `Transport: server_port=N`; for audio also `Session:` (sent back on ANNOUNCE and
  PLAY); `X-SS-Ping-Payload` (16 characters the client puts in its UDP pings to the audio and
  video ports) and, for control, `X-SS-Connect-Data` (the u32 it sends as ENet connect data).
"""

from __future__ import annotations

import enum
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

# Limits on what a request may be; the client's largest request (ANNOUNCE) is about 2 KiB.
MAX_REQUEST_LINE = 2048
MAX_HEADER_LINE = 4096
MAX_HEADERS = 32
MAX_HEADER_BYTES = 16 * 1024
MAX_BODY = 64 * 1024

RTSP_VERSION = "RTSP/1.0"

# Sunshine's encryption bits (x-ss-general.encryption*), shared by both ends.
ENC_CONTROL_V2 = 0x01  # control stream IV = LE32 sequence + direction marker (see control.py)
ENC_VIDEO = 0x02
ENC_AUDIO = 0x04
# Legacy NVIDIA feature flag in x-nv-general.featureFlags meaning "audio is encrypted".
NV_FEATURE_AUDIO_ENCRYPTION = 0x20
# Moonlight feature flags (x-ml-general.featureFlags).
ML_FEATURE_FEC_STATUS = 0x01  # the client sends per-frame FEC status (control type 0x5502)
ML_FEATURE_SESSION_ID_V1 = 0x02  # the client uses X-SS-Ping-Payload and X-SS-Connect-Data
# Sunshine host feature flags (x-ss-general.featureFlags).
SS_FEATURE_PEN_TOUCH = 0x01
SS_FEATURE_CONTROLLER_TOUCH = 0x02

# x-nv-general.useReliableUdp value for the encrypted ENet control stream.
CONTROL_PROTOCOL_ENCRYPTED = 13

CODECS = ("h264", "hevc", "av1")  # index = x-nv-vqos[0].bitStreamFormat
OPUS_FRAME_MS = frozenset({5, 10, 20, 40, 60})

# The Opus layouts offered for surround, as "<channels><streams><coupled><mapping digits>".
# The audio encoder uses the channel order FL FR C LFE RL RR SL SR. For the normal-quality
# layouts the client moves the last mapping entry to position 3 (GFE's order differs from
# its own), so those are written pre-rotated here to come out as the identity on the client.
# The first layout of a channel count is normal quality, the second high quality.
DEFAULT_SURROUND_PARAMS = (
    "21101",
    "21101",
    "642012453",
    "660012345",
    "85301245673",
    "88001234567",
)

REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    408: "Request Timeout",
    454: "Session Not Found",
    455: "Method Not Valid in This State",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "RTSP Version Not Supported",
}

# Moonlight addresses the host as 0.0.0.0 when it wants normal-quality stereo.
_LOW_QUALITY_HOST = "0.0.0.0"  # noqa: S104 - compared with a header, never bound
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_STREAM_ID = re.compile(r"streamid=([a-z]+)")


class RtspError(ValueError):
    """A request the host cannot accept; `status` is the RTSP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RtspRequest:
    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first header of that name (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    @property
    def cseq(self) -> str:
        """CSeq to echo: the client's when it is a number, else "0"."""
        value = self.header("CSeq")
        return value if value is not None and value.isdigit() and len(value) <= 10 else "0"


@dataclass(frozen=True)
class RtspResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    @property
    def reason(self) -> str:
        return REASONS.get(self.status, "Unknown")

    def to_bytes(self) -> bytes:
        lines = [f"{RTSP_VERSION} {self.status} {self.reason}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        if self.body:
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + self.body


def respond(
    status: int, cseq: str = "0", headers: Iterable[tuple[str, str]] = (), body: bytes = b""
) -> RtspResponse:
    """A response with CSeq first: Moonlight's parser needs at least one header."""
    return RtspResponse(status, (("CSeq", cseq), *headers), body)


def error_response(error: RtspError, cseq: str = "0") -> RtspResponse:
    return respond(error.status, cseq, (("Content-Type", "text/plain"),), str(error).encode())


class RtspRequestParser:
    """Accumulates one request's bytes; `feed` returns the request once it is complete.

    Raises RtspError for anything malformed or over the limits, and for bytes after the
    request (one request per connection: the client never pipelines).
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._head: tuple[str, str, tuple[tuple[str, str], ...]] | None = None
        self._body_start = 0
        self._body_length = 0
        self._done = False

    def feed(self, data: bytes) -> RtspRequest | None:
        if self._done:
            if data:
                raise RtspError("bytes after the request; one request per connection")
            return None
        self._buffer += data
        if self._head is None:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEADER_BYTES:
                    raise RtspError(f"request head longer than {MAX_HEADER_BYTES} bytes")
                return None
            if end > MAX_HEADER_BYTES:
                raise RtspError(f"request head longer than {MAX_HEADER_BYTES} bytes")
            self._head = _parse_head(bytes(self._buffer[:end]))
            self._body_start = end + 4
            self._body_length = _content_length(self._head[2])
        available = len(self._buffer) - self._body_start
        if available < self._body_length:
            return None
        if available > self._body_length:
            raise RtspError("bytes after the request body; one request per connection")
        self._done = True
        method, target, headers = self._head
        body = bytes(self._buffer[self._body_start :])
        return RtspRequest(method, target, headers, body)


def parse_request(data: bytes) -> RtspRequest:
    """One complete request from its bytes; RtspError if malformed or incomplete."""
    request = RtspRequestParser().feed(data)
    if request is None:
        raise RtspError("incomplete request")
    return request


def _parse_head(head: bytes) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        raise RtspError("request head is not ASCII") from None
    lines = text.split("\r\n")
    request_line = lines[0]
    if len(request_line) > MAX_REQUEST_LINE:
        raise RtspError(f"request line longer than {MAX_REQUEST_LINE} bytes")
    parts = request_line.split(" ")
    if len(parts) != 3:
        raise RtspError("request line is not 'METHOD TARGET RTSP/1.0'")
    method, target, version = parts
    if not method or len(method) > 32 or not _TOKEN.fullmatch(method):
        raise RtspError("bad method")
    if not target or not target.isprintable():
        raise RtspError("bad request target")
    if version != RTSP_VERSION:
        if version.startswith("RTSP/"):
            raise RtspError(f"unsupported version {version[:16]!r}", 505)
        raise RtspError("request line is not 'METHOD TARGET RTSP/1.0'")
    header_lines = lines[1:]
    if len(header_lines) > MAX_HEADERS:
        raise RtspError(f"more than {MAX_HEADERS} headers")
    headers: list[tuple[str, str]] = []
    for line in header_lines:
        if len(line) > MAX_HEADER_LINE:
            raise RtspError(f"header line longer than {MAX_HEADER_LINE} bytes")
        name, sep, value = line.partition(":")
        if not sep or not _TOKEN.fullmatch(name):
            raise RtspError("malformed header line")
        value = value.strip(" \t")
        if not value.isprintable():
            raise RtspError(f"control characters in header {name}")
        headers.append((name, value))
    return method, target, tuple(headers)


def _content_length(headers: tuple[tuple[str, str], ...]) -> int:
    values = {value for name, value in headers if name.lower() == "content-length"}
    if not values:
        return 0
    if len(values) > 1:
        raise RtspError("conflicting Content-Length headers")
    value = values.pop()
    if not value.isdigit() or len(value) > 9:
        raise RtspError("Content-Length is not a number")
    length = int(value)
    if length > MAX_BODY:
        raise RtspError(f"body longer than {MAX_BODY} bytes")
    return length


@dataclass(frozen=True)
class StreamConfig:
    """What the client asked for in ANNOUNCE."""

    width: int
    height: int
    fps: int
    packet_size: int  # video payload bytes per datagram (x-nv-video[0].packetSize)
    # The bitrate to encode at: the user's setting (x-ml-video.configuredBitrateKbps) when the
    # client sends it, else x-nv-vqos[0].bw.maximumBitrateKbps (80 % of it, capped at 100 Mbps).
    bitrate_kbps: int
    max_bitrate_kbps: int
    configured_bitrate_kbps: int  # 0 when not sent
    codec: str  # "h264" | "hevc" | "av1"
    min_fec_packets: int  # parity shards a frame gets at least (x-nv-vqos[0].fec.*)
    slices_per_frame: int
    # 0: as many reference frames as the codec allows, which the client only asks for when
    # its decoder handles reference-frame invalidation; 1: a single reference frame.
    max_reference_frames: int
    hdr: bool  # x-nv-video[0].dynamicRangeMode
    yuv444: bool  # x-ss-video[0].chromaSamplingType
    color_space: int  # 0 Rec. 601, 1 Rec. 709, 2 Rec. 2020 (x-nv-video[0].encoderCscMode >> 1)
    full_range: bool  # encoderCscMode & 1
    client_refresh_rate_x100: int  # 0 when unknown
    audio_channels: int  # 2, 6 or 8
    audio_channel_mask: int
    audio_high_quality: bool
    audio_packet_duration_ms: int
    encryption_flags: int  # ENC_* bits the client enabled
    ml_feature_flags: int  # ML_FEATURE_* bits

    @property
    def control_v2_encryption(self) -> bool:
        return bool(self.encryption_flags & ENC_CONTROL_V2)

    @property
    def video_encrypted(self) -> bool:
        return bool(self.encryption_flags & ENC_VIDEO)

    @property
    def audio_encrypted(self) -> bool:
        return bool(self.encryption_flags & ENC_AUDIO)

    @property
    def client_supports_rfi(self) -> bool:
        return self.max_reference_frames == 0

    @property
    def sends_fec_status(self) -> bool:
        return bool(self.ml_feature_flags & ML_FEATURE_FEC_STATUS)


_MAX_SDP_LINES = 512
_MAX_SDP_NAME = 128
_MAX_SDP_VALUE = 1024


def parse_sdp_attributes(body: bytes) -> dict[str, str]:
    """The `a=name:value` attributes of an SDP body (trailing blanks stripped; first wins)."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise RtspError("SDP is not ASCII") from None
    lines = text.replace("\r", "\n").split("\n")
    if len(lines) > 2 * _MAX_SDP_LINES:
        raise RtspError("SDP has too many lines")
    attributes: dict[str, str] = {}
    for line in lines:
        if not line.startswith("a="):
            continue
        name, sep, value = line[2:].partition(":")
        if not sep or not name or len(name) > _MAX_SDP_NAME or len(value) > _MAX_SDP_VALUE:
            raise RtspError("malformed SDP attribute line")
        attributes.setdefault(name.strip(), value.strip(" \t"))
    return attributes


def _number(
    attributes: dict[str, str], name: str, low: int, high: int, default: int | None = None
) -> int:
    raw = attributes.get(name)
    if raw is None:
        if default is None:
            raise RtspError(f"ANNOUNCE lacks {name}")
        return default
    sign, digits = (-1, raw[1:]) if raw.startswith("-") else (1, raw)
    if not digits.isdigit() or len(digits) > 10:
        raise RtspError(f"{name} is not a number: {raw[:32]!r}")
    value = sign * int(digits)
    if not low <= value <= high:
        raise RtspError(f"{name} = {value} is outside {low}..{high}")
    return value


def parse_announce(body: bytes, host_header: str | None = None) -> StreamConfig:
    """StreamConfig from an ANNOUNCE body; RtspError (400) when a value is missing or wrong.

    `host_header` is the request's Host header: for stereo, Moonlight asks for high-quality
    audio by addressing the host by a real address and for normal quality by 0.0.0.0.
    """
    a = parse_sdp_attributes(body)
    protocol = _number(a, "x-nv-general.useReliableUdp", 0, 255, 1)
    if protocol != CONTROL_PROTOCOL_ENCRYPTED:
        raise RtspError(
            f"x-nv-general.useReliableUdp = {protocol}: this host speaks only the encrypted "
            f"control stream ({CONTROL_PROTOCOL_ENCRYPTED})"
        )
    max_bitrate = _number(a, "x-nv-vqos[0].bw.maximumBitrateKbps", 1, 10_000_000)
    configured = _number(a, "x-ml-video.configuredBitrateKbps", 0, 10_000_000, 0)
    codec_index = _number(a, "x-nv-vqos[0].bitStreamFormat", 0, len(CODECS) - 1, 0)
    channels = _number(a, "x-nv-audio.surround.numChannels", 2, 8, 2)
    if channels not in (2, 6, 8):
        raise RtspError(f"x-nv-audio.surround.numChannels = {channels}; expected 2, 6 or 8")
    duration = _number(a, "x-nv-aqos.packetDuration", 1, 60, 5)
    if duration not in OPUS_FRAME_MS:
        raise RtspError(f"x-nv-aqos.packetDuration = {duration} is not an Opus frame length")
    csc = _number(a, "x-nv-video[0].encoderCscMode", 0, 5, 0)
    encryption = _number(a, "x-ss-general.encryptionEnabled", 0, 0xFFFFFFFF, 0)
    nv_flags = _number(a, "x-nv-general.featureFlags", 0, 0xFFFFFFFF, 0)
    if nv_flags & NV_FEATURE_AUDIO_ENCRYPTION:
        encryption |= ENC_AUDIO
    high_quality = _number(a, "x-nv-audio.surround.AudioQuality", 0, 1, 0) == 1
    if channels == 2 and host_header is not None:
        high_quality = _LOW_QUALITY_HOST not in host_header
    return StreamConfig(
        width=_number(a, "x-nv-video[0].clientViewportWd", 1, 16384),
        height=_number(a, "x-nv-video[0].clientViewportHt", 1, 16384),
        fps=_number(a, "x-nv-video[0].maxFPS", 1, 1000),
        packet_size=_number(a, "x-nv-video[0].packetSize", 64, 65000),
        bitrate_kbps=configured or max_bitrate,
        max_bitrate_kbps=max_bitrate,
        configured_bitrate_kbps=configured,
        codec=CODECS[codec_index],
        min_fec_packets=_number(a, "x-nv-vqos[0].fec.minRequiredFecPackets", 0, 255, 0),
        slices_per_frame=_number(a, "x-nv-video[0].videoEncoderSlicesPerFrame", 1, 255, 1),
        max_reference_frames=_number(a, "x-nv-video[0].maxNumReferenceFrames", 0, 16, 0),
        hdr=_number(a, "x-nv-video[0].dynamicRangeMode", 0, 1, 0) == 1,
        yuv444=_number(a, "x-ss-video[0].chromaSamplingType", 0, 1, 0) == 1,
        color_space=csc >> 1,
        full_range=bool(csc & 1),
        client_refresh_rate_x100=_number(a, "x-nv-video[0].clientRefreshRateX100", 0, 1_000_000, 0),
        audio_channels=channels,
        audio_channel_mask=_number(a, "x-nv-audio.surround.channelMask", 0, 0xFFFFFFFF, 3),
        audio_high_quality=high_quality,
        audio_packet_duration_ms=duration,
        encryption_flags=encryption,
        ml_feature_flags=_number(a, "x-ml-general.featureFlags", 0, 0xFFFFFFFF, 0),
    )


@dataclass(frozen=True)
class StreamPorts:
    """UDP ports the client is told in SETUP (the caller binds them; they may be ephemeral)."""

    audio: int
    video: int
    control: int

    def __post_init__(self) -> None:
        for name in ("audio", "video", "control"):
            port = getattr(self, name)
            if not 1 <= port <= 65535:
                raise ValueError(f"{name} port {port} is not a port number")


@dataclass(frozen=True)
class Announced:
    config: StreamConfig


@dataclass(frozen=True)
class Playing:
    config: StreamConfig


RtspEvent = Announced | Playing


@dataclass(frozen=True)
class RtspReply:
    response: RtspResponse
    events: tuple[RtspEvent, ...] = ()


class RtspState(enum.Enum):
    SETTING_UP = "setting up"  # OPTIONS, DESCRIBE and the three SETUPs
    ANNOUNCED = "announced"
    PLAYING = "playing"


STREAMS = ("audio", "video", "control")


class RtspSession:
    """The RTSP handshake of one launch: answers requests, says when the client is ready.

    `codecs`: what the host can encode ("h264" always; "hevc", "av1" when available).
    `reference_frame_invalidation`: advertise that the encoder honours RFI requests.
    `ping_payload` (16 characters) and `connect_data` (u32) identify this launch on the
    audio/video pings and the ENet connect; random when not given.
    """

    def __init__(
        self,
        ports: StreamPorts,
        *,
        codecs: Iterable[str] = ("h264",),
        reference_frame_invalidation: bool = False,
        feature_flags: int = 0,
        encryption_supported: int = ENC_CONTROL_V2 | ENC_AUDIO,
        encryption_requested: int = ENC_CONTROL_V2,
        surround_params: tuple[str, ...] = DEFAULT_SURROUND_PARAMS,
        ping_payload: str | None = None,
        connect_data: int | None = None,
        session_id: str | None = None,
    ) -> None:
        self.ports = ports
        self.codecs = frozenset(codecs) | {"h264"}
        unknown = self.codecs - set(CODECS)
        if unknown:
            raise ValueError(f"unknown codecs {sorted(unknown)}")
        self.reference_frame_invalidation = reference_frame_invalidation
        self.feature_flags = feature_flags
        self.encryption_supported = encryption_supported
        self.encryption_requested = encryption_requested
        self.surround_params = surround_params
        self.ping_payload = ping_payload if ping_payload is not None else secrets.token_hex(8)
        if len(self.ping_payload) != 16 or not self.ping_payload.isalnum():
            raise ValueError("ping_payload must be 16 letters or digits")
        self.connect_data = connect_data if connect_data is not None else secrets.randbits(32)
        if not 0 <= self.connect_data <= 0xFFFFFFFF:
            raise ValueError("connect_data must fit in 32 bits")
        self.session_id = session_id if session_id is not None else secrets.token_hex(8).upper()
        if not self.session_id.isalnum():
            raise ValueError("session_id must be letters or digits")
        self.state = RtspState.SETTING_UP
        self.config: StreamConfig | None = None
        self._set_up: set[str] = set()

    def handle(self, request: RtspRequest) -> RtspReply:
        """The answer to one request, and what it changed."""
        handler = {
            "OPTIONS": self._options,
            "DESCRIBE": self._describe,
            "SETUP": self._setup,
            "ANNOUNCE": self._announce,
            "PLAY": self._play,
        }.get(request.method)
        if handler is None:
            return RtspReply(error_response(RtspError(request.method, 501), request.cseq))
        try:
            return handler(request)
        except RtspError as error:
            return RtspReply(error_response(error, request.cseq))

    def describe_sdp(self) -> bytes:
        lines = [
            "v=0",
            "o=- 0 0 IN IP4 0.0.0.0",
            "s=punktfunk",
            f"a=x-ss-general.featureFlags:{self.feature_flags}",
            f"a=x-ss-general.encryptionSupported:{self.encryption_supported}",
            f"a=x-ss-general.encryptionRequested:{self.encryption_requested}",
        ]
        if self.reference_frame_invalidation:
            lines.append("a=x-nv-video[0].refPicInvalidation:1")
        if "hevc" in self.codecs:
            lines.append("sprop-parameter-sets=AAAAAU")
        if "av1" in self.codecs:
            lines.append("a=rtpmap:98 AV1/90000")
        lines += [f"a=fmtp:97 surround-params={params}" for params in self.surround_params]
        return ("\r\n".join(lines) + "\r\n").encode("ascii")

    def _options(self, request: RtspRequest) -> RtspReply:
        methods = "OPTIONS, DESCRIBE, SETUP, ANNOUNCE, PLAY"
        return RtspReply(respond(200, request.cseq, (("Public", methods),)))

    def _describe(self, request: RtspRequest) -> RtspReply:
        self._require_state(RtspState.SETTING_UP, "DESCRIBE after ANNOUNCE")
        headers = (("Content-Type", "application/sdp"),)
        return RtspReply(respond(200, request.cseq, headers, self.describe_sdp()))

    def _setup(self, request: RtspRequest) -> RtspReply:
        self._require_state(RtspState.SETTING_UP, "SETUP after ANNOUNCE")
        match = _STREAM_ID.search(request.target)
        stream = match.group(1) if match else ""
        if stream not in STREAMS:
            raise RtspError(f"no stream {request.target[:64]!r}", 404)
        if stream != "audio":
            # The audio SETUP hands out the session id the client sends from then on.
            if "audio" not in self._set_up:
                raise RtspError(f"SETUP {stream} before SETUP audio", 455)
            self._check_session(request)
        port = {"audio": self.ports.audio, "video": self.ports.video}.get(
            stream, self.ports.control
        )
        headers = [
            ("Session", f"{self.session_id};timeout = 90"),
            ("Transport", f"server_port={port}"),
        ]
        if stream == "control":
            headers.append(("X-SS-Connect-Data", str(self.connect_data)))
        else:
            headers.append(("X-SS-Ping-Payload", self.ping_payload))
        self._set_up.add(stream)
        return RtspReply(respond(200, request.cseq, headers))

    def _announce(self, request: RtspRequest) -> RtspReply:
        self._require_state(RtspState.SETTING_UP, "ANNOUNCE twice")
        missing = [stream for stream in STREAMS if stream not in self._set_up]
        if missing:
            raise RtspError(f"ANNOUNCE before SETUP of {', '.join(missing)}", 455)
        self._check_session(request)
        if not request.body:
            raise RtspError("ANNOUNCE without an SDP body")
        config = parse_announce(request.body, request.header("Host"))
        if config.codec not in self.codecs:
            raise RtspError(f"{config.codec} was requested but not offered")
        if config.video_encrypted and not self.encryption_supported & ENC_VIDEO:
            raise RtspError("video encryption was requested but not offered")
        self.config = config
        self.state = RtspState.ANNOUNCED
        return RtspReply(respond(200, request.cseq), (Announced(config),))

    def _play(self, request: RtspRequest) -> RtspReply:
        if self.state is RtspState.PLAYING:
            raise RtspError("PLAY twice", 455)
        if self.config is None:
            raise RtspError("PLAY before ANNOUNCE", 455)
        self._check_session(request)
        self.state = RtspState.PLAYING
        return RtspReply(respond(200, request.cseq), (Playing(self.config),))

    def _require_state(self, state: RtspState, message: str) -> None:
        if self.state is not state:
            raise RtspError(message, 455)

    def _check_session(self, request: RtspRequest) -> None:
        session = request.header("Session")
        if session is None:
            raise RtspError("no Session header", 454)
        if session.split(";", 1)[0].strip() != self.session_id:
            raise RtspError("unknown session", 454)
