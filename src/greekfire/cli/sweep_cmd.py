"""``greekfire sweep``: a parameter sweep of a signal strategy over daily history.

The bars come from the configured data source (as ``greekfire backtest``: the synthetic market
by default). Every parameter set is one backtest on the compiled fast path, run through
:func:`greekfire.backtest.sweep.run_sweep` (serial, threads, processes or Dask); the rows are
streamed to ``OUT/sweep.parquet``, ranked into ``OUT/ranked.csv`` and the top ones printed,
with a heatmap PNG for a 2-parameter grid. ``--walk-forward`` optimises on rolling training
windows and reports each one's test window instead.

Parameter syntax (``--grid``, repeatable, one parameter each)::

    --grid fast=5:30:5        5, 10, ..., 30 (start:stop:step, stop included when on the step)
    --grid slow=20,50,100     a list of values (numbers, or words such as close)
    --grid fast=10            one fixed value
    --grid fast=5:30          with --random: any integer 5..30 (floats: uniform in [a, b));
                              in a grid: step 1

Heavy imports (pandas, numba, the engine) happen inside the functions.
"""

from __future__ import annotations

import importlib
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from greekfire.cli.backtest_cmd import check_window, history_bars

if TYPE_CHECKING:
    import pandas as pd

    from greekfire.backtest.sweep import SweepResult, WalkForwardResult
    from greekfire.settings import Settings

__all__ = [
    "SMA_METRICS",
    "Axis",
    "FixedOptions",
    "WalkForwardSpec",
    "parse_axis",
    "parse_walk_forward",
    "sweep_command",
]

SMA_METRICS = ("total_return", "sharpe", "max_drawdown", "n_trades")
"""What the ``sma_cross`` objective returns."""

MAX_AXIS_POINTS = 10_000
"""Most values one ``--grid`` range may expand to (a typo such as ``5:500000:1`` fails fast)."""

_SMA_PARAMS = ("fast", "slow")
_DEFAULT_SMA_SPACE = ("fast=5:50:5", "slow=20:200:10")
_DEFAULT_SMA_WHERE = "fast < slow"
_BACKENDS = ("serial", "threads", "processes", "dask")
_TOLERANCE = 1e-9


# --- parsing: pure, raising ValueError with the text in the message ----------------------------


@dataclass(frozen=True, slots=True)
class Axis:
    """One ``--grid`` parameter.

    Attributes
    ----------
    name : str
        The parameter name.
    values : tuple
        Grid values (a range expanded, a list as given).
    bounds : tuple of two numbers, or None
        ``(low, high)`` of a ``low:high`` range without a step: a continuous range for
        ``--random`` (integers when both are integers).
    step : int or float or None
        The range's step, if one was given.
    """

    name: str
    values: tuple[Any, ...]
    bounds: tuple[float, float] | tuple[int, int] | None = None
    step: float | int | None = None

    def random_spec(self) -> Any:
        """What :func:`greekfire.backtest.params.random_params` draws this parameter from."""
        from greekfire.backtest.params import FloatRange, IntRange

        if self.bounds is not None:
            low, high = self.bounds
            if isinstance(low, int) and isinstance(high, int):
                return IntRange(low, high)
            return FloatRange(float(low), float(high))
        if isinstance(self.step, int) and all(isinstance(v, int) for v in self.values):
            return IntRange(int(self.values[0]), int(self.values[-1]), self.step)
        return list(self.values)


def _number(token: str, text: str) -> int | float:
    word = token.strip()
    try:
        return int(word)
    except ValueError:
        pass
    try:
        value = float(word)
    except ValueError:
        raise ValueError(f"{text!r}: {word!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{text!r}: {word!r} is not a finite number")
    return value


def _list_value(token: str, text: str) -> Any:
    word = token.strip()
    if not word:
        raise ValueError(f"{text!r}: an empty value in the list")
    try:
        return _number(word, text)
    except ValueError:
        if word.replace("-", "_").isidentifier():
            return word
        raise ValueError(f"{text!r}: {word!r} is neither a number nor a word") from None


def _expand(start: float, stop: float, step: float, text: str) -> tuple[Any, ...]:
    if not step > 0:
        raise ValueError(f"{text!r}: the step must be > 0, got {step!r}")
    if stop < start:
        raise ValueError(f"{text!r}: stop {stop!r} is below start {start!r}")
    count = math.floor((stop - start) / step + _TOLERANCE) + 1
    if count > MAX_AXIS_POINTS:
        raise ValueError(f"{text!r} has {count:,} values, more than {MAX_AXIS_POINTS:,}")
    if all(isinstance(v, int) for v in (start, stop, step)):
        return tuple(range(int(start), int(stop) + 1, int(step)))
    return tuple(round(start + i * step, 12) for i in range(count))


def parse_axis(text: str) -> Axis:
    """Read one ``--grid`` value: ``name=start:stop[:step]``, ``name=v1,v2,...`` or ``name=v``.

    Raises
    ------
    ValueError
        Not ``name=values``, a name that is not an identifier, a non-number in a range, a
        step <= 0, stop < start, or more than :data:`MAX_AXIS_POINTS` values; the message
        quotes ``text``.
    """
    name, sep, spec = text.partition("=")
    name, spec = name.strip(), spec.strip()
    if not sep or not spec:
        raise ValueError(f"{text!r}: expected name=start:stop:step or name=v1,v2,...")
    if not name.isidentifier():
        raise ValueError(f"{text!r}: {name!r} is not a parameter name (letters, digits, _)")
    if ":" in spec:
        parts = spec.split(":")
        if len(parts) not in (2, 3):
            raise ValueError(f"{text!r}: a range is start:stop or start:stop:step")
        numbers = [_number(part, text) for part in parts]
        start, stop = numbers[0], numbers[1]
        if len(numbers) == 3:
            return Axis(name, _expand(start, stop, numbers[2], text), step=numbers[2])
        if stop <= start:
            raise ValueError(f"{text!r}: stop {stop!r} must be above start {start!r}")
        bounds: tuple[float, float] | tuple[int, int]
        if isinstance(start, int) and isinstance(stop, int):
            values = _expand(start, stop, 1, text)
            bounds = (start, stop)
        else:
            values = ()
            bounds = (float(start), float(stop))
        return Axis(name, values, bounds=bounds)
    values = tuple(_list_value(token, text) for token in spec.split(","))
    if len(set(values)) != len(values):
        raise ValueError(f"{text!r}: a value repeats")
    return Axis(name, values)


@dataclass(frozen=True, slots=True)
class WalkForwardSpec:
    """``--walk-forward train=N,test=M[,step=K][,warmup=W][,anchored]`` (sizes in bars)."""

    train: int
    test: int
    step: int | None = None
    anchored: bool = False
    warmup: int | None = None


def parse_walk_forward(text: str) -> WalkForwardSpec:
    """Read ``train=504,test=126`` plus optional ``step=63``, ``warmup=200`` and ``anchored``.

    Raises
    ------
    ValueError
        An unknown key, a size that is not an integer >= 1, or train/test missing.
    """
    sizes: dict[str, int] = {}
    anchored = False
    for token in (t.strip() for t in text.split(",")):
        if token == "anchored":
            anchored = True
            continue
        key, sep, value = token.partition("=")
        key = key.strip()
        if not sep or key not in ("train", "test", "step", "warmup"):
            raise ValueError(
                f"{text!r}: {token!r} is not train=N, test=N, step=N, warmup=N or anchored"
                " (sizes in bars)"
            )
        try:
            size = int(value)
        except ValueError:
            raise ValueError(f"{text!r}: {key}={value.strip()!r} is not a whole number") from None
        if size < (0 if key == "warmup" else 1):
            least = "0 bars" if key == "warmup" else "1 bar"
            raise ValueError(f"{text!r}: {key} must be >= {least}, got {size}")
        sizes[key] = size
    missing = [key for key in ("train", "test") if key not in sizes]
    if missing:
        raise ValueError(f"{text!r}: missing {' and '.join(missing)} (e.g. train=504,test=126)")
    return WalkForwardSpec(
        sizes["train"], sizes["test"], sizes.get("step"), anchored, sizes.get("warmup")
    )


# --- the objective -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FixedOptions:
    """An objective with options that are the same for every parameter set (fill, fees): they
    are added to each set's params but are not columns of the results table."""

    objective: Callable[[dict[str, Any], Any], Mapping[str, Any]]
    options: tuple[tuple[str, Any], ...]

    def __call__(self, params: dict[str, Any], data: Any) -> Mapping[str, Any]:
        """``objective({**params, **options}, data)``."""
        return self.objective({**params, **dict(self.options)}, data)


def _objective(strategy: str) -> Callable[[dict[str, Any], Any], Mapping[str, Any]]:
    if strategy == "sma_cross":
        from greekfire.backtest.sweep import sma_objective

        return sma_objective
    module_name, sep, attribute = strategy.partition(":")
    if not sep or not module_name or not attribute:
        raise typer.BadParameter(
            f"expected 'sma_cross' or a module:function objective, got {strategy!r}",
            param_hint="'--strategy'",
        )
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise typer.BadParameter(
            f"cannot load objective {strategy!r}: {exc}", param_hint="'--strategy'"
        ) from None
    if not callable(function):
        raise typer.BadParameter(f"{strategy!r} is not callable", param_hint="'--strategy'")
    result: Callable[[dict[str, Any], Any], Mapping[str, Any]] = function
    return result


# --- checking the options ----------------------------------------------------------------------


def _axes(texts: Sequence[str], strategy: str) -> list[Axis]:
    if not texts and strategy == "sma_cross":
        texts = _DEFAULT_SMA_SPACE
    if not texts:
        raise typer.BadParameter(
            "a module:function objective needs at least one --grid name=values",
            param_hint="'--grid'",
        )
    axes: list[Axis] = []
    for text in texts:
        try:
            axes.append(parse_axis(text))
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="'--grid'") from None
    names = [axis.name for axis in axes]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise typer.BadParameter(f"parameter(s) {repeated} given twice", param_hint="'--grid'")
    if strategy == "sma_cross" and sorted(names) != sorted(_SMA_PARAMS):
        raise typer.BadParameter(
            f"sma_cross takes exactly the parameters fast and slow, got {names}",
            param_hint="'--grid'",
        )
    return axes


def _param_sets(
    axes: list[Axis], where: list[str], n_random: int | None, seed: int
) -> list[dict[str, Any]]:
    from greekfire.backtest.params import grid, parse_constraint, random_params

    constraints: list[Any] = []
    for text in where:
        try:
            constraints.append(parse_constraint(text))
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="'--where'") from None
    try:
        if n_random is None:
            for axis in axes:
                if not axis.values:
                    low, high = axis.bounds or (math.nan, math.nan)
                    raise typer.BadParameter(
                        f"{axis.name}={low}:{high} is a float range: a grid needs a step "
                        "(start:stop:step), or use --random",
                        param_hint="'--grid'",
                    )
            sets = grid({axis.name: axis.values for axis in axes}, constraints=constraints)
        else:
            space = {axis.name: axis.random_spec() for axis in axes}
            sets = random_params(space, n_random, seed=seed, constraints=constraints)
    except ValueError as exc:
        hint = "'--random'" if n_random is not None and "random_params" in str(exc) else "'--where'"
        raise typer.BadParameter(str(exc), param_hint=hint) from None
    if not sets:
        raise typer.BadParameter(
            f"no parameter set satisfies {' and '.join(where)}", param_hint="'--where'"
        )
    return sets


def _backend(backend: str | None, scheduler: str | None, workers: int | None) -> str:
    chosen = backend or ("dask" if scheduler else "processes")
    if chosen not in _BACKENDS:
        raise typer.BadParameter(
            f"expected one of {', '.join(_BACKENDS)}, got {chosen!r}", param_hint="'--backend'"
        )
    if scheduler is not None:
        if chosen != "dask":
            raise typer.BadParameter(
                f"a scheduler address needs --backend dask, got --backend {chosen}",
                param_hint="'--scheduler'",
            )
        if not scheduler.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
            raise typer.BadParameter(
                f"expected an address such as tcp://host:8786, got {scheduler!r}",
                param_hint="'--scheduler'",
            )
    if workers is not None and workers < 1:
        raise typer.BadParameter(f"must be >= 1, got {workers}", param_hint="'--workers'")
    return chosen


def _fraction(value: float, option: str, upper: float = 1.0) -> float:
    if not (math.isfinite(value) and 0.0 <= value < upper):
        raise typer.BadParameter(
            f"expected 0 <= value < {upper:g}, got {value!r}", param_hint=option
        )
    return value


def _settings(config: Path | None, symbols: str | None) -> Settings:
    from pydantic import ValidationError

    from greekfire.settings import load_settings

    settings = load_settings(config)
    if symbols is None:
        return settings
    tickers = [s for s in (t.strip() for t in symbols.split(",")) if s]
    try:
        engine = settings.engine.model_validate(
            {**settings.engine.model_dump(), "symbols": tuple(tickers)}
        )
    except ValidationError as exc:
        detail = "; ".join(str(error["msg"]) for error in exc.errors())
        raise typer.BadParameter(f"{symbols!r}: {detail}", param_hint="'--symbols'") from None
    return settings.model_copy(update={"engine": engine})


def _market_data(settings: Settings, start: date, end: date) -> dict[str, pd.DataFrame]:
    import pandas as pd

    bars = history_bars(settings, start, end)
    lo, hi = pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1)
    close = pd.DataFrame({s: f["close"] for s, f in bars.items()}).sort_index()
    open_ = pd.DataFrame({s: f["open"] for s, f in bars.items()}).sort_index()
    inside = (close.index >= lo) & (close.index < hi)
    if not bars or not inside.any():
        raise typer.BadParameter(
            f"no daily bars of {', '.join(settings.engine.symbols)} between {start} and {end}",
            param_hint="'--start'",
        )
    return {"close": close.loc[inside], "open": open_.loc[inside]}


# --- output ------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:,.4g}"
    return str(value)


def _top_table(frame: pd.DataFrame, title: str, top: int) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right")
    columns = [c for c in frame.columns if not (c == "error" and frame[c].isna().all())]
    for column in columns:
        error = column == "error"
        table.add_column(str(column), justify="left" if error else "right", no_wrap=not error)
    for rank, row in enumerate(frame.head(top).itertuples(index=False), start=1):
        values = dict(zip(frame.columns, row, strict=True))
        table.add_row(str(rank), *(_cell(values[c])[:60] for c in columns))
    return table


def _write_summary(out: Path, summary: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(summary, indent=2, default=str, allow_nan=False)
    (out / "sweep.json").write_text(text + "\n", encoding="utf-8")


def _report_sweep(
    console: Console, result: SweepResult, axes: list[Axis], out: Path, top: int
) -> dict[str, Any]:
    table = result.table
    ranked = out / "ranked.csv"
    table.to_csv(ranked, index=False)
    order = "lowest" if result.ascending else "highest"
    console.print(
        _top_table(table, f"top {min(top, len(table))} by {result.metric} ({order} first)", top)
    )
    files = {"table": str(result.path), "ranked": str(ranked)}
    varying = [axis.name for axis in axes if len(axis.values) > 1]
    if len(varying) == 2 and len(axes) == 2 and result.n_runs > result.n_failed:
        heatmap = result.heatmap_png(out / "heatmap.png", x=varying[0], y=varying[1])
        files["heatmap"] = str(heatmap)
    console.print(
        f"{result.n_runs} parameter sets ({result.n_failed} failed) in {result.elapsed_s:.2f} s: "
        f"{result.throughput:,.1f} backtests/s",
        highlight=False,
    )
    if result.n_runs > result.n_failed:
        console.print(f"best: {result.best_params}", highlight=False)
    for kind, path in files.items():
        console.print(f"{kind}: {path}", highlight=False)
    return {
        "n_runs": result.n_runs,
        "n_failed": result.n_failed,
        "elapsed_s": result.elapsed_s,
        "files": files,
    }


def _report_walk_forward(
    console: Console,
    result: WalkForwardResult,
    index: pd.Index,
    metric: str,
    out: Path,
) -> dict[str, Any]:
    import pandas as pd

    path = out / "walk_forward.csv"
    table = result.table
    table.to_csv(path, index=False)
    params = list(result.sweeps[0].param_names)

    def days(start: int, stop: int) -> str:
        return f"{index[start].date()} to {index[stop - 1].date()}"

    view = pd.DataFrame(
        {
            "split": table["split"],
            "train": list(map(days, table["train_start"], table["train_stop"])),
            "test": list(map(days, table["test_start"], table["test_stop"])),
            **{name: table[name] for name in params},
            f"train {metric}": table[f"train_{metric}"],
            f"test {metric}": table.get(f"test_{metric}"),
            "error": table["test_error"],
        }
    )
    console.print(
        _top_table(view, "walk-forward: the best training set, on its test bars", len(view))
    )
    console.print(f"walk_forward: {path}", highlight=False)
    return {"splits": len(table), "files": {"walk_forward": str(path)}}


# --- the command -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Run:
    backend: str
    scheduler: str | None
    workers: int | None
    chunk: int
    metric: str
    ascending: bool
    progress: bool

    def kwargs(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "scheduler_address": self.scheduler,
            "max_workers": self.workers,
            "chunk": self.chunk,
            "metric": self.metric,
            "ascending": self.ascending,
            "progress": self.progress,
        }


def _run_grid(
    objective: Any, sets: list[dict[str, Any]], data: dict[str, pd.DataFrame], run: _Run, out: Path
) -> SweepResult:
    from greekfire.backtest.sweep import run_sweep

    try:
        return run_sweep(objective, sets, data, out=out / "sweep.parquet", **run.kwargs())
    except ValueError as exc:
        if "not among the objective's metrics" in str(exc):
            raise typer.BadParameter(str(exc), param_hint="'--metric'") from None
        raise


def _run_walk_forward(
    objective: Any,
    sets: list[dict[str, Any]],
    data: dict[str, pd.DataFrame],
    walk: WalkForwardSpec,
    run: _Run,
    out: Path,
    *,
    sma: bool = False,
) -> WalkForwardResult:
    from greekfire.backtest.sweep import walk_forward, walk_forward_splits

    try:
        splits = walk_forward_splits(
            len(data["close"]),
            train_bars=walk.train,
            test_bars=walk.test,
            step_bars=walk.step,
            anchored=walk.anchored,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--walk-forward'") from None
    warmup = walk.warmup
    if warmup is None:  # the SMA crossover's slowest average warms up before each window
        slow = [int(p["slow"]) for p in sets if "slow" in p]
        warmup = max(slow) if sma and slow else 0
    try:
        return walk_forward(
            objective, sets, data, splits, out_dir=out, warmup_bars=warmup, **run.kwargs()
        )
    except ValueError as exc:
        if "not among the objective's metrics" in str(exc):
            raise typer.BadParameter(str(exc), param_hint="'--metric'") from None
        raise


def _check_numbers(options: Mapping[str, Any], chunk: int, top: int, n_random: int | None) -> None:
    for option, value in (("'--chunk'", chunk), ("'--top'", top), ("'--random'", n_random)):
        if value is not None and value < 1:
            raise typer.BadParameter(f"must be >= 1, got {value}", param_hint=option)
    _fraction(options["fees_frac"], "'--fees'")
    _fraction(options["fixed_fee_usd"], "'--fixed-fee'", math.inf)
    _fraction(options["slippage_frac"], "'--slippage'")
    cash = options["init_cash"]
    if not (math.isfinite(cash) and cash > 0):
        raise typer.BadParameter(f"must be > 0, got {cash!r}", param_hint="'--init-cash'")


def sweep_command(
    *,
    config: Annotated[
        Path | None, typer.Option("--config", help="trading_config.yaml.", dir_okay=False)
    ] = None,
    strategy: Annotated[
        str,
        typer.Option(help="'sma_cross' (long-only SMA crossover) or a module:function objective."),
    ] = "sma_cross",
    grid_specs: Annotated[
        list[str] | None,
        typer.Option(
            "--grid",
            help="A parameter: name=start:stop:step, name=v1,v2,... or name=value; repeat per "
            "parameter. With --random, start:stop is a range to draw from. sma_cross default: "
            "fast=5:50:5, slow=20:200:10 where fast < slow.",
        ),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(help="A constraint such as 'fast < slow' (repeatable: all must hold)."),
    ] = None,
    n_random: Annotated[
        int | None,
        typer.Option("--random", help="Draw N parameter sets at random instead of the grid."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of --random.")] = 0,
    walk_forward_spec: Annotated[
        str | None,
        typer.Option(
            "--walk-forward",
            help="train=N,test=M[,step=K][,warmup=W][,anchored] (bars; warmup defaults to the"
            " largest slow window for sma_cross): optimise per training window, "
            "report the test windows.",
        ),
    ] = None,
    symbols: Annotated[
        str | None, typer.Option(help="Comma-separated tickers (default: engine.symbols).")
    ] = None,
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD.")] = "2025-01-02",
    end: Annotated[str, typer.Option(help="Last day, YYYY-MM-DD.")] = "2025-12-31",
    fill: Annotated[
        str, typer.Option(help="Fill at the signal bar's 'close' or the 'next_open'.")
    ] = "close",
    fees: Annotated[float, typer.Option(help="Fee as a fraction of traded value.")] = 0.0,
    fixed_fee: Annotated[float, typer.Option(help="Fixed fee per order, dollars.")] = 0.0,
    slippage: Annotated[float, typer.Option(help="Slippage as a fraction of price.")] = 0.0,
    init_cash: Annotated[
        float, typer.Option(help="Starting cash per symbol, dollars.")
    ] = 100_000.0,
    backend: Annotated[
        str | None,
        typer.Option(
            help="serial, threads, processes (default) or dask (default with --scheduler)."
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Threads, processes or local Dask workers (default: cores).")
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="A Dask scheduler, e.g. tcp://host:8786.")
    ] = None,
    chunk: Annotated[
        int, typer.Option(help="Parameter sets per round (bounds the rows in memory).")
    ] = 10_000,
    metric: Annotated[str, typer.Option(help="The metric that ranks the table.")] = "sharpe",
    ascending: Annotated[
        bool, typer.Option("--ascending/--descending", help="Rank the lowest value first.")
    ] = False,
    top: Annotated[int, typer.Option(help="Rows of the ranked table to print.")] = 10,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    out: Annotated[
        Path, typer.Option(help="Directory of the Parquet table, ranked CSV and heatmap.")
    ] = Path("sweep-run"),
) -> None:
    """Sweep a signal strategy's parameters over daily history: grid, random or walk-forward."""
    first, last = check_window(start, end, fill)
    if strategy == "sma_cross" and metric not in SMA_METRICS:
        raise typer.BadParameter(
            f"sma_cross reports {', '.join(SMA_METRICS)}, got {metric!r}", param_hint="'--metric'"
        )
    options = {
        "fill": fill,
        "fees_frac": fees,
        "fixed_fee_usd": fixed_fee,
        "slippage_frac": slippage,
        "init_cash": init_cash,
    }
    _check_numbers(options, chunk, top, n_random)
    try:
        walk = None if walk_forward_spec is None else parse_walk_forward(walk_forward_spec)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--walk-forward'") from None
    run = _Run(
        _backend(backend, scheduler, workers),
        scheduler,
        workers,
        chunk,
        metric,
        ascending,
        progress,
    )
    base = _objective(strategy)
    axes = _axes(grid_specs or [], strategy)
    constraints = list(where or [])
    if not grid_specs and not constraints and strategy == "sma_cross":
        constraints = [_DEFAULT_SMA_WHERE]
    sets = _param_sets(axes, constraints, n_random, seed)
    objective = FixedOptions(base, tuple(options.items())) if strategy == "sma_cross" else base
    data = _market_data(_settings(config, symbols), first, last)

    console = Console()
    close = data["close"]
    console.print(
        f"sweeping {len(sets)} parameter sets of {strategy} on {close.shape[1]} symbols x "
        f"{close.shape[0]} bars ({close.index[0].date()} to {close.index[-1].date()}), "
        f"backend {run.backend}",
        highlight=False,
    )
    started = time.perf_counter()
    if walk is None:
        summary = _report_sweep(console, _run_grid(objective, sets, data, run, out), axes, out, top)
    else:
        result = _run_walk_forward(
            objective, sets, data, walk, run, out, sma=strategy == "sma_cross"
        )
        summary = _report_walk_forward(console, result, close.index, metric, out)
    _write_summary(
        out,
        {
            "strategy": strategy,
            "symbols": list(close.columns),
            "start": str(first),
            "end": str(last),
            "bars": int(close.shape[0]),
            "parameters": [axis.name for axis in axes],
            "where": constraints,
            "random": n_random,
            "seed": seed if n_random is not None else None,
            "walk_forward": walk_forward_spec,
            "options": options,
            "backend": run.backend,
            "metric": metric,
            "ascending": ascending,
            "wall_s": time.perf_counter() - started,
            **summary,
        },
    )
