"""Local stand-ins for what perkflow's outbound sync talks to, enforcing what the real services enforce
(never deployed; the local stack, the tests and the bench run them on 127.0.0.1):

- :class:`~perkflow_ops.standins.segment.SegmentStandIn`: Segment's HTTP Tracking API;
- :class:`~perkflow_ops.standins.klaviyo.KlaviyoStandIn`: Klaviyo's API (validated against its published
  OpenAPI document) and its OAuth server;
- :class:`~perkflow_ops.standins.webhook.WebhookReceiver`: a merchant's endpoint for signed webhooks.

``perkflow local up`` runs them as its outbound sinks (perkflow_ops.local.sinks); each has control routes
under ``/_standin/`` on its own port for faults, limits and what it received (see base.py).
"""

from __future__ import annotations

from perkflow_ops.local.sinks import SinkFactory
from perkflow_ops.standins.klaviyo import KlaviyoStandIn
from perkflow_ops.standins.segment import SegmentStandIn
from perkflow_ops.standins.webhook import WebhookReceiver


def factories() -> dict[str, SinkFactory]:
    return {"segment": SegmentStandIn, "klaviyo": KlaviyoStandIn, "webhook": WebhookReceiver}


__all__ = ["KlaviyoStandIn", "SegmentStandIn", "WebhookReceiver", "factories"]
