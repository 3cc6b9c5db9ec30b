"""Fees at their boundaries (rounding up, the TAF cap) and the fill-price rule."""

from __future__ import annotations

import math

import pytest

from greekfire.broker.config import FeeConfig, PaperBrokerConfig
from greekfire.broker.fees import FeeModel, SlippageModel, ceil_cents, floor_cents
from greekfire.domain.market import Quote
from greekfire.domain.orders import Side

OPTION = "SPY240405C00500000"
ONLY_TAF = FeeConfig(sec_fee_per_million_usd=0.0)


def quote(symbol: str, bid: float, ask: float) -> Quote:
    return Quote(symbol, 1, bid, ask, 1.0, 1.0)


def test_stock_buy_pays_no_regulatory_fee() -> None:
    assert FeeModel(FeeConfig()).fee_usd("SPY", Side.BUY, 100, 50.0) == 0.0


def test_stock_sell_pays_sec_and_taf_rounded_up() -> None:
    # SEC 5000 * 27.80e-6 = 0.139 -> 0.14; TAF 100 * 0.000166 = 0.0166 -> 0.02
    assert FeeModel(FeeConfig()).fee_usd("SPY", Side.SELL, 100, 50.0) == 0.16


@pytest.mark.parametrize(
    ("proceeds", "fee"),
    [(500.00, 0.01), (500.01, 0.02), (1_000_000.0, 20.0), (0.01, 0.01)],
)
def test_sec_fee_boundary(proceeds: float, fee: float) -> None:
    # $20 per million: $500.00 of sales owe exactly one cent, a cent more owes two.
    model = FeeModel(FeeConfig(sec_fee_per_million_usd=20.0, taf_per_share_usd=0.0))
    assert model.fee_usd("SPY", Side.SELL, 1, proceeds) == fee


@pytest.mark.parametrize(
    ("shares", "taf"),
    [(1, 0.01), (49_939, 8.29), (49_940, 8.30), (50_000, 8.30), (50_001, 8.30), (10**6, 8.30)],
)
def test_taf_per_share_and_its_cap(shares: int, taf: float) -> None:
    # 0.000166 * 49_939 = 8.2899 -> 8.29; * 49_940 = 8.29004 -> 8.30; the cap holds above.
    assert FeeModel(ONLY_TAF).fee_usd("SPY", Side.SELL, shares, 1.0) == taf


def test_taf_cap_is_configurable() -> None:
    model = FeeModel(FeeConfig(sec_fee_per_million_usd=0.0, taf_max_usd=1.00))
    assert model.fee_usd("SPY", Side.SELL, 10_000, 1.0) == 1.00
    assert model.fee_usd("SPY", Side.SELL, 6_000, 1.0) == 1.00  # 0.996 rounds up to the cap
    assert model.fee_usd("SPY", Side.SELL, 5_000, 1.0) == 0.83


def test_equity_commission_rounds_half_up_to_the_cent() -> None:
    model = FeeModel(FeeConfig(equity_commission_per_share_usd=0.005))
    assert model.fee_usd("SPY", Side.BUY, 1, 10.0) == 0.01
    assert model.fee_usd("SPY", Side.BUY, 3, 10.0) == 0.02  # 0.015
    assert model.fee_usd("SPY", Side.BUY, 200, 10.0) == 1.00


def test_option_buy_pays_commission_and_orf() -> None:
    # 3 * 0.65 = 1.95; ORF 3 * 0.02685 = 0.08055 -> 0.09
    assert FeeModel(FeeConfig()).fee_usd(OPTION, Side.BUY, 3, 2.00) == 2.04


def test_option_sell_adds_sec_on_premium_and_taf_per_contract() -> None:
    # + SEC 3 * 2.00 * 100 * 27.80e-6 = 0.01668 -> 0.02; + TAF 3 * 0.00279 = 0.00837 -> 0.01
    assert FeeModel(FeeConfig()).fee_usd(OPTION, Side.SELL, 3, 2.00) == 2.07


def test_orf_boundary() -> None:
    model = FeeModel(FeeConfig(option_commission_per_contract_usd=0.0, orf_per_contract_usd=0.02))
    assert model.fee_usd(OPTION, Side.BUY, 1, 1.0) == 0.02
    assert model.fee_usd(OPTION, Side.BUY, 10, 1.0) == 0.20


def test_fee_is_whole_cents() -> None:
    model = FeeModel(FeeConfig(equity_commission_per_share_usd=0.0035))
    for qty in (1, 7, 133, 999, 12_345):
        fee = model.fee_usd("SPY", Side.SELL, qty, 123.4567)
        assert fee == round(fee, 2)


@pytest.mark.parametrize(("field", "value"), [("qty", 0), ("qty", math.nan), ("price", -1.0)])
def test_bad_input_names_the_field(field: str, value: float) -> None:
    args = {"qty": 1.0, "price": 1.0, field: value}
    with pytest.raises(ValueError, match=field):
        FeeModel(FeeConfig()).fee_usd("SPY", Side.BUY, args["qty"], args["price"])


def test_rounding_helpers() -> None:
    assert ceil_cents(0.0100000001) == 0.01
    assert ceil_cents(0.0101) == 0.02
    assert floor_cents(1.0199999999) == 1.02
    assert floor_cents(1.019) == 1.01
    assert ceil_cents(-1.0) == floor_cents(-1.0) == 0.0


def test_equity_mid_with_slippage_bps() -> None:
    model = SlippageModel(PaperBrokerConfig(fill_at="mid", slippage_bps=10.0))
    q = quote("SPY", 99.95, 100.05)
    assert model.fill_price("SPY", Side.BUY, q) == pytest.approx(100.10)
    assert model.fill_price("SPY", Side.SELL, q) == pytest.approx(99.90)


def test_equity_touch_with_slippage_bps() -> None:
    model = SlippageModel(PaperBrokerConfig(fill_at="touch", slippage_bps=10.0))
    q = quote("SPY", 99.90, 100.00)
    assert model.fill_price("SPY", Side.BUY, q) == pytest.approx(100.10)
    assert model.fill_price("SPY", Side.SELL, q) == pytest.approx(99.8001)


def test_equity_without_slippage_is_the_quote() -> None:
    model = SlippageModel(PaperBrokerConfig(fill_at="touch", slippage_bps=0.0))
    q = quote("SPY", 99.90, 100.00)
    assert model.fill_price("SPY", Side.BUY, q) == 100.00
    assert model.fill_price("SPY", Side.SELL, q) == 99.90


def test_option_mid_rounds_against_the_order() -> None:
    model = SlippageModel(PaperBrokerConfig(fill_at="mid", option_slippage_fraction=0.0))
    q = quote(OPTION, 1.00, 1.05)  # mid 1.025
    assert model.fill_price(OPTION, Side.BUY, q) == 1.03
    assert model.fill_price(OPTION, Side.SELL, q) == 1.02


def test_option_slippage_is_a_fraction_of_the_spread() -> None:
    model = SlippageModel(PaperBrokerConfig(fill_at="mid", option_slippage_fraction=0.2))
    q = quote(OPTION, 1.00, 1.10)  # mid 1.05, 20 % of the spread = 0.02
    assert model.fill_price(OPTION, Side.BUY, q) == 1.07
    assert model.fill_price(OPTION, Side.SELL, q) == 1.03
    touch = SlippageModel(PaperBrokerConfig(fill_at="touch", option_slippage_fraction=0.5))
    assert touch.fill_price(OPTION, Side.BUY, q) == 1.15
    assert touch.fill_price(OPTION, Side.SELL, q) == 0.95


def test_option_price_never_negative() -> None:
    model = SlippageModel(PaperBrokerConfig(fill_at="touch", option_slippage_fraction=1.0))
    assert model.fill_price(OPTION, Side.SELL, quote(OPTION, 0.0, 0.05)) == 0.0
