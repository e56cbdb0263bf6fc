"""The pure domain: models, rules and calculations. Imports nothing from AWS, HTTP or Powertools."""
