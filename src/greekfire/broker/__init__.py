"""Brokers: the ``Broker`` port, the paper broker and vendor adapters (one file per vendor)."""

from greekfire.broker.port import Broker, QuoteSource

__all__ = ["Broker", "QuoteSource"]
