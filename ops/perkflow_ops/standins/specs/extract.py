"""Regenerate klaviyo-openapi-subset.json from Klaviyo's published OpenAPI document.

    python -m perkflow_ops.standins.specs.extract path/to/klaviyo-openapi.json

Keeps the operations perkflow calls and every component they reference (transitively), unmodified, plus
``x-perkflow-source`` naming where the document came from. The copy lets a clone stand alone (DESIGN §6).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
SUBSET = HERE / "klaviyo-openapi-subset.json"
OPERATIONS = {
    "/api/events": ["post"],
    "/api/event-bulk-create-jobs": ["post"],
    "/api/profile-import": ["post"],
    "/api/profile-bulk-import-jobs": ["post"],
    "/api/profile-bulk-import-jobs/{job_id}": ["get"],
    "/api/accounts": ["get"],
}
SOURCE = {
    "repository": "https://github.com/klaviyo/openapi",
    "path": "openapi/stable.json",
    "commit": "f0a30ba41254904dc410d84ca497df68f8872276",
    "commit_date": "2026-07-23",
    "note": "operations perkflow calls and the components they reference, copied unmodified",
}


def subset(document: dict[str, Any]) -> dict[str, Any]:
    components: dict[str, dict[str, Any]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/"):
                _, _, kind, name = ref.split("/", 3)
                if name not in components.setdefault(kind, {}):
                    components[kind][name] = document["components"][kind][name]
                    walk(components[kind][name])
            for key, value in node.items():
                if key != "$ref":
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    paths = {
        path: {method: document["paths"][path][method] for method in methods} for path, methods in OPERATIONS.items()
    }
    walk(paths)
    components["securitySchemes"] = document["components"]["securitySchemes"]
    return {
        "openapi": document["openapi"],
        "info": document["info"],
        "servers": document.get("servers", []),
        "x-perkflow-source": SOURCE,
        "paths": paths,
        "components": {kind: dict(sorted(items.items())) for kind, items in sorted(components.items())},
    }


def main(argv: list[str]) -> int:
    document = json.loads(Path(argv[0]).read_text())
    SUBSET.write_text(json.dumps(subset(document), indent=1, sort_keys=False) + "\n")
    print(f"wrote {SUBSET}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
