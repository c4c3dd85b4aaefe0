"""The API token and the guard that demands it on every `/api/` request.

The token lives in `<config_dir>/token` (0600, dir 0700), created on first use;
`punktfunk token` prints it. `BearerAuthMiddleware` sits in front of the router and
checks the path prefix, not individual routes, so a route added under `/api/` later
cannot forget to require the token.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import stat
from collections.abc import Collection
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from host.config import ensure_private_dir, write_private_file
from mgmt.errors import error_response

log = logging.getLogger(__name__)

TOKEN_FILE = "token"  # noqa: S105 -- a file name, not a secret
PROTECTED_PREFIX = "/api/"
"""Every path under this prefix (so all of `/api/v1`) requires the bearer token."""


def read_token(config_dir: Path) -> str | None:
    """The API token in `<config_dir>/token`; None if there is none yet (no file, or an
    empty one). ValueError, naming the file, if it holds something that is not a token."""
    path = config_dir / TOKEN_FILE
    try:
        token = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (UnicodeDecodeError, ValueError) as err:
        raise ValueError(
            f"{path} does not hold a valid API token (it must be printable ASCII); "
            "delete it to generate a new one"
        ) from err
    if not token:
        return None
    if not token.isprintable() or any(c.isspace() for c in token):
        raise ValueError(
            f"{path} does not hold a valid API token (no spaces or control characters); "
            "delete it to generate a new one"
        )
    return token


def new_token() -> str:
    """32 random bytes, URL-safe; never starting with `-`, which argparse would read as
    an option in `--token <value>`."""
    while (token := secrets.token_urlsafe(32)).startswith("-"):
        pass
    return token


def load_or_create_token(config_dir: Path) -> str:
    """The API token from `<config_dir>/token`, generated there on first use."""
    ensure_private_dir(config_dir)
    path = config_dir / TOKEN_FILE
    token = read_token(config_dir)
    if token is None:
        token = new_token()
        write_private_file(path, (token + "\n").encode("ascii"))
        log.info("generated a new API token in %s", path)
        return token
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        log.warning("%s was readable by others; restricting it to its owner (0600)", path)
        path.chmod(0o600)
    return token


def is_protected(path: str) -> bool:
    return path.startswith(PROTECTED_PREFIX) or path == PROTECTED_PREFIX.rstrip("/")


class BearerAuthMiddleware:
    """Reject `/api/` requests (and any path in `also_protect`, e.g. `/metrics`) without
    `Authorization: Bearer <token>` (401 envelope)."""

    def __init__(self, app: ASGIApp, *, token: str, also_protect: Collection[str] = ()) -> None:
        self.app = app
        self._token = token.encode("ascii")
        self._also_protect = frozenset(also_protect)

    def authorized(self, scope: Scope) -> bool | None:
        """True/False for a good/bad token, None when no bearer credentials were sent."""
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, credentials = value.partition(b" ")
                if scheme.lower() != b"bearer":
                    return None
                return hmac.compare_digest(credentials.strip(), self._token)
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not (
            is_protected(scope["path"]) or scope["path"] in self._also_protect
        ):
            await self.app(scope, receive, send)
            return
        verdict = self.authorized(scope)
        if verdict:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        if verdict is None:
            message = (
                "this endpoint needs 'Authorization: Bearer <token>'; "
                "print the token with `punktfunk token`"
            )
            challenge = 'Bearer realm="punktfunk"'
        else:
            message = "the bearer token is wrong; print the current one with `punktfunk token`"
            challenge = 'Bearer realm="punktfunk", error="invalid_token"'
        response = error_response(401, "unauthorized", message, {"WWW-Authenticate": challenge})
        await response(scope, receive, send)
