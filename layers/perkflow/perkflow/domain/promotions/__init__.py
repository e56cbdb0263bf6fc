"""Promotions: campaigns, bulk unique codes, vouchers, validation rules, validation and redemption math.

A Voucherify-compatible subset (DESIGN §3 "Promotions API", reference/voucherify.md). Request models accept
what the official SDKs send; ``as_voucherify()`` and the response builders produce Voucherify's response
shapes. Everything here is pure: storage makes codes unique across the project and applies the balance and
quantity changes these functions decide, atomically and conditionally.

Modules: ``codes`` (code_config, capacity, generation), ``vouchers`` (gift and discount vouchers, balance),
``campaigns``, ``rules`` (validation rules), ``orders`` (order amounts and their Voucherify shape),
``redemptions`` (stackable and legacy validation/redemption), ``errors`` (keys and per-redeemable failures).
"""
