"""Typed values of the trading domain: enums, instruments, market data. No I/O."""

from greekfire.domain.enums import IVStatus, OptionRight

__all__ = ["IVStatus", "OptionRight"]
