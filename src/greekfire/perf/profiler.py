"""Profiling blocks and functions: wall time, CPU time, tracemalloc memory, cProfile, HTML.

Design
------
- ``profile_block(name)`` is a context manager and ``@profile_function`` a decorator (sync and
  async) over the same :class:`ProfileBlock`. Each run produces one frozen
  :class:`ProfileRecord`; a :class:`Profiler` collects them (the recent ones in a bounded
  deque, plus running totals per name that never grow with the call count) and renders a text
  report sorted by cost. Without ``profiler=...`` records go to :func:`default_profiler`.
- Clocks are injectable (``clock`` for wall seconds, ``cpu_clock`` for CPU seconds) so tests
  assert exact durations. CPU time defaults to ``time.process_time``: the whole process, so
  numba or BLAS worker threads count; pass ``time.thread_time`` for this thread only.
- Memory comes from ``tracemalloc`` (Python allocations, including numpy buffers, from every
  thread). It is started only when nobody traces yet and stopped when the last block that
  needed it ends; a tracer someone else started is left running. Nested blocks each get their
  own peak: before an inner block resets the peak, the peak so far is folded into the outer
  blocks. Tracing slows allocation-heavy code several-fold: pass ``memory=False`` for timing.
- ``cprofile=True`` adds a cProfile report (top functions by cumulative time) to the record.
  ``html_path=...`` records the block with pyinstrument (the ``profile`` extra) and writes its
  HTML. Both install the interpreter's profile hook, so they cannot be combined in one block.
- A block that raises is still recorded (``error`` holds the exception's class name) and the
  exception propagates.
"""

from __future__ import annotations

import cProfile
import difflib
import functools
import inspect
import io
import pstats
import threading
import time
import tracemalloc
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast, overload

if TYPE_CHECKING:
    import pyinstrument

__all__ = [
    "ProfileBlock",
    "ProfileRecord",
    "ProfileSummary",
    "Profiler",
    "default_profiler",
    "profile_block",
    "profile_function",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")

_SORT_KEYS = ("wall", "cpu", "memory", "calls", "name")


@dataclass(frozen=True, slots=True)
class ProfileRecord:
    """One profiled run of a block or function.

    Attributes
    ----------
    name : str
        The block or function name.
    wall_s, cpu_s : float
        Elapsed wall-clock and CPU seconds (from the injected clocks).
    memory_delta_bytes : int or None
        Traced bytes at the end minus at the start (None with ``memory=False``); negative when
        the block freed more than it kept.
    memory_peak_bytes : int or None
        Highest traced bytes during the block, above the level at its start.
    cprofile_text : str or None
        The cProfile report (``cprofile=True``): top functions by cumulative time.
    html_path : Path or None
        Where the pyinstrument HTML was written.
    error : str or None
        The exception's class name when the block raised.
    """

    name: str
    wall_s: float
    cpu_s: float
    memory_delta_bytes: int | None = None
    memory_peak_bytes: int | None = None
    cprofile_text: str | None = None
    html_path: Path | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ProfileSummary:
    """Running totals for one name in a :class:`Profiler`.

    Attributes
    ----------
    name : str
    calls, errors : int
        Runs recorded, and how many of them raised.
    wall_s, cpu_s : float
        Total seconds over all runs.
    max_memory_peak_bytes : int or None
        The largest ``memory_peak_bytes`` seen (None when memory was never traced).
    """

    name: str
    calls: int
    errors: int
    wall_s: float
    cpu_s: float
    max_memory_peak_bytes: int | None

    @property
    def mean_wall_s(self) -> float:
        """Mean wall seconds per run."""
        return self.wall_s / self.calls if self.calls else 0.0


@dataclass(slots=True)
class _MemoryWindow:
    start: int
    peak: int


@dataclass(slots=True)
class _TraceMalloc:
    # Process-wide tracemalloc bookkeeping shared by every block (see the module docstring).
    lock: threading.Lock = field(default_factory=threading.Lock)
    owned: bool = False
    active: list[_MemoryWindow] = field(default_factory=list)

    def enter(self) -> _MemoryWindow:
        with self.lock:
            if not tracemalloc.is_tracing():
                tracemalloc.start()
                self.owned = True
            current, peak = tracemalloc.get_traced_memory()
            for outer in self.active:
                outer.peak = max(outer.peak, peak)
            tracemalloc.reset_peak()
            window = _MemoryWindow(start=current, peak=current)
            self.active.append(window)
            return window

    def exit(self, window: _MemoryWindow) -> tuple[int, int]:
        with self.lock:
            current, peak = tracemalloc.get_traced_memory()
            window.peak = max(window.peak, peak)
            self.active.remove(window)
            if not self.active and self.owned:
                tracemalloc.stop()
                self.owned = False
            return current - window.start, window.peak - window.start


_TRACE = _TraceMalloc()


def _new_pyinstrument() -> pyinstrument.Profiler:
    try:
        import pyinstrument
    except ImportError as exc:
        raise ImportError(
            "HTML profiles need pyinstrument, which is not installed: "
            "pip install 'greekfire[profile]'"
        ) from exc
    return pyinstrument.Profiler(async_mode="enabled")


def _cprofile_text(prof: cProfile.Profile, top: int) -> str:
    stream = io.StringIO()
    pstats.Stats(prof, stream=stream).sort_stats("cumulative").print_stats(top)
    return stream.getvalue()


class ProfileBlock:
    """A context manager profiling its body; ``record`` is set when the body ends.

    Build it with :func:`profile_block` or :meth:`Profiler.block`. One instance profiles
    one run at a time.
    """

    def __init__(
        self,
        name: str,
        *,
        profiler: Profiler,
        cprofile: bool = False,
        memory: bool = True,
        html_path: str | Path | None = None,
        cprofile_top: int = 30,
    ) -> None:
        if cprofile and html_path is not None:
            raise ValueError(
                "cprofile=True and html_path=... cannot be combined: both install the "
                "interpreter's profile hook; profile the block twice instead"
            )
        self.name = name
        self.record: ProfileRecord | None = None
        self._profiler = profiler
        self._cprofile = cprofile
        self._memory = memory
        self._html_path = None if html_path is None else Path(html_path)
        self._top = cprofile_top
        self._window: _MemoryWindow | None = None
        self._cp: cProfile.Profile | None = None
        self._pyi: pyinstrument.Profiler | None = None
        self._wall0 = self._cpu0 = 0.0

    def __enter__(self) -> ProfileBlock:
        self.record = None
        # pyinstrument first: a missing extra (or a failing start) fails before anything
        # else is set up, and before the body runs.
        self._pyi = _new_pyinstrument() if self._html_path is not None else None
        if self._pyi is not None:
            self._pyi.start()
        self._window = _TRACE.enter() if self._memory else None
        self._cp = cProfile.Profile() if self._cprofile else None
        if self._cp is not None:
            self._cp.enable()
        self._wall0, self._cpu0 = self._profiler.clock(), self._profiler.cpu_clock()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        wall_s = self._profiler.clock() - self._wall0
        cpu_s = self._profiler.cpu_clock() - self._cpu0
        if self._cp is not None:
            self._cp.disable()
        if self._pyi is not None:
            self._pyi.stop()
        delta = peak = None
        if self._window is not None:
            delta, peak = _TRACE.exit(self._window)
        self.record = ProfileRecord(
            name=self.name,
            wall_s=wall_s,
            cpu_s=cpu_s,
            memory_delta_bytes=delta,
            memory_peak_bytes=peak,
            cprofile_text=None if self._cp is None else _cprofile_text(self._cp, self._top),
            html_path=self._write_html(),
            error=None if exc_type is None else exc_type.__name__,
        )
        self._window, self._cp, self._pyi = None, None, None
        self._profiler.add(self.record)

    def _write_html(self) -> Path | None:
        if self._pyi is None or self._html_path is None:
            return None
        self._html_path.parent.mkdir(parents=True, exist_ok=True)
        self._html_path.write_text(self._pyi.output_html(), encoding="utf-8")
        return self._html_path


@dataclass(slots=True)
class _Totals:
    calls: int = 0
    errors: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    max_peak: int | None = None


class Profiler:
    """Collects :class:`ProfileRecord` objects and reports them sorted by cost.

    Parameters
    ----------
    clock : callable, default time.perf_counter
        Wall-clock seconds for the blocks this profiler builds.
    cpu_clock : callable, default time.process_time
        CPU seconds (``time.thread_time`` for the calling thread only).
    max_records : int, default 10_000
        How many recent records ``records`` keeps; totals per name cover every run.

    Examples
    --------
    >>> prof = Profiler()
    >>> with prof.block("load", memory=False):
    ...     data = list(range(1000))
    >>> prof.summary()[0].calls
    1
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.perf_counter,
        cpu_clock: Callable[[], float] = time.process_time,
        max_records: int = 10_000,
    ) -> None:
        self.clock = clock
        self.cpu_clock = cpu_clock
        self._lock = threading.Lock()
        self._records: deque[ProfileRecord] = deque(maxlen=max_records)
        self._totals: dict[str, _Totals] = {}

    def add(self, record: ProfileRecord) -> None:
        """Add one record (thread-safe)."""
        with self._lock:
            self._records.append(record)
            totals = self._totals.setdefault(record.name, _Totals())
            totals.calls += 1
            totals.errors += record.error is not None
            totals.wall_s += record.wall_s
            totals.cpu_s += record.cpu_s
            if record.memory_peak_bytes is not None:
                totals.max_peak = max(totals.max_peak or 0, record.memory_peak_bytes)

    @property
    def records(self) -> tuple[ProfileRecord, ...]:
        """The most recent records, oldest first."""
        with self._lock:
            return tuple(self._records)

    def clear(self) -> None:
        """Forget every record and total."""
        with self._lock:
            self._records.clear()
            self._totals.clear()

    def block(
        self,
        name: str,
        *,
        cprofile: bool = False,
        memory: bool = True,
        html_path: str | Path | None = None,
    ) -> ProfileBlock:
        """A :class:`ProfileBlock` recording into this profiler (see :func:`profile_block`)."""
        return ProfileBlock(
            name, profiler=self, cprofile=cprofile, memory=memory, html_path=html_path
        )

    def html(self, name: str, path: str | Path) -> ProfileBlock:
        """A block profiled by pyinstrument, its HTML written to ``path`` when it ends.

        Raises
        ------
        ImportError
            pyinstrument is not installed (``pip install 'greekfire[profile]'``); raised on
            entering the block, before its body runs.
        """
        return self.block(name, memory=False, html_path=path)

    def summary(self, sort: str = "wall") -> list[ProfileSummary]:
        """Totals per name, most expensive first.

        Parameters
        ----------
        sort : {"wall", "cpu", "memory", "calls", "name"}
            Total wall seconds, total CPU seconds, largest memory peak, number of runs
            (descending), or name (ascending).
        """
        if sort not in _SORT_KEYS:
            close = difflib.get_close_matches(sort, _SORT_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"sort must be one of {', '.join(_SORT_KEYS)}, got {sort!r}{hint}")
        with self._lock:
            rows = [
                ProfileSummary(name, t.calls, t.errors, t.wall_s, t.cpu_s, t.max_peak)
                for name, t in self._totals.items()
            ]
        if sort == "name":
            return sorted(rows, key=lambda r: r.name)
        keys: dict[str, Callable[[ProfileSummary], float]] = {
            "wall": lambda r: r.wall_s,
            "cpu": lambda r: r.cpu_s,
            "memory": lambda r: float(r.max_memory_peak_bytes or 0),
            "calls": lambda r: float(r.calls),
        }
        return sorted(rows, key=lambda r: (-keys[sort](r), r.name))

    def report(self, sort: str = "wall", limit: int | None = None) -> str:
        """A plain-text table of :meth:`summary` (``limit`` rows at most).

        Columns: name, calls, errors, total wall, mean wall, total CPU, max memory peak.
        """
        rows = self.summary(sort)[:limit]
        width = max([len(r.name) for r in rows] + [4])
        head = ("calls", "errors", "wall", "mean wall", "cpu", "peak mem")
        lines = [f"{'name':<{width}}" + "".join(f"  {h:>10}" for h in head)]
        for r in rows:
            cells = (
                str(r.calls),
                str(r.errors),
                _fmt_s(r.wall_s),
                _fmt_s(r.mean_wall_s),
                _fmt_s(r.cpu_s),
                _fmt_bytes(r.max_memory_peak_bytes),
            )
            lines.append(f"{r.name:<{width}}" + "".join(f"  {c:>10}" for c in cells))
        return "\n".join(lines)


def _fmt_s(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def _fmt_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} B"


_DEFAULT = Profiler()


def default_profiler() -> Profiler:
    """The process-wide profiler that receives records when no ``profiler`` is given."""
    return _DEFAULT


def profile_block(
    name: str,
    *,
    cprofile: bool = False,
    memory: bool = True,
    html_path: str | Path | None = None,
    profiler: Profiler | None = None,
    cprofile_top: int = 30,
) -> ProfileBlock:
    """Profile a ``with`` block: wall and CPU time, memory, optionally cProfile or HTML.

    Parameters
    ----------
    name : str
        The record's name (rows of the report are totals per name).
    cprofile : bool, default False
        Add a cProfile report (top ``cprofile_top`` functions by cumulative time).
    memory : bool, default True
        Trace Python allocations with tracemalloc (delta and peak).
    html_path : str or Path, optional
        Profile with pyinstrument and write its HTML there (needs the ``profile`` extra).
    profiler : Profiler, optional
        Where the record goes, and whose clocks are used; default :func:`default_profiler`.
    cprofile_top : int, default 30
        Lines of the cProfile report.

    Returns
    -------
    ProfileBlock
        Its ``record`` is set when the block ends.

    Raises
    ------
    ValueError
        ``cprofile=True`` together with ``html_path``.
    ImportError
        ``html_path`` given and pyinstrument missing (on entering the block).

    Examples
    --------
    >>> with profile_block("price chain", memory=False, profiler=Profiler()) as block:
    ...     total = sum(range(10_000))
    >>> block.record.wall_s >= 0
    True
    """
    return ProfileBlock(
        name,
        profiler=_DEFAULT if profiler is None else profiler,
        cprofile=cprofile,
        memory=memory,
        html_path=html_path,
        cprofile_top=cprofile_top,
    )


def _wrap(func: Callable[_P, _R], make_block: Callable[[], ProfileBlock]) -> Callable[_P, _R]:
    if inspect.iscoroutinefunction(func):
        async_func = cast(Callable[_P, Awaitable[Any]], func)

        @functools.wraps(func)
        async def async_wrapper(*args: _P.args, **kwargs: _P.kwargs) -> Any:
            with make_block():
                return await async_func(*args, **kwargs)

        return cast(Callable[_P, _R], async_wrapper)

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with make_block():
            return func(*args, **kwargs)

    return wrapper


@overload
def profile_function(func: Callable[_P, _R], /) -> Callable[_P, _R]: ...


@overload
def profile_function(
    *,
    name: str | None = None,
    cprofile: bool = False,
    memory: bool = True,
    profiler: Profiler | None = None,
) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]: ...


def profile_function(
    func: Callable[_P, _R] | None = None,
    /,
    *,
    name: str | None = None,
    cprofile: bool = False,
    memory: bool = True,
    profiler: Profiler | None = None,
) -> Callable[_P, _R] | Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Profile every call of a sync or async function, as :func:`profile_block` does a block.

    Usable bare (``@profile_function``) or configured
    (``@profile_function(profiler=prof, cprofile=True)``). For a coroutine function the block
    spans the whole ``await``, so wall time includes time suspended and CPU time includes
    whatever else the event loop ran meanwhile.

    Parameters
    ----------
    func : callable, optional
        The function, when used bare.
    name : str, optional
        Record name; default the function's ``__qualname__``.
    cprofile, memory, profiler
        As for :func:`profile_block`.
    """

    def decorate(f: Callable[_P, _R]) -> Callable[_P, _R]:
        label = name or str(getattr(f, "__qualname__", repr(f)))
        target = _DEFAULT if profiler is None else profiler
        return _wrap(
            f, lambda: ProfileBlock(label, profiler=target, cprofile=cprofile, memory=memory)
        )

    return decorate if func is None else decorate(func)
