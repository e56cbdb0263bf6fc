"""Promotion use cases: campaigns and codes, vouchers, rules, publications, distributions, checkout."""
