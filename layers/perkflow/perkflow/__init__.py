"""perkflow: the promotion and loyalty engine's shared code (deployed as the Lambda layer)."""

__version__ = "0.1.0"
