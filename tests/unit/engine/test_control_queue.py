"""EngineControls: the thread-safe queue between the dashboard's threads and the engine."""

from __future__ import annotations

import threading

import pytest

from greekfire.engine.control import ControlCommand, ControlKind, EngineControls, LiveState


def test_commands_come_out_once_in_submission_order() -> None:
    controls = EngineControls()
    first = ControlCommand(ControlKind.PAUSE_ENTRIES, reason="news", by="dashboard")
    second = ControlCommand(ControlKind.DISABLE_STRATEGY, strategy="wheel", reason="earnings")
    assert controls.submit(first) == 1
    assert controls.submit(second) == 2
    assert controls.pending() == 2
    assert controls.take() == [first, second]
    assert controls.take() == []
    assert controls.pending() == 0


def test_disable_without_a_strategy_is_refused_and_not_queued() -> None:
    controls = EngineControls()
    with pytest.raises(ValueError, match="strategy: disable_strategy needs a strategy name"):
        controls.submit(ControlCommand(ControlKind.DISABLE_STRATEGY))
    assert controls.pending() == 0


def test_a_full_queue_refuses_more() -> None:
    controls = EngineControls()
    command = ControlCommand(ControlKind.RESUME_ENTRIES)
    for _ in range(1_000):
        controls.submit(command)
    with pytest.raises(ValueError, match="1000 commands already wait"):
        controls.submit(command)
    assert len(controls.take()) == 1_000


def test_submissions_from_many_threads_are_all_taken_exactly_once() -> None:
    controls = EngineControls()
    taken: list[ControlCommand] = []
    done = threading.Event()

    def engine() -> None:
        while not done.is_set() or controls.pending():
            taken.extend(controls.take())

    def dashboard(n: int) -> None:
        for i in range(100):
            controls.submit(ControlCommand(ControlKind.FLATTEN, reason=f"{n}-{i}"))

    reader = threading.Thread(target=engine)
    reader.start()
    writers = [threading.Thread(target=dashboard, args=(n,)) for n in range(4)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    done.set()
    reader.join()
    reasons = [c.reason for c in taken]
    assert sorted(reasons) == sorted(f"{n}-{i}" for n in range(4) for i in range(100))
    for n in range(4):  # each thread's commands keep their order
        mine = [r for r in reasons if r.startswith(f"{n}-")]
        assert mine == [f"{n}-{i}" for i in range(100)]


def test_live_state_is_immutable() -> None:
    state = LiveState(cycle=3, entries_paused=True)
    with pytest.raises(AttributeError):
        state.cycle = 4  # type: ignore[misc]
    assert state.positions == ()
    assert state.kill_switch is None
