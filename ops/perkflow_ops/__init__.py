"""Operator-only code: the local stack, stand-ins for outside services, the CLI, the demo. Never deployed."""
