"""The write-ahead intent survives a SIGKILL: a child process records an intent and is killed
before it could send it; the reopened journal holds the intent, passes ``integrity_check``,
and reconciliation resolves it by asking the broker, never by sending it again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from greekfire.domain.orders import BrokerEvent, Order, OrderStatus
from greekfire.domain.portfolio import Account, Position
from greekfire.errors import OrderRejected
from greekfire.journal.recovery import NEVER_REACHED_BROKER, reconcile
from greekfire.journal.sqlite import Journal

pytestmark = pytest.mark.integration

T0 = 1_700_000_000_000_000_000
CID = "gf-crash-1"

CHILD = textwrap.dedent(
    """
    import sys
    from greekfire.domain.orders import Order, OrderIntent, Side
    from greekfire.journal.sqlite import Journal

    class Clock:
        def now_ns(self):
            return {t0}

    journal = Journal(sys.argv[1], clock=Clock())
    journal.record_note("decision", {{"buffered": True}})  # buffered: may be lost, must not harm
    order = Order({cid!r}, OrderIntent.single("SPY", Side.BUY, 10, strategy="momentum"),
                  created_ns={t0}, updated_ns={t0})
    journal.record_intent(order)
    print("intent-written", flush=True)
    sys.stdin.read()  # "sending": blocks until the parent kills us
    """
).format(t0=T0, cid=CID)


class Clock:
    def now_ns(self) -> int:
        return T0 + 60_000_000_000


class FakeBroker:
    """An in-memory broker that records calls; it holds whatever the test gives it."""

    name = "fake"

    def __init__(self, held: dict[str, Order] | None = None) -> None:
        self.held = dict(held or {})
        self.calls: list[tuple[str, Any]] = []

    def account(self) -> Account:
        return Account(100_000.0, 100_000.0, 100_000.0)

    def positions(self) -> dict[str, Position]:
        self.calls.append(("positions", None))
        return {}

    def orders(self, *, open_only: bool = True) -> list[Order]:
        self.calls.append(("orders", open_only))
        return [o for o in self.held.values() if o.is_open or not open_only]

    def get_order(self, client_order_id: str) -> Order | None:
        self.calls.append(("get_order", client_order_id))
        return self.held.get(client_order_id)

    def submit(self, order: Order) -> Order:
        self.calls.append(("submit", order.client_order_id))
        raise OrderRejected("this broker must never be sent anything")

    def cancel(self, client_order_id: str) -> Order:
        self.calls.append(("cancel", client_order_id))
        raise OrderRejected("not open")

    def events(self, after_seq: int = 0) -> list[BrokerEvent]:
        self.calls.append(("events", after_seq))
        return []

    def close(self) -> None:
        pass


def kill_after_intent(path: Path) -> None:
    """Run the child until it has written the intent, check a reader sees it, SIGKILL it."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "intent-written":
            proc.kill()
            _, err = proc.communicate(timeout=30)
            pytest.fail(f"child did not write the intent: {line!r} {err}")
        # while the writer is alive (and blocked), another process's reader sees the intent
        with Journal.open_readonly(path) as reader:
            assert [o.client_order_id for o in reader.pending_intents()] == [CID]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_intent_survives_sigkill_and_is_canceled_not_resent(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    kill_after_intent(path)
    assert Path(f"{path}-wal").exists()  # the process died with its WAL not checkpointed

    with Journal(path, clock=Clock()) as journal:
        assert journal.integrity_check() == "ok"
        [intent] = journal.pending_intents()
        assert intent.client_order_id == CID
        assert intent.status is OrderStatus.PENDING_NEW
        assert intent.qty == 10
        assert journal.notes() == []  # the buffered note died with the process, harmlessly

        broker = FakeBroker()  # the crash came before the send: the broker never saw it
        report = reconcile(journal, broker, "halt", Clock())

        assert [n for n, _ in broker.calls if n == "submit"] == []
        assert ("get_order", CID) in broker.calls
        assert report.ok
        after = journal.order(CID)
        assert after is not None
        assert (after.status, after.reason) == (OrderStatus.CANCELED, NEVER_REACHED_BROKER)
        assert journal.pending_intents() == []

    with Journal.open_readonly(path) as reader:
        assert reader.integrity_check() == "ok"
        assert [o.status for o in reader.orders()] == [OrderStatus.CANCELED]


def test_intent_the_broker_got_is_adopted_without_a_duplicate(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    kill_after_intent(path)

    with Journal(path, clock=Clock()) as journal:
        [intent] = journal.pending_intents()
        # the send reached the broker, the acknowledgement never reached us
        broker = FakeBroker(
            {CID: intent.with_status(OrderStatus.NEW, T0 + 1, broker_order_id="b-42")}
        )
        report = reconcile(journal, broker, "halt", Clock())

        assert [n for n, _ in broker.calls if n == "submit"] == []
        assert report.ok
        assert [(r.outcome, r.status) for r in report.resolved] == [("sent", OrderStatus.NEW)]
        after = journal.order(CID)
        assert after is not None
        assert (after.status, after.broker_order_id) == (OrderStatus.NEW, "b-42")
        assert len(journal.orders()) == 1
        assert journal.integrity_check() == "ok"
