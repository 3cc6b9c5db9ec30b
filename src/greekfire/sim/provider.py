"""``SyntheticProvider``: the synthetic market served through the market-data port.

The embedded default provider: no network, no files, deterministic from a seed. It implements
``greekfire.data.port.MarketDataProvider`` *structurally* (``greekfire.sim`` and
``greekfire.data`` are sibling layers, so this module does not import the port) and follows its
contract:

Time
    ``bars`` takes tz-aware ``start`` and ``end`` (any zone) and returns the bars whose start
    (the index) lies in the half-open ``[start, end)``; a naive datetime or ``start > end``
    raises ``ValueError``; ``start == end`` and ranges before the market's epoch give an empty
    frame. Daily bars are stamped 00:00 UTC of the session date and selected by that stamp.
    ``latest_quotes`` and ``option_chain`` are snapshots at the provider's ``clock()``.
Results
    Bars: float64 ``open``, ``high``, ``low``, ``close``, ``volume`` and ``vwap`` on a UTC
    ``timestamp`` index (:data:`BAR_FRAME_COLUMNS`). Quotes: ``QUOTE_COLUMNS`` on a ``symbol``
    index. Chains: exactly ``CHAIN_COLUMNS`` on a ``RangeIndex``
    (see :func:`greekfire.sim.chains.option_chain`).
Errors
    ``ProviderError`` for a symbol the market does not have (the message lists the known ones);
    ``ValueError``/``TypeError`` for broken arguments.
Chain filters
    Any object with an ``apply(frame) -> frame`` method (such as
    ``greekfire.data.port.ChainFilter``) is applied to the full chain and the index is reset;
    filtering selects rows and never changes them.

The whole price path is fixed by the seed, so ``bars`` serves any range, including one after
``clock()``: a caller replaying history must not ask for the future.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Final, Protocol

import numpy as np
import pandas as pd

from greekfire.domain.market import BAR_COLUMNS, CHAIN_COLUMNS, QUOTE_COLUMNS, Timeframe
from greekfire.errors import ProviderError
from greekfire.sim.calendar import to_bounds_ns
from greekfire.sim.chains import option_chain as simulate_chain
from greekfire.sim.market import SyntheticMarket
from greekfire.sim.surface import VolSurface

__all__ = ["BAR_FRAME_COLUMNS", "DEFAULT_SYMBOLS", "ChainFilterLike", "SyntheticProvider"]

DEFAULT_SYMBOLS: Final = ("SPY", "QQQ", "IWM", "AAPL", "MSFT")
"""Symbols of the market built when none is given."""
BAR_FRAME_COLUMNS: Final = (*BAR_COLUMNS, "vwap")
"""Columns of every bar frame this provider returns (the market's, ``vwap`` included)."""

_UTC_NS: Final = "datetime64[ns, UTC]"
_CHAIN_STREAM: Final = 0x0C4A1  # keeps the chains' random stream apart from the market's
_ONE_NS: Final = pd.Timedelta(1, "ns")
_ONE_DAY: Final = pd.Timedelta(1, "D")


class ChainFilterLike(Protocol):
    """What :meth:`SyntheticProvider.option_chain` accepts as a filter (``ChainFilter`` is one)."""

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Return the rows of a ``CHAIN_COLUMNS`` frame to keep."""
        ...


def _wall_clock() -> dt.datetime:
    # Default only; the engine injects its clock (the one place that owns wall time).
    return dt.datetime.now(dt.UTC)


def _utc(value: object, name: str) -> pd.Timestamp:
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{name}: expected a timezone-aware datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{name}: expected a timezone-aware datetime, got naive {value!r}"
            " (did you mean datetime(..., tzinfo=timezone.utc)?)"
        )
    return pd.Timestamp(value).tz_convert("UTC").as_unit("ns")


def _empty_bars() -> pd.DataFrame:
    index = pd.DatetimeIndex([], dtype=_UTC_NS, name="timestamp")
    return pd.DataFrame({c: np.empty(0, dtype=np.float64) for c in BAR_FRAME_COLUMNS}, index=index)


def _quote_frame(rows: list[dict[str, object]], symbols: list[str]) -> pd.DataFrame:
    index = pd.Index(symbols, dtype="str", name="symbol")
    data: dict[str, object] = {
        c: pd.Series(
            [r[c] for r in rows], index=index, dtype=_UTC_NS if c == "timestamp" else "float64"
        )
        for c in QUOTE_COLUMNS
    }
    return pd.DataFrame(data, index=index)


class SyntheticProvider:
    """The synthetic market as a ``MarketDataProvider`` (see the module docstring).

    Parameters
    ----------
    market : SyntheticMarket, optional
        The market to serve; default ``SyntheticMarket(symbols, seed=seed)``.
    symbols : sequence of str, optional
        Symbols of the market built when ``market`` is ``None`` (default
        :data:`DEFAULT_SYMBOLS`); giving both ``market`` and ``symbols`` is a ``ValueError``.
    seed : int, default 0
        Seed of the market built here and, derived from it, of the chains' last, volume and
        open interest (with a given ``market`` it seeds the chains only).
    rate : float, default 0.04
        Continuously compounded annual risk-free rate of the chains (decimal).
    dividend_yields : float or mapping of str to float, optional
        Continuous annual dividend yield per underlying (decimal); a float applies to all,
        symbols missing from a mapping get 0.0; default 0.0.
    surface : VolSurface, optional
        Implied-vol surface of every chain; default ``VolSurface()``.
    clock : callable returning a tz-aware datetime, optional
        "Now" for quotes and chains; default the wall clock. Tests and the engine inject one.

    Attributes
    ----------
    name : str
        ``"synthetic"``.
    market : SyntheticMarket
        The market served.

    Raises
    ------
    ValueError
        A bad parameter, named in the message.
    """

    name: str = "synthetic"

    def __init__(
        self,
        market: SyntheticMarket | None = None,
        *,
        symbols: Sequence[str] | None = None,
        seed: int = 0,
        rate: float = 0.04,
        dividend_yields: float | Mapping[str, float] | None = None,
        surface: VolSurface | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed: expected a whole number >= 0, got {seed!r}")
        if market is not None and symbols is not None:
            raise ValueError("symbols: give either a market or symbols, not both")
        if market is None:
            market = SyntheticMarket(symbols if symbols is not None else DEFAULT_SYMBOLS, seed=seed)
        self.market = market
        self._rate = float(rate)
        self._dividends = dividend_yields if dividend_yields is not None else 0.0
        self._surface = surface
        self._clock = clock if clock is not None else _wall_clock
        state = np.random.SeedSequence([seed, _CHAIN_STREAM]).generate_state(1, np.uint32)
        self._chain_seed = int(state[0])
        self._epoch_ns = to_bounds_ns(market.spec.epoch, market.spec.epoch)[0]

    def __repr__(self) -> str:
        return f"SyntheticProvider(symbols={list(self.market.symbols)!r}, rate={self._rate})"

    def now(self) -> pd.Timestamp:
        """The provider's clock as a UTC timestamp; ``ValueError`` when it returns a naive one."""
        return _utc(self._clock(), "clock()")

    def dividend_yield(self, symbol: str) -> float:
        """The continuous dividend yield used for ``symbol``'s chains (decimal)."""
        if isinstance(self._dividends, Mapping):
            return float(self._dividends.get(symbol, 0.0))
        return float(self._dividends)

    def _check_symbol(self, symbol: object) -> str:
        if not isinstance(symbol, str) or not symbol.strip():
            raise ValueError(f"symbol: expected a non-empty string, got {symbol!r}")
        if symbol not in self.market.symbols:
            raise ProviderError(
                f"{self.name}: unknown symbol {symbol!r}; known: {list(self.market.symbols)!r}"
            )
        return symbol

    async def bars(
        self, symbol: str, start: dt.datetime, end: dt.datetime, timeframe: Timeframe | str
    ) -> pd.DataFrame:
        """Bars of ``symbol`` whose start lies in ``[start, end)``.

        Parameters
        ----------
        symbol : str
            One of the market's symbols.
        start, end : datetime
            Timezone-aware, any zone; half-open range.
        timeframe : Timeframe or str
            ``"1m"``, ``"5m"``, ``"15m"``, ``"1h"`` or ``"1d"``.

        Returns
        -------
        pandas.DataFrame
            :data:`BAR_FRAME_COLUMNS` (float64) on a UTC ``timestamp`` index, exactly the rows
            of ``SyntheticMarket.bars`` whose index lies in ``[start, end)``; empty when none.

        Raises
        ------
        ValueError, TypeError
            Naive or non-datetime bounds, ``start > end``, an unknown timeframe.
        ProviderError
            An unknown symbol.
        """
        lo, hi = _utc(start, "start"), _utc(end, "end")
        if lo > hi:
            raise ValueError(f"start {lo} is after end {hi}; the range is [start, end)")
        tf = Timeframe.parse(timeframe)
        self._check_symbol(symbol)
        # The market's bounds are inclusive, start on its epoch, and select daily bars by
        # their open, which lies within a day after the 00:00 UTC stamp: widen, then cut on
        # the stamp.
        first = max(lo, pd.Timestamp(self._epoch_ns, tz="UTC"))
        last = hi - _ONE_NS + (_ONE_DAY if not tf.intraday else pd.Timedelta(0))
        if lo == hi or first > last:
            return _empty_bars()
        frame = self.market.bars(symbol, first, last, tf)[symbol]
        keep = (frame.index >= lo) & (frame.index < hi)
        return frame.loc[keep, list(BAR_FRAME_COLUMNS)]

    async def latest_quotes(self, symbols: Sequence[str]) -> pd.DataFrame:
        """The quote of each symbol at ``clock()``, one row per distinct symbol, in order.

        Parameters
        ----------
        symbols : sequence of str
            Market symbols (a single string is one symbol); empty gives an empty frame.

        Returns
        -------
        pandas.DataFrame
            ``QUOTE_COLUMNS`` on a ``symbol`` index: ``timestamp`` (UTC, the clock), ``bid``,
            ``ask`` (whole cents around the last price), ``bid_size``, ``ask_size`` (shares) and
            ``last`` (the market's spot: the last completed minute's close while open, else the
            last session close).

        Raises
        ------
        ProviderError
            An unknown symbol.
        ValueError
            The clock is naive or before the market's first session.
        """
        names = [symbols] if isinstance(symbols, str) else list(dict.fromkeys(symbols))
        for name in names:
            self._check_symbol(name)
        now = self.now()
        rows: list[dict[str, object]] = []
        for name in names:
            quote = self.market.quote(name, now)
            rows.append(
                {
                    "timestamp": pd.Timestamp(quote.ts_ns, tz="UTC"),
                    "bid": quote.bid,
                    "ask": quote.ask,
                    "bid_size": quote.bid_size,
                    "ask_size": quote.ask_size,
                    "last": quote.last,
                }
            )
        return _quote_frame(rows, names)

    async def option_chain(
        self, underlying: str, chain_filter: ChainFilterLike | None = None
    ) -> pd.DataFrame:
        """The option chain of ``underlying`` at ``clock()``.

        Built by :func:`greekfire.sim.chains.option_chain` with ``spot = market.spot(underlying,
        now)`` (the ``last`` of :meth:`latest_quotes`), the provider's rate, the underlying's
        dividend yield, the surface, the NYSE calendar for expiry rolls (Good Friday ->
        Thursday) and a seed derived from the provider's seed.

        Parameters
        ----------
        underlying : str
            One of the market's symbols.
        chain_filter : object with ``apply(frame) -> frame``, optional
            Applied to the full chain (e.g. ``greekfire.data.port.ChainFilter``).

        Returns
        -------
        pandas.DataFrame
            Exactly ``CHAIN_COLUMNS``, on a ``RangeIndex``.

        Raises
        ------
        ProviderError
            An unknown underlying.
        TypeError
            ``chain_filter`` has no ``apply`` method.
        """
        self._check_symbol(underlying)
        apply = getattr(chain_filter, "apply", None)
        if chain_filter is not None and not callable(apply):
            raise TypeError(
                "chain_filter: expected an object with an apply(frame) method"
                f" (a greekfire.data.port.ChainFilter), got {chain_filter!r}"
            )
        now = self.now()
        chain = simulate_chain(
            underlying,
            self.market.spot(underlying, now),
            now,
            rate=self._rate,
            dividend_yield=self.dividend_yield(underlying),
            surface=self._surface,
            seed=self._chain_seed,
        )
        if chain_filter is None:
            return chain
        kept: pd.DataFrame = chain_filter.apply(chain)
        return kept.loc[:, list(CHAIN_COLUMNS)].reset_index(drop=True)
