"""Validation rules and their assignments (``validationRules.create|get|list|createAssignment|...``)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from perkflow import wiring
from perkflow.entrypoints.promotions import body, no_content, number, path, query

router = Router()


@router.post("/v1/validation-rules")
@router.post("/v1/validation-rules/")
def create_rule() -> dict[str, Any]:
    return wiring.promotions().rules.create(body(router))


@router.get("/v1/validation-rules")
def list_rules() -> dict[str, Any]:
    return wiring.promotions().rules.list(number(query(router), "limit", 10, 1, 100))


@router.get("/v1/validation-rules/<rule_id>")
def get_rule(rule_id: str) -> dict[str, Any]:
    return wiring.promotions().rules.get(path(rule_id))


@router.post("/v1/validation-rules/<rule_id>/assignments")
def create_assignment(rule_id: str) -> dict[str, Any]:
    return wiring.promotions().rules.assign(path(rule_id), body(router))


@router.get("/v1/validation-rules/<rule_id>/assignments")
def list_assignments(rule_id: str) -> dict[str, Any]:
    return wiring.promotions().rules.assignments(path(rule_id))


@router.delete("/v1/validation-rules/<rule_id>/assignments/<assignment_id>")
def delete_assignment(rule_id: str, assignment_id: str) -> Response[str]:
    wiring.promotions().rules.unassign(path(rule_id), path(assignment_id))
    return no_content()
