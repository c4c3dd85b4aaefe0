"""Fixtures the GameStream tests share."""

from __future__ import annotations

import pytest

from tests.gamestream import nanors_ref


@pytest.fixture(scope="module")
def nanors() -> nanors_ref.Nanors:
    """nanors itself (the build inside moonlight-python's library), the byte-for-byte
    reference for our FEC; the test is skipped where it cannot be loaded."""
    try:
        return nanors_ref.load()
    except nanors_ref.NanorsUnavailableError as error:
        pytest.skip(f"nanors reference unavailable: {error}")
