"""The OpenAPI 3.1 document of the REST API, generated from the code.

Schemas come from the msgspec models (`mgmt.models`), operations from the same
endpoint table the app is built from (`mgmt.api.ENDPOINTS`). `punktfunk openapi`
prints it; `api/openapi.json` is that output, checked in, and a test fails on drift.
The document also carries each streaming path's stage list (`x-stage-sets`), so the
console generates its stage names and order from the same file as its typed client.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from typing import Any

import msgspec

from mgmt.api import ENDPOINTS, Endpoint
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


def _body_types() -> list[Any]:
    """Every type used as a response body, in first-use order."""
    types: list[Any] = []
    for ep in ENDPOINTS:
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


def _operation(
    ep: Endpoint, schema_of: dict[Any, dict[str, Any]], error_ref: dict[str, Any]
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


def _all_required(components: dict[str, Any]) -> dict[str, Any]:
    """The server encodes every field of every struct (defaults included), so every
    property is always present: say so, and generated clients type them as non-optional."""
    for schema in components.values():
        if "properties" in schema:
            schema["required"] = list(schema["properties"])
    return components


def _stage_sets() -> dict[str, list[str]]:
    """Each path's stage names in pipeline order, keyed by session kind."""
    return {kind: list(stages) for kind, stages in STAGES_BY_KIND.items()}


def build_document() -> dict[str, Any]:
    body_types = _body_types()
    all_types = [*body_types, *(t for t in SCHEMA_TYPES if t not in body_types)]
    schemas, components = msgspec.json.schema_components(all_types, ref_template=SCHEMA_REF)
    components = _all_required(_collapse_nullable(components))
    schema_of = dict(zip(all_types, schemas, strict=True))
    error_ref = schema_of[ErrorEnvelope]

    paths: dict[str, dict[str, Any]] = {}
    for ep in ENDPOINTS:
        paths.setdefault(ep.path, {})[ep.method.lower()] = _operation(ep, schema_of, error_ref)

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "punktfunk mgmt API",
            "version": version("punktfunk"),
            "description": (
                "Management API of the punktfunk streaming host: performance-stats "
                "capture and saved recordings. Every /api/v1 operation needs "
                "`Authorization: Bearer <token>` (print it with `punktfunk token`). "
                'Every error is {"error": {"code": ..., "message": ...}}.'
            ),
        },
        "tags": [{"name": "stats", "description": "performance-stats capture and recordings"}],
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
