"""The GameStream video datagrams: header bytes at their offsets, block layout, sequence
numbers, and the round trip through loss and FEC (ours and the client's own nanors)."""

from __future__ import annotations

import math
import random
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from host.gamestream import video
from tests.gamestream import nanors_ref

# Protocol facts, written out independently of the module under test.
PACKET_SIZE = 1392
DATAGRAM = PACKET_SIZE + 16  # RTP 12 + reserved 4 + NV header 16 + payload
PAYLOAD = PACKET_SIZE - 16  # frame bytes per datagram


def split(datagram: bytes) -> dict[str, int]:
    """Header fields read straight from their byte offsets."""
    return {
        "rtp0": datagram[0],
        "payload_type": datagram[1],
        "sequence": int.from_bytes(datagram[2:4], "big"),
        "timestamp": int.from_bytes(datagram[4:8], "big"),
        "ssrc": int.from_bytes(datagram[8:12], "big"),
        "reserved": int.from_bytes(datagram[12:16], "little"),
        "spi": int.from_bytes(datagram[16:20], "little"),
        "frame": int.from_bytes(datagram[20:24], "little"),
        "flags": datagram[24],
        "nv_reserved": datagram[25],
        "multi_fec_flags": datagram[26],
        "multi_fec_blocks": datagram[27],
        "fec_info": int.from_bytes(datagram[28:32], "little"),
    }


def packetizer(**options: int) -> video.VideoPacketizer:
    return video.VideoPacketizer(**{"packet_size": PACKET_SIZE, **options})


def frame(
    source: video.VideoPacketizer, unit: bytes, index: int = 1, **options: object
) -> video.PacketizedFrame:
    arguments: dict[str, object] = {
        "frame_index": index,
        "is_idr": False,
        "host_latency_us": 0,
        "timestamp_90khz": 0,
    }
    arguments.update(options)
    return source.packetize_frame(unit, **arguments)  # type: ignore[arg-type]


def test_single_shard_frame_bytes_at_their_offsets() -> None:
    unit = b"\x00\x00\x00\x01\x65" + bytes(range(100))
    source = packetizer(fec_percent=20, min_fec_packets=2, ssrc=0xCAFEBABE, first_sequence=500)
    datagrams = frame(
        source, unit, index=7, is_idr=True, host_latency_us=4_321, timestamp_90khz=0x1234_5678
    ).datagrams()
    # 1 data shard; 20 % of 1 is 1 parity shard, below the minimum of 2, so the percent is
    # raised to the smallest value for which ceil(1 * percent / 100) = 2: 101.
    assert len(datagrams) == 3
    assert all(len(d) == DATAGRAM for d in datagrams)
    first = split(datagrams[0])
    assert first == {
        "rtp0": 0x90,  # version 2, extension bit
        "payload_type": 0,
        "sequence": 500,
        "timestamp": 0x1234_5678,
        "ssrc": 0xCAFEBABE,
        "reserved": 0,
        "spi": 500 << 8,
        "frame": 7,
        "flags": 0x1 | 0x2 | 0x4,  # picture data, end and start of the block
        "nv_reserved": 0,
        "multi_fec_flags": 0x10,
        "multi_fec_blocks": 0,  # block 0 of a frame whose last block is 0
        "fec_info": (0 << 12) | (1 << 22) | (101 << 4),
    }
    # Frame header: 0x01, latency in 0.1 ms (4321 us -> 43), type 2 = IDR,
    # last payload length = 8 + len(unit) in the only shard, 2 spare bytes.
    assert (
        datagrams[0][32:40] == bytes([0x01, 43, 0, 2]) + struct.pack("<H", 8 + len(unit)) + b"\0\0"
    )
    assert datagrams[0][40 : 40 + len(unit)] == unit
    assert datagrams[0][40 + len(unit) :] == bytes(DATAGRAM - 40 - len(unit))  # zero padding
    for shard, datagram in enumerate(datagrams[1:], start=1):
        parity = split(datagram)
        assert parity["sequence"] == 500 + shard
        assert parity["fec_info"] == (shard << 12) | (1 << 22) | (101 << 4)
        assert (parity["rtp0"], parity["frame"], parity["timestamp"]) == (0x90, 7, 0x1234_5678)


def test_frame_types_and_latency_rounding() -> None:
    source = packetizer()
    for options, expected_type in [
        ({"is_idr": False}, 1),
        ({"is_idr": True}, 2),
        ({"is_idr": False, "ref_invalidated": True}, 5),
    ]:
        first = frame(source, b"\0\0\1\x41x", **options)[0]
        assert first[35] == expected_type
    for latency_us, field in [(0, 0), (149, 1), (150, 2), (-5, 0), (10**9, 0xFFFF)]:
        first = frame(source, b"\0\0\1\x41x", host_latency_us=latency_us)[0]
        assert int.from_bytes(first[33:35], "little") == field


def test_rtp_timestamp_is_90khz_and_wraps() -> None:
    assert video.rtp_timestamp(1_000_000_000, 0) == 90_000
    assert video.rtp_timestamp(5_000_000_000 + 11_111, 5_000_000_000) == 1
    assert video.rtp_timestamp(2**32 * 1_000_000_000 // 90_000 + 1_000_000, 0) == 90


def test_a_42_kb_p_frame_is_one_block_with_ceil_20_percent_parity() -> None:
    unit = random.Random(1).randbytes(42_000)
    datagrams = frame(packetizer(fec_percent=20), unit).datagrams()
    data_shards = math.ceil((8 + 42_000) / PAYLOAD)  # 31
    parity_shards = math.ceil(data_shards * 20 / 100)  # what the client derives: 7
    assert len(datagrams) == data_shards + parity_shards
    headers = [split(d) for d in datagrams]
    for shard, header in enumerate(headers[:data_shards]):
        expected = 0x1 | (0x4 if shard == 0 else 0) | (0x2 if shard == data_shards - 1 else 0)
        assert header["flags"] == expected
        assert header["spi"] >> 8 == shard
    assert {h["fec_info"] >> 22 for h in headers} == {data_shards}
    assert {(h["fec_info"] >> 4) & 0xFF for h in headers} == {20}
    assert [(h["fec_info"] >> 12) & 0x3FF for h in headers] == list(range(len(datagrams)))
    last = datagrams[data_shards - 1]
    last_length = (8 + 42_000) - (data_shards - 1) * PAYLOAD
    assert int.from_bytes(datagrams[0][36:38], "little") == last_length
    assert last[32 : 32 + last_length] == unit[(data_shards - 1) * PAYLOAD - 8 :]


def test_sequence_numbers_and_stream_packet_index_continue_across_frames_and_wrap() -> None:
    source = packetizer(fec_percent=10, first_sequence=65_530)
    sequences: list[int] = []
    data_indices: dict[int, int] = {}  # datagram number -> stream packet index
    for index in range(1, 6):
        for datagram in frame(source, bytes(3_000 * index), index=index).datagrams():
            header = split(datagram)
            fec_info = header["fec_info"]
            if (fec_info >> 12) & 0x3FF < fec_info >> 22:  # a data shard
                data_indices[len(sequences)] = header["spi"] >> 8
            sequences.append(header["sequence"])
    assert sequences == [(65_530 + n) % 65_536 for n in range(len(sequences))]
    # 24 bits of stream packet index count every datagram, so they do not wrap at 65536.
    assert data_indices == {n: 65_530 + n for n in data_indices}
    assert max(data_indices.values()) > 65_536
    assert source.next_sequence == (65_530 + len(sequences)) % 65_536


def test_a_1_mb_frame_uses_four_blocks_each_with_start_and_end_flags() -> None:
    unit = random.Random(2).randbytes(1_000_000)
    packetized = frame(packetizer(fec_percent=20), unit, index=9)
    data_total = math.ceil((8 + len(unit)) / PAYLOAD)
    assert len(packetized.blocks) == 4
    assert sum(b.data_shards for b in packetized.blocks) == data_total
    headers = [split(d) for d in packetized.datagrams()]
    row = 0
    for number, block in enumerate(packetized.blocks):
        assert block.shards <= 255
        block_headers = headers[row : row + block.shards]
        assert {h["multi_fec_blocks"] for h in block_headers} == {(number << 4) | (3 << 6)}
        assert block.parity_shards == math.ceil(block.data_shards * 20 / 100)
        data = block_headers[: block.data_shards]
        assert data[0]["flags"] == 0x1 | 0x4
        assert data[-1]["flags"] == 0x1 | 0x2
        assert all(h["flags"] == 0x1 for h in data[1:-1])
        # The block's first sequence number is what the client derives: seq - shard index.
        first = block_headers[0]["sequence"]
        assert all(h["sequence"] - ((h["fec_info"] >> 12) & 0x3FF) == first for h in block_headers)
        row += block.shards


def test_a_frame_too_big_for_four_fec_blocks_goes_without_fec() -> None:
    unit = bytes(5 * 255 * PAYLOAD)
    packetized = frame(packetizer(fec_percent=20, min_fec_packets=2), unit)
    assert packetized.parity_shards == 0
    assert all(block.fec_percent == 0 for block in packetized.blocks)
    assert all(block.data_shards <= 1023 for block in packetized.blocks)
    sink = video.VideoDepacketizer(PACKET_SIZE)
    done = [r for r in map(sink.receive, reversed(packetized.datagrams())) if r is not None]
    assert [r.access_unit for r in done] == [unit]
    with pytest.raises(video.FrameTooLargeError, match="exceeds 4 blocks"):
        frame(packetizer(), bytes(4 * 1023 * PAYLOAD))


def test_fec_percent_zero_sends_data_only() -> None:
    packetized = frame(packetizer(fec_percent=0, min_fec_packets=4), bytes(10_000))
    assert packetized.parity_shards == 0
    assert {(split(d)["fec_info"] >> 4) & 0xFF for d in packetized.datagrams()} == {0}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"packet_size": 24}, "packet size"),
        ({"packet_size": 70_000}, "packet size"),
        ({"fec_percent": 256}, "FEC percent"),
        ({"min_fec_packets": 255}, "minimum FEC packets"),
    ],
)
def test_packetizer_rejects_settings_the_wire_cannot_carry(
    options: dict[str, int], message: str
) -> None:
    with pytest.raises(video.VideoWireError, match=message):
        video.VideoPacketizer(**options)


def test_packetizer_rejects_an_empty_access_unit() -> None:
    with pytest.raises(video.VideoWireError, match="empty"):
        frame(packetizer(), b"")


def test_rebuilt_shards_match_as_the_client_checks_them(nanors: nanors_ref.Nanors) -> None:
    # The client feeds the datagrams it got (zero-padded) to nanors and keeps the payload,
    # stream packet index, flags and reserved byte of a rebuilt shard; its debug builds
    # compare exactly those with the original.
    unit = random.Random(3).randbytes(300_000)
    packetized = frame(packetizer(fec_percent=20), unit)
    datagrams = packetized.datagrams()
    row = 0
    rng = random.Random(4)
    for block in packetized.blocks:
        shards = datagrams[row : row + block.shards]
        lost = set(rng.sample(range(block.shards), block.parity_shards))
        received = [None if i in lost else s for i, s in enumerate(shards)]
        rebuilt = nanors.decode(received, block.data_shards, block.parity_shards)
        for i in range(block.data_shards):
            assert rebuilt[i][32:] == shards[i][32:]
            assert rebuilt[i][16:20] == shards[i][16:20]
            assert rebuilt[i][24:26] == shards[i][24:26]
        row += block.shards


# --- round trips ----------------------------------------------------------------------------


@st.composite
def frames(draw: st.DrawFn) -> tuple[int, int, int, bytes]:
    packet_size = draw(st.one_of(st.just(1392), st.integers(25, 1500)))
    fec_percent = draw(st.one_of(st.sampled_from([0, 10, 20, 50]), st.integers(0, 255)))
    min_fec = draw(st.integers(0, 6))
    # No bigger than four blocks of 1023 shards can carry (that is FrameTooLargeError).
    largest = min(60_000, 4 * 1023 * (packet_size - 16) - 8)
    size = draw(st.one_of(st.integers(1, min(3_000, largest)), st.integers(1, largest)))
    seed = draw(st.integers(0, 2**32 - 1))
    return packet_size, fec_percent, min_fec, random.Random(seed).randbytes(size)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=frames(), order_seed=st.integers(0, 2**32 - 1))
def test_any_loss_up_to_each_blocks_parity_in_any_order_gives_the_frame_back(
    case: tuple[int, int, int, bytes], order_seed: int
) -> None:
    packet_size, fec_percent, min_fec, unit = case
    source = video.VideoPacketizer(packet_size, fec_percent, min_fec, first_sequence=order_seed)
    packetized = source.packetize_frame(
        unit, frame_index=3, is_idr=True, host_latency_us=2_500, timestamp_90khz=order_seed
    )
    rng = random.Random(order_seed)
    kept: list[bytes] = []
    row = 0
    for block in packetized.blocks:
        shards = packetized.datagrams()[row : row + block.shards]
        lost = set(rng.sample(range(block.shards), rng.randint(0, block.parity_shards)))
        kept += [s for i, s in enumerate(shards) if i not in lost]
        row += block.shards
    rng.shuffle(kept)
    sink = video.VideoDepacketizer(packet_size)
    results = [sink.receive(d) for d in kept]
    done = [r for r in results if r is not None]
    assert len(done) == 1
    received = done[0]
    assert received.access_unit == unit
    assert (received.frame_index, received.frame_type) == (3, 2)
    assert received.host_latency_us == 2_500
    assert received.timestamp_90khz == order_seed & 0xFFFF_FFFF


@settings(max_examples=60, deadline=None)
@given(case=frames())
def test_every_datagrams_headers_parse_back(case: tuple[int, int, int, bytes]) -> None:
    packet_size, fec_percent, min_fec, unit = case
    source = video.VideoPacketizer(packet_size, fec_percent, min_fec, ssrc=77)
    packetized = source.packetize_frame(
        unit, frame_index=2**32 + 5, is_idr=False, host_latency_us=0, timestamp_90khz=2**32 + 9
    )
    headers = [video.parse_header(d) for d in packetized.datagrams()]
    assert all(len(d) == packet_size + 16 for d in packetized.datagrams())
    row = 0
    for number, block in enumerate(packetized.blocks):
        assert block.shards <= (255 if block.fec_percent else 1023)
        if block.fec_percent:
            # The percent is an 8-bit field: at most ceil(k * 2.55) parity shards.
            assert block.parity_shards >= min(min_fec, math.ceil(block.data_shards * 2.55))
        else:
            assert block.parity_shards == 0
        for shard in range(block.shards):
            header = headers[row + shard]
            assert (header.frame_index, header.timestamp, header.ssrc) == (5, 9, 77)
            assert header.sequence == row + shard
            assert (header.block_number, header.last_block_number) == (
                number,
                len(packetized.blocks) - 1,
            )
            assert header.shard_index == shard
            assert (header.data_shards, header.fec_percent) == (
                block.data_shards,
                block.fec_percent,
            )
            assert header.parity_shards == block.parity_shards
            if not header.is_parity:
                assert header.stream_packet_index == row + shard
                assert header.multi_fec_flags == 0x10
        row += block.shards
    payload = packet_size - 16
    assert sum(b.data_shards for b in packetized.blocks) == math.ceil((8 + len(unit)) / payload)


def test_losing_one_shard_more_than_the_parity_loses_the_frame() -> None:
    packetized = frame(packetizer(fec_percent=20), random.Random(5).randbytes(20_000))
    block = packetized.blocks[0]
    sink = video.VideoDepacketizer(PACKET_SIZE)
    results = [sink.receive(d) for d in packetized.datagrams()[block.parity_shards + 1 :]]
    assert results == [None] * len(results)


def test_duplicates_and_stragglers_after_completion_are_ignored() -> None:
    datagrams = frame(packetizer(fec_percent=50), bytes(5_000), index=4).datagrams()
    sink = video.VideoDepacketizer(PACKET_SIZE)
    results = [sink.receive(d) for d in [datagrams[0], datagrams[0], *datagrams]]
    assert sum(r is not None for r in results) == 1


def test_depacketizer_keeps_a_bounded_number_of_incomplete_frames() -> None:
    source = packetizer(fec_percent=0)
    sink = video.VideoDepacketizer(PACKET_SIZE, max_pending_frames=3)
    for index in range(1, 8):
        first = frame(source, bytes(4_000), index=index)[0]  # never completes
        assert sink.receive(first) is None
    assert sink.frames_dropped == 4


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d[:31], "shorter than its headers"),
        (lambda d: d + b"x", "exceeds"),
        (lambda d: b"\x80" + d[1:], "RTP v2 video datagram with extension"),
        (lambda d: d[:24] + b"\x09" + d[25:], "unknown flags"),
        (
            lambda d: d[:28] + (5 << 12 | 1 << 22 | 20 << 4).to_bytes(4, "little") + d[32:],
            "shard 5",
        ),
        (lambda d: d[:28] + (0).to_bytes(4, "little") + d[32:], "without data shards"),
        (lambda d: d[:27] + bytes([1 << 4]) + d[28:], "block 1 of a frame whose last block is 0"),
    ],
)
def test_depacketizer_rejects_malformed_datagrams(mutate: object, message: str) -> None:
    datagram = frame(packetizer(fec_percent=20), bytes(100))[0]
    sink = video.VideoDepacketizer(PACKET_SIZE)
    with pytest.raises(video.VideoWireError, match=message):
        sink.receive(mutate(datagram))  # type: ignore[operator]


def test_depacketizer_rejects_blocks_whose_datagrams_disagree() -> None:
    datagrams = frame(packetizer(fec_percent=20), bytes(10_000)).datagrams()  # 8 data shards
    sink = video.VideoDepacketizer(PACKET_SIZE)
    sink.receive(datagrams[0])
    forged = bytearray(datagrams[1])
    forged[28:32] = ((1 << 12) | (9 << 22) | (20 << 4)).to_bytes(4, "little")
    with pytest.raises(video.VideoWireError, match="disagree"):
        sink.receive(bytes(forged))
