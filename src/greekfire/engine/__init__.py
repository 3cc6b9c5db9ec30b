"""The trading engine: clock, cycle, continuous runner."""
