"""The synthetic market, the embedded default: deterministic prices, bars, option chains and
the trading calendar, from a seed; no network."""
