"""Suite-wide guards: no shared-memory segment of ours outlives the test run."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipc.segment import NAME_PREFIX, TAG_ENV

SHM_DIR = Path("/dev/shm")
# Every segment this run (and every process it starts) creates carries this tag, so the
# leak check is not confused by another run on the same machine.
RUN_TAG = f"t{secrets.token_hex(3)}_"
os.environ[TAG_ENV] = RUN_TAG


def our_segments() -> set[str]:
    if not SHM_DIR.is_dir():
        return set()
    return {p.name for p in SHM_DIR.iterdir() if p.name.startswith(NAME_PREFIX + RUN_TAG)}


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
