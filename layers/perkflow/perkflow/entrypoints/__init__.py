"""Trigger glue shared by the handlers: HTTP resolver wiring, error mapping, authentication."""
