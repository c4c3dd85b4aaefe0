"""What may name a recording: the id rule shared by the file store, the REST paths and the CLI.

An id is also the stem of its file in the captures dir, so the rule keeps every id a
plain file name: no separators, no `.`/`..`, short enough for the store's temp name.
This module imports nothing from mgmt, so the data model can use the pattern too.
"""

from __future__ import annotations

import re

ID_PATTERN = r"[A-Za-z0-9._-]+"
ID_CHARS = re.compile(ID_PATTERN)
# The store writes `.<id>.json.<8 random chars>.tmp` first: that must fit in 255 bytes.
MAX_ID_LENGTH = 200


def is_valid_id(recording_id: str) -> bool:
    """Whether `recording_id` may name a file in the captures dir (no path tricks)."""
    return (
        0 < len(recording_id) <= MAX_ID_LENGTH
        and recording_id not in (".", "..")
        and ID_CHARS.fullmatch(recording_id) is not None
    )
