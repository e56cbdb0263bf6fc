"""The promotions API (Voucherify API v1 compatible subset) behind the HTTP API's ``$default`` route."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from perkflow import clock
from perkflow.domain.timeutil import iso
from perkflow.entrypoints.api import (
    campaigns,
    client,
    customers,
    destinations,
    distributions,
    event_schema,
    events,
    integrations,
    loyalties,
    loyalties_members,
    publications,
    redemptions,
    segments,
    validation_rules,
    validations,
    vouchers,
)
from perkflow.entrypoints.http import create_resolver
from perkflow.observability import logger

# The Klaviyo OAuth callback carries no app credentials: it is checked by its single-use state instead.
# The client-side API (/client/v1) checks its own publishable keys and origins (entrypoints/api/client.py).
app = create_resolver(public_paths=("/health", integrations.CALLBACK), public_prefixes=(client.PREFIX,))
for capability in (
    customers,
    event_schema,
    events,
    segments,
    destinations,
    integrations,
    campaigns,
    vouchers,
    validation_rules,
    publications,
    distributions,
    validations,
    redemptions,
    loyalties,
    loyalties_members,
    client,
):
    app.include_router(capability.router)


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok", "now": iso(clock.now())}


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
