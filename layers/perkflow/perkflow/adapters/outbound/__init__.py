"""Outbound adapters: HTTP (requests, requests-oauthlib), the table, Secrets Manager and SQS.

``requests`` and boto3 are imported on first use, never when a handler module is imported.
"""
