"""Shared by the mgmt tests: the test token and the error-envelope check.

Samples come from `tests.support.samples` (shared with the benchmarks); `make_sample` is
re-exported here for the tests that import it with the token.
"""

from __future__ import annotations

import httpx

from tests.support.samples import make_sample

__all__ = ["AUTH", "TOKEN", "assert_envelope", "make_sample"]

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def assert_envelope(response: httpx.Response, status: int, code: str | None = None) -> str:
    """`response` is the JSON error envelope with `status` (and `code`); returns the message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    if code is not None:
        assert body["error"]["code"] == code
    message: str = body["error"]["message"]
    assert message
    assert "Traceback" not in message
    return message
