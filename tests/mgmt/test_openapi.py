"""The OpenAPI document: generated from the code, valid 3.1, checked in, and true.

"True" is checked by schemathesis against a live Hypercorn server: every operation,
generated inputs (valid and invalid), no 5xx, and every response conforms to the document.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.specs.openapi import checks as openapi_checks

from mgmt.api import ENDPOINTS, create_app
from mgmt.asgi_server import ServerThread
from mgmt.models import STAGES_BY_KIND
from mgmt.openapi import build_document, render_document
from mgmt.recorder import StatsRecorder
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
    assert set(operations) == {ep.operation_id for ep in ENDPOINTS}
    for operation_id, (path, _method, op) in operations.items():
        assert op["tags"] == ["stats"], operation_id
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


def test_nullable_fields_use_type_arrays() -> None:
    sample = build_document()["components"]["schemas"]["StatsSample"]["properties"]
    assert sample["packets_dropped"]["type"] == ["integer", "null"]
    assert sample["gpu_power_w"]["type"] == ["number", "null"]
    assert "anyOf" not in json.dumps(build_document())


def test_stage_sets_extension_is_each_paths_stage_list_in_order() -> None:
    # The console generates its stage names and order from this extension.
    expected = {kind: list(stages) for kind, stages in STAGES_BY_KIND.items()}
    assert build_document()["x-stage-sets"] == expected
    assert json.loads(COMMITTED.read_text(encoding="utf-8"))["x-stage-sets"] == expected
    assert {"native", "gamestream"} <= set(expected)


# -- schemathesis against a live server ----------------------------------------------------

schema = schemathesis.openapi.from_dict(build_document())


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server with one saved recording and a capture armed, so most paths have data."""
    recorder = StatsRecorder(tmp_path_factory.mktemp("schemathesis") / "captures")
    recorder.start()
    sid = recorder.register_session("native", 1280, 720, 60, "h264", "libx264", "client")
    for i in range(3):
        recorder.push_sample(sid, make_sample(i))
    recorder.stop()
    recorder.start()
    recorder.push_sample(
        recorder.register_session("native", 1, 1, 1, "h264", "x", ""), make_sample()
    )
    with ServerThread(create_app(recorder, TOKEN)) as server:
        yield server.url


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
def test_api_conforms_to_its_document(case: schemathesis.Case, live_api: str) -> None:
    response = case.call(base_url=live_api, headers=AUTH)
    assert response.status_code < 500, response.text
    case.validate_response(response, additional_checks=CHECKS)
