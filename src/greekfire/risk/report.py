"""The risk report (the brief's ``get_risk_report``), cached with a TTL.

:class:`RiskReporter` keeps the last report for ``ttl_s`` seconds of an injected timer and
drops it on :meth:`RiskReporter.invalidate`, which the engine calls on every order and fill
event: between events the report is reused instead of recomputed for every trade.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from types import MappingProxyType

from greekfire.domain.portfolio import PortfolioGreeks
from greekfire.risk.gate import RiskGate
from greekfire.risk.view import PortfolioView

__all__ = ["RiskReport", "RiskReporter", "build_report"]


@dataclass(frozen=True, slots=True)
class RiskReport:
    """The portfolio's risk at one moment.

    Attributes
    ----------
    ts_ns : int
        The snapshot's time (UTC ns).
    equity_usd, cash_usd, buying_power_usd : float
    exposure_by_underlying : mapping of underlying to dollars
        Gross exposure per underlying (rules in :mod:`greekfire.risk.view`).
    gross_exposure_usd : float
        Sum of the per-underlying exposures.
    net_exposure_usd : float
        Signed market value of the positions (long minus short).
    greeks : PortfolioGreeks
        Net delta (shares and $), gamma, vega per point, theta per day.
    day_pnl_usd : float
        Equity now minus the day-start equity (NaN without one).
    drawdown_fraction : float
        Below the equity peak, as a fraction of it.
    equity_peak_usd : float
    positions : int
        Open positions (symbols).
    halted : bool
        True while the kill switch stops new entries.
    halt_reasons : tuple of str
    utilisation : mapping of limit name to float
        Each configured limit's use, as a fraction of the limit (1.0 = at the limit):
        ``positions``, ``symbol_exposure`` (the largest underlying), ``total_exposure``,
        ``daily_loss``, ``drawdown``, ``buying_power`` (reserved by open orders), and the set
        Greeks limits ``delta_usd``, ``gamma``, ``vega``, ``theta`` (theta: loss per day over
        the allowed loss).
    """

    ts_ns: int
    equity_usd: float
    cash_usd: float
    buying_power_usd: float
    exposure_by_underlying: Mapping[str, float]
    gross_exposure_usd: float
    net_exposure_usd: float
    greeks: PortfolioGreeks
    day_pnl_usd: float
    drawdown_fraction: float
    equity_peak_usd: float
    positions: int
    halted: bool
    halt_reasons: tuple[str, ...]
    utilisation: Mapping[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """Plain values for JSON (mappings as dicts, Greeks as a dict)."""
        return {
            "ts_ns": self.ts_ns,
            "equity_usd": self.equity_usd,
            "cash_usd": self.cash_usd,
            "buying_power_usd": self.buying_power_usd,
            "exposure_by_underlying": dict(self.exposure_by_underlying),
            "gross_exposure_usd": self.gross_exposure_usd,
            "net_exposure_usd": self.net_exposure_usd,
            "greeks": asdict(self.greeks),
            "day_pnl_usd": self.day_pnl_usd,
            "drawdown_fraction": self.drawdown_fraction,
            "equity_peak_usd": self.equity_peak_usd,
            "positions": self.positions,
            "halted": self.halted,
            "halt_reasons": list(self.halt_reasons),
            "utilisation": dict(self.utilisation),
        }


def _ratio(used: float, limit: float) -> float:
    return used / limit if limit > 0 and math.isfinite(limit) else math.nan


def _utilisation(
    gate: RiskGate, view: PortfolioView, exposure: Mapping[str, float]
) -> dict[str, float]:
    cfg = gate.cfg
    equity = view.equity_usd
    out = {
        "positions": len(view.positions) / cfg.max_positions,
        "symbol_exposure": _ratio(
            max(exposure.values(), default=0.0), cfg.max_symbol_exposure_fraction * equity
        ),
        "total_exposure": _ratio(sum(exposure.values()), cfg.max_total_exposure_fraction * equity),
        "daily_loss": _ratio(
            max(0.0, -view.day_pnl_usd), cfg.daily_loss_limit_fraction * view.day_start_usd
        ),
        "drawdown": _ratio(view.drawdown_fraction, cfg.max_drawdown_fraction),
        "buying_power": _ratio(view.reserved_usd(), view.account.buying_power_usd),
    }
    greeks = view.portfolio_greeks
    limits = cfg.greeks
    if limits.max_abs_delta_usd is not None:
        out["delta_usd"] = abs(greeks.delta_usd) / limits.max_abs_delta_usd
    if limits.max_abs_gamma_shares_per_usd is not None:
        out["gamma"] = abs(greeks.gamma_shares_per_usd) / limits.max_abs_gamma_shares_per_usd
    if limits.max_abs_vega_per_point_usd is not None:
        out["vega"] = abs(greeks.vega_per_point_usd) / limits.max_abs_vega_per_point_usd
    floor = limits.min_theta_per_day_usd
    if floor is not None:
        out["theta"] = (
            _ratio(max(0.0, -greeks.theta_per_day_usd), -floor)
            if floor < 0
            else (math.inf if greeks.theta_per_day_usd < floor else 0.0)
        )
    return out


def build_report(gate: RiskGate, view: PortfolioView) -> RiskReport:
    """Compute the :class:`RiskReport` of ``view`` under ``gate``'s limits (uncached)."""
    exposure = view.exposure_by_underlying()
    net = 0.0
    for symbol, position in view.positions.items():
        mark = view.mark(symbol)
        net += position.market_value_usd(position.avg_cost if mark is None else mark)
    reasons = gate.halt_reasons(view)
    return RiskReport(
        ts_ns=view.ts_ns,
        equity_usd=view.equity_usd,
        cash_usd=view.account.cash_usd,
        buying_power_usd=view.account.buying_power_usd,
        exposure_by_underlying=MappingProxyType(exposure),
        gross_exposure_usd=sum(exposure.values()),
        net_exposure_usd=net,
        greeks=view.portfolio_greeks,
        day_pnl_usd=view.day_pnl_usd,
        drawdown_fraction=view.drawdown_fraction,
        equity_peak_usd=view.peak_usd,
        positions=len(view.positions),
        halted=bool(reasons),
        halt_reasons=reasons,
        utilisation=MappingProxyType(_utilisation(gate, view, exposure)),
    )


class RiskReporter:
    """The risk report, reused for ``ttl_s`` seconds and dropped on order and fill events.

    Parameters
    ----------
    gate : RiskGate
        Its limits and kill switch.
    ttl_s : float
        How long a report is reused (0: never).
    timer : callable returning float
        Seconds on a monotonic clock (injected: tests pass a fake one).
    """

    def __init__(self, gate: RiskGate, ttl_s: float, timer: Callable[[], float]) -> None:
        if not (math.isfinite(ttl_s) and ttl_s >= 0):
            raise ValueError(f"ttl_s: expected a finite number of seconds >= 0, got {ttl_s!r}")
        self.gate = gate
        self.ttl_s = float(ttl_s)
        self._timer = timer
        self._lock = threading.Lock()
        self._report: RiskReport | None = None
        self._expires = -math.inf
        self._hits = 0
        self._misses = 0
        self._invalidations = 0

    def get_risk_report(self, view: PortfolioView) -> RiskReport:
        """The cached report while it is fresh, else a new one computed from ``view``."""
        with self._lock:
            now = self._timer()
            if self._report is not None and now < self._expires:
                self._hits += 1
                return self._report
            self._misses += 1
        report = build_report(self.gate, view)
        with self._lock:
            self._report = report
            self._expires = now + self.ttl_s
        return report

    def invalidate(self) -> None:
        """Drop the cached report (call on every order and fill event)."""
        with self._lock:
            self._report = None
            self._expires = -math.inf
            self._invalidations += 1

    def stats(self) -> dict[str, float]:
        """``hits``, ``misses``, ``invalidations`` and ``hit_rate`` (NaN before any call)."""
        with self._lock:
            total = self._hits + self._misses
            return {
                "hits": self._hits,
                "misses": self._misses,
                "invalidations": self._invalidations,
                "hit_rate": self._hits / total if total else math.nan,
            }
