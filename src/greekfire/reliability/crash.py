"""Crash recovery under an order flood: the bot SIGKILLed at random points, restarted, checked.

The set-up
    ``serve-market`` (its own process, a real-time clock from a Monday 09:35 New York open)
    is the exchange and the source of truth. The bot is the real ``greekfire run`` in a child
    process: :class:`AlpacaBroker` and the Alpaca data provider against the exchange, a
    simulated clock and :class:`FloodStrategy`, which sends one order per symbol and cycle
    across 20 symbols (buy 1 share, or sell 1 when 2 are held). At every start the bot's
    clock resumes a second after the latest time its journal holds (a restarted bot's clock
    never runs backwards) and at least an hour ahead of the exchange's.
Each round
    1. **Kill**: the bot is started and dies by SIGKILL at a point drawn from the seed:
       ``after_intent`` (``GREEKFIRE_FAULT_KILL_AFTER_INTENT``: right after the first
       write-ahead intent, before the order is sent), ``in_flush``
       (``GREEKFIRE_FAULT_KILL_IN_FLUSH=N``: inside the ``N``-th batched journal write, before
       its ``COMMIT``) or ``wall_delay`` (SIGKILL from outside after a random wall delay: in
       start-up, reconciliation, a fetch, a send or a write, wherever it happens to be).
    2. **Restart**: the bot runs again on the same journal, reconciles, runs a few cycles and
       exits cleanly; the recovery time is the wall time from its spawn to its reconciliation
       note being committed (Python start-up included).
    3. **Check**, exchange against journal: every ``FILL`` activity of the exchange is in the
       journal's fills (lost fills), no ``client_order_id`` twice at the exchange and no intent
       refused as a resend (duplicate orders), every exchange order journaled with the same
       status (untracked orders, status mismatches), no intent left pending, the journal's
       positions (:func:`greekfire.journal.recovery.journal_positions`) equal the exchange's,
       and ``PRAGMA integrity_check`` is ``ok``. Lost fills of orders placed in the bot's
       final cycle are also counted apart (``lost_fills_at_stop``): the engine reads fills at
       the start of a cycle, so a clean stop leaves its last cycle's fills to the next start.
Figures
    Ids that broke a check (fills, client order ids) are counted once over the whole run;
    position mismatches and integrity failures are summed over the checks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
import yaml

from greekfire.domain.orders import Order, OrderIntent, Side
from greekfire.engine.orders import FAULT_ENV
from greekfire.exchange.config import DEFAULT_SYMBOLS, ExchangeConfig, generated_tickers
from greekfire.exchange.server import RunningExchange, spawn
from greekfire.journal.recovery import journal_positions
from greekfire.journal.sqlite import FAULT_FLUSH_ENV, Journal
from greekfire.reliability.result import Figure, SuiteResult
from greekfire.strategy.base import Strategy, StrategyContext

__all__ = ["KILL_KINDS", "FloodStrategy", "KillPlan", "plan_kills", "run"]

KILL_KINDS: Final = ("after_intent", "in_flush", "wall_delay")
"""Where a round's kill lands: see the module docstring."""
MONDAY_OPEN: Final = dt.datetime(2026, 11, 9, 14, 35, tzinfo=dt.UTC)  # Monday 09:35 New York
SYMBOLS: Final = (*DEFAULT_SYMBOLS, *generated_tickers(10, exclude=DEFAULT_SYMBOLS))
_KEY, _SECRET = "crash-suite-key", "crash-suite-secret"
_STRATEGY: Final = "greekfire.reliability.crash:FloodStrategy"
_BOT_TIMEOUT_S: Final = 90.0
_POLL_S: Final = 0.02
_PAGE: Final = 100
_ORDER_PAGE: Final = 500
_CLOCK_COLUMNS: Final = (
    ("cycles", "ts_ns"),
    ("position_snapshots", "ts_ns"),
    ("runs", "started_ns"),
    ("notes", "ts_ns"),
)
_RESTART_CYCLES: Final = 2
_INTERVAL_S: Final = 1.0  # simulated seconds per cycle: 30 rounds stay inside one session
_RESEND_MARK: Final = "unique"  # the exchange's 422 for a client_order_id seen before


class FloodStrategy(Strategy):
    """One order per symbol and cycle: buy 1 share below 2 held, else sell 1; a symbol with an
    open order waits for it."""

    kind = "crash_flood"

    def on_cycle(self, ctx: StrategyContext) -> Sequence[OrderIntent]:
        """The cycle's intents (see the class docstring)."""
        out: list[OrderIntent] = []
        for symbol in self.symbols:
            if ctx.orders_on(symbol):
                continue
            if ctx.position_qty(symbol) < 2:
                out.append(self.single(symbol, Side.BUY, 1, reason="flood", opening=True))
            else:
                out.append(self.single(symbol, Side.SELL, 1, reason="flood", opening=False))
        return out


@dataclass(frozen=True, slots=True)
class KillPlan:
    """One round's kill: ``kind`` (one of :data:`KILL_KINDS`) and its parameter (the flush
    number for ``in_flush``, the wall delay in seconds for ``wall_delay``, else 0)."""

    kind: str
    param: float = 0.0


def plan_kills(count: int, seed: int) -> list[KillPlan]:
    """``count`` kills drawn from ``seed``: the kinds in equal shares (shuffled), the flush
    number in [1, 8], the wall delay in [1.0, 5.0] s.

    Raises
    ------
    ValueError
        ``count`` < 1.
    """
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"count: expected a whole number >= 1, got {count!r}")
    rng = random.Random(seed)
    kinds = [KILL_KINDS[i % len(KILL_KINDS)] for i in range(count)]
    rng.shuffle(kinds)
    plans = []
    for kind in kinds:
        if kind == "in_flush":
            plans.append(KillPlan(kind, float(rng.randint(1, 8))))
        elif kind == "wall_delay":
            plans.append(KillPlan(kind, round(rng.uniform(1.0, 5.0), 3)))
        else:
            plans.append(KillPlan(kind))
    return plans


_SET_CHECKS: Final = (
    "lost_fills",
    "phantom_fills",
    "duplicate_orders",
    "resent_intents",
    "untracked_orders",
    "status_mismatches",
    "unresolved_intents",
)
_COUNT_CHECKS: Final = ("position_mismatches", "integrity_failures")


@dataclass(slots=True)
class _Tally:
    kills: Counter[str] = field(default_factory=Counter)
    kill_misses: int = 0  # a fault that never fired (the bot had to be killed from outside)
    restarts: int = 0
    recovery_s: list[float] = field(default_factory=list)
    # ids (fill ids, client order ids) that broke a check, over every round: a lost fill
    # stays lost in the later rounds and is counted once
    broken: dict[str, set[str]] = field(
        default_factory=lambda: {k: set() for k in (*_SET_CHECKS, "lost_fills_at_stop")}
    )
    counts: Counter[str] = field(default_factory=Counter)  # (round, symbol) or round checks
    failures: list[str] = field(default_factory=list)
    rounds: list[dict[str, Any]] = field(default_factory=list)


# -- the bot as a child process ---------------------------------------------------------------
def _script() -> Path:
    script = Path(sys.executable).with_name("greekfire")
    if not script.exists():
        raise RuntimeError(
            f"the greekfire console script is not installed next to {sys.executable}"
        )
    return script


def _settings(work: Path, running: RunningExchange, start: dt.datetime) -> dict[str, Any]:
    return {
        "engine": {
            "symbols": list(SYMBOLS),
            "clock": "simulated",
            "sim_start": start.isoformat(),
            "interval_s": _INTERVAL_S,
            "lookback_bars": 30,
            "log_path": str(work / "logs" / "trading_system.jsonl"),
        },
        "data": {"provider": "alpaca", "data_url": running.base_url, "history_dir": None},
        "broker": {"kind": "alpaca", "alpaca": {"base_url": running.base_url, "timeout_s": 30.0}},
        "risk": {"risk_fraction": 0.1},
        "journal": {"path": str(work / "journal.db"), "dry_run_path": str(work / "dry.db")},
        "strategies": [{"name": "flood", "module": _STRATEGY, "symbols": list(SYMBOLS)}],
    }


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "APCA_API_KEY_ID": _KEY}
    env["APCA_API_SECRET_KEY"] = _SECRET
    for name in (FAULT_ENV, FAULT_FLUSH_ENV, "FORCE_COLOR"):
        env.pop(name, None)
    env.update(extra)
    return env


def _spawn_bot(
    config: Path, cycles: int, log: Path, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    command = [str(_script()), "run", "--config", str(config), "--plain", "--cycles", str(cycles)]
    with log.open("ab") as sink:
        return subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)


def _wait(proc: subprocess.Popen[bytes], timeout_s: float) -> int | None:
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None


def _sigkill(proc: subprocess.Popen[bytes]) -> int:
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGKILL)
    return proc.wait(timeout=30)


# -- the journal, read from outside ---------------------------------------------------------
@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection]:
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        yield con
    finally:
        con.close()


def _reconciliations(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with _read_only(path) as con:
            row = con.execute("SELECT COUNT(*) FROM notes WHERE kind = 'reconciliation'").fetchone()
    except sqlite3.OperationalError:  # not created (or migrated) yet
        return 0
    return int(row[0])


def _resume_at(path: Path) -> dt.datetime:
    # A restarted bot's clock never runs backwards (a wall clock would not): it resumes a
    # second after the latest time the journal holds, and at least an hour ahead of the
    # exchange (whose fills are then always older than the bot's snapshots).
    start = MONDAY_OPEN + dt.timedelta(hours=1)
    if not path.exists():
        return start
    with _read_only(path) as con:
        latest = max(
            int(con.execute(f"SELECT COALESCE(MAX({column}), 0) FROM {table}").fetchone()[0])
            for table, column in _CLOCK_COLUMNS
        )
    resumed = dt.datetime.fromtimestamp(latest / 1e9, tz=dt.UTC) + dt.timedelta(seconds=1)
    return max(start, resumed)


def _integrity(path: Path) -> str:
    with _read_only(path) as con:
        return "; ".join(str(r[0]) for r in con.execute("PRAGMA integrity_check").fetchall())


# -- the exchange, read through its Alpaca API ----------------------------------------------
def _exchange_orders(client: httpx.Client) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    after: str | None = None
    while True:
        params: dict[str, Any] = {"status": "all", "limit": _ORDER_PAGE, "direction": "asc"}
        if after is not None:
            params["after"] = after
        page = client.get("/v2/orders", params=params)
        page.raise_for_status()
        rows: list[dict[str, Any]] = page.json()
        fresh = [r for r in rows if r["id"] not in seen]
        seen.update((r["id"], r) for r in fresh)
        if len(rows) < _ORDER_PAGE or not fresh:
            return list(seen.values())
        # the next page starts a microsecond before the last one's submission (ties re-read)
        last = dt.datetime.fromisoformat(str(rows[-1]["created_at"]).replace("Z", "+00:00"))
        after = (last - dt.timedelta(microseconds=1)).isoformat()


def _exchange_fills(client: httpx.Client) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"direction": "asc", "page_size": _PAGE}
        if token is not None:
            params["page_token"] = token
        page = client.get("/v2/account/activities/FILL", params=params)
        page.raise_for_status()
        rows: list[dict[str, Any]] = page.json()
        out.extend(rows)
        if len(rows) < _PAGE:
            return out
        token = str(rows[-1]["id"])


def _exchange_positions(client: httpx.Client) -> dict[str, float]:
    answer = client.get("/v2/positions")
    answer.raise_for_status()
    return {str(p["symbol"]): float(p["qty"]) for p in answer.json()}


# -- one check: exchange against journal ----------------------------------------------------
def _journal_side(
    journal_db: Path,
) -> tuple[dict[str, Order], set[str], dict[str, float], set[str]]:
    journal = Journal.open_readonly(journal_db)
    try:
        ours = {o.client_order_id: o for o in journal.orders()}
        fill_ids = {f.fill_id for f in journal.fills()}
        mine = {s: p.qty for s, p in journal_positions(journal).items()}
        pending = {o.client_order_id for o in journal.pending_intents()}
    finally:
        journal.close()
    return ours, fill_ids, mine, pending


def _last_cycle_orders(path: Path) -> set[str]:
    # The client ids of the orders the bot placed in its final cycle: the last "approved"
    # rows of the orders table (rowids keep the insertion order through updates).
    with _read_only(path) as con:
        row = con.execute("SELECT counts FROM cycles ORDER BY id DESC LIMIT 1").fetchone()
        placed = int(json.loads(row[0]).get("approved", 0)) if row else 0
        rows = con.execute(
            "SELECT client_order_id FROM orders ORDER BY rowid DESC LIMIT ?", (placed,)
        ).fetchall()
    return {str(r[0]) for r in rows}


def _at_stop(
    lost: set[str],
    fill_rows: list[dict[str, Any]],
    orders: list[dict[str, Any]],
    last_cycle: set[str],
) -> set[str]:
    # Lost fills of orders placed in the final cycle: filled after the bot's last event sync,
    # so the journal would only learn of them at the next start.
    client_id = {str(o["id"]): str(o["client_order_id"]) for o in orders}
    order_of = {str(f["id"]): str(f.get("order_id")) for f in fill_rows}
    return {f for f in lost if client_id.get(order_of.get(f, ""), "") in last_cycle}


def _check(journal_db: Path, client: httpx.Client, tally: _Tally, label: str) -> dict[str, int]:
    orders = _exchange_orders(client)
    fill_rows = _exchange_fills(client)
    fills = {str(f["id"]) for f in fill_rows}
    positions = _exchange_positions(client)
    ours, fill_ids, mine, pending = _journal_side(journal_db)
    tally.broken["lost_fills_at_stop"] |= _at_stop(
        fills - fill_ids, fill_rows, orders, _last_cycle_orders(journal_db)
    )
    cids = Counter(str(o["client_order_id"]) for o in orders)
    status = {str(o["client_order_id"]): str(o["status"]) for o in orders}
    found: dict[str, set[str]] = {
        "lost_fills": fills - fill_ids,
        "phantom_fills": fill_ids - fills,
        "duplicate_orders": {cid for cid, n in cids.items() if n > 1},
        "resent_intents": {
            cid for cid, o in ours.items() if o.reason and _RESEND_MARK in o.reason.lower()
        },
        "untracked_orders": {cid for cid in cids if cid not in ours},
        "status_mismatches": {
            cid for cid, st in status.items() if cid in ours and ours[cid].status.value != st
        },
        "unresolved_intents": pending,
    }
    symbols = set(mine) | set(positions)
    counts = {
        "position_mismatches": sum(
            1 for s in symbols if abs(mine.get(s, 0.0) - positions.get(s, 0.0)) > 1e-6
        ),
        "integrity_failures": int(_integrity(journal_db) != "ok"),
    }
    row = {name: len(ids) for name, ids in found.items()} | counts
    for name, ids in found.items():
        tally.broken[name] |= ids
    tally.counts.update(counts)
    for name, value in row.items():
        if value:
            tally.failures.append(f"{label}: {name} = {value}")
    return row | {"exchange_orders": len(orders), "exchange_fills": len(fills)}


# -- the rounds -------------------------------------------------------------------------------
def _kill_life(plan: KillPlan, config: Path, log: Path, tally: _Tally) -> tuple[str, float]:
    extra: dict[str, str] = {}
    if plan.kind == "after_intent":
        extra[FAULT_ENV] = "1"
    elif plan.kind == "in_flush":
        extra[FAULT_FLUSH_ENV] = str(int(plan.param))
    started = time.monotonic()
    bot = _spawn_bot(config, 100_000, log, _env(**extra))
    if plan.kind == "wall_delay":
        code = _wait(bot, plan.param)
        if code is None:
            code = _sigkill(bot)
    else:
        code = _wait(bot, _BOT_TIMEOUT_S)
        if code is None:  # the fault point was never reached: kill it from outside
            tally.kill_misses += 1
            code = _sigkill(bot)
    lived = time.monotonic() - started
    if code != -signal.SIGKILL:
        tally.failures.append(f"kill {plan.kind}: the bot exited with {code}, not SIGKILL")
        return "no_kill", lived
    tally.kills[plan.kind] += 1
    return plan.kind, lived


def _restart(config: Path, journal_db: Path, cycles: int, log: Path, tally: _Tally) -> float:
    before = _reconciliations(journal_db)
    started = time.monotonic()
    bot = _spawn_bot(config, cycles, log, _env())
    recovered = float("nan")
    deadline = started + _BOT_TIMEOUT_S
    while bot.poll() is None and time.monotonic() < deadline:
        if recovered != recovered and _reconciliations(journal_db) > before:
            recovered = time.monotonic() - started
        time.sleep(_POLL_S)
    code = _wait(bot, max(0.1, deadline - time.monotonic()))
    if code is None:
        _sigkill(bot)
        tally.failures.append(f"restart {tally.restarts + 1}: did not finish in {_BOT_TIMEOUT_S}s")
    elif code != 0:
        tally.failures.append(f"restart {tally.restarts + 1}: exited with {code} (see bot.log)")
    if recovered != recovered and _reconciliations(journal_db) > before:
        recovered = time.monotonic() - started  # reconciled and finished between two polls
    tally.restarts += 1
    if recovered == recovered:
        tally.recovery_s.append(recovered)
    else:
        tally.failures.append(f"restart {tally.restarts}: no reconciliation note was committed")
    return recovered


def _exchange_config(seed: int) -> ExchangeConfig:
    return ExchangeConfig(
        symbols=SYMBOLS,
        seed=seed,
        start=MONDAY_OPEN,
        speed=1.0,
        key_id=_KEY,
        secret_key=_SECRET,
    )


_SET_FIGURES: Final = (
    ("lost_fills", "fills", "exchange fills missing from the journal after a restart"),
    (
        "lost_fills_at_stop",
        "fills",
        "of the lost fills, those of orders placed in the bot's last cycle before it stopped",
    ),
    ("phantom_fills", "fills", "journal fills the exchange does not know"),
    ("duplicate_orders", "orders", "client order ids the exchange holds twice"),
    ("resent_intents", "orders", "intents the exchange refused as a resent client order id"),
    ("untracked_orders", "orders", "exchange orders the journal does not hold"),
    ("status_mismatches", "orders", "orders whose journal status differs from the exchange's"),
    ("unresolved_intents", "orders", "intents still pending after a clean restart"),
)


def _figures(tally: _Tally, totals: dict[str, int]) -> list[Figure]:
    rec_ms = sorted(s * 1000.0 for s in tally.recovery_s)
    p50 = round(statistics.median(rec_ms), 1) if rec_ms else float("nan")
    worst = round(rec_ms[-1], 1) if rec_ms else float("nan")
    kinds = [
        Figure(f"kills_{k}", tally.kills[k], "kills", f"SIGKILLs at the '{k}' point")
        for k in KILL_KINDS
    ]
    return [
        Figure("kills", sum(tally.kills.values()), "kills", "bot processes killed with SIGKILL"),
        *kinds,
        Figure("kill_misses", tally.kill_misses, "kills", "fault hooks that never fired"),
        Figure("restarts", tally.restarts, "restarts", "restarts on the same journal"),
        Figure("orders_sent", totals["exchange_orders"], "orders", "orders the exchange received"),
        Figure("fills", totals["exchange_fills"], "fills", "fills the exchange reported"),
        *(Figure(name, len(tally.broken[name]), unit, text) for name, unit, text in _SET_FIGURES),
        Figure(
            "position_mismatches",
            tally.counts["position_mismatches"],
            "symbols",
            "symbols whose journal qty differed from the exchange's, summed over the checks",
        ),
        Figure(
            "integrity_failures",
            tally.counts["integrity_failures"],
            "checks",
            "checks where PRAGMA integrity_check was not ok",
        ),
        Figure("recovery_ms_p50", p50, "ms", "restart spawn to reconciliation committed, median"),
        Figure("recovery_ms_max", worst, "ms", "restart spawn to reconciliation committed, worst"),
    ]


def _round(
    index: int,
    plan: KillPlan,
    work: Path,
    running: RunningExchange,
    client: httpx.Client,
    tally: _Tally,
) -> dict[str, int]:
    journal_db, log, config = work / "journal.db", work / "bot.log", work / "trading_config.yaml"

    def configure() -> None:
        settings = _settings(work, running, _resume_at(journal_db))
        config.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")

    configure()
    kind, lived = _kill_life(plan, config, log, tally)
    configure()
    recovery = _restart(config, journal_db, _RESTART_CYCLES, log, tally)
    found = _check(journal_db, client, tally, f"round {index} ({plan.kind})")
    tally.rounds.append(
        {
            "round": index,
            "plan": plan.kind,
            "param": plan.param,
            "killed": kind,
            "lived_s": round(lived, 3),
            "recovery_s": round(recovery, 3),
            **found,
        }
    )
    return found


def run(out_dir: Path, *, short: bool = False, seed: int = 0) -> SuiteResult:
    """Run the crash suite (see the module docstring); artifacts under ``out_dir``.

    Parameters
    ----------
    out_dir : Path
        Gets ``crash/`` (the journal, the bot's log, ``crash_rounds.json``).
    short : bool
        5 kills (the ``make test`` version) instead of 21.
    seed : int
        Seeds the kill plan and the exchange's market.

    Returns
    -------
    SuiteResult
        ``passed`` when every check of every round held.
    """
    started = time.monotonic()
    kills = 5 if short else 21
    work = Path(out_dir) / "crash"
    work.mkdir(parents=True, exist_ok=True)
    for stale in work.glob("journal.db*"):
        stale.unlink()
    log = work / "bot.log"
    log.write_bytes(b"")
    plans = plan_kills(kills, seed)
    tally = _Tally()
    totals = {"exchange_orders": 0, "exchange_fills": 0}
    with (
        spawn(_exchange_config(seed)) as running,
        httpx.Client(base_url=running.base_url, headers=running.headers, timeout=30) as client,
    ):
        for index, plan in enumerate(plans, start=1):
            found = _round(index, plan, work, running, client, tally)
            totals = {k: found[k] for k in totals}
    rounds = work / "crash_rounds.json"
    rounds.write_text(json.dumps(tally.rounds, indent=1, default=str) + "\n", encoding="utf-8")
    if sum(tally.kills.values()) < kills:
        tally.failures.append(f"kills: {sum(tally.kills.values())} of {kills} planned happened")
    return SuiteResult(
        suite="crash",
        passed=not tally.failures,
        figures=_figures(tally, totals),
        failures=tally.failures,
        artifacts=[rounds, log],
        seconds=round(time.monotonic() - started, 3),
        params={"short": short, "seed": seed, "kills": kills, "symbols": len(SYMBOLS)},
    )
