"""Control block (armed/perf) and the counters block."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipc import ControlBlock, Counter, CountersBlock


def test_measuring_is_perf_or_armed() -> None:
    with_owner = ControlBlock.create()
    try:
        view = ControlBlock.attach(with_owner.name)
        assert not view.measuring()
        with_owner.set_armed(True)
        assert view.measuring()
        assert view.armed
        assert not view.perf
        with_owner.set_armed(False)
        with_owner.set_perf(True)
        assert view.measuring()
        assert view.perf
        assert not view.armed
        with_owner.set_perf(False)
        assert not view.measuring()
        view.close()
    finally:
        with_owner.close()


def test_only_the_owner_writes_the_control_block() -> None:
    ctl = ControlBlock.create()
    try:
        view = ControlBlock.attach(ctl.name)
        with pytest.raises(PermissionError):
            view.set_armed(True)
        view.close()
    finally:
        ctl.close()


counter_ops = st.lists(
    st.tuples(
        st.sampled_from(list(Counter)),
        st.sampled_from(["add", "set"]),
        st.integers(min_value=0, max_value=2**40),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(ops=counter_ops)
def test_counters_match_a_model_and_are_seen_by_an_attached_reader(ops: list) -> None:
    block = CountersBlock.create()
    reader = CountersBlock.attach(block.name)
    try:
        model = dict.fromkeys(Counter, 0)
        for counter, how, value in ops:
            if how == "add":
                block.add(counter, value)
                model[counter] += value
            else:
                block.set(counter, value)
                model[counter] = value
        assert block.snapshot() == model
        assert reader.snapshot() == model
    finally:
        reader.close()
        block.close()


def test_counters_are_u64() -> None:
    block = CountersBlock.create()
    try:
        block.set(Counter.BYTES_SENT, 2**64 - 1)
        assert block.get(Counter.BYTES_SENT) == 2**64 - 1
        with pytest.raises((OverflowError, ValueError)):
            block.set(Counter.BYTES_SENT, 2**64)
    finally:
        block.close()
