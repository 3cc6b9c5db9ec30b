"""The loop check of the bad-input suite: the real engine on a market with one bad symbol.

:class:`CorpusMarket` answers like Alpaca behind ``httpx.MockTransport`` and serves one bad
symbol among good ones; :func:`run_loop` runs the engine on it, restarts it over the same journal
and history store on worse data, and returns what happened as a :class:`LoopCheck`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from greekfire.data.alpaca import AlpacaCredentials, AlpacaProvider
from greekfire.domain.orders import OrderIntent, Side
from greekfire.reliability.corpus_cases import _CSV_HEAD, _URL, _json, _quote
from greekfire.strategy.base import Strategy, StrategyContext

__all__ = ["CorpusBuyer", "CorpusMarket", "LoopCheck", "run_loop"]

# --------------------------------------------------------------------------- the loop


class CorpusBuyer(Strategy):
    """Buys one share of each of its symbols that has bars, holds nothing and has no order."""

    kind = "corpus_buyer"

    def on_cycle(self, ctx: StrategyContext) -> Sequence[OrderIntent]:
        """One opening buy per symbol with bars this cycle."""
        return [
            self.single(s, Side.BUY, 1, reason="corpus entry", opening=True)
            for s in self.symbols
            if s in ctx.bars
            and len(ctx.bars[s])
            and ctx.position_qty(s) == 0
            and not ctx.orders_on(s)
        ]


_GOOD = ("AAA", "BBB")
_BAD = "CCC"
_MONDAY = pd.Timestamp("2026-11-09T14:35:00+00:00")


def _daily_csv(days: pd.DatetimeIndex, base: float) -> str:
    rows = [
        f"{d.date()},{base + i},{base + i + 1},{base + i - 1},{base + i + 0.5},1000"
        for i, d in enumerate(days)
    ]
    return _CSV_HEAD + "\n".join(rows) + "\n"


class CorpusMarket:
    """An Alpaca-shaped market behind ``httpx.MockTransport`` that serves one bad symbol.

    Good symbols get daily bars (Alpaca stamps them 05:00Z) and a two-sided quote. ``phase``
    1: the bad symbol's bars include a crossed bar (high below low). ``phase`` 2: its bars carry
    a text price and its quote a text bid (each poisons the whole multi-symbol answer, so the
    pipeline must split the request to save the good symbols).
    """

    def __init__(self) -> None:
        self.phase = 1
        self.requests = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        """Answer one request (bars, latest quotes, latest trades)."""
        self.requests += 1
        params = request.url.params
        names = params.get("symbols", "").split(",")
        path = request.url.path
        if path.endswith("/v2/stocks/bars"):
            start, end = pd.Timestamp(params["start"]), pd.Timestamp(params["end"])
            bars = {n: self._bars(n, start, end) for n in names}
            return _json(json.dumps({"bars": bars, "next_page_token": None}).encode())
        if path.endswith("/quotes/latest"):
            quotes = {n: _quote(bp=self._price(n) - 0.01, ap=self._price(n) + 0.01) for n in names}
            if self.phase == 2 and _BAD in quotes:
                quotes[_BAD]["bp"] = "cheap"
            return _json({"quotes": quotes})
        if path.endswith("/trades/latest"):
            return _json(
                {"trades": {n: {"t": "2026-11-06T20:00:00Z", "p": self._price(n)} for n in names}}
            )
        return _json({"message": f"no route {path}"}, 404)

    @staticmethod
    def _price(name: str) -> float:
        return 50.0 + 10 * (sum(map(ord, name)) % 7)

    def _bars(self, name: str, start: pd.Timestamp, end: pd.Timestamp) -> list[dict[str, object]]:
        days = pd.date_range(start.normalize(), end, freq="B", tz="UTC") + pd.Timedelta(hours=5)
        days = days[(days >= start) & (days <= end)]
        price = self._price(name)
        bars: list[dict[str, object]] = [
            {
                "t": d.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "o": price,
                "h": price + 1,
                "l": price - 1,
                "c": price + 0.5,
                "v": 1000,
                "n": 10,
                "vw": price,
            }
            for d in days
        ]
        if name == _BAD and bars:
            if self.phase == 1:
                bars[-1].update(h=price - 2, l=price + 2)
            else:
                bars[-1]["o"] = "abc"
        return bars


@dataclass(slots=True)
class LoopCheck:
    """What the engine did on the corpus market (see :func:`run_loop`)."""

    cycles: int = 0
    crashed: int = 0
    bad_reported: int = 0
    good_traded: int = 0
    orders_before: int = 0
    orders_after: int = 0
    fills_before: int = 0
    fills_after: int = 0
    stored_rows_before: int = 0
    stored_rows_kept: int = 0
    requests: int = 0
    integrity: str = ""
    problems: list[str] = field(default_factory=list)


def run_loop(root: Path, cycles: int = 3) -> LoopCheck:
    """Run the engine on :class:`CorpusMarket`, restart it on worse data, check the books.

    Phase 1 (Monday): the bad symbol's bars are crossed. Phase 2 (Tuesday, a new engine on the
    same journal and history store): its bars and quote carry text. ``cycles`` cycles a phase.
    Checked: no cycle raises, every error names the bad symbol, the good symbols are bought and
    filled, the bad one never is, stored history and journal rows survive the restart.
    """
    from greekfire.data.history import HistoryStore
    from greekfire.journal.sqlite import Journal
    from greekfire.settings import Settings

    # absolute: the engine resolves a config's relative paths against its workdir (``root``)
    root = Path(root).resolve()
    market, check = CorpusMarket(), LoopCheck()
    settings = Settings.model_validate(
        {
            "engine": {
                "symbols": [*_GOOD, _BAD],
                "clock": "simulated",
                "interval_s": 600,
                "lookback_bars": 30,
                "log_path": str(root / "logs" / "engine.jsonl"),
            },
            "data": {"provider": "alpaca", "history_dir": str(root / "hist")},
            "journal": {"path": str(root / "journal.db"), "dry_run_path": str(root / "dry.db")},
            "strategies": [
                {"name": "corpus", "module": "greekfire.reliability.corpus_loop:CorpusBuyer"}
            ],
        }
    )
    _phase(settings, market, _MONDAY, root, cycles, check)
    journal = Journal.open_readonly(root / "journal.db")
    check.orders_before, check.fills_before = len(journal.orders()), len(journal.fills())
    journal.close()
    store, lo = HistoryStore(root / "hist"), _MONDAY - pd.Timedelta(days=60)
    before = {s: store.read(s, lo, _MONDAY, "1d") for s in _GOOD}
    check.stored_rows_before = sum(len(f) for f in before.values())
    market.phase = 2
    _phase(settings, market, _MONDAY + pd.Timedelta(days=1), root, cycles, check)
    after = {s: store.read(s, lo, _MONDAY, "1d") for s in _GOOD}
    check.stored_rows_kept = sum(_kept_rows(after[s], before[s]) for s in _GOOD)
    journal = Journal.open_readonly(root / "journal.db")
    check.orders_after, check.fills_after = len(journal.orders()), len(journal.fills())
    check.integrity = journal.integrity_check()
    journal.close()
    check.requests = market.requests
    return check


def _kept_rows(after: pd.DataFrame, before: pd.DataFrame) -> int:
    # Rows stored before that are still stored, with the same values (later rows may be added).
    cols = ["open", "high", "low", "close", "volume"]
    common = before.index.intersection(after.index)
    same = (after.loc[common, cols].to_numpy() == before.loc[common, cols].to_numpy()).all(axis=1)
    return int(same.sum())


def _phase(
    settings: Any,
    market: CorpusMarket,
    start: pd.Timestamp,
    root: Path,
    cycles: int,
    check: LoopCheck,
) -> None:
    from greekfire.engine.clock import SimulatedClock
    from greekfire.engine.engine import TradingEngine

    clock = SimulatedClock(start)
    client = httpx.AsyncClient(transport=httpx.MockTransport(market.handler))
    provider = AlpacaProvider(
        AlpacaCredentials("corpus-key", "corpus-secret"),
        data_url=_URL,
        trading_url=_URL,
        client=client,
    )
    try:
        with TradingEngine(settings, clock=clock, provider=provider, workdir=root) as engine:
            for _ in range(cycles):
                _cycle(engine, check)
                clock.advance(settings.engine.interval_s)
            held = engine.broker.positions()
            check.good_traded = sum(1 for s in _GOOD if s in held)
            if _BAD in held:
                check.problems.append(f"{_BAD} was traded on bad data")
    finally:
        asyncio.run(client.aclose())


def _cycle(engine: Any, check: LoopCheck) -> None:
    try:
        report = engine.run_cycle()
    except Exception as exc:  # the loop must never get here: counted and reported
        check.crashed += 1
        check.problems.append(f"run_cycle raised {type(exc).__name__}: {exc}")
        return
    check.cycles += 1
    for error in report.errors:
        if error.split(":", 1)[0].split()[-1] == _BAD:
            check.bad_reported += 1
        else:
            check.problems.append(f"cycle {report.cycle}: {error:.300}")
