"""The streaming host's own subcommand: `client`, the native punktfunk/1 receiver."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import sys
from typing import Any

from host.config import config_dir
from host.pipeline.encoder import CODECS

MODE = re.compile(r"^(\d+)x(\d+)@(\d+)$")


def register(sub: argparse._SubParsersAction[Any]) -> None:
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


def _client(args: argparse.Namespace) -> int:
    from host.native.client import (
        ClientError,
        ClientInterruptedError,
        ClientOptions,
        ClientReport,
        parse_address,
        run,
    )

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

    async def main() -> ClientReport:
        # Ctrl-C ends the stream the way --seconds running out does, so the report is
        # still printed; a second Ctrl-C quits at once.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def interrupted() -> None:
            stop.set()
            loop.remove_signal_handler(signal.SIGINT)

        loop.add_signal_handler(signal.SIGINT, interrupted)
        return await run(options, stop)

    try:
        report = asyncio.run(main())
    except (ClientInterruptedError, KeyboardInterrupt):
        return 130
    except ClientError as exc:
        print(f"punktfunk client: {exc}", file=sys.stderr)
        return 1
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
