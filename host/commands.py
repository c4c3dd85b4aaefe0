"""Subcommands of the streaming host: `host-native` and `client`."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sys
from typing import Any

from host.config import config_dir
from host.encoder import CODECS

MODE = re.compile(r"^(\d+)x(\d+)@(\d+)$")


def register(sub: argparse._SubParsersAction[Any]) -> None:
    native = sub.add_parser(
        "host-native",
        help="run the native punktfunk/1 host without mgmt",
        description="Serve punktfunk/1 clients directly (no REST API, no console). "
        "Prints 'native listening on HOST:PORT' once it accepts clients.",
    )
    add_native_options(native)
    native.set_defaults(handler=_host_native)

    client = sub.add_parser(
        "client",
        help="receive a stream from a punktfunk host",
        description="Connect to a native host, receive, reassemble, FEC-recover and decode "
        "its stream, and send feedback.",
    )
    client.add_argument("address", metavar="HOST[:PORT]")
    client.add_argument("--mode", default="1280x720@60", help="WxH@FPS (default 1280x720@60)")
    client.add_argument("--codec", choices=CODECS, default="h264")
    client.add_argument("--bitrate", type=int, default=10_000, metavar="KBPS")
    client.add_argument("--seconds", type=float, default=None, help="stop after N seconds")
    client.add_argument(
        "--loss", type=float, default=0.0, metavar="PCT", help="drop this share of datagrams"
    )
    client.add_argument("--label", default="punktfunk client", help="name shown on the host")
    client.add_argument("--json", action="store_true", help="print one JSON report at exit")
    client.set_defaults(handler=_client)


def add_native_options(parser: argparse.ArgumentParser) -> None:
    """Options of the native listener, shared with `serve`."""
    parser.add_argument("--bind", default=None, help="listen address (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=None, help="TCP port; 0 picks a free one")
    parser.add_argument(
        "--source", default=None, help="synthetic[@FPS] | x11[:DISPLAY] | file:PATH"
    )
    parser.add_argument("--codec", choices=CODECS, default=None, help="force this codec")
    parser.add_argument("--bitrate", type=int, default=None, metavar="KBPS", help="force this")
    parser.add_argument("--encoder", choices=("auto", "cpu", "nvenc"), default=None)
    parser.add_argument("--fec", type=int, default=None, metavar="PCT", help="FEC percent")


def native_settings(args: argparse.Namespace) -> Any:
    from host.native.server import NativeSettings

    overrides = {
        "bind": args.bind,
        "port": args.port,
        "source": args.source,
        "codec": args.codec,
        "bitrate_kbps": args.bitrate,
        "encoder": args.encoder,
        "fec_percent": args.fec,
    }
    return NativeSettings(**{k: v for k, v in overrides.items() if v is not None})


def _host_native(args: argparse.Namespace) -> int:
    from host.native.server import NativeHost
    from host.native.tls import load_or_create_identity
    from ipc import ControlBlock

    settings = native_settings(args)

    async def main() -> None:
        control = ControlBlock.create(perf=os.environ.get("PUNKTFUNK_PERF") == "1")
        host = NativeHost(settings, control, load_or_create_identity(config_dir()))
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

    asyncio.run(main())
    return 0


def _client(args: argparse.Namespace) -> int:
    from host.native.client import ClientError, ClientOptions, parse_address, run

    mode = MODE.match(args.mode)
    if not mode:
        print(f"punktfunk client: bad --mode {args.mode!r}, expected WxH@FPS", file=sys.stderr)
        return 2
    try:
        host, port = parse_address(args.address)
    except ValueError:
        print(f"punktfunk client: bad address {args.address!r}", file=sys.stderr)
        return 2
    width, height, fps = (int(g) for g in mode.groups())
    options = ClientOptions(
        host=host,
        port=port,
        width=width,
        height=height,
        fps=fps,
        codec=args.codec,
        bitrate_kbps=args.bitrate,
        seconds=args.seconds,
        loss_percent=args.loss,
        label=args.label,
        config_dir=config_dir(),
    )
    try:
        report = asyncio.run(run(options))
    except ClientError as exc:
        print(f"punktfunk client: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    if args.json:
        print(json.dumps(report.as_dict()), flush=True)
    else:
        print(
            f"{report.frames_decoded} frames decoded, {report.frames_unrecoverable} unrecoverable, "
            f"{report.packets_lost} packets lost, {report.fec_recovered} shards recovered by FEC "
            f"({report.encoder} {report.mode}, {report.seconds:.1f} s)"
        )
    if report.failed:
        print(f"punktfunk client: {report.ended_by}", file=sys.stderr)
        return 1
    return 0
