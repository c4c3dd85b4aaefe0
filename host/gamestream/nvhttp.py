"""GameStream's nvhttp wire format: bounded query parsing and the XML answers.

Every request is `GET /<command>?<query>`; every answer is `<root status_code="N">` with
one child element per field. Failures travel inside that XML (HTTP 200 with a non-200
`status_code` and a `status_message`): that is what Moonlight clients read, including the
401 that tells an unpaired client to pair. Every text is XML-escaped, and characters XML
cannot carry at all (NUL, other C0 controls) become U+FFFD.

Facts: Sunshine `src/nvhttp.cpp` (fields, versions), moonlight-common-c `Limelight.h`
(ServerCodecModeSupport bits).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

# The fourth, negative number makes Moonlight treat the host as Sunshine (RTSP over TCP,
# one PLAY, the control stream on ENet with encryption).
APP_VERSION = "7.1.431.-1"
GFE_VERSION = "3.23.0.74"
STATE_FREE = "SUNSHINE_SERVER_FREE"
STATE_BUSY = "SUNSHINE_SERVER_BUSY"
# Moonlight ignores this MAC; Sunshine sends it to anyone not paired.
PLACEHOLDER_MAC = "00:00:00:00:00:00"
# Largest HEVC frame (luma pixels) advertised when HEVC is on: Sunshine's 8K figure.
MAX_LUMA_PIXELS_HEVC = 1869449984

# ServerCodecModeSupport bits (8-bit 4:2:0 of each codec; no 10-bit or 4:4:4 here).
SCM_H264 = 0x00001
SCM_HEVC = 0x00100
SCM_AV1_MAIN8 = 0x10000
CODEC_MODE_BITS: Mapping[str, int] = {"h264": SCM_H264, "hevc": SCM_HEVC, "av1": SCM_AV1_MAIN8}

MAX_QUERY_BYTES = 8192  # the largest real query is pairing phase 1: a certificate in hex
MAX_QUERY_PARAMS = 48
MAX_PARAM_NAME_CHARS = 64
_PARAM_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
_HEX2 = re.compile(rb"[0-9A-Fa-f]{2}")


def codec_mode_mask(codecs: Iterable[str]) -> int:
    """ServerCodecModeSupport for `codecs` (names from "h264", "hevc", "av1").

    Raises ValueError on an unknown name or an empty set: a zero mask makes Moonlight
    refuse to stream."""
    mask = 0
    for codec in codecs:
        bit = CODEC_MODE_BITS.get(codec.lower())
        if bit is None:
            raise ValueError(f"unknown codec {codec!r}; known: {', '.join(CODEC_MODE_BITS)}")
        mask |= bit
    if mask == 0:
        raise ValueError("at least one codec is needed (Moonlight refuses a host with none)")
    return mask


# -- the query string ------------------------------------------------------------------


class QueryError(ValueError):
    """The query string is oversized or malformed; the message says how."""


class Query(Mapping[str, str]):
    """A parsed query: names lowercased (GameStream names are case-insensitive), each
    name at most once, values decoded text without control characters."""

    def __init__(self, params: Mapping[str, str]) -> None:
        self._params = dict(params)

    def __getitem__(self, key: str) -> str:
        return self._params[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __repr__(self) -> str:
        return f"Query({self._params!r})"


def _percent_decode(raw: bytes, what: str) -> str:
    out = bytearray()
    i = 0
    while i < len(raw):
        byte = raw[i]
        if byte == 0x25:  # %
            pair = raw[i + 1 : i + 3]
            if _HEX2.fullmatch(pair) is None:
                raise QueryError(f"malformed percent-encoding in {what}")
            out.append(int(pair, 16))
            i += 3
            continue
        out.append(0x20 if byte == 0x2B else byte)  # + is a space in form encoding
        i += 1
    try:
        text = out.decode("utf-8")
    except UnicodeDecodeError:
        raise QueryError(f"{what} is not UTF-8") from None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise QueryError(f"{what} contains a control character")
    return text


def parse_query(raw: bytes | str) -> Query:
    """Parse `raw` (the part after `?`). Empty components (`a=1&&b=2`) are skipped, as
    Moonlight's own launch parameters start with `&`. Raises QueryError."""
    data = raw.encode() if isinstance(raw, str) else bytes(raw)
    if len(data) > MAX_QUERY_BYTES:
        raise QueryError(f"query string longer than {MAX_QUERY_BYTES} bytes")
    if any(b < 0x21 or b > 0x7E for b in data):
        raise QueryError("query string has a byte that must be percent-encoded")
    params: dict[str, str] = {}
    for part in data.split(b"&"):
        if not part:
            continue
        if len(params) >= MAX_QUERY_PARAMS:
            raise QueryError(f"more than {MAX_QUERY_PARAMS} query parameters")
        raw_name, _, raw_value = part.partition(b"=")
        name = _percent_decode(raw_name, "a parameter name")
        if len(name) > MAX_PARAM_NAME_CHARS or _PARAM_NAME.fullmatch(name) is None:
            raise QueryError(f"bad parameter name {name[:MAX_PARAM_NAME_CHARS]!r}")
        key = name.lower()
        if key in params:
            raise QueryError(f"parameter {name!r} given twice")
        params[key] = _percent_decode(raw_value, f"parameter {name!r}")
    return Query(params)


# -- XML -----------------------------------------------------------------------------------

# Characters XML 1.0 cannot represent, even as character references.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
# Tab, LF and CR as references too: a parser turns them into spaces in attribute values.
_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "'": "&apos;",
        "\t": "&#9;",
        "\n": "&#10;",
        "\r": "&#13;",
    }
)
XML_PROLOG = '<?xml version="1.0" encoding="utf-8"?>\n'
_TAG = re.compile(r"[A-Za-z][A-Za-z0-9]*")

Field = tuple[str, "str | int | Sequence[Field]"]


def xml_escape(text: str) -> str:
    """`text` safe as element text or a double- or single-quoted attribute value."""
    return _NOT_XML.sub("\ufffd", text).translate(_ESCAPES)


def _render(fields: Iterable[Field]) -> Iterator[str]:
    for tag, value in fields:
        if _TAG.fullmatch(tag) is None:  # tags come from this module, never from clients
            raise ValueError(f"bad XML tag {tag!r}")
        if isinstance(value, str | int):
            yield f"<{tag}>{xml_escape(str(value))}</{tag}>"
        else:
            yield f"<{tag}>{''.join(_render(value))}</{tag}>"


def xml_answer(
    fields: Iterable[Field] = (), *, status_code: int = 200, status_message: str | None = None
) -> bytes:
    """`<root status_code=...>` with one element per field (a sequence value nests)."""
    attributes = f' status_code="{status_code}"'
    if status_message is not None:
        attributes += f' status_message="{xml_escape(status_message)}"'
    body = "".join(_render(fields))
    return f"{XML_PROLOG}<root{attributes}>{body}</root>".encode()


def error_xml(status_code: int, message: str, fields: Iterable[Field] = ()) -> bytes:
    return xml_answer(fields, status_code=status_code, status_message=message)


UNAUTHORIZED_MESSAGE = (
    "The client is not authorized: its certificate is not paired with this host. Pair again."
)


def unauthorized_xml() -> bytes:
    """What an unpaired or revoked client gets over HTTPS; Moonlight then offers to pair."""
    return error_xml(401, UNAUTHORIZED_MESSAGE)


@dataclass(frozen=True)
class App:
    """One entry of the app list. Id 1 is the desktop, which every host lists."""

    id: int
    title: str
    hdr: bool = False


DESKTOP_APP_ID = 1
DESKTOP_APP = App(DESKTOP_APP_ID, "Desktop")
MAX_APP_TITLE_CHARS = 100


def app_list(extra: Sequence[App]) -> tuple[App, ...]:
    """The desktop followed by `extra`; raises ValueError on a duplicate or invalid app."""
    apps = (DESKTOP_APP, *extra)
    seen: set[int] = set()
    for app in apps:
        if not 1 <= app.id <= 2**31 - 1:
            raise ValueError(f"app id {app.id} is out of range 1..2147483647")
        if app.id in seen:
            raise ValueError(f"app id {app.id} is listed twice (id 1 is the desktop)")
        if not app.title.strip() or len(app.title) > MAX_APP_TITLE_CHARS:
            raise ValueError(f"app {app.id} needs a title of 1..{MAX_APP_TITLE_CHARS} characters")
        seen.add(app.id)
    return apps


def applist_xml(apps: Iterable[App]) -> bytes:
    return xml_answer(
        ("App", (("IsHdrSupported", int(app.hdr)), ("AppTitle", app.title), ("ID", app.id)))
        for app in apps
    )


@dataclass(frozen=True)
class ServerInfo:
    hostname: str
    uniqueid: str
    http_port: int
    https_port: int
    codec_mask: int
    local_ip: str
    mac: str
    paired: bool  # PairStatus: only 1 over HTTPS with a paired certificate
    current_game: int  # 0 when nothing runs


def serverinfo_xml(info: ServerInfo) -> bytes:
    if info.codec_mask == 0:
        raise ValueError("ServerCodecModeSupport must not be 0; Moonlight refuses such a host")
    max_luma = MAX_LUMA_PIXELS_HEVC if info.codec_mask & SCM_HEVC else 0
    return xml_answer(
        (
            ("hostname", info.hostname),
            ("appversion", APP_VERSION),
            ("GfeVersion", GFE_VERSION),
            ("uniqueid", info.uniqueid),
            ("HttpsPort", info.https_port),
            ("ExternalPort", info.http_port),
            ("MaxLumaPixelsHEVC", max_luma),
            ("mac", info.mac),
            ("LocalIP", info.local_ip),
            ("ServerCodecModeSupport", info.codec_mask),
            ("PairStatus", int(info.paired)),
            ("currentgame", info.current_game),
            ("state", STATE_BUSY if info.current_game else STATE_FREE),
        )
    )


def pair_xml(paired: bool, fields: Iterable[Field] = ()) -> bytes:
    return xml_answer((("paired", int(paired)), *fields))


def pair_failed_xml(message: str, status_code: int = 400) -> bytes:
    return error_xml(status_code, message, (("paired", 0),))


def launch_xml(session_url: str) -> bytes:
    return xml_answer((("sessionUrl0", session_url), ("gamesession", 1)))


def resume_xml(session_url: str) -> bytes:
    return xml_answer((("sessionUrl0", session_url), ("resume", 1)))


def cancel_xml() -> bytes:
    return xml_answer((("cancel", 1),))


def unpair_xml() -> bytes:
    return xml_answer()
