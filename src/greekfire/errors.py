"""The greekfire exception tree: the class says what the engine does with it.

::

    GreekfireError
      ConfigError          bad config: startup only, CLI exit code 2, message names the field path
      TransientError       retry with backoff + jitter (timeouts, 5xx)
        RateLimited        the vendor asked us to wait ``retry_after_s`` seconds
      ProviderError        non-retryable answer from a vendor (4xx, unknown symbol)
        ParseError         a vendor answer that does not parse
      DataQualityError     stale / crossed / out-of-order / NaN data: skip that symbol this cycle
      OrderRejected        the broker refused
      StrategyError        user strategy code raised: disable that strategy, keep the bot alive
      StateError           an invariant broke (journal vs broker mismatch): halt trading, alert

Contract errors (wrong type, bad shape, unknown option right) are the builtin ``TypeError`` and
``ValueError``; vector kernels never raise per element, they return NaN plus a status code.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataQualityError",
    "GreekfireError",
    "OrderRejected",
    "ParseError",
    "ProviderError",
    "RateLimited",
    "StateError",
    "StrategyError",
    "TransientError",
]


class GreekfireError(Exception):
    """Root of every error greekfire raises on purpose."""


class ConfigError(GreekfireError):
    """A configuration value is invalid; ``field`` is its dotted path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class TransientError(GreekfireError):
    """A failure worth retrying with backoff and jitter."""


class RateLimited(TransientError):
    """The remote side asked us to slow down."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ProviderError(GreekfireError):
    """A vendor answered with something retrying will not fix."""


class ParseError(ProviderError):
    """A vendor answer that does not match its schema."""


class DataQualityError(GreekfireError):
    """Market data that must not be used this cycle (stale, crossed, NaN)."""


class OrderRejected(GreekfireError):
    """The broker refused an order."""


class StrategyError(GreekfireError):
    """User strategy code raised; the strategy is disabled, the bot keeps running."""


class StateError(GreekfireError):
    """An invariant broke; trading halts."""
