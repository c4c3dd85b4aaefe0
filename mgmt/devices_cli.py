"""`punktfunk pair` and `punktfunk devices`: pairing and unpairing Moonlight clients.

    punktfunk pair PIN [--name NAME] [--wait SECONDS]
    punktfunk devices [--json]
    punktfunk devices rm ID [--json]

Over the REST API (`/api/v1/gamestream/...`); finding the server and turning failures into
one stderr line is `mgmt.api_client`'s job, as for `punktfunk stats`.

Decisions an operator can rely on:
- `pair` checks the PIN's form and the name's length before it sends anything, then
  hands the PIN to the client that waits for one and waits (15 s by default) until that
  client has finished pairing and is listed: a wrong PIN fails on the client, so the
  host only sees that it never finishes, and `pair` says so after the wait. `--wait 0`
  returns once the PIN is handed.
- `devices rm` takes any unique prefix of an id, as `devices` shows them (12 characters),
  and refuses an ambiguous one, naming the matches.
- Client names are shown with unprintable characters replaced, never written raw to a
  terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from mgmt.api_client import (
    DISCOVERY_HELP,
    ApiClient,
    CliError,
    Command,
    ResponseError,
    connection_options,
    run_command,
    wants_json,
    write_json,
)
from mgmt.stats_render import format_local_time, format_table

if TYPE_CHECKING:
    from mgmt.gamestream_api import GameStreamClient

STATUS = "/gamestream/status"
PIN = "/gamestream/pin"
CLIENTS = "/gamestream/clients"
SHORT_ID_CHARS = 12
DEFAULT_WAIT_S = 15.0
POLL_S = 0.25
PIN_FORM = re.compile(r"[0-9]{4}")
ID_PREFIX = re.compile(r"[0-9a-f]{1,64}")

_NO_GAMESTREAM_API = (
    "this host has no GameStream API (an older punktfunk?); update it, or pair from the "
    "host that runs `punktfunk serve`"
)


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def printable(text: str) -> str:
    """`text` safe for a terminal: unprintable characters become `?`."""
    return "".join(c if c.isprintable() else "?" for c in text)


def short_id(client_id: str) -> str:
    return client_id[:SHORT_ID_CHARS]


def render_clients(clients: Sequence[GameStreamClient]) -> str:
    if not clients:
        return (
            "no paired Moonlight clients; pair one with `punktfunk pair PIN` while it shows its PIN"
        )
    rows = [
        [printable(c.name), short_id(c.id), format_local_time(c.paired_unix_ms)] for c in clients
    ]
    return format_table(["NAME", "ID", "PAIRED"], rows)


def describe(client: GameStreamClient) -> str:
    return f"{printable(client.name)!r} (id {short_id(client.id)})"


def find_client(clients: Sequence[GameStreamClient], prefix: str) -> GameStreamClient:
    """The one client whose id starts with `prefix`; CliError for none or several."""
    wanted = prefix.strip().lower()
    if ID_PREFIX.fullmatch(wanted) is None:
        raise CliError(
            f"{printable(prefix[:80])!r} is not a client id: ids are hex, as "
            "`punktfunk devices` lists them"
        )
    matches = [c for c in clients if c.id.startswith(wanted)]
    if not matches:
        raise CliError(
            f"no paired client with an id starting {wanted!r}; list them with `punktfunk devices`"
        )
    if len(matches) > 1:
        named = ", ".join(describe(c) for c in matches)
        raise CliError(
            f"{wanted!r} matches {len(matches)} paired clients ({named}); give more of the id"
        )
    return matches[0]


# -- the commands ------------------------------------------------------------------------


@contextlib.contextmanager
def _gamestream_api() -> Iterator[None]:
    """Turn "no such endpoint" (a serve without the GameStream routes) into a clear line."""
    try:
        yield
    except ResponseError as err:
        if err.status == 404 and err.code == "not_found":
            raise CliError(_NO_GAMESTREAM_API) from None
        raise


def _clients(client: ApiClient) -> list[GameStreamClient]:
    from mgmt.gamestream_api import GameStreamClient  # noqa: PLC0415 -- see register()

    with _gamestream_api():
        return client.get(CLIENTS).decode(list[GameStreamClient])


def cmd_pair(client: ApiClient, args: argparse.Namespace) -> int:
    from mgmt.gamestream_api import GameStreamStatus  # noqa: PLC0415 -- see register()

    pin: str = args.pin.strip()
    if PIN_FORM.fullmatch(pin) is None:
        raise CliError(
            f"the PIN is the 4 digits the Moonlight client shows, got {printable(pin[:20])!r}"
        )
    from host.gamestream.identity import MAX_CLIENT_NAME_CHARS  # noqa: PLC0415

    if len(args.name) > MAX_CLIENT_NAME_CHARS:
        raise CliError(f"the name is longer than {MAX_CLIENT_NAME_CHARS} characters")
    with _gamestream_api():
        status = client.get(STATUS).decode(GameStreamStatus)
    if not status.enabled:
        raise CliError(
            "GameStream is off on this host; turn the gamestream setting on and restart "
            "`punktfunk serve`"
        )
    before = {(c.id, c.paired_unix_ms) for c in _clients(client)}
    waiting = printable(status.client_name or "the client")
    client.post(PIN, {"pin": pin, "name": args.name})
    wait_s: float = args.wait
    if wait_s <= 0:
        if wants_json(args):
            write_json(b"null")
        else:
            _out(f"PIN handed to {waiting!r}; it finishes pairing on its own")
        return 0
    deadline = time.monotonic() + wait_s
    while True:
        fresh = [c for c in _clients(client) if (c.id, c.paired_unix_ms) not in before]
        if fresh:
            paired = fresh[-1]
            break
        if time.monotonic() >= deadline:
            raise CliError(
                f"the PIN went to {waiting!r}, but it did not finish pairing within "
                f"{wait_s:g} s; a wrong PIN fails on the client (it says so): start "
                "pairing there again"
            )
        time.sleep(POLL_S)
    if wants_json(args):
        from mgmt.models import json_encoder  # noqa: PLC0415

        write_json(json_encoder.encode(paired))
    else:
        _out(f"paired {describe(paired)}")
    return 0


def cmd_list(client: ApiClient, args: argparse.Namespace) -> int:
    if wants_json(args):
        with _gamestream_api():
            write_json(client.get(CLIENTS).content)
        return 0
    _out(render_clients(_clients(client)))
    return 0


def cmd_rm(client: ApiClient, args: argparse.Namespace) -> int:
    target = find_client(_clients(client), args.id)
    try:
        client.delete(f"{CLIENTS}/{target.id}")
    except ResponseError as err:
        if err.status == 404:
            raise CliError(f"{describe(target)} is no longer paired") from None
        raise
    if wants_json(args):
        from mgmt.models import json_encoder  # noqa: PLC0415

        write_json(json_encoder.encode(target))
    else:
        _out(f"unpaired {describe(target)}; its next request to the host is refused")
    return 0


def _run(label: str, command: Command) -> Any:
    def handler(args: argparse.Namespace) -> int:
        return run_command(label, command, args)

    return handler


# -- the parser --------------------------------------------------------------------------


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"must be 0 to 3600 seconds, got {text!r}")
    return value


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add `punktfunk pair` and `punktfunk devices` to the `punktfunk` parser.

    The GameStream models (`mgmt.gamestream_api`) are imported when a command runs: the
    parser is built for every `punktfunk` invocation and must stay cheap."""
    pair = sub.add_parser(
        "pair",
        parents=[connection_options()],
        help="pair a Moonlight client: enter the PIN it shows",
        description="Hand the PIN a Moonlight client shows to the host and wait until the "
        "client has paired. Start pairing on the client first. " + DISCOVERY_HELP,
    )
    pair.add_argument("pin", metavar="PIN", help="the 4 digits the Moonlight client shows")
    pair.add_argument(
        "--name",
        default="",
        help="name to pair the client under (default: the name the client sends)",
    )
    pair.add_argument(
        "--wait",
        type=_seconds,
        default=DEFAULT_WAIT_S,
        metavar="SECONDS",
        help=f"wait this long for the client to finish (default {DEFAULT_WAIT_S:g}; 0: "
        "return once the PIN is handed over)",
    )
    pair.set_defaults(handler=_run("punktfunk pair", cmd_pair))

    devices = sub.add_parser(
        "devices",
        parents=[connection_options()],
        help="list the paired Moonlight clients (`devices rm ID` unpairs one)",
        description="List the paired Moonlight (GameStream) clients. " + DISCOVERY_HELP,
    )
    devices.set_defaults(handler=_run("punktfunk devices", cmd_list))
    commands = devices.add_subparsers(metavar="COMMAND")
    rm = commands.add_parser(
        "rm",
        parents=[connection_options()],
        help="unpair a client: its next request to the host is refused",
        description="Unpair a Moonlight client; it has to pair again to stream.",
    )
    rm.add_argument(
        "id", metavar="ID", help="the client's id, or a unique start of it (`devices` lists them)"
    )
    rm.set_defaults(handler=_run("punktfunk devices rm", cmd_rm))
