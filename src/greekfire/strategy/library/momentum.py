"""``momentum``: the brief's composite momentum signal, long only, on equities.

The composite is a weighted mean of four votes, each -1, 0 or +1:

- trend: +1 when SMA(fast) > SMA(slow), -1 when below;
- MACD: the sign of the MACD histogram;
- RSI (Wilder's, as ``greekfire.analytics.indicators``): +1 below ``rsi_low`` (oversold),
  -1 above ``rsi_high`` (overbought), else 0, as in the brief;
- Bollinger %b: +1 below the lower band (%b < 0), -1 above the upper band (%b > 1), else 0.

``score = sum(w_i * vote_i) / sum(w_i)`` lies in [-1, 1]. Flat, with no open order, and
``score >= entry_threshold``: buy. Long and ``score <= exit_threshold``: sell everything.
Indicator values come from ``ctx.indicators`` (the engine's streaming indicators); when they
are missing, they are computed from ``ctx.bars``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import cached_property

from pydantic import Field, model_validator

from greekfire.analytics.indicators import parse_indicator, technical_indicators
from greekfire.domain.config import Section
from greekfire.domain.orders import OrderIntent, Side
from greekfire.strategy.base import Strategy, StrategyContext

__all__ = ["MomentumParams", "MomentumStrategy", "composite_score"]


class MomentumParams(Section):
    """Parameters of :class:`MomentumStrategy`."""

    fast: int = Field(20, ge=2, description="Fast SMA period (bars).")
    slow: int = Field(50, ge=3, description="Slow SMA period (bars).")
    rsi_period: int = Field(14, ge=2, description="RSI period (Wilder).")
    rsi_low: float = Field(30.0, gt=0, lt=100, description="RSI below this votes +1.")
    rsi_high: float = Field(70.0, gt=0, lt=100, description="RSI above this votes -1.")
    bb_period: int = Field(20, ge=2, description="Bollinger Bands period.")
    bb_k: float = Field(2.0, gt=0, description="Bollinger Bands width in standard deviations.")
    w_trend: float = Field(1.0, ge=0, description="Weight of the SMA trend vote.")
    w_macd: float = Field(1.0, ge=0, description="Weight of the MACD histogram vote.")
    w_rsi: float = Field(1.0, ge=0, description="Weight of the RSI vote.")
    w_bb: float = Field(1.0, ge=0, description="Weight of the Bollinger %b vote.")
    entry_threshold: float = Field(0.5, gt=-1, le=1, description="Buy at score >= this.")
    exit_threshold: float = Field(-0.25, ge=-1, lt=1, description="Sell at score <= this.")
    allocation_fraction: float = Field(
        0.10, gt=0, le=1, description="Most of equity one entry may use."
    )
    max_shares: float = Field(1e9, gt=0, description="Most shares one entry may buy.")

    @model_validator(mode="after")
    def _consistent(self) -> MomentumParams:
        if self.fast >= self.slow:
            raise ValueError(f"fast: must be below slow ({self.slow}), got {self.fast}")
        if self.rsi_low >= self.rsi_high:
            raise ValueError(
                f"rsi_low: must be below rsi_high ({self.rsi_high}), got {self.rsi_low}"
            )
        if self.exit_threshold >= self.entry_threshold:
            raise ValueError(
                f"exit_threshold: must be below entry_threshold ({self.entry_threshold}),"
                f" got {self.exit_threshold}"
            )
        if self.w_trend + self.w_macd + self.w_rsi + self.w_bb <= 0:
            raise ValueError("w_trend: at least one weight must be > 0, got all 0")
        return self


def _sign(x: float) -> int:
    return 1 if x > 0 else (-1 if x < 0 else 0)


def composite_score(
    values: Mapping[str, float], columns: Mapping[str, str], p: MomentumParams
) -> float:
    """The composite score in [-1, 1] from the latest indicator values; NaN if any is missing.

    Parameters
    ----------
    values : mapping of column to float
        Latest indicator values.
    columns : mapping
        Role (``sma_fast``, ``sma_slow``, ``macd_histogram``, ``rsi``, ``bb_percent_b``) to
        the column name in ``values``.
    p : MomentumParams
    """
    got = {role: float(values.get(col, math.nan)) for role, col in columns.items()}
    if any(not math.isfinite(v) for v in got.values()):
        return math.nan
    trend = _sign(got["sma_fast"] - got["sma_slow"])
    macd = _sign(got["macd_histogram"])
    rsi = 1 if got["rsi"] < p.rsi_low else (-1 if got["rsi"] > p.rsi_high else 0)
    pct_b = got["bb_percent_b"]
    bb = 1 if pct_b < 0 else (-1 if pct_b > 1 else 0)
    total = p.w_trend * trend + p.w_macd * macd + p.w_rsi * rsi + p.w_bb * bb
    return total / (p.w_trend + p.w_macd + p.w_rsi + p.w_bb)


class MomentumStrategy(Strategy):
    """Long-only composite momentum (see the module docstring)."""

    kind = "momentum"
    Params = MomentumParams
    needs_chains = False

    @property
    def p(self) -> MomentumParams:
        """The validated parameters."""
        assert isinstance(self.params, MomentumParams)
        return self.params

    @property
    def indicators(self) -> tuple[str, ...]:
        """``sma_<fast>``, ``sma_<slow>``, ``rsi_<n>``, ``macd``, ``bollinger_bands_<n>_<k>``."""
        p = self.p
        return (
            f"sma_{p.fast}",
            f"sma_{p.slow}",
            f"rsi_{p.rsi_period}",
            "macd",
            f"bollinger_bands_{p.bb_period}_{p.bb_k:g}",
        )

    @cached_property
    def columns(self) -> dict[str, str]:
        """Role -> indicator column name, as the indicator module names them."""
        fast, slow, rsi, macd, bb = (parse_indicator(s).columns for s in self.indicators)
        return {
            "sma_fast": fast[0],
            "sma_slow": slow[0],
            "rsi": rsi[0],
            "macd_histogram": macd[2],
            "bb_percent_b": bb[3],
        }

    @property
    def warmup_bars(self) -> int:
        """Enough bars for the slow SMA, MACD's signal line and RSI to settle."""
        p = self.p
        return max(p.slow, 26 + 9, p.bb_period, 3 * p.rsi_period) + 1

    def score(self, ctx: StrategyContext, symbol: str) -> float:
        """The composite score of ``symbol`` this cycle (NaN without enough data)."""
        columns = self.columns
        values = ctx.indicators.get(symbol)
        if values is None or any(c not in values for c in columns.values()):
            bars = ctx.bars.get(symbol)
            if bars is None or len(bars) < 2 or "close" not in bars:
                return math.nan
            frame = technical_indicators(bars["close"], list(self.indicators))
            values = {c: float(frame[c].iloc[-1]) for c in columns.values()}
        return composite_score(values, columns, self.p)

    def on_cycle(self, ctx: StrategyContext) -> Sequence[OrderIntent]:
        """Entries and exits per symbol; nothing for a symbol with an open order."""
        out: list[OrderIntent] = []
        p = self.p
        for symbol in self.symbols:
            if ctx.orders_on(symbol):
                continue
            qty = ctx.position_qty(symbol)
            score = self.score(ctx, symbol)
            if not math.isfinite(score):
                continue
            if qty > 0 and score <= p.exit_threshold:
                out.append(
                    self.single(
                        symbol,
                        Side.SELL,
                        qty,
                        reason=f"momentum exit: score {score:.2f} <= {p.exit_threshold}",
                        opening=False,
                    )
                )
            elif qty == 0 and score >= p.entry_threshold:
                price = ctx.last_price(symbol)
                equity = ctx.equity_usd
                if not (math.isfinite(price) and math.isfinite(equity) and equity > 0):
                    continue
                shares = min(math.floor(equity * p.allocation_fraction / price), p.max_shares)
                if shares >= 1:
                    out.append(
                        self.single(
                            symbol,
                            Side.BUY,
                            shares,
                            reason=f"momentum entry: score {score:.2f} >= {p.entry_threshold}",
                            opening=True,
                        )
                    )
        return out
