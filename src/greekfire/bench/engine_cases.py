"""Case (o) of ``greekfire bench``: the full trading cycle against ``serve-market``.

One cycle of :class:`~greekfire.engine.engine.TradingEngine` (market data from the exchange
through the pipeline, streaming indicators, the momentum strategy on every symbol, risk,
orders, the journal, metrics; the Alpaca broker adapter against the exchange's trading desk)
for 5, 50 and 500 symbols, with 20 ms of latency injected by the exchange on every request.
``serve-market`` runs in its own process on loopback, its clock frozen in a session.

Rows:

greekfire
    The engine as configured by default, account/positions cache on (30 s TTL, a 5 s cycle).
greekfire_no_cache
    The same engine with the account cache off (TTL 0): every read reaches the broker.
brief
    The brief's way: one symbol after another, its bars (the lookback window) and its
    latest quote fetched anew every cycle over keep-alive HTTP, every indicator recomputed
    on the whole window (``technical_indicators``), the composite signal, then the account and
    positions read from the broker; no cache anywhere. Timed on the first symbols and
    extrapolated per symbol for 500.

The check (untimed) counts, at the exchange, the requests one steady-state cycle makes:
``api_calls_per_cycle`` (all) and ``broker_calls_per_cycle`` (the trading API), so the account
cache's saving is measured, not assumed.
"""

from __future__ import annotations

import atexit
import contextlib
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from greekfire.bench.contenders import Contender, Prepared, Results
from greekfire.bench.harness import CaseSpec, Target

if TYPE_CHECKING:
    from greekfire.exchange.server import RunningExchange

__all__ = ["CycleWorkload", "build_engine_cases", "close_engine_cases"]

_KEY = "bench"
_NOW = datetime(2025, 1, 2, 15, 30, tzinfo=UTC)  # Thursday 10:30 New York: the market is open
_INTERVAL_S = 5.0
_LOOKBACK_DAYS = 120
_LATENCY_MS = 20.0
_COUNT_CYCLES = 5
_BRIEF_SUBSAMPLE = 20


@dataclass(frozen=True, slots=True)
class CycleWorkload:
    """A cycle over ``symbols`` against an exchange serving ``universe`` symbols."""

    symbols: tuple[str, ...]
    universe: int
    latency_ms: float = _LATENCY_MS

    @property
    def n(self) -> int:
        """Symbols per cycle."""
        return len(self.symbols)

    def head(self, m: int) -> CycleWorkload:
        """The first ``m`` symbols."""
        return replace(self, symbols=self.symbols[:m])


_STACK = contextlib.ExitStack()
atexit.register(_STACK.close)
_EXCHANGES: dict[tuple[int, float], RunningExchange] = {}


def close_engine_cases() -> None:
    """Close the engines, clients and ``serve-market`` processes case (o) started."""
    _STACK.close()
    _EXCHANGES.clear()


def _exchange(universe: int, latency_ms: float) -> RunningExchange:
    key = (universe, latency_ms)
    running = _EXCHANGES.get(key)
    if running is None:
        from greekfire.exchange.config import ExchangeConfig
        from greekfire.exchange.faults import FaultConfig
        from greekfire.exchange.server import spawn

        config = ExchangeConfig(
            universe=universe,
            seed=42,
            key_id=_KEY,
            secret_key=_KEY,
            start=_NOW,
            speed=0.0,
            gzip=False,
            faults=FaultConfig(latency_ms=latency_ms, seed=1),
        )
        running = _STACK.enter_context(spawn(config, timeout_s=120.0))
        _EXCHANGES[key] = running
    return running


def _universe(n: int) -> tuple[str, ...]:
    from greekfire.exchange.config import ExchangeConfig

    return ExchangeConfig(universe=n).universe_symbols[:n]


def _requests(base_url: str) -> dict[str, int]:
    import httpx

    headers = {"APCA-API-KEY-ID": _KEY, "APCA-API-SECRET-KEY": _KEY}
    answer = httpx.get(f"{base_url}/_greekfire/stats", headers=headers, timeout=30.0)
    answer.raise_for_status()
    return {str(k): int(v) for k, v in answer.json()["by_path"].items()}


def _per_cycle(before: dict[str, int], after: dict[str, int], cycles: int) -> tuple[float, float]:
    diff = {p: after.get(p, 0) - before.get(p, 0) for p in after}
    diff.pop("/_greekfire/stats", None)
    total = sum(diff.values())
    broker = sum(v for p, v in diff.items() if not p.startswith(("/v2/stocks", "/v1beta1")))
    return total / cycles, broker / cycles


def _engine(w: CycleWorkload, base_url: str, cache_ttl_s: float) -> Any:
    from greekfire.engine.clock import SimulatedClock
    from greekfire.engine.engine import TradingEngine
    from greekfire.settings import Secrets, Settings

    workdir = Path(_STACK.enter_context(tempfile.TemporaryDirectory(prefix="gf-bench-")))
    settings = Settings.model_validate(
        {
            "engine": {
                "symbols": list(w.symbols),
                "clock": "simulated",
                "sim_start": _NOW.isoformat(),
                "interval_s": _INTERVAL_S,
                "lookback_bars": 60,
                "log_path": str(workdir / "log.jsonl"),
            },
            "data": {
                "provider": "alpaca",
                "data_url": base_url,
                "history_dir": str(workdir / "history"),
                "max_concurrent_requests": 50,
            },
            "broker": {
                "kind": "alpaca",
                "account_cache_ttl_s": cache_ttl_s,
                "alpaca": {"base_url": base_url},
            },
            "journal": {"path": str(workdir / "journal.db")},
            "strategies": [{"name": "momentum"}],
        }
    )
    secrets = Secrets.model_validate({"alpaca_key_id": _KEY, "alpaca_secret_key": _KEY})
    clock = SimulatedClock(_NOW)
    engine = TradingEngine(settings, secrets=secrets, clock=clock, workdir=workdir)
    _STACK.callback(engine.close)
    return engine, clock


def _prepare_engine(cache_ttl_s: float) -> Any:
    def prepare(w: CycleWorkload) -> Prepared:
        running = _exchange(w.universe, w.latency_ms)
        engine, clock = _engine(w, running.base_url, cache_ttl_s)
        last: dict[str, Any] = {}

        def call() -> None:
            clock.advance(_INTERVAL_S)
            report = engine.run_cycle()
            if report.errors:
                raise RuntimeError(f"cycle {report.cycle} had errors: {report.errors[:3]}")
            last["report"] = report

        for _ in range(2):  # history load, then one steady cycle (connections, caches)
            call()
        before = _requests(running.base_url)
        for _ in range(_COUNT_CYCLES):
            call()
        total, broker = _per_cycle(before, _requests(running.base_url), _COUNT_CYCLES)

        def results() -> Results:
            report = last["report"]
            return {
                "api_calls_per_cycle": np.array([total]),
                "broker_calls_per_cycle": np.array([broker]),
                "quotes": np.array([report.counts.get("quotes", 0)], dtype=np.float64),
            }

        return Prepared(call=call, results=results)

    return prepare


def _brief_cycle(w: CycleWorkload, base_url: str) -> tuple[Any, Any]:
    import httpx
    import orjson
    import pandas as pd

    from greekfire.analytics.indicators import technical_indicators

    headers = {"APCA-API-KEY-ID": _KEY, "APCA-API-SECRET-KEY": _KEY}
    client = _STACK.enter_context(httpx.Client(base_url=base_url, headers=headers, timeout=30.0))
    start = (_NOW - timedelta(days=_LOOKBACK_DAYS)).isoformat().replace("+00:00", "Z")
    specs = ["sma_20", "sma_50", "rsi_14", "macd_12_26_9", "bbands_20_2"]
    scores: dict[str, float] = {}

    def cycle() -> None:
        for symbol in w.symbols:
            bars = orjson.loads(
                client.get(
                    f"/v2/stocks/{symbol}/bars",
                    params={"timeframe": "1Day", "start": start, "limit": 10_000},
                ).content
            )["bars"]
            frame = pd.DataFrame(bars).rename(columns={"c": "close", "h": "high", "l": "low"})
            ind = technical_indicators(frame[["close", "high", "low"]], specs)
            orjson.loads(client.get(f"/v2/stocks/{symbol}/quotes/latest").content)
            row = ind.iloc[-1]
            votes = np.array(
                [
                    np.sign(row["sma_20"] - row["sma_50"]),
                    np.sign(row["macd_histogram"]),
                    1.0 if row["rsi_14"] < 30 else (-1.0 if row["rsi_14"] > 70 else 0.0),
                    -np.sign(row["bb_percent_b"] - 0.5),
                ]
            )
            scores[symbol] = float(votes.mean())
        client.get("/v2/account").raise_for_status()
        client.get("/v2/positions").raise_for_status()

    return cycle, scores


def prepare_brief(w: CycleWorkload) -> Prepared:
    """The brief's cycle: sequential fetch, full recomputation, no caches."""
    running = _exchange(w.universe, w.latency_ms)
    cycle, scores = _brief_cycle(w, running.base_url)
    cycle()
    before = _requests(running.base_url)
    cycle()
    total, broker = _per_cycle(before, _requests(running.base_url), 1)

    def results() -> Results:
        return {
            "api_calls_per_cycle": np.array([total]),
            "broker_calls_per_cycle": np.array([broker]),
            "quotes": np.array([float(len(scores))]),
        }

    return Prepared(call=cycle, results=results)


def check_cycle(w: CycleWorkload, results: Mapping[str, Results]) -> dict[str, dict[str, Any]]:
    """Requests per steady-state cycle, counted at the exchange, for each row."""
    out: dict[str, dict[str, Any]] = {}
    for key, res in results.items():
        scale = w.n / res["quotes"][0] if key == "brief" and res["quotes"][0] else 1.0
        total = float(res["api_calls_per_cycle"][0])
        broker = float(res["broker_calls_per_cycle"][0])
        out[key] = {
            # The brief's row ran on a subsample: its data requests scale with the symbols.
            "api_calls_per_cycle": round((total - broker) * scale + broker, 2),
            "broker_calls_per_cycle": round(broker, 2),
        }
    with_cache = out.get("greekfire", {}).get("broker_calls_per_cycle")
    without = out.get("greekfire_no_cache", {}).get("broker_calls_per_cycle")
    if with_cache is not None and without:
        out["greekfire"]["broker_calls_saved_by_cache"] = f"{1 - with_cache / without:.0%}"
    return out


def _constant(workload: CycleWorkload) -> Callable[[], CycleWorkload]:
    return lambda: workload


def build_engine_cases(symbols: tuple[int, ...] = (5, 50, 500)) -> list[CaseSpec[Any]]:
    """Case (o) at each symbol count; the target (<= 100 ms p50) is on the largest."""
    universe = max(symbols)
    names = _universe(universe)
    cases: list[CaseSpec[Any]] = []
    for n in symbols:
        workload = CycleWorkload(names[:n], universe)
        largest = n == universe
        cases.append(
            CaseSpec(
                key=f"o_cycle_{n}",
                short=f"(o) cycle {n}",
                title=f"(o) Full trading cycle, {n} symbols, {_LATENCY_MS:.0f} ms latency",
                description=(
                    "TradingEngine.run_cycle against serve-market on loopback (its own process, "
                    f"{_LATENCY_MS:.0f} ms per request): quotes, bars when one completed, "
                    "streaming indicators, momentum on every symbol, risk, orders, journal, "
                    "metrics, the Alpaca broker adapter. The brief: 3-5 s per cycle for 5 "
                    "symbols. API calls per cycle are counted at the exchange."
                ),
                make_workload=_constant(workload),
                contenders=(
                    Contender(
                        "greekfire",
                        "TradingEngine (account cache on)",
                        _prepare_engine(30.0),
                        slow=True,
                    ),
                    Contender(
                        "greekfire_no_cache",
                        "TradingEngine, account cache off",
                        _prepare_engine(0.0),
                        slow=True,
                    ),
                    Contender(
                        "brief",
                        "the brief's way: sequential, full recomputation, no caches",
                        prepare_brief,
                        subsample=_BRIEF_SUBSAMPLE if n > _BRIEF_SUBSAMPLE else None,
                        slow=True,
                    ),
                ),
                check=check_cycle,
                target=Target("median_ms", 100.0) if largest else None,
                unit="symbol",
                teardown=close_engine_cases if largest else None,
            )
        )
    return cases
