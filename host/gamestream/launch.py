"""How a Moonlight client asks to stream an app: the launch request and the launcher.

`parse_launch_query` turns the `launch`/`resume` query into a `LaunchRequest`; the
service hands it to a `Launcher`, the seam between nvhttp and the streaming part (RTSP,
control, video, audio). `InMemoryLauncher` records launches and answers the RTSP URL;
it stands in until the streaming part provides a real launcher.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from host.gamestream.nvhttp import Query

DEFAULT_RTSP_PORT = 48010
# Sunshine's default when a client omits surroundAudioInfo: stereo (mask 0x3, 2 channels).
DEFAULT_SURROUND_AUDIO_INFO = 0x30002
_MODE = re.compile(r"([0-9]{1,5})x([0-9]{1,5})x([0-9]{1,4})")
_HEX_KEY = re.compile(r"[0-9A-Fa-f]{32}")
_INT = re.compile(r"-?[0-9]{1,10}")
MAX_DIMENSION = 16384
MAX_FPS = 1000
# Keys the request keeps as fields; everything else the client sent goes to `extra`.
_KNOWN_KEYS = frozenset(
    {
        "uniqueid",
        "uuid",
        "appid",
        "mode",
        "rikey",
        "rikeyid",
        "localaudioplaymode",
        "surroundaudioinfo",
        "sops",
        "gcmap",
        "corever",
        "hdrmode",
    }
)


class LaunchQueryError(ValueError):
    """The launch/resume query lacks a parameter or has a malformed one."""


@dataclass(frozen=True)
class LaunchRequest:
    """A paired client's request to start (or resume) streaming an app."""

    client_id: str  # fingerprint of the client's certificate
    client_name: str
    unique_id: str  # what the client sent as uniqueid (often the same for every client)
    app_id: int
    width: int
    height: int
    fps: int
    rikey: bytes  # AES-128 key for the control stream and encrypted audio
    rikeyid: int  # as sent (signed 32-bit); see rikeyid_bytes
    local_audio: bool  # localAudioPlayMode: also play the sound on the host
    surround_audio_info: int  # channel mask << 16 | channel count
    sops: bool  # let the host change its display mode to the stream's
    gcmap: int  # gamepads connected on the client, as a bitmap
    corever: int  # 1: the client can do encrypted RTSP
    hdr: bool
    resume: bool  # came as `resume`, not `launch`
    host_address: str  # the host address the client reached (for sessionUrl0)
    client_address: str
    extra: tuple[tuple[str, str], ...] = ()  # every other parameter, lowercased key

    @property
    def rikeyid_bytes(self) -> bytes:
        """The 4 big-endian bytes that start the AES IVs derived from rikeyid."""
        return (self.rikeyid & 0xFFFFFFFF).to_bytes(4, "big")


def _int(query: Query, key: str, default: int | None = None) -> int:
    raw = query.get(key)
    if raw is None:
        if default is None:
            raise LaunchQueryError(f"missing the {key} parameter")
        return default
    if _INT.fullmatch(raw) is None or not -(2**31) <= int(raw) <= 2**32 - 1:
        raise LaunchQueryError(f"{key} must be a 32-bit integer, got {raw[:40]!r}")
    return int(raw)


def parse_launch_query(
    query: Query,
    *,
    client_id: str,
    client_name: str,
    host_address: str,
    client_address: str,
    resume_of: LaunchRequest | None = None,
) -> LaunchRequest:
    """The request `query` (of `launch`, or of `resume` when `resume_of` is the running
    launch, whose app and mode it keeps unless the query names new ones)."""
    rikey_hex = query.get("rikey")
    if rikey_hex is None or _HEX_KEY.fullmatch(rikey_hex) is None:
        raise LaunchQueryError("rikey must be 32 hex digits (an AES-128 key)")
    rikeyid = _int(query, "rikeyid")
    if not -(2**31) <= rikeyid <= 2**31 - 1:
        raise LaunchQueryError("rikeyid must be a signed 32-bit integer")
    mode = query.get("mode")
    if mode is not None:
        match = _MODE.fullmatch(mode)
        if match is None:
            raise LaunchQueryError(f"mode must be WIDTHxHEIGHTxFPS, got {mode[:40]!r}")
        width, height, fps = (int(g) for g in match.groups())
        if not (1 <= width <= MAX_DIMENSION and 1 <= height <= MAX_DIMENSION):
            raise LaunchQueryError(f"mode {mode} is outside 1..{MAX_DIMENSION} pixels")
        if not 1 <= fps <= MAX_FPS:
            raise LaunchQueryError(f"mode {mode} asks for more than {MAX_FPS} fps or none")
    elif resume_of is not None:
        width, height, fps = resume_of.width, resume_of.height, resume_of.fps
    else:
        raise LaunchQueryError("missing the mode parameter (WIDTHxHEIGHTxFPS)")
    if resume_of is not None:
        app_id = resume_of.app_id
        local_audio_default = int(resume_of.local_audio)
    else:
        app_id = _int(query, "appid")
        local_audio_default = None
    return LaunchRequest(
        client_id=client_id,
        client_name=client_name,
        unique_id=query.get("uniqueid", ""),
        app_id=app_id,
        width=width,
        height=height,
        fps=fps,
        rikey=bytes.fromhex(rikey_hex),
        rikeyid=rikeyid,
        local_audio=_int(query, "localaudioplaymode", local_audio_default) != 0,
        surround_audio_info=_int(query, "surroundaudioinfo", DEFAULT_SURROUND_AUDIO_INFO),
        sops=_int(query, "sops", 0) != 0,
        gcmap=_int(query, "gcmap", 0),
        corever=_int(query, "corever", 0),
        hdr=_int(query, "hdrmode", 0) != 0,
        resume=resume_of is not None,
        host_address=host_address,
        client_address=client_address,
        extra=tuple((k, v) for k, v in query.items() if k not in _KNOWN_KEYS),
    )


class LaunchError(Exception):
    """A launcher could not start the stream; `status_code` goes into the XML answer."""

    def __init__(self, message: str, status_code: int = 503) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class Launcher(Protocol):
    """Starts and stops what a client streams. Called on the service's event loop."""

    def launch(self, request: LaunchRequest) -> str:
        """Get ready for `request`'s stream; return the sessionUrl0 (`rtsp://IP:PORT`).
        Raise LaunchError to refuse."""
        ...

    def cancel(self, client_id: str) -> None:
        """The client asked to quit the running app (or was unpaired)."""
        ...

    def running(self) -> LaunchRequest | None:
        """The launch that is running, for serverinfo's state and currentgame."""
        ...


def rtsp_url(host_address: str, port: int) -> str:
    host = f"[{host_address}]" if ":" in host_address else host_address
    return f"rtsp://{host}:{port}"


class InMemoryLauncher:
    """Records launches and answers rtsp://<address the client reached>:<rtsp port>;
    nothing streams. Stands in until the streaming part provides a launcher."""

    def __init__(self, rtsp_port: Callable[[], int] = lambda: DEFAULT_RTSP_PORT) -> None:
        self.rtsp_port = rtsp_port
        self.launches: list[LaunchRequest] = []
        self.cancels: list[str] = []
        self._running: LaunchRequest | None = None

    def launch(self, request: LaunchRequest) -> str:
        self.launches.append(request)
        self._running = request
        return rtsp_url(request.host_address, self.rtsp_port())

    def cancel(self, client_id: str) -> None:
        self.cancels.append(client_id)
        self._running = None

    def running(self) -> LaunchRequest | None:
        return self._running
