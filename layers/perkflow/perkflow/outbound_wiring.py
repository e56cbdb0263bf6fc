"""Composition of the outbound components (what :func:`perkflow.wiring.outbound` returns).

Built once per container on first use; ``requests`` and boto3 load only when a component first needs them.
"""

from __future__ import annotations

from functools import cached_property

from perkflow import clock
from perkflow.adapters.customers import CustomerStore
from perkflow.adapters.dynamo import Table
from perkflow.adapters.outbound.http import RequestsTransport, SystemTimer
from perkflow.adapters.outbound.oauth import RequestsOAuthClient
from perkflow.adapters.outbound.queues import SqsQueues
from perkflow.adapters.outbound.secrets import SecretCredentials, SecretTokens
from perkflow.adapters.outbound.store import CustomerListing, OutboundTable
from perkflow.config import OutboundSettings
from perkflow.domain.outbound.retry import RetryPolicy
from perkflow.services.outbound.backfill import CustomerSync
from perkflow.services.outbound.delivery import Delivery
from perkflow.services.outbound.directory import Directory, Environment
from perkflow.services.outbound.integration import KlaviyoIntegration
from perkflow.services.outbound.klaviyo_auth import KlaviyoTokens, OAuthSettings
from perkflow.services.outbound.runner import Runner
from perkflow.services.outbound.senders import KlaviyoSender, SegmentSender, WebhookSender, senders_by_name


class OutboundWiring:
    def __init__(self, table: Table, settings: OutboundSettings, event_source: str = "perkflow.outbound") -> None:
        self.settings = settings
        self.table = table
        self.event_source = event_source
        self.timer = SystemTimer()
        self.store = OutboundTable(table, self.timer.time)

    @cached_property
    def queues(self) -> SqsQueues:
        return SqsQueues(self.settings.queue_urls, self.settings.dead_letter_urls)

    @cached_property
    def directory(self) -> Directory:
        settings = self.settings
        environment = Environment(
            urls=settings.urls,
            credentials={
                name: value.get_secret_value() if value else None for name, value in settings.credentials.items()
            },
            oauth_configured=bool(settings.klaviyo_client_id and settings.klaviyo_client_secret),
        )
        return Directory(
            environment,
            self.store,
            SecretCredentials(settings.credentials_secret),
            self.store,
            self.queues,
            clock.now,
        )

    @cached_property
    def klaviyo_tokens(self) -> KlaviyoTokens:
        settings = self.settings
        secret = settings.klaviyo_client_secret
        oauth = OAuthSettings(
            client_id=settings.klaviyo_client_id,
            client_secret=secret.get_secret_value() if secret else None,
            redirect_uri=settings.klaviyo_redirect_uri,
            authorize_url=settings.klaviyo_authorize_url,
            api_url=settings.urls.get("klaviyo") or "https://a.klaviyo.com",
        )
        return KlaviyoTokens(
            oauth, self.store, SecretTokens(settings.tokens_secret), RequestsOAuthClient(), self.timer, clock.now
        )

    @cached_property
    def runner(self) -> Runner:
        return Runner(RequestsTransport(), self.store, self.timer, RetryPolicy())

    @cached_property
    def klaviyo(self) -> KlaviyoSender:
        return KlaviyoSender(self.runner, self.klaviyo_tokens)

    @cached_property
    def customer_sync(self) -> CustomerSync:
        customers = CustomerListing(CustomerStore(self.table, self.event_source))
        return CustomerSync(self.store, customers, self.directory, self.klaviyo, self.queues, clock.now)

    @cached_property
    def delivery(self) -> Delivery:
        senders = senders_by_name(
            SegmentSender(self.runner, clock.now),
            self.klaviyo,
            WebhookSender(self.runner, self.settings.project_id),
        )
        return Delivery(
            self.directory,
            senders,
            self.store,
            self.queues,
            clock.now,
            self.settings.max_receives,
            controls={"klaviyo.sync": self.customer_sync.step},
        )

    @cached_property
    def klaviyo_integration(self) -> KlaviyoIntegration:
        return KlaviyoIntegration(self.klaviyo_tokens, self.directory, self.customer_sync, self.runner)
