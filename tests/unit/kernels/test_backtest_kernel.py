"""signal_portfolio against a slow pure-Python oracle of the same rules, plus named edge cases."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greekfire.kernels import backtest as kb

REL, ABS = 1e-9, 1e-12
MIN_SIZE = 1e-8


# --- the oracle: one symbol, one bar at a time, written from the rules in the module docstring


def _close(a: float, b: float) -> bool:
    if not (math.isfinite(a) and math.isfinite(b)):
        return False
    return a == b or abs(a - b) <= max(REL * max(abs(a), abs(b)), ABS)


def _plus(a: float, b: float) -> float:
    # a + b, snapped to 0 when the two cancel within tolerance
    opposite = np.sign(a) != np.sign(b)
    cancels = _close(abs(a), abs(b)) if opposite else _close(a + b, 0.0)
    return 0.0 if cancels else a + b


@dataclass
class Oracle:
    fees: float
    fixed: float
    slip: float
    cash: float
    pos: float = 0.0
    mark: float = math.nan
    trades: list[list[float]] = field(default_factory=list)
    cash_path: list[float] = field(default_factory=list)
    pos_path: list[float] = field(default_factory=list)
    value_path: list[float] = field(default_factory=list)

    def buy(self, t: int, p: float) -> None:
        self.cash = 0.0 if _close(self.cash, 0.0) else self.cash
        if math.isnan(p) or self.cash == 0.0:
            return
        spend = _plus(self.cash, -self.fixed) / (1.0 + self.fees)
        if spend <= 0.0:
            return
        fill = p * (1.0 + self.slip)
        size = spend / fill
        if size < MIN_SIZE and not _close(size, MIN_SIZE):
            return
        self.trades.append([t, -1, fill, math.nan, size, self.cash - spend, 0.0, math.nan])
        self.cash = _plus(self.cash, -self.cash)
        self.pos = _plus(0.0, size)

    def sell(self, t: int, p: float) -> None:
        self.cash = 0.0 if _close(self.cash, 0.0) else self.cash
        self.pos = 0.0 if _close(self.pos, 0.0) else self.pos
        if math.isnan(p) or self.pos == 0.0:
            return
        if self.pos < MIN_SIZE and not _close(self.pos, MIN_SIZE):
            return
        fill = p * (1.0 - self.slip)
        gross = self.pos * fill
        fee = gross * self.fees + self.fixed
        net = _plus(gross, -fee)
        if net < 0.0:
            return
        self.cash += net
        trade = self.trades[-1]
        trade[1], trade[3], trade[6] = t, fill, fee
        trade[7] = _plus(trade[4] * fill, -trade[4] * trade[2]) - trade[5] - fee
        self.pos = _plus(self.pos, -self.pos)

    def run(
        self, close: np.ndarray, price: np.ndarray, ent: np.ndarray, ex: np.ndarray, lag: int
    ) -> None:
        for t in range(len(close)):
            if not math.isnan(close[t]):
                self.mark = float(close[t])
            entry = t >= lag and bool(ent[t - lag])
            exit_ = t >= lag and bool(ex[t - lag])
            if entry and exit_:
                entry = exit_ = False
            if entry and self.pos == 0.0:
                self.buy(t, float(price[t]))
            elif exit_ and self.pos > 0.0:
                self.sell(t, float(price[t]))
            self.cash_path.append(self.cash)
            self.pos_path.append(self.pos)
            self.value_path.append(self.cash + self.pos * self.mark if self.pos else self.cash)
        if self.trades and self.trades[-1][1] < 0:
            trade = self.trades[-1]
            trade[3] = self.mark
            trade[7] = _plus(trade[4] * self.mark, -trade[4] * trade[2]) - trade[5]


# --- helpers


@dataclass
class Run:
    cash: np.ndarray
    pos: np.ndarray
    value: np.ndarray
    trades: np.ndarray
    n: np.ndarray


def run_kernel(
    close: np.ndarray,
    ent: np.ndarray,
    ex: np.ndarray,
    *,
    price: np.ndarray | None = None,
    lag: int = 0,
    fees: float = 0.0,
    fixed: float = 0.0,
    slip: float = 0.0,
    cash: float = 10_000.0,
) -> Run:
    close = np.ascontiguousarray(close, dtype=np.float64)
    rows, t_len = close.shape
    cap = max(int(ent.sum(axis=1).max()), 1)
    out = Run(
        np.empty((rows, t_len)),
        np.empty((rows, t_len)),
        np.empty((rows, t_len)),
        np.full((rows, cap, kb.N_TRADE_FIELDS), np.nan),
        np.zeros(rows, dtype=np.int64),
    )
    kb.signal_portfolio(
        close,
        close if price is None else np.ascontiguousarray(price),
        np.ascontiguousarray(ent),
        np.ascontiguousarray(ex),
        lag,
        fees,
        fixed,
        slip,
        cash,
        MIN_SIZE,
        out.cash,
        out.pos,
        out.value,
        out.trades,
        out.n,
    )
    return out


def assert_matches_oracle(
    close: np.ndarray,
    ent: np.ndarray,
    ex: np.ndarray,
    *,
    price: np.ndarray | None = None,
    lag: int = 0,
    fees: float = 0.0,
    fixed: float = 0.0,
    slip: float = 0.0,
    cash: float = 10_000.0,
) -> Run:
    got = run_kernel(
        close, ent, ex, price=price, lag=lag, fees=fees, fixed=fixed, slip=slip, cash=cash
    )
    fill = close if price is None else price
    for r in range(close.shape[0]):
        want = Oracle(fees, fixed, slip, cash)
        want.run(close[r], fill[r], ent[r], ex[r], lag)
        assert got.n[r] == len(want.trades), f"row {r}"
        np.testing.assert_array_equal(
            got.trades[r, : got.n[r]], np.array(want.trades).reshape(-1, 8)
        )
        np.testing.assert_array_equal(got.cash[r], want.cash_path)
        np.testing.assert_array_equal(got.pos[r], want.pos_path)
        np.testing.assert_array_equal(got.value[r], want.value_path)
    return got


def random_block(seed: int, rows: int, t_len: int, p: float = 0.1) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, (rows, t_len)), axis=1))
    opens = close * np.exp(rng.normal(0.0, 0.005, (rows, t_len)))
    return close, opens, rng.random((rows, t_len)) < p, rng.random((rows, t_len)) < p


# --- oracle agreement


@pytest.mark.parametrize(
    ("fees", "fixed", "slip"), [(0.0, 0.0, 0.0), (0.001, 1.0, 0.0), (0.0025, 5.0, 0.001)]
)
def test_matches_oracle_fill_on_close(fees: float, fixed: float, slip: float) -> None:
    close, _, ent, ex = random_block(1, 12, 400)
    got = assert_matches_oracle(close, ent, ex, fees=fees, fixed=fixed, slip=slip)
    assert got.n.sum() > 50  # the block really trades


def test_matches_oracle_fill_next_open() -> None:
    close, opens, ent, ex = random_block(2, 8, 300)
    assert_matches_oracle(close, ent, ex, price=opens, lag=1, fees=0.001, fixed=1.0, slip=5e-4)


def test_parallel_block_matches_oracle() -> None:
    # Big enough that a caller would run it on every thread; rows stay independent.
    close, _, ent, ex = random_block(3, 64, 512, p=0.05)
    assert_matches_oracle(close, ent, ex, fees=0.001, fixed=1.0)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    t_len=st.integers(1, 40),
    p=st.floats(0.0, 0.9),
    fees=st.sampled_from([0.0, 0.001, 0.05]),
    fixed=st.sampled_from([0.0, 1.0, 9_999.0, 20_000.0]),
    lag=st.sampled_from([0, 1]),
)
def test_matches_oracle_property(
    seed: int, t_len: int, p: float, fees: float, fixed: float, lag: int
) -> None:
    close, opens, ent, ex = random_block(seed, 3, t_len, p)
    price = opens if lag else None
    got = assert_matches_oracle(close, ent, ex, price=price, lag=lag, fees=fees, fixed=fixed)
    assert np.all(got.cash >= 0.0)  # fees never push cash below zero


# --- edge cases by name


def _one(values: list[float]) -> np.ndarray:
    return np.array([values], dtype=np.float64)


def _flags(*on: int, n: int) -> np.ndarray:
    out = np.zeros((1, n), dtype=bool)
    out[0, list(on)] = True
    return out


def test_round_trip_without_costs_is_the_price_ratio() -> None:
    close = _one([10.0, 11.0, 12.5, 9.0])
    got = run_kernel(close, _flags(0, n=4), _flags(2, n=4), cash=1_000.0)
    assert got.n[0] == 1
    entry, exit_, p_in, p_out, size, f_in, f_out, pnl = got.trades[0, 0]
    assert (entry, exit_, p_in, p_out, size, f_in, f_out) == (0, 2, 10.0, 12.5, 100.0, 0.0, 0.0)
    assert pnl == 250.0
    np.testing.assert_array_equal(got.value[0], [1_000.0, 1_100.0, 1_250.0, 1_250.0])
    np.testing.assert_array_equal(got.pos[0], [100.0, 100.0, 0.0, 0.0])


def test_fees_are_paid_out_of_the_cash() -> None:
    close = _one([100.0, 100.0])
    got = run_kernel(close, _flags(0, n=2), _flags(1, n=2), fees=0.01, fixed=1.0, cash=1_011.0)
    size = got.trades[0, 0, 4]
    assert size == pytest.approx(10.0, rel=1e-15)  # (1011 - 1) / 1.01 / 100
    assert got.cash[0, 0] == 0.0
    assert got.trades[0, 0, 5] == pytest.approx(11.0, rel=1e-12)
    assert got.trades[0, 0, 6] == pytest.approx(11.0, rel=1e-12)  # 1 % of 1000 + 1
    assert got.cash[0, 1] == pytest.approx(989.0, rel=1e-12)


def test_slippage_moves_both_fills_against_the_trader() -> None:
    close = _one([100.0, 100.0])
    got = run_kernel(close, _flags(0, n=2), _flags(1, n=2), slip=0.01, cash=1_010.0)
    assert got.trades[0, 0, 2] == 101.0
    assert got.trades[0, 0, 3] == 99.0
    assert got.value[0, 1] == pytest.approx(990.0, rel=1e-12)


def test_entry_and_exit_on_the_same_bar_cancel() -> None:
    close = _one([10.0, 11.0, 12.0])
    got = run_kernel(close, _flags(0, 1, n=3), _flags(1, n=3))
    assert got.n[0] == 1
    assert got.trades[0, 0, 1] == -1  # the exit on bar 1 was cancelled by the entry there


def test_signals_that_do_not_apply_are_ignored() -> None:
    close = _one([10.0, 11.0, 12.0, 13.0, 14.0])
    # exit while flat (bar 0), entry while long (bar 2), second exit while flat (bar 4)
    got = run_kernel(close, _flags(1, 2, n=5), _flags(0, 3, 4, n=5))
    assert got.n[0] == 1
    np.testing.assert_array_equal(got.trades[0, 0, :2], [1, 3])


def test_nan_fill_price_skips_the_order() -> None:
    close = _one([10.0, math.nan, 12.0, 13.0])
    got = run_kernel(close, _flags(1, n=4), _flags(3, n=4))
    assert got.n[0] == 0
    np.testing.assert_array_equal(got.value[0], 10_000.0)


def test_valuation_carries_the_last_close_over_a_nan() -> None:
    close = _one([10.0, 12.0, math.nan, 13.0])
    got = run_kernel(close, _flags(0, n=4), _flags(n=4), cash=100.0)
    np.testing.assert_array_equal(got.value[0], [100.0, 120.0, 120.0, 130.0])


def test_next_open_fills_one_bar_later_and_drops_the_last_signal() -> None:
    close = _one([10.0, 11.0, 12.0, 13.0])
    opens = _one([9.5, 10.5, 11.5, 12.5])
    got = run_kernel(close, _flags(0, 3, n=4), _flags(2, n=4), price=opens, lag=1, cash=105.0)
    assert got.n[0] == 1
    np.testing.assert_array_equal(got.trades[0, 0, :5], [1, 3, 10.5, 12.5, 10.0])
    assert got.pos[0, 0] == 0.0


def test_fixed_fee_at_or_above_the_cash_rejects_the_buy() -> None:
    close = _one([10.0, 11.0])
    got = run_kernel(close, _flags(0, n=2), _flags(1, n=2), fixed=100.0, cash=100.0)
    assert got.n[0] == 0
    np.testing.assert_array_equal(got.cash[0], 100.0)


def test_sell_that_cannot_cover_its_fees_keeps_the_position() -> None:
    close = _one([10.0, 0.01, 0.01])
    got = run_kernel(close, _flags(0, n=3), _flags(1, n=3), fixed=1.0, cash=11.0)
    assert got.trades[0, 0, 4] == pytest.approx(1.0)  # one share, its 0.01 cannot pay 1.0
    assert got.trades[0, 0, 1] == -1
    assert got.pos[0, 2] == got.pos[0, 0]


def test_open_trade_is_marked_at_the_last_close() -> None:
    close = _one([10.0, 20.0, math.nan])
    got = run_kernel(close, _flags(0, n=3), _flags(n=3), cash=100.0)
    rec = got.trades[0, 0]
    np.testing.assert_array_equal(rec[[1, 3, 6, 7]], [-1, 20.0, 0.0, 100.0])


def test_rows_are_independent() -> None:
    close, _, ent, ex = random_block(5, 4, 120)
    whole = run_kernel(close, ent, ex, fees=0.001, fixed=1.0)
    for r in range(4):
        alone = run_kernel(close[r : r + 1], ent[r : r + 1], ex[r : r + 1], fees=0.001, fixed=1.0)
        np.testing.assert_array_equal(alone.value[0], whole.value[r])
        np.testing.assert_array_equal(alone.trades[0, : alone.n[0]], whole.trades[r, : whole.n[r]])


# --- whole shares, booked as the paper broker books them


def _cents(x: float) -> float:
    # written from greekfire.domain.portfolio.cents' contract: half away from zero
    scaled = x * 100.0
    n = math.floor(abs(scaled) + 0.5 + 1e-7)
    return math.copysign(n, scaled) / 100.0 if n else 0.0


def _ceil_cents(x: float) -> float:
    return math.ceil(x * 100.0 - 1e-7) / 100.0 if x > 0 else 0.0


@dataclass
class WholeOracle:
    """One symbol in whole shares: the largest affordable q, whole-cent fees, cash in cents."""

    fees: float
    fixed: float
    comm: float
    sec: float
    taf: float
    taf_max: float
    cash: float
    pos: float = 0.0
    mark: float = math.nan
    trades: list[list[float]] = field(default_factory=list)
    cash_path: list[float] = field(default_factory=list)
    pos_path: list[float] = field(default_factory=list)
    value_path: list[float] = field(default_factory=list)

    def fee(self, sell: bool, q: float, p: float) -> float:
        fee = _cents(q * self.comm) + _cents(self.fixed + self.fees * (q * p))
        if sell:
            fee += _ceil_cents(q * p * self.sec / 1e6)
            fee += _ceil_cents(min(q * self.taf, self.taf_max))
        return _cents(fee)

    def run(
        self, close: np.ndarray, buy: np.ndarray, sell: np.ndarray, ent: np.ndarray, ex: np.ndarray
    ) -> None:
        self.cash = _cents(self.cash)
        for t in range(len(close)):
            if not math.isnan(close[t]):
                self.mark = float(close[t])
            entry, exit_ = bool(ent[t]), bool(ex[t])
            if entry and exit_:
                entry = exit_ = False
            if entry and self.pos == 0.0 and not math.isnan(buy[t]) and buy[t] > 0:
                p = float(buy[t])
                q = float(math.floor(self.cash / p))  # plain linear search down
                while q >= 1 and q * p + self.fee(False, q, p) > self.cash:
                    q -= 1
                if q >= 1:
                    f = self.fee(False, q, p)
                    self.cash = _cents(self.cash - q * p - f)
                    self.pos = q
                    self.trades.append([t, -1, p, math.nan, q, f, 0.0, math.nan])
            elif exit_ and self.pos > 0.0 and not math.isnan(sell[t]):
                p, q = float(sell[t]), self.pos
                f = self.fee(True, q, p)
                if not (q * p - f < -0.005 and self.cash + q * p - f < -0.005):
                    self.cash = _cents(self.cash + q * p - f)
                    self.pos = 0.0
                    tr = self.trades[-1]
                    tr[1], tr[3], tr[6] = t, p, f
                    tr[7] = _plus(q * p, -(q * tr[2])) - tr[5] - f
            self.cash_path.append(self.cash)
            self.pos_path.append(self.pos)
            self.value_path.append(self.cash + self.pos * self.mark if self.pos else self.cash)
        if self.trades and self.trades[-1][1] < 0:
            tr = self.trades[-1]
            tr[3] = self.mark
            tr[7] = _plus(tr[4] * self.mark, -tr[4] * tr[2]) - tr[5]


def run_whole(
    close: np.ndarray,
    ent: np.ndarray,
    ex: np.ndarray,
    *,
    buy: np.ndarray | None = None,
    sell: np.ndarray | None = None,
    fees: float = 0.0,
    fixed: float = 0.0,
    schedule: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0),
    cash: float = 10_000.0,
) -> Run:
    close = np.ascontiguousarray(close, dtype=np.float64)
    rows, t_len = close.shape
    cap = max(int(ent.sum(axis=1).max()), 1)
    out = Run(
        np.empty((rows, t_len)),
        np.empty((rows, t_len)),
        np.empty((rows, t_len)),
        np.full((rows, cap, kb.N_TRADE_FIELDS), np.nan),
        np.zeros(rows, dtype=np.int64),
    )
    kb.whole_share_portfolio(
        close,
        close if buy is None else np.ascontiguousarray(buy),
        close if sell is None else np.ascontiguousarray(sell),
        np.ascontiguousarray(ent),
        np.ascontiguousarray(ex),
        0,
        fees,
        fixed,
        *schedule,
        cash,
        out.cash,
        out.pos,
        out.value,
        out.trades,
        out.n,
    )
    return out


SCHEDULES = [
    (0.0, 0.0, 0.0, 0.0),
    (0.005, 27.80, 0.000166, 8.30),  # a commission per share and the paper defaults
    (0.0, 27.80, 0.000166, 0.01),  # the TAF capped at a cent
]


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize(("fees", "fixed"), [(0.0, 0.0), (0.001, 1.0)])
def test_whole_shares_match_the_oracle(
    schedule: tuple[float, float, float, float], fees: float, fixed: float
) -> None:
    close, opens, ent, ex = random_block(7, 10, 300)
    close = np.round(close, 2)
    buy, sell = np.round(opens * 1.0002, 4), np.round(opens * 0.9998, 4)
    got = run_whole(
        close, ent, ex, buy=buy, sell=sell, fees=fees, fixed=fixed, schedule=schedule, cash=9_999.99
    )
    assert got.n.sum() > 50
    for r in range(close.shape[0]):
        want = WholeOracle(fees, fixed, *schedule, cash=9_999.99)
        want.run(close[r], buy[r], sell[r], ent[r], ex[r])
        assert got.n[r] == len(want.trades), f"row {r}"
        np.testing.assert_array_equal(
            got.trades[r, : got.n[r]], np.array(want.trades).reshape(-1, 8)
        )
        np.testing.assert_array_equal(got.cash[r], want.cash_path)
        np.testing.assert_array_equal(got.pos[r], want.pos_path)
        np.testing.assert_array_equal(got.value[r], want.value_path)
    sizes = got.trades[:, :, 4][np.arange(got.trades.shape[1])[None, :] < got.n[:, None]]
    np.testing.assert_array_equal(sizes, np.floor(sizes))  # whole shares
    cents = got.cash * 100.0
    np.testing.assert_allclose(cents, np.round(cents), atol=1e-6)  # cash in whole cents
    assert np.all(got.cash >= 0.0)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    t_len=st.integers(1, 40),
    p=st.floats(0.0, 0.9),
    cash=st.sampled_from([0.5, 10.0, 999.99, 100_000.0]),
    fixed=st.sampled_from([0.0, 1.0, 500.0]),
    schedule=st.sampled_from(SCHEDULES),
)
def test_whole_shares_match_the_oracle_property(
    seed: int,
    t_len: int,
    p: float,
    cash: float,
    fixed: float,
    schedule: tuple[float, float, float, float],
) -> None:
    close, _, ent, ex = random_block(seed, 3, t_len, p)
    close = np.round(close, 2)
    got = run_whole(close, ent, ex, fixed=fixed, schedule=schedule, cash=cash)
    for r in range(3):
        want = WholeOracle(0.0, fixed, *schedule, cash=cash)
        want.run(close[r], close[r], close[r], ent[r], ex[r])
        assert got.n[r] == len(want.trades)
        np.testing.assert_array_equal(
            got.trades[r, : got.n[r]], np.array(want.trades).reshape(-1, 8)
        )
        np.testing.assert_array_equal(got.cash[r], want.cash_path)


def test_whole_shares_by_hand() -> None:
    close = _one([33.0, 40.0, 40.0])
    # 1,000 / 33 = 30.3: 30 shares, 10.00 left; sold at 40 for 1,200
    got = run_whole(close, _flags(0, n=3), _flags(1, n=3), cash=1_000.0)
    np.testing.assert_array_equal(got.trades[0, 0, :8], [0, 1, 33.0, 40.0, 30.0, 0.0, 0.0, 210.0])
    np.testing.assert_array_equal(got.cash[0], [10.0, 1_210.0, 1_210.0])
    np.testing.assert_array_equal(got.value[0], [1_000.0, 1_210.0, 1_210.0])


def test_whole_shares_leave_room_for_the_fees() -> None:
    close = _one([10.0, 10.0])
    # 100 shares cost 1,000 + 1.00 commission > 1,000: 99 shares, fee 0.99 (100 x 0.01 rounds
    # to 1.00 for 100, 0.99 for 99); the sale pays 0.99 + SEC 0.03 (ceil of 0.02752) + TAF 0.02
    got = run_whole(
        close, _flags(0, n=2), _flags(1, n=2), schedule=(0.01, 27.80, 0.000166, 8.30), cash=1_000.0
    )
    rec = got.trades[0, 0]
    assert rec[4] == 99.0
    assert rec[5] == 0.99
    assert rec[6] == 1.04
    assert got.cash[0, 0] == 9.01
    assert got.cash[0, 1] == _cents(9.01 + 990.0 - 1.04)


def test_whole_shares_too_little_cash_buys_nothing() -> None:
    close = _one([50.0, 60.0])
    got = run_whole(close, _flags(0, n=2), _flags(1, n=2), cash=49.99)
    assert got.n[0] == 0
    np.testing.assert_array_equal(got.cash[0], [49.99, 49.99])


def test_whole_shares_start_from_the_cash_in_cents() -> None:
    close = _one([10.0])
    got = run_whole(close, _flags(n=1), _flags(n=1), cash=100.004)
    assert got.cash[0, 0] == 100.0
