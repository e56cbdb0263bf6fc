"""Fixtures shared across tiers: one local stack per test session serves the integration and compat tiers."""

pytest_plugins = ["tests.stack_fixtures"]
