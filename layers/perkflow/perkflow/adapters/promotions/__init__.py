"""DynamoDB storage of the promotion entities (docs/promotions.md)."""
