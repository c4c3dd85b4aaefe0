"""The `punktfunk` command line. Each package registers its own subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from importlib.metadata import version

from host import commands as host_commands
from host import logs
from mgmt import commands as mgmt_commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="punktfunk",
        description="Game/desktop streaming host with per-stage performance-stats capture.",
    )
    parser.add_argument("--version", action="version", version=f"punktfunk {version('punktfunk')}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    mgmt_commands.register(sub)
    host_commands.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logs.configure()
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    result: int = handler(args)
    return result
