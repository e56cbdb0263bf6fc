"""The API's OpenAPI document and its Swagger UI.

Powertools generates the document from the api function's routes and models; ``perkflow openapi`` writes it
to docs/openapi.json (a test keeps that file current), and the local stack serves it at
``/_local/openapi.json`` with Swagger UI at ``/_local/docs``, from the pinned npm package swagger-ui-dist, so
no CDN is needed.
"""

from __future__ import annotations

import importlib.util
import json
import mimetypes
import tomllib

from perkflow_ops.template import ROOT

DOCUMENT = ROOT / "docs" / "openapi.json"
SWAGGER_UI = ROOT / "node_modules" / "swagger-ui-dist"
ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png"})
DESCRIPTION = (
    "perkflow's promotions and loyalty API: a Voucherify API v1 compatible subset (customers, segments, "
    "campaigns, vouchers, publications, validations, redemptions, loyalties) plus perkflow's own endpoints "
    "(event schema, distributions, destinations, integrations). Every route except /health, the Klaviyo "
    "callback and /client/v1 needs X-App-Id and X-App-Token. Segment-compatible ingest (/v1/batch ...) is "
    "served by the ingest function and described in docs/architecture.md."
)

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>perkflow API</title>
  <link rel="stylesheet" href="/_local/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/_local/docs/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/_local/docs/swagger-ui-bundle.js"></script>
  <script src="/_local/docs/swagger-ui-standalone-preset.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "/_local/openapi.json",
      dom_id: "#swagger-ui",
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: "StandaloneLayout"
    });
  </script>
</body>
</html>
"""


def generate() -> str:
    """The document of the api function's routes, as docs/openapi.json holds it."""
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn

    spec = importlib.util.spec_from_file_location("perkflow_api_function", ROOT / "functions" / "api" / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    schema = module.app.get_openapi_json_schema(
        title="perkflow API",
        version=version,
        description=DESCRIPTION,
        security_schemes={
            "appId": APIKey(name="X-App-Id", in_=APIKeyIn.header),
            "appToken": APIKey(name="X-App-Token", in_=APIKeyIn.header),
        },
        security=[{"appId": [], "appToken": []}],
    )
    return json.dumps(json.loads(schema), indent=2) + "\n"


def asset(name: str) -> tuple[str, bytes] | None:
    """A Swagger UI file (content type, bytes), or None for anything else."""
    if name not in ASSETS or not (SWAGGER_UI / name).is_file():
        return None
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return content_type, (SWAGGER_UI / name).read_bytes()


def write(check: bool) -> int:
    """``perkflow openapi``: write docs/openapi.json, or with ``--check`` say whether it is current."""
    generated = generate()
    current = DOCUMENT.read_text() if DOCUMENT.exists() else ""
    if check:
        if current != generated:
            print(f"{DOCUMENT.relative_to(ROOT)} is out of date: run `perkflow openapi`")
            return 1
        print(f"{DOCUMENT.relative_to(ROOT)} is current")
        return 0
    DOCUMENT.write_text(generated)
    paths = len(json.loads(generated)["paths"])
    print(f"wrote {DOCUMENT.relative_to(ROOT)} ({paths} paths)")
    return 0
