"""Control-message framing: the sans-I/O decoder fed bytes, and the asyncio edge that
waits for them."""

from __future__ import annotations

import asyncio
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host.native import channel, messages
from host.native.messages import (
    MAX_MESSAGE,
    Bye,
    Error,
    Feedback,
    Hello,
    KeyframeRequest,
    Message,
    MessageDecoder,
    ProtocolError,
    Welcome,
    encode,
)

counts = st.integers(0, 2**63 - 1)
codecs = st.sampled_from(["h264", "hevc", "av1"])
any_message: st.SearchStrategy[Message] = st.one_of(
    st.builds(
        Hello,
        version=st.integers(0, 2**31),
        client=st.text(max_size=64),
        width=st.integers(32, 3840).map(lambda n: 2 * n),
        height=st.integers(32, 2160).map(lambda n: 2 * n),
        fps=st.integers(1, 240),
        codec=codecs,
        bitrate_kbps=st.integers(100, 1_000_000),
        udp_port=st.integers(1, 65535),
    ),
    st.builds(
        Welcome,
        session_id=st.integers(0, 2**32),
        shard_size=st.integers(0, 65535),
        fec_percent=st.integers(0, 100),
        key=st.binary(max_size=32),
        salt=st.binary(max_size=32),
        width=st.integers(0, 7680),
        height=st.integers(0, 4320),
        fps=st.integers(0, 240),
        codec=codecs,
        encoder=st.text(max_size=32),
        bitrate_kbps=st.integers(0, 10**6),
    ),
    st.builds(Feedback, counts, counts, counts, counts, counts, counts, counts),
    st.just(KeyframeRequest()),
    st.builds(Bye, reason=st.text(max_size=200)),
    st.builds(Error, message=st.text(max_size=1000)),
)

SAMPLE: list[Message] = [
    Hello(
        version=1,
        client="sofa",
        width=1280,
        height=720,
        fps=60,
        codec="h264",
        bitrate_kbps=10_000,
        udp_port=5000,
    ),
    Feedback(1000, 12, 9, 59, 1, 123_456, 2),
    KeyframeRequest(),
    Bye(reason="done"),
]


def drain(decoder: MessageDecoder) -> list[Message]:
    out: list[Message] = []
    while (message := decoder.next_message()) is not None:
        out.append(message)
    return out


def decode_chunks(chunks: list[bytes]) -> list[Message]:
    decoder = MessageDecoder()
    out: list[Message] = []
    for chunk in chunks:
        decoder.feed(chunk)
        out += drain(decoder)
    assert not decoder.in_message
    decoder.feed_eof()  # a clean end between messages
    return out


def test_several_messages_in_one_chunk_come_out_in_order() -> None:
    assert decode_chunks([b"".join(map(encode, SAMPLE))]) == SAMPLE


def test_messages_split_at_every_byte_boundary_decode_the_same() -> None:
    stream = b"".join(map(encode, SAMPLE))
    for cut in range(len(stream) + 1):
        assert decode_chunks([stream[:cut], stream[cut:]]) == SAMPLE, cut


def test_messages_fed_one_byte_at_a_time_each_appear_on_their_last_byte() -> None:
    decoder = MessageDecoder()
    ends = set()
    end = 0
    for message in SAMPLE:
        end += len(encode(message))
        ends.add(end)
    stream = b"".join(map(encode, SAMPLE))
    seen: list[Message] = []
    for i in range(len(stream)):
        decoder.feed(stream[i : i + 1])
        got = drain(decoder)
        assert len(got) == (1 if i + 1 in ends else 0), i
        assert decoder.in_message == (i + 1 not in ends)
        seen += got
    assert seen == SAMPLE


@settings(max_examples=300, deadline=None)
@given(st.lists(any_message, max_size=8), st.data())
def test_any_messages_in_any_chunking_decode_to_themselves(
    sent: list[Message], data: st.DataObject
) -> None:
    stream = b"".join(map(encode, sent))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    assert decode_chunks(chunks) == sent


def test_every_truncation_is_incomplete_until_the_end_of_the_stream() -> None:
    whole = encode(Bye(reason="done"))
    for cut in range(1, len(whole)):
        decoder = MessageDecoder()
        decoder.feed(whole[:cut])
        assert decoder.next_message() is None
        assert decoder.in_message
        where = "length prefix" if cut < 4 else "inside a message"
        with pytest.raises(ProtocolError, match=where):
            decoder.feed_eof()
        with pytest.raises(ProtocolError, match=where):  # and it stays broken
            decoder.next_message()


@pytest.mark.parametrize("length", [0, MAX_MESSAGE + 1, 2**32 - 1])
def test_a_length_out_of_bounds_is_refused_on_the_prefix_alone(length: int) -> None:
    decoder = MessageDecoder()
    decoder.feed(struct.pack(">I", length)[:3])
    assert decoder.next_message() is None
    decoder.feed(struct.pack(">I", length)[3:])  # no payload byte has arrived
    with pytest.raises(ProtocolError, match=f"{length} bytes"):
        decoder.next_message()
    decoder.feed(encode(Bye()))  # whatever follows is never trusted
    with pytest.raises(ProtocolError, match=f"{length} bytes"):
        decoder.next_message()


def test_a_message_of_exactly_the_limit_is_framed() -> None:
    payload = b"\xc0" * MAX_MESSAGE  # framed whole, then refused as not a message
    decoder = MessageDecoder()
    decoder.feed(struct.pack(">I", MAX_MESSAGE) + payload[:-1])
    assert decoder.next_message() is None
    decoder.feed(payload[-1:])
    with pytest.raises(ProtocolError, match="undecodable"):
        decoder.next_message()


def test_garbage_after_good_messages_delivers_them_then_fails() -> None:
    decoder = MessageDecoder()
    decoder.feed(encode(SAMPLE[1]) + struct.pack(">I", 3) + b"\xc1\xc1\xc1" + encode(SAMPLE[2]))
    assert decoder.next_message() == SAMPLE[1]
    with pytest.raises(ProtocolError, match="undecodable"):
        decoder.next_message()
    with pytest.raises(ProtocolError, match="undecodable"):
        decoder.next_message()


@settings(max_examples=500, deadline=None)
@given(
    st.lists(any_message, max_size=3),
    st.binary(max_size=600),
    st.lists(st.integers(1, 64), min_size=1, max_size=20),
)
def test_garbage_in_any_chunking_yields_messages_or_a_protocol_error(
    good: list[Message], garbage: bytes, sizes: list[int]
) -> None:
    stream = b"".join(map(encode, good)) + garbage
    decoder = MessageDecoder()
    out: list[Message] = []
    at = turn = 0
    try:
        while at < len(stream):
            step = sizes[turn % len(sizes)]
            decoder.feed(stream[at : at + step])
            at, turn = at + step, turn + 1
            while (message := decoder.next_message()) is not None:
                out.append(message)
        decoder.feed_eof()
    except ProtocolError:
        pass
    assert out[: len(good)] == good  # the good prefix always survives
    assert all(isinstance(m, Message) for m in out)  # random bytes may form messages


def test_data_after_the_end_of_the_stream_is_a_bug_in_the_caller() -> None:
    decoder = MessageDecoder()
    decoder.feed_eof()
    with pytest.raises(RuntimeError):
        decoder.feed(b"x")


# -- the asyncio edge ------------------------------------------------------------------


def _receive_all(chunks: list[bytes], *, eof: bool = True) -> list[Message | BaseException]:
    """What `channel.receive` makes of a stream that delivers `chunks` one by one."""

    async def run() -> list[Message | BaseException]:
        reader = asyncio.StreamReader()
        decoder = MessageDecoder()
        results: list[Message | BaseException] = []

        async def deliver() -> None:
            for chunk in chunks:
                reader.feed_data(chunk)
                await asyncio.sleep(0)  # let the receiver take each chunk on its own
            if eof:
                reader.feed_eof()

        delivery = asyncio.create_task(deliver())
        while True:
            try:
                results.append(await channel.receive(reader, decoder, idle_timeout=5))
            except (EOFError, ProtocolError, TimeoutError) as exc:
                results.append(exc)
                break
        await delivery
        return results

    return asyncio.run(run())


def test_receive_reads_messages_across_chunks_then_eof() -> None:
    stream = b"".join(map(encode, SAMPLE))
    *got, end = _receive_all([stream[i : i + 7] for i in range(0, len(stream), 7)])
    assert got == SAMPLE
    assert isinstance(end, EOFError)


def test_receive_turns_a_cut_message_into_a_protocol_error() -> None:
    whole = encode(Bye(reason="done"))
    assert [str(e) for e in _receive_all([whole[:2]])] == [
        "connection closed inside a length prefix"
    ]
    assert [str(e) for e in _receive_all([whole[:-1]])] == ["connection closed inside a message"]


def test_an_idle_timeout_loses_nothing_of_what_arrived() -> None:
    async def run() -> tuple[Message, Message]:
        reader = asyncio.StreamReader()
        decoder = MessageDecoder()
        reader.feed_data(encode(SAMPLE[1]))
        first = await channel.receive(reader, decoder, idle_timeout=0.01)
        with pytest.raises(TimeoutError):
            await channel.receive(reader, decoder, idle_timeout=0.01)
        reader.feed_data(encode(SAMPLE[3]))
        return first, await channel.receive(reader, decoder, idle_timeout=0.01)

    assert asyncio.run(run()) == (SAMPLE[1], SAMPLE[3])


def test_a_peer_that_stalls_inside_a_message_is_a_protocol_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(channel, "STALL_TIMEOUT_S", 0.05)

    async def run() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(encode(SAMPLE[1])[:5])
        # The idle timeout is far away: the stall limit is what ends the wait.
        await channel.receive(reader, MessageDecoder(), idle_timeout=60)

    with pytest.raises(ProtocolError, match="stalled"):
        asyncio.run(asyncio.wait_for(run(), 10))


def test_encode_writes_the_length_then_msgpack() -> None:
    data = encode(KeyframeRequest())
    (length,) = struct.unpack(">I", data[:4])
    assert length == len(data) - 4
    assert messages.decode(data[4:]) == KeyframeRequest()
