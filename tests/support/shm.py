"""This test run's shared-memory tag, and the segments that carry it."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

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
