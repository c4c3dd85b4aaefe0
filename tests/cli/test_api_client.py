"""Finding the server and talking to it (mgmt.api_client): the discovery rules, and the
client's typed errors against a real `serve --demo`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mgmt.api_client import (
    ApiClient,
    Endpoint,
    EndpointError,
    NotFoundError,
    ResponseError,
    UnauthorizedError,
    UnexpectedReplyError,
    UnreachableError,
    connection_options,
    normalize_url,
    resolve_endpoint,
    url_from_bind,
    wants_json,
)
from mgmt.models import CaptureMeta, StatsStatus
from tests.support.cli import Relay
from tests.support.serve import Serve


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("127.0.0.1:47900", "http://127.0.0.1:47900"),
        ("http://host:1/", "http://host:1"),
        ("https://host/api/v1/", "https://host"),
    ],
)
def test_urls_are_normalised(given: str, url: str) -> None:
    assert normalize_url(given) == url


@pytest.mark.parametrize(
    ("bind", "url"),
    [
        ("127.0.0.1:47900", "http://127.0.0.1:47900"),
        ("0.0.0.0:47900", "http://127.0.0.1:47900"),
        ("[::]:47900", "http://127.0.0.1:47900"),
        (":47900", "http://127.0.0.1:47900"),
        ("[::1]:5000", "http://[::1]:5000"),
        ("192.168.1.5:80", "http://192.168.1.5:80"),
    ],
)
def test_a_wildcard_bind_is_reached_on_loopback(bind: str, url: str) -> None:
    assert url_from_bind(bind) == url


def test_a_random_port_bind_cannot_be_found_and_says_to_pass_url() -> None:
    with pytest.raises(EndpointError, match="--url"):
        url_from_bind("127.0.0.1:0")


def config_with(tmp_path: Path, *, stored: str | None = "from-file", toml: str = "") -> Path:
    """A config dir holding `stored` as its token file (none if None) and `toml`."""
    tmp_path.mkdir(exist_ok=True)
    if stored is not None:
        (tmp_path / "token").write_text(stored + "\n")
    if toml:
        (tmp_path / "config.toml").write_text(toml)
    return tmp_path


def test_without_overrides_url_and_token_come_from_the_config_dir(tmp_path: Path) -> None:
    directory = config_with(tmp_path, toml='bind = "0.0.0.0:48000"\n')
    endpoint = resolve_endpoint(None, None, {}, directory)
    assert (endpoint.url, endpoint.token) == ("http://127.0.0.1:48000", "from-file")
    assert endpoint.token_source == str(directory / "token")
    assert endpoint.url_source == "the bind setting"
    assert resolve_endpoint(None, None, {}, config_with(tmp_path / "d")).url == (
        "http://127.0.0.1:47900"  # the default bind
    )


def test_the_environment_wins_over_the_config_dir(tmp_path: Path) -> None:
    directory = config_with(tmp_path, toml='bind = "127.0.0.1:48000"\n')
    env = {"PUNKTFUNK_BIND": "127.0.0.1:48001"}
    assert resolve_endpoint(None, None, env, directory).url == "http://127.0.0.1:48001"
    env |= {"PUNKTFUNK_URL": "http://h:1", "PUNKTFUNK_TOKEN": "from-env"}
    endpoint = resolve_endpoint(None, None, env, directory)
    assert (endpoint.url, endpoint.token, endpoint.token_source) == (
        "http://h:1",
        "from-env",
        "PUNKTFUNK_TOKEN",
    )


def test_flags_win_over_everything(tmp_path: Path) -> None:
    env = {"PUNKTFUNK_URL": "http://h:1", "PUNKTFUNK_TOKEN": "from-env"}
    endpoint = resolve_endpoint("http://flag:2", "from-flag", env, config_with(tmp_path))
    assert (endpoint.url, endpoint.token) == ("http://flag:2", "from-flag")
    assert (endpoint.url_source, endpoint.token_source) == ("--url", "--token")


def test_a_missing_token_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    directory = config_with(tmp_path, stored=None)
    with pytest.raises(EndpointError, match="punktfunk token"):
        resolve_endpoint("http://h:1", None, {}, directory)
    assert not (directory / "token").exists()


def test_a_bad_config_file_is_an_error_naming_it(tmp_path: Path) -> None:
    directory = config_with(tmp_path, toml="bind = 5\n")
    with pytest.raises(EndpointError, match="bind must be str"):
        resolve_endpoint(None, None, {}, directory)


def test_a_token_that_is_not_printable_ascii_is_refused_before_any_request() -> None:
    endpoint = Endpoint("http://127.0.0.1:1", "--url", "tök\n", "--token")
    with pytest.raises(EndpointError, match="token from --token is not printable ASCII"):
        ApiClient(endpoint)


def test_the_connection_options_work_before_and_after_the_command() -> None:
    parser = argparse.ArgumentParser(parents=[connection_options(with_json=False)])
    parser.add_subparsers().add_parser("ls", parents=[connection_options()])
    before = parser.parse_args(["--url", "U", "--token", "T", "ls"])
    after = parser.parse_args(["ls", "--url", "U", "--token", "T", "--json"])
    assert (before.url, before.token, wants_json(before)) == ("U", "T", False)
    assert (after.url, after.token, wants_json(after)) == ("U", "T", True)
    assert not hasattr(parser.parse_args(["ls"]), "url")  # unset: the environment decides


@pytest.fixture
def client(serve: Serve) -> Iterator[ApiClient]:
    with ApiClient(Endpoint(serve.url, "--url", serve.token, "--token")) as opened:
        yield opened


def test_a_reply_is_the_body_as_sent_and_decodes_to_a_model(
    client: ApiClient, serve: Serve
) -> None:
    reply = client.get("/stats/capture/status")
    assert reply.status == 200
    assert not reply.empty
    assert json.loads(reply.content) == serve.api("GET", "/stats/capture/status").json()
    assert reply.decode(StatsStatus).armed is False


def test_a_body_of_another_shape_is_an_unexpected_reply(client: ApiClient) -> None:
    reply = client.get("/stats/capture/status")
    with pytest.raises(UnexpectedReplyError, match="reply to /api/v1/stats/capture/status"):
        reply.decode(list[CaptureMeta])


def test_a_404_is_not_found_with_the_servers_message_and_code(client: ApiClient) -> None:
    with pytest.raises(NotFoundError) as caught:
        client.get("/stats/recordings/no-such-recording")
    assert (caught.value.status, caught.value.code) == (404, "recording_not_found")
    assert "no-such-recording" in caught.value.message
    assert "\n" not in caught.value.message


def test_a_refused_token_is_unauthorized_and_says_how_to_get_the_right_one(
    serve: Serve,
) -> None:
    endpoint = Endpoint(serve.url, "--url", "wrong", "PUNKTFUNK_TOKEN")
    with ApiClient(endpoint) as client, pytest.raises(UnauthorizedError) as caught:
        client.get("/stats/recordings")
    assert (caught.value.status, caught.value.code) == (401, "unauthorized")
    assert "refused the token from PUNKTFUNK_TOKEN" in caught.value.message
    assert "`punktfunk token`" in caught.value.message


def test_another_failure_status_is_a_response_error_with_its_code(client: ApiClient) -> None:
    with pytest.raises(ResponseError) as caught:
        client.delete("/stats/capture/status")
    assert not isinstance(caught.value, NotFoundError | UnauthorizedError)
    assert (caught.value.status, caught.value.code) == (405, "method_not_allowed")


def test_a_server_that_is_not_there_is_unreachable(closed_port_url: str) -> None:
    endpoint = Endpoint(closed_port_url, "the bind setting", "t", "--token")
    with ApiClient(endpoint) as client, pytest.raises(UnreachableError) as caught:
        client.get("/stats/capture/status")
    assert caught.value.message.startswith(f"cannot connect to {closed_port_url} (from the bind")
    assert "`punktfunk serve`" in caught.value.message


def test_post_sends_its_body_as_json_and_a_204_is_an_empty_reply(
    serve: Serve, relay: Relay
) -> None:
    serve.api("POST", "/stats/capture/stop")  # nothing recording: stop answers 204
    with ApiClient(Endpoint(relay.url, "--url", serve.token, "--token")) as client:
        reply = client.post("/stats/capture/stop", {"reason": "test", "pin": 1234})
        bare = client.post("/stats/capture/stop")
    assert (reply.status, reply.empty, reply.content) == (204, True, b"")
    assert bare.empty
    sent, bare_sent = relay.seen
    assert (sent.content_type, json.loads(sent.body)) == (
        "application/json",
        {"reason": "test", "pin": 1234},
    )
    assert (bare_sent.content_type, bare_sent.body) == (None, b"")
