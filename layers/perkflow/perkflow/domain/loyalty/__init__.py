"""The loyalty program: pure rules for points, expiry, tiers, referrals and birthdays (no I/O)."""
