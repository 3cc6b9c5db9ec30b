"""The engine's view of the market in one cycle: quotes, priced option chains, marks.

:class:`MarketSnapshot` is refreshed by the fetch phase and read by every later phase; it is
also the :class:`~greekfire.broker.port.QuoteSource` the paper broker fills against, so paper
fills use exactly the prices the strategies saw.

Chains are re-priced here: the implied volatility is solved from each contract's mid
(European BSM, :func:`greekfire.analytics.options.implied_vol`), falling back to the vendor's
``iv`` where the mid has none, and the Greeks come from :func:`greekfire.analytics.options.greeks`
(theta per year, vega per 1.00 of vol: the units of ``CHAIN_COLUMNS``). Columns ``mid``,
``spread`` and ``dte`` (calendar days to the expiry close) are added.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from greekfire.analytics.options import greeks, implied_vol
from greekfire.domain.instruments import OptionContract, instrument_for
from greekfire.domain.market import Quote
from greekfire.domain.portfolio import OptionGreeks

__all__ = ["MarketSnapshot", "price_chain"]

_DAY_NS = 86_400 * 1_000_000_000
_YEAR_DAYS = 365.0
_CLOSE_OFFSET_NS = 21 * 3_600 * 1_000_000_000  # 16:00 New York is 20:00 or 21:00 UTC


def _expiry_close_ns(expiry: pd.Series) -> np.ndarray:
    from greekfire.sim.chains import expiry_close

    days = pd.to_datetime(expiry)
    if days.dt.tz is not None:
        days = days.dt.tz_localize(None)
    unique = {d: expiry_close(d.date()).value for d in days.drop_duplicates()}
    return np.array([unique[d] for d in days], dtype=np.int64)


def price_chain(chain: pd.DataFrame, now_ns: int, rate: float) -> pd.DataFrame:
    """``chain`` (``CHAIN_COLUMNS``) with greekfire's IV and Greeks, ``mid``, ``spread``, ``dte``.

    Contracts past their expiry close are dropped. Rows whose IV cannot be found keep NaN
    Greeks (a strategy skips them).
    """
    if chain.empty:
        out = chain.copy()
        for column in ("mid", "spread", "dte"):
            out[column] = pd.Series(dtype="float64")
        return out
    close_ns = _expiry_close_ns(chain["expiry"])
    live = close_ns > now_ns
    frame = chain.loc[live].copy()
    close_ns = close_ns[live]
    bid = frame["bid"].to_numpy(np.float64)
    ask = frame["ask"].to_numpy(np.float64)
    mid = np.where((bid > 0) & (ask >= bid), (bid + ask) / 2.0, np.nan)
    t_years = (close_ns - now_ns) / (_DAY_NS * _YEAR_DAYS)
    spot = frame["underlying_price"].to_numpy(np.float64)
    strike = frame["strike"].to_numpy(np.float64)
    right = frame["right"].to_numpy(np.int8)
    with np.errstate(invalid="ignore"):
        solved = implied_vol(mid, spot, strike, t_years, rate, 0.0, right).vol
    vendor = frame["iv"].to_numpy(np.float64)
    vol = np.where(np.isfinite(solved) & (solved > 0), solved, vendor)
    g = greeks(spot, strike, t_years, vol, rate, 0.0, right, second_order=False)
    frame["iv"] = vol
    for name in ("delta", "gamma", "theta", "vega"):
        frame[name] = np.asarray(g[name], dtype=np.float64)
    frame["mid"] = mid
    frame["spread"] = ask - bid
    frame["dte"] = t_years * _YEAR_DAYS
    return frame.reset_index(drop=True)


class MarketSnapshot:
    """Latest quotes (stocks and options) and priced chains; a ``QuoteSource``.

    Parameters
    ----------
    rate : float
        Risk-free rate used to price chains (continuously compounded, decimal).
    """

    def __init__(self, rate: float = 0.04) -> None:
        self.rate = float(rate)
        self.ts_ns = 0
        self._quotes: dict[str, Quote] = {}
        self._chains: dict[str, pd.DataFrame] = {}
        self._greeks: dict[str, OptionGreeks] = {}

    # -- updates (the fetch phase) --------------------------------------------------------
    def update_quotes(self, frame: pd.DataFrame, ts_ns: int) -> int:
        """Take a quotes frame (``QUOTE_COLUMNS``, index symbol); returns rows taken."""
        self.ts_ns = ts_ns
        if frame.empty:
            return 0
        stamps = frame["timestamp"].to_numpy("datetime64[ns]").astype(np.int64)
        bid = frame["bid"].to_numpy(np.float64)
        ask = frame["ask"].to_numpy(np.float64)
        bid_size = frame["bid_size"].to_numpy(np.float64)
        ask_size = frame["ask_size"].to_numpy(np.float64)
        last = frame["last"].to_numpy(np.float64)
        for i, symbol in enumerate(frame.index):
            self._quotes[str(symbol)] = Quote(
                str(symbol),
                int(stamps[i]),
                float(bid[i]),
                float(ask[i]),
                float(bid_size[i]),
                float(ask_size[i]),
                float(last[i]),
            )
        return len(frame)

    def update_chain(self, underlying: str, chain: pd.DataFrame, ts_ns: int) -> pd.DataFrame:
        """Price ``chain`` at ``ts_ns``, keep it, and take its contracts' quotes and Greeks."""
        priced = price_chain(chain, ts_ns, self.rate)
        self._chains[underlying] = priced
        stamps = ts_ns
        cols = [priced[c].to_numpy() for c in ("contract", "bid", "ask", "last", "delta")]
        gcols = [priced[c].to_numpy(np.float64) for c in ("gamma", "theta", "vega")]
        for i in range(len(priced)):
            symbol = str(cols[0][i])
            self._quotes[symbol] = Quote(
                symbol, stamps, float(cols[1][i]), float(cols[2][i]), 0.0, 0.0, float(cols[3][i])
            )
            self._greeks[symbol] = OptionGreeks(
                float(cols[4][i]), float(gcols[0][i]), float(gcols[1][i]), float(gcols[2][i])
            )
        return priced

    def forget_chains(self) -> None:
        """Drop chains (and their contracts' Greeks) before a new cycle fetches fresh ones."""
        self._chains.clear()

    # -- reads ------------------------------------------------------------------------------
    def quote(self, symbol: str) -> Quote | None:
        """The latest quote of ``symbol`` (``QuoteSource``)."""
        return self._quotes.get(symbol)

    @property
    def quotes(self) -> Mapping[str, Quote]:
        """Every quote held, by symbol."""
        return self._quotes

    @property
    def chains(self) -> Mapping[str, pd.DataFrame]:
        """Priced chains by underlying (this cycle's)."""
        return self._chains

    def mark(self, symbol: str) -> float:
        """Price per share: the mid when both sides are quoted, else the last, else NaN."""
        q = self._quotes.get(symbol)
        if q is None:
            return math.nan
        if q.bid > 0 and q.ask >= q.bid:
            return q.mid
        return q.last

    def marks(self, symbols: Iterable[str]) -> dict[str, float]:
        """:meth:`mark` of each symbol that has one."""
        out = {}
        for s in symbols:
            m = self.mark(s)
            if math.isfinite(m):
                out[s] = m
        return out

    def spots(self, symbols: Iterable[str]) -> dict[str, float]:
        """Underlying prices of ``symbols`` (options map to their underlying)."""
        out: dict[str, float] = {}
        for s in symbols:
            underlying = instrument_for(s).underlying
            m = self.mark(underlying)
            if math.isfinite(m):
                out[underlying] = m
        return out

    def option_greeks(self, symbols: Iterable[str]) -> dict[str, OptionGreeks]:
        """Greeks of the option symbols among ``symbols`` that a priced chain holds."""
        return {s: self._greeks[s] for s in symbols if s in self._greeks}

    def intrinsic_mark(self, contract: OptionContract) -> float:
        """Intrinsic value per share at the underlying's mark (NaN without one)."""
        spot = self.mark(contract.underlying)
        return contract.intrinsic(spot) if math.isfinite(spot) else math.nan
