"""The risk report: its figures, and its TTL cache on a fake timer (hit, miss, expiry,
invalidate on order and fill events)."""

from __future__ import annotations

import math
from datetime import date

import pytest

from greekfire.domain.enums import OptionRight
from greekfire.domain.instruments import OptionContract
from greekfire.domain.portfolio import Account, OptionGreeks, Position
from greekfire.risk import GreeksLimits, PortfolioView, RiskConfig, RiskGate, RiskReporter

PUT = OptionContract("SPY", date(2026, 12, 18), 95.0, OptionRight.PUT).symbol


class FakeTimer:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def sample_view(equity: float = 98_000.0) -> PortfolioView:
    return PortfolioView(
        Account(50_000.0, equity, 40_000.0, last_equity_usd=100_000.0),
        positions={
            "SPY": Position("SPY", 100, 90.0),
            "QQQ": Position("QQQ", -10, 200.0),
            PUT: Position(PUT, -2, 2.5),
        },
        marks={"SPY": 100.0, "QQQ": 210.0, PUT: 2.0},
        spots={"SPY": 100.0, "QQQ": 210.0},
        greeks={PUT: OptionGreeks(-0.25, 0.03, -7.3, 0.12)},
        equity_peak_usd=105_000.0,
        ts_ns=42,
    )


def gate() -> RiskGate:
    return RiskGate(
        RiskConfig(
            max_positions=10,
            max_symbol_exposure_fraction=0.5,
            max_total_exposure_fraction=1.0,
            daily_loss_limit_fraction=0.04,
            max_drawdown_fraction=0.10,
            greeks=GreeksLimits(max_abs_delta_usd=20_000.0, min_theta_per_day_usd=-10.0),
        )
    )


def test_report_figures() -> None:
    report = RiskReporter(gate(), 5.0, FakeTimer()).get_risk_report(sample_view())
    # SPY: 100 shares ($10,000) + a short 95 put (95 x 100 x 2 = $19,000); QQQ: 10 x 210.
    assert dict(report.exposure_by_underlying) == {"SPY": 29_000.0, "QQQ": 2_100.0}
    assert report.gross_exposure_usd == 31_100.0
    assert report.net_exposure_usd == pytest.approx(10_000.0 - 2_100.0 - 400.0)
    assert report.greeks.delta_shares == pytest.approx(100 - 10 + 50)
    assert report.greeks.delta_usd == pytest.approx(10_000.0 - 2_100.0 + 5_000.0)
    assert report.day_pnl_usd == -2_000.0
    assert report.drawdown_fraction == pytest.approx(7_000.0 / 105_000.0)
    assert report.positions == 3
    assert not report.halted
    assert report.halt_reasons == ()
    use = report.utilisation
    assert use["positions"] == pytest.approx(0.3)
    assert use["symbol_exposure"] == pytest.approx(29_000.0 / 49_000.0)
    assert use["total_exposure"] == pytest.approx(31_100.0 / 98_000.0)
    assert use["daily_loss"] == pytest.approx(2_000.0 / 4_000.0)
    assert use["drawdown"] == pytest.approx((7_000.0 / 105_000.0) / 0.10)
    assert use["delta_usd"] == pytest.approx(12_900.0 / 20_000.0)
    assert use["theta"] == 0.0  # theta is +$4 a day: none of the allowed loss used
    assert report.as_dict()["halt_reasons"] == []


def test_report_shows_the_halt_and_its_reasons() -> None:
    report = RiskReporter(gate(), 5.0, FakeTimer()).get_risk_report(sample_view(94_000.0))
    assert report.halted
    assert any("daily loss $6,000.00" in r for r in report.halt_reasons)
    assert any("drawdown" in r for r in report.halt_reasons)
    assert report.utilisation["daily_loss"] == pytest.approx(1.5)


def test_cache_hit_within_the_ttl_and_miss_after_it() -> None:
    timer = FakeTimer()
    reporter = RiskReporter(gate(), 5.0, timer)
    first = reporter.get_risk_report(sample_view())
    timer.now += 4.999
    assert reporter.get_risk_report(sample_view(90_000.0)) is first  # cached: view ignored
    assert reporter.stats()["hits"] == 1
    assert reporter.stats()["misses"] == 1
    timer.now += 0.001
    fresh = reporter.get_risk_report(sample_view(90_000.0))
    assert fresh is not first
    assert fresh.equity_usd == 90_000.0
    assert reporter.stats() == {"hits": 1, "misses": 2, "invalidations": 0, "hit_rate": 1 / 3}


def test_invalidate_drops_the_report_at_once() -> None:
    timer = FakeTimer()
    reporter = RiskReporter(gate(), 60.0, timer)
    first = reporter.get_risk_report(sample_view())
    reporter.invalidate()  # an order or a fill
    second = reporter.get_risk_report(sample_view(97_000.0))
    assert second is not first
    assert second.equity_usd == 97_000.0
    assert reporter.get_risk_report(sample_view()) is second
    stats = reporter.stats()
    assert (stats["hits"], stats["misses"], stats["invalidations"]) == (1, 2, 1)


def test_zero_ttl_never_reuses_and_bad_ttl_is_refused() -> None:
    reporter = RiskReporter(gate(), 0.0, FakeTimer())
    assert reporter.get_risk_report(sample_view()) is not reporter.get_risk_report(sample_view())
    assert math.isnan(RiskReporter(gate(), 1.0, FakeTimer()).stats()["hit_rate"])
    with pytest.raises(ValueError, match=r"ttl_s.*-1"):
        RiskReporter(gate(), -1.0, FakeTimer())
