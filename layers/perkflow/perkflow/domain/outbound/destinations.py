"""Destination settings (``/v1/destinations/{segment|klaviyo|webhook}``, DESIGN §6) and what they resolve to.

Stored settings are ``enabled``, ``paused``, ``url`` and per-destination options; credentials (Segment write
key, Klaviyo private API key, webhook signing secret) are write-only and live in Secrets Manager. A variable
of the function's environment (``PERKFLOW_OUT_*``) overrides the stored value it names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from perkflow.domain.errors import InvalidPayload

DEFAULT_URLS: dict[str, str | None] = {
    "segment": "https://api.segment.io",
    "klaviyo": "https://a.klaviyo.com",
    "webhook": None,
}
# The write-only credential each destination takes in a PUT body.
CREDENTIAL_FIELDS: dict[str, str] = {"segment": "write_key", "klaviyo": "api_key", "webhook": "secret"}
_KLAVIYO_ONLY = ("property_names", "rate_limits")


def valid_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL")
    return value.rstrip("/") if parts.path in ("", "/") else value


class EventRateCap(BaseModel):
    """A cap on events sent to Klaviyo, below the endpoints' own tiers (for an account whose quota other
    integrations share, or a smaller plan)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    events_per_second: int = Field(ge=1, le=10_000)
    events_per_minute: int = Field(ge=1, le=1_000_000)


class DestinationSettings(BaseModel):
    """What is stored for a destination (never a credential)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    enabled: bool | None = Field(default=None, description="None: enabled when it is configured")
    paused: bool = False
    url: str | None = None
    property_names: Literal["perkflow", "smile"] = "perkflow"
    rate_limits: EventRateCap | None = None
    timeout_seconds: float = Field(default=10.0, ge=0.5, le=30.0)


class DestinationUpdate(BaseModel):
    """A PUT body. Absent fields keep their value; ``null`` clears an optional one."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = None
    paused: bool | None = None
    url: str | None = None
    write_key: str | None = Field(default=None, min_length=1, max_length=1000)
    api_key: str | None = Field(default=None, min_length=1, max_length=1000)
    secret: str | None = Field(default=None, min_length=1, max_length=1000)
    property_names: Literal["perkflow", "smile"] | None = None
    rate_limits: EventRateCap | None = None
    timeout_seconds: float | None = Field(default=None, ge=0.5, le=30.0)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else valid_url(value)

    def check_for(self, destination: str) -> None:
        given = self.model_fields_set
        credential = CREDENTIAL_FIELDS[destination]
        wrong = [name for name in CREDENTIAL_FIELDS.values() if name in given and name != credential]
        if destination != "klaviyo":
            wrong += [name for name in _KLAVIYO_ONLY if name in given]
        if wrong:
            raise InvalidPayload(
                f"{', '.join(sorted(wrong))} do not apply to the {destination} destination", details=destination
            )

    def applied_to(self, settings: DestinationSettings) -> DestinationSettings:
        data = settings.model_dump()
        for name in ("enabled", "paused", "url", "property_names", "rate_limits", "timeout_seconds"):
            if name in self.model_fields_set:
                value = getattr(self, name)
                if name == "paused" and value is None:
                    value = False
                if name == "property_names" and value is None:
                    value = "perkflow"
                if name == "timeout_seconds" and value is None:
                    value = 10.0
                data[name] = value.model_dump() if isinstance(value, BaseModel) else value
        return DestinationSettings.model_validate(data)

    @property
    def credential(self) -> str | None:
        for name in CREDENTIAL_FIELDS.values():
            if name in self.model_fields_set:
                value = getattr(self, name)
                return str(value) if value is not None else ""
        return None


@dataclass(frozen=True)
class Destination:
    """A destination as the outbound function uses it: stored settings + environment + credentials."""

    name: str
    settings: DestinationSettings
    url: str | None
    credential: str | None = field(default=None, repr=False)
    overridden: tuple[str, ...] = ()
    auth: Literal["write_key", "api_key", "oauth", "secret"] | None = None

    @property
    def configured(self) -> bool:
        """Somewhere to send, and (for Segment and webhooks) the credential to send with."""
        if not self.url:
            return False
        if self.name == "klaviyo":
            return self.auth is not None
        return bool(self.credential)

    @property
    def enabled(self) -> bool:
        if self.settings.enabled is None:
            return self.configured
        return self.settings.enabled

    def public(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """The GET answer: settings and whether a credential is set, never the credential itself."""
        settings = self.settings
        body: dict[str, Any] = {
            "object": "destination",
            "name": self.name,
            "enabled": self.enabled,
            "paused": settings.paused,
            "url": self.url,
            "timeout_seconds": settings.timeout_seconds,
            CREDENTIAL_FIELDS[self.name] + "_set": bool(self.credential),
            "overridden_by_environment": list(self.overridden),
        }
        if self.name == "klaviyo":
            body["property_names"] = settings.property_names
            body["rate_limits"] = settings.rate_limits.model_dump() if settings.rate_limits else None
            body["auth"] = self.auth
        body.update(extra or {})
        return body
