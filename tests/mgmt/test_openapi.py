"""The OpenAPI document: generated from the code, valid 3.1, checked in, and true.

"True" is checked by schemathesis against a live Hypercorn server: every operation,
generated inputs (valid and invalid), no 5xx, and every response conforms to the document.
The GameStream operations run against a real GameStreamService (on the server's event
loop, as serve runs it, with one paired client), and once more with GameStream off.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.specs.openapi import checks as openapi_checks
from starlette.applications import Starlette
from starlette.routing import Route

from host.gamestream.service import GameStreamSettings
from mgmt.api import ENDPOINTS, create_app
from mgmt.asgi_server import ServerThread, bind_socket, serve_on_socket
from mgmt.gamestream_api import ServiceGetter, gamestream_routes
from mgmt.models import STAGES_BY_KIND
from mgmt.openapi import GAMESTREAM_OPERATIONS, build_document, render_document
from mgmt.recorder import StatsRecorder
from tests.gamestream.support_pairing import ServiceThread, pooled_client_identity
from tests.mgmt.support import AUTH, TOKEN, make_sample

COMMITTED = Path(__file__).resolve().parents[2] / "api" / "openapi.json"


def test_committed_document_matches_the_code() -> None:
    assert COMMITTED.is_file(), (
        "api/openapi.json is missing: run `punktfunk openapi > api/openapi.json`"
    )
    assert COMMITTED.read_text(encoding="utf-8") == render_document(), (
        "api/openapi.json is out of date with the code: run `punktfunk openapi > api/openapi.json`"
    )


def test_document_is_valid_openapi_3_1() -> None:
    document = build_document()
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_rendering_is_stable() -> None:
    assert render_document() == render_document()
    assert render_document().endswith("}\n")
    assert json.loads(render_document()) == build_document()


def test_every_operation_is_typed_secured_and_tagged() -> None:
    document = build_document()
    operations = {
        op["operationId"]: (path, method, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
    }
    tags = {ep.operation_id: "stats" for ep in ENDPOINTS}
    tags |= {route.operation_id: "gamestream" for route in GAMESTREAM_OPERATIONS}
    assert set(operations) == set(tags)
    assert [t["name"] for t in document["tags"]] == ["stats", "gamestream"]
    for operation_id, (path, _method, op) in operations.items():
        assert op["tags"] == [tags[operation_id]], operation_id
        assert op["security"] == [{"bearerAuth": []}], operation_id
        for status in ("401", "500"):
            error = op["responses"][status]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ErrorEnvelope"}
        for status, response in op["responses"].items():
            if status != "204":
                assert response.get("content"), f"{operation_id} {status} has no typed body"
        for name in ("id",):
            if "{" + name + "}" in path:
                params = {p["name"]: p for p in op["parameters"] if p["in"] == "path"}
                assert params[name]["required"] is True
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "the token printed by `punktfunk token`",
    }


def test_gamestream_operations_are_the_routes_gamestream_api_serves() -> None:
    served = {
        (route.path, method)
        for route in gamestream_routes(lambda: None)
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    assert {(r.path, r.method) for r in GAMESTREAM_OPERATIONS} == served


def test_gamestream_schemas_and_bodies() -> None:
    document = build_document()
    schemas = document["components"]["schemas"]
    # A request body's field with a default may be left out; responses carry every field.
    assert schemas["PinSubmission"]["required"] == ["pin"]
    assert schemas["PinSubmission"]["additionalProperties"] is False
    assert schemas["GameStreamStatus"]["properties"]["http_port"]["type"] == ["integer", "null"]
    assert set(schemas["GameStreamClient"]["required"]) == {"id", "name", "paired_unix_ms"}
    pin = document["paths"]["/api/v1/gamestream/pin"]["post"]
    assert pin["requestBody"]["required"] is True
    assert pin["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PinSubmission"
    }
    assert {"204", "400", "401", "409", "413", "500"} == set(pin["responses"])
    unpair = document["paths"]["/api/v1/gamestream/clients/{id}"]["delete"]
    assert {"204", "401", "404", "409", "500"} == set(unpair["responses"])
    clients = document["paths"]["/api/v1/gamestream/clients"]["get"]["responses"]["200"]
    assert clients["content"]["application/json"]["schema"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/GameStreamClient"},
    }


def test_nullable_fields_use_type_arrays() -> None:
    sample = build_document()["components"]["schemas"]["StatsSample"]["properties"]
    assert sample["packets_dropped"]["type"] == ["integer", "null"]
    assert sample["gpu_power_w"]["type"] == ["number", "null"]
    # The one anyOf left is a nullable reference, which a type array cannot spell.
    for node in _nodes(build_document()):
        if "anyOf" in node:
            options = node["anyOf"]
            assert len(options) == 2, node
            assert {"type": "null"} in options, node
            assert any(set(o) == {"$ref"} for o in options), node


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for item in node:
            yield from _nodes(item)


def test_stage_sets_extension_is_each_paths_stage_list_in_order() -> None:
    # The console generates its stage names and order from this extension.
    expected = {kind: list(stages) for kind, stages in STAGES_BY_KIND.items()}
    assert build_document()["x-stage-sets"] == expected
    assert json.loads(COMMITTED.read_text(encoding="utf-8"))["x-stage-sets"] == expected
    assert {"native", "gamestream"} <= set(expected)


# -- schemathesis against a live server ----------------------------------------------------

schema = schemathesis.openapi.from_dict(build_document())


@contextlib.contextmanager
def served_on(owner: ServiceThread, app: Starlette) -> Iterator[str]:
    """`app` on Hypercorn on the GameStream service's own loop (where serve runs both)."""
    sock = bind_socket("127.0.0.1", 0)
    stop: asyncio.Event = owner.run(asyncio.Event)
    served: Future[Any] = asyncio.run_coroutine_threadsafe(
        serve_on_socket(app, sock, shutdown_trigger=stop.wait), owner.loop
    )
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        owner.loop.call_soon_threadsafe(stop.set)
        served.result(15)


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server with one saved recording and a capture armed, so most paths have data, and
    a running GameStream service with one paired client."""
    work = tmp_path_factory.mktemp("schemathesis")
    recorder = StatsRecorder(work / "captures")
    recorder.start()
    sid = recorder.register_session("native", 1280, 720, 60, "h264", "libx264", "client")
    for i in range(3):
        recorder.push_sample(sid, make_sample(i))
    recorder.stop()
    recorder.start()
    recorder.push_sample(
        recorder.register_session("native", 1, 1, 1, "h264", "x", ""), make_sample()
    )
    settings = GameStreamSettings(
        bind="127.0.0.1", http_port=0, https_port=0, hostname="schemathesis", mdns=False
    )
    with ServiceThread(work / "config", settings) as gamestream:
        service = gamestream.service
        _key, certificate = pooled_client_identity()
        gamestream.run(lambda: service.store.add(certificate, "Living-room TV", 1_780_000_000_000))
        app = create_app(recorder, TOKEN, extra_routes=gamestream_routes(lambda: service))
        with served_on(gamestream, app) as url:
            yield url


FRAMING = {"content-length", "transfer-encoding"}
CHECKS = [
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.negative_data_rejection,
]


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_document(case: schemathesis.Case[Any], live_api: str) -> None:
    # Negative cases add random headers; a garbled Content-Length is refused by the HTTP
    # server (Hypercorn: 400, no body) before the API sees the request, so it is left out.
    for name in FRAMING:
        if case.headers:
            case.headers.pop(name, None)  # a case-insensitive dict
    response = case.call(base_url=live_api, headers=AUTH)
    assert response.status_code < 500, response.text
    case.validate_response(response, additional_checks=CHECKS)


# -- GameStream off ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gamestream_off(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    recorder = StatsRecorder(tmp_path_factory.mktemp("gamestream-off") / "captures")
    off: ServiceGetter = lambda: None  # noqa: E731 -- serve's getter while GameStream is off
    with ServerThread(create_app(recorder, TOKEN, extra_routes=gamestream_routes(off))) as server:
        yield server.url


@pytest.mark.parametrize(
    ("path", "method", "kwargs", "status"),
    [
        ("/api/v1/gamestream/status", "GET", {}, 200),
        ("/api/v1/gamestream/pin", "POST", {"body": {"pin": "1234", "name": "TV"}}, 409),
        ("/api/v1/gamestream/clients", "GET", {}, 409),
        ("/api/v1/gamestream/clients/{id}", "DELETE", {"path_parameters": {"id": "0" * 64}}, 409),
    ],
)
def test_gamestream_off_answers_as_documented(
    gamestream_off: str, path: str, method: str, kwargs: dict[str, Any], status: int
) -> None:
    case = schema[path][method].Case(**kwargs)
    response = case.call(base_url=gamestream_off, headers=AUTH)
    assert response.status_code == status, response.text
    case.validate_response(response, additional_checks=CHECKS)
    if status == 409:
        assert response.json()["error"]["code"] == "gamestream_disabled"
    else:
        assert response.json() == {
            "enabled": False,
            "http_port": None,
            "https_port": None,
            "waiting": False,
            "client_name": None,
        }
