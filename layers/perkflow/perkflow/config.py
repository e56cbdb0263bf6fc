"""Settings read from the function's environment once per container (never at import).

Variable names are fixed by DESIGN §6. Secret values are held as SecretStr so that they never print.
"""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field, SecretStr


class Settings(BaseModel):
    table_name: str = Field(default="perkflow", min_length=3)
    bus_name: str = Field(default="perkflow", min_length=1)
    function_name: str = Field(default="api", description="perkflow.<function_name> is the event source")
    app_id: str | None = None
    app_token: SecretStr | None = None
    write_key: SecretStr | None = None
    segment_shared_secret: SecretStr | None = None
    client_app_id: str | None = None
    client_token: SecretStr | None = None
    client_origins: tuple[str, ...] = ()
    segment_jobs_url: str = Field(default="", description="SQS queue of segment backfill/continuation jobs")

    @property
    def event_source(self) -> str:
        return f"perkflow.{self.function_name}"


def _secret(name: str) -> SecretStr | None:
    value = os.environ.get(name)
    return SecretStr(value) if value else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    env = os.environ
    return Settings(
        table_name=env.get("PERKFLOW_TABLE_NAME", "perkflow"),
        bus_name=env.get("PERKFLOW_BUS_NAME", "perkflow"),
        function_name=env.get("PERKFLOW_FUNCTION", "api"),
        app_id=env.get("PERKFLOW_APP_ID") or None,
        app_token=_secret("PERKFLOW_APP_TOKEN"),
        write_key=_secret("PERKFLOW_WRITE_KEY"),
        segment_shared_secret=_secret("PERKFLOW_SEGMENT_SHARED_SECRET"),
        client_app_id=env.get("PERKFLOW_CLIENT_APP_ID") or None,
        client_token=_secret("PERKFLOW_CLIENT_TOKEN"),
        segment_jobs_url=env.get("PERKFLOW_SEGMENT_JOBS_URL", ""),
        client_origins=tuple(
            origin.strip() for origin in env.get("PERKFLOW_CLIENT_ORIGINS", "").split(",") if origin.strip()
        ),
    )


class OutboundSettings(BaseModel):
    """Outbound variables (DESIGN §6): a set variable overrides what /v1/destinations holds."""

    urls: dict[str, str | None] = Field(default_factory=dict)  # PERKFLOW_OUT_<DESTINATION>_URL
    credentials: dict[str, SecretStr | None] = Field(default_factory=dict)  # write key / API key / secret
    klaviyo_client_id: str | None = None
    klaviyo_client_secret: SecretStr | None = None
    klaviyo_redirect_uri: str | None = None
    klaviyo_authorize_url: str = "https://www.klaviyo.com/oauth/authorize"
    queue_urls: dict[str, str] = Field(default_factory=dict)  # PERKFLOW_OUT_<DESTINATION>_QUEUE_URL
    dead_letter_urls: dict[str, str] = Field(default_factory=dict)  # PERKFLOW_OUT_<DESTINATION>_DLQ_URL
    credentials_secret: str | None = None  # PERKFLOW_OUT_SECRETS_ARN
    tokens_secret: str | None = None  # PERKFLOW_KLAVIYO_TOKENS_ARN
    max_receives: int = Field(default=8, ge=1)  # the queues' maxReceiveCount
    project_id: str = "proj_perkflow"


_OUT_CREDENTIALS = {
    "segment": "PERKFLOW_OUT_SEGMENT_WRITE_KEY",
    "klaviyo": "PERKFLOW_OUT_KLAVIYO_API_KEY",
    "webhook": "PERKFLOW_OUT_WEBHOOK_SECRET",
}


@lru_cache(maxsize=1)
def get_outbound_settings() -> OutboundSettings:
    env = os.environ
    names = ("segment", "klaviyo", "webhook")
    return OutboundSettings(
        urls={name: env.get(f"PERKFLOW_OUT_{name.upper()}_URL") or None for name in names},
        credentials={name: _secret(variable) for name, variable in _OUT_CREDENTIALS.items()},
        klaviyo_client_id=env.get("PERKFLOW_KLAVIYO_CLIENT_ID") or None,
        klaviyo_client_secret=_secret("PERKFLOW_KLAVIYO_CLIENT_SECRET"),
        klaviyo_redirect_uri=env.get("PERKFLOW_KLAVIYO_REDIRECT_URI") or None,
        klaviyo_authorize_url=env.get("PERKFLOW_KLAVIYO_AUTHORIZE_URL") or "https://www.klaviyo.com/oauth/authorize",
        queue_urls={name: env[f"PERKFLOW_OUT_{name.upper()}_QUEUE_URL"] for name in names
                    if env.get(f"PERKFLOW_OUT_{name.upper()}_QUEUE_URL")},
        dead_letter_urls={name: env[f"PERKFLOW_OUT_{name.upper()}_DLQ_URL"] for name in names
                          if env.get(f"PERKFLOW_OUT_{name.upper()}_DLQ_URL")},
        credentials_secret=env.get("PERKFLOW_OUT_SECRETS_ARN") or None,
        tokens_secret=env.get("PERKFLOW_KLAVIYO_TOKENS_ARN") or None,
        max_receives=int(env.get("PERKFLOW_OUT_MAX_RECEIVES") or 8),
        project_id=env.get("PERKFLOW_PROJECT_ID") or "proj_perkflow",
    )  # fmt: skip
