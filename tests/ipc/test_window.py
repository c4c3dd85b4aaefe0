"""Window percentiles agree with numpy's reference implementation."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ipc import FRAME_RECORD
from ipc.window import percentiles

STAGES = ("capture_us", "submit_us", "encode_us")


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        st.tuples(*(st.integers(min_value=0, max_value=2**32 - 1),) * 3), min_size=1, max_size=300
    ),
    qs=st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=4),
)
def test_percentiles_equal_numpy_linear(values: list, qs: list) -> None:
    records = np.zeros(len(values), dtype=FRAME_RECORD.dtype)
    for i, name in enumerate(STAGES):
        records[name] = [v[i] for v in values]
    got = percentiles(records, STAGES, qs)
    for row, name in enumerate(STAGES):
        expected = np.percentile(records[name].astype(np.float64), [q * 100 for q in qs])
        np.testing.assert_allclose(got[row], expected, rtol=1e-12, atol=1e-6)


def test_an_empty_window_has_no_percentiles() -> None:
    got = percentiles(np.zeros(0, dtype=FRAME_RECORD.dtype), STAGES)
    assert got.shape == (3, 2)
    assert np.isnan(got).all()
