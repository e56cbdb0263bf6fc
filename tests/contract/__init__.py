"""Contract tier: perkflow's answers against the Voucherify OpenAPI schemas they claim to follow."""
