"""Talking to a running `punktfunk serve` over its REST API, for command-line clients.

Owns what every command that calls `/api/v1` shares:
- finding the server (`resolve_endpoint`), first that is set wins:
    URL:   --url, PUNKTFUNK_URL, then http://<bind> from the `bind` setting as
           `mgmt.settings.load()` resolves it (a wildcard host means 127.0.0.1);
    token: --token, PUNKTFUNK_TOKEN, then `<config dir>/token` (read, never created);
- `ApiClient`, a small synchronous JSON client whose every failure is a typed `ApiError`
  with a one-line message an operator can act on;
- the command-line edge: the `--url/--token/--json` options (`connection_options`),
  `--json` output (`write_json`) and `run_command`, which turns every failure into one
  stderr line and an exit code, never a traceback.

httpx is imported only when a client opens: building the `punktfunk` parser must stay
cheap for every other subcommand.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import msgspec

from mgmt.models import ErrorEnvelope

Params = Mapping[str, str] | tuple[tuple[str, str], ...]
"""Query parameters; pairs for a name given more than once (`?id=a&id=b`)."""

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

URL_ENV = "PUNKTFUNK_URL"
TOKEN_ENV = "PUNKTFUNK_TOKEN"  # noqa: S105 -- a variable name, not a secret
API_PREFIX = "/api/v1"
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 60.0  # a stop writes, and a get reads, up to a 5400-sample recording
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
DISCOVERY_HELP = (
    f"The URL comes from --url, ${URL_ENV} or the bind setting; the token from "
    f"--token, ${TOKEN_ENV} or <config dir>/token."
)

T = TypeVar("T")


def one_line(text: str) -> str:
    return " ".join(text.split())


# -- errors ------------------------------------------------------------------------------


class CliError(Exception):
    """A command's own refusal (e.g. "a capture is already running"); `run_command` prints
    its message as the one stderr line."""

    def __init__(self, message: str) -> None:
        self.message = one_line(message)
        super().__init__(self.message)


class ApiError(Exception):
    """Any failure to get a usable answer from the API; `message` is one line."""

    def __init__(self, message: str) -> None:
        self.message = one_line(message)
        super().__init__(self.message)


class EndpointError(ApiError):
    """No usable URL or token: nothing set anywhere, an unreadable token file, a bad URL."""


class UnreachableError(ApiError):
    """No answer: connection refused, a timeout, a broken connection."""


class ResponseError(ApiError):
    """The server answered with a non-2xx status; `code` is the error envelope's code
    (e.g. `not_found`), None when the body was no envelope."""

    def __init__(self, message: str, *, status: int, code: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class UnauthorizedError(ResponseError):
    """401: the token was refused."""


class NotFoundError(ResponseError):
    """404: no such resource (the message is the server's)."""


class UnexpectedReplyError(ApiError):
    """A 2xx answer whose body is not what this client expects (another version?)."""


# -- finding the server ------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    url: str  # e.g. http://127.0.0.1:47900, without /api/v1
    url_source: str  # where the URL came from, for error messages
    token: str
    token_source: str


def normalize_url(url: str) -> str:
    """`127.0.0.1:47900`, `http://host:47900/` and `.../api/v1` all mean the same server."""
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    return url.removesuffix(API_PREFIX).rstrip("/")


def url_from_bind(bind: str) -> str:
    """The URL a local client uses for serve's `bind` setting."""
    from mgmt.settings import join_address, local_host, split_address  # noqa: PLC0415

    host, port = split_address(bind, "bind")
    if port == 0:
        raise EndpointError(
            f"the bind setting is {bind!r} (port 0: serve picked a free port); "
            "pass --url with the address serve printed ('mgmt listening on ...')"
        )
    return f"http://{join_address(local_host(host), port)}"


def resolve_endpoint(
    url: str | None,
    token: str | None,
    environ: Mapping[str, str],
    directory: Path | None = None,
) -> Endpoint:
    """The server's URL and token: flags, then environment, then the config dir."""
    from host.config import config_dir  # noqa: PLC0415 -- cheap, but keep imports lazy
    from mgmt.auth import TOKEN_FILE, read_token  # noqa: PLC0415
    from mgmt.settings import SettingsError, load  # noqa: PLC0415

    directory = config_dir() if directory is None else directory
    if url:
        found_url, url_source = normalize_url(url), "--url"
    elif environ.get(URL_ENV):
        found_url, url_source = normalize_url(environ[URL_ENV]), URL_ENV
    else:
        try:
            bind = load(environ=dict(environ), directory=directory).bind
        except SettingsError as err:
            raise EndpointError(f"{err} (or pass --url / set {URL_ENV})") from None
        found_url, url_source = url_from_bind(bind), "the bind setting"
    if token:
        found_token, token_source = token.strip(), "--token"
    elif environ.get(TOKEN_ENV):
        found_token, token_source = environ[TOKEN_ENV].strip(), TOKEN_ENV
    else:
        path = directory / TOKEN_FILE
        try:
            found_token = read_token(directory) or ""
        except (OSError, ValueError) as err:
            raise EndpointError(f"cannot read the API token from {path}: {err}") from None
        if not found_token:
            raise EndpointError(
                f"no API token in {path} (serve creates it on its first start); print it "
                f"with `punktfunk token` where serve runs and pass --token or set {TOKEN_ENV}"
            )
        token_source = str(path)
    return Endpoint(found_url, url_source, found_token, token_source)


# -- the client --------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """A 2xx answer: `content` is the body exactly as sent (what `--json` prints)."""

    status: int
    content: bytes
    server: str  # the server's URL and the request's path, for error messages
    path: str

    @property
    def empty(self) -> bool:
        """204 No Content, e.g. a stop when nothing was recording."""
        return self.status == 204

    def decode(self, kind: type[T]) -> T:
        """The body as `kind` (a msgspec-decodable type); UnexpectedReplyError otherwise."""
        try:
            return msgspec.json.decode(self.content, type=kind)
        except msgspec.DecodeError as err:
            raise UnexpectedReplyError(
                f"{self.server} sent an unexpected reply to {self.path} ({err}); "
                "is it a punktfunk host of the same version?"
            ) from None


class ApiClient:
    """A synchronous client of `/api/v1` (paths are relative to it, e.g. `/stats/recordings`).

    Bodies go out as JSON; every outcome but a 2xx `Reply` raises an `ApiError` subclass.
    Close it (or use it as a context manager) to release its connections.
    """

    def __init__(self, endpoint: Endpoint) -> None:
        if not endpoint.token.isascii() or not endpoint.token.isprintable():
            raise EndpointError(f"the token from {endpoint.token_source} is not printable ASCII")
        try:
            import httpx  # noqa: PLC0415 -- see the module docstring
        except ImportError:
            raise EndpointError("needs the httpx package: pip install httpx") from None
        self.endpoint = endpoint
        try:
            self._client = httpx.Client(
                base_url=endpoint.url + API_PREFIX,
                headers={"Authorization": f"Bearer {endpoint.token}"},
                timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
            )
        except httpx.InvalidURL as err:
            source = endpoint.url_source
            raise EndpointError(f"invalid URL {endpoint.url!r} (from {source}): {err}") from None

    @classmethod
    def from_args(
        cls, args: argparse.Namespace, environ: Mapping[str, str] | None = None
    ) -> ApiClient:
        """A client for the server that `--url`/`--token` (see `connection_options`), the
        environment and the config dir name."""
        environ = os.environ if environ is None else environ
        return cls(
            resolve_endpoint(getattr(args, "url", None), getattr(args, "token", None), environ)
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def get(self, path: str, *, params: Params | None = None) -> Reply:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: object = None, *, params: Params | None = None) -> Reply:
        """POST `body` as JSON (any msgspec-encodable value); None sends no body."""
        return self.request("POST", path, body=body, params=params)

    def delete(self, path: str, *, params: Params | None = None) -> Reply:
        return self.request("DELETE", path, params=params)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        params: Params | None = None,
    ) -> Reply:
        import httpx  # noqa: PLC0415 -- see the module docstring

        url = self.endpoint.url
        content = None if body is None else msgspec.json.encode(body)
        headers = None if content is None else {"Content-Type": "application/json"}
        try:
            response = self._client.request(
                method, path, params=params, content=content, headers=headers
            )
        except httpx.ConnectError as err:
            raise UnreachableError(
                f"cannot connect to {url} (from {self.endpoint.url_source}): {err}; "
                "is the host running? Start it with `punktfunk serve`"
            ) from None
        except httpx.TimeoutException:
            raise UnreachableError(
                f"{url} did not answer in time; is the host overloaded?"
            ) from None
        except (httpx.HTTPError, httpx.InvalidURL) as err:
            raise UnreachableError(f"request to {url} failed: {err}") from None
        if response.is_success:
            return Reply(response.status_code, response.content, url, response.request.url.path)
        raise self._error(response)

    def _error(self, response: httpx.Response) -> ResponseError:
        status = response.status_code
        envelope = _envelope(response.content)
        code = envelope.error.code if envelope else None
        if status == 401:
            return UnauthorizedError(
                f"{self.endpoint.url} refused the token from {self.endpoint.token_source}; "
                "print the right one with `punktfunk token` as the user that runs serve "
                f"(same config dir) and pass it with --token or {TOKEN_ENV}",
                status=status,
                code=code,
            )
        message = (
            envelope.error.message
            if envelope
            else f"{self.endpoint.url} answered {status} {response.reason_phrase}"
        )
        kind = NotFoundError if status == 404 else ResponseError
        return kind(message, status=status, code=code)


def _envelope(content: bytes) -> ErrorEnvelope | None:
    try:
        return msgspec.json.decode(content, type=ErrorEnvelope)
    except msgspec.DecodeError:
        return None


# -- the command-line edge ---------------------------------------------------------------


def connection_options(*, with_json: bool = True) -> argparse.ArgumentParser:
    """A parent parser with `--url`, `--token` and (with `with_json`) `--json`.

    Give it to the command group and to each leaf: an option not given on the leaf keeps a
    value given before it (`punktfunk stats --url U ls` and `punktfunk stats ls --url U`
    both work), because the options default to "not set" rather than None.
    """
    options = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    options.add_argument(
        "--url",
        help=f"the host's mgmt URL (default: ${URL_ENV}, else http://<bind setting>)",
    )
    options.add_argument(
        "--token",
        help=f"the API token (default: ${TOKEN_ENV}, else <config dir>/token)",
    )
    if with_json:
        options.add_argument(
            "--json", action="store_true", help="print the API's JSON instead of a table"
        )
    return options


def wants_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def write_json(data: bytes) -> None:
    """The API's JSON on stdout as sent (compact), one document ending in a newline."""
    sys.stdout.buffer.write(data.rstrip(b"\n") + b"\n")
    sys.stdout.flush()


Command = Callable[[ApiClient, argparse.Namespace], int]


def run_command(label: str, command: Command, args: argparse.Namespace) -> int:
    """Open a client for `args` and run `command` with it.

    Every failure becomes one stderr line, `<label>: <message>`, and an exit code: 1 for
    errors, 130 for Ctrl-C, 141 when stdout was closed (e.g. `... | head`).
    """
    if log.getEffectiveLevel() > logging.DEBUG:
        for noisy in ("httpx", "httpcore"):  # httpx logs every request at INFO
            logging.getLogger(noisy).setLevel(logging.WARNING)

    def fail(message: str) -> None:
        print(f"{label}: {one_line(message)}", file=sys.stderr)

    try:
        with ApiClient.from_args(args) as client:
            return command(client, args)
    except (ApiError, CliError) as err:
        fail(err.message)
        return EXIT_ERROR
    except KeyboardInterrupt:
        fail("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Nothing reads stdout any more; point it at /dev/null so the exit flush is quiet.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except OSError as err:
        fail(str(err))
        return EXIT_ERROR
    except Exception as err:
        log.debug("%s failed", label, exc_info=True)
        fail(
            f"unexpected error: {type(err).__name__}: {err} "
            "(PUNKTFUNK_LOG_LEVEL=DEBUG shows the traceback)"
        )
        return EXIT_ERROR
