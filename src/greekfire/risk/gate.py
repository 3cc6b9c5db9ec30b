"""The pre-trade risk gate: every intent in, an approve/deny value with reasons out.

:meth:`RiskGate.check` never raises. It runs named checks in order and stops at the first
denial; a check that fails with an exception is itself a denial naming the check and the
error. Every reason starts with the check's name and states the value and the limit.

Opening intents (``intent.opening``):

1. ``input``: an :class:`OrderIntent` and a :class:`PortfolioView` with a finite equity;
2. ``kill_switch``: no new risk while :meth:`RiskGate.halt_reasons` is not empty (daily loss
   >= ``daily_loss_limit_fraction`` of the day-start equity, or drawdown from the equity peak
   >= ``max_drawdown_fraction``);
3. ``marks``: every leg has a finite mark;
4. ``sizing``: the quantity is lowered (never raised) to the configured rule
   (:mod:`greekfire.risk.sizing`); fewer than one unit is a denial;
5. ``max_positions``: a new symbol may not take the open positions beyond the limit;
6. ``symbol_exposure`` and 7. ``total_exposure``: gross exposure after the trade (per
   underlying, and in total; :mod:`greekfire.risk.view`) within its fraction of equity;
8. ``buying_power``: the intent's requirement (its max loss; stock at notional) within the
   account's buying power less what open opening orders reserve;
9. ``greeks``: the post-trade portfolio's net delta ($), gamma, vega per point and theta per
   day within :class:`~greekfire.risk.config.GreeksLimits`; options without Greeks are a
   denial.

Limits 5-9 deny only a trade that ends beyond the limit *and* makes that figure worse: a trade
that reduces an already-breached figure (a hedge) passes.

Closing intents (``opening`` False) reduce risk: they pass the kill switch and the limits and
are only checked against the positions they close (``closing``: each leg must reduce a held
position; the quantity is lowered to what is held).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from greekfire.domain.orders import OrderIntent
from greekfire.domain.portfolio import PortfolioGreeks
from greekfire.risk.config import RiskConfig
from greekfire.risk.sizing import size_intent
from greekfire.risk.view import PortfolioView, buying_power_per_unit, instrument

__all__ = ["CHECKS", "RiskDecision", "RiskGate"]

CHECKS: tuple[str, ...] = (
    "input",
    "kill_switch",
    "marks",
    "sizing",
    "max_positions",
    "symbol_exposure",
    "total_exposure",
    "buying_power",
    "greeks",
    "closing",
)
"""Names of every check, as they appear in :attr:`RiskDecision.checks` and in reasons."""

# Money comparisons allow half a cent, so a value equal to its limit to the cent passes.
_CENT_EPS = 0.005
_EPS = 1e-9


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _pct(value: float) -> str:
    return f"{value * 100:.2f} %"


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """The gate's answer for one intent.

    Attributes
    ----------
    approved : bool
    intent : OrderIntent
        The intent as asked (see :attr:`sized_intent` for the approved quantity).
    qty : float
        Units approved (0 when denied); never more than ``intent.qty``.
    reasons : tuple of str
        Why it was denied, or how it was changed (a lowered quantity); each starts with the
        check's name.
    checks : tuple of str
        The checks run, in order; when denied, the last one denied.
    denied_by : str
        The check that denied ("" when approved).
    """

    approved: bool
    intent: OrderIntent
    qty: float
    reasons: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    denied_by: str = ""

    @property
    def sized_intent(self) -> OrderIntent:
        """The intent with the approved quantity (the original when denied)."""
        if self.approved and self.qty != self.intent.qty:
            return replace(self.intent, qty=self.qty)
        return self.intent


@dataclass(slots=True)
class _Run:
    # One check() in progress: the quantity as lowered so far and the notes taken.
    intent: OrderIntent
    view: PortfolioView
    qty: float
    warm_greeks: bool = False
    notes: list[str] = field(default_factory=list)
    after: PortfolioView | None = None

    def post(self) -> PortfolioView:
        if self.after is None:
            # Figures computed on the view first are inherited by the what-if incrementally.
            self.view.exposure_by_underlying()
            if self.warm_greeks:
                _ = self.view.portfolio_greeks
            self.after = self.view.after(self.intent, self.qty)
        return self.after

    def underlyings(self) -> list[str]:
        return sorted({instrument(leg.symbol).underlying for leg in self.intent.legs})


_Check = Callable[["RiskGate", _Run], str | None]


class RiskGate:
    """Pure pre-trade checks on :class:`PortfolioView` snapshots (see the module docstring).

    Parameters
    ----------
    cfg : RiskConfig
        Limits and the sizing rule.
    """

    def __init__(self, cfg: RiskConfig) -> None:
        self.cfg = cfg

    # -- public ------------------------------------------------------------------------------

    def halt_reasons(self, view: PortfolioView) -> tuple[str, ...]:
        """Why new entries are halted (empty: trading normally); never raises.

        The daily loss limit compares ``day_start - equity`` with ``daily_loss_limit_fraction``
        of the day-start equity; the drawdown limit compares ``(peak - equity) / peak`` with
        ``max_drawdown_fraction``. Either at or beyond its limit halts.
        """
        try:
            return self._halt_reasons(view)
        except Exception as exc:  # the gate's contract: a value, never an exception
            return (f"kill_switch: cannot evaluate ({type(exc).__name__}: {exc})",)

    def check(self, intent: OrderIntent, view: PortfolioView) -> RiskDecision:
        """Approve (possibly with a lower quantity) or deny ``intent`` on ``view``; never
        raises: a bad input or a failing check is a denial with a reason.

        Parameters
        ----------
        intent : OrderIntent
        view : PortfolioView

        Returns
        -------
        RiskDecision
        """
        try:
            return self._check(intent, view)
        except Exception as exc:  # the gate's contract: a value, never an exception
            reason = f"input: cannot check ({type(exc).__name__}: {exc})"
            return RiskDecision(False, intent, 0.0, (reason,), ("input",), "input")

    def check_all(self, intents: Iterable[OrderIntent], view: PortfolioView) -> list[RiskDecision]:
        """:meth:`check` each intent in order; each approved one is booked into the view (as
        if filled at the marks, its buying power taken) before the next is checked."""
        decisions: list[RiskDecision] = []
        for intent in intents:
            decision = self.check(intent, view)
            decisions.append(decision)
            if decision.approved:
                try:
                    view = view.after(decision.sized_intent, decision.qty)
                except Exception:  # an exit without marks: the next checks see it unbooked
                    continue
        return decisions

    # -- the run -----------------------------------------------------------------------------

    def _check(self, intent: OrderIntent, view: PortfolioView) -> RiskDecision:
        problem = _input_problem(intent, view)
        if problem is not None:
            denial = f"input: {problem}"
            return RiskDecision(False, intent, 0.0, (denial,), ("input",), "input")
        run = _Run(intent, view, float(intent.qty), self._has_greeks_limits())
        steps = _OPENING if intent.opening else _CLOSING
        ran = ["input"]
        for name, step in steps:
            ran.append(name)
            reason: str | None
            try:
                reason = step(self, run)
            except Exception as exc:  # a failing check denies, naming itself and the error
                reason = f"{name}: check failed ({type(exc).__name__}: {exc})"
            if reason is not None:
                reasons = (*run.notes, reason)
                return RiskDecision(False, intent, 0.0, reasons, tuple(ran), name)
        return RiskDecision(True, intent, run.qty, tuple(run.notes), tuple(ran))

    def _halt_reasons(self, view: PortfolioView) -> tuple[str, ...]:
        equity = view.equity_usd
        if not math.isfinite(equity):
            return (f"equity is not a finite number: {equity!r}",)
        reasons: list[str] = []
        start = view.day_start_usd
        limit = self.cfg.daily_loss_limit_fraction
        if math.isfinite(start) and start > 0:
            loss = start - equity
            if loss >= limit * start - _CENT_EPS:
                reasons.append(
                    f"daily loss {_money(loss)} is {_pct(loss / start)} of the day-start equity"
                    f" {_money(start)}, at or beyond the limit {_pct(limit)}"
                )
        peak = view.peak_usd
        max_dd = self.cfg.max_drawdown_fraction
        if math.isfinite(peak) and peak > 0:
            drawdown = (peak - equity) / peak
            if drawdown >= max_dd - _EPS:
                reasons.append(
                    f"drawdown {_pct(drawdown)} from the equity peak {_money(peak)}, at or"
                    f" beyond the limit {_pct(max_dd)}"
                )
        if equity <= 0 and not reasons:
            reasons.append(f"equity {_money(equity)} is not positive")
        return tuple(reasons)

    def _has_greeks_limits(self) -> bool:
        limits = self.cfg.greeks
        return not (
            limits.max_abs_delta_usd is None
            and limits.max_abs_gamma_shares_per_usd is None
            and limits.max_abs_vega_per_point_usd is None
            and limits.min_theta_per_day_usd is None
        )

    # -- opening checks ----------------------------------------------------------------------

    def _kill_switch(self, run: _Run) -> str | None:
        reasons = self._halt_reasons(run.view)
        if reasons:
            return "kill_switch: entries halted: " + "; ".join(reasons)
        return None

    def _marks(self, run: _Run) -> str | None:
        missing = [leg.symbol for leg in run.intent.legs if run.view.mark(leg.symbol) is None]
        if missing:
            raw = {s: run.view.marks.get(s) for s in missing}
            return f"marks: no finite mark for {', '.join(missing)} (got {raw})"
        return None

    def _sizing(self, run: _Run) -> str | None:
        sizing = size_intent(run.intent, run.view, self.cfg)
        requested = run.qty
        allowed = min(requested, sizing.qty)
        if not allowed >= 1:
            shown = f"{sizing.qty:g}" if sizing.qty < requested else f"{requested:g}"
            return (
                f"sizing: {sizing.rule} allows {shown} units of {requested:g} requested, below"
                f" one unit ({sizing.detail})"
            )
        if allowed < requested:
            run.notes.append(
                f"sizing: qty lowered from {requested:g} to {allowed:g} by {sizing.rule}"
                f" ({sizing.detail})"
            )
            run.qty = allowed
        return None

    def _max_positions(self, run: _Run) -> str | None:
        before = run.view.held_symbols()
        after = run.post().held_symbols()
        limit = self.cfg.max_positions
        if len(after) > limit and len(after) > len(before):
            new = sorted(after - before)
            return (
                f"max_positions: {len(after)} open positions after the trade (new: "
                f"{', '.join(new)}) > limit {limit}"
            )
        return None

    def _symbol_exposure(self, run: _Run) -> str | None:
        equity = run.view.equity_usd
        fraction = self.cfg.max_symbol_exposure_fraction
        limit = fraction * equity
        pre = run.view.exposure_by_underlying()
        post = run.post().exposure_by_underlying()
        for underlying in run.underlyings():
            after = post.get(underlying, 0.0)
            before = pre.get(underlying, 0.0)
            if not math.isfinite(after) or (
                after > limit + _CENT_EPS and after > before + _CENT_EPS
            ):
                return (
                    f"symbol_exposure: {underlying} exposure {_money(after)} after the trade"
                    f" (now {_money(before)}) > limit {_money(limit)} ({_pct(fraction)} of"
                    f" equity {_money(equity)})"
                )
        return None

    def _total_exposure(self, run: _Run) -> str | None:
        equity = run.view.equity_usd
        fraction = self.cfg.max_total_exposure_fraction
        limit = fraction * equity
        before = sum(run.view.exposure_by_underlying().values())
        after = sum(run.post().exposure_by_underlying().values())
        if not math.isfinite(after) or (after > limit + _CENT_EPS and after > before + _CENT_EPS):
            return (
                f"total_exposure: gross exposure {_money(after)} after the trade (now"
                f" {_money(before)}) > limit {_money(limit)} ({_pct(fraction)} of equity"
                f" {_money(equity)})"
            )
        return None

    def _buying_power(self, run: _Run) -> str | None:
        per_unit = buying_power_per_unit(run.intent, run.view, run.qty)
        if not math.isfinite(per_unit):
            return (
                f"buying_power: requirement is {per_unit!r} per unit (an unbounded loss, e.g. a"
                " short call not covered by stock or a long call)"
            )
        required = per_unit * run.qty
        power = run.view.account.buying_power_usd
        reserved = run.view.reserved_usd() if self.cfg.reserve_open_orders else 0.0
        available = power - reserved
        if not (math.isfinite(available) and required <= available + _CENT_EPS):
            return (
                f"buying_power: needs {_money(required)} > available {_money(available)}"
                f" (buying power {_money(power)} less {_money(reserved)} reserved by open"
                " orders)"
            )
        return None

    def _greeks(self, run: _Run) -> str | None:
        if not self._has_greeks_limits():
            return None
        after_view = run.post()
        post = after_view.portfolio_greeks
        if post.missing:
            return f"greeks: no Greeks for {', '.join(post.missing)}"
        if self.cfg.greeks.max_abs_delta_usd is not None:
            touched = run.underlyings()
            unpriced = sorted(set(touched) - set(after_view.spots_or_marks(touched)))
            if unpriced:
                return f"greeks: no spot price for {', '.join(unpriced)} (delta in dollars)"
        return _greeks_breach(self.cfg, run.view.portfolio_greeks, post)

    # -- closing -----------------------------------------------------------------------------

    def _closing(self, run: _Run) -> str | None:
        most = math.inf
        for leg in run.intent.legs:
            position = run.view.positions.get(leg.symbol)
            if position is None:
                return f"closing: no position in {leg.symbol} to close"
            if leg.side.sign * position.qty > 0:
                return (
                    f"closing: {leg.side.value} {leg.symbol} would add to the position of"
                    f" {position.qty:g}, not close it"
                )
            most = min(most, abs(position.qty) / leg.ratio)
        if run.qty > most + _EPS:
            run.notes.append(f"closing: qty lowered from {run.qty:g} to {most:g}, the units held")
            run.qty = most
        return None


def _input_problem(intent: object, view: object) -> str | None:
    if not isinstance(intent, OrderIntent):
        return f"intent: expected an OrderIntent, got {type(intent).__name__}"
    if not isinstance(view, PortfolioView):
        return f"view: expected a PortfolioView, got {type(view).__name__}"
    if not (math.isfinite(intent.qty) and intent.qty > 0):
        return f"intent.qty: expected a finite number > 0, got {intent.qty!r}"
    equity = view.account.equity_usd
    if intent.opening and not math.isfinite(equity):
        return f"view.account.equity_usd: expected a finite amount, got {equity!r}"
    return None


def _worse(limit: float, before: float, after: float) -> bool:
    # Beyond the limit and further from zero than before: a hedge of a breach passes.
    return abs(after) > limit + _EPS and abs(after) > abs(before) + _EPS


def _greeks_breach(cfg: RiskConfig, pre: PortfolioGreeks, post: PortfolioGreeks) -> str | None:
    limits = cfg.greeks
    rows: list[tuple[float | None, float, float, str, Callable[[float], str]]] = [
        (limits.max_abs_delta_usd, pre.delta_usd, post.delta_usd, "net delta", _money),
        (
            limits.max_abs_gamma_shares_per_usd,
            pre.gamma_shares_per_usd,
            post.gamma_shares_per_usd,
            "net gamma (shares per $1)",
            lambda v: f"{v:,.4g}",
        ),
        (
            limits.max_abs_vega_per_point_usd,
            pre.vega_per_point_usd,
            post.vega_per_point_usd,
            "net vega per vol point",
            _money,
        ),
    ]
    for limit, before, after, label, fmt in rows:
        if limit is not None and (not math.isfinite(after) or _worse(limit, before, after)):
            return (
                f"greeks: {label} {fmt(after)} after the trade (now {fmt(before)}) beyond the"
                f" limit +/-{fmt(limit)}"
            )
    floor = limits.min_theta_per_day_usd
    theta_before, theta_after = pre.theta_per_day_usd, post.theta_per_day_usd
    if floor is not None and (
        not math.isfinite(theta_after)
        or (theta_after < floor - _EPS and theta_after < theta_before - _EPS)
    ):
        return (
            f"greeks: net theta per day {_money(theta_after)} after the trade (now"
            f" {_money(theta_before)}) below the limit {_money(floor)}"
        )
    return None


_OPENING: tuple[tuple[str, _Check], ...] = (
    ("kill_switch", RiskGate._kill_switch),
    ("marks", RiskGate._marks),
    ("sizing", RiskGate._sizing),
    ("max_positions", RiskGate._max_positions),
    ("symbol_exposure", RiskGate._symbol_exposure),
    ("total_exposure", RiskGate._total_exposure),
    ("buying_power", RiskGate._buying_power),
    ("greeks", RiskGate._greeks),
)
_CLOSING: tuple[tuple[str, _Check], ...] = (("closing", RiskGate._closing),)
