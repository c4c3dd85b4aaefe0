"""RTSP: Moonlight's requests byte for byte, the handshake's order, hostile requests, and a
real conversation over loopback TCP, one request per connection."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host.gamestream.rtsp import (
    MAX_BODY,
    MAX_HEADER_BYTES,
    Announced,
    Playing,
    RtspError,
    RtspRequest,
    RtspRequestParser,
    RtspSession,
    RtspState,
    StreamConfig,
    StreamPorts,
    parse_announce,
    parse_request,
)
from host.gamestream.rtsp_server import RtspServer

PORTS = StreamPorts(audio=48000, video=47998, control=47999)
SESSION_ID = "DEADBEEFCAFE"
PING = "0123456789abcdef"
CONNECT_DATA = 0xC0FFEE42


def moonlight_request(method: str, target: str, cseq: int, *extra: str, body: bytes = b"") -> bytes:
    """A request as moonlight-common-c serializes it: CSeq, X-GS-ClientVersion, Host, extras."""
    lines = [f"{method} {target} RTSP/1.0", f"CSeq: {cseq}", "X-GS-ClientVersion: 14"]
    lines.append("Host: 192.168.1.20")
    lines += extra
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


SETUP_EXTRA = ("Transport: unicast;X-GS-ClientPort=50000-50001",)
IF_MODIFIED = "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT"


def moonlight_sdp(**overrides: str) -> bytes:
    """An ANNOUNCE body as moonlight's SdpGenerator writes it ("a=name:value \\r\\n")."""
    attributes = {
        "x-ml-general.featureFlags": "3",
        "x-ss-general.encryptionEnabled": "1",
        "x-ss-video[0].chromaSamplingType": "0",
        "x-nv-video[0].clientViewportWd": "1920",
        "x-nv-video[0].clientViewportHt": "1080",
        "x-nv-video[0].maxFPS": "60",
        "x-nv-video[0].packetSize": "1392",
        "x-nv-video[0].rateControlMode": "4",
        "x-nv-video[0].timeoutLengthMs": "7000",
        "x-nv-video[0].framesWithInvalidRefThreshold": "0",
        "x-nv-video[0].initialBitrateKbps": "16000",
        "x-nv-video[0].initialPeakBitrateKbps": "16000",
        "x-nv-vqos[0].bw.minimumBitrateKbps": "16000",
        "x-nv-vqos[0].bw.maximumBitrateKbps": "16000",
        "x-ml-video.configuredBitrateKbps": "20000",
        "x-nv-vqos[0].fec.enable": "1",
        "x-nv-vqos[0].videoQualityScoreUpdateTime": "5000",
        "x-nv-vqos[0].qosTrafficType": "5",
        "x-nv-aqos.qosTrafficType": "4",
        "x-nv-general.featureFlags": "167",
        "x-nv-general.useReliableUdp": "13",
        "x-nv-vqos[0].fec.minRequiredFecPackets": "2",
        "x-nv-vqos[0].bllFec.enable": "0",
        "x-nv-vqos[0].drc.enable": "0",
        "x-nv-general.enableRecoveryMode": "0",
        "x-nv-video[0].videoEncoderSlicesPerFrame": "1",
        "x-nv-clientSupportHevc": "1",
        "x-nv-vqos[0].bitStreamFormat": "1",
        "x-nv-video[0].dynamicRangeMode": "0",
        "x-nv-video[0].maxNumReferenceFrames": "0",
        "x-nv-video[0].clientRefreshRateX100": "5994",
        "x-nv-audio.surround.numChannels": "2",
        "x-nv-audio.surround.channelMask": "3",
        "x-nv-audio.surround.enable": "0",
        "x-nv-audio.surround.AudioQuality": "0",
        "x-nv-aqos.packetDuration": "5",
        "x-nv-video[0].encoderCscMode": "3",
    }
    attributes.update(overrides)
    head = "v=0\r\no=android 0 14 IN IPv4 192.168.1.20\r\ns=NVIDIA Streaming Client\r\n"
    lines = "".join(f"a={name}:{value} \r\n" for name, value in attributes.items())
    return (head + lines + "t=0 0\r\nm=video 47998  \r\n").encode()


def announce_request(cseq: int = 6, session: str = SESSION_ID, body: bytes | None = None) -> bytes:
    body = moonlight_sdp() if body is None else body
    extra = (f"Session: {session}", "Content-type: application/sdp", f"Content-length: {len(body)}")
    return moonlight_request("ANNOUNCE", "streamid=control/13/0", cseq, *extra, body=body)


def conversation() -> list[bytes]:
    """The seven requests of a Moonlight launch, in its order."""
    session = f"Session: {SESSION_ID}"
    return [
        moonlight_request("OPTIONS", "rtsp://192.168.1.20:48010", 1),
        moonlight_request(
            "DESCRIBE", "rtsp://192.168.1.20:48010", 2, "Accept: application/sdp", IF_MODIFIED
        ),
        moonlight_request("SETUP", "streamid=audio/0/0", 3, *SETUP_EXTRA, IF_MODIFIED),
        moonlight_request("SETUP", "streamid=video/0/0", 4, session, *SETUP_EXTRA, IF_MODIFIED),
        moonlight_request("SETUP", "streamid=control/13/0", 5, session, *SETUP_EXTRA, IF_MODIFIED),
        announce_request(6),
        moonlight_request("PLAY", "/", 7, session),
    ]


def new_session(**options: object) -> RtspSession:
    settings_: dict[str, object] = {
        "codecs": ("h264", "hevc"),
        "ping_payload": PING,
        "connect_data": CONNECT_DATA,
        "session_id": SESSION_ID,
    }
    settings_.update(options)
    return RtspSession(PORTS, **settings_)  # type: ignore[arg-type]


class Parsed:
    """A response read the way moonlight-common-c's parser reads it."""

    def __init__(self, raw: bytes) -> None:
        head, sep, self.body = raw.partition(b"\r\n\r\n")
        assert sep, "no blank line after the headers"
        lines = head.decode("ascii").split("\r\n")
        version, status, _reason = lines[0].split(" ", 2)
        assert version == "RTSP/1.0"
        self.status = int(status)
        assert len(lines) > 1, "Moonlight's parser needs at least one header"
        self.headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(": ")
            self.headers[name] = value


def answer(session: RtspSession, raw: bytes) -> tuple[Parsed, tuple[Announced | Playing, ...]]:
    reply = session.handle(parse_request(raw))
    return Parsed(reply.response.to_bytes()), reply.events


def run_until_announce(session: RtspSession) -> None:
    for raw in conversation()[:5]:
        parsed, _ = answer(session, raw)
        assert parsed.status == 200


# ----------------------------------------------------------------------- request parsing


def test_parser_reads_a_moonlight_setup_request() -> None:
    raw = moonlight_request("SETUP", "streamid=video/0/0", 4, "Session: X", *SETUP_EXTRA)
    request = parse_request(raw)
    assert request.method == "SETUP"
    assert request.target == "streamid=video/0/0"
    assert request.cseq == "4"
    assert request.header("session") == "X"
    assert request.header("Transport") == "unicast;X-GS-ClientPort=50000-50001"
    assert request.body == b""


def test_parser_takes_moonlights_content_length_spelling_and_the_body() -> None:
    request = parse_request(announce_request())
    assert request.header("Content-Length") == str(len(moonlight_sdp()))
    assert request.body == moonlight_sdp()


def test_parser_waits_for_the_whole_request_fed_byte_by_byte() -> None:
    raw = announce_request()
    parser = RtspRequestParser()
    results = [parser.feed(raw[i : i + 1]) for i in range(len(raw))]
    assert all(result is None for result in results[:-1])
    assert isinstance(results[-1], RtspRequest)
    assert results[-1].body == moonlight_sdp()


def rejected(raw: bytes) -> RtspError:
    with pytest.raises(RtspError) as info:
        parse_request(raw)
    return info.value


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"OPTIONS\r\n\r\n",
        b"OPTIONS  * RTSP/1.0\r\n\r\n",
        b"OPT IONS * RTSP/1.0 extra\r\n\r\n",
        b"OPTIONS * RTSP/1.0\r\nno colon here\r\n\r\n",
        b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n folded\r\n\r\n",
        b"OPTIONS * RTSP/1.0\r\nBad Name: 1\r\n\r\n",
        b"OPTIONS * RTSP/1.0\r\nCSeq: \x01\r\n\r\n",
        b"OPTIONS * RTSP/1.0\r\nX: \xff\xfe\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        b"OPTIONS * RTSP/1.0\r\nContent-Length: -1\r\n\r\n",
        b"OPTIONS * RTSP/1.0\r\nContent-Length: 1e3\r\n\r\n",
        b"OPTIONS * RTSP/1.0\r\nContent-Length: 2\r\nContent-length: 3\r\n\r\nabc",
        b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\ntrailing garbage",
        b"OPTIONS * RTSP/1.0\r\nContent-Length: 5\r\n\r\nabc",
    ],
)
def test_parser_rejects_garbage_with_400(raw: bytes) -> None:
    assert rejected(raw).status == 400


def test_parser_answers_another_version_with_505() -> None:
    assert rejected(b"OPTIONS * RTSP/2.0\r\nCSeq: 1\r\n\r\n").status == 505


def test_parser_rejects_oversized_heads_bodies_and_header_counts() -> None:
    endless = RtspRequestParser()
    endless.feed(b"OPTIONS * RTSP/1.0\r\n")
    filler = b"X-Filler: 0123456789\r\n" * (MAX_HEADER_BYTES // 20)
    with pytest.raises(RtspError, match="longer than"):
        endless.feed(filler)
    assert "longer than" in str(rejected(b"OPTIONS /" + b"a" * 3000 + b" RTSP/1.0\r\n\r\n"))
    assert "longer than" in str(rejected(b"OPTIONS * RTSP/1.0\r\nX: " + b"a" * 5000 + b"\r\n\r\n"))
    many = b"".join(b"X-%d: 1\r\n" % i for i in range(40))
    assert "headers" in str(rejected(b"OPTIONS * RTSP/1.0\r\n" + many + b"\r\n"))
    big = b"ANNOUNCE * RTSP/1.0\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1)
    assert "body longer" in str(rejected(big))


def test_parser_rejects_bytes_after_a_complete_request() -> None:
    parser = RtspRequestParser()
    assert parser.feed(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n") is not None
    assert parser.feed(b"") is None
    with pytest.raises(RtspError):
        parser.feed(b"OPTIONS * RTSP/1.0\r\n\r\n")


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_raise_only_rtsp_errors(data: bytes) -> None:
    statuses = set()
    try:
        parse_request(data)
    except RtspError as error:
        statuses.add(error.status)
    assert statuses <= {400, 505}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=12), st.binary(max_size=400))
def test_random_chunks_after_a_valid_prefix_raise_only_rtsp_errors(
    chunks: list[bytes], tail: bytes
) -> None:
    parser = RtspRequestParser()
    try:
        parser.feed(b"ANNOUNCE streamid=control/13/0 RTSP/1.0\r\n")
        for chunk in [*chunks, tail]:
            parser.feed(chunk)
    except RtspError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_random_announce_bodies_raise_only_rtsp_errors(body: bytes) -> None:
    with contextlib.suppress(RtspError):
        parse_announce(body)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(list(re.findall(r"a=([^:]+):", moonlight_sdp().decode()))),
        st.text(max_size=12),
        max_size=8,
    )
)
def test_random_announce_values_raise_only_rtsp_errors(values: dict[str, str]) -> None:
    clean = {k: v.replace("\n", "").replace("\r", "") for k, v in values.items()}
    try:
        body = moonlight_sdp(**clean)
    except UnicodeEncodeError:
        return
    with contextlib.suppress(RtspError):
        parse_announce(body)


# ------------------------------------------------------------------------ the handshake


def test_options_echoes_cseq() -> None:
    parsed, events = answer(new_session(), conversation()[0])
    assert parsed.status == 200
    assert parsed.headers["CSeq"] == "1"
    assert events == ()


def test_describe_has_a_body_with_what_moonlight_looks_for() -> None:
    parsed, _ = answer(new_session(reference_frame_invalidation=True), conversation()[1])
    assert parsed.status == 200
    body = parsed.body.decode()
    assert body
    assert "sprop-parameter-sets=AAAAAU" in body  # HEVC offered
    assert "AV1/90000" not in body
    assert "x-nv-video[0].refPicInvalidation" in body
    assert "a=x-ss-general.encryptionSupported:5\r\n" in body  # control v2 | audio
    assert "a=x-ss-general.encryptionRequested:1\r\n" in body
    assert "a=x-ss-general.featureFlags:0\r\n" in body


def test_describe_signals_each_codec_only_when_offered() -> None:
    h264 = new_session(codecs=("h264",)).describe_sdp().decode()
    assert "AAAAAU" not in h264
    assert "AV1/90000" not in h264
    assert "refPicInvalidation" not in h264
    av1 = new_session(codecs=("h264", "av1")).describe_sdp().decode()
    assert "a=rtpmap:98 AV1/90000" in av1
    assert "AAAAAU" not in av1


def client_opus_mapping(body: str, channels: int, high_quality: bool) -> list[int]:
    """How moonlight-common-c reads the surround layout for a channel count (RtspConnection.c):
    the first "a=fmtp:97 surround-params=<channels>" is normal quality, the next one high
    quality; after the channel count come streams, coupled streams and one digit per channel;
    for normal quality 5.1/7.1 it moves the last mapping entry to index 3."""
    prefix = f"a=fmtp:97 surround-params={channels}"
    first = body.index(prefix) + len(prefix)
    start = body.index(prefix, first) + len(prefix) if high_quality else first
    digits = [int(c) for c in body[start : start + 2 + channels]]
    streams, coupled, mapping = digits[0], digits[1], digits[2:]
    assert streams + coupled == channels
    if not high_quality:
        mapping = [*mapping[:3], mapping[-1], *mapping[3:-1]]
    return mapping


@pytest.mark.parametrize("channels", [6, 8])
@pytest.mark.parametrize("high_quality", [False, True])
def test_describe_surround_layouts_reach_the_client_in_host_channel_order(
    channels: int, high_quality: bool
) -> None:
    body = new_session().describe_sdp().decode()
    assert client_opus_mapping(body, channels, high_quality) == list(range(channels))


def test_setup_answers_ports_session_and_identifiers() -> None:
    session = new_session()
    requests = conversation()
    audio, _ = answer(session, requests[2])
    assert audio.status == 200
    assert audio.headers["Transport"] == "server_port=48000"
    assert audio.headers["Session"].split(";")[0] == SESSION_ID
    assert audio.headers["X-SS-Ping-Payload"] == PING
    video, _ = answer(session, requests[3])
    assert video.headers["Transport"] == "server_port=47998"
    assert video.headers["X-SS-Ping-Payload"] == PING
    control, _ = answer(session, requests[4])
    assert control.headers["Transport"] == "server_port=47999"
    assert int(control.headers["X-SS-Connect-Data"]) == CONNECT_DATA


def test_random_identifiers_have_the_lengths_the_client_accepts() -> None:
    session = RtspSession(PORTS)
    assert len(session.ping_payload) == 16
    assert 0 <= session.connect_data <= 0xFFFFFFFF
    assert session.session_id.isalnum()


EXPECTED = StreamConfig(
    width=1920,
    height=1080,
    fps=60,
    packet_size=1392,
    bitrate_kbps=20000,
    max_bitrate_kbps=16000,
    configured_bitrate_kbps=20000,
    codec="hevc",
    min_fec_packets=2,
    slices_per_frame=1,
    max_reference_frames=0,
    hdr=False,
    yuv444=False,
    color_space=1,
    full_range=True,
    client_refresh_rate_x100=5994,
    audio_channels=2,
    audio_channel_mask=3,
    audio_high_quality=True,  # stereo, and Host is a real address
    audio_packet_duration_ms=5,
    encryption_flags=0x01 | 0x04,  # control v2, and audio from NV feature flag 0x20
    ml_feature_flags=3,
)


def test_announce_yields_the_stream_config() -> None:
    session = new_session()
    run_until_announce(session)
    parsed, events = answer(session, announce_request())
    assert parsed.status == 200
    assert events == (Announced(EXPECTED),)
    assert session.config == EXPECTED
    assert session.state is RtspState.ANNOUNCED
    assert EXPECTED.control_v2_encryption
    assert EXPECTED.audio_encrypted
    assert not EXPECTED.video_encrypted
    assert EXPECTED.client_supports_rfi
    assert EXPECTED.sends_fec_status


def test_play_after_announce_starts_playing() -> None:
    session = new_session()
    run_until_announce(session)
    answer(session, announce_request())
    parsed, events = answer(session, conversation()[6])
    assert parsed.status == 200
    assert events == (Playing(EXPECTED),)
    assert session.state is RtspState.PLAYING


def test_announce_without_configured_bitrate_uses_the_maximum() -> None:
    body = moonlight_sdp().replace(b"a=x-ml-video.configuredBitrateKbps:20000 \r\n", b"")
    config = parse_announce(body)
    assert config.bitrate_kbps == 16000
    assert config.configured_bitrate_kbps == 0


def test_stereo_quality_follows_the_host_header() -> None:
    assert parse_announce(moonlight_sdp(), "192.168.1.20").audio_high_quality
    assert not parse_announce(moonlight_sdp(), "0.0.0.0").audio_high_quality
    surround = moonlight_sdp(**{"x-nv-audio.surround.numChannels": "6"})
    assert not parse_announce(surround, "192.168.1.20").audio_high_quality


def test_announce_reads_hdr_yuv444_av1_and_audio_settings() -> None:
    body = moonlight_sdp(
        **{
            "x-nv-vqos[0].bitStreamFormat": "2",
            "x-nv-video[0].dynamicRangeMode": "1",
            "x-ss-video[0].chromaSamplingType": "1",
            "x-nv-video[0].encoderCscMode": "4",
            "x-nv-video[0].maxNumReferenceFrames": "1",
            "x-nv-audio.surround.numChannels": "8",
            "x-nv-audio.surround.channelMask": "1599",
            "x-nv-audio.surround.AudioQuality": "1",
            "x-nv-aqos.packetDuration": "10",
            "x-ss-general.encryptionEnabled": "7",
        }
    )
    config = parse_announce(body)
    assert (config.codec, config.hdr, config.yuv444) == ("av1", True, True)
    assert (config.color_space, config.full_range) == (2, False)
    assert not config.client_supports_rfi
    assert (config.audio_channels, config.audio_channel_mask) == (8, 1599)
    assert config.audio_high_quality
    assert config.audio_packet_duration_ms == 10
    assert config.video_encrypted


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("x-nv-video[0].clientViewportWd", "0"),
        ("x-nv-video[0].clientViewportHt", "99999"),
        ("x-nv-video[0].maxFPS", "sixty"),
        ("x-nv-video[0].packetSize", "12"),
        ("x-nv-vqos[0].bitStreamFormat", "3"),
        ("x-nv-audio.surround.numChannels", "4"),
        ("x-nv-aqos.packetDuration", "7"),
        ("x-nv-general.useReliableUdp", "1"),
        ("x-nv-vqos[0].bw.maximumBitrateKbps", "-5"),
        ("x-nv-vqos[0].fec.minRequiredFecPackets", "99999999999"),
    ],
)
def test_announce_with_a_bad_value_is_answered_400(name: str, value: str) -> None:
    session = new_session()
    run_until_announce(session)
    parsed, events = answer(session, announce_request(body=moonlight_sdp(**{name: value})))
    assert parsed.status == 400
    assert name in parsed.body.decode()
    assert events == ()
    assert session.state is RtspState.SETTING_UP


def test_announce_missing_a_required_value_is_answered_400() -> None:
    body = re.sub(rb"a=x-nv-video\[0\]\.maxFPS:60 \r\n", b"", moonlight_sdp())
    with pytest.raises(RtspError, match="maxFPS"):
        parse_announce(body)


def test_announce_for_a_codec_not_offered_is_refused() -> None:
    session = new_session(codecs=("h264",))
    run_until_announce(session)
    parsed, events = answer(session, announce_request())  # asks for HEVC
    assert parsed.status == 400
    assert events == ()


def test_announce_with_video_encryption_not_offered_is_refused() -> None:
    session = new_session()
    run_until_announce(session)
    body = moonlight_sdp(**{"x-ss-general.encryptionEnabled": "3"})
    parsed, _ = answer(session, announce_request(body=body))
    assert parsed.status == 400


# ------------------------------------------------------------------------- out of order


def test_play_without_setup_is_455() -> None:
    parsed, events = answer(new_session(), conversation()[6])
    assert parsed.status == 455
    assert parsed.headers["CSeq"] == "7"
    assert events == ()


def test_announce_before_setup_is_455() -> None:
    session = new_session()
    answer(session, conversation()[2])  # audio only
    parsed, events = answer(session, announce_request())
    assert parsed.status == 455
    assert "video" in parsed.body.decode()
    assert events == ()


def test_setup_video_before_audio_is_455() -> None:
    parsed, _ = answer(new_session(), conversation()[3])
    assert parsed.status == 455


def test_play_after_setup_but_before_announce_is_455() -> None:
    session = new_session()
    run_until_announce(session)
    parsed, events = answer(session, conversation()[6])
    assert parsed.status == 455
    assert events == ()


def test_wrong_or_missing_session_is_454() -> None:
    session = new_session()
    run_until_announce(session)
    parsed, _ = answer(session, announce_request(session="0000"))
    assert parsed.status == 454
    no_session = moonlight_request("SETUP", "streamid=video/0/0", 4, *SETUP_EXTRA)
    parsed, _ = answer(session, no_session)
    assert parsed.status == 454


def test_repeated_announce_play_and_late_setup_are_455() -> None:
    session = new_session()
    for raw in conversation():
        assert answer(session, raw)[0].status == 200
    assert answer(session, announce_request())[0].status == 455
    assert answer(session, conversation()[6])[0].status == 455
    assert answer(session, conversation()[2])[0].status == 455
    assert answer(session, conversation()[1])[0].status == 455
    assert answer(session, conversation()[0])[0].status == 200  # OPTIONS is always fine


def test_unknown_method_and_stream() -> None:
    session = new_session()
    assert answer(session, moonlight_request("TEARDOWN", "/", 9))[0].status == 501
    assert answer(session, moonlight_request("SETUP", "streamid=mic/0/0", 9))[0].status == 404


def test_constructor_rejects_bad_identifiers_and_ports() -> None:
    with pytest.raises(ValueError, match="port"):
        StreamPorts(0, 1, 2)
    with pytest.raises(ValueError, match="ping_payload"):
        RtspSession(PORTS, ping_payload="short")
    with pytest.raises(ValueError, match="codecs"):
        RtspSession(PORTS, codecs=("vp9",))


# ------------------------------------------------------------- the TCP edge over loopback


async def exchange(port: int, request: bytes) -> bytes:
    """One request on its own connection; read until the host closes, as Moonlight does."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def wait_for_condition(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_a_moonlight_conversation_over_loopback() -> None:
    async def scenario() -> tuple[list[Parsed], list[StreamConfig], int]:
        announced: list[StreamConfig] = []
        played: list[bool] = []

        async def on_play() -> None:  # a coroutine hook works as well as a plain one
            played.append(True)

        # A long linger: each answer must end with a half-close, not with the linger running
        # out, or `exchange` times out.
        server = RtspServer(on_announce=announced.append, on_play=on_play, linger_s=60)
        async with server:
            await server.start("127.0.0.1", 0)
            session = new_session()
            server.begin_launch(session)
            answers = [Parsed(await exchange(server.port, raw)) for raw in conversation()]
            assert session.state is RtspState.PLAYING
        return answers, announced, len(played)

    answers, announced, played = asyncio.run(scenario())
    assert [a.status for a in answers] == [200] * 7
    assert [a.headers["CSeq"] for a in answers] == [str(n) for n in range(1, 8)]
    assert b"sprop-parameter-sets=AAAAAU" in answers[1].body
    assert answers[2].headers["Transport"] == "server_port=48000"
    assert answers[4].headers["X-SS-Connect-Data"] == str(CONNECT_DATA)
    assert announced == [EXPECTED]
    assert played == 1


def test_server_answers_garbage_and_oversized_requests_with_400_and_closes() -> None:
    async def scenario() -> list[int]:
        async with RtspServer() as server:
            await server.start("127.0.0.1", 0)
            server.begin_launch(new_session())
            garbage = await exchange(server.port, b"\x00\x01 hello\r\n\r\n")
            head = b"OPTIONS * RTSP/1.0\r\n" + b"X-Pad: " + b"a" * 20000
            oversized = await exchange(server.port, head)
            body = b"ANNOUNCE * RTSP/1.0\r\nContent-Length: 999999\r\n\r\n"
            too_long = await exchange(server.port, body)
            return [Parsed(raw).status for raw in (garbage, oversized, too_long)]

    assert asyncio.run(scenario()) == [400, 400, 400]


def test_server_without_a_launch_answers_454() -> None:
    async def scenario() -> int:
        async with RtspServer() as server:
            await server.start("127.0.0.1", 0)
            return Parsed(await exchange(server.port, conversation()[0])).status

    assert asyncio.run(scenario()) == 454


def test_server_answers_408_when_the_request_never_completes() -> None:
    async def scenario() -> tuple[int, float]:
        async with RtspServer(read_timeout_s=0.3) as server:
            await server.start("127.0.0.1", 0)
            server.begin_launch(new_session())
            loop = asyncio.get_running_loop()
            started = loop.time()
            raw = await exchange(server.port, b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n")
            return Parsed(raw).status, loop.time() - started

    status, elapsed = asyncio.run(scenario())
    assert status == 408
    assert elapsed < 4


def test_server_answers_500_when_a_hook_fails() -> None:
    def broken(config: StreamConfig) -> None:
        raise RuntimeError("encoder unavailable")

    async def scenario() -> list[int]:
        async with RtspServer(on_announce=broken) as server:
            await server.start("127.0.0.1", 0)
            server.begin_launch(new_session())
            return [Parsed(await exchange(server.port, raw)).status for raw in conversation()[:6]]

    assert asyncio.run(scenario()) == [200, 200, 200, 200, 200, 500]


def test_server_close_ends_a_connection_that_never_sends() -> None:
    async def scenario() -> bytes:
        server = RtspServer(read_timeout_s=30)
        await server.start("127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            await wait_for_condition(lambda: server.connections == 1)
            await asyncio.wait_for(server.close(), 5)
            assert server.connections == 0
            return await asyncio.wait_for(reader.read(), 5)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    assert asyncio.run(scenario()) == b""
