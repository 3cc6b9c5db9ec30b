"""Position sizing: how many units of an opening intent the account may take.

Every rule sizes by the dollars put at risk per unit, the intent's max loss
(:func:`max_loss_per_unit`), and returns whole units (rounded down):

- fixed fraction: ``floor(equity * risk_fraction / max_loss)``;
- volatility-scaled: the fixed-fraction budget times ``target_vol_annual / vol_annual`` of the
  underlying, ``floor(equity * risk_fraction * target / vol / max_loss)``;
- Kelly: ``floor(equity * f / max_loss)`` with ``f = p - (1 - p) / b`` from the strategy's win
  rate p and payoff ratio b, at most ``cap`` (the brief's 25 %); a negative edge sizes 0.

A max loss of 0 (a covered call, an intent that adds no risk) leaves the size unbounded by the
rule: ``inf`` (the gate keeps the requested quantity).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from greekfire.domain.instruments import instrument_for
from greekfire.domain.orders import OrderIntent
from greekfire.risk.config import RiskConfig
from greekfire.risk.view import PortfolioView, intent_max_loss_per_unit

__all__ = [
    "Sizing",
    "fixed_fraction_qty",
    "kelly_qty",
    "max_loss_per_unit",
    "size_intent",
    "volatility_qty",
]

# Absorbs binary float error before rounding down (2.9999999999 units is 3).
_ROUND_EPS = 1e-9


def _positive(name: str, value: float) -> float:
    number = float(value)
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{name}: expected a finite number > 0, got {value!r}")
    return number


def _units(budget_usd: float, max_loss_usd: float) -> float:
    loss = float(max_loss_usd)
    if math.isnan(loss) or loss < 0:
        raise ValueError(f"max_loss_per_unit_usd: expected a number >= 0, got {max_loss_usd!r}")
    if loss == 0:
        return math.inf
    if budget_usd <= 0 or math.isinf(loss):
        return 0.0
    return float(math.floor(budget_usd / loss + _ROUND_EPS))


def fixed_fraction_qty(
    equity_usd: float, risk_fraction: float, max_loss_per_unit_usd: float
) -> float:
    """Whole units so that their max loss is at most ``risk_fraction`` of equity.

    Parameters
    ----------
    equity_usd : float
        Account equity (> 0).
    risk_fraction : float
        Fraction of equity put at risk (> 0), e.g. 0.02.
    max_loss_per_unit_usd : float
        Dollars lost per unit in the worst case (>= 0; ``inf``: unbounded, sizes 0).

    Returns
    -------
    float
        ``floor(equity * risk_fraction / max_loss)``; ``inf`` for a max loss of 0.

    Examples
    --------
    >>> fixed_fraction_qty(100_000.0, 0.02, 450.0)
    4.0
    """
    equity = _positive("equity_usd", equity_usd)
    fraction = _positive("risk_fraction", risk_fraction)
    return _units(equity * fraction, max_loss_per_unit_usd)


def volatility_qty(
    equity_usd: float,
    risk_fraction: float,
    max_loss_per_unit_usd: float,
    vol_annual: float,
    target_vol_annual: float,
) -> float:
    """Fixed-fraction units scaled by ``target_vol_annual / vol_annual``.

    Parameters
    ----------
    equity_usd, risk_fraction, max_loss_per_unit_usd : float
        As for :func:`fixed_fraction_qty`.
    vol_annual : float
        The underlying's realised annualised volatility (> 0), e.g. 0.30.
    target_vol_annual : float
        The volatility each position targets (> 0), e.g. 0.15.

    Returns
    -------
    float
        ``floor(equity * risk_fraction * target / vol / max_loss)``.

    Examples
    --------
    >>> volatility_qty(100_000.0, 0.02, 100.0, 0.30, 0.15)
    10.0
    """
    equity = _positive("equity_usd", equity_usd)
    fraction = _positive("risk_fraction", risk_fraction)
    vol = _positive("vol_annual", vol_annual)
    target = _positive("target_vol_annual", target_vol_annual)
    return _units(equity * fraction * target / vol, max_loss_per_unit_usd)


def kelly_qty(
    equity_usd: float,
    max_loss_per_unit_usd: float,
    win_rate: float,
    payoff_ratio: float,
    cap: float = 0.25,
) -> float:
    """Whole units so that their max loss is the Kelly fraction of equity, at most ``cap``.

    The fraction is :func:`greekfire.analytics.performance.kelly_fraction` of ``win_rate`` and
    ``payoff_ratio`` (p - (1 - p) / b), capped at ``cap``; a negative edge sizes 0.

    Examples
    --------
    >>> kelly_qty(100_000.0, 1_000.0, 0.6, 2.0)  # f = 0.4, capped at 0.25
    25.0
    """
    # Imported here: the analytics kernels compile on first import, which the gate's other
    # rules never need.
    from greekfire.analytics.performance import kelly_fraction

    equity = _positive("equity_usd", equity_usd)
    fraction = float(kelly_fraction(win_rate=win_rate, payoff_ratio=payoff_ratio, cap=cap))
    if not math.isfinite(fraction) or fraction <= 0:
        return 0.0
    return _units(equity * fraction, max_loss_per_unit_usd)


def max_loss_per_unit(intent: OrderIntent, view: PortfolioView) -> float:
    """Dollars one unit of ``intent`` can lose at expiry: a spread at its max loss, a short put
    at ``(strike - credit) * 100``, a long option at its premium, stock at its notional, a
    covered call at 0, a naked short call ``inf``; NaN when a leg has no mark (and no limit
    price prices the whole order). See :mod:`greekfire.risk.view`."""
    return intent_max_loss_per_unit(intent, view)


@dataclass(frozen=True, slots=True)
class Sizing:
    """The outcome of sizing one intent.

    Attributes
    ----------
    qty : float
        Units the rule allows (``inf``: the rule does not bound it).
    rule : str
        The rule applied (``fixed_fraction``, ``volatility``, ``kelly``).
    detail : str
        The numbers behind it, for the decision's reasons.
    """

    qty: float
    rule: str
    detail: str


def _money(value: float) -> str:
    return f"${value:,.2f}"


def size_intent(intent: OrderIntent, view: PortfolioView, cfg: RiskConfig) -> Sizing:
    """Size ``intent`` by ``cfg.sizing`` on ``view``.

    Raises
    ------
    ValueError
        The max loss cannot be priced (a leg without a mark), the equity is not positive, the
        underlying has no realised volatility (volatility sizing), or a rule's input is bad.
    """
    loss = max_loss_per_unit(intent, view)
    if math.isnan(loss):
        legs = [leg.symbol for leg in intent.legs if view.mark(leg.symbol) is None]
        raise ValueError(f"max loss per unit cannot be priced: no mark for {legs}")
    equity = view.equity_usd
    loss_text = "unbounded" if math.isinf(loss) else _money(loss)
    base = f"equity {_money(equity)}, max loss {loss_text} per unit"
    if cfg.sizing == "volatility":
        underlying = instrument_for(intent.legs[0].symbol).underlying
        vol = view.vol_annual.get(underlying, math.nan)
        if not (math.isfinite(vol) and vol > 0):
            raise ValueError(f"vol_annual[{underlying!r}]: no realised volatility, got {vol!r}")
        qty = volatility_qty(equity, cfg.risk_fraction, loss, vol, cfg.target_vol_annual)
        return Sizing(
            qty,
            "volatility",
            f"{base}, risk {cfg.risk_fraction:g} x target vol {cfg.target_vol_annual:g}"
            f" / vol {vol:g}",
        )
    if cfg.sizing == "kelly":
        stats = view.strategy_stats.get(intent.strategy)
        if stats is not None and stats.trades >= cfg.kelly_min_trades:
            qty = kelly_qty(equity, loss, stats.win_rate, stats.payoff_ratio, cfg.kelly_cap)
            return Sizing(
                qty,
                "kelly",
                f"{base}, Kelly of win rate {stats.win_rate:g} and payoff {stats.payoff_ratio:g}"
                f" capped at {cfg.kelly_cap:g}",
            )
        trades = 0 if stats is None else stats.trades
        qty = fixed_fraction_qty(equity, cfg.risk_fraction, loss)
        return Sizing(
            qty,
            "fixed_fraction",
            f"{base}, risk {cfg.risk_fraction:g} (Kelly needs {cfg.kelly_min_trades} trades of"
            f" strategy {intent.strategy!r}, has {trades})",
        )
    qty = fixed_fraction_qty(equity, cfg.risk_fraction, loss)
    return Sizing(qty, "fixed_fraction", f"{base}, risk {cfg.risk_fraction:g}")
