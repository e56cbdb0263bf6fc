"""Driving a running local stack's outbound side from tests, the bench, the demo and the CLI: the stand-ins'
control routes, the Klaviyo OAuth dance against the stand-in's consent page, and catalogue events put on the
bus the way the publisher puts them."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from perkflow.domain.events import DomainEvent
from perkflow_ops.local.harness import Response, RunningStack

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_sqs import SQSClient


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _http(method: str, url: str, body: Any = None, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as answer:
            return answer.status, dict(answer.headers.items()), answer.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers.items()), error.read()


class Outbound:
    """The outbound side of one running stack."""

    def __init__(self, stack: RunningStack) -> None:
        self.stack = stack
        self.endpoints = stack.endpoints()
        self.sinks: dict[str, str] = dict(self.endpoints["sinks"])
        self.headers = stack.app_headers()
        self._events: EventBridgeClient | None = None
        self._sqs: SQSClient | None = None

    # -- the API ---------------------------------------------------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None) -> Response:
        return self.stack.request(method, path, json=body, headers=self.headers)

    def destination(self, name: str, **settings: Any) -> dict[str, Any]:
        response = (
            self.api("PUT", f"/v1/destinations/{name}", settings)
            if settings
            else self.api("GET", f"/v1/destinations/{name}")
        )
        if response.status != 200:
            raise RuntimeError(f"/v1/destinations/{name} answered {response.status}: {response.body[:300]!r}")
        result: dict[str, Any] = response.json()
        return result

    def klaviyo(self) -> dict[str, Any]:
        result: dict[str, Any] = self.api("GET", "/v1/integrations/klaviyo").json()
        return result

    def connect_klaviyo(self) -> dict[str, Any]:
        """Connect through OAuth: the stand-in's consent page agrees at once and redirects to the callback."""
        response = self.api("POST", "/v1/integrations/klaviyo/connect")
        if response.status != 200:
            raise RuntimeError(f"connect answered {response.status}: {response.body[:300]!r}")
        authorize_url = response.json()["authorize_url"]
        status, headers, body = _http("GET", authorize_url)
        location = headers.get("Location") or headers.get("location")
        if status != 302 or not location:
            raise RuntimeError(f"the consent page answered {status}: {body[:300]!r}")
        callback = urlsplit(location)
        answer = self.stack.request("GET", f"{callback.path}?{callback.query}")
        if answer.status != 200:
            raise RuntimeError(f"the callback answered {answer.status}: {answer.body[:300]!r}")
        result: dict[str, Any] = answer.json()
        return result

    def ensure_klaviyo_connected(self) -> None:
        if self.klaviyo().get("status") != "connected":
            self.connect_klaviyo()

    def deliver_everywhere(self) -> None:
        """No injected faults, Klaviyo connected, every destination delivering with its default timeout."""
        self.clear_faults()
        self.ensure_klaviyo_connected()
        for name in self.sinks:
            self.destination(name, paused=False, timeout_seconds=10)

    # -- stand-ins ----------------------------------------------------------------------------------------------------
    def control(self, destination: str, method: str, route: str, body: Any = None) -> Any:
        status, _, raw = _http(method, f"{self.sinks[destination]}/_standin/{route}", body)
        if status != 200:
            raise RuntimeError(f"{destination} /_standin/{route} answered {status}: {raw[:300]!r}")
        return json.loads(raw) if raw else None

    def state(self, destination: str) -> dict[str, Any]:
        result: dict[str, Any] = self.control(destination, "GET", "state")
        return result

    def faults(self, destination: str, **plan: Any) -> None:
        self.control(destination, "POST", "faults", plan)

    def clear_faults(self) -> None:
        for destination in self.sinks:
            self.faults(destination)

    # -- events -------------------------------------------------------------------------------------------------------
    def _client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=str(self.endpoints["events" if service == "events" else "sqs"]),
            region_name=str(self.endpoints["region"]),
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - the emulators' dummy credentials
        )

    @property
    def events(self) -> EventBridgeClient:
        if self._events is None:
            self._events = self._client("events")
        return self._events

    @property
    def sqs(self) -> SQSClient:
        if self._sqs is None:
            self._sqs = self._client("sqs")
        return self._sqs

    def publish(self, events: Iterable[DomainEvent], source: str = "perkflow.test") -> None:
        """Put catalogue events on the stack's bus as the outbox relay does (chunks of 10)."""
        bus = str(self.endpoints["buses"]["Bus"])
        entries: list[Any] = [
            {"Source": source, "DetailType": event.DETAIL_TYPE, "Detail": json.dumps(event.detail()),
             "EventBusName": bus}
            for event in events
        ]  # fmt: skip
        chunks = [entries[start : start + 10] for start in range(0, len(entries), 10)]

        def put(chunk: list[Any]) -> None:
            response = self.events.put_events(Entries=chunk)
            if response.get("FailedEntryCount"):
                raise RuntimeError(f"{response['FailedEntryCount']} events were not put on the bus")

        with ThreadPoolExecutor(max_workers=4) as pool:  # as several publisher invocations would
            list(pool.map(put, chunks))

    def queue_url(self, logical_id: str) -> str:
        return str(self.endpoints["queues"][logical_id]["url"])


def wait_for(probe: Callable[[], Any], what: str, timeout: float = 60, every: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)
