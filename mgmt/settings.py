"""`punktfunk serve` configuration: one source of truth, four layers.

    defaults  ->  <config dir>/config.toml  ->  PUNKTFUNK_<NAME> environment  ->  flags

Every setting has the same name in all layers (upper-cased after PUNKTFUNK_ in the
environment, dashes instead of underscores as a flag). Unknown TOML keys and values of
the wrong type are errors that name the setting and the layer, not silent defaults.
The README's configuration table is generated from `SETTINGS` (and a test keeps it so).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_type_hints

from host.config import config_dir

if TYPE_CHECKING:
    from host.gamestream.host import GameStreamHostSettings
    from host.native.server import NativeSettings

CONFIG_FILE = "config.toml"
ENV_PREFIX = "PUNKTFUNK_"
DEFAULT_MGMT_PORT = 47900


class SettingsError(ValueError):
    """A configuration value is invalid; the message names it and where it came from."""


@dataclass(frozen=True)
class Settings:
    bind: str = f"127.0.0.1:{DEFAULT_MGMT_PORT}"
    native: str = "0.0.0.0:47920"
    gamestream: bool = True
    gamestream_port: int = 47989
    mdns: bool = True
    apps: str = ""
    gamestream_loss_percent: float = 0.0
    audio_source: str = "auto"
    source: str = "synthetic"
    encoder: str = "auto"
    codec: str = ""
    bitrate_kbps: int = 0
    fec_percent: int = 25
    max_sessions: int = 4
    perf: bool = False
    measure: str = "armed"
    demo: bool = False
    demo_gamestream: bool = True
    demo_mode: str = "1280x720@60"
    demo_codec: str = "h264"
    demo_bitrate_kbps: int = 10_000
    captures_dir: str = ""
    console_dir: str = ""
    metrics_open: bool = False


# One line per setting for --help and the README table.
SETTINGS: dict[str, str] = {
    "bind": "mgmt API and console address, HOST:PORT (port 0 picks a free one)",
    "native": "native punktfunk/1 listener, HOST:PORT (port 0 picks a free one)",
    "gamestream": "serve Moonlight clients (GameStream) on the native listener's host",
    "gamestream_port": "GameStream HTTP port; HTTPS, RTSP, control, video and audio follow "
    "it as on a GameStream host (0 picks free ports, announced to the client)",
    "mdns": "advertise the GameStream host on the LAN (_nvstream._tcp) so Moonlight lists it",
    "apps": "GameStream apps beside Desktop, 'Title=SOURCE;Title=SOURCE' (a source as above)",
    "audio_source": "GameStream sound: auto (a tone with a synthetic picture, else the "
    "desktop's audio where a PulseAudio/PipeWire server answers, else silence), pulse, "
    "tone[@HZ] or silence",
    "gamestream_loss_percent": "drop this share of GameStream video datagrams on purpose, to "
    "watch the client's FEC at work (tests, demos); 0 in production",
    "source": "frame source: synthetic[@FPS], x11[:DISPLAY] or file:PATH",
    "encoder": "auto (NVENC when usable, else CPU), cpu or nvenc",
    "codec": "force this codec for every session (h264, hevc, av1); empty: as asked",
    "bitrate_kbps": "force this bitrate for every session; 0: as asked",
    "fec_percent": "Reed-Solomon parity per block, percent of its data shards (floor 2)",
    "max_sessions": "concurrent streaming sessions, all paths together",
    "perf": "log one perf line per session per window to stdout",
    "measure": "when frames are timed: armed (while perf is on or a capture records) or "
    "always (latency histograms on /metrics without a capture, ~1 % more CPU per frame)",
    "demo": "also stream to a local demo client, so there is something to measure",
    "demo_gamestream": "the demo also streams to a local Moonlight client (the demo extra)",
    "demo_mode": "the demo clients' mode, WxH@FPS",
    "demo_codec": "the demo clients' codec",
    "demo_bitrate_kbps": "the demo clients' bitrate",
    "captures_dir": "where recordings are saved; empty: <config dir>/captures",
    "console_dir": "the built console to serve; empty: console/dist of this checkout",
    "metrics_open": "serve /metrics without the bearer token (for a trusted scraper)",
}

# Settings that take one of a few words; the first is the default.
CHOICES: dict[str, tuple[str, ...]] = {"measure": ("armed", "always")}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _types() -> dict[str, type]:
    hints = get_type_hints(Settings)
    return {f.name: hints[f.name] for f in fields(Settings)}


def _coerce(name: str, value: Any, origin: str) -> Any:
    kind = _types()[name]
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
    elif kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
    elif kind is str and isinstance(value, str):
        choices = CHOICES.get(name)
        if choices is None:
            return value
        if value.strip().lower() in choices:
            return value.strip().lower()
        raise SettingsError(f"{origin}: {name} must be one of {', '.join(choices)}, got {value!r}")
    raise SettingsError(f"{origin}: {name} must be {kind.__name__}, got {value!r}")


def load(
    flags: dict[str, Any] | None = None,
    *,
    environ: dict[str, str] | None = None,
    directory: Path | None = None,
) -> Settings:
    """Settings from all four layers; `flags` holds only the flags actually given."""
    settings = Settings()
    path = (directory or config_dir()) / CONFIG_FILE
    if path.exists():
        try:
            table = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"{path}: {exc}") from None
        unknown = sorted(set(table) - set(SETTINGS))
        if unknown:
            raise SettingsError(f"{path}: unknown setting(s) {', '.join(unknown)}")
        settings = replace(settings, **{k: _coerce(k, v, str(path)) for k, v in table.items()})
    env = os.environ if environ is None else environ
    from_env = {
        name: _coerce(name, env[ENV_PREFIX + name.upper()], ENV_PREFIX + name.upper())
        for name in SETTINGS
        if ENV_PREFIX + name.upper() in env
    }
    settings = replace(settings, **from_env)
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    return replace(
        settings, **{k: _coerce(k, v, "--" + k.replace("_", "-")) for k, v in given.items()}
    )


def split_address(value: str, setting: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise SettingsError(f"{setting} must be HOST:PORT, got {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104


def join_address(host: str, port: int) -> str:
    """HOST:PORT as a URL or the client's address argument wants it ([v6]:PORT)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def local_host(host: str) -> str:
    """The host a client on this machine dials for a listener bound to `host`."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104


def captures_dir(settings: Settings) -> Path:
    """Where recordings are saved: the `captures_dir` setting, else <config dir>/captures."""
    return Path(settings.captures_dir) if settings.captures_dir else config_dir() / "captures"


def native_settings(settings: Settings) -> NativeSettings:
    """The native listener's settings, derived from the one set of operator settings."""
    from host.native.server import NativeSettings  # noqa: PLC0415 - keeps `token` light

    bind, port = split_address(settings.native, "native")
    return NativeSettings(
        bind=bind,
        port=port,
        source=settings.source,
        encoder=settings.encoder,
        fec_percent=settings.fec_percent,
        codec=settings.codec or None,
        bitrate_kbps=settings.bitrate_kbps or None,
    )


def gamestream_settings(settings: Settings) -> GameStreamHostSettings:
    """The GameStream listener's settings, derived from the same operator settings: it
    binds where the native listener does."""
    from host.gamestream.host import AppsError, GameStreamHostSettings, parse_apps  # noqa: PLC0415

    bind, _ = split_address(settings.native, "native")
    if not 0.0 <= settings.gamestream_loss_percent < 100.0:
        raise SettingsError(
            f"gamestream_loss_percent must be in 0..100, got {settings.gamestream_loss_percent}"
        )
    if not 0 <= settings.gamestream_port <= 65535 or 0 < settings.gamestream_port < 6:
        raise SettingsError(
            f"gamestream_port must be 0 or 6..65535, got {settings.gamestream_port}"
        )
    try:
        apps = tuple(parse_apps(settings.apps))
    except AppsError as err:
        raise SettingsError(str(err)) from None
    from host.gamestream.audio import AudioError, parse_source  # noqa: PLC0415

    try:
        parse_source(settings.audio_source)
    except AudioError as err:
        raise SettingsError(f"audio_source: {err}") from None
    return GameStreamHostSettings(
        bind=bind,
        http_port=settings.gamestream_port,
        source=settings.source,
        fec_percent=settings.fec_percent,
        bitrate_kbps=settings.bitrate_kbps or None,
        apps=apps,
        mdns=settings.mdns,
        loss_percent=settings.gamestream_loss_percent,
        audio_source=settings.audio_source,
    )


def markdown_table() -> str:
    defaults = Settings()
    rows = [
        "| setting (config.toml) | environment | flag | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for name, meaning in SETTINGS.items():
        default = getattr(defaults, name)
        shown = "`true`" if default is True else "`false`" if default is False else f"`{default}`"
        if default == "":
            shown = "(empty)"
        rows.append(
            f"| `{name}` | `{ENV_PREFIX}{name.upper()}` | `--{name.replace('_', '-')}` "
            f"| {shown} | {meaning} |"
        )
    return "\n".join(rows)
