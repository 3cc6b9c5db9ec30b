"""Parameter sets for sweeps: grids, random draws, constraints, and walk-forward splits.

What :func:`greekfire.backtest.sweep.run_sweep` iterates over, and how walk-forward cuts the
data (the sweep module re-exports every public name here):

- :func:`grid` / :func:`iter_grid`: the cartesian product of named value lists (lazily with
  ``iter_grid``), filtered by constraints.
- :func:`random_params`: ``n`` sets drawn reproducibly (a seed) from :class:`IntRange`,
  :class:`FloatRange`, ``(low, high)`` tuples or lists of choices.
- :func:`parse_constraint`: ``"fast < slow"`` as a predicate; a whitelist interpreter of
  names, numbers, arithmetic, comparisons and ``and``/``or``/``not`` (no calls, no attributes).
- :func:`walk_forward_splits` and :func:`slice_bars`: consecutive train/test windows as bar
  positions, and the rows of a frame, array or dict of them for one window.

Parameter names must be identifiers and cannot be ``run`` or ``error`` (the results table's own
columns, :data:`~greekfire.backtest.sweep_store.RESERVED_COLUMNS`).
"""

from __future__ import annotations

import ast
import difflib
import itertools
import math
import numbers
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from greekfire.backtest.sweep_store import RESERVED_COLUMNS

__all__ = [
    "Constraint",
    "FloatRange",
    "IntRange",
    "WalkForwardSplit",
    "check_param_name",
    "grid",
    "iter_grid",
    "parse_constraint",
    "python_value",
    "random_params",
    "slice_bars",
    "walk_forward_splits",
]

Constraint = Callable[[Mapping[str, Any]], bool] | str
"""A constraint on a parameter set: an expression (see :func:`parse_constraint`) or a predicate."""


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


def check_param_name(name: object, where: str) -> str:
    """``name`` if it is an identifier and not a reserved column, else ValueError naming
    ``where`` it came from."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"{where} keys must be identifiers (parameter names), got {name!r}")
    if name in RESERVED_COLUMNS:
        raise ValueError(f"{where} key {name!r} is reserved for the results table")
    return name


def python_value(value: Any) -> Any:
    """``value`` as a Python number if it is a numpy scalar (clean pickles, Parquet types and
    reprs), else unchanged."""
    return value.item() if isinstance(value, np.generic) else value


def iter_grid(
    space: Mapping[str, Iterable[Any]], *, constraints: Sequence[Constraint] | Constraint = ()
) -> Iterator[dict[str, Any]]:
    """Yield the cartesian product of named value lists, lazily (see :func:`grid`)."""
    if not isinstance(space, Mapping) or not space:
        raise ValueError(f"space must be a non-empty mapping of name -> values, got {space!r:.80}")
    names = [check_param_name(name, "space") for name in space]
    axes: list[list[Any]] = []
    for name in names:
        values = space[name]
        if isinstance(values, str | bytes) or not isinstance(values, Iterable):
            kind = type(values).__name__
            raise TypeError(f"space[{name!r}] must be a list of values, got {kind}: {values!r}")
        axis = [python_value(value) for value in values]
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
        choices = [python_value(value) for value in spec]
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
    samplers = {
        check_param_name(name, "space"): _sampler(name, spec) for name, spec in space.items()
    }
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
