"""Suite-wide guards: no shared-memory segment of ours outlives the test run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.shm import our_segments


@pytest.fixture(scope="session", autouse=True)
def no_leaked_segments() -> Iterator[None]:
    before = our_segments()
    yield
    leaked = our_segments() - before
    assert not leaked, f"shared-memory segments leaked by the test run: {sorted(leaked)}"


@pytest.fixture
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private config dir (token, certificate, captures) for this test."""
    config = tmp_path / "config"
    monkeypatch.setenv("PUNKTFUNK_CONFIG_DIR", str(config))
    monkeypatch.delenv("PUNKTFUNK_PERF", raising=False)
    return config


def pytest_configure(config: pytest.Config) -> None:
    # Child interpreters started by tests inherit this, so warnings are errors there too.
    os.environ.setdefault("PYTHONWARNINGS", "error::ResourceWarning")
