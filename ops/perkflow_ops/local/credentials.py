"""The settings a local stack runs with (DESIGN §6 "Environment"), and the template parameters they feed.

A variable set in the environment wins; otherwise ids are readable and secrets are random per run. The
stack prints them as NAME=value lines after its ready line, in the order of NAMES.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

NAMES = (
    "PERKFLOW_APP_ID",
    "PERKFLOW_APP_TOKEN",
    "PERKFLOW_WRITE_KEY",
    "PERKFLOW_SEGMENT_SHARED_SECRET",
    "PERKFLOW_CLIENT_APP_ID",
    "PERKFLOW_CLIENT_TOKEN",
    "PERKFLOW_CLIENT_ORIGINS",
    "PERKFLOW_PORT",
)
DEFAULT_PORT = 3000
READY_LINE = "perkflow local stack ready at {url}"


def settings(port: int, environ: Mapping[str, str]) -> dict[str, str]:
    """Every name of NAMES with its value for this run (``port`` is the port actually bound)."""
    generated = {
        "PERKFLOW_APP_ID": "app_local",
        "PERKFLOW_APP_TOKEN": secrets.token_urlsafe(24),
        "PERKFLOW_WRITE_KEY": secrets.token_urlsafe(18),
        "PERKFLOW_SEGMENT_SHARED_SECRET": secrets.token_urlsafe(24),
        "PERKFLOW_CLIENT_APP_ID": "client_app_local",
        "PERKFLOW_CLIENT_TOKEN": secrets.token_urlsafe(24),
        # The stack's own pages (Swagger UI) call the client API from its origin.
        "PERKFLOW_CLIENT_ORIGINS": f"http://127.0.0.1:{port},http://localhost:{port}",
    }
    values = {name: environ.get(name) or generated.get(name, "") for name in NAMES}
    values["PERKFLOW_PORT"] = str(port)
    return values


def environment_name(parameter: str) -> str:
    """``AppId`` -> ``PERKFLOW_APP_ID``: the variable that sets a template parameter locally."""
    return "PERKFLOW_" + re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", parameter).upper()


def parameters(template: Mapping[str, Any], values: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """Template parameter values: the run's settings, then the environment, then the parameter's Default."""
    resolved: dict[str, str] = {}
    missing = []
    for name, spec in template.get("Parameters", {}).items():
        variable = environment_name(name)
        value = values.get(variable, environ.get(variable))
        if value is None and "Default" in spec:
            value = str(spec["Default"])
        if value is None:
            missing.append(f"{name} (set {variable})")
        else:
            resolved[name] = value
    if missing:
        raise ValueError("template parameters without a local value: " + ", ".join(missing))
    return resolved
