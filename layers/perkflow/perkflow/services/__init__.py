"""Use cases. Each service takes its ports (storage, bus, clock) as arguments; handlers wire the adapters."""
