"""`punktfunk pair` and `punktfunk devices` as real subprocesses against the package's serve.

The pairing is real: a Moonlight client (moonlight-python, in `scripts/moonlight_client.py`,
its own process) asks the host to pair and shows its PIN; the command under test types it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mgmt.api_client import CliError
from mgmt.devices_cli import find_client, printable, render_clients
from mgmt.gamestream_api import GameStreamClient
from tests.support.cli import Relay, clean_env, one_error_line
from tests.support.moonlight import PairingMoonlight
from tests.support.serve import Serve
from tests.support.waiting import wait_for

DEFAULT_NAME = "Moonlight 0123456789ABCDEF"  # what moonlight-python sends as its name


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """serve without the demo: its Moonlight demo client pairs itself when it starts, and
    a host takes one pairing client at a time."""
    host = Serve(tmp_path_factory.mktemp("devices") / "config", env={"PUNKTFUNK_PERF": "0"})
    yield host
    host.stop()


def punktfunk(
    serve: Serve, *args: str, url: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`punktfunk ARGS --url URL --token TOKEN`, with serve's config dir."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mgmt",
            *args,
            "--url",
            url or serve.url,
            f"--token={serve.token}",
        ],
        capture_output=True,
        text=True,
        env=clean_env(PUNKTFUNK_CONFIG_DIR=str(serve.config)),
        timeout=timeout,
        check=False,
    )


def ok(serve: Serve, *args: str, **kwargs: Any) -> str:
    result = punktfunk(serve, *args, **kwargs)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def gamestream_status(serve: Serve) -> dict[str, Any]:
    response = serve.api("GET", "/gamestream/status")
    assert response.status_code == 200, response.text
    status: dict[str, Any] = response.json()
    return status


def paired(serve: Serve) -> list[dict[str, Any]]:
    response = serve.api("GET", "/gamestream/clients")
    assert response.status_code == 200, response.text
    clients: list[dict[str, Any]] = response.json()
    return clients


@pytest.fixture
def moonlight(serve: Serve, tmp_path: Path) -> Iterator[Callable[[str], PairingMoonlight]]:
    started: list[PairingMoonlight] = []

    def start(pin: str) -> PairingMoonlight:
        state = tmp_path / f"moonlight-{len(started)}"
        client = PairingMoonlight(lambda: gamestream_status(serve), state, pin)
        started.append(client)
        return client

    yield start
    for client in started:
        client.close()
    wait_for(lambda: not gamestream_status(serve)["waiting"], 30, "the host to stop waiting")


# -- pairing, listing, unpairing --------------------------------------------------------------


def test_pair_lists_and_removes_a_real_moonlight_client(
    serve: Serve, moonlight: Callable[[str], PairingMoonlight]
) -> None:
    client = moonlight("1234")
    # Refused names change nothing: the client still waits for the PIN.
    refused = one_error_line(punktfunk(serve, "pair", "1234", "--name", "x" * 65))
    assert refused == "punktfunk pair: the name is longer than 64 characters"
    refused = one_error_line(punktfunk(serve, "pair", "1234", "--name", "TV\x1b[31m"))
    assert refused == "punktfunk pair: the client name contains a control character"
    assert gamestream_status(serve)["client_name"] == DEFAULT_NAME

    out = ok(serve, "pair", "1234", "--name", "Living-room TV")
    match = re.fullmatch(r"paired 'Living-room TV' \(id ([0-9a-f]{12})\)\n", out)
    assert match, out
    assert client.finish() == (0, "")
    [entry] = [c for c in paired(serve) if c["name"] == "Living-room TV"]
    assert entry["id"].startswith(match.group(1))

    table = ok(serve, "devices").splitlines()
    assert re.fullmatch(r"NAME +ID +PAIRED", table[0]), table
    [row] = [line for line in table[1:] if line.startswith("Living-room TV ")]
    assert re.fullmatch(
        rf"Living-room TV +{match.group(1)} +\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d", row
    ), row
    assert json.loads(ok(serve, "devices", "--json")) == paired(serve)

    out = ok(serve, "devices", "rm", entry["id"][:6].upper())
    assert out == (
        f"unpaired 'Living-room TV' (id {entry['id'][:12]}); its next request to the host "
        "is refused\n"
    )
    assert entry["id"] not in {c["id"] for c in paired(serve)}
    again = one_error_line(punktfunk(serve, "devices", "rm", entry["id"][:6]))
    assert again == (
        f"punktfunk devices rm: no paired client with an id starting {entry['id'][:6]!r}; "
        "list them with `punktfunk devices`"
    )


def test_pair_and_rm_print_the_client_as_json(
    serve: Serve, moonlight: Callable[[str], PairingMoonlight]
) -> None:
    client = moonlight("9876")
    printed = json.loads(ok(serve, "pair", "9876", "--json"))
    assert client.finish() == (0, "")
    assert set(printed) == {"id", "name", "paired_unix_ms"}
    assert printed["name"] == DEFAULT_NAME  # no --name: the client's own
    assert printed in paired(serve)
    assert json.loads(ok(serve, "devices", "rm", printed["id"], "--json")) == printed
    assert printed not in paired(serve)


def test_pair_without_waiting_hands_the_pin_over_and_returns(
    serve: Serve, moonlight: Callable[[str], PairingMoonlight]
) -> None:
    client = moonlight("2468")
    out = ok(serve, "pair", "2468", "--wait", "0", "--name", "Quick")
    assert out == f"PIN handed to {DEFAULT_NAME!r}; it finishes pairing on its own\n"
    assert client.finish() == (0, "")
    [entry] = [c for c in paired(serve) if c["name"] == "Quick"]
    ok(serve, "devices", "rm", entry["id"])


def test_a_wrong_pin_pairs_nothing_and_pair_says_so(
    serve: Serve, moonlight: Callable[[str], PairingMoonlight]
) -> None:
    before = paired(serve)
    client = moonlight("1111")
    line = one_error_line(punktfunk(serve, "pair", "2222", "--wait", "2"))
    assert line == (
        f"punktfunk pair: the PIN went to {DEFAULT_NAME!r}, but it did not finish pairing "
        "within 2 s; a wrong PIN fails on the client (it says so): start pairing there again"
    )
    code, err = client.finish()
    assert code == 1
    assert "Incorrect PIN" in err
    assert paired(serve) == before


def test_unpairing_a_client_that_went_meanwhile_says_so(
    serve: Serve, moonlight: Callable[[str], PairingMoonlight], relay: Relay
) -> None:
    client = moonlight("5555")
    assert (
        serve.api("POST", "/gamestream/pin", json={"pin": "5555", "name": "Gone"}).status_code
        == 204
    )
    assert client.finish() == (0, "")
    [entry] = [c for c in paired(serve) if c["name"] == "Gone"]

    # Someone else unpairs it between the listing and the DELETE of `devices rm`.
    def unpair_first(method: str, path: str) -> None:
        if (method, path) == ("GET", "/api/v1/gamestream/clients"):
            assert serve.api("DELETE", f"/gamestream/clients/{entry['id']}").status_code == 204

    relay.before_answer = unpair_first
    line = one_error_line(punktfunk(serve, "devices", "rm", entry["id"][:12], url=relay.url))
    assert line == f"punktfunk devices rm: 'Gone' (id {entry['id'][:12]}) is no longer paired"
    assert relay.requests() == [
        ("GET", "/api/v1/gamestream/clients"),
        ("DELETE", f"/api/v1/gamestream/clients/{entry['id']}"),
    ]


# -- refusals ---------------------------------------------------------------------------------


def test_pair_without_a_waiting_client(serve: Serve) -> None:
    assert not gamestream_status(serve)["waiting"]
    line = one_error_line(punktfunk(serve, "pair", "1234"))
    assert line == (
        "punktfunk pair: no Moonlight client is waiting for a PIN; start pairing on the "
        "client first"
    )


@pytest.mark.parametrize("pin", ["123", "12345", "12a4", "", " ", "\u0661\u0662\u0663\u0664"])
def test_a_malformed_pin_is_refused_before_anything_is_sent(
    serve: Serve, relay: Relay, pin: str
) -> None:
    line = one_error_line(punktfunk(serve, "pair", pin, url=relay.url))
    assert line.startswith("punktfunk pair: the PIN is the 4 digits the Moonlight client shows")
    assert relay.requests() == []


@pytest.mark.parametrize("args", [("pair", "1234"), ("devices",), ("devices", "rm", "ab12")])
def test_server_down(serve: Serve, closed_port_url: str, args: tuple[str, ...]) -> None:
    line = one_error_line(punktfunk(serve, *args, url=closed_port_url))
    assert f"cannot connect to {closed_port_url}" in line
    assert "is the host running?" in line


def test_gamestream_off(tmp_path: Path) -> None:
    host = Serve(tmp_path / "config", "--no-gamestream")
    try:
        assert gamestream_status(host)["enabled"] is False
        assert one_error_line(punktfunk(host, "pair", "1234")) == (
            "punktfunk pair: GameStream is off on this host; turn the gamestream setting on "
            "and restart `punktfunk serve`"
        )
        off = "the GameStream host is off; turn it on in the configuration and restart serve"
        assert one_error_line(punktfunk(host, "devices")) == f"punktfunk devices: {off}"
        assert one_error_line(punktfunk(host, "devices", "--json")) == f"punktfunk devices: {off}"
        line = one_error_line(punktfunk(host, "devices", "rm", "ab12"))
        assert line == f"punktfunk devices rm: {off}"
    finally:
        assert host.stop() == 0


# -- the pure parts ---------------------------------------------------------------------------


def _client(client_id: str, name: str = "TV") -> GameStreamClient:
    return GameStreamClient(client_id.ljust(64, "0"), name, 1_780_000_000_000)


def test_find_client_by_a_unique_prefix() -> None:
    clients = [_client("ab12", "TV"), _client("ab34", "Laptop"), _client("cd", "Phone")]
    assert find_client(clients, "AB1").name == "TV"
    assert find_client(clients, " cd ").name == "Phone"
    assert find_client(clients, "ab34" + "0" * 60).name == "Laptop"
    with pytest.raises(CliError, match=r"'ab' matches 2 paired clients \('TV' \(id ab1200000000"):
        find_client(clients, "ab")
    with pytest.raises(CliError, match="no paired client with an id starting 'ef'"):
        find_client(clients, "ef")
    for bad in ("", "xyz", "ab-12", "a" * 65, "ab 12"):
        with pytest.raises(CliError, match="is not a client id"):
            find_client(clients, bad)


def test_the_table_escapes_unprintable_names() -> None:
    assert printable("TV\x1b[31m\u200b") == "TV?[31m?"
    table = render_clients([_client("ab", "Evil\x1b]0;x\x07")])
    assert "\x1b" not in table
    assert "\x07" not in table
    assert "Evil?]0;x?" in table
    assert render_clients([]).startswith("no paired Moonlight clients")
