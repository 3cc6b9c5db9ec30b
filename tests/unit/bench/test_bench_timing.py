"""The timing harness: order statistics, repeat policy, and measure() on a fake clock."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator

import pytest

from greekfire.bench.timing import RepeatPolicy, Timing, measure, median, quantile


def test_median_of_odd_count_is_middle_value() -> None:
    assert median([5, 1, 3]) == 3


def test_median_of_even_count_is_mean_of_middle_pair() -> None:
    assert median([4, 1, 3, 2]) == 2.5


def test_median_of_single_sample() -> None:
    assert median([7]) == 7


def test_median_ignores_one_outlier() -> None:
    assert median([10, 11, 12, 10_000]) == 11.5


def test_quantile_interpolates_between_order_statistics() -> None:
    samples = [0, 10, 20, 30, 40]
    assert quantile(samples, 0.0) == 0
    assert quantile(samples, 1.0) == 40
    assert quantile(samples, 0.25) == 10
    assert quantile(samples, 0.625) == 25


def test_quantile_rejects_empty_and_out_of_range() -> None:
    with pytest.raises(ValueError, match="at least one sample"):
        quantile([], 0.5)
    with pytest.raises(ValueError, match=r"q must be in \[0, 1\]"):
        quantile([1], 1.5)


def test_repeat_policy_fills_budget_within_bounds() -> None:
    policy = RepeatPolicy(min_repeats=15, max_repeats=100, budget_s=1.0)
    assert policy.repeats_for(1_000_000) == 100  # 1 ms calls: budget wants 1000, capped
    assert policy.repeats_for(20_000_000) == 50  # 20 ms calls: exactly the budget
    assert policy.repeats_for(2_000_000_000) == 15  # 2 s calls: the floor wins
    assert policy.repeats_for(0) == 100  # a zero-duration call does not divide by zero


@pytest.mark.parametrize(("lo", "hi", "warmup"), [(0, 5, 1), (6, 5, 1), (1, 5, 0)])
def test_repeat_policy_rejects_bad_bounds(lo: int, hi: int, warmup: int) -> None:
    with pytest.raises(ValueError, match="RepeatPolicy"):
        RepeatPolicy(min_repeats=lo, max_repeats=hi, budget_s=1.0, warmup=warmup)


def _fake_clock(durations: list[int]) -> Callable[[], int]:
    # Each call pair (start, stop) advances time by the next duration.
    def ticks() -> Iterator[int]:
        now = 0
        for d in durations:
            yield now
            now += d
            yield now

    it = ticks()
    return lambda: next(it)


def test_measure_discards_warmup_and_keeps_samples_in_order() -> None:
    calls: list[int] = []
    policy = RepeatPolicy(min_repeats=3, max_repeats=3, budget_s=1.0, warmup=2)
    clock = _fake_clock([999, 888, 30, 10, 20])
    timing = measure(lambda: calls.append(1), policy, clock=clock)
    assert len(calls) == 5
    assert timing.samples_ns == (30, 10, 20)
    assert timing.warmup == 2
    assert (timing.median_ns, timing.min_ns, timing.max_ns, timing.repeats) == (20, 10, 30, 3)


def test_measure_sizes_repeats_from_last_warmup_call() -> None:
    policy = RepeatPolicy(min_repeats=2, max_repeats=50, budget_s=1e-6, warmup=1)
    # 1 µs budget / 250 ns warm-up call = 4 samples.
    timing = measure(lambda: None, policy, clock=_fake_clock([250] * 5))
    assert timing.repeats == 4


def test_measure_restores_garbage_collector() -> None:
    assert gc.isenabled()
    seen: list[bool] = []
    measure(lambda: seen.append(gc.isenabled()), RepeatPolicy(2, 2, 0.0, warmup=1))
    assert seen == [False, False, False]
    assert gc.isenabled()


def test_timing_iqr_measures_spread() -> None:
    assert Timing(samples_ns=(10, 20, 30, 40, 50), warmup=1).iqr_ns == 20
    assert Timing(samples_ns=(7, 7, 7), warmup=1).iqr_ns == 0
