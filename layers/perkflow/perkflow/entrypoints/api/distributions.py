"""perkflow's distributions (DESIGN §6): "when a customer enters segment S, publish a code from campaign C"."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from perkflow import wiring
from perkflow.entrypoints.promotions import body, no_content, path

router = Router()


@router.post("/v1/distributions")
@router.post("/v1/distributions/")
def create_distribution() -> dict[str, Any]:
    return wiring.promotions().distributions.create(body(router))


@router.get("/v1/distributions")
@router.get("/v1/distributions/")
def list_distributions() -> dict[str, Any]:
    return wiring.promotions().distributions.listing()


@router.get("/v1/distributions/<distribution_id>")
def get_distribution(distribution_id: str) -> dict[str, Any]:
    return wiring.promotions().distributions.get(path(distribution_id))


@router.put("/v1/distributions/<distribution_id>")
def update_distribution(distribution_id: str) -> dict[str, Any]:
    return wiring.promotions().distributions.update(path(distribution_id), body(router))


@router.delete("/v1/distributions/<distribution_id>")
def delete_distribution(distribution_id: str) -> Response[str]:
    wiring.promotions().distributions.delete(path(distribution_id))
    return no_content()
