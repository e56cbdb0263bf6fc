"""Unit tests of the promotion domain (perkflow.domain.promotions)."""
