"""Acceptance 4: the bot killed with SIGKILL between the write-ahead intent and the broker's
acknowledgement; on restart no order is sent twice, the state is reconciled, and the journal
passes ``PRAGMA integrity_check``.

The bot is the real ``greekfire run`` in a child process. Three ways to die in that window:

- paper broker: ``GREEKFIRE_FAULT_KILL_AFTER_INTENT=1`` makes the bot SIGKILL itself right
  after the first intent is journaled, before the paper broker hears of it;
- Alpaca on serve-market (its own process), the order request on the wire: the exchange holds
  ``POST /v2/orders`` for 3 s (latency fault) and the bot is killed while it waits. The
  exchange reads the request body only after the delay, so the client has gone by then and
  Starlette raises ``ClientDisconnect``: the order is never created and the restart must cancel
  the intent, not resend it;
- Alpaca on serve-market, the acknowledgement lost: a loopback proxy in front of the trading
  API withholds the answer to ``POST /v2/orders``; the bot is killed once the exchange has
  the order. The restart must find it by ``client_order_id`` and adopt it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import yaml
from engine_settings import MONDAY_OPEN, settings_dict

from greekfire.domain.orders import OrderStatus
from greekfire.engine.engine import TradingEngine
from greekfire.engine.orders import FAULT_ENV
from greekfire.exchange.config import ExchangeConfig
from greekfire.exchange.faults import FaultConfig
from greekfire.exchange.server import RunningExchange, spawn
from greekfire.journal.recovery import NEVER_REACHED_BROKER, journal_positions
from greekfire.journal.sqlite import Journal
from greekfire.settings import Settings

pytestmark = pytest.mark.integration

SCRIPT = Path(sys.executable).with_name("greekfire")
HERE = Path(__file__).resolve().parent
KEY, SECRET = "crash-key", "crash-secret"
ORDER_POST = b"POST /v2/orders HTTP/"


# -- the bot as a child process -------------------------------------------------------------
def bot_env(**extra: str) -> dict[str, str]:
    """The environment of a bot child: the test strategies importable, no colour."""
    env = {**os.environ, "COLUMNS": "120", "PYTHONIOENCODING": "utf-8", "PYTHONUNBUFFERED": "1"}
    env.pop("FORCE_COLOR", None)
    env.pop(FAULT_ENV, None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def write_config(path: Path, settings: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    return path


def run_bot(config: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert SCRIPT.exists(), f"console script not installed next to {sys.executable}"
    command = [str(SCRIPT), "run", "--config", str(config), "--plain", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)


def start_bot(config: Path, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    command = [str(SCRIPT), "run", "--config", str(config), "--plain", *args]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def kill(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    """SIGKILL ``proc``; its exit code and output."""
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out, err


# -- the journal, read from outside the bot ---------------------------------------------------
@contextlib.contextmanager
def read_only(path: Path) -> Iterator[sqlite3.Connection]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        yield con
    finally:
        con.close()


def integrity(path: Path) -> str:
    with read_only(path) as con:
        return str(con.execute("PRAGMA integrity_check").fetchone()[0])


def order_rows(path: Path) -> list[tuple[str, str, str, str]]:
    """``(client_order_id, status, reason, legs)`` of every journaled order."""
    with read_only(path) as con:
        rows = con.execute(
            "SELECT client_order_id, status, reason, legs FROM orders ORDER BY created_ns"
        ).fetchall()
    return [tuple(r) for r in rows]


def wait_for(
    what: str, probe: Callable[[], Any], proc: subprocess.Popen[str], limit_s: float
) -> Any:
    """Poll ``probe`` until it returns something truthy; fail if the bot exits first."""
    deadline = time.monotonic() + limit_s
    while True:
        try:
            found = probe()
        except sqlite3.OperationalError:  # the journal (or its tables) not created yet
            found = None
        if found:
            return found
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the bot exited ({proc.returncode}) before {what}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.communicate()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def pending_intent(path: Path) -> str | None:
    if not path.exists():
        return None
    rows = [r for r in order_rows(path) if r[1] == OrderStatus.PENDING_NEW.value]
    return rows[0][0] if rows else None


# -- variant a: the paper broker ----------------------------------------------------------------
def test_paper_bot_killed_after_the_intent_restarts_without_a_duplicate(tmp_path: Path) -> None:
    settings = settings_dict(tmp_path)
    config = write_config(tmp_path / "cfg.yaml", settings)
    journal_db = tmp_path / "journal.db"
    state = tmp_path / "journal.paper.json"  # the paper account persists beside the journal

    died = run_bot(config, "--cycles", "3", env=bot_env(**{FAULT_ENV: "1"}))
    assert died.returncode == -signal.SIGKILL, died.stdout + died.stderr
    assert "cycle" not in died.stdout  # killed inside the first cycle
    rows = order_rows(journal_db)
    assert len(rows) == 1, rows
    intent_id, status, _, legs = rows[0]
    assert status == OrderStatus.PENDING_NEW.value
    assert '"MSFT"' in legs  # the strategy's first decision
    assert integrity(journal_db) == "ok"
    if state.exists():  # the paper account was saved at startup: it has no order
        assert json.loads(state.read_text(encoding="utf-8"))["orders"] == []

    # Restart in-process with the same config: reconciliation at construction, then a cycle.
    with TradingEngine(Settings.model_validate(settings), workdir=tmp_path) as engine:
        report = engine.reconcile_report
        assert [(r.client_order_id, r.outcome) for r in report.resolved] == [
            (intent_id, "never_sent")
        ]
        assert report.ok, report.mismatches
        assert engine.inner_broker.get_order(intent_id) is None
        cycle = engine.run_cycle()
        assert cycle.errors == []
        assert cycle.counts["approved"] == 2  # MSFT again, and SPY
        again = engine.run_cycle()
        assert again.counts["intents"] == 0  # held now: nothing more is sent
        at_broker = engine.inner_broker.orders(open_only=False)
        positions = {s: p.qty for s, p in engine.inner_broker.positions().items()}
    assert intent_id not in {o.client_order_id for o in at_broker}
    assert sorted(o.symbol for o in at_broker) == ["MSFT", "SPY"]  # one order per symbol
    assert positions == {"MSFT": 10.0, "SPY": 10.0}

    journal = Journal.open_readonly(journal_db)
    try:
        intent = journal.order(intent_id)
        assert intent is not None
        assert intent.status is OrderStatus.CANCELED
        assert intent.reason == NEVER_REACHED_BROKER
        sent = [o for o in journal.orders() if o.client_order_id != intent_id]
        assert sorted(o.symbol for o in sent) == ["MSFT", "SPY"]
        assert all(o.status is OrderStatus.FILLED for o in sent)
        assert {s: p.qty for s, p in journal_positions(journal).items()} == positions
        assert journal.integrity_check() == "ok"
    finally:
        journal.close()
    assert integrity(journal_db) == "ok"


# -- variants b: AlpacaBroker on serve-market in its own process -----------------------------
class OrderProxy:
    """A loopback TCP proxy in front of the exchange's trading API.

    It counts the ``POST /v2/orders`` requests passing through; with ``hold_acks`` it never
    relays the answer to one (the acknowledgement is lost on the way back). When the client
    side closes, the exchange side is closed too, as a killed process's socket would be.
    """

    def __init__(self, upstream: str, *, hold_acks: bool = False) -> None:
        url = httpx.URL(upstream)
        self._upstream = (url.host, url.port or 80)
        self.hold_acks = hold_acks
        self.posts = 0
        self.post_seen = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._closing = False
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._spawn(self._accept)

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed
            with self._lock:
                if self._closing:
                    client.close()
                    return
                server = socket.create_connection(self._upstream)
                self._sockets += [client, server]
            held = threading.Event()
            self._spawn(self._pump_up, client, server, held)
            self._spawn(self._pump_down, server, client, held)

    def _pump_up(self, client: socket.socket, server: socket.socket, held: threading.Event) -> None:
        try:
            while data := client.recv(65536):
                if ORDER_POST in data:
                    with self._lock:
                        self.posts += data.count(ORDER_POST)
                    if self.hold_acks:
                        held.set()
                server.sendall(data)
                if ORDER_POST in data:
                    self.post_seen.set()
        except OSError:
            pass
        finally:
            _shut(server)  # the client has gone: so has its connection to the exchange
            _shut(client)

    def _pump_down(
        self, server: socket.socket, client: socket.socket, held: threading.Event
    ) -> None:
        try:
            while data := server.recv(65536):
                if not held.is_set():
                    client.sendall(data)
        except OSError:
            pass
        finally:
            _shut(client)

    def close(self) -> None:
        with self._lock:
            self._closing = True
            sockets = list(self._sockets)
        _shut(self._listener)  # wakes the thread blocked in accept() (close alone does not)
        self._listener.close()
        for sock in sockets:
            _shut(sock)
        for thread in self._threads:
            thread.join(timeout=10)
            assert not thread.is_alive(), f"proxy thread {thread.name} did not stop"
        for sock in sockets:
            sock.close()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def order_proxy(upstream: str, *, hold_acks: bool = False) -> Iterator[OrderProxy]:
    proxy = OrderProxy(upstream, hold_acks=hold_acks)
    try:
        yield proxy
    finally:
        proxy.close()


@contextlib.contextmanager
def exchange(faults: FaultConfig | None = None) -> Iterator[RunningExchange]:
    config = ExchangeConfig(
        symbols=("MSFT", "SPY"),
        seed=5,
        start=pd.Timestamp(MONDAY_OPEN).to_pydatetime(),  # a session, frozen (speed 0)
        speed=0.0,
        key_id=KEY,
        secret_key=SECRET,
        faults=faults if faults is not None else FaultConfig(),
    )
    with spawn(config) as running:
        yield running


def alpaca_settings(tmp: Path, data_url: str, trading_url: str) -> dict[str, Any]:
    return settings_dict(
        tmp,
        engine={"symbols": ["MSFT"], "lookback_bars": 60},
        data={"provider": "alpaca", "data_url": data_url, "history_dir": None},
        broker={"kind": "alpaca", "alpaca": {"base_url": trading_url, "timeout_s": 30.0}},
        strategies=[{"name": "buy", "module": "engine_strategies:BuyOnce", "symbols": ["MSFT"]}],
    )


def exchange_orders(running: RunningExchange) -> list[dict[str, Any]]:
    with httpx.Client(base_url=running.base_url, headers=running.headers) as client:
        answer = client.get("/v2/orders", params={"status": "all", "limit": 500})
        answer.raise_for_status()
        rows: list[dict[str, Any]] = answer.json()
    return rows


def exchange_order(running: RunningExchange, client_order_id: str) -> dict[str, Any] | None:
    with httpx.Client(base_url=running.base_url, headers=running.headers) as client:
        answer = client.get(
            "/v2/orders:by_client_order_id", params={"client_order_id": client_order_id}
        )
    if answer.status_code == 404:
        return None
    answer.raise_for_status()
    row: dict[str, Any] = answer.json()
    return row


def faults_off(running: RunningExchange) -> None:
    with httpx.Client(base_url=running.base_url, headers=running.headers) as client:
        client.post("/_greekfire/faults", json={}).raise_for_status()


def restart(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = run_bot(config, "--cycles", "1", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 pending intent(s) resolved" in done.stdout, done.stdout
    return done


def test_alpaca_bot_killed_with_the_order_in_flight_never_resends_it(tmp_path: Path) -> None:
    """Latency on ``POST /v2/orders``: killed while the exchange is still "thinking"."""
    env = bot_env(APCA_API_KEY_ID=KEY, APCA_API_SECRET_KEY=SECRET)
    journal_db = tmp_path / "journal.db"
    slow_orders = FaultConfig(latency_ms=3000, paths=("/v2/order[s]",))  # POST/GET /v2/orders
    with exchange(slow_orders) as running, order_proxy(running.base_url) as proxy:
        config = write_config(
            tmp_path / "cfg.yaml", alpaca_settings(tmp_path, running.base_url, proxy.base_url)
        )
        bot = start_bot(config, "--cycles", "3", env=env)
        intent_id = wait_for("the intent", lambda: pending_intent(journal_db), bot, 60)
        wait_for("the order request", proxy.post_seen.is_set, bot, 30)
        code, out, _ = kill(bot)
        assert code == -signal.SIGKILL
        assert "cycle" not in out
        assert integrity(journal_db) == "ok"
        assert proxy.posts == 1
        time.sleep(3.5)  # the exchange's delay runs out; the client is gone
        faults_off(running)
        # The exchange reads the body after the delay: with the client gone it never does.
        assert exchange_order(running, intent_id) is None
        assert exchange_orders(running) == []

        proxy.posts = 0
        restart(config, env)
        assert proxy.posts == 1  # the strategy's next decision, once; the intent not resent
        orders = exchange_orders(running)
    assert [o["symbol"] for o in orders] == ["MSFT"]
    assert orders[0]["client_order_id"] != intent_id
    rows = {cid: (status, reason) for cid, status, reason, _ in order_rows(journal_db)}
    assert rows[intent_id] == (OrderStatus.CANCELED.value, NEVER_REACHED_BROKER)
    assert rows[orders[0]["client_order_id"]][0] == OrderStatus.FILLED.value
    assert len(rows) == 2
    assert integrity(journal_db) == "ok"


def test_alpaca_bot_killed_before_the_ack_adopts_the_order_on_restart(tmp_path: Path) -> None:
    """The exchange has the order; its acknowledgement never reaches the bot."""
    env = bot_env(APCA_API_KEY_ID=KEY, APCA_API_SECRET_KEY=SECRET)
    journal_db = tmp_path / "journal.db"
    with exchange() as running:
        with order_proxy(running.base_url, hold_acks=True) as proxy:
            config = write_config(
                tmp_path / "cfg.yaml", alpaca_settings(tmp_path, running.base_url, proxy.base_url)
            )
            bot = start_bot(config, "--cycles", "3", env=env)
            intent_id = wait_for("the intent", lambda: pending_intent(journal_db), bot, 60)
            placed = wait_for(
                "the order at the exchange", lambda: exchange_order(running, intent_id), bot, 30
            )
            code, out, _ = kill(bot)
            assert code == -signal.SIGKILL
            assert "cycle" not in out
            assert proxy.posts == 1
        assert pending_intent(journal_db) == intent_id  # the bot never saw the ack
        assert integrity(journal_db) == "ok"

        with order_proxy(running.base_url) as proxy:
            config = write_config(
                tmp_path / "cfg.yaml", alpaca_settings(tmp_path, running.base_url, proxy.base_url)
            )
            restart(config, env)
            assert proxy.posts == 0  # nothing resent, nothing new: the position is held
        orders = exchange_orders(running)
        same = [o for o in orders if o["client_order_id"] == intent_id]
        assert len(orders) == 1, orders
        assert len(same) == 1, orders
        assert same[0]["id"] == placed["id"]

    journal = Journal.open_readonly(journal_db)
    try:
        adopted = journal.order(intent_id)
        assert adopted is not None
        assert adopted.status.value == same[0]["status"]  # the broker's status, not canceled
        assert adopted.status is OrderStatus.FILLED
        assert adopted.broker_order_id == placed["id"]
        assert [o.client_order_id for o in journal.orders()] == [intent_id]
        assert {s: p.qty for s, p in journal_positions(journal).items()} == {"MSFT": 10.0}
        notes = [n for n in _notes(journal_db) if '"outcome":"sent"' in n]
        assert len(notes) == 1
        assert intent_id in notes[0]
        assert journal.integrity_check() == "ok"
    finally:
        journal.close()


def _notes(path: Path) -> list[str]:
    with read_only(path) as con:
        rows = con.execute("SELECT payload FROM notes WHERE kind = 'reconciliation'").fetchall()
    return [str(r[0]) for r in rows]
