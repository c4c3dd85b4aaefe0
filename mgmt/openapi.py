"""The OpenAPI 3.1 document of the REST API, generated from the code.

Schemas come from the msgspec models (`mgmt.models`, `mgmt.gamestream_api`), the stats
operations from the same endpoint table the app is built from (`mgmt.api.ENDPOINTS`),
the GameStream operations from `GAMESTREAM_OPERATIONS` below, which a test holds equal
to the routes `mgmt.gamestream_api` serves. `punktfunk openapi` prints it;
`api/openapi.json` is that output, checked in, and a test fails on drift.
The document also carries each streaming path's stage list (`x-stage-sets`), so the
console generates its stage names and order from the same file as its typed client.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any, Literal, Protocol

import msgspec

from mgmt import gamestream_api
from mgmt.api import ENDPOINTS, JSON, Param, Reply
from mgmt.auth import is_protected
from mgmt.models import SCHEMA_TYPES, STAGES_BY_KIND, ErrorEnvelope

SCHEMA_REF = "#/components/schemas/{name}"
SECURITY_SCHEME = "bearerAuth"
STAGE_SETS_KEY = "x-stage-sets"

_ERROR_DESCRIPTIONS = {
    400: "bad request parameters",
    401: "missing or wrong bearer token",
    404: "not found",
    500: "internal error (the message says what failed)",
}


class Operation(Protocol):
    """What the document needs of an operation: `mgmt.api.Endpoint` and `DocumentedRoute`."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def operation_id(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def replies(self) -> Mapping[int, Reply]: ...
    @property
    def errors(self) -> Mapping[int, str]: ...
    @property
    def params(self) -> tuple[Param, ...]: ...
    @property
    def tag(self) -> str: ...
    @property
    def description(self) -> str: ...


@dataclass(frozen=True)
class DocumentedRoute:
    """An operation served by routes built elsewhere (not from `ENDPOINTS`)."""

    method: Literal["GET", "POST", "DELETE"]
    path: str
    operation_id: str
    summary: str
    replies: Mapping[int, Reply]
    errors: Mapping[int, str]
    tag: str
    params: tuple[Param, ...] = ()
    description: str = ""
    request_body: Any = None  # a msgspec type, sent as JSON


# -- the GameStream operations (served by mgmt.gamestream_api) -----------------------------

GS = gamestream_api.API_PREFIX
GS_OFF = "GameStream is off (`gamestream_disabled`): turn it on in the settings, restart serve"
GAMESTREAM_OPERATIONS: tuple[DocumentedRoute, ...] = (
    DocumentedRoute(
        "GET",
        f"{GS}/status",
        "gamestream_status",
        "GameStream status",
        {
            200: Reply(
                "whether GameStream is on, its ports, and whether a Moonlight client waits "
                "for its PIN (poll it while an operator pairs a client)",
                {JSON: gamestream_api.GameStreamStatus},
            )
        },
        {},
        "gamestream",
        description="Answers 200 also while GameStream is off (`enabled` false, ports null).",
    ),
    DocumentedRoute(
        "POST",
        f"{GS}/pin",
        "gamestream_pin",
        "Enter the PIN a Moonlight client shows",
        {204: Reply("the PIN went to the waiting client, which now finishes the pairing")},
        {
            400: "the PIN is not 4 digits, the name is too long or has a control character, "
            "or the body is not the JSON object described (`invalid_parameter`)",
            409: "no Moonlight client waits for a PIN (`no_client_waiting`: start pairing on "
            "the client first), or " + GS_OFF,
            413: f"the body is over {gamestream_api.MAX_PIN_BODY_BYTES} bytes",
        },
        "gamestream",
        description="A wrong PIN is not detected here: the pairing fails on the client and "
        "nothing is stored. The paired client is listed by gamestream_clients once the "
        "client has finished.",
        request_body=gamestream_api.PinSubmission,
    ),
    DocumentedRoute(
        "GET",
        f"{GS}/clients",
        "gamestream_clients",
        "Paired Moonlight clients",
        {
            200: Reply(
                "every paired client, oldest pairing first",
                {JSON: list[gamestream_api.GameStreamClient]},
            )
        },
        {409: GS_OFF},
        "gamestream",
    ),
    DocumentedRoute(
        "DELETE",
        f"{GS}/clients/{{id}}",
        "gamestream_client_delete",
        "Unpair a Moonlight client",
        {204: Reply("unpaired: its next HTTPS request gets 401 and a running stream ends")},
        {
            404: "no paired client with this id (`client_not_found`)",
            409: GS_OFF,
            500: "the paired-clients file could not be written; nothing changed "
            "(`gamestream_store_failed`)",
        },
        "gamestream",
        params=(
            Param(
                "id",
                "path",
                {"type": "string", "pattern": f"^{gamestream_api.CLIENT_ID.pattern}$"},
                "the client's id (certificate fingerprint), as gamestream_clients lists it",
                required=True,
            ),
        ),
    ),
)

TAGS = (
    {"name": "stats", "description": "performance-stats capture and recordings"},
    {
        "name": "gamestream",
        "description": "the GameStream (Moonlight) host: status, PIN pairing, paired clients",
    },
)


def _operations() -> tuple[Operation, ...]:
    return (*ENDPOINTS, *GAMESTREAM_OPERATIONS)


def _body_types() -> list[Any]:
    """Every type used as a response body, in first-use order."""
    types: list[Any] = []
    for ep in _operations():
        for reply in ep.replies.values():
            for body_type in reply.content.values():
                if body_type not in types:
                    types.append(body_type)
    return types


def _error_response(status: int, description: str, error_ref: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": error_ref}},
    }
    if status == 401:
        response["headers"] = {
            "WWW-Authenticate": {
                "description": 'the bearer challenge, e.g. Bearer realm="punktfunk"',
                "schema": {"type": "string"},
            }
        }
    return response


def _request_types() -> list[Any]:
    """Every type sent as a request body."""
    return [op.request_body for op in GAMESTREAM_OPERATIONS if op.request_body is not None]


def _operation(
    ep: Operation,
    schema_of: dict[Any, dict[str, Any]],
    error_ref: dict[str, Any],
    request_body: Any = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": ep.operation_id,
        "tags": [ep.tag],
        "summary": ep.summary,
    }
    if ep.description:
        op["description"] = ep.description
    if ep.params:
        op["parameters"] = [
            {
                "name": p.name,
                "in": p.location,
                "required": p.required,
                "description": p.description,
                "schema": dict(p.schema),
            }
            for p in ep.params
        ]
    if request_body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": schema_of[request_body]}},
        }
    responses: dict[str, Any] = {}
    for status, reply in sorted(ep.replies.items()):
        response: dict[str, Any] = {"description": reply.description}
        if reply.headers:
            response["headers"] = {
                name: {"description": text, "schema": {"type": "string"}}
                for name, text in reply.headers.items()
            }
        if reply.content:
            response["content"] = {
                media: {"schema": schema_of[body_type]}
                for media, body_type in reply.content.items()
            }
        responses[str(status)] = response
    errors = dict(ep.errors)
    if is_protected(ep.path):
        errors.setdefault(401, _ERROR_DESCRIPTIONS[401])
    errors.setdefault(500, _ERROR_DESCRIPTIONS[500])
    for status, description in sorted(errors.items()):
        responses[str(status)] = _error_response(status, description, error_ref)
    op["responses"] = responses
    if is_protected(ep.path):
        op["security"] = [{SECURITY_SCHEME: []}]
    return op


def _collapse_nullable(node: Any) -> Any:
    """`anyOf: [{type: T}, {type: null}]` -> `type: [T, "null"]`, the 3.1 spelling that
    client generators render most directly (`T | null`)."""
    if isinstance(node, list):
        return [_collapse_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _collapse_nullable(value) for key, value in node.items()}
    options = out.get("anyOf")
    if (
        isinstance(options, list)
        and {"type": "null"} in options
        and all(isinstance(o, dict) and o.keys() == {"type"} for o in options)
    ):
        del out["anyOf"]
        out["type"] = [o["type"] for o in options]
    return out


def _all_required(components: dict[str, Any], request_only: set[str]) -> dict[str, Any]:
    """The server encodes every field of every struct (defaults included), so every
    property is always present: say so, and generated clients type them as non-optional.
    Not for request bodies (`request_only`): there a field with a default may be left out."""
    for name, schema in components.items():
        if "properties" in schema and name not in request_only:
            schema["required"] = list(schema["properties"])
    return components


def _stage_sets() -> dict[str, list[str]]:
    """Each path's stage names in pipeline order, keyed by session kind."""
    return {kind: list(stages) for kind, stages in STAGES_BY_KIND.items()}


def build_document() -> dict[str, Any]:
    body_types = _body_types()
    request_types = _request_types()
    all_types = [*body_types, *request_types]
    for t in (*SCHEMA_TYPES, *gamestream_api.SCHEMA_TYPES):
        if t not in all_types:
            all_types.append(t)
    schemas, components = msgspec.json.schema_components(all_types, ref_template=SCHEMA_REF)
    request_only = {t.__name__ for t in request_types if t not in body_types}
    components = _all_required(_collapse_nullable(components), request_only)
    schema_of = dict(zip(all_types, schemas, strict=True))
    error_ref = schema_of[ErrorEnvelope]

    paths: dict[str, dict[str, Any]] = {}
    for ep in ENDPOINTS:
        paths.setdefault(ep.path, {})[ep.method.lower()] = _operation(ep, schema_of, error_ref)
    for route in GAMESTREAM_OPERATIONS:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(
            route, schema_of, error_ref, route.request_body
        )

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "punktfunk mgmt API",
            "version": version("punktfunk"),
            "description": (
                "Management API of the punktfunk streaming host: performance-stats "
                "capture and saved recordings, and pairing Moonlight (GameStream) "
                "clients. Every /api/v1 operation needs "
                "`Authorization: Bearer <token>` (print it with `punktfunk token`). "
                'Every error is {"error": {"code": ..., "message": ...}}.'
            ),
        },
        "tags": [dict(tag) for tag in TAGS],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the token printed by `punktfunk token`",
                }
            },
        },
        STAGE_SETS_KEY: _stage_sets(),
    }


def render_document() -> str:
    """The document as `api/openapi.json` holds it: indented JSON, trailing newline."""
    return json.dumps(build_document(), indent=2, ensure_ascii=False) + "\n"
