"""Concurrency tier: parallel requests and deliveries against the local stack."""
