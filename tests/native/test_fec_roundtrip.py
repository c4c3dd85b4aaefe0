"""Packetizer -> reassembler round trips under loss: the FEC contract, byte for byte."""

from __future__ import annotations

import os
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from host.native.fec import block_sizes, parity_count
from host.native.packetizer import Packetizer
from host.native.reassembler import FrameDone, FrameLost, Reassembler
from host.native.wire import HEADER, DatagramHeader, Opener, Sealer

KEY, SALT, SESSION = bytes(range(16)), b"salt", 7


def endpoints(shard_size: int, fec_percent: int) -> tuple[Packetizer, Opener, Reassembler]:
    packetizer = Packetizer(Sealer(KEY, SALT, SESSION), shard_size, fec_percent)
    return packetizer, Opener(KEY, SALT, SESSION), Reassembler(shard_size)


def block_of(datagram: bytes) -> tuple[int, int, int, int]:
    """(block index, shard index, data shards, parity shards) from a datagram's header."""
    h = DatagramHeader(*HEADER.unpack_from(datagram)[2:])
    return h.block_index, h.shard_index, h.data_shards, h.parity_shards


frames = st.tuples(
    st.sampled_from([64, 100, 1200]),  # shard size
    st.sampled_from([0, 10, 20, 50, 100]),  # FEC percent
    st.integers(min_value=1, max_value=40_000),  # frame bytes
    st.randoms(use_true_random=False),
)


@settings(max_examples=300, deadline=None)
@given(frame=frames, loss=st.floats(min_value=0, max_value=0.5))
def test_a_block_with_no_more_losses_than_parity_is_rebuilt_exactly(frame, loss) -> None:
    shard_size, fec, size, rng = frame
    packetizer, opener, reassembler = endpoints(shard_size, fec)
    data = rng.randbytes(size)
    datagrams, parity = packetizer.packetize(0, 1, data)
    assert parity == sum(parity_count(k, fec) for k in block_sizes(size, shard_size))

    dropped = {i for i in range(len(datagrams)) if rng.random() < loss}
    lost_per_block: dict[int, int] = {}
    lost_data_shards = 0
    for i in dropped:
        block, shard, k, _m = block_of(datagrams[i])
        lost_per_block[block] = lost_per_block.get(block, 0) + 1
        lost_data_shards += shard < k
    recoverable = all(
        lost <= parity_count(block_sizes(size, shard_size)[b], fec)
        for b, lost in lost_per_block.items()
    )

    events = []
    for i, datagram in enumerate(datagrams):
        if i not in dropped:
            events += reassembler.push(*opener.open(datagram))
    events += reassembler.expire(1)

    assert len(events) == 1
    (event,) = events
    if recoverable:
        assert isinstance(event, FrameDone)
        assert event.data == data
        assert event.flags == 1
        assert event.recovered == lost_data_shards
        assert reassembler.fec_recovered == lost_data_shards
    else:
        assert isinstance(event, FrameLost)
        assert event.frame_index == 0
        assert event.reason == ("missing" if len(dropped) == len(datagrams) else "incomplete")
        assert reassembler.frames_lost == 1


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32), fec=st.sampled_from([20, 50]))
def test_shards_arriving_in_any_order_still_rebuild_the_frame(seed: int, fec: int) -> None:
    rng = random.Random(seed)
    packetizer, opener, reassembler = endpoints(200, fec)
    data = rng.randbytes(rng.randint(1, 30_000))
    datagrams, _ = packetizer.packetize(0, 0, data)
    rng.shuffle(datagrams)
    events = []
    for datagram in datagrams:
        events += reassembler.push(*opener.open(datagram))
    assert [type(e) for e in events] == [FrameDone]
    assert events[0].data == data


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    loss=st.floats(min_value=0, max_value=0.3),
    count=st.integers(min_value=1, max_value=40),
)
def test_a_lossy_stream_accounts_for_every_frame_and_datagram(seed, loss, count) -> None:
    rng = random.Random(seed)
    packetizer, opener, reassembler = endpoints(300, 20)
    sent = {}
    dropped = 0
    last_kept_seq = -1
    events = []
    for index in range(count):
        data = rng.randbytes(rng.randint(1, 8000))
        sent[index] = data
        datagrams, _ = packetizer.packetize(index, 0, data)
        for datagram in datagrams:
            if rng.random() < loss:
                dropped += 1
                continue
            header, shard = opener.open(datagram)
            last_kept_seq = header.seq
            events += reassembler.push(header, shard)
    events += reassembler.expire(count)

    done = [e for e in events if isinstance(e, FrameDone)]
    lost = [e for e in events if isinstance(e, FrameLost)]
    assert len(done) + sum(e.count for e in lost) == count
    covered = sorted(
        [e.frame_index for e in done] + [e.frame_index + i for e in lost for i in range(e.count)]
    )
    assert covered == list(range(count))  # every frame resolved exactly once, in order
    assert all(e.data == sent[e.frame_index] for e in done)
    # Datagrams missing between the first and the last received one are exactly the
    # dropped ones that were sent in that span.
    if opener.window.first >= 0:
        first, highest = opener.window.first, opener.window.highest
        assert highest == last_kept_seq
        assert opener.window.missing == (highest - first + 1) - opener.window.accepted
        assert opener.window.missing <= dropped


def test_frame_larger_than_one_block_is_split_evenly() -> None:
    assert block_sizes(1200 * 250, 1200) == [84, 83, 83]
    assert block_sizes(1, 1200) == [1]
    assert parity_count(17, 20) == 4
    assert parity_count(3, 20) == 2  # the floor
    assert parity_count(17, 0) == 0


def test_random_payload_survives_a_two_block_keyframe_with_losses_in_both() -> None:
    packetizer, opener, reassembler = endpoints(1200, 20)
    data = os.urandom(150_000)
    datagrams, _ = packetizer.packetize(0, 1, data)
    blocks = [block_of(d)[0] for d in datagrams]
    assert set(blocks) == {0, 1}
    drop = {blocks.index(0), blocks.index(0) + 5, blocks.index(1), blocks.index(1) + 3}
    events = []
    for i, datagram in enumerate(datagrams):
        if i not in drop:
            events += reassembler.push(*opener.open(datagram))
    assert len(events) == 1
    assert isinstance(events[0], FrameDone)
    assert events[0].data == data
    assert events[0].recovered == 4
