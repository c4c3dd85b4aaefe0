"""Subcommands this package adds to `punktfunk` (see host/cli.py).

Each subcommand sets `handler=<function(args) -> exit code>` on its parser.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction[Any]) -> None:
    pass
