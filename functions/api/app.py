"""The promotions API (Voucherify API v1 compatible subset) behind the HTTP API's ``$default`` route."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from perkflow import clock
from perkflow.domain.timeutil import iso
from perkflow.entrypoints.api import customers, event_schema, events, segments
from perkflow.entrypoints.http import create_resolver
from perkflow.observability import logger

app = create_resolver(public_paths=("/health",))
for capability in (customers, event_schema, events, segments):
    app.include_router(capability.router)


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok", "now": iso(clock.now())}


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
