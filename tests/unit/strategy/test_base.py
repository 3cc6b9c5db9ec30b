"""The strategy base: ChainRequest, the read-only context, params validation, chain helpers."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from datetime import date

import pytest
from pydantic import Field

from greekfire.domain.config import Section
from greekfire.domain.enums import OptionRight
from greekfire.domain.market import Quote
from greekfire.domain.orders import OrderIntent, Side
from greekfire.domain.portfolio import Position
from greekfire.errors import ConfigError
from greekfire.strategy.base import ChainRequest, Strategy, StrategyContext
from greekfire.strategy.chains import (
    contract_bid_ask,
    days_to_expiry,
    liquid,
    pick_by_delta,
    prepared,
    round_to_tick,
)


class _Params(Section):
    lookback: int = Field(20, ge=2)
    threshold: float = 1.0


class _Probe(Strategy):
    kind = "probe"
    Params = _Params

    def on_cycle(self, ctx: StrategyContext) -> Sequence[OrderIntent]:
        return ()


# ChainRequest


def test_chain_request_parses_right_and_keeps_bounds() -> None:
    req = ChainRequest(7, 45, 0.8, 1.1, "put")  # type: ignore[arg-type]
    assert req.right is OptionRight.PUT
    assert (req.dte_min, req.dte_max, req.moneyness_min, req.moneyness_max) == (7, 45, 0.8, 1.1)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"dte_min": -1}, "dte_min"),
        ({"dte_min": 10, "dte_max": 5}, "dte_max"),
        ({"moneyness_min": 0.0}, "moneyness_min"),
        ({"moneyness_min": 1.2, "moneyness_max": 0.9}, "moneyness_min"),
    ],
)
def test_chain_request_rejects_bad_bounds_naming_the_field(
    kwargs: dict[str, float], field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        ChainRequest(**kwargs)  # type: ignore[arg-type]


# StrategyContext


def test_context_mappings_are_read_only_copies(b) -> None:
    positions = {"SPY": Position("SPY", 10, 100.0)}
    indicators = {"SPY": {"sma_20": 1.0}}
    ctx = StrategyContext(b.now_ns, positions=positions, indicators=indicators)
    positions["QQQ"] = Position("QQQ", 1, 1.0)
    indicators["SPY"]["sma_20"] = 99.0
    assert "QQQ" not in ctx.positions
    assert ctx.indicators["SPY"]["sma_20"] == 1.0
    with pytest.raises(TypeError):
        ctx.positions["X"] = Position("X")  # type: ignore[index]
    with pytest.raises(TypeError):
        ctx.indicators["SPY"]["sma_20"] = 2.0  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.now_ns = 0  # type: ignore[misc]


def test_context_rejects_a_non_integer_clock() -> None:
    with pytest.raises(TypeError, match="now_ns"):
        StrategyContext(1.5)  # type: ignore[arg-type]


def test_orders_on_matches_underlying_and_strategy(b) -> None:
    put = b.occ("SPY", b.mid, 95.0, "P")
    c = b.ctx().order(put, Side.SELL, strategy="wheel").order("QQQ", Side.BUY, strategy="mom")
    ctx = c.build()
    assert [o.symbol for o in ctx.orders_on("SPY")] == [put]
    assert ctx.orders_on("SPY", strategy="mom") == ()
    assert [o.symbol for o in ctx.orders_on("QQQ", strategy="mom")] == ["QQQ"]
    assert ctx.orders_on("IWM") == ()


def test_option_positions_lists_only_that_underlyings_options(b) -> None:
    put = b.occ("SPY", b.mid, 95.0, "P")
    qqq_call = b.occ("QQQ", b.mid, 95.0, "C")
    ctx = b.ctx().hold("SPY", 100, 90.0).hold(put, -1, 1.2).hold(qqq_call, 1, 2.0).build()
    found = ctx.option_positions("SPY")
    assert [(c.symbol, p.qty) for c, p in found] == [(put, -1)]


def test_last_price_prefers_quote_mid_then_bar_close(b) -> None:
    quote = Quote("SPY", b.now_ns, 99.0, 101.0, 1, 1)
    bars = {"SPY": b.bars([90.0, 95.0])}
    assert StrategyContext(b.now_ns, quotes={"SPY": quote}, bars=bars).last_price("SPY") == 100.0
    assert StrategyContext(b.now_ns, bars=bars).last_price("SPY") == 95.0
    assert math.isnan(StrategyContext(b.now_ns).last_price("SPY"))


# Params validation


def test_params_defaults_and_values() -> None:
    s = _Probe("p", ["SPY"], {"lookback": 5})
    assert s.params == _Params(lookback=5, threshold=1.0)
    assert s.symbols == ("SPY",)


def test_bad_param_names_params_field_and_value() -> None:
    with pytest.raises(ConfigError) as info:
        _Probe("p", ["SPY"], {"lookback": 1})
    assert info.value.field == "params.lookback"
    assert "got 1" in str(info.value)


def test_unknown_param_is_rejected_with_the_valid_names() -> None:
    with pytest.raises(ConfigError) as info:
        _Probe("p", ["SPY"], {"lookbak": 5})
    assert info.value.field == "params.lookbak"
    assert "lookback" in str(info.value)
    assert "got 5" in str(info.value)


def test_default_hooks_ask_for_nothing() -> None:
    s = _Probe("p", ["SPY"])
    assert s.chain_request("SPY") is None
    assert s.warmup_bars == 0
    assert s.indicators == ()
    intent = s.single("SPY", Side.BUY, 3, reason="r", opening=True)
    assert intent.strategy == "p"
    assert intent.qty == 3
    assert intent.opening


# chain helpers


def test_days_to_expiry_counts_to_the_4pm_new_york_close(b) -> None:
    # 2026-03-02 15:00 UTC -> 2026-03-06 21:00 UTC (16:00 EST) is 4 days 6 hours
    assert days_to_expiry(date(2026, 3, 6), b.now_ns) == pytest.approx(4.25)
    # after the DST switch 16:00 New York is 20:00 UTC
    assert days_to_expiry(date(2026, 4, 10), b.now_ns) == pytest.approx(39 + 5 / 24)
    assert days_to_expiry(date(2026, 3, 1), b.now_ns) < 0


def test_prepared_adds_mid_spread_dte_to_a_raw_chain(b) -> None:
    raw = b.chain(engine_columns=False)
    assert "dte" not in raw
    out = prepared(raw, b.now_ns)
    assert out["mid"].iloc[0] == pytest.approx((raw["bid"].iloc[0] + raw["ask"].iloc[0]) / 2)
    assert out["spread"].iloc[0] == pytest.approx(raw["ask"].iloc[0] - raw["bid"].iloc[0])
    assert sorted(set(out["dte"].round(2))) == [4.25, 25.21, 39.21]


def test_liquid_drops_wide_and_thin_contracts(b) -> None:
    chain = b.chain(expiries=[b.mid], strikes=[95, 100])
    wide = b.occ("SPY", b.mid, 95.0, "P")
    thin = b.occ("SPY", b.mid, 100.0, "P")
    chain.loc[chain["contract"] == wide, ["bid", "ask"]] = [1.0, 2.0]
    chain.loc[chain["contract"] == thin, "open_interest"] = 10.0
    kept = set(liquid(chain, max_spread_fraction=0.1, min_open_interest=100)["contract"])
    assert wide not in kept
    assert thin not in kept
    assert len(kept) == 2  # both calls


def test_pick_by_delta_nearest_target_in_window(b) -> None:
    chain = b.chain()
    row = pick_by_delta(
        chain,
        now_ns=b.now_ns,
        right=OptionRight.PUT,
        target_abs_delta=0.30,
        dte_min=20,
        dte_max=30,
        max_spread_fraction=0.2,
        min_open_interest=100,
    )
    assert row is not None
    puts = chain[(chain["right"] == -1) & (chain["dte"].between(20, 30))]
    best = (puts["delta"].abs() - 0.30).abs().min()
    assert abs(abs(row["delta"]) - 0.30) == pytest.approx(best)
    assert row["expiry"].date() == b.mid
    none = pick_by_delta(
        chain,
        now_ns=b.now_ns,
        right=OptionRight.PUT,
        target_abs_delta=0.3,
        dte_min=50,
        dte_max=60,
        max_spread_fraction=0.2,
        min_open_interest=100,
    )
    assert none is None


def test_round_to_tick() -> None:
    assert round_to_tick(1.234, 0.01) == 1.23
    assert round_to_tick(1.235, 0.05) == 1.25
    assert round_to_tick(1.201, 0.05, up=True) == 1.25
    assert round_to_tick(1.249, 0.05, up=False) == 1.20
    assert round_to_tick(1.20, 0.05, up=True) == 1.20


def test_bid_ask_from_quote_else_chain(b) -> None:
    sym = b.occ("SPY", b.mid, 95.0, "P")
    chain = b.chain(expiries=[b.mid], strikes=[95])
    row = chain[chain["contract"] == sym].iloc[0]
    ctx = StrategyContext(b.now_ns, chains={"SPY": chain})
    assert contract_bid_ask(ctx, sym, "SPY") == (row["bid"], row["ask"])
    quoted = StrategyContext(
        b.now_ns, chains={"SPY": chain}, quotes={sym: Quote(sym, b.now_ns, 0.5, 0.6, 1, 1)}
    )
    assert contract_bid_ask(quoted, sym, "SPY") == (0.5, 0.6)
    assert all(math.isnan(x) for x in contract_bid_ask(StrategyContext(b.now_ns), sym, "SPY"))
