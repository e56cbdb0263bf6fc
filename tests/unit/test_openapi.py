"""The API describes itself: docs/openapi.json is what Powertools generates from the api function's routes."""

from __future__ import annotations

import json

from perkflow_ops import openapi


def test_docs_openapi_json_is_the_document_the_routes_generate() -> None:
    generated = openapi.generate()

    assert openapi.DOCUMENT.read_text() == generated, "docs/openapi.json is stale: run `perkflow openapi`"
    document = json.loads(generated)
    for path in ("/v1/redemptions", "/v1/validations", "/v1/publications", "/v1/loyalties/{campaign_id}/members"):
        assert path in document["paths"], path
    assert document["components"]["securitySchemes"]["appToken"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-App-Token",
    }


def test_only_the_pinned_swagger_ui_files_are_served() -> None:
    found = openapi.asset("swagger-ui-bundle.js")
    assert found is not None
    assert found[0] in ("application/javascript", "text/javascript")
    assert openapi.asset("../package.json") is None
    assert openapi.asset("swagger-ui.js.map") is None
