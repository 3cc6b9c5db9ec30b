"""Parity: replay a recorded run through the backtester and diff what it traded.

Users trust a backtest only if the bot then trades what the backtest traded. :func:`parity`
takes a journal written by ``greekfire run`` (paper or live) and:

1. reads the settings the run started with (the journal's ``runs`` table; or the caller's) and
   the time of every cycle it ran (``cycles``);
2. replays those cycles on a :class:`~greekfire.engine.clock.SimulatedClock` through the real
   :class:`~greekfire.engine.engine.TradingEngine` (the same strategies, risk gate, order
   manager) with a fresh :class:`~greekfire.broker.paper.PaperBroker` (the settings' paper fill
   and fee model) and a :class:`~greekfire.backtest.tape.TapeProvider` serving the market data
   the run recorded (``journal.record_market``), into a temporary journal;
3. pairs the live fills with the replay's, per symbol and side in time order, and reports
   where they part: a fill only one side has, a different time, quantity, price or fee.

A paper run replays to identical fills: the same code on the same data. Differences come from
what a backtest cannot know: a real broker's fills (slippage, partial fills, rejects), orders
placed by hand, a restart that rebuilt the bot's memory (indicator warm-up) mid-run, a paper
state file carried over from an earlier run, a config changed between runs (the replay uses
the first run's settings unless told otherwise).
"""

from __future__ import annotations

import itertools
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, cast

import numpy as np
import pandas as pd

from greekfire.backtest.event import _LateQuotes
from greekfire.backtest.tape import TapeProvider
from greekfire.broker.paper import PaperBroker
from greekfire.domain.orders import Fill, Order
from greekfire.engine.clock import SimulatedClock
from greekfire.engine.engine import TradingEngine
from greekfire.journal.sqlite import Journal
from greekfire.settings import Settings

__all__ = ["PARITY_COLUMNS", "ParityReport", "parity", "replay_settings"]

PARITY_COLUMNS: Final = (
    "symbol",
    "side",
    "n",
    "strategy",
    "status",
    "live_ts",
    "replay_ts",
    "delay_s",
    "live_qty",
    "replay_qty",
    "live_price",
    "replay_price",
    "price_diff_bps",
    "live_fee_usd",
    "replay_fee_usd",
)
"""One row per fill pair (or unpaired fill): ``n`` counts the symbol's fills on that side
(0-based, time order); ``status`` is ``same``, ``differs``, ``live only`` or ``replay only``;
``delay_s`` and ``price_diff_bps`` are replay minus live."""

_SAME, _DIFFERS, _LIVE_ONLY, _REPLAY_ONLY = "same", "differs", "live only", "replay only"


@dataclass(slots=True)
class ParityReport:
    """What :func:`parity` found.

    Attributes
    ----------
    journal : Path
        The recorded run's journal.
    fills : pandas.DataFrame
        :data:`PARITY_COLUMNS`, ordered by time.
    cycles : int
        Cycles replayed.
    runs : int
        Engine starts recorded in the window's run (more than one: the bot restarted).
    live_broker : str
        The broker the run used (``paper`` or a vendor); the replay always uses the paper one.
    settings_from : str
        ``"journal"`` (the run's own settings) or where the caller's came from.
    window : tuple
        The compared span (UTC timestamps; ``None`` for an open end).
    equity_usd : dict
        Account equity at the end of the window, ``live`` and ``replay`` (NaN when unknown).
    errors : list of str
        The replay's cycle errors (prefixed by the cycle time).
    """

    journal: Path
    fills: pd.DataFrame
    cycles: int
    runs: int
    live_broker: str
    settings_from: str
    window: tuple[pd.Timestamp | None, pd.Timestamp | None]
    equity_usd: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        """Every fill paired and equal (time, quantity, price, fee)."""
        return bool((self.fills["status"] == _SAME).all())

    def counts(self) -> dict[str, int]:
        """Fills on each side and pairs by status."""
        status = self.fills["status"]
        return {
            "live_fills": int(self.fills["live_ts"].notna().sum()),
            "replay_fills": int(self.fills["replay_ts"].notna().sum()),
            _SAME: int((status == _SAME).sum()),
            _DIFFERS: int((status == _DIFFERS).sum()),
            _LIVE_ONLY: int((status == _LIVE_ONLY).sum()),
            _REPLAY_ONLY: int((status == _REPLAY_ONLY).sum()),
        }

    def by_strategy(self) -> pd.DataFrame:
        """Per strategy: live fills, replay fills and identical pairs."""
        frame = self.fills
        grouped = frame.groupby("strategy", sort=True)
        return pd.DataFrame(
            {
                "live_fills": grouped["live_ts"].count(),
                "replay_fills": grouped["replay_ts"].count(),
                "same": grouped["status"].agg(lambda s: int((s == _SAME).sum())),
            }
        ).astype(np.int64)

    def differences(self, limit: int | None = None) -> list[str]:
        """Where live and replay part, in words, in time order (at most ``limit`` lines)."""
        out: list[str] = []
        for row in self.fills[self.fills["status"] != _SAME].itertuples(index=False):
            out.append(_describe(row))
            if limit is not None and len(out) >= limit:
                break
        return out

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary: counts, window, equity, the first differences."""
        lo, hi = self.window
        return {
            "journal": str(self.journal),
            "identical": self.identical,
            **self.counts(),
            "cycles": self.cycles,
            "runs": self.runs,
            "live_broker": self.live_broker,
            "settings_from": self.settings_from,
            "start": None if lo is None else lo.isoformat(),
            "end": None if hi is None else hi.isoformat(),
            "equity_usd": {k: (None if math.isnan(v) else v) for k, v in self.equity_usd.items()},
            "replay_errors": len(self.errors),
            "differences": self.differences(limit=50),
        }

    def save(self, directory: str | Path) -> Path:
        """Write ``parity.json`` (the summary) and ``parity_fills.parquet``; returns the JSON's
        path."""
        import json

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.fills.to_parquet(out / "parity_fills.parquet", index=False)
        path = out / "parity.json"
        path.write_text(json.dumps(self.summary(), indent=2) + "\n", encoding="utf-8")
        return path


def _describe(row: Any) -> str:
    head = f"{row.symbol} {row.side} #{row.n + 1} ({row.strategy})"
    if row.status == _LIVE_ONLY:
        return (
            f"{head}: live filled {row.live_qty:g} @ {row.live_price:g}"
            f" at {_iso(row.live_ts)}; the replay did not"
        )
    if row.status == _REPLAY_ONLY:
        return (
            f"{head}: the replay filled {row.replay_qty:g} @ {row.replay_price:g}"
            f" at {_iso(row.replay_ts)}; live did not"
        )
    parts: list[str] = []
    if row.live_ts != row.replay_ts:
        parts.append(f"time {_iso(row.live_ts)} vs {_iso(row.replay_ts)} ({row.delay_s:+g} s)")
    if row.live_qty != row.replay_qty:
        parts.append(f"qty {row.live_qty:g} vs {row.replay_qty:g}")
    if row.live_price != row.replay_price:
        parts.append(
            f"price {row.live_price:g} vs {row.replay_price:g} ({row.price_diff_bps:+.2f} bps)"
        )
    if row.live_fee_usd != row.replay_fee_usd:
        parts.append(f"fee {row.live_fee_usd:g} vs {row.replay_fee_usd:g}")
    return f"{head}: live vs replay " + ", ".join(parts)


def _iso(value: Any) -> str:
    return "-" if value is None or pd.isna(value) else pd.Timestamp(value).isoformat()


# -- the replay ----------------------------------------------------------------------------------
def replay_settings(settings: Settings, journal: Path, first: pd.Timestamp) -> Settings:
    """``settings`` as a replay runs them: simulated clock from ``first``, the paper broker, no
    history store, no dry run, a fresh ``journal``, no tape recording."""
    raw = settings.model_dump()
    raw["engine"].update(clock="simulated", sim_start=first.to_pydatetime(), dry_run=False)
    raw["data"].update(history_dir=None)
    raw["broker"].update(kind="paper")
    raw["journal"].update(
        path=str(journal),
        dry_run_path=str(journal.with_suffix(".dry.db")),
        record_market=False,
    )
    return Settings.model_validate(raw)


def _replay(
    source: Journal, settings: Settings, plan: Sequence[int], journal: Path
) -> tuple[list[Fill], list[Order], float, list[str]]:
    first = pd.Timestamp(plan[0], tz="UTC")
    clock = SimulatedClock(first)
    cfg = replay_settings(settings, journal, first)
    quotes = _LateQuotes()
    broker = PaperBroker(cfg.broker.paper, quotes, clock, state_path=None)
    engine = TradingEngine(
        cfg,
        clock=clock,
        provider=TapeProvider(source, clock.now),
        broker=broker,
        workdir=journal.parent,
    )
    quotes.source = engine.snapshot
    errors: list[str] = []
    try:
        for ts_ns in plan:
            clock.set(pd.Timestamp(ts_ns, tz="UTC"))
            report = engine.run_cycle()
            errors.extend(f"{report.ts.isoformat()}: {e}" for e in report.errors)
    finally:
        engine.close()
    replayed = Journal.open_readonly(journal)
    try:
        account = replayed.latest_account()
        equity = math.nan if account is None else float(account.equity_usd)
        return replayed.fills(), replayed.orders(), equity, errors
    finally:
        replayed.close()


# -- the comparison ------------------------------------------------------------------------------
def _fills_frame(fills: Sequence[Fill], orders: Sequence[Order]) -> pd.DataFrame:
    strategy = {o.client_order_id: o.intent.strategy for o in orders}
    frame = pd.DataFrame(
        {
            "symbol": [f.symbol for f in fills],
            "side": [f.side.value for f in fills],
            "qty": np.array([f.qty for f in fills], dtype=np.float64),
            "price": np.array([f.price for f in fills], dtype=np.float64),
            "fee_usd": np.array([f.fee_usd for f in fills], dtype=np.float64),
            "ts_ns": np.array([f.ts_ns for f in fills], dtype=np.int64),
            "strategy": [strategy.get(f.client_order_id, "?") for f in fills],
        }
    )
    frame = frame.sort_values("ts_ns", kind="stable").reset_index(drop=True)
    frame["n"] = frame.groupby(["symbol", "side"], sort=False).cumcount()
    return frame


def _in_window(frame: pd.DataFrame, lo: int | None, hi: int | None) -> pd.DataFrame:
    keep = np.ones(len(frame), dtype=bool)
    if lo is not None:
        keep &= frame["ts_ns"].to_numpy() >= lo
    if hi is not None:
        keep &= frame["ts_ns"].to_numpy() <= hi
    return frame[keep]


def compare_fills(live: pd.DataFrame, replay: pd.DataFrame) -> pd.DataFrame:
    """Pair the k-th fill of each symbol and side on both sides; :data:`PARITY_COLUMNS`."""
    keys = ["symbol", "side", "n"]
    both = live.merge(replay, on=keys, how="outer", suffixes=("_live", "_replay"), sort=False)
    has_live = both["ts_ns_live"].notna().to_numpy()
    has_replay = both["ts_ns_replay"].notna().to_numpy()
    equal = np.ones(len(both), dtype=bool)
    for column in ("ts_ns", "qty", "price", "fee_usd"):
        equal &= (both[f"{column}_live"] == both[f"{column}_replay"]).to_numpy()
    status = np.where(
        ~has_replay, _LIVE_ONLY, np.where(~has_live, _REPLAY_ONLY, np.where(equal, _SAME, _DIFFERS))
    )
    live_ns = both["ts_ns_live"].astype("Int64")
    replay_ns = both["ts_ns_replay"].astype("Int64")
    live_price = both["price_live"].to_numpy(np.float64)
    replay_price = both["price_replay"].to_numpy(np.float64)
    out = pd.DataFrame(
        {
            "symbol": both["symbol"].astype(str),
            "side": both["side"].astype(str),
            "n": both["n"].astype(np.int64),
            "strategy": both["strategy_live"].fillna(both["strategy_replay"]).astype(str),
            "status": status,
            "live_ts": pd.to_datetime(live_ns, utc=True),
            "replay_ts": pd.to_datetime(replay_ns, utc=True),
            "delay_s": (replay_ns - live_ns).astype("Float64").to_numpy(np.float64, na_value=np.nan)
            / 1e9,
            "live_qty": both["qty_live"].to_numpy(np.float64),
            "replay_qty": both["qty_replay"].to_numpy(np.float64),
            "live_price": live_price,
            "replay_price": replay_price,
            "price_diff_bps": (replay_price - live_price) / live_price * 1e4,
            "live_fee_usd": both["fee_usd_live"].to_numpy(np.float64),
            "replay_fee_usd": both["fee_usd_replay"].to_numpy(np.float64),
        }
    )
    order = np.where(has_live, both["ts_ns_live"], both["ts_ns_replay"])
    out = out.iloc[np.argsort(np.asarray(order, dtype=np.float64), kind="stable")]
    return out.reset_index(drop=True)


def _utc_ns(value: Any, name: str) -> int | None:
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a date or a timestamp, got {value!r}") from None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.as_unit("ns").value)


def parity(
    journal_path: str | Path,
    *,
    settings: Settings | None = None,
    settings_from: str = "journal",
    start: Any = None,
    end: Any = None,
    replay_journal: str | Path | None = None,
) -> ParityReport:
    """Replay the run recorded in ``journal_path`` and diff its fills (module docstring).

    Parameters
    ----------
    journal_path : str or Path
        A journal written by ``greekfire run`` with ``journal.record_market`` on.
    settings : Settings, optional
        Replay with these instead of the run's own (the first recorded start's).
    settings_from : str
        How the report names where ``settings`` came from.
    start, end : date or timestamp, optional
        Compare only fills in ``[start, end]`` (naive values are UTC). The replay always starts
        at the run's first cycle, so the bot's state at ``start`` is rebuilt; it stops at ``end``.
    replay_journal : str or Path, optional
        Keep the replay's journal here (must not exist); default a temporary file.

    Raises
    ------
    ValueError
        The journal has no cycles, no recorded settings, or no market tape; a bad window.
    greekfire.errors.StateError
        The file is not a greekfire journal (or from a newer greekfire).
    """
    path = Path(journal_path)
    lo, hi = _utc_ns(start, "start"), _utc_ns(end, "end")
    if lo is not None and hi is not None and hi < lo:
        raise ValueError(f"end: {end!r} is before start {start!r}")
    source = Journal.open_readonly(path)
    try:
        runs = source.runs()
        cycles = [int(cast(int, c["ts_ns"])) for c in source.cycles()]
        plan = [ts for ts in cycles if hi is None or ts <= hi]
        _check_recorded(path, source, runs, plan)
        if any(b < a for a, b in itertools.pairwise(plan)):
            raise ValueError(f"journal {path}: the cycles' times go backwards; cannot replay")
        if settings is None:
            settings = Settings.model_validate_json(str(runs[0]["settings"]))
            settings_from = "journal"
        live_cfg = Settings.model_validate_json(str(runs[0]["settings"]))
        live = _fills_frame(source.fills(), source.orders())
        live_account = source.latest_account()
        if replay_journal is not None:
            target = Path(replay_journal)
            if target.exists():
                raise ValueError(f"replay_journal: {str(target)!r} exists; a replay starts anew")
            target.parent.mkdir(parents=True, exist_ok=True)
            fills, orders, equity, errors = _replay(source, settings, plan, target)
        else:
            with tempfile.TemporaryDirectory(prefix="greekfire-parity-") as tmp:
                fills, orders, equity, errors = _replay(
                    source, settings, plan, Path(tmp) / "replay.db"
                )
    finally:
        source.close()
    replayed = _fills_frame(fills, orders)
    table = compare_fills(_in_window(live, lo, hi), _in_window(replayed, lo, hi))
    live_equity = math.nan if live_account is None else float(live_account.equity_usd)
    window = (
        None if lo is None else pd.Timestamp(lo, tz="UTC"),
        None if hi is None else pd.Timestamp(hi, tz="UTC"),
    )
    return ParityReport(
        journal=path,
        fills=table,
        cycles=len(plan),
        runs=len(runs),
        live_broker=live_cfg.broker.kind,
        settings_from=settings_from,
        window=window,
        # the live figure is the latest snapshot: the window's end only when end is not given
        equity_usd={"live": live_equity if hi is None else math.nan, "replay": equity},
        errors=errors,
    )


def _check_recorded(
    path: Path, source: Journal, runs: list[dict[str, object]], plan: list[int]
) -> None:
    if not runs:
        raise ValueError(
            f"journal {path}: no run recorded (written by a greekfire before journal schema 3?)"
        )
    if not plan:
        raise ValueError(f"journal {path}: no cycle to replay (none recorded, or none before end)")
    rows = source.tape()
    try:
        if next(rows, None) is None:
            raise ValueError(
                f"journal {path}: no market tape recorded (journal.record_market was off);"
                " a replay needs the data the run saw"
            )
    finally:
        rows.close()
