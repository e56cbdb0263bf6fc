"""Wire helpers shared by the promotion models: UTC instants, Voucherify lists, parsing with a given key."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, PlainSerializer, ValidationError

from perkflow.domain.errors import PerkflowError
from perkflow.domain.timeutil import iso, parse_iso

M = TypeVar("M", bound=BaseModel)


def _utc(value: Any) -> Any:
    # Clients send "2026-01-01", "...Z" or "+02:00"; a timestamp without an offset is taken as UTC.
    if isinstance(value, str):
        return parse_iso(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


Instant = Annotated[datetime, BeforeValidator(_utc), PlainSerializer(iso, return_type=str)]


def iso_or_none(moment: datetime | None) -> str | None:
    return iso(moment) if moment is not None else None


def voucherify_list(items: Sequence[Any], data_ref: str = "data") -> dict[str, Any]:
    return {"object": "list", "data_ref": data_ref, data_ref: list(items), "total": len(items)}


def parse(model: type[M], data: Any, error: type[PerkflowError], message: str) -> M:
    """``model`` from ``data``, or ``error`` (a 400 under its Voucherify key) naming each bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" if item["loc"] else item["msg"]
            for item in exc.errors()
        )
        raise error(message, details=details) from exc
