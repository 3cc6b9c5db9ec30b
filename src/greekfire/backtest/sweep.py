"""Parameter sweeps: grid, random and walk-forward searches over any picklable objective.

An objective is a module-level function ``objective(params, data) -> {metric: number}``: one
backtest of one parameter set (``params``, a dict) on the data (close prices, a frame of bars,
anything picklable). :func:`run_sweep` calls it for every parameter set through the performance
toolkit's :class:`~greekfire.perf.parallel.ParallelProcessor` and returns a
:class:`SweepResult` ranked by one metric::

    sets = grid({"fast": range(5, 50, 5), "slow": range(20, 200, 10)}, constraints=["fast < slow"])
    result = run_sweep(sma_objective, sets, close, backend="processes", out=Path("sweep.parquet"))
    result.best_params                  # {"fast": 10, "slow": 50}
    result.heatmap_png(Path("sweep.png"), x="fast", y="slow")

Design
------
- Parameter sets are read ``chunk`` at a time (any iterable, a generator included). Each chunk
  is one ``ParallelProcessor.map`` with ``shared=data``: the data travels to every worker once
  per chunk (processes: through the pool initializer; Dask: one broadcast scatter), never with
  each task. With the default chunk of 10,000 sets most sweeps ship the data once.
- With ``out`` each chunk's rows are appended to a Parquet file as one row group as soon as
  the chunk is done: the sweep holds one chunk of results, whatever its size. Without ``out``
  the rows stay in memory.
- Every row carries ``run`` (the parameter set's input position), the parameters, the metrics
  (float64) and ``error`` (``"Type: message"`` of what the objective raised, else null). A
  failing set never stops the sweep. ``SweepResult.table`` ranks rows by the metric (best
  first, NaN and failures last, ties in input order), so the same sweep gives the same table
  on every backend.
- On the parallel backends numba kernels run on one thread per call (the parallelism is
  across parameter sets; kernels that each used every core would oversubscribe them).
- ``backend="serial"`` runs in this process without any pool (the reference and the fastest
  choice for a handful of sets); ``"threads"``, ``"processes"`` and ``"dask"`` (a local
  cluster, or ``scheduler_address="tcp://host:8786"``) are ParallelProcessor's backends.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import itertools
import math
import numbers
import operator
import pickle
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from greekfire.perf.parallel import ItemError, ParallelProcessor

__all__ = [
    "DEFAULT_CHUNK",
    "FloatRange",
    "IntRange",
    "SweepResult",
    "WalkForwardResult",
    "WalkForwardSplit",
    "grid",
    "iter_grid",
    "parse_constraint",
    "random_params",
    "run_sweep",
    "slice_bars",
    "sma_objective",
    "walk_forward",
    "walk_forward_splits",
]

Objective = Callable[[dict[str, Any], Any], Mapping[str, Any]]
Constraint = Callable[[Mapping[str, Any]], bool] | str
SweepBackend = Literal["processes", "threads", "dask", "serial"]

DEFAULT_CHUNK = 10_000
RUN_COLUMN = "run"
ERROR_COLUMN = "error"
_BACKENDS = ("processes", "threads", "dask", "serial")
_RESERVED = (RUN_COLUMN, ERROR_COLUMN)


# --- constraints ------------------------------------------------------------------------------

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


def _evaluate_node(node: ast.AST, params: Mapping[str, Any], text: str) -> Any:
    # A whitelist interpreter: names, numbers, arithmetic, comparisons, and/or/not; no calls.
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str | bool):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in params:
            close = difflib.get_close_matches(node.id, list(params), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"constraint {text!r} names {node.id!r}, not a parameter{hint}")
        return params[node.id]
    if isinstance(node, ast.BoolOp):
        values = (_evaluate_node(value, params, text) for value in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub):
        value = _evaluate_node(node.operand, params, text)
        return (not value) if isinstance(node.op, ast.Not) else -value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left = _evaluate_node(node.left, params, text)
        return _BINARY[type(node.op)](left, _evaluate_node(node.right, params, text))
    if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
        left = _evaluate_node(node.left, params, text)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _evaluate_node(right_node, params, text)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    raise ValueError(
        f"constraint {text!r}: {ast.unparse(node)!r} is not allowed (use parameter names, "
        "numbers, + - * / // %, comparisons, and, or, not)"
    )


@dataclass(frozen=True, slots=True)
class _ExpressionConstraint:
    text: str
    tree: ast.expr

    def __call__(self, params: Mapping[str, Any]) -> bool:
        return bool(_evaluate_node(self.tree, params, self.text))


def parse_constraint(text: str) -> Callable[[Mapping[str, Any]], bool]:
    """Turn a constraint such as ``"fast < slow"`` into a predicate on a parameter set.

    Parameters
    ----------
    text : str
        An expression over parameter names and numbers: arithmetic (``+ - * / // %``),
        comparisons (chains such as ``"5 <= fast < slow"`` included), ``and``, ``or``,
        ``not``. Nothing else is evaluated (no calls, no attributes).

    Returns
    -------
    callable
        ``predicate(params) -> bool``; it raises ValueError when the expression names a
        parameter the set does not have.

    Raises
    ------
    ValueError
        The text is not an expression, or uses something outside the list above.
    """
    if not isinstance(text, str):
        raise TypeError(f"constraint must be a str or a callable, got {type(text).__name__}")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ValueError(f"constraint {text!r} is not an expression: {exc.msg}") from exc
    constraint = _ExpressionConstraint(text, tree)
    # Reject forbidden syntax now, not at the first parameter set.
    names = {node.id: 1 for node in ast.walk(tree) if isinstance(node, ast.Name)}
    constraint(names)
    return constraint


def _predicates(constraints: Sequence[Constraint] | Constraint) -> list[Callable[..., bool]]:
    if isinstance(constraints, str) or callable(constraints):
        constraints = [constraints]
    predicates: list[Callable[..., bool]] = []
    for constraint in constraints:
        if isinstance(constraint, str):
            predicates.append(parse_constraint(constraint))
        elif callable(constraint):
            predicates.append(constraint)
        else:
            kind = type(constraint).__name__
            raise TypeError(f"constraints must be strs or callables, got {kind}: {constraint!r}")
    return predicates


def _accepted(params: Mapping[str, Any], predicates: list[Callable[..., bool]]) -> bool:
    return all(predicate(params) for predicate in predicates)


# --- grid and random search -------------------------------------------------------------------


def _check_name(name: object, where: str) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"{where} keys must be identifiers (parameter names), got {name!r}")
    if name in _RESERVED:
        raise ValueError(f"{where} key {name!r} is reserved for the results table")
    return name


def _python_value(value: Any) -> Any:
    # numpy scalars become Python numbers: clean pickles, Parquet types and reprs.
    return value.item() if isinstance(value, np.generic) else value


def iter_grid(
    space: Mapping[str, Iterable[Any]], *, constraints: Sequence[Constraint] | Constraint = ()
) -> Iterator[dict[str, Any]]:
    """Yield the cartesian product of named value lists, lazily (see :func:`grid`)."""
    if not isinstance(space, Mapping) or not space:
        raise ValueError(f"space must be a non-empty mapping of name -> values, got {space!r:.80}")
    names = [_check_name(name, "space") for name in space]
    axes: list[list[Any]] = []
    for name in names:
        values = space[name]
        if isinstance(values, str | bytes) or not isinstance(values, Iterable):
            kind = type(values).__name__
            raise TypeError(f"space[{name!r}] must be a list of values, got {kind}: {values!r}")
        axis = [_python_value(value) for value in values]
        if not axis:
            raise ValueError(f"space[{name!r}] is empty: a grid needs at least one value")
        axes.append(axis)
    predicates = _predicates(constraints)
    for combo in itertools.product(*axes):
        params = dict(zip(names, combo, strict=True))
        if _accepted(params, predicates):
            yield params


def grid(
    space: Mapping[str, Iterable[Any]], *, constraints: Sequence[Constraint] | Constraint = ()
) -> list[dict[str, Any]]:
    """Every combination of named parameter values that passes the constraints.

    Parameters
    ----------
    space : mapping of str to iterable
        ``{"fast": range(5, 50, 5), "slow": [50, 100, 200]}``; the last name varies fastest.
    constraints : str, callable or a sequence of them
        Each set must satisfy all: ``"fast < slow"`` (see :func:`parse_constraint`) or
        ``predicate(params) -> bool``.

    Returns
    -------
    list of dict
        The parameter sets in product order. :func:`iter_grid` yields them lazily.
    """
    return list(iter_grid(space, constraints=constraints))


@dataclass(frozen=True, slots=True)
class IntRange:
    """Integers ``low, low + step, ..., <= high`` drawn uniformly (both ends included)."""

    low: int
    high: int
    step: int = 1

    def __post_init__(self) -> None:
        if self.step < 1 or self.high < self.low:
            raise ValueError(f"IntRange needs low <= high and step >= 1, got {self}")

    def draw(self, rng: np.random.Generator) -> int:
        """One draw."""
        count = (self.high - self.low) // self.step + 1
        return self.low + self.step * int(rng.integers(count))


@dataclass(frozen=True, slots=True)
class FloatRange:
    """Floats drawn uniformly in ``[low, high)``, or log-uniformly with ``log=True``."""

    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ValueError(f"FloatRange needs finite low < high, got {self}")
        if self.log and self.low <= 0:
            raise ValueError(f"FloatRange(log=True) needs low > 0, got {self}")

    def draw(self, rng: np.random.Generator) -> float:
        """One draw."""
        if self.log:
            return math.exp(float(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))


def _sampler(name: str, spec: Any) -> Callable[[np.random.Generator], Any]:
    if isinstance(spec, IntRange | FloatRange):
        return spec.draw
    is_pair = isinstance(spec, tuple) and len(spec) == 2
    if is_pair and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in spec):
        if all(isinstance(v, numbers.Integral) for v in spec):
            return IntRange(int(spec[0]), int(spec[1])).draw
        return FloatRange(float(spec[0]), float(spec[1])).draw
    if isinstance(spec, Sequence | range) and not isinstance(spec, str | bytes | tuple) and spec:
        choices = [_python_value(value) for value in spec]
        return lambda rng: choices[int(rng.integers(len(choices)))]
    raise TypeError(
        f"space[{name!r}] must be IntRange, FloatRange, a (low, high) tuple or a non-empty list "
        f"of choices, got {type(spec).__name__}: {spec!r:.80}"
    )


def random_params(
    space: Mapping[str, Any],
    n: int,
    *,
    seed: int,
    constraints: Sequence[Constraint] | Constraint = (),
    unique: bool = True,
    max_tries: int | None = None,
) -> list[dict[str, Any]]:
    """``n`` parameter sets drawn at random from ranges, reproducibly.

    Parameters
    ----------
    space : mapping of str to range spec
        Per name: :class:`IntRange`, :class:`FloatRange`, a ``(low, high)`` tuple (both ints:
        an inclusive integer range; else floats in ``[low, high)``) or a list/range of choices.
    n : int
        How many sets.
    seed : int
        Seed of ``numpy.random.default_rng``: the same seed gives the same sets.
    constraints : str, callable or a sequence of them
        As in :func:`grid`; draws that fail them are discarded.
    unique : bool, default True
        Discard a draw equal to one already taken.
    max_tries : int, optional
        Draws allowed before giving up (default ``100 * n``).

    Raises
    ------
    ValueError
        Fewer than ``n`` draws were accepted within ``max_tries`` (the space is too small or
        the constraints too tight).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    if not isinstance(space, Mapping) or not space:
        raise ValueError(f"space must be a non-empty mapping of name -> range, got {space!r:.80}")
    samplers = {_check_name(name, "space"): _sampler(name, spec) for name, spec in space.items()}
    predicates = _predicates(constraints)
    rng = np.random.default_rng(seed)
    limit = 100 * n if max_tries is None else max_tries
    taken: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    for _ in range(limit):
        params = {name: draw(rng) for name, draw in samplers.items()}
        key = tuple(params.values())
        if (unique and key in seen) or not _accepted(params, predicates):
            continue
        seen.add(key)
        taken.append(params)
        if len(taken) == n:
            return taken
    raise ValueError(
        f"random_params accepted only {len(taken)} of n={n} sets in max_tries={limit} draws: "
        "widen the space, relax the constraints or pass unique=False"
    )


# --- walk-forward splits and data slicing -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class WalkForwardSplit:
    """One walk-forward window pair, as bar positions (stop excluded).

    Attributes
    ----------
    index : int
        The split's number, from 0.
    train_start, train_stop, test_start, test_stop : int
        ``train = bars[train_start:train_stop]``, ``test = bars[test_start:test_stop]``.
    """

    index: int
    train_start: int
    train_stop: int
    test_start: int
    test_stop: int

    @property
    def train(self) -> slice:
        """The training bars."""
        return slice(self.train_start, self.train_stop)

    @property
    def test(self) -> slice:
        """The test bars."""
        return slice(self.test_start, self.test_stop)


def walk_forward_splits(
    n_bars: int,
    *,
    train_bars: int,
    test_bars: int,
    step_bars: int | None = None,
    anchored: bool = False,
) -> list[WalkForwardSplit]:
    """Consecutive train/test windows over ``n_bars`` bars.

    Each test window follows its train window directly; the next split starts ``step_bars``
    (default ``test_bars``, so test windows tile without overlap) later. Rolling splits keep
    ``train_bars`` bars; anchored splits train from bar 0 and grow.

    Returns
    -------
    list of WalkForwardSplit
        Every split whose test window ends within the data.

    Raises
    ------
    ValueError
        A non-positive size, or not even one split fits in ``n_bars``.
    """
    step = test_bars if step_bars is None else step_bars
    for name, value in (
        ("n_bars", n_bars),
        ("train_bars", train_bars),
        ("test_bars", test_bars),
        ("step_bars", step),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    splits: list[WalkForwardSplit] = []
    offset = 0
    while offset + train_bars + test_bars <= n_bars:
        test_start = offset + train_bars
        train_start = 0 if anchored else offset
        split = WalkForwardSplit(
            len(splits), train_start, test_start, test_start, test_start + test_bars
        )
        splits.append(split)
        offset += step
    if not splits:
        raise ValueError(
            f"no walk-forward split fits: train_bars={train_bars} + test_bars={test_bars} "
            f"> n_bars={n_bars}"
        )
    return splits


def slice_bars(data: Any, bars: slice) -> Any:
    """The rows ``bars`` of the data: DataFrame/Series by position, arrays along axis 0, and
    each value of a dict or each element of a tuple/list the same way.

    Raises
    ------
    TypeError
        Anything else (say how to slice it in your own objective).
    """
    if isinstance(data, pd.DataFrame | pd.Series):
        return data.iloc[bars]
    if isinstance(data, np.ndarray):
        return data[bars]
    if isinstance(data, Mapping):
        return {key: slice_bars(value, bars) for key, value in data.items()}
    if isinstance(data, tuple | list):
        return type(data)(slice_bars(value, bars) for value in data)
    kind = type(data).__name__
    raise TypeError(
        f"data must be a DataFrame, Series, ndarray, or a dict/tuple/list of them to be split "
        f"by bars, got {kind}"
    )


# --- evaluation -------------------------------------------------------------------------------


def _one_kernel_thread() -> None:
    # numba kernels would each use every core; a parallel sweep already does, per parameter
    # set. numba is only touched once the objective has loaded it (the setting is per thread).
    numba = sys.modules.get("numba")
    if numba is not None and numba.get_num_threads() != 1:
        numba.set_num_threads(1)


@dataclass(frozen=True, slots=True)
class _Evaluate:
    # The task each worker runs: the objective plus a check of what it returned.
    objective: Objective
    one_kernel_thread: bool = False

    def __call__(self, params: dict[str, Any], data: Any) -> dict[str, float]:
        if self.one_kernel_thread:
            _one_kernel_thread()
        metrics = self.objective(dict(params), data)
        if self.one_kernel_thread:
            _one_kernel_thread()
        if not isinstance(metrics, Mapping):
            kind = type(metrics).__name__
            raise TypeError(f"the objective must return a dict of metrics, got {kind}")
        checked: dict[str, float] = {}
        for name, value in metrics.items():
            if not isinstance(name, str) or name in _RESERVED:
                raise ValueError(f"metric name {name!r} is not a str or is reserved")
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"metric {name!r} must be a real number, got {value!r:.80}")
            checked[name] = float(value)
        return checked


_Outcome = tuple[dict[str, float] | None, str | None]


def _run_serial(task: _Evaluate, batch: list[dict[str, Any]], data: Any) -> list[_Outcome]:
    outcomes: list[_Outcome] = []
    for params in batch:
        try:
            outcomes.append((task(params, data), None))
        except Exception as exc:
            outcomes.append((None, str(ItemError.from_exception(exc))))
    return outcomes


def _run_batch(
    processor: ParallelProcessor | None,
    task: _Evaluate,
    batch: list[dict[str, Any]],
    data: Any,
    progress: bool,
) -> list[_Outcome]:
    if processor is None:
        return _run_serial(task, batch, data)
    result = processor.map(task, batch, shared=data, progress=progress)
    return [(item.value, None if item.error is None else str(item.error)) for item in result]


class _Columns:
    # The table's columns in order of first appearance; metrics are frozen once written.
    def __init__(self) -> None:
        self.params: dict[str, None] = {}
        self.metrics: dict[str, None] = {}
        self.frozen = False

    def add(self, batch: list[dict[str, Any]], outcomes: list[_Outcome]) -> None:
        for params in batch:
            self.params.update(dict.fromkeys(params))
        new = {name for metrics, _ in outcomes if metrics for name in metrics} - set(self.metrics)
        if new and self.frozen:
            raise ValueError(
                f"metrics {sorted(new)} appeared after the first results were written: every "
                "objective call must return the same metric names"
            )
        for metrics, _ in outcomes:
            self.metrics.update(dict.fromkeys(metrics or ()))
        clash = set(self.params) & set(self.metrics)
        if clash:
            raise ValueError(f"names {sorted(clash)} are both parameters and metrics")

    @property
    def names(self) -> list[str]:
        return [RUN_COLUMN, *self.params, *self.metrics, ERROR_COLUMN]


def _chunk_frame(
    first_run: int, batch: list[dict[str, Any]], outcomes: list[_Outcome], columns: _Columns
) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(batch, columns=list(columns.params))
    frame.insert(0, RUN_COLUMN, np.arange(first_run, first_run + len(batch), dtype=np.int64))
    for name in columns.metrics:
        values = [math.nan if m is None else m.get(name, math.nan) for m, _ in outcomes]
        frame[name] = np.asarray(values, dtype=np.float64)
    frame[ERROR_COLUMN] = pd.array([error for _, error in outcomes], dtype=object)
    return frame


class _ParquetSink:
    # Appends one row group per chunk; the schema is the first written chunk's. Chunks with no
    # successful row are held until metric columns are known (they are failure rows only).
    def __init__(self, path: Path, columns: _Columns) -> None:
        self._path = path
        self._columns = columns
        self._writer: Any = None
        self._pending: list[pd.DataFrame] = []
        self._pa: Any = importlib.import_module("pyarrow")
        self._pq: Any = importlib.import_module("pyarrow.parquet")

    def write(self, frame: pd.DataFrame) -> None:
        if self._writer is None and not self._columns.metrics:
            self._pending.append(frame)
            return
        for held in self._pending:
            self._append(held.reindex(columns=self._columns.names))
        self._pending.clear()
        self._append(frame.reindex(columns=self._columns.names))

    def _append(self, frame: pd.DataFrame) -> None:
        table = self._pa.Table.from_pandas(frame, preserve_index=False)
        if self._writer is None:
            # An error column without errors yet would be typed null: fix it as string.
            schema = table.schema
            position = schema.get_field_index(ERROR_COLUMN)
            schema = schema.set(position, self._pa.field(ERROR_COLUMN, self._pa.string()))
            table = table.cast(schema)
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = self._pq.ParquetWriter(self._path, schema)
            self._columns.frozen = True
        else:
            table = table.cast(self._writer.schema)
        self._writer.write_table(table)

    def close(self) -> None:
        for held in self._pending:
            self._append(held.reindex(columns=self._columns.names))
        self._pending.clear()
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _check_objective(objective: object, backend: str) -> None:
    if not callable(objective):
        raise TypeError(f"objective must be callable, got {type(objective).__name__}")
    # Dask pickles with cloudpickle (lambdas travel by value); a process pool does not.
    if backend == "processes":
        try:
            pickle.dumps(objective)
        except Exception as exc:
            name = getattr(objective, "__qualname__", repr(objective))
            raise TypeError(
                f"objective must be picklable for backend {backend!r} (a module-level "
                f"function, not a lambda or a local function), got {name}: {exc}"
            ) from exc


@contextmanager
def _processor(
    backend: str, scheduler_address: str | None, max_workers: int | None
) -> Iterator[ParallelProcessor | None]:
    if backend not in _BACKENDS:
        close = difflib.get_close_matches(str(backend), _BACKENDS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"backend must be one of {', '.join(_BACKENDS)}, got {backend!r}{hint}")
    if scheduler_address is not None and backend != "dask":
        raise ValueError(f"scheduler_address needs backend='dask', got backend={backend!r}")
    if backend == "serial":
        yield None
        return
    with ParallelProcessor(
        backend, max_workers=max_workers, scheduler_address=scheduler_address
    ) as processor:
        yield processor


@dataclass(frozen=True, slots=True)
class _SweepOptions:
    metric: str
    ascending: bool
    chunk: int
    progress: bool


def _sweep(
    processor: ParallelProcessor | None,
    objective: Objective,
    param_sets: Iterable[Mapping[str, Any]],
    data: Any,
    out: Path | None,
    options: _SweepOptions,
) -> SweepResult:
    task = _Evaluate(objective, one_kernel_thread=processor is not None)
    columns = _Columns()
    sink = None if out is None else _ParquetSink(out, columns)
    frames: list[pd.DataFrame] = []
    started = time.perf_counter()
    iterator = iter(param_sets)
    n_runs = n_failed = 0
    try:
        while batch := [dict(p) for p in itertools.islice(iterator, options.chunk)]:
            for params in batch:
                for name in params:
                    _check_name(name, "parameter set")
            outcomes = _run_batch(processor, task, batch, data, options.progress)
            columns.add(batch, outcomes)
            frame = _chunk_frame(n_runs, batch, outcomes, columns)
            n_runs += len(batch)
            n_failed += sum(error is not None for _, error in outcomes)
            if sink is None:
                frames.append(frame)
            else:
                sink.write(frame)
    finally:
        if sink is not None:
            sink.close()
    elapsed_s = time.perf_counter() - started
    if n_runs == 0:
        raise ValueError("param_sets is empty: nothing to sweep")
    memory = None if sink is not None else pd.concat(frames, ignore_index=True)
    if memory is not None:
        memory = memory.reindex(columns=columns.names)
    return SweepResult(
        metric=options.metric,
        ascending=options.ascending,
        param_names=tuple(columns.params),
        metric_names=tuple(columns.metrics),
        n_runs=n_runs,
        n_failed=n_failed,
        elapsed_s=elapsed_s,
        frame=memory,
        path=out,
    )


def run_sweep(
    objective: Objective,
    param_sets: Iterable[Mapping[str, Any]],
    data: Any,
    *,
    backend: SweepBackend = "processes",
    scheduler_address: str | None = None,
    max_workers: int | None = None,
    out: Path | None = None,
    chunk: int = DEFAULT_CHUNK,
    metric: str = "total_return",
    ascending: bool = False,
    progress: bool = False,
) -> SweepResult:
    """Evaluate ``objective(params, data)`` for every parameter set, in parallel.

    Parameters
    ----------
    objective : callable
        ``objective(params: dict, data) -> {metric: real number}``; module-level (picklable)
        for processes; for a remote Dask cluster its module must be importable there. What
        it raises is recorded in the row's ``error`` column.
    param_sets : iterable of dict
        From :func:`grid`, :func:`random_params` or any generator; read ``chunk`` at a time.
    data : object
        Passed to every call; shipped to each worker once per chunk, not per task.
    backend : {"processes", "threads", "dask", "serial"}, default "processes"
        ``"dask"`` starts a LocalCluster of ``max_workers`` (default: cores) workers, or uses
        the cluster at ``scheduler_address``; the sweep closes what it started.
    scheduler_address : str, optional
        ``"tcp://host:8786"`` (Dask only); its workers must import greekfire and the
        objective's module.
    max_workers : int, optional
        Threads, processes or local Dask workers (default: cores).
    out : Path, optional
        Stream the rows to this Parquet file (one row group per chunk) instead of keeping them.
    chunk : int, default 10,000
        Parameter sets per round: bounds the rows in memory at once.
    metric : str, default "total_return"
        The metric that ranks the table; must be one the objective returns.
    ascending : bool, default False
        Rank the lowest value first (for a loss or a drawdown length).
    progress : bool, default False
        A rich progress bar (on stderr) per chunk.

    Returns
    -------
    SweepResult
        The ranked table (in memory, or read from ``out``), the best row, a heatmap.

    Raises
    ------
    ValueError
        Unknown backend, bad chunk, empty ``param_sets``, a reserved or clashing name, or a
        ``metric`` the objective never returned (every set failed: the first error is named).
    TypeError
        The objective is not callable, or not picklable for processes.
    """
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be an int >= 1, got {chunk!r}")
    _check_objective(objective, backend)
    options = _SweepOptions(metric, ascending, chunk, progress)
    with _processor(backend, scheduler_address, max_workers) as processor:
        result = _sweep(processor, objective, param_sets, data, out, options)
    result.check_metric()
    return result


# --- results ----------------------------------------------------------------------------------


def _rank(frame: pd.DataFrame, metric: str, ascending: bool) -> pd.DataFrame:
    # Best first, NaN (failures included) last, ties kept in input order.
    ranked = frame.sort_values(
        [metric, RUN_COLUMN], ascending=[ascending, True], na_position="last", kind="mergesort"
    )
    return ranked.reset_index(drop=True)


class SweepResult:
    """The outcome of a sweep: one row per parameter set, ranked by ``metric``.

    Attributes
    ----------
    metric : str
        The ranking metric.
    ascending : bool
        Whether lower is better.
    param_names, metric_names : tuple of str
        The table's parameter and metric columns, in order of first appearance.
    n_runs, n_failed : int
        Parameter sets evaluated, and how many raised.
    elapsed_s : float
        Wall time of the sweep (workers' start included).
    path : Path or None
        The Parquet file the rows were streamed to, if any.
    """

    def __init__(
        self,
        *,
        metric: str,
        ascending: bool,
        param_names: tuple[str, ...],
        metric_names: tuple[str, ...],
        n_runs: int,
        n_failed: int,
        elapsed_s: float,
        frame: pd.DataFrame | None,
        path: Path | None,
    ) -> None:
        self.metric = metric
        self.ascending = ascending
        self.param_names = param_names
        self.metric_names = metric_names
        self.n_runs = n_runs
        self.n_failed = n_failed
        self.elapsed_s = elapsed_s
        self.path = path
        self._frame = frame
        self._ranked: pd.DataFrame | None = None

    def __repr__(self) -> str:
        return (
            f"SweepResult(metric={self.metric!r}, n_runs={self.n_runs}, "
            f"n_failed={self.n_failed}, elapsed_s={self.elapsed_s:.3f})"
        )

    @property
    def throughput(self) -> float:
        """Parameter sets (backtests) per second of wall time."""
        return self.n_runs / self.elapsed_s if self.elapsed_s > 0 else math.inf

    def check_metric(self) -> None:
        """Raise ValueError unless ``metric`` is one of the objective's metrics."""
        if self.metric in self.metric_names:
            return
        if not self.metric_names:
            first = self.errors[ERROR_COLUMN].iloc[0]
            raise ValueError(f"all {self.n_runs} parameter sets failed; the first: {first}")
        close = difflib.get_close_matches(self.metric, self.metric_names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"metric {self.metric!r} is not among the objective's metrics "
            f"{list(self.metric_names)}{hint}"
        )

    def _raw(self) -> pd.DataFrame:
        if self._frame is not None:
            return self._frame
        assert self.path is not None
        raw = pd.read_parquet(self.path)
        # As in memory, whatever the pandas string type: Python str, None when no error.
        errors = raw[ERROR_COLUMN]
        raw[ERROR_COLUMN] = errors.astype(object).where(errors.notna(), None)
        return raw

    @property
    def table(self) -> pd.DataFrame:
        """Every row (``run``, parameters, metrics, ``error``), best ``metric`` first."""
        if self._ranked is None:
            self.check_metric()
            self._ranked = _rank(self._raw(), self.metric, self.ascending)
        return self._ranked.copy()

    @property
    def errors(self) -> pd.DataFrame:
        """The rows whose objective raised, in input order."""
        raw = self._raw()
        return raw[raw[ERROR_COLUMN].notna()].reset_index(drop=True)

    @property
    def best(self) -> pd.Series:
        """The top row of :attr:`table`.

        Raises
        ------
        ValueError
            No parameter set produced the metric.
        """
        top = self.table.iloc[0]
        if pd.isna(top[self.metric]):
            raise ValueError(
                f"no parameter set produced metric {self.metric!r} ({self.n_failed} of "
                f"{self.n_runs} failed)"
            )
        return top

    @property
    def best_params(self) -> dict[str, Any]:
        """The parameters of :attr:`best`, as Python values ready for the objective."""
        top = self.best
        return {name: _python_value(top[name]) for name in self.param_names}

    def heatmap_png(self, path: Path, x: str, y: str, metric: str | None = None) -> Path:
        """Draw ``metric`` over a 2-parameter grid as a PNG heatmap.

        Parameters
        ----------
        path : Path
            Where to write the PNG (parents are created).
        x, y : str
            Parameter names for the horizontal and vertical axes.
        metric : str, optional
            Default: the ranking metric. When other parameters vary too, each cell shows the
            best value over them.

        Returns
        -------
        Path
            ``path``.
        """
        metric = self.metric if metric is None else metric
        for role, name in (("x", x), ("y", y)):
            if name not in self.param_names:
                raise ValueError(f"{role}={name!r} is not a parameter: {list(self.param_names)}")
        if metric not in self.metric_names:
            raise ValueError(f"metric={metric!r} is not a metric: {list(self.metric_names)}")
        if x == y:
            raise ValueError(f"x and y must be different parameters, got {x!r} twice")
        cells = self._raw().pivot_table(
            index=y, columns=x, values=metric, aggfunc="min" if self.ascending else "max"
        )
        _draw_heatmap(cells, path, x, y, metric, len(self.param_names) > 2)
        return path


def _draw_heatmap(
    cells: pd.DataFrame, path: Path, x: str, y: str, metric: str, aggregated: bool
) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    values = cells.to_numpy(dtype=np.float64)
    figure = Figure(
        figsize=(max(4.0, 0.5 * values.shape[1] + 2), max(3.0, 0.4 * values.shape[0] + 1.5))
    )
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(np.ma.masked_invalid(values), origin="lower", aspect="auto", cmap="viridis")
    axes.set_xticks(range(values.shape[1]), [str(v) for v in cells.columns], rotation=90)
    axes.set_yticks(range(values.shape[0]), [str(v) for v in cells.index])
    axes.set_xlabel(x)
    axes.set_ylabel(y)
    axes.set_title(f"{'best ' if aggregated else ''}{metric}")
    if values.size <= 400:
        for (row, col), value in np.ndenumerate(values):
            if math.isfinite(value):
                axes.text(col, row, f"{value:.3g}", ha="center", va="center", fontsize=6)
    figure.colorbar(image, ax=axes, label=metric)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=100)


# --- walk-forward -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WalkForwardResult:
    """A walk-forward optimisation: per split, the best training parameters and their test
    metrics.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per split: ``split``, the bar bounds, the chosen parameters, ``train_<m>``
        (the best training row's metrics), ``test_<m>`` (those parameters on the test bars)
        and ``test_error``.
    sweeps : tuple of SweepResult
        The training sweep of each split.
    """

    table: pd.DataFrame
    sweeps: tuple[SweepResult, ...]


def _test_row(
    split: WalkForwardSplit, sweep: SweepResult, objective: Objective, data: Any
) -> dict[str, Any]:
    best = sweep.best
    params = sweep.best_params
    row: dict[str, Any] = {
        "split": split.index,
        "train_start": split.train_start,
        "train_stop": split.train_stop,
        "test_start": split.test_start,
        "test_stop": split.test_stop,
        **params,
    }
    row.update({f"train_{name}": float(best[name]) for name in sweep.metric_names})
    [(metrics, error)] = _run_serial(_Evaluate(objective), [params], slice_bars(data, split.test))
    row.update({f"test_{name}": value for name, value in (metrics or {}).items()})
    row["test_error"] = error
    return row


def walk_forward(
    objective: Objective,
    param_sets: Iterable[Mapping[str, Any]],
    data: Any,
    splits: Sequence[WalkForwardSplit],
    *,
    backend: SweepBackend = "processes",
    scheduler_address: str | None = None,
    max_workers: int | None = None,
    out_dir: Path | None = None,
    chunk: int = DEFAULT_CHUNK,
    metric: str = "total_return",
    ascending: bool = False,
    progress: bool = False,
) -> WalkForwardResult:
    """Optimise on each split's training bars, then evaluate the best set on its test bars.

    The arguments are those of :func:`run_sweep`, plus ``splits`` (from
    :func:`walk_forward_splits`; the data is cut with :func:`slice_bars`) and ``out_dir``
    (each split's training rows streamed to ``split_<k>.parquet`` there). One pool or
    cluster serves every split; the test runs happen in this process, one per split.

    Returns
    -------
    WalkForwardResult
        The per-split table and the training sweeps.
    """
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be an int >= 1, got {chunk!r}")
    if not splits:
        raise ValueError("splits is empty: make them with walk_forward_splits")
    _check_objective(objective, backend)
    sets = [dict(params) for params in param_sets]
    options = _SweepOptions(metric, ascending, chunk, progress)
    sweeps: list[SweepResult] = []
    rows: list[dict[str, Any]] = []
    with _processor(backend, scheduler_address, max_workers) as processor:
        for split in splits:
            out = None if out_dir is None else out_dir / f"split_{split.index}.parquet"
            train = slice_bars(data, split.train)
            sweep = _sweep(processor, objective, sets, train, out, options)
            sweep.check_metric()
            sweeps.append(sweep)
            rows.append(_test_row(split, sweep, objective, data))
    return WalkForwardResult(pd.DataFrame.from_records(rows), tuple(sweeps))


# --- the SMA crossover objective --------------------------------------------------------------

_SMA_OPTIONS = ("fill", "fees_frac", "fixed_fee_usd", "slippage_frac", "init_cash")


def sma_objective(params: dict[str, Any], data: Any) -> dict[str, float]:
    """A long-only SMA crossover backtest on the compiled fast path, as a sweep objective.

    Parameters
    ----------
    params : dict
        ``fast`` and ``slow`` (window lengths in bars), optionally any of ``fill``,
        ``fees_frac``, ``fixed_fee_usd``, ``slippage_frac``, ``init_cash`` (passed to
        :func:`greekfire.backtest.fast.run_signals`).
    data : pandas.DataFrame or Series or dict
        Close prices (UTC index, one column per symbol), or ``{"close": ..., "open": ...}``
        (``open`` is needed by ``fill="next_open"``).

    Returns
    -------
    dict
        ``total_return`` (fraction, of the whole account: the mean over symbols with
        independent, equal cash), ``sharpe`` (annualised, daily bars), ``max_drawdown``
        (fraction <= 0) of the account equity, and ``n_trades``.
    """
    from greekfire.analytics.performance import max_drawdown, sharpe_ratio

    # Imported here: a sweep of another objective never loads numba kernels.
    fast: Any = importlib.import_module("greekfire.backtest.fast")

    unknown = set(params) - {"fast", "slow", *_SMA_OPTIONS}
    if unknown or "fast" not in params or "slow" not in params:
        raise ValueError(
            f"sma_objective takes fast, slow and optionally {', '.join(_SMA_OPTIONS)}; got "
            f"{sorted(params)}"
        )
    close = data["close"] if isinstance(data, Mapping) else data
    open_ = data.get("open") if isinstance(data, Mapping) else None
    options = {name: params[name] for name in _SMA_OPTIONS if name in params}
    entries, exits = fast.sma_cross_signals(close, int(params["fast"]), int(params["slow"]))
    result = fast.run_signals(close, entries, exits, open=open_, **options)
    equity = result.equity
    account = equity["total"] if "total" in equity.columns else equity.iloc[:, 0]
    values = account.to_numpy(dtype=np.float64)
    return {
        "total_return": float(values[-1] / values[0] - 1.0),
        "sharpe": float(sharpe_ratio(values, kind="equity")),
        "max_drawdown": float(max_drawdown(values, kind="equity").depth),
        "n_trades": float(len(result.trades)),
    }
