"""Adapters at the edge: DynamoDB, EventBridge, HTTP destinations, secrets. boto3 is imported lazily."""
