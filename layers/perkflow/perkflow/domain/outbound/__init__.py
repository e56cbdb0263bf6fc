"""Outbound sync, the pure part: which events go where, under which names, in which wire shapes.

Nothing here talks to a network or AWS: payload builders, batching and size rules, webhook signing, PKCE,
the retry and rate-limit arithmetic. The services decide when to send; the adapters send.
"""
