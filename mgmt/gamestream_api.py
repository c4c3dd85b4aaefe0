"""The REST API of the GameStream (Moonlight) host: its status, PIN entry, paired clients.

`gamestream_routes(get_service)` returns the Starlette routes; `get_service()` answers
the running `GameStreamService`, or None while GameStream is off. Handlers call the
service on the event loop it runs on (the mgmt process's), as the service requires.
Errors are `ApiError`s, so they leave as the API's one JSON envelope (`mgmt.errors`).

    GET    /api/v1/gamestream/status        -> GameStreamStatus
    POST   /api/v1/gamestream/pin           {"pin": "1234", "name": "Living-room TV"} -> 204
    GET    /api/v1/gamestream/clients       -> [GameStreamClient]
    DELETE /api/v1/gamestream/clients/{id}  -> 204
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated

import msgspec
from msgspec import Meta, Struct
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from host.gamestream.identity import MAX_CLIENT_NAME_CHARS, ClientStoreError
from host.gamestream.pairing import InvalidNameError, InvalidPinError, NoClientWaitingError
from host.gamestream.service import GameStreamService
from mgmt.errors import ApiError, InvalidParameterError
from mgmt.models import json_encoder

API_PREFIX = "/api/v1/gamestream"
JSON = "application/json"
MAX_PIN_BODY_BYTES = 4096
CLIENT_ID = re.compile(r"[0-9a-f]{64}")

ServiceGetter = Callable[[], GameStreamService | None]


# -- models --------------------------------------------------------------------------------


class GameStreamStatus(Struct):
    enabled: Annotated[bool, Meta(description="the GameStream host is running")]
    http_port: Annotated[int | None, Meta(description="nvhttp HTTP port; null when off")]
    https_port: Annotated[int | None, Meta(description="nvhttp HTTPS port; null when off")]
    waiting: Annotated[bool, Meta(description="a Moonlight client waits for its PIN")]
    client_name: Annotated[
        str | None, Meta(description="the waiting client's default name; null if none waits")
    ]


class PinSubmission(Struct, forbid_unknown_fields=True):
    pin: Annotated[str, Meta(description="the 4 digits the Moonlight client shows")]
    name: Annotated[
        str,
        Meta(
            max_length=MAX_CLIENT_NAME_CHARS,
            description="name to pair the client under; empty: the client's default name",
        ),
    ] = ""


class GameStreamClient(Struct):
    id: Annotated[
        str,
        Meta(
            pattern=r"^[0-9a-f]{64}$",
            description="SHA-256 of the client certificate (DER), lowercase hex",
        ),
    ]
    name: str
    paired_unix_ms: int


SCHEMA_TYPES: tuple[type, ...] = (GameStreamStatus, PinSubmission, GameStreamClient)


# -- errors -------------------------------------------------------------------------------


class GameStreamDisabledError(ApiError):
    status_code = 409
    code = "gamestream_disabled"


class NoClientWaitingApiError(ApiError):
    """A PIN was sent while no Moonlight client waits for one."""

    status_code = 409
    code = "no_client_waiting"


class PairedClientNotFoundError(ApiError):
    """No paired client with that id (malformed ids end up here too)."""

    status_code = 404
    code = "client_not_found"


class ClientStoreWriteError(ApiError):
    """The paired-clients file could not be written; nothing changed."""

    status_code = 500
    code = "gamestream_store_failed"


class PayloadTooLargeError(ApiError):
    status_code = 413
    code = "payload_too_large"


# -- handlers -------------------------------------------------------------------------------


def _json(value: object, status_code: int = 200) -> Response:
    return Response(json_encoder.encode(value), status_code=status_code, media_type=JSON)


def _running(get_service: ServiceGetter) -> GameStreamService:
    service = get_service()
    if service is None:
        raise GameStreamDisabledError(
            "the GameStream host is off; turn it on in the configuration and restart serve"
        )
    return service


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdecimal() and int(declared) > MAX_PIN_BODY_BYTES:
        raise PayloadTooLargeError(f"the body is over {MAX_PIN_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_PIN_BODY_BYTES:
            raise PayloadTooLargeError(f"the body is over {MAX_PIN_BODY_BYTES} bytes")
    return bytes(body)


def gamestream_routes(get_service: ServiceGetter) -> list[BaseRoute]:
    """The GameStream routes (they belong behind the API's bearer token)."""

    async def status(request: Request) -> Response:
        service = get_service()
        if service is None:
            return _json(GameStreamStatus(False, None, None, False, None))
        waiting, client_name = service.pairing_status()
        return _json(
            GameStreamStatus(True, service.http_port, service.https_port, waiting, client_name)
        )

    async def submit_pin(request: Request) -> Response:
        service = _running(get_service)
        body = await _read_body(request)
        try:
            submission = msgspec.json.decode(body, type=PinSubmission)
        except msgspec.ValidationError as exc:
            raise InvalidParameterError(f"bad PIN body: {exc}") from None
        except msgspec.DecodeError:
            raise InvalidParameterError(
                'the body must be JSON: {"pin": "1234", "name": "Living-room TV"}'
            ) from None
        try:
            service.submit_pin(submission.pin, submission.name)
        except NoClientWaitingError as exc:
            raise NoClientWaitingApiError(str(exc)) from None
        except (InvalidPinError, InvalidNameError) as exc:
            raise InvalidParameterError(str(exc)) from None
        return Response(status_code=204)

    async def clients(request: Request) -> Response:
        service = _running(get_service)
        return _json([GameStreamClient(c.id, c.name, c.paired_unix_ms) for c in service.clients()])

    async def unpair(request: Request) -> Response:
        service = _running(get_service)
        client_id: str = request.path_params["id"]
        try:
            removed = CLIENT_ID.fullmatch(client_id) is not None and service.unpair(client_id)
        except ClientStoreError as exc:
            raise ClientStoreWriteError(str(exc)) from None
        if not removed:
            raise PairedClientNotFoundError(
                f"no paired client with id {client_id[:80]!r}; list them with "
                f"GET {API_PREFIX}/clients"
            )
        return Response(status_code=204)

    return [
        Route(f"{API_PREFIX}/status", status, methods=["GET"], name="gamestream_status"),
        Route(f"{API_PREFIX}/pin", submit_pin, methods=["POST"], name="gamestream_pin"),
        Route(f"{API_PREFIX}/clients", clients, methods=["GET"], name="gamestream_clients"),
        Route(
            f"{API_PREFIX}/clients/{{id}}",
            unpair,
            methods=["DELETE"],
            name="gamestream_client_delete",
        ),
    ]
