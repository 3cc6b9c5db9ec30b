"""Backtesting on the live strategy code, a compiled fast path for signal strategies, results,
reports and parameter sweeps."""
