"""Market data: the provider port (``MarketDataProvider``), providers (files, HTTP vendors),
validation of what they return."""
