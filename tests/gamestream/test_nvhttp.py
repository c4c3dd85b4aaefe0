"""nvhttp's wire format: hostile query strings, escaped XML, serverinfo, the app list and
the launch query."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from host.gamestream.launch import LaunchQueryError, LaunchRequest, parse_launch_query, rtsp_url
from host.gamestream.nvhttp import (
    APP_VERSION,
    MAX_QUERY_BYTES,
    MAX_QUERY_PARAMS,
    SCM_AV1_MAIN8,
    SCM_H264,
    SCM_HEVC,
    App,
    QueryError,
    ServerInfo,
    app_list,
    applist_xml,
    codec_mode_mask,
    error_xml,
    parse_query,
    serverinfo_xml,
    unauthorized_xml,
)
from tests.gamestream.support_pairing import parse_xml, xml_root

# -- the query string ----------------------------------------------------------------------


def test_query_is_decoded_with_lowercased_names() -> None:
    query = parse_query(b"uniqueid=0123456789ABCDEF&localAudioPlayMode=1&name=a%20b+c")
    assert dict(query) == {
        "uniqueid": "0123456789ABCDEF",
        "localaudioplaymode": "1",
        "name": "a b c",
    }
    assert query["localAudioPlayMode"] == "1"  # lookups ignore case too


def test_empty_components_are_skipped_as_moonlight_sends_them() -> None:
    # Moonlight appends its own parameters as "&corever=1" after an "&".
    assert dict(parse_query(b"appid=1&&corever=1&")) == {"appid": "1", "corever": "1"}
    assert dict(parse_query(b"")) == {}


def test_a_name_without_value_is_empty() -> None:
    assert dict(parse_query(b"flag")) == {"flag": ""}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"a=" + b"1" * MAX_QUERY_BYTES, "longer than"),
        (b"&".join(b"k%d=1" % i for i in range(MAX_QUERY_PARAMS + 1)), "more than"),
        (b"a=%zz", "percent-encoding"),
        (b"a=%4", "percent-encoding"),
        (b"a=%", "percent-encoding"),
        (b"a=%00", "control character"),
        (b"a=x%0Ay", "control character"),
        (b"a=%7F", "control character"),
        (b"a=%ff%fe", "not UTF-8"),
        (b"a=1&a=2", "given twice"),
        (b"uniqueid=1&UNIQUEID=2", "given twice"),
        (b"a=\x00", "must be percent-encoded"),
        (b"a=\xc3\xa9", "must be percent-encoded"),
        (b"a b=1", "must be percent-encoded"),
        (b"=1", "bad parameter name"),
        (b"%3Cscript%3E=1", "bad parameter name"),
        (b"k" * 65 + b"=1", "bad parameter name"),
    ],
)
def test_hostile_query_strings_are_typed_errors(raw: bytes, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        parse_query(raw)


def test_a_str_query_with_non_ascii_is_refused() -> None:
    with pytest.raises(QueryError):
        parse_query("a=é")


@given(st.binary(max_size=600))
def test_any_bytes_parse_or_raise_query_error(raw: bytes) -> None:
    try:
        query = parse_query(raw)
    except QueryError:
        return
    for key, value in query.items():
        assert key == key.lower()
        assert not any(ord(c) < 0x20 for c in key + value)


# -- XML -------------------------------------------------------------------------------------

HOSTILE_NAMES = [
    "<b>bold</b>",
    'Tom & Jerry\'s "Game"',
    "]]><!--",
    "tab\there, bell\x07, nul\x00, esc\x1b",
    "\ud800 lone surrogate",
    "Ünïcødé 🎮",
]


def _as_xml_carries_it(text: str) -> str:
    """`text` with what XML cannot carry (C0 controls but tab/LF/CR, lone surrogates)
    replaced by U+FFFD."""
    return "".join(
        "\ufffd" if (ord(c) < 0x20 and c not in "\t\n\r") or 0xD800 <= ord(c) < 0xE000 else c
        for c in text
    )


@pytest.mark.parametrize("title", HOSTILE_NAMES)
def test_app_titles_are_escaped_and_parse_back(title: str) -> None:
    root = xml_root(applist_xml([App(1, "Desktop"), App(7, title)]))
    titles = [app.findtext("AppTitle") for app in root.iter("App")]
    assert titles == ["Desktop", _as_xml_carries_it(title)]


@pytest.mark.parametrize("message", HOSTILE_NAMES)
def test_status_messages_are_escaped_attributes(message: str) -> None:
    status, fields, parsed = parse_xml(error_xml(400, message))
    assert status == 400
    assert fields == {}  # nothing in the message became an element
    assert parsed == _as_xml_carries_it(message)


@given(st.text(max_size=200))
def test_any_text_makes_well_formed_xml(text: str) -> None:
    root = xml_root(error_xml(500, text, (("paired", text),)))
    assert root.get("status_code") == "500"
    assert root.findtext("paired") is not None


def test_unauthorized_answer_is_the_401_moonlight_reads() -> None:
    status, fields, message = parse_xml(unauthorized_xml())
    assert status == 401
    assert fields == {}
    assert "not authorized" in message


# -- serverinfo and codecs -------------------------------------------------------------------


def test_codec_mask_has_the_sunshine_bits() -> None:
    assert codec_mode_mask({"h264"}) == SCM_H264 == 0x1
    assert codec_mode_mask({"hevc"}) == SCM_HEVC == 0x100
    assert codec_mode_mask({"av1"}) == SCM_AV1_MAIN8 == 0x10000
    assert codec_mode_mask(["h264", "HEVC", "av1"]) == 0x10101


@pytest.mark.parametrize("codecs", [set(), {"vp9"}])
def test_codec_mask_refuses_nothing_or_unknown(codecs: set[str]) -> None:
    with pytest.raises(ValueError, match="codec"):
        codec_mode_mask(codecs)


def _info(**kw: object) -> ServerInfo:
    fields: dict[str, object] = {
        "hostname": "den <PC>",
        "uniqueid": "UID-1",
        "http_port": 47989,
        "https_port": 47984,
        "codec_mask": 0x101,
        "local_ip": "192.168.1.5",
        "mac": "aa:bb:cc:dd:ee:ff",
        "paired": True,
        "current_game": 0,
    }
    fields.update(kw)
    return ServerInfo(**fields)  # type: ignore[arg-type]


def test_serverinfo_carries_every_field_moonlight_needs() -> None:
    status, fields, _ = parse_xml(serverinfo_xml(_info()))
    assert status == 200
    assert fields == {
        "hostname": "den <PC>",
        "appversion": APP_VERSION,
        "GfeVersion": "3.23.0.74",
        "uniqueid": "UID-1",
        "HttpsPort": "47984",
        "ExternalPort": "47989",
        "MaxLumaPixelsHEVC": "1869449984",
        "mac": "aa:bb:cc:dd:ee:ff",
        "LocalIP": "192.168.1.5",
        "ServerCodecModeSupport": "257",
        "PairStatus": "1",
        "currentgame": "0",
        "state": "SUNSHINE_SERVER_FREE",
    }
    assert APP_VERSION == "7.1.431.-1"


def test_serverinfo_while_an_app_runs_is_busy_and_without_hevc_has_no_luma() -> None:
    _, fields, _ = parse_xml(serverinfo_xml(_info(current_game=3, codec_mask=1, paired=False)))
    assert (fields["state"], fields["currentgame"]) == ("SUNSHINE_SERVER_BUSY", "3")
    assert fields["MaxLumaPixelsHEVC"] == "0"
    assert fields["PairStatus"] == "0"


def test_serverinfo_refuses_a_zero_codec_mask() -> None:
    with pytest.raises(ValueError, match="ServerCodecModeSupport"):
        serverinfo_xml(_info(codec_mask=0))


# -- apps and the launch query -------------------------------------------------------------------


def test_app_list_starts_with_the_desktop() -> None:
    apps = app_list([App(2, "Steam")])
    assert [(a.id, a.title) for a in apps] == [(1, "Desktop"), (2, "Steam")]


@pytest.mark.parametrize(
    "apps", [[App(1, "Another desktop")], [App(2, "a"), App(2, "b")], [App(0, "x")], [App(3, " ")]]
)
def test_app_list_refuses_duplicates_and_bad_entries(apps: list[App]) -> None:
    with pytest.raises(ValueError, match="app"):
        app_list(apps)


def _launch(raw: bytes, resume_of: LaunchRequest | None = None) -> LaunchRequest:
    return parse_launch_query(
        parse_query(raw),
        client_id="c" * 64,
        client_name="TV",
        host_address="192.168.1.5",
        client_address="192.168.1.9",
        resume_of=resume_of,
    )


LAUNCH = (
    b"uniqueid=0123456789ABCDEF&uuid=x&appid=1&mode=1920x1080x60&additionalStates=1&sops=1"
    b"&rikey=000102030405060708090a0b0c0d0e0f&rikeyid=-2&localAudioPlayMode=0"
    b"&surroundAudioInfo=196610&remoteControllersBitmap=0&gcmap=0&gcpersist=0&&corever=1"
)


def test_launch_query_becomes_a_launch_request() -> None:
    request = _launch(LAUNCH)
    assert request == parse_launch_query(
        parse_query(LAUNCH),
        client_id="c" * 64,
        client_name="TV",
        host_address="192.168.1.5",
        client_address="192.168.1.9",
    )
    assert (request.app_id, request.width, request.height, request.fps) == (1, 1920, 1080, 60)
    assert request.rikey == bytes(range(16))
    assert request.rikeyid == -2
    assert request.rikeyid_bytes == b"\xff\xff\xff\xfe"
    assert (request.local_audio, request.sops, request.corever) == (False, True, 1)
    assert request.surround_audio_info == 196610
    assert not request.resume
    assert dict(request.extra) == {
        "additionalstates": "1",
        "remotecontrollersbitmap": "0",
        "gcpersist": "0",
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ((b"rikey=000102030405060708090a0b0c0d0e0f", b"rikey=00"), "rikey"),
        ((b"rikey=000102030405060708090a0b0c0d0e0f&", b""), "rikey"),
        ((b"rikeyid=-2", b"rikeyid=x"), "rikeyid"),
        ((b"rikeyid=-2", b"rikeyid=99999999999"), "rikeyid"),
        ((b"mode=1920x1080x60", b"mode=1920x1080"), "mode"),
        ((b"mode=1920x1080x60", b"mode=99999x1080x60"), "mode"),
        ((b"mode=1920x1080x60", b"mode=1920x1080x0"), "mode"),
        ((b"mode=1920x1080x60&", b""), "mode"),
        ((b"appid=1&", b""), "appid"),
        ((b"localAudioPlayMode=0&", b""), "localaudioplaymode"),
    ],
)
def test_malformed_launch_queries_say_what_is_wrong(
    change: tuple[bytes, bytes], message: str
) -> None:
    with pytest.raises(LaunchQueryError, match=message):
        _launch(LAUNCH.replace(*change))


def test_resume_keeps_the_running_app_and_mode() -> None:
    running = _launch(LAUNCH)
    resumed = _launch(
        b"uniqueid=0123456789ABCDEF&rikey=0f0e0d0c0b0a09080706050403020100&rikeyid=7"
        b"&surroundAudioInfo=196610",
        resume_of=running,
    )
    assert resumed.resume
    assert (resumed.app_id, resumed.width, resumed.fps) == (1, 1920, 60)
    assert resumed.rikeyid == 7
    assert resumed.local_audio == running.local_audio


def test_rtsp_url_brackets_ipv6() -> None:
    assert rtsp_url("10.0.0.2", 48010) == "rtsp://10.0.0.2:48010"
    assert rtsp_url("fe80::1", 48010) == "rtsp://[fe80::1]:48010"
