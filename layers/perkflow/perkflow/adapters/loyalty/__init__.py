"""Loyalty storage: programs, member accounts, the ledger, referrals (one table)."""
