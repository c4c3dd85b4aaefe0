"""One logging set-up for every punktfunk process: the CLI and the streaming children."""

from __future__ import annotations

import logging
import os

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure() -> None:
    """Log to stderr (the journal under systemd) at $PUNKTFUNK_LOG_LEVEL (default INFO)."""
    logging.basicConfig(
        level=os.environ.get("PUNKTFUNK_LOG_LEVEL", "INFO").upper(), format=FORMAT, force=True
    )
