"""The fault-injection suite: the real bot against serve-market while the exchange misbehaves.

The bot is a real :class:`~greekfire.engine.engine.TradingEngine` driven by
:func:`~greekfire.engine.runner.run_continuous`: :class:`~greekfire.data.alpaca.AlpacaProvider`
data through the async pipeline (retries, breaker), :class:`~greekfire.broker.alpaca.AlpacaBroker`
on the exchange's trading desk, the SQLite journal, the momentum strategy on a 30-symbol
universe of 1-minute bars, a simulated clock. serve-market runs in a thread and its clock
follows the bot's (plus a skew the suite moves). The run goes through phases, each with its own
fault mix (:data:`PHASES`): latency spikes, 429 storms with ``Retry-After``, 5xx, hangs longer
than the client's timeout, malformed and truncated JSON, dropped connections, clock jumps (the
bot's clock jumping minutes mid-session, to the close and through the night, and over a
weekend; the exchange's clock jumping ahead of the bot's), faults on the trading API too, and
everything at once. The exchange's counters say what was injected; the bot's own metrics
(``api_requests``, ``api_retries``) and cycle reports say what it made of it.

Guarantees checked (each broken one is a ``failures`` entry, never an exception):

- no symbol silently dropped: in every trading cycle each symbol of the universe either got a
  fresh quote (the engine's snapshot holds a new quote object for it) or an entry of the
  cycle report's ``errors`` names it;
- no unhandled exception: ``run_continuous`` counts no failed cycle and runs every planned
  cycle; phase errors are counted by class;
- retries bounded: no pipeline request made more attempts than the engine's retry policy
  allows (``max_attempts`` = configured retries + 1);
- cadence: the p99 cycle wall time stays under the cycle interval, and no cycle exceeds the
  bound ``2 x (attempts x timeout + (attempts - 1) x max backoff)`` (two fetch rounds: a
  group, then its symbols one by one after a content error) plus the broker's timeout.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
import pandas as pd

from greekfire.reliability.result import Figure, SuiteResult

__all__ = [
    "PHASES",
    "CycleAudit",
    "Phase",
    "audit_cycle",
    "cadence_bound_s",
    "error_class",
    "run",
]

SUITE: Final = "faults"
START: Final = pd.Timestamp("2026-11-09T14:35:00+00:00")  # Monday 09:35 New York
INTERVAL_S: Final = 60.0
TIMEOUT_S: Final = 3.0
UNIVERSE: Final = 30
SYMBOLS_PER_REQUEST: Final = 10
_KEY, _SECRET = "faults-key", "faults-secret"
_TRADING_PATHS: Final = ("*",)
_TO_WEEKEND: Final = -1.0  # bot jump: to the next Saturday noon (the runner skips to Monday)
_TO_CLOSE: Final = -2.0  # bot jump: to 15:58 New York (the run crosses the close, overnight)
_CLASS_NAME = re.compile(r"^[A-Z][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Phase:
    """One stretch of the run with one fault mix.

    Attributes
    ----------
    name : str
    cycles : int
        Trading cycles in the full run (the short run scales them down).
    faults : mapping
        :class:`~greekfire.exchange.faults.FaultConfig` fields (``seed`` is added).
    bot_jumps_s : mapping of int to float
        After the phase's n-th trading cycle (1-based), the bot's clock jumps this many seconds
        forward (on top of the interval); ``-1`` means "to the next Saturday noon" (over a
        weekend), ``-2`` "to 15:58 New York" (the run then crosses the close and the night).
    exchange_jumps_s : mapping of int to float
        After the n-th trading cycle, the exchange's clock jumps this far ahead of the bot's.
    """

    name: str
    cycles: int
    faults: Mapping[str, Any]
    bot_jumps_s: Mapping[int, float] = field(default_factory=dict)
    exchange_jumps_s: Mapping[int, float] = field(default_factory=dict)


PHASES: Final = (
    Phase("baseline", 10, {}),
    Phase("latency", 30, {"latency_ms": 5.0, "jitter_ms": 150.0}),
    Phase(
        "rate_limit",
        30,
        {"rate_limit_rps": 20.0, "rate_limit_burst": 6, "retry_after_s": 1.0},
    ),
    Phase("server_errors", 40, {"error_rate": 0.12}),
    Phase("hangs", 30, {"hang_rate": 0.03, "hang_s": 4.0}),
    Phase("broken_json", 40, {"malformed_rate": 0.06, "truncate_rate": 0.06}),
    Phase("dropped", 40, {"drop_rate": 0.1}),
    Phase(
        "clock_jumps",
        40,
        {"error_rate": 0.03, "latency_ms": 2.0, "jitter_ms": 20.0},
        bot_jumps_s={5: 7 * 60.0, 12: 23 * 60.0, 18: _TO_CLOSE, 24: _TO_WEEKEND, 30: 3 * 60.0},
        exchange_jumps_s={8: 90.0, 25: 5 * 60.0},
    ),
    Phase(
        "trading_api",
        30,
        {"error_rate": 0.04, "drop_rate": 0.02, "malformed_rate": 0.02, "paths": _TRADING_PATHS},
    ),
    Phase(
        "everything",
        60,
        {
            "latency_ms": 2.0,
            "jitter_ms": 60.0,
            "rate_limit_rps": 60.0,
            "rate_limit_burst": 20,
            "retry_after_s": 1.0,
            "error_rate": 0.04,
            "hang_rate": 0.01,
            "hang_s": 4.0,
            "malformed_rate": 0.02,
            "truncate_rate": 0.02,
            "drop_rate": 0.03,
        },
        bot_jumps_s={15: 11 * 60.0},
    ),
)
"""The full run's phases, in order (short: a few cycles of each)."""


def error_class(error: str) -> str:
    """The exception class an engine error line names (``"quotes SPY: TimeoutError: ..."``
    gives ``"TimeoutError"``); ``"unknown"`` when none does."""
    for part in error.split(": ")[1:]:
        token = part.strip()
        if _CLASS_NAME.match(token):
            return token
    return "unknown"


def _named(symbol: str, errors: list[str]) -> bool:
    pattern = re.compile(rf"(?<![A-Za-z0-9.]){re.escape(symbol)}(?![A-Za-z0-9])")
    return any(pattern.search(e) for e in errors)


@dataclass(frozen=True, slots=True)
class CycleAudit:
    """One trading cycle's symbol accounting: fresh data, named errors, silently missing."""

    fresh: int
    named: int
    missing: tuple[str, ...]


def audit_cycle(
    symbols: tuple[str, ...],
    before: Mapping[str, object],
    after: Mapping[str, object],
    errors: list[str],
) -> CycleAudit:
    """Account for every symbol of one cycle.

    Parameters
    ----------
    symbols : tuple of str
        The universe.
    before, after : mapping of symbol to quote
        The engine's quotes before and after the cycle; a symbol has fresh data when its
        quote object changed.
    errors : list of str
        The cycle report's errors.

    Returns
    -------
    CycleAudit
        ``missing`` lists the symbols with neither fresh data nor an error naming them.
    """
    fresh = named = 0
    missing: list[str] = []
    for symbol in symbols:
        quote = after.get(symbol)
        if quote is not None and quote is not before.get(symbol):
            fresh += 1
        elif _named(symbol, errors):
            named += 1
        else:
            missing.append(symbol)
    return CycleAudit(fresh, named, tuple(missing))


def cadence_bound_s(
    max_attempts: int, timeout_s: float, max_delay_s: float, broker_timeout_s: float
) -> float:
    """The longest a cycle may take when every request exhausts its retries: two fetch rounds
    of ``max_attempts`` timeouts and ``max_attempts - 1`` capped backoffs, plus the broker's
    timeout once per attempt of its own (the broker is read alongside the data)."""
    if max_attempts < 1 or not (timeout_s > 0 and max_delay_s >= 0 and broker_timeout_s > 0):
        raise ValueError(
            "cadence_bound_s: expected max_attempts >= 1 and positive timeouts, got "
            f"{max_attempts!r}, {timeout_s!r}, {max_delay_s!r}, {broker_timeout_s!r}"
        )
    round_s = max_attempts * timeout_s + (max_attempts - 1) * max_delay_s
    return 2.0 * round_s + max_attempts * broker_timeout_s


class _PipelineTap:
    # Wraps the engine pipeline's fetch methods to see every FetchResult (attempts, retries).
    def __init__(self) -> None:
        self.max_attempts = 0
        self.retries = 0
        self.attempts = 0
        self.over: list[str] = []

    def attach(self, pipeline: Any, limit: int) -> None:
        for name in ("fetch_bars", "fetch_quotes", "fetch_chains"):
            setattr(pipeline, name, self._wrap(getattr(pipeline, name), name, limit))

    def _wrap(
        self, method: Callable[..., Awaitable[Any]], name: str, limit: int
    ) -> Callable[..., Awaitable[Any]]:
        async def tapped(*args: Any, **kwargs: Any) -> Any:
            result = await method(*args, **kwargs)
            # a group request's attempts are every symbol's: the max over symbols is per request
            for key, attempts in result.attempts.items():
                self.max_attempts = max(self.max_attempts, attempts)
                if attempts > limit:
                    self.over.append(f"{name} {key}: {attempts} attempts (limit {limit})")
            return result

        return tapped


@dataclass(slots=True)
class _PhaseLog:
    name: str
    cycles: int = 0
    skipped: int = 0
    requests: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    fresh: int = 0
    named: int = 0
    missing: int = 0
    cycle_ms: list[float] = field(default_factory=list)


@dataclass(slots=True)
class _Run:
    phases: list[_PhaseLog]
    missing_examples: list[str] = field(default_factory=list)
    trace: list[dict[str, Any]] = field(default_factory=list)
    summary_cycles: int = 0
    summary_failed: int = 0
    stopped_by: str = ""
    stats: dict[str, Any] = field(default_factory=dict)
    max_attempts_allowed: int = 0
    max_delay_s: float = 0.0
    tap: _PipelineTap = field(default_factory=_PipelineTap)
    planned: list[Phase] = field(default_factory=list)
    jumps: int = 0


def _plan(short: bool) -> list[Phase]:
    if not short:
        return list(PHASES)
    plan: list[Phase] = []
    for phase in PHASES:
        cycles = 3 if phase.name == "baseline" else 8 if phase.name == "clock_jumps" else 4
        # the jumps of the full run, moved onto the short phase's cycles
        bot = {min(k, cycles - 1): v for k, v in phase.bot_jumps_s.items()}
        exch = {min(k, cycles - 1): v for k, v in phase.exchange_jumps_s.items()}
        if phase.name == "clock_jumps":
            bot = {2: 7 * 60.0, 3: _TO_CLOSE, 5: _TO_WEEKEND, 6: 23 * 60.0}
            exch = {3: 90.0}
        plan.append(Phase(phase.name, cycles, phase.faults, bot, exch))
    return plan


def _next_saturday_noon(now: pd.Timestamp) -> pd.Timestamp:
    local = now.tz_convert("America/New_York")
    days = (5 - local.weekday()) % 7 or 7
    target = (local.normalize() + pd.Timedelta(days=days, hours=12)).tz_convert("UTC")
    return pd.Timestamp(target)


def _before_close(now: pd.Timestamp) -> pd.Timestamp:
    local = now.tz_convert("America/New_York").normalize()
    return pd.Timestamp((local + pd.Timedelta(hours=15, minutes=58)).tz_convert("UTC"))


class _Driver:
    # on_cycle callback: symbol accounting, phase switches (fault mixes) and clock jumps.
    def __init__(
        self,
        plan: list[Phase],
        run: _Run,
        engine: Any,
        control: httpx.Client,
        skew_ns: list[int],
        seed: int,
    ) -> None:
        self.plan, self.run, self.engine, self.control = plan, run, engine, control
        self.skew_ns, self.seed = skew_ns, seed
        self.index = 0
        self.in_phase = 0
        self.stop = threading.Event()
        self.symbols: tuple[str, ...] = tuple(engine.settings.engine.symbols)
        self.before: dict[str, object] = {}
        self._last_stats = self._stats()
        self.configure(0)

    def _stats(self) -> dict[str, Any]:
        data: dict[str, Any] = self.control.get("/_greekfire/stats").raise_for_status().json()
        return data

    def configure(self, index: int) -> None:
        phase = self.plan[index]
        body = {**phase.faults, "seed": self.seed + index}
        self.control.post("/_greekfire/faults", json=body).raise_for_status()

    def _close_phase(self) -> None:
        stats = self._stats()
        log = self.run.phases[self.index]
        old = self._last_stats
        log.requests = _data_requests(stats) - _data_requests(old)
        for kind, n in stats["by_fault"].items():
            if n > old["by_fault"].get(kind, 0):
                log.faults[kind] = n - old["by_fault"].get(kind, 0)
        self._last_stats = stats

    def __call__(self, report: Any) -> None:
        log = self.run.phases[self.index]
        after = dict(self.engine.snapshot.quotes)
        ms = report.timings_s.get("total", 0.0) * 1000.0
        for error in report.errors:
            log.errors[error_class(error)] += 1
        entry: dict[str, Any] = {
            "cycle": report.cycle,
            "phase": log.name,
            "ts": report.ts.isoformat(),
            "ms": round(ms, 3),
            "skipped": report.skipped,
            "errors": len(report.errors),
            "first_errors": [e[:200] for e in report.errors[:2]],
        }
        if report.skipped is None:
            audit = audit_cycle(self.symbols, self.before, after, report.errors)
            log.cycles += 1
            log.cycle_ms.append(ms)
            log.fresh += audit.fresh
            log.named += audit.named
            log.missing += len(audit.missing)
            if audit.missing and len(self.run.missing_examples) < 20:
                self.run.missing_examples.append(
                    f"cycle {report.cycle} ({log.name}): {list(audit.missing)[:5]}; "
                    f"errors {report.errors[:3]}"
                )
            entry.update(fresh=audit.fresh, named=audit.named, missing=len(audit.missing))
            self.in_phase += 1
            self._jump(self.plan[self.index])
        else:
            log.skipped += 1
        self.before = after
        self.run.trace.append(entry)
        if self.in_phase >= self.plan[self.index].cycles:
            self._close_phase()
            self.index += 1
            self.in_phase = 0
            if self.index >= len(self.plan):
                self.stop.set()
                self.index -= 1
            else:
                self.configure(self.index)

    def _jump(self, phase: Phase) -> None:
        clock = self.engine.clock
        bot = phase.bot_jumps_s.get(self.in_phase)
        if bot is not None:
            if bot == _TO_WEEKEND:
                clock.set(_next_saturday_noon(clock.now()))
            elif bot == _TO_CLOSE:
                clock.set(max(clock.now(), _before_close(clock.now())))
            else:
                clock.advance(bot)
            self.run.jumps += 1
        ahead = phase.exchange_jumps_s.get(self.in_phase)
        if ahead is not None:
            self.skew_ns[0] += int(ahead * 1e9)
            self.run.jumps += 1


def _counter_total(registry: Any, name: str) -> int:
    # The bot's own Prometheus counter (``greekfire_<name>_total``), summed over its labels.
    total = 0.0
    for family in registry.collect():
        if family.name in (name, f"greekfire_{name}"):
            total += sum(s.value for s in family.samples if s.name == f"{family.name}_total")
    return int(total)


def _drain_hangs(control: httpx.Client) -> None:
    # Faults off, then wait for requests still hanging to end (a hung request is counted as
    # status 0 when its connection closes), so the exchange stops without cancelling them.
    control.post("/_greekfire/faults", json={}).raise_for_status()
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        stats = control.get("/_greekfire/stats").raise_for_status().json()
        faults = stats["by_fault"]
        if stats["by_status"].get("0", 0) >= faults.get("hang", 0) + faults.get("drop", 0):
            return
        time.sleep(0.1)


def _data_requests(stats: Mapping[str, Any]) -> int:
    by_path: Mapping[str, int] = stats["by_path"]
    return sum(n for path, n in by_path.items() if not path.startswith("/_greekfire/"))


def _settings(workdir: Path, base_url: str, symbols: tuple[str, ...]) -> Any:
    from greekfire.settings import Settings

    return Settings.model_validate(
        {
            "engine": {
                "symbols": list(symbols),
                "clock": "simulated",
                "sim_start": START.isoformat(),
                "timeframe": "1m",
                "interval_s": INTERVAL_S,
                "lookback_bars": 60,
                "log_path": str(workdir / "logs" / "bot.jsonl"),
            },
            "data": {
                "provider": "alpaca",
                "data_url": base_url,
                "trading_url": base_url,
                "history_dir": None,
                "timeout_s": TIMEOUT_S,
            },
            "broker": {
                "kind": "alpaca",
                "account_cache_ttl_s": 0.0,
                "alpaca": {"base_url": base_url, "timeout_s": TIMEOUT_S},
            },
            "risk": {"risk_fraction": 0.05},
            "journal": {
                "path": str(workdir / "journal.db"),
                "dry_run_path": str(workdir / "dry.db"),
            },
            "strategies": [{"name": "momentum", "symbols": list(symbols)}],
        }
    )


def _drive(plan: list[Phase], run: _Run, workdir: Path, seed: int) -> None:
    from greekfire.data.alpaca import AlpacaCredentials, AlpacaProvider
    from greekfire.engine.clock import SimulatedClock
    from greekfire.engine.engine import TradingEngine
    from greekfire.engine.runner import run_continuous
    from greekfire.exchange.clock import SimClock
    from greekfire.exchange.config import ExchangeConfig
    from greekfire.exchange.server import serve_in_thread
    from greekfire.settings import Secrets

    config = ExchangeConfig(
        seed=seed, universe=UNIVERSE, key_id=_KEY, secret_key=_SECRET, start=START
    )
    clock = SimulatedClock(START)
    skew_ns = [0]
    exchange_clock = SimClock(START, wall_ns=lambda: clock.now_ns() + skew_ns[0])
    with serve_in_thread(config, clock=exchange_clock) as server:
        url = server.base_url
        settings = _settings(workdir, url, config.universe_symbols)
        secrets = Secrets.model_validate({"alpaca_key_id": _KEY, "alpaca_secret_key": _SECRET})
        provider = AlpacaProvider(
            AlpacaCredentials(_KEY, _SECRET),
            data_url=url,
            trading_url=url,
            timeout_s=TIMEOUT_S,
            max_symbols_per_request=SYMBOLS_PER_REQUEST,
            max_connections=settings.data.max_concurrent_requests,
        )
        with httpx.Client(base_url=url, headers=server.headers, timeout=30.0) as control:
            engine = TradingEngine(
                settings, secrets=secrets, clock=clock, provider=provider, workdir=workdir
            )
            retry = engine.pipeline.retry
            run.max_attempts_allowed = retry.max_attempts
            run.max_delay_s = retry.max_delay_s
            run.tap.attach(engine.pipeline, retry.max_attempts)
            driver = _Driver(plan, run, engine, control, skew_ns, seed)
            budget = sum(p.cycles for p in plan) * 3 + 20  # closed-market skips included
            summary = run_continuous(
                engine, INTERVAL_S, stop=driver.stop, on_cycle=driver, max_cycles=budget
            )
            if not driver.stop.is_set():
                driver._close_phase()
            _drain_hangs(control)
            run.tap.attempts = _counter_total(engine.monitor.registry, "api_requests")
            run.tap.retries = _counter_total(engine.monitor.registry, "api_retries")
            run.summary_cycles, run.summary_failed = summary.cycles, summary.failed
            run.stopped_by = summary.stopped_by
            run.stats = control.get("/_greekfire/stats").raise_for_status().json()
            run.stats.pop("bars_requests", None)


@contextlib.contextmanager
def _engine_log_to(path: Path) -> Iterator[None]:
    # The engine logs every phase error with its traceback: into a file, not the console.
    logger = logging.getLogger("greekfire")
    path.write_text("", encoding="utf-8")
    # Append mode: uvicorn's dictConfig closes every existing handler when the exchange starts,
    # and a closed handler reopens its file on the next record only in append mode.
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    propagate, level = logger.propagate, logger.level
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
        logger.setLevel(level)
        handler.close()


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(q / 100.0 * (len(ordered) - 1))))
    return ordered[rank]


def _plot(run: _Run, bound_s: float, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), constrained_layout=True)
    x = 0
    for log in run.phases:
        xs = list(range(x, x + len(log.cycle_ms)))
        top.scatter(xs, log.cycle_ms, s=6, label=log.name)
        x += len(log.cycle_ms)
    top.axhline(INTERVAL_S * 1000.0, color="black", linestyle="--", label="interval")
    top.axhline(bound_s * 1000.0, color="red", linestyle=":", label="retry bound")
    top.set_yscale("log")
    top.set_xlabel("trading cycle")
    top.set_ylabel("cycle wall time (ms)")
    top.set_title("Cycle time by fault phase")
    top.legend(fontsize=7, ncol=4)
    kinds = sorted({k for log in run.phases for k in log.faults})
    names = [log.name for log in run.phases]
    bottom_at = [0.0] * len(names)
    for kind in kinds:
        values = [float(log.faults.get(kind, 0)) for log in run.phases]
        bottom.bar(names, values, bottom=bottom_at, label=kind)
        bottom_at = [a + b for a, b in zip(bottom_at, values, strict=True)]
    bottom.set_ylabel("faults injected")
    bottom.set_title("Faults injected per phase (exchange counters)")
    bottom.tick_params(axis="x", labelrotation=30, labelsize=8)
    if kinds:
        bottom.legend(fontsize=7, ncol=4)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _figures(run: _Run, bound_s: float) -> tuple[list[Figure], list[str]]:
    stats = run.stats
    requests = _data_requests(stats)
    faults: Counter[str] = Counter(stats.get("by_fault", {}))
    errors: Counter[str] = Counter()
    cycle_ms: list[float] = []
    fresh = named = missing = skipped = 0
    for log in run.phases:
        errors.update(log.errors)
        cycle_ms.extend(log.cycle_ms)
        fresh, named = fresh + log.fresh, named + log.named
        missing, skipped = missing + log.missing, skipped + log.skipped
    p50, p99 = _percentile(cycle_ms, 50), _percentile(cycle_ms, 99)
    worst = max(cycle_ms, default=0.0)
    figures = [
        Figure("requests", requests, "requests", "HTTP requests the exchange answered (or not)"),
        Figure("faults_injected", sum(faults.values()), "faults", "faults the exchange injected"),
    ]
    for kind in ("rate_limit", "error", "hang", "malformed", "truncate", "drop"):
        figures.append(
            Figure(f"faults_{kind}", faults.get(kind, 0), "faults", f"{kind} faults injected")
        )
    figures += [
        Figure("clock_jumps", run.jumps, "jumps", "bot and exchange clock jumps made"),
        Figure("trading_cycles", len(cycle_ms), "cycles", "cycles with the market open"),
        Figure("closed_cycles", skipped, "cycles", "cycles skipped: market closed"),
        Figure("failed_cycles", run.summary_failed, "cycles", "cycles that raised (must be 0)"),
        Figure(
            "api_attempts",
            run.tap.attempts,
            "calls",
            "provider calls the pipeline made, retries included (bot's api_requests metric;"
            " a call may be several HTTP requests)",
        ),
        Figure("retries", run.tap.retries, "retries", "pipeline retries (bot's api_retries)"),
        Figure("max_attempts", run.tap.max_attempts, "attempts", "most attempts of one request"),
        Figure("max_attempts_allowed", run.max_attempts_allowed, "attempts", "retry policy cap"),
        Figure("errors_reported", sum(errors.values()), "errors", "cycle-report error lines"),
    ]
    for name, count in sorted(errors.items()):
        figures.append(Figure(f"errors_{name}", count, "errors", f"error lines naming {name}"))
    figures += [
        Figure("symbol_cycles_fresh", fresh, "symbol-cycles", "symbol x cycle with a new quote"),
        Figure("symbol_cycles_named_error", named, "symbol-cycles", "no data, error names it"),
        Figure("symbol_cycles_silent", missing, "symbol-cycles", "neither (must be 0)"),
        Figure("cycle_p50_ms", round(p50, 1), "ms", "median cycle wall time"),
        Figure("cycle_p99_ms", round(p99, 1), "ms", "99th percentile cycle wall time"),
        Figure("cycle_max_ms", round(worst, 1), "ms", "slowest cycle"),
        Figure("interval_ms", INTERVAL_S * 1000.0, "ms", "cycle interval"),
        Figure("cycle_bound_ms", bound_s * 1000.0, "ms", "retry x timeout bound of one cycle"),
    ]
    failures: list[str] = []
    if missing:
        failures.append(
            f"{missing} symbol-cycles had neither fresh data nor an error naming the symbol: "
            + " | ".join(run.missing_examples[:3])
        )
    if run.summary_failed:
        failures.append(f"{run.summary_failed} cycles raised out of run_cycle")
    planned = sum(p.cycles for p in run.planned)
    if len(cycle_ms) < planned:
        failures.append(f"the run stopped after {len(cycle_ms)} of {planned} trading cycles")
    if run.tap.over:
        failures.append(f"retries unbounded: {run.tap.over[:3]}")
    if p99 > INTERVAL_S * 1000.0:
        failures.append(f"cycle p99 {p99:.0f} ms exceeds the interval {INTERVAL_S:.0f} s")
    if worst > bound_s * 1000.0:
        failures.append(f"slowest cycle {worst:.0f} ms exceeds the bound {bound_s:.1f} s")
    if sum(faults.values()) == 0:
        failures.append("no fault was injected")
    return figures, failures


def run(out_dir: Path, *, short: bool = False, seed: int = 0) -> SuiteResult:
    """Run the fault-injection suite (see the module docstring).

    Parameters
    ----------
    out_dir : Path
        Where the journal, the trace (JSON) and the figure (PNG) go.
    short : bool, default False
        A few cycles per phase (``make test``) instead of the full run (>= 5,000 requests).
    seed : int, default 0
        Seed of the market and the fault sequences.

    Returns
    -------
    SuiteResult
        ``passed`` when every guarantee held; figures as listed in the module docstring.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: expected a whole number >= 0, got {seed!r}")
    started = time.perf_counter()
    out_dir = Path(out_dir)
    workdir = out_dir / "faults_work"
    shutil.rmtree(workdir, ignore_errors=True)  # a fresh journal: a rerun starts from cycle 1
    workdir.mkdir(parents=True)
    plan = _plan(short)
    state = _Run(phases=[_PhaseLog(p.name) for p in plan], planned=plan)
    bot_log = out_dir / "faults_bot.log"
    with _engine_log_to(bot_log):
        _drive(plan, state, workdir, seed)
    bound_s = cadence_bound_s(state.max_attempts_allowed, TIMEOUT_S, state.max_delay_s, TIMEOUT_S)
    figures, failures = _figures(state, bound_s)
    trace = out_dir / "faults_trace.json"
    per_phase = [
        {
            "phase": log.name,
            "trading_cycles": log.cycles,
            "closed_cycles": log.skipped,
            "requests": log.requests,
            "faults": dict(log.faults),
            "errors": dict(log.errors),
            "fresh": log.fresh,
            "named": log.named,
            "missing": log.missing,
            "cycle_p50_ms": round(_percentile(log.cycle_ms, 50), 1),
            "cycle_p99_ms": round(_percentile(log.cycle_ms, 99), 1),
        }
        for log in state.phases
    ]
    document = {"phases": per_phase, "exchange": state.stats, "cycles": state.trace}
    trace.write_text(json.dumps(document, indent=1, default=str) + "\n", encoding="utf-8")
    artifacts = [trace, _plot(state, bound_s, out_dir / "faults_cycle_time.png"), bot_log]
    return SuiteResult(
        suite=SUITE,
        passed=not failures,
        figures=figures,
        failures=failures,
        artifacts=artifacts,
        seconds=round(time.perf_counter() - started, 2),
        params={
            "short": short,
            "seed": seed,
            "universe": UNIVERSE,
            "interval_s": INTERVAL_S,
            "timeout_s": TIMEOUT_S,
            "symbols_per_request": SYMBOLS_PER_REQUEST,
            "phases": [{"name": p.name, "cycles": p.cycles, **dict(p.faults)} for p in plan],
            "stopped_by": state.stopped_by,
        },
    )
