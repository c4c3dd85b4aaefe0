"""Subcommands this package adds to `punktfunk` (see host/cli.py).

Each subcommand sets `handler=<function(args) -> exit code>` on its parser.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from host.config import config_dir


def register(sub: argparse._SubParsersAction[Any]) -> None:
    token = sub.add_parser(
        "token",
        help="print the REST API bearer token (creating it on first use)",
        description="Print the bearer token for the REST API, creating it in the config "
        "dir (0600) if missing. Send it as 'Authorization: Bearer <token>'.",
    )
    token.set_defaults(handler=print_token)

    openapi = sub.add_parser(
        "openapi",
        help="print the OpenAPI 3.1 document of the REST API",
        description="Print the OpenAPI document generated from the code; "
        "regenerate the checked-in copy with `punktfunk openapi > api/openapi.json`.",
    )
    openapi.set_defaults(handler=print_openapi)


# The handlers import lazily: every `punktfunk` invocation builds this parser, and the
# web stack is not needed to print help or to run the streaming processes.


def print_token(args: argparse.Namespace) -> int:
    from mgmt.auth import load_or_create_token

    try:
        token = load_or_create_token(config_dir())
    except (OSError, ValueError) as err:
        print(f"punktfunk token: {err}", file=sys.stderr)
        return 1
    print(token)
    return 0


def print_openapi(args: argparse.Namespace) -> int:
    from mgmt.openapi import render_document

    sys.stdout.write(render_document())
    return 0
