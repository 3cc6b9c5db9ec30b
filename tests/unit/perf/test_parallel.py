"""ParallelProcessor: ordered per-item outcomes on threads, processes and Dask; chunking;
errors captured per item; the shared value shipped once; Ctrl-C cancels; progress off a tty.

Worker functions are module-level so that processes and Dask workers can import them. The Dask
tests share one module-scoped LocalCluster of two workers.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import os
import pickle
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from greekfire.perf import parallel
from greekfire.perf.parallel import (
    Backend,
    ItemError,
    ItemResult,
    MapResult,
    ParallelProcessor,
    ParallelTaskError,
    parallel_map_processes,
    parallel_map_threads,
)

BACKENDS = ["threads", "processes", "dask"]
RUNNERS: dict[str, type[Any]] = {
    "threads": parallel._ThreadRunner,
    "processes": parallel._ProcessRunner,
    "dask": parallel._DaskRunner,
}


# --- worker functions (module-level: picklable by reference) ----------------------------------


def square(x: int) -> int:
    return x * x


def square_but_seven_fails(x: int) -> int:
    if x == 7:
        raise ValueError(f"bad item {x}")
    return x * x


class TwoArgError(Exception):
    """An exception that does not survive a pickle round trip (its __init__ needs two args)."""

    def __init__(self, code: int, why: str) -> None:
        super().__init__(f"{code}: {why}")


def raise_unpicklable_error(x: int) -> int:
    if x == 2:
        raise TwoArgError(x, "not picklable as such")
    return x


def interrupt_on_two(x: int) -> int:
    if x == 2:
        raise KeyboardInterrupt
    return x


def lock_on_four(x: int) -> object:
    # A lock cannot be pickled: the whole task that returns it fails on the way back.
    return threading.Lock() if x == 4 else x


def long_task(x: int) -> int:
    # Stands for long work: the interrupt tests pass only if nobody waits for it.
    time.sleep(60)
    return x


class CountingPayload:
    """A shared value that counts how often it is pickled in this (the calling) process."""

    pickles = 0

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def __reduce__(self) -> tuple[Any, ...]:
        CountingPayload.pickles += 1
        return (CountingPayload, (self.values,))


def add_payload_sum(x: int, payload: CountingPayload) -> float:
    return x + float(payload.values.sum())


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_processor() -> Iterator[ParallelProcessor]:
    with ParallelProcessor("dask", max_workers=2) as processor:
        processor.dask_client()
        yield processor


@pytest.fixture(params=BACKENDS)
def processor(request: pytest.FixtureRequest) -> Iterator[ParallelProcessor]:
    if request.param == "dask":
        yield request.getfixturevalue("dask_processor")
        return
    with ParallelProcessor(request.param, max_workers=2) as local:
        yield local


@pytest.fixture
def payload() -> CountingPayload:
    CountingPayload.pickles = 0
    return CountingPayload(np.arange(100_000, dtype=np.float64))


# --- results -----------------------------------------------------------------------------------


def test_results_are_ordered_and_equal_a_serial_map(processor: ParallelProcessor) -> None:
    items = list(range(23))
    result = processor.map(square, items)
    assert result.ok
    assert result.values == [square(x) for x in items]
    assert [r.index for r in result] == items
    assert [r.item for r in result] == items


def test_a_failing_item_returns_its_error_while_the_others_succeed(
    processor: ParallelProcessor,
) -> None:
    result = processor.map(square_but_seven_fails, range(12), chunksize=4)
    assert not result.ok
    [failed] = result.errors
    assert (failed.index, failed.item, failed.value) == (7, 7, None)
    assert failed.error is not None
    assert failed.error.type_name == "ValueError"
    assert failed.error.message == "bad item 7"
    assert "square_but_seven_fails" in failed.error.traceback
    assert 'raise ValueError(f"bad item {x}")' in failed.error.traceback
    assert [r.value for r in result if r.ok] == [x * x for x in range(12) if x != 7]
    with pytest.raises(ParallelTaskError, match=r"item 7 \(7\) failed: ValueError: bad item 7"):
        result.raise_first()
    with pytest.raises(ParallelTaskError) as raised:
        _ = result.values
    assert raised.value.result is failed


def test_an_exception_that_cannot_be_pickled_still_comes_back_from_a_worker(
    processor: ParallelProcessor,
) -> None:
    result = processor.map(raise_unpicklable_error, range(4))
    [failed] = result.errors
    assert failed.index == 2
    assert failed.error is not None
    assert failed.error.type_name == f"{__name__}.TwoArgError"
    assert failed.error.message == "2: not picklable as such"


def test_a_task_whose_result_cannot_be_pickled_fails_only_its_own_chunk() -> None:
    result = parallel_map_processes(lock_on_four, range(9), chunksize=3, max_workers=2)
    assert [r.index for r in result.errors] == [3, 4, 5]
    assert all("pickle" in str(r.error).lower() for r in result.errors)
    assert [r.value for r in result if r.ok] == [0, 1, 2, 6, 7, 8]


def test_keyboard_interrupt_inside_a_worker_process_is_that_items_error() -> None:
    result = parallel_map_processes(interrupt_on_two, range(5), max_workers=2)
    [failed] = result.errors
    assert failed.index == 2
    assert failed.error is not None
    assert (failed.error.type_name, failed.error.message) == ("KeyboardInterrupt", "")
    assert "interrupt_on_two" in failed.error.traceback


def test_item_error_and_task_error_survive_pickling() -> None:
    error = ItemError.from_exception(ValueError("boom"))
    result: ItemResult[int, int] = ItemResult(3, 3, None, error)
    assert pickle.loads(pickle.dumps(error)) == error
    copy = pickle.loads(pickle.dumps(ParallelTaskError(result)))
    assert isinstance(copy, ParallelTaskError)
    assert copy.result == result
    assert str(copy) == str(ParallelTaskError(result))


def test_map_result_behaves_like_a_tuple_of_item_results() -> None:
    ok: ItemResult[str, int] = ItemResult(0, "a", 1, None)
    bad: ItemResult[str, int] = ItemResult(1, "b", None, ItemError("KeyError", "'b'", ""))
    result = MapResult((ok, bad))
    assert len(result) == 2
    assert list(result) == [ok, bad]
    assert result[1] is bad
    assert (ok.ok, bad.ok, result.ok) == (True, False, False)
    assert result.errors == [bad]
    assert str(bad.error) == "KeyError: 'b'"
    assert MapResult(()).values == []


# --- chunking ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_items", "chunksize", "expected"),
    [
        (0, 3, []),
        (1, 3, [(0, 1)]),
        (6, 3, [(0, 3), (3, 6)]),
        (7, 3, [(0, 3), (3, 6), (6, 7)]),
        (2, 5, [(0, 2)]),
    ],
)
def test_chunk_spans_cover_every_item_once(
    n_items: int, chunksize: int, expected: list[tuple[int, int]]
) -> None:
    assert parallel._chunk_spans(n_items, chunksize) == expected


@pytest.mark.parametrize(
    ("n_items", "n_workers", "expected"), [(1, 8, 1), (8, 2, 1), (9, 2, 2), (100, 2, 13)]
)
def test_default_chunksize_gives_about_four_tasks_per_worker(
    n_items: int, n_workers: int, expected: int
) -> None:
    assert parallel._default_chunksize(n_items, n_workers) == expected


@pytest.mark.parametrize(
    ("n_items", "chunksize", "chunk_lengths"), [(7, 3, [3, 3, 1]), (1, 4, [1]), (0, 2, [])]
)
def test_chunk_boundaries_on_every_backend(
    processor: ParallelProcessor,
    monkeypatch: pytest.MonkeyPatch,
    n_items: int,
    chunksize: int,
    chunk_lengths: list[int],
) -> None:
    runner = RUNNERS[processor.backend]
    submitted: list[int] = []
    real_submit = runner.submit

    def spy(self: Any, chunk: list[Any]) -> Any:
        submitted.append(len(chunk))
        return real_submit(self, chunk)

    monkeypatch.setattr(runner, "submit", spy)
    result = processor.map(square, range(n_items), chunksize=chunksize)
    assert sorted(submitted, reverse=True) == chunk_lengths
    assert result.values == [x * x for x in range(n_items)]


def test_default_chunking_sends_several_items_per_process_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    submitted: list[int] = []
    real_submit = parallel._ProcessRunner.submit

    def spy(self: Any, chunk: list[Any]) -> Any:
        submitted.append(len(chunk))
        return real_submit(self, chunk)

    monkeypatch.setattr(parallel._ProcessRunner, "submit", spy)
    assert parallel_map_processes(square, range(40), max_workers=2).ok
    assert submitted == [5] * 8


# --- the shared value --------------------------------------------------------------------------


def test_threads_pass_the_shared_value_without_pickling(payload: CountingPayload) -> None:
    seen: list[object] = []

    def keep(x: int, shared: object) -> int:
        seen.append(shared)
        return x

    assert parallel_map_threads(keep, range(10), shared=payload, max_workers=2).values == list(
        range(10)
    )
    assert all(shared is payload for shared in seen)
    assert CountingPayload.pickles == 0


def test_processes_receive_the_shared_value_once_per_worker_not_per_task(
    payload: CountingPayload, monkeypatch: pytest.MonkeyPatch
) -> None:
    initializers: list[object] = []

    class PoolSpy(multiprocessing.pool.Pool):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            initializers.append(args[1] if len(args) > 1 else kwargs.get("initializer"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(multiprocessing.pool, "Pool", PoolSpy)
    total = float(payload.values.sum())
    result = parallel_map_processes(
        add_payload_sum, range(20), shared=payload, chunksize=1, max_workers=2
    )
    assert result.values == [x + total for x in range(20)]
    assert initializers == [parallel._init_process_worker]
    # One pickle per worker process under forkserver/spawn (none under fork); 20 tasks ran.
    assert CountingPayload.pickles <= 2


def test_dask_scatters_the_shared_value_once_not_per_task(
    dask_processor: ParallelProcessor, payload: CountingPayload, monkeypatch: pytest.MonkeyPatch
) -> None:
    client: Any = dask_processor.dask_client()
    scatters: list[bool] = []
    real_scatter = client.scatter

    def scatter_spy(data: Any, **kwargs: Any) -> Any:
        scatters.append(kwargs.get("broadcast", False))
        return real_scatter(data, **kwargs)

    monkeypatch.setattr(client, "scatter", scatter_spy)
    total = float(payload.values.sum())
    result = dask_processor.map(add_payload_sum, range(20), shared=payload, chunksize=1)
    assert result.values == [x + total for x in range(20)]
    assert scatters == [True]
    assert CountingPayload.pickles <= 2


# --- Ctrl-C ------------------------------------------------------------------------------------


def test_threads_keyboard_interrupt_from_fn_propagates() -> None:
    with pytest.raises(KeyboardInterrupt):
        parallel_map_threads(interrupt_on_two, range(50), max_workers=2)


def test_threads_interrupt_cancels_queued_chunks_without_waiting_for_running_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate = threading.Event()
    futures: list[Any] = []

    def blocks_after_first(x: int) -> int:
        if x > 0:
            gate.wait(timeout=30)
        return x

    def interrupted(self: Any, pending: list[Any]) -> Iterator[Any]:
        futures.extend(pending)
        raise KeyboardInterrupt

    monkeypatch.setattr(parallel._ThreadRunner, "as_completed", interrupted)
    try:
        with pytest.raises(KeyboardInterrupt):
            parallel_map_threads(blocks_after_first, range(10), max_workers=1)
        # One thread: at most items 0 and 1 started; the eight behind them were cancelled.
        assert len(futures) == 10
        assert all(future.cancelled() for future in futures[2:])
    finally:
        gate.set()


def _pool_worker_pids() -> set[int]:
    return {p.pid for p in multiprocessing.active_children() if "PoolWorker" in p.name if p.pid}


def _new_pool_workers(before: set[int]) -> list[int]:
    # Pool workers started since ``before`` and still alive (other tests' pools may live on).
    return sorted(_pool_worker_pids() - before)


def test_processes_interrupt_terminates_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    before = _pool_worker_pids()
    futures: list[Any] = []

    def interrupted(self: Any, pending: list[Any]) -> Iterator[Any]:
        futures.extend(pending)
        raise KeyboardInterrupt

    monkeypatch.setattr(parallel._ProcessRunner, "as_completed", interrupted)
    with pytest.raises(KeyboardInterrupt):
        parallel_map_processes(long_task, range(6), chunksize=1, max_workers=2)
    assert len(futures) == 6
    assert all(future.cancelled() for future in futures)
    assert _new_pool_workers(before) == []


def worker_pid(x: int) -> int:
    return os.getpid()


def test_maps_without_shared_reuse_one_process_pool_until_close() -> None:
    before = _pool_worker_pids()
    processor = ParallelProcessor("processes", max_workers=2, chunksize=1)
    try:
        first = set(processor.map(worker_pid, range(8)).values)
        second = set(processor.map(worker_pid, range(8)).values)
        assert second <= first  # only the first map's worker processes served the second
        assert len(first) <= 2
        assert os.getpid() not in first
        # A map with a shared value gets a pool of its own and leaves the persistent one alone.
        assert processor.map(add_one_shared, range(3), shared=10).values == [10, 11, 12]
        assert set(processor.map(worker_pid, range(8)).values) <= first
    finally:
        processor.close()
    assert _new_pool_workers(before) == []


def test_an_interrupted_persistent_pool_is_replaced_by_the_next_map(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with ParallelProcessor("processes", max_workers=2, chunksize=1) as processor:
        before = set(processor.map(worker_pid, range(4)).values)

        def interrupted(self: Any, pending: list[Any]) -> Iterator[Any]:
            raise KeyboardInterrupt

        monkeypatch.setattr(parallel._ProcessRunner, "as_completed", interrupted)
        with pytest.raises(KeyboardInterrupt):
            processor.map(long_task, range(4))
        monkeypatch.undo()
        after = set(processor.map(worker_pid, range(4)).values)
        assert after.isdisjoint(before)  # the terminated workers were not reused


def add_one_shared(x: int, base: int) -> int:
    return base + x


def test_dask_interrupt_cancels_the_futures(
    dask_processor: ParallelProcessor, monkeypatch: pytest.MonkeyPatch
) -> None:
    futures: list[Any] = []

    def interrupted(self: Any, pending: list[Any]) -> Iterator[Any]:
        futures.extend(pending)
        raise KeyboardInterrupt

    monkeypatch.setattr(parallel._DaskRunner, "as_completed", interrupted)
    with pytest.raises(KeyboardInterrupt):
        dask_processor.map(square, range(8), chunksize=2)
    assert len(futures) == 4
    assert all(future.cancelled() for future in futures)
    monkeypatch.undo()
    assert dask_processor.map(square, range(3)).values == [0, 1, 4]


# --- progress, dask connection, validation ----------------------------------------------------


def test_progress_bar_runs_without_a_terminal(
    processor: ParallelProcessor, capsys: pytest.CaptureFixture[str]
) -> None:
    result = processor.map(square, range(9), progress=True)
    assert result.values == [x * x for x in range(9)]
    captured = capsys.readouterr()
    assert f"{processor.backend} map" in captured.err
    assert "9/9" in captured.err
    assert captured.out == ""


def test_a_processor_on_an_existing_scheduler_leaves_the_cluster_running(
    dask_processor: ParallelProcessor,
) -> None:
    client: Any = dask_processor.dask_client()
    address = client.scheduler.address
    with ParallelProcessor("dask", scheduler_address=address) as remote:
        assert remote.map(square, range(4)).values == [0, 1, 4, 9]
    assert dask_processor.map(square, range(4)).values == [0, 1, 4, 9]


def test_a_closed_processor_refuses_work() -> None:
    processor = ParallelProcessor()
    processor.close()
    processor.close()
    with pytest.raises(RuntimeError, match="closed"):
        processor.map(square, [1])


@pytest.mark.parametrize(("given", "guess"), [("thread", "threads"), ("Dask", "dask")])
def test_unknown_backend_names_the_valid_ones(given: str, guess: str) -> None:
    with pytest.raises(ValueError, match=rf"unknown backend '{given}'.*did you mean '{guess}'"):
        ParallelProcessor(given)
    with pytest.raises(ValueError, match="'threads', 'processes', 'dask'"):
        ParallelProcessor().map(square, [1], backend=given)


def test_backend_accepts_the_enum_and_its_strings() -> None:
    assert ParallelProcessor(Backend.DASK).backend is Backend.DASK
    assert ParallelProcessor("processes").backend is Backend.PROCESSES


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: ParallelProcessor().map(3, [1]),  # type: ignore[call-overload]
            TypeError,
            "fn must be callable, got int",
        ),
        (
            lambda: ParallelProcessor("processes").map(lambda x: x, [1]),
            TypeError,
            "fn must be picklable",
        ),
        (lambda: ParallelProcessor(chunksize=0), ValueError, "chunksize must be >= 1"),
        (lambda: ParallelProcessor().map(square, [1], max_workers=0), ValueError, "max_workers"),
        (lambda: ParallelProcessor(max_workers=True), TypeError, "max_workers must be"),
        (lambda: ParallelProcessor(start_method="fast"), ValueError, "unknown start_method"),
    ],
)
def test_invalid_arguments_are_refused(
    call: Callable[[], object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        call()


def test_empty_items_start_no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_runner(*args: Any) -> Any:
        raise AssertionError("no runner for no items")

    monkeypatch.setattr(ParallelProcessor, "_runner", no_runner)
    for backend in BACKENDS:
        assert ParallelProcessor(backend).map(square, []).results == ()
