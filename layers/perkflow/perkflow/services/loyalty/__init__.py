"""Loyalty use cases: programs, members, triggers from the bus, reward redemption, the daily pass."""
