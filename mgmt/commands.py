"""Subcommands this package adds to `punktfunk` (see mgmt/cli.py).

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

    serve = sub.add_parser(
        "serve",
        help="run the host: native streaming, stats capture, REST API and console",
        description="Run the streaming host under one mgmt process. Settings come from "
        "defaults, then <config dir>/config.toml, then PUNKTFUNK_* variables, then these "
        "flags. Prints 'mgmt listening on http://HOST:PORT' once both listeners are up.",
    )
    add_settings_flags(serve)
    serve.set_defaults(handler=run_serve)

    native = sub.add_parser(
        "host-native",
        help="run the native punktfunk/1 listener alone (no REST API, no console)",
        description="Serve punktfunk/1 clients directly, with the same settings and flags "
        "as serve (those of the API and console are ignored). Prints 'native listening on "
        "HOST:PORT' once it accepts clients.",
    )
    add_settings_flags(native)
    native.set_defaults(handler=run_host_native)

    from mgmt import devices_cli, stats_cli  # light: httpx loads only when a command runs

    stats_cli.register(sub)
    devices_cli.register(sub)


def add_settings_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per setting (mgmt.settings.SETTINGS); unset flags stay None."""
    from mgmt.settings import SETTINGS, Settings

    defaults = Settings()
    for name, meaning in SETTINGS.items():
        flag = "--" + name.replace("_", "-")
        default = getattr(defaults, name)
        if isinstance(default, bool):
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=None, help=meaning
            )
        else:
            parser.add_argument(
                flag, type=type(default), default=None, metavar=name.upper(), help=meaning
            )


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


def run_serve(args: argparse.Namespace) -> int:
    import asyncio

    from mgmt.serve import serve
    from mgmt.settings import SETTINGS, SettingsError, load

    try:
        settings = load({name: getattr(args, name) for name in SETTINGS})
        return asyncio.run(serve(settings))
    except SettingsError as err:
        print(f"punktfunk serve: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # e.g. the address is in use
        print(f"punktfunk serve: {err}", file=sys.stderr)
        return 1


def run_host_native(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from host.native.server import NativeHost
    from host.native.tls import load_or_create_identity
    from ipc import ControlBlock
    from mgmt.sessions import Sessions
    from mgmt.settings import SETTINGS, SettingsError, load, native_settings

    try:
        settings = load({name: getattr(args, name) for name in SETTINGS})
        native = native_settings(settings)
    except SettingsError as err:
        print(f"punktfunk host-native: {err}", file=sys.stderr)
        return 2

    async def main() -> None:
        control = ControlBlock.create(perf=settings.perf)
        host = NativeHost(
            native, control, load_or_create_identity(config_dir()), Sessions(settings.max_sessions)
        )
        try:
            address = await host.start()
            print(f"native listening on {address[0]}:{address[1]}", flush=True)
            stopped = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stopped.set)
            await stopped.wait()
        finally:
            await host.close()
            control.close()

    try:
        asyncio.run(main())
    except OSError as err:  # e.g. the address is in use
        print(f"punktfunk host-native: {err}", file=sys.stderr)
        return 1
    return 0


def print_openapi(args: argparse.Namespace) -> int:
    from mgmt.openapi import render_document

    sys.stdout.write(render_document())
    return 0
