"""The `punktfunk` command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from importlib.metadata import version


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="punktfunk",
        description="Game/desktop streaming host with per-stage performance-stats capture.",
    )
    parser.add_argument("--version", action="version", version=f"punktfunk {version('punktfunk')}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help()
    return 0
