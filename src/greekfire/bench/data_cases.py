"""The market-data cases of ``greekfire bench``: the fetch pipeline against ``serve-market``.

Every fetch goes over loopback HTTP to ``greekfire serve-market`` running in a separate process
(the other core), with the latency the case names injected by the server per request.

(l) The brief's cycle: 8 symbols' last 30 daily bars at 100 ms latency. The brief measured
    1,000 ms+ sequential and < 200 ms async. Rows: the pipeline as it runs by default
    (symbols grouped into one request: Alpaca's multi-symbol bars endpoint), the pipeline with
    one request per symbol (8 in flight: the brief's design), and a sequential loop of
    keep-alive ``httpx`` requests. Target: < 200 ms.
(m) 500 symbols x 2,520 daily bars (10 years) at 50 ms latency with 50 requests in flight:
    the pipeline as it runs by default (symbols grouped, 3 per 10,000-bar page: 167
    requests) against the issue's ideal ``latency x ceil(N / 50)`` = 500 ms, target <= 1.15 x
    ideal; the same with 5 % of the requests answered 5xx by the server (retried: no symbol
    may be lost); the pipeline with one request per symbol (500 requests); sequential
    requests (timed on 20 symbols, extrapolated).
(n) Parsing: a 2,520-bar Alpaca bars body into columns, greekfire's parser (a numba scanner
    with an exact orjson fallback) vs ``orjson.loads`` plus per-field lists into numpy; unit
    "bar", so the table's ns/bar gives the throughput (bars/s = 1e9 / ns per bar).

Checks (untimed): every contender returns exactly the synthetic market's bars for every symbol
(no symbol lost, also with 5xx injected), and the parsers agree bit for bit.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from greekfire.bench.contenders import Contender, Prepared, Results
from greekfire.bench.harness import CaseSpec, Target

if TYPE_CHECKING:
    import pandas as pd

    from greekfire.bench.cases import Sizes
    from greekfire.exchange.server import RunningExchange

__all__ = [
    "FetchWorkload",
    "ParseWorkload",
    "build_data_cases",
    "close_exchanges",
    "exchange_for",
    "ideal_s",
]

_KEY = "bench"
_NOW = datetime(2025, 1, 2, 21, 0, tzinfo=UTC)  # the exchange's frozen clock: after a close
_SEQUENTIAL_SUBSAMPLE = 20
_PRICES = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True)
class FetchWorkload:
    """Daily bars of ``symbols`` over ``[start, end)`` from an exchange with ``latency_ms``."""

    symbols: tuple[str, ...]
    start: datetime
    end: datetime
    latency_ms: float
    concurrency: int
    universe: int
    error_rate: float = 0.0

    @property
    def n(self) -> int:
        """Symbols per sample."""
        return len(self.symbols)

    def head(self, m: int) -> FetchWorkload:
        """The first ``m`` symbols."""
        return replace(self, symbols=self.symbols[:m])


@dataclass(frozen=True, slots=True)
class ParseWorkload:
    """One Alpaca bars response body (a single symbol's ``bars``)."""

    body: bytes
    bars: int

    @property
    def n(self) -> int:
        """Bars per sample."""
        return self.bars

    def head(self, m: int) -> ParseWorkload:
        """The whole body (parsing is timed whole)."""
        return self


def ideal_s(w: FetchWorkload) -> float:
    """The ideal time: one latency per round of ``concurrency`` requests."""
    return w.latency_ms / 1000 * math.ceil(len(w.symbols) / w.concurrency)


def _universe(n: int) -> tuple[str, ...]:
    from greekfire.exchange.config import ExchangeConfig

    return ExchangeConfig(universe=n).universe_symbols[:n]


# --- the exchange process ------------------------------------------------------------------

_EXCHANGES: dict[tuple[int, float, float], RunningExchange] = {}
_STACK = contextlib.ExitStack()
atexit.register(_STACK.close)


def close_exchanges() -> None:
    """Close the cases' event loops and clients and stop their ``serve-market`` processes
    (the teardown of cases (l) and (m); also run at exit)."""
    _STACK.close()
    _EXCHANGES.clear()


def exchange_for(universe: int, latency_ms: float, error_rate: float = 0.0) -> RunningExchange:
    """A ``serve-market`` process (started once per setting, stopped at exit) serving a
    ``universe``-symbol market with the given latency and 5xx rate on market data."""
    key = (universe, latency_ms, error_rate)
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
            gzip=False,  # loopback: compression would only burn both cores
            warm=True,
            faults=FaultConfig(latency_ms=latency_ms, error_rate=error_rate, seed=1),
        )
        running = _STACK.enter_context(spawn(config, timeout_s=120.0))
        _EXCHANGES[key] = running
    return running


def _provider(base_url: str, max_symbols: int, pool: int) -> Any:
    from greekfire.data.alpaca import AlpacaCredentials, AlpacaProvider

    return AlpacaProvider(
        AlpacaCredentials(_KEY, _KEY),
        data_url=base_url,
        trading_url=base_url,
        max_symbols_per_request=max_symbols,
        max_connections=pool,
        timeout_s=30.0,
    )


class _Loop:
    """One event loop and one provider (one connection pool) kept across samples, as a
    running bot keeps them."""

    def __init__(self, base_url: str, max_symbols: int, pool: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.provider = _provider(base_url, max_symbols, pool)
        _STACK.callback(self.close)

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        if not self.loop.is_closed():
            self.loop.run_until_complete(self.provider.aclose())
            self.loop.close()


def _frames_results(
    out: list[Mapping[str, pd.DataFrame]], order: tuple[str, ...]
) -> Callable[[], Results]:
    # The symbols returned, in the workload's order (a subsample is a prefix of it).
    def results() -> Results:
        frames = out[0]
        names = [s for s in order if s in frames]
        if not names:
            return {"rows": np.zeros(0)}
        blocks = [frames[s][list(_PRICES)].to_numpy() for s in names]
        return {
            "rows": np.array([len(b) for b in blocks], dtype=np.float64),
            "values": np.concatenate(blocks).ravel(),
        }

    return results


def _pipeline(batch: bool) -> Callable[[FetchWorkload], Prepared]:
    def prepare(w: FetchWorkload) -> Prepared:
        from greekfire.data.pipeline import AsyncDataPipeline
        from greekfire.data.resilience import CircuitBreaker, RetryPolicy

        universe = w.universe
        running = exchange_for(universe, w.latency_ms, w.error_rate)
        # One request per symbol unless batching: then as many as one page holds.
        loop = _Loop(running.base_url, 100 if batch else 1, w.concurrency)
        pipe = AsyncDataPipeline(
            loop.provider,
            max_concurrent_requests=w.concurrency,
            timeout_s=30.0,
            retry=RetryPolicy(max_attempts=8, base_delay_s=0.01, max_delay_s=0.5),
            breaker=CircuitBreaker(failure_threshold=10_000, name="bench"),
            batch=batch,
        )
        symbols = list(w.symbols)
        out: list[Mapping[str, pd.DataFrame]] = [{}]

        def call() -> None:
            result = loop.run(pipe.fetch_bars(symbols, w.start, w.end, "1d"))
            if result.failures:
                first = next(iter(result.failures.items()))
                raise RuntimeError(f"{len(result.failures)} symbols failed, e.g. {first}")
            out[0] = result.data

        call()  # warm: the connections, the server's bar cache, numba's parser
        return Prepared(call=call, results=_frames_results(out, w.symbols))

    return prepare


def prepare_sequential(w: FetchWorkload) -> Prepared:
    """One keep-alive ``httpx.Client`` request after another, parsed with orjson."""
    import httpx
    import orjson
    import pandas as pd

    running = exchange_for(w.universe, w.latency_ms, w.error_rate)
    client = httpx.Client(base_url=running.base_url, headers=running.headers, timeout=30.0)
    _STACK.callback(client.close)
    day = 86_400 * 10**9
    params = {
        "timeframe": "1Day",
        "start": w.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end": (w.end - timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "limit": "10000",
    }
    symbols = list(w.symbols)
    out: list[Mapping[str, pd.DataFrame]] = [{}]

    def call() -> None:
        frames: dict[str, pd.DataFrame] = {}
        for symbol in symbols:
            response = client.get("/v2/stocks/bars", params={**params, "symbols": symbol})
            response.raise_for_status()
            rows = orjson.loads(response.content)["bars"].get(symbol, [])
            ts = pd.to_datetime([r["t"] for r in rows], utc=True).as_unit("ns")
            stamps = ts.asi8 - ts.asi8 % day
            frames[symbol] = pd.DataFrame(
                {k: np.array([r[k[0]] for r in rows], dtype=np.float64) for k in _PRICES},
                index=pd.DatetimeIndex(stamps.view("datetime64[ns]")).tz_localize("UTC"),
            )
        out[0] = frames

    call()
    return Prepared(call=call, results=_frames_results(out, w.symbols))


def check_fetch(w: FetchWorkload, results: Mapping[str, Results]) -> dict[str, dict[str, Any]]:
    """Every contender returns exactly the synthetic market's bars of every symbol."""
    from greekfire.sim.market import SyntheticMarket

    market = SyntheticMarket(list(_universe(w.universe)), seed=42)
    want_frames = market.bars(list(w.symbols), w.start.date(), w.end.date(), "1d")
    names = list(w.symbols)
    blocks = []
    for s in names:
        f = want_frames[s]
        f = f.loc[(f.index >= w.start) & (f.index < w.end)]
        blocks.append(f[list(_PRICES)].to_numpy())
    want_rows = np.array([len(b) for b in blocks], dtype=np.float64)
    want = np.concatenate(blocks).ravel()
    out: dict[str, dict[str, Any]] = {}
    for key, res in results.items():
        rows = res["rows"]
        n_symbols = len(rows)
        complete = n_symbols == len(names) or (n_symbols < len(names) and key == "sequential")
        prefix = want_rows[:n_symbols]
        same_rows = bool(np.array_equal(rows, prefix))
        same_values = same_rows and bool(
            np.array_equal(res.get("values", np.zeros(0)), want[: int(prefix.sum()) * 5])
        )
        out[key] = {
            "symbols": n_symbols,
            "bars": int(rows.sum()),
            "no_symbol_lost": complete,
            "equals_synthetic_market": same_values,
        }
    return out


# --- (n) parsing --------------------------------------------------------------------------


def _body(bars: int) -> bytes:
    import orjson

    rng = np.random.default_rng(3)
    close = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.01, bars))), 2)
    days = np.datetime64("2015-01-02") + np.arange(bars)
    rows = [
        {
            "t": f"{d}T05:00:00Z",
            "o": float(c),
            "h": float(round(c * 1.01, 2)),
            "l": float(round(c * 0.99, 2)),
            "c": float(c),
            "v": int(v),
            "n": int(v // 100),
            "vw": float(round(c * 1.001, 4)),
        }
        for d, c, v in zip(days, close, rng.integers(10**5, 10**7, bars), strict=True)
    ]
    return orjson.dumps({"bars": {"AAA": rows}, "next_page_token": None})


def prepare_parse_greekfire(w: ParseWorkload) -> Prepared:
    """greekfire's parser: the numba scanner (exact, orjson fallback)."""
    from greekfire.data.alpaca_wire import parse_bars_page

    out: list[Any] = [None]

    def call() -> None:
        out[0] = parse_bars_page(w.body, source="bench")

    call()

    def results() -> Results:
        raw = out[0].bars["AAA"]
        return {"ts": raw.ts_ns.astype(np.float64), "close": raw.close, "volume": raw.volume}

    return Prepared(call=call, results=results)


def prepare_parse_orjson(w: ParseWorkload) -> Prepared:
    """``orjson.loads``, then one list comprehension per field into numpy."""
    import orjson

    out: list[Results] = [{}]

    def call() -> None:
        rows = orjson.loads(w.body)["bars"]["AAA"]
        ts = np.array([r["t"][:-1] for r in rows], dtype="datetime64[ns]").astype(np.int64)
        out[0] = {
            "ts": ts.astype(np.float64),
            "open": np.array([r["o"] for r in rows], dtype=np.float64),
            "high": np.array([r["h"] for r in rows], dtype=np.float64),
            "low": np.array([r["l"] for r in rows], dtype=np.float64),
            "close": np.array([r["c"] for r in rows], dtype=np.float64),
            "volume": np.array([r["v"] for r in rows], dtype=np.float64),
        }

    call()
    return Prepared(
        call=call,
        results=lambda: {k: out[0][k] for k in ("ts", "close", "volume")},
    )


def check_parse(w: ParseWorkload, results: Mapping[str, Results]) -> dict[str, dict[str, Any]]:
    """The parsers agree bit for bit on timestamps, closes and volumes."""
    ref = results.get("orjson")
    out: dict[str, dict[str, Any]] = {}
    for key, res in results.items():
        same = ref is not None and all(
            np.array_equal(res[c].view(np.int64), ref[c].view(np.int64)) for c in ref
        )
        out[key] = {"bars": len(res["close"]), "equals_orjson": same}
    return out


# --- the cases ----------------------------------------------------------------------------


def build_data_cases(sizes: Sizes) -> list[CaseSpec[Any]]:
    """Return cases (l) to (n) at the given sizes (``sizes.fetch_symbols`` for (m))."""
    few = FetchWorkload(
        symbols=_universe(8),
        start=_NOW - timedelta(days=30),
        end=_NOW,
        latency_ms=100.0,
        concurrency=8,
        universe=8,
    )
    many = FetchWorkload(
        symbols=_universe(sizes.fetch_symbols),
        start=datetime(2015, 1, 1, tzinfo=UTC),
        end=datetime(2025, 1, 1, tzinfo=UTC),
        latency_ms=50.0,
        concurrency=50,
        universe=sizes.fetch_symbols,
    )
    flaky = replace(many, error_rate=0.05)
    brief: CaseSpec[FetchWorkload] = CaseSpec(
        key="l_fetch_8",
        short="(l) fetch 8 @100ms",
        title="(l) The brief's fetch: 8 symbols, 30 daily bars each, 100 ms latency",
        description=(
            "serve-market in its own process on loopback, 100 ms injected per request; the "
            "pipeline keeps one event loop and connection pool across samples. The brief: "
            "sequential 1,000 ms+, async < 200 ms."
        ),
        make_workload=lambda: few,
        contenders=(
            Contender(
                "greekfire",
                "AsyncDataPipeline (default: symbols grouped, one request)",
                _pipeline(True),
            ),
            Contender(
                "greekfire_per_symbol",
                "AsyncDataPipeline, one request per symbol (8 in flight)",
                _pipeline(False),
            ),
            Contender(
                "sequential",
                "sequential httpx requests (keep-alive) + orjson",
                prepare_sequential,
                slow=True,
            ),
        ),
        check=check_fetch,
        target=Target("median_ms", 200.0),
        unit="symbol",
        teardown=close_exchanges,
    )
    bulk: CaseSpec[FetchWorkload] = CaseSpec(
        key="m_fetch_500",
        short=f"(m) fetch {many.n}x2520",
        title=(
            f"(m) {many.n} symbols x 2,520 daily bars, 50 ms latency, 50 in flight "
            f"(ideal {ideal_s(many) * 1000:.0f} ms)"
        ),
        description=(
            f"Ideal = 50 ms x ceil({many.n} / 50) = {ideal_s(many) * 1000:.0f} ms; target "
            "<= 1.15 x ideal for the pipeline as it runs by default. The 5xx row's "
            "exchange answers 5 % of requests with 500/502/503/504 (retried with backoff; "
            "the check proves no symbol is lost). Sequential is timed on "
            f"{_SEQUENTIAL_SUBSAMPLE} symbols and extrapolated."
        ),
        make_workload=lambda: many,
        contenders=(
            Contender(
                "greekfire",
                "AsyncDataPipeline (default: 3 symbols per 10,000-bar page, 167 requests)",
                _pipeline(True),
                slow=True,
            ),
            Contender(
                "greekfire_5xx",
                "the same, 5 % of answers 5xx (retried)",
                lambda w: _pipeline(True)(flaky.head(w.n)),
                slow=True,
            ),
            Contender(
                "greekfire_per_symbol",
                "AsyncDataPipeline, one request per symbol (500 requests)",
                _pipeline(False),
                slow=True,
            ),
            Contender(
                "sequential",
                "sequential httpx requests (keep-alive) + orjson",
                prepare_sequential,
                subsample=_SEQUENTIAL_SUBSAMPLE,
                slow=True,
            ),
        ),
        check=check_fetch,
        target=Target("median_ms", 1.15 * ideal_s(many) * 1000),
        unit="symbol",
        teardown=close_exchanges,
    )
    parse: CaseSpec[ParseWorkload] = CaseSpec(
        key="n_parse_bars",
        short="(n) parse 2520 bars",
        title="(n) Parsing one 2,520-bar Alpaca bars body into columns",
        description=(
            "One symbol's 10 years of daily bars as Alpaca sends them (about 103 bytes per "
            "bar). bars/s = 1e9 / (ns per bar)."
        ),
        make_workload=lambda: ParseWorkload(_body(2_520), 2_520),
        contenders=(
            Contender(
                "greekfire", "greekfire parse_bars_page (numba scanner)", prepare_parse_greekfire
            ),
            Contender("orjson", "orjson.loads + per-field lists", prepare_parse_orjson),
        ),
        check=check_parse,
        unit="bar",
    )
    return [brief, bulk, parse]
