"""Outbound sync use cases: delivering queued events, destination settings, the Klaviyo connection and its
customer backfill. They reach the outside only through the protocols of :mod:`.ports`."""
