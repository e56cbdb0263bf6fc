"""Regenerate voucherify_fragments.json from Voucherify's published OpenAPI document (a maintainer's tool).

    python tests/contract/spec/extract_voucherify.py <path to voucherify-openapi.json>

The input is ``reference/readonly-sdks/js/OpenAPI.json`` of github.com/voucherifyio/voucherify-openapi at
commit 65c33a7ab4384e3df9e382751157aca4b1352cd6 (2026-08-21). The output keeps the response schemas of the
endpoints perkflow answers (ROOTS) and every schema they reach through ``$ref``, with descriptions, examples,
titles, defaults and vendor keys dropped; nothing else is changed. CI reads only the output, so a clone
stands alone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SOURCE = (
    "github.com/voucherifyio/voucherify-openapi reference/readonly-sdks/js/OpenAPI.json at commit "
    "65c33a7ab4384e3df9e382751157aca4b1352cd6 (2026-08-21), OpenAPI 3.0.1, info.version v2018-08-01"
)
ROOTS = {
    "POST /v1/campaigns": "CampaignsCreateResponseBody",
    "GET /v1/campaigns/{id}": "CampaignsGetResponseBody",
    "GET /v1/campaigns": "CampaignsListResponseBody",
    "POST /v1/vouchers/{code}": "VouchersCreateResponseBody",
    "GET /v1/vouchers/{code}": "VouchersGetResponseBody",
    "POST /v1/vouchers/{code}/enable": "VouchersEnableResponseBody",
    "POST /v1/vouchers/{code}/balance": "VouchersBalanceUpdateResponseBody",
    "GET /v1/vouchers/{code}/transactions": "VouchersTransactionsListResponseBody",
    "GET /v1/vouchers/{code}/redemption": "VouchersRedemptionGetResponseBody",
    "POST /v1/validation-rules": "ValidationRulesCreateResponseBody",
    "GET /v1/validation-rules/{id}": "ValidationRulesGetResponseBody",
    "GET /v1/validation-rules": "ValidationRulesListResponseBody",
    "POST /v1/validation-rules/{id}/assignments": "ValidationRulesAssignmentsCreateResponseBody",
    "GET /v1/validation-rules/{id}/assignments": "ValidationRulesAssignmentsListResponseBody",
    "POST /v1/publications": "PublicationsCreateResponseBody",
    "GET /v1/publications": "PublicationsListResponseBody",
    "GET /v1/customers/{id}/redeemables": "CustomersRedeemablesListResponseBody",
    "POST /v1/validations": "ValidationsValidateResponseBody",
    "POST /v1/redemptions": "RedemptionsRedeemResponseBody",
    "GET /v1/redemptions/{id}": "RedemptionsGetResponseBody",
    "GET /v1/redemptions": "RedemptionsListResponseBody",
    "POST /v1/redemptions/{id}/rollback": "RedemptionsRollbackCreateResponseBody",
    "POST /v1/redemptions/{id}/rollbacks": "RedemptionsRollbacksCreateResponseBody",
    "POST /client/v1/validations": "ClientValidationsValidateResponseBody",
    "POST /client/v1/redemptions": "ClientRedemptionsRedeemResponseBody",
}
_DROPPED = {"description", "example", "examples", "title", "default", "externalDocs"}


def _clean(node: Any) -> Any:
    """The schema without documentation keys (a property *named* like one is kept)."""
    if isinstance(node, list):
        return [_clean(item) for item in node]
    if not isinstance(node, dict):
        return node
    cleaned: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            cleaned[key] = {name: _clean(schema) for name, schema in value.items()}
        elif key not in _DROPPED and not key.startswith("x-"):
            cleaned[key] = _clean(value)
    return cleaned


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(item) for item in node)) if node else set()
    return set()


def extract(spec: dict[str, Any]) -> dict[str, Any]:
    schemas = spec["components"]["schemas"]
    kept: dict[str, Any] = {}
    pending = list(ROOTS.values())
    while pending:
        name = pending.pop()
        if name in kept:
            continue
        kept[name] = _clean(schemas[name])
        pending += sorted(_refs(kept[name]) - set(kept))
    return {"_source": SOURCE, "roots": ROOTS, "schemas": dict(sorted(kept.items()))}


if __name__ == "__main__":
    document = json.loads(Path(sys.argv[1]).read_text())
    target = Path(__file__).with_name("voucherify_fragments.json")
    target.write_text(json.dumps(extract(document), indent=1, sort_keys=False) + "\n")
    print(f"wrote {target} ({target.stat().st_size} bytes)")
