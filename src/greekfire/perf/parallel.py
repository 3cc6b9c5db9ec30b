"""One ``map`` over threads, processes or a Dask cluster, with per-item outcomes.

``ParallelProcessor.map(fn, items, backend=...)`` runs ``fn`` on every item and returns a
:class:`MapResult`: one :class:`ItemResult` per item, in input order, each holding either the
value or an :class:`ItemError` (type, message, formatted traceback). One failing item never
loses the results of the others; ``MapResult.values`` or ``raise_first()`` turn failures into
an exception when the caller wants all-or-nothing.

Design
------
Every backend is a small runner with the same four steps, driven by one loop (``_drive``):

- ``submit(chunk)`` sends several items as one task and returns a future. Threads and
  processes give ``concurrent.futures.Future`` (a ``multiprocessing.Pool`` task completes one
  through its callbacks), Dask gives ``distributed.Future``;
- ``as_completed(futures)`` yields them as they finish; the loop places each chunk's
  outcomes at their input positions and advances the optional rich progress bar;
- ``abort(futures)`` runs on any ``BaseException`` in the caller, Ctrl-C included: threads
  cancel the queued futures without waiting for them, processes terminate the pool, Dask
  cancels the futures; the exception is then re-raised;
- ``finish()`` releases the runner after a normal run.

Errors are captured per item inside the task, as picklable :class:`ItemError` records, so
they cross process and network boundaries. A whole task can also fail (its result cannot be
unpickled, a Dask worker dies): every item of that chunk then carries that error. In the
thread backend a ``KeyboardInterrupt`` raised by ``fn`` is the caller's own interrupt and
cancels the map; in a worker process it is only that item's error (workers ignore SIGINT:
on Ctrl-C the caller terminates them).

A ``shared`` value (a large array, a model) is shipped to the workers once instead of once per
task, and ``fn`` is called as ``fn(item, shared)``: threads pass it directly, processes hand
it to the pool initializer (one pickle per worker process, none under ``fork``), Dask
scatters it with ``broadcast=True`` and tasks refer to it by key.

Processes start with ``forkserver`` where available (``spawn`` elsewhere): forking a process
that runs threads (a Dask client, a progress bar, a web server) can deadlock the child.
``start_method="fork"`` is faster to start when the caller knows it is single-threaded.
Maps without ``shared`` reuse one process pool for the processor's lifetime (a worker's start
and imports cost 0.1-0.2 s, more than many maps); a map with ``shared`` gets its own pool,
whose initializer holds the value. Ctrl-C terminates the pool; the next map starts a new one.
The Dask backend starts a ``LocalCluster`` (one single-threaded worker process per core, no
dashboard, quiet logs) on first use, or connects to ``scheduler_address``; the processor
closes what it created (``close()`` or ``with``). ``dask.distributed`` is imported only then.
"""

from __future__ import annotations

import concurrent.futures as cf
import difflib
import logging
import multiprocessing
import os
import pickle
import signal
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum, StrEnum
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast, overload

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "Backend",
    "ItemError",
    "ItemResult",
    "MapResult",
    "ParallelProcessor",
    "ParallelTaskError",
    "parallel_map_processes",
    "parallel_map_threads",
]

T = TypeVar("T")
R = TypeVar("R")
S = TypeVar("S")

# Tasks per worker when the caller gives no chunksize (as multiprocessing.Pool.map): enough
# tasks to balance uneven items, few enough that per-task overhead stays small.
_TASKS_PER_WORKER = 4


class Backend(StrEnum):
    """Where ``map`` runs the calls.

    Attributes
    ----------
    THREADS
        A thread pool in this process: no pickling; speeds up I/O and GIL-releasing code.
    PROCESSES
        A ``multiprocessing`` pool: CPU-bound pure Python; ``fn`` and items must pickle.
    DASK
        A ``dask.distributed`` cluster: local processes or a remote scheduler.
    """

    THREADS = "threads"
    PROCESSES = "processes"
    DASK = "dask"


class _NoShared(Enum):
    # An Enum member pickles by name, so the sentinel keeps its identity in worker processes.
    TOKEN = "no shared value"


_NO_SHARED = _NoShared.TOKEN


@dataclass(frozen=True, slots=True)
class ItemError:
    """A picklable record of the exception one item raised.

    Attributes
    ----------
    type_name : str
        The exception class, qualified by its module unless it is a builtin
        (``"ValueError"``, ``"mypkg.errors.Bad"``).
    message : str
        ``str(exception)``.
    traceback : str
        The formatted traceback, as ``traceback.format_exception`` prints it (the worker's
        frames for process and Dask backends).
    """

    type_name: str
    message: str
    traceback: str

    @classmethod
    def from_exception(cls, exc: BaseException) -> ItemError:
        """Record ``exc`` (its class name, message and formatted traceback)."""
        kind = type(exc)
        name = kind.__qualname__
        if kind.__module__ != "builtins":
            name = f"{kind.__module__}.{name}"
        text = "".join(traceback.format_exception(exc))
        return cls(type_name=name, message=str(exc), traceback=text)

    def __str__(self) -> str:
        return f"{self.type_name}: {self.message}" if self.message else self.type_name


@dataclass(frozen=True, slots=True)
class ItemResult(Generic[T, R]):
    """The outcome of ``fn`` on one item.

    Attributes
    ----------
    index : int
        The item's position in the input.
    item : T
        The input item itself.
    value : R or None
        What ``fn`` returned; ``None`` when it raised.
    error : ItemError or None
        What ``fn`` raised; ``None`` on success.
    """

    index: int
    item: T
    value: R | None
    error: ItemError | None

    @property
    def ok(self) -> bool:
        """Whether ``fn`` returned for this item."""
        return self.error is None


class ParallelTaskError(Exception):
    """An item failed; raised by :meth:`MapResult.raise_first` and :attr:`MapResult.values`.

    Attributes
    ----------
    result : ItemResult
        The failed item's outcome (``index``, ``item``, ``error``).
    """

    def __init__(self, result: ItemResult[Any, Any]) -> None:
        error = result.error
        detail = f"{error}\n\n{error.traceback}" if error is not None else "no error recorded"
        super().__init__(f"item {result.index} ({result.item!r:.80}) failed: {detail}")
        self.result = result

    def __reduce__(self) -> tuple[type[ParallelTaskError], tuple[ItemResult[Any, Any]]]:
        return (ParallelTaskError, (self.result,))


@dataclass(frozen=True, slots=True)
class MapResult(Generic[T, R]):
    """Every item's :class:`ItemResult`, in input order.

    Iterate it, index it or take ``len`` of it like a tuple of ``ItemResult``.

    Attributes
    ----------
    results : tuple of ItemResult
        One outcome per input item, ``results[i].index == i``.
    """

    results: tuple[ItemResult[T, R], ...]

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self) -> Iterator[ItemResult[T, R]]:
        return iter(self.results)

    def __getitem__(self, index: int) -> ItemResult[T, R]:
        return self.results[index]

    @property
    def ok(self) -> bool:
        """Whether every item succeeded."""
        return all(result.ok for result in self.results)

    @property
    def errors(self) -> list[ItemResult[T, R]]:
        """The failed items, in input order."""
        return [result for result in self.results if not result.ok]

    @property
    def values(self) -> list[R]:
        """Every item's value, in input order.

        Raises
        ------
        ParallelTaskError
            If any item failed (the first one); inspect ``results`` or ``errors`` to keep the
            values that did succeed.
        """
        self.raise_first()
        return [cast(R, result.value) for result in self.results]

    def raise_first(self) -> None:
        """Raise :class:`ParallelTaskError` for the first failed item, if any."""
        for result in self.results:
            if not result.ok:
                raise ParallelTaskError(result)


# An item's outcome as it travels back from a worker: (value, None) or (None, error).
_Outcome = tuple[Any, ItemError | None]


def _call(fn: Callable[..., Any], item: Any, shared: Any) -> Any:
    return fn(item) if shared is _NO_SHARED else fn(item, shared)


def _run_chunk_local(fn: Callable[..., Any], chunk: list[Any], shared: Any) -> list[_Outcome]:
    # Threads: Exception only, so a KeyboardInterrupt reaches the caller and cancels the map.
    outcomes: list[_Outcome] = []
    for item in chunk:
        try:
            outcomes.append((_call(fn, item, shared), None))
        except Exception as exc:
            outcomes.append((None, ItemError.from_exception(exc)))
    return outcomes


def _run_chunk_remote(fn: Callable[..., Any], chunk: list[Any], shared: Any) -> list[_Outcome]:
    # In a worker process any BaseException is the item's: an escaping KeyboardInterrupt or
    # SystemExit would kill a Pool worker and leave its task pending forever.
    outcomes: list[_Outcome] = []
    for item in chunk:
        try:
            outcomes.append((_call(fn, item, shared), None))
        except BaseException as exc:
            outcomes.append((None, ItemError.from_exception(exc)))
    return outcomes


# The shared value of the pool this worker process belongs to, set by its initializer.
_worker_shared: Any = _NO_SHARED


def _init_process_worker(shared: Any) -> None:
    global _worker_shared
    _worker_shared = shared
    # Ctrl-C reaches the whole process group; the caller handles it by terminating the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_chunk_in_process(fn: Callable[..., Any], chunk: list[Any]) -> list[_Outcome]:
    return _run_chunk_remote(fn, chunk, _worker_shared)


def _cpu_count() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _default_start_method() -> str:
    methods = multiprocessing.get_all_start_methods()
    return "forkserver" if "forkserver" in methods else "spawn"


def _default_chunksize(n_items: int, n_workers: int) -> int:
    return max(1, -(-n_items // (n_workers * _TASKS_PER_WORKER)))


def _chunk_spans(n_items: int, chunksize: int) -> list[tuple[int, int]]:
    return [(start, min(start + chunksize, n_items)) for start in range(0, n_items, chunksize)]


def _parse_backend(value: object) -> Backend:
    valid = [backend.value for backend in Backend]
    if isinstance(value, str) and value in valid:
        return Backend(value)
    close = difflib.get_close_matches(str(value), valid, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    expected = ", ".join(repr(name) for name in valid)
    raise ValueError(f"unknown backend {value!r}: expected one of {expected}{hint}")


def _check_positive(name: str, value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a positive int or None, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1 or None, got {value}")


def _check_picklable(fn: Callable[..., Any]) -> None:
    try:
        pickle.dumps(fn)
    except Exception as exc:
        name = getattr(fn, "__qualname__", repr(fn))
        raise TypeError(
            f"fn must be picklable for the 'processes' backend (a module-level function, not a "
            f"lambda or a local function), got {name}: {exc}"
        ) from exc


class _Runner(Protocol):
    # What one backend does for one map call; _drive is the loop over it.
    def submit(self, chunk: list[Any]) -> Any: ...

    def as_completed(self, futures: list[Any]) -> Iterable[Any]: ...

    def abort(self, futures: list[Any]) -> None: ...

    def finish(self) -> None: ...


class _ThreadRunner:
    def __init__(self, fn: Callable[..., Any], n_workers: int, shared: Any) -> None:
        self._fn = fn
        self._shared = shared
        self._executor = cf.ThreadPoolExecutor(n_workers, thread_name_prefix="greekfire-map")

    def submit(self, chunk: list[Any]) -> cf.Future[list[_Outcome]]:
        return self._executor.submit(_run_chunk_local, self._fn, chunk, self._shared)

    def as_completed(self, futures: list[Any]) -> Iterable[Any]:
        return cf.as_completed(futures)

    def abort(self, futures: list[Any]) -> None:
        # Running threads cannot be stopped; queued chunks are dropped, nothing is awaited.
        self._executor.shutdown(wait=False, cancel_futures=True)

    def finish(self) -> None:
        self._executor.shutdown(wait=True)


class _ProcessRunner:
    # ``keep``: the pool is the processor's persistent one (no ``shared``), left running after
    # the map; ``forget`` tells the processor a terminated pool is gone.
    def __init__(
        self, fn: Callable[..., Any], pool: Any, keep: bool, forget: Callable[[], None]
    ) -> None:
        self._fn = fn
        self._pool = pool
        self._keep = keep
        self._forget = forget

    def submit(self, chunk: list[Any]) -> cf.Future[list[_Outcome]]:
        future: cf.Future[list[_Outcome]] = cf.Future()
        self._pool.apply_async(
            _run_chunk_in_process,
            (self._fn, chunk),
            callback=future.set_result,
            error_callback=future.set_exception,
        )
        return future

    def as_completed(self, futures: list[Any]) -> Iterable[Any]:
        return cf.as_completed(futures)

    def abort(self, futures: list[Any]) -> None:
        # terminate() joins the result thread, so no callback can complete a future after it.
        self._pool.terminate()
        self._pool.join()
        self._forget()
        for future in futures:
            future.cancel()

    def finish(self) -> None:
        if not self._keep:
            self._pool.close()
            self._pool.join()


class _DaskRunner:
    def __init__(self, client: Any, fn: Callable[..., Any], shared: Any) -> None:
        self._client = client
        self._fn = fn
        self._shared: Any = _NO_SHARED
        if shared is not _NO_SHARED:
            # A list of one: scatter would split a list or dict value into one key per element.
            [self._shared] = client.scatter([shared], broadcast=True, hash=False)

    def submit(self, chunk: list[Any]) -> Any:
        return self._client.submit(_run_chunk_remote, self._fn, chunk, self._shared, pure=False)

    def as_completed(self, futures: list[Any]) -> Iterable[Any]:
        import distributed

        # distributed has no type hints: reach it through Any.
        dist: Any = distributed
        return cast(Iterable[Any], dist.as_completed(futures, loop=self._client.loop))

    def abort(self, futures: list[Any]) -> None:
        self._client.cancel(futures)
        self.finish()

    def finish(self) -> None:
        if self._shared is not _NO_SHARED:
            self._shared.release()
            self._shared = _NO_SHARED


def _ignore_progress(n_items: int) -> None:
    pass


@contextmanager
def _progress_bar(total: int, enabled: bool, description: str) -> Iterator[Callable[[int], None]]:
    if not enabled:
        yield _ignore_progress
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    # stderr keeps stdout clean for the program's own output; rich degrades off a terminal.
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True)) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n_items: bar.advance(task, n_items)


def _chunk_results(future: Any, start: int, chunk: list[Any]) -> Iterator[ItemResult[Any, Any]]:
    try:
        outcomes: list[_Outcome] = future.result()
    except Exception as exc:
        # The whole task failed (unpicklable result, lost worker): each item gets that error.
        outcomes = [(None, ItemError.from_exception(exc))] * len(chunk)
    for offset, (item, (value, error)) in enumerate(zip(chunk, outcomes, strict=True)):
        yield ItemResult(start + offset, item, value, error)


def _drive(
    runner: _Runner,
    items: list[Any],
    chunksize: int,
    progress: bool,
    description: str,
) -> list[ItemResult[Any, Any]]:
    futures: list[Any] = []
    try:
        spans: dict[Any, tuple[int, int]] = {}
        for start, stop in _chunk_spans(len(items), chunksize):
            future = runner.submit(items[start:stop])
            futures.append(future)
            spans[future] = (start, stop)
        results: list[ItemResult[Any, Any] | None] = [None] * len(items)
        with _progress_bar(len(items), progress, description) as advance:
            for future in runner.as_completed(futures):
                start, stop = spans[future]
                for result in _chunk_results(future, start, items[start:stop]):
                    results[result.index] = result
                advance(stop - start)
    except BaseException:
        runner.abort(futures)
        raise
    runner.finish()
    return cast(list[ItemResult[Any, Any]], results)


class ParallelProcessor:
    """Map a function over items on threads, processes or a Dask cluster.

    Parameters
    ----------
    backend : {"threads", "processes", "dask"} or Backend, default "threads"
        The default backend of :meth:`map`.
    max_workers : int, optional
        Default worker count: threads ``min(32, cores + 4)``, processes ``cores``. For Dask it
        sizes the ``LocalCluster`` this processor starts (default ``cores``).
    chunksize : int, optional
        Default items per task: threads 1, processes and Dask enough for about four tasks
        per worker.
    progress : bool, default False
        Default for showing a rich progress bar (on stderr).
    scheduler_address : str, optional
        ``"tcp://host:8786"``: use that Dask cluster instead of starting a ``LocalCluster``.
        Its workers must be able to import ``greekfire`` and ``fn``'s module.
    start_method : str, optional
        The ``multiprocessing`` start method of the process backend; default ``forkserver``
        (``spawn`` where it is missing).

    Examples
    --------
    >>> with ParallelProcessor(backend="processes") as pp:  # doctest: +SKIP
    ...     result = pp.map(price_chain, chains, shared=vol_surface)
    ...     for failed in result.errors:
    ...         log.warning("chain %s: %s", failed.item, failed.error)
    """

    def __init__(
        self,
        backend: Backend | str = Backend.THREADS,
        *,
        max_workers: int | None = None,
        chunksize: int | None = None,
        progress: bool = False,
        scheduler_address: str | None = None,
        start_method: str | None = None,
    ) -> None:
        self._backend = _parse_backend(backend)
        _check_positive("max_workers", max_workers)
        _check_positive("chunksize", chunksize)
        if start_method is not None and start_method not in multiprocessing.get_all_start_methods():
            valid = ", ".join(multiprocessing.get_all_start_methods())
            raise ValueError(f"unknown start_method {start_method!r}: expected one of {valid}")
        self._max_workers = max_workers
        self._chunksize = chunksize
        self._progress = progress
        self._scheduler_address = scheduler_address
        self._start_method = start_method or _default_start_method()
        # distributed has no type hints: its objects are held as Any.
        self._client: Any = None
        self._cluster: Any = None
        self._pool: Any = None  # the persistent process pool (maps without ``shared``)
        self._pool_workers = 0
        self._closed = False

    @property
    def backend(self) -> Backend:
        """The default backend of :meth:`map`."""
        return self._backend

    @overload
    def map(
        self,
        fn: Callable[[T], R],
        items: Iterable[T],
        *,
        backend: Backend | str | None = None,
        chunksize: int | None = None,
        max_workers: int | None = None,
        progress: bool | None = None,
    ) -> MapResult[T, R]: ...

    @overload
    def map(
        self,
        fn: Callable[[T, S], R],
        items: Iterable[T],
        *,
        shared: S,
        backend: Backend | str | None = None,
        chunksize: int | None = None,
        max_workers: int | None = None,
        progress: bool | None = None,
    ) -> MapResult[T, R]: ...

    def map(
        self,
        fn: Callable[..., R],
        items: Iterable[T],
        *,
        shared: Any = _NO_SHARED,
        backend: Backend | str | None = None,
        chunksize: int | None = None,
        max_workers: int | None = None,
        progress: bool | None = None,
    ) -> MapResult[T, R]:
        """Call ``fn`` on every item in parallel; return every outcome in input order.

        Parameters
        ----------
        fn : callable
            ``fn(item)``, or ``fn(item, shared)`` when ``shared`` is given. Must be picklable
            (module-level) for processes; Dask pickles it with cloudpickle.
        items : iterable
            The inputs; read entirely before any work starts.
        shared : object, optional
            A value every call needs (a large array, a model), sent to each worker once rather
            than with every task.
        backend : {"threads", "processes", "dask"} or Backend, optional
            Overrides the processor's default.
        chunksize : int, optional
            Items per task; overrides the processor's default.
        max_workers : int, optional
            Threads or processes for this call. For Dask it only shapes the default chunking:
            the cluster's size is fixed when it starts.
        progress : bool, optional
            Show a rich progress bar on stderr; overrides the processor's default.

        Returns
        -------
        MapResult
            One :class:`ItemResult` per item; failures are values there, never raised.

        Raises
        ------
        TypeError
            ``fn`` is not callable (or not picklable for processes).
        ValueError
            An unknown backend, or ``chunksize``/``max_workers`` below 1.
        KeyboardInterrupt
            Re-raised after pending work is cancelled and the workers are shut down.
        """
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}: {fn!r:.80}")
        chosen = self._backend if backend is None else _parse_backend(backend)
        _check_positive("chunksize", chunksize)
        _check_positive("max_workers", max_workers)
        if self._closed:
            raise RuntimeError("this ParallelProcessor is closed")
        if chosen is Backend.PROCESSES:
            _check_picklable(fn)
        materialized = list(items)
        if not materialized:
            return MapResult(())
        chunksize = chunksize or self._chunksize
        show = self._progress if progress is None else progress
        runner, chunksize = self._runner(
            chosen, fn, len(materialized), shared, chunksize, max_workers or self._max_workers
        )
        results = _drive(runner, materialized, chunksize, show, f"{chosen.value} map")
        return MapResult(tuple(results))

    def _runner(
        self,
        backend: Backend,
        fn: Callable[..., Any],
        n_items: int,
        shared: Any,
        chunksize: int | None,
        max_workers: int | None,
    ) -> tuple[_Runner, int]:
        # Workers beyond the number of tasks would only start and idle.
        if backend is Backend.THREADS:
            chunksize = chunksize or 1
            n_workers = max_workers or min(32, _cpu_count() + 4)
            n_tasks = len(_chunk_spans(n_items, chunksize))
            return _ThreadRunner(fn, min(n_workers, n_tasks), shared), chunksize
        if backend is Backend.PROCESSES:
            n_workers = max_workers or _cpu_count()
            chunksize = chunksize or _default_chunksize(n_items, n_workers)
            n_tasks = len(_chunk_spans(n_items, chunksize))
            return self._process_runner(fn, min(n_workers, n_tasks), shared), chunksize
        client: Any = self.dask_client()
        n_workers = max_workers or max(1, sum(client.nthreads().values()))
        chunksize = chunksize or _default_chunksize(n_items, n_workers)
        return _DaskRunner(client, fn, shared), chunksize

    def _process_runner(self, fn: Callable[..., Any], n_workers: int, shared: Any) -> _Runner:
        # Without ``shared`` the processor keeps one pool across maps (a process's start and its
        # imports cost 0.1-0.2 s); a ``shared`` value lives in a pool's initializer, so that map
        # gets a pool of its own.
        context = multiprocessing.get_context(self._start_method)
        if shared is not _NO_SHARED:
            pool = context.Pool(n_workers, _init_process_worker, (shared,))
            return _ProcessRunner(fn, pool, keep=False, forget=lambda: None)
        if self._pool is not None and self._pool_workers < n_workers:
            self._drop_pool()
        if self._pool is None:
            self._pool = context.Pool(n_workers, _init_process_worker, (_NO_SHARED,))
            self._pool_workers = n_workers
        return _ProcessRunner(fn, self._pool, keep=True, forget=self._forget_pool)

    def _forget_pool(self) -> None:
        self._pool = None

    def _drop_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.terminate()
            pool.join()

    def dask_client(self) -> Client:
        """The ``distributed.Client`` of the Dask backend, started on first use.

        Returns
        -------
        distributed.Client
            Connected to ``scheduler_address``, or to a ``LocalCluster`` of ``max_workers``
            (default: cores) single-threaded worker processes this processor owns.
        """
        if self._closed:
            raise RuntimeError("this ParallelProcessor is closed")
        if self._client is None:
            import dask
            import distributed

            dist: Any = distributed
            if self._scheduler_address is not None:
                self._client = dist.Client(self._scheduler_address, set_as_default=False)
            else:
                saved_env = dict(os.environ)
                # Dask's nannies run in this process and write their pre-spawn environment
                # (MALLOC_TRIM_THRESHOLD_, OMP/MKL/OPENBLAS_NUM_THREADS) into os.environ, where
                # every later child inherits it; and MALLOC_TRIM_THRESHOLD_ turns off glibc's
                # dynamic mmap threshold in the workers, so every large numpy array is mapped
                # and faulted in afresh (about 45 % more CPU per backtest measured here).
                no_trim = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
                try:
                    with dask.config.set(no_trim):
                        self._cluster = dist.LocalCluster(
                            n_workers=self._max_workers or _cpu_count(),
                            threads_per_worker=1,
                            processes=True,
                            dashboard_address=None,
                            # The scheduler's HTTP server (health, metrics) starts even without
                            # the dashboard, on 8787 by default; a free loopback port avoids
                            # clashes.
                            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                            silence_logs=logging.ERROR,
                        )
                finally:
                    for key in set(os.environ) - set(saved_env):
                        del os.environ[key]
                    os.environ.update(saved_env)
                self._client = dist.Client(self._cluster, set_as_default=False)
        return cast("Client", self._client)

    def close(self) -> None:
        """Stop the process pool, close the Dask client and the ``LocalCluster`` this
        processor started; idempotent. A cluster reached through ``scheduler_address`` is left
        running.
        """
        self._closed = True
        self._drop_pool()
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()

    def __enter__(self) -> ParallelProcessor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def parallel_map_threads(
    fn: Callable[..., R],
    items: Iterable[T],
    *,
    shared: Any = _NO_SHARED,
    max_workers: int | None = None,
    chunksize: int | None = None,
    progress: bool = False,
) -> MapResult[T, R]:
    """Map ``fn`` over ``items`` on a thread pool.

    The arguments and the result are those of :meth:`ParallelProcessor.map`
    (``backend="threads"``): default ``min(32, cores + 4)`` threads, one item per task.

    Returns
    -------
    MapResult
        One :class:`ItemResult` per item, in input order.
    """
    with ParallelProcessor(
        Backend.THREADS, max_workers=max_workers, chunksize=chunksize, progress=progress
    ) as processor:
        return processor.map(fn, items, shared=shared)


def parallel_map_processes(
    fn: Callable[..., R],
    items: Iterable[T],
    *,
    shared: Any = _NO_SHARED,
    max_workers: int | None = None,
    chunksize: int | None = None,
    progress: bool = False,
    start_method: str | None = None,
) -> MapResult[T, R]:
    """Map a picklable ``fn`` over ``items`` on a process pool.

    The arguments and the result are those of :meth:`ParallelProcessor.map`
    (``backend="processes"``): default one process per core, about four tasks per process,
    ``shared`` sent once to each process; ``start_method`` as in :class:`ParallelProcessor`.

    Returns
    -------
    MapResult
        One :class:`ItemResult` per item, in input order.
    """
    with ParallelProcessor(
        Backend.PROCESSES,
        max_workers=max_workers,
        chunksize=chunksize,
        progress=progress,
        start_method=start_method,
    ) as processor:
        return processor.map(fn, items, shared=shared)
