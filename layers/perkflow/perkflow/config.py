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
