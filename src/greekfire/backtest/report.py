"""The report of a backtest: PNG plots and one self-contained HTML page.

:func:`write_report` writes into a directory:

- ``equity.png``: the equity curve and, below it, the drawdown from the running high;
- ``trades.png``: one symbol's price with its entries (green up triangles) and exits (red
  down triangles), when prices are given;
- ``monthly_returns.png``: a year x month heatmap of compounded monthly returns;
- ``report.html``: those images embedded as base64, the statistics table, the meta and
  parameters, and the trades table. It references nothing outside itself (no ``src`` or
  ``href`` to other files or the network), so it can be mailed or archived as it is.

matplotlib is imported inside the plotting functions only and drawn through its Agg canvas on
a ``Figure`` (no pyplot, no global backend switch, no display), as in
:mod:`greekfire.bench.chart`; images have a fixed size in pixels.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from greekfire.backtest.results import TOTAL, TRADE_COLUMNS, BacktestResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "DPI",
    "drawdown",
    "monthly_returns",
    "plot_equity",
    "plot_monthly_returns",
    "plot_trades",
    "render_html",
    "write_report",
]

DPI = 100
_EQUITY_IN = (11.0, 6.5)
_TRADES_IN = (11.0, 5.0)
_MONTHLY_IN = (11.0, 4.5)
_LINE, _DRAWDOWN, _ENTRY, _EXIT = "#264653", "#e76f51", "#2a9d8f", "#d62828"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# ----------------------------------------------------------------------------------------------
# Numbers behind the plots


def _column(result: BacktestResult, column: str | None) -> str:
    columns = [str(c) for c in result.equity.columns]
    if column is None:
        return TOTAL if TOTAL in columns else columns[0]
    if column not in columns:
        raise ValueError(
            f"column: expected one of the equity columns {columns[:10]}, got {column!r}"
        )
    return column


def drawdown(result: BacktestResult, column: str | None = None) -> pd.Series:
    """Fall from the running high of one equity column, as a fraction <= 0 per bar.

    The running high starts at the initial cash (:meth:`BacktestResult.initial_equity`), so a
    loss on the first bar is a drawdown too.

    Parameters
    ----------
    result : BacktestResult
    column : str, optional
        An equity column; default ``"total"`` if present, else the first.
    """
    name = _column(result, column)
    wealth = (1.0 + result.returns()[name].fillna(0.0)).cumprod()
    peak = wealth.cummax().clip(lower=1.0)
    under: pd.Series = (wealth / peak - 1.0).rename(name)
    return under


def monthly_returns(result: BacktestResult, column: str | None = None) -> pd.DataFrame:
    """Compounded return of each calendar month (UTC), in percent: years x months 1..12.

    Months without bars are NaN. Arguments as :func:`drawdown`.
    """
    name = _column(result, column)
    returns = result.returns()[name].dropna()
    index = pd.DatetimeIndex(returns.index)
    growth = (1.0 + returns).groupby([index.year, index.month]).prod()
    table = ((growth - 1.0) * 100.0).unstack()
    table = table.reindex(columns=range(1, 13))
    table.index.name, table.columns.name = "year", "month"
    return table


# ----------------------------------------------------------------------------------------------
# Plots


def _figure(size: tuple[float, float]) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, format="png", dpi=DPI, metadata={"Software": None})
    return target


def _times(index: pd.Index) -> np.ndarray:
    # matplotlib plots naive datetime64; the axes are labelled UTC.
    stamps = pd.DatetimeIndex(index)
    if stamps.tz is not None:
        stamps = stamps.tz_convert("UTC").tz_localize(None)
    return stamps.to_numpy()


def plot_equity(result: BacktestResult, path: str | Path, *, column: str | None = None) -> Path:
    """``equity.png``: the equity curve above its drawdown, for one equity column.

    Parameters
    ----------
    result : BacktestResult
    path : str or Path
        The PNG to write (parents created).
    column : str, optional
        Equity column; default ``"total"`` if present, else the first.

    Returns
    -------
    Path
        ``path``.
    """
    name = _column(result, column)
    equity = result.equity[name].astype("float64")
    under = drawdown(result, name)
    fig = _figure(_EQUITY_IN)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2.5, 1.0))
    x = _times(equity.index)
    top.plot(x, equity.to_numpy(), color=_LINE, linewidth=1.2)
    top.axhline(float(result.initial_equity()[name]), color="#888888", linewidth=0.8)
    top.set_ylabel("equity [$]")
    top.set_title(f"Equity: {name}", fontsize=10, loc="left")
    top.grid(alpha=0.3)
    bottom.fill_between(x, under.to_numpy() * 100.0, 0.0, color=_DRAWDOWN, alpha=0.5, step="post")
    bottom.set_ylabel("drawdown [%]")
    bottom.set_xlabel("time (UTC)")
    bottom.grid(alpha=0.3)
    fig.align_ylabels([top, bottom])
    fig.subplots_adjust(left=0.08, right=0.98, top=0.94, bottom=0.09, hspace=0.08)
    return _save(fig, path)


def _price_of(price: pd.Series | pd.DataFrame, symbol: str) -> pd.Series:
    if isinstance(price, pd.DataFrame):
        if symbol not in price.columns:
            raise ValueError(
                f"price: expected a column {symbol!r}, got columns {list(price.columns)[:10]}"
            )
        return price[symbol].astype("float64")
    if isinstance(price, pd.Series):
        return price.astype("float64")
    raise TypeError(f"price: expected a pandas Series or DataFrame, got {type(price).__name__}")


def plot_trades(
    result: BacktestResult,
    price: pd.Series | pd.DataFrame,
    path: str | Path,
    *,
    symbol: str,
) -> Path:
    """``trades.png``: one symbol's price with its entries and exits marked.

    Parameters
    ----------
    result : BacktestResult
    price : pandas.Series or DataFrame
        The symbol's prices (a Series), or a frame with one column per symbol.
    path : str or Path
        The PNG to write.
    symbol : str
        Whose trades to mark.

    Returns
    -------
    Path
        ``path``.
    """
    series = _price_of(price, symbol)
    trades = result.trades[result.trades["symbol"] == symbol]
    closed = trades[trades["exit_ts"].notna()]
    fig = _figure(_TRADES_IN)
    ax: Axes = fig.subplots()
    ax.plot(_times(series.index), series.to_numpy(), color=_LINE, linewidth=1.0, label="price")
    if len(trades):
        ax.scatter(
            _times(pd.DatetimeIndex(trades["entry_ts"])),
            trades["entry_price"].to_numpy(),
            marker="^",
            s=60,
            color=_ENTRY,
            label=f"entry ({len(trades)})",
            zorder=3,
        )
    if len(closed):
        ax.scatter(
            _times(pd.DatetimeIndex(closed["exit_ts"])),
            closed["exit_price"].to_numpy(),
            marker="v",
            s=60,
            color=_EXIT,
            label=f"exit ({len(closed)})",
            zorder=3,
        )
    ax.set_title(f"Trades: {symbol}", fontsize=10, loc="left")
    ax.set_ylabel("price [$]")
    ax.set_xlabel("time (UTC)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.92, bottom=0.12)
    return _save(fig, path)


def plot_monthly_returns(
    result: BacktestResult, path: str | Path, *, column: str | None = None
) -> Path:
    """``monthly_returns.png``: a heatmap of :func:`monthly_returns`, values in each cell.

    Gains green, losses red, on a colour scale symmetric around 0. Arguments as
    :func:`plot_equity`.
    """
    name = _column(result, column)
    table = monthly_returns(result, name)
    values = table.to_numpy(dtype=np.float64)
    finite = np.abs(values[np.isfinite(values)])
    limit = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    rows = max(len(table), 1)
    fig = _figure((_MONTHLY_IN[0], min(2.0 + 0.35 * rows, 12.0)))
    ax: Axes = fig.subplots()
    ax.imshow(np.ma.masked_invalid(values), cmap="RdYlGn", vmin=-limit, vmax=limit, aspect="auto")
    for (i, j), value in np.ndenumerate(values):
        if math.isfinite(value):
            dark = abs(value) > 0.6 * limit
            colour = "white" if dark else "black"
            ax.text(j, i, f"{value:.1f}", ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(range(12), _MONTHS, fontsize=8)
    ax.set_yticks(range(len(table)), [str(y) for y in table.index], fontsize=8)
    ax.set_title(f"Monthly returns [%]: {name}", fontsize=10, loc="left")
    fig.subplots_adjust(left=0.07, right=0.98, top=0.88, bottom=0.12)
    return _save(fig, path)


# ----------------------------------------------------------------------------------------------
# HTML

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 2px 8px; text-align: right; }
th { background: #f3f3f3; } td.text, th.text { text-align: left; }
img { max-width: 100%; display: block; margin: 1em 0; }
p.note { color: #666; font-size: 0.85em; }
"""


def _cell(value: Any) -> str:
    if value is None or value is pd.NaT:
        return ""
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return "n/a"
        if math.isinf(number):
            return "inf" if number > 0 else "-inf"
        return f"{number:,.6g}" if abs(number) >= 1e6 or number == 0 else f"{number:,.4f}"
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)


def _table(frame: pd.DataFrame, *, index_label: str = "") -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    lines = [
        f'<table><thead><tr><th class="text">{html.escape(index_label)}</th>{head}</tr></thead>'
    ]
    lines.append("<tbody>")
    for label, row in zip(frame.index, frame.itertuples(index=False), strict=True):
        cells = "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row)
        lines.append(f'<tr><th class="text">{html.escape(str(label))}</th>{cells}</tr>')
    lines.append("</tbody></table>")
    return "\n".join(lines)


def _pairs(title: str, values: Mapping[str, Any]) -> str:
    if not values:
        return f"<h2>{html.escape(title)}</h2><p class='note'>none</p>"
    frame = pd.DataFrame({"value": [_cell(v) for v in values.values()]}, index=list(values))
    return f"<h2>{html.escape(title)}</h2>" + _table(frame)


def _image(title: str, path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    alt = html.escape(title)
    return f'<h2>{alt}</h2><img alt="{alt}" src="data:image/png;base64,{data}">'


def _stats_columns(result: BacktestResult, symbol: str | None, limit: int) -> list[str]:
    # The total, the chosen symbol, then the others in order, at most ``limit``.
    columns = [str(c) for c in result.equity.columns]
    first = [c for c in (TOTAL, symbol) if c is not None and c in columns]
    rest = [c for c in columns if c not in first]
    return (first + rest)[: max(limit, 1)]


def render_html(
    result: BacktestResult,
    images: Mapping[str, Path],
    *,
    title: str = "Backtest report",
    symbol: str | None = None,
    max_columns: int = 12,
    max_trades: int = 1000,
) -> str:
    """The report page as one self-contained HTML string.

    Parameters
    ----------
    result : BacktestResult
    images : mapping title -> PNG path
        Embedded in this order as base64 ``data:`` URIs.
    title : str
        Page title and heading.
    symbol : str, optional
        Shown in the statistics table right after ``"total"``.
    max_columns : int
        At most this many equity columns in the statistics table (a note says how many are
        left out).
    max_trades : int
        At most this many trades listed (the first by symbol and entry time).

    Returns
    -------
    str
        The HTML document.
    """
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    engine = result.meta.get("engine")
    summary = (
        f"{len(result.symbols)} symbol(s), {len(result.equity)} bars, {len(result.trades)} trades"
    )
    parts.append(f"<p>{html.escape(summary + (f', engine {engine}' if engine else ''))}</p>")
    if not result.equity.empty:
        shown = _stats_columns(result, symbol, max_columns)
        stats = result.stats()[shown]
        parts.append("<h2>Statistics</h2>" + _table(stats))
        hidden = len(result.equity.columns) - len(shown)
        if hidden > 0:
            parts.append(f"<p class='note'>{hidden} more column(s) not shown.</p>")
    parts.extend(_image(name, path) for name, path in images.items())
    parts.append(_pairs("Run", {str(k): v for k, v in result.meta.items()}))
    parts.append(_pairs("Parameters", {str(k): v for k, v in result.params.items()}))
    trades = result.trades.head(max_trades)
    parts.append(f"<h2>Trades ({len(result.trades)})</h2>")
    if len(trades):
        parts.append(_table(trades[list(TRADE_COLUMNS)], index_label="#"))
        if len(result.trades) > len(trades):
            rest = len(result.trades) - len(trades)
            parts.append(f"<p class='note'>{rest} more trade(s) not shown.</p>")
    else:
        parts.append("<p class='note'>no trades</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _default_symbol(result: BacktestResult, symbol: str | None) -> str | None:
    if symbol is not None:
        if symbol not in result.symbols:
            raise ValueError(f"symbol: expected one of {result.symbols[:10]}, got {symbol!r}")
        return symbol
    traded: Sequence[str] = list(result.trades["symbol"].unique())
    return traded[0] if traded else (result.symbols[0] if result.symbols else None)


def write_report(
    result: BacktestResult,
    directory: str | Path,
    *,
    price: pd.Series | pd.DataFrame | None = None,
    symbol: str | None = None,
    title: str = "Backtest report",
) -> Path:
    """Write the PNG plots and ``report.html`` into ``directory``; return the HTML's path.

    Parameters
    ----------
    result : BacktestResult
    directory : str or Path
        Created if needed; existing files of the same names are replaced.
    price : pandas.Series or DataFrame, optional
        Prices for ``trades.png`` (a Series for ``symbol``, or one column per symbol).
        Without it there is no trades plot.
    symbol : str, optional
        The symbol whose trades are plotted; default the first traded symbol. The equity plot
        and the monthly heatmap show ``"total"`` when there are several symbols, else that
        symbol.
    title : str
        The page's title.

    Returns
    -------
    Path
        ``directory / "report.html"``.

    Raises
    ------
    ValueError
        An empty equity, a symbol not in the result, a price frame without its column.
    """
    if result.equity.empty:
        raise ValueError("result.equity: expected at least one bar and one column, got none")
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    chosen = _default_symbol(result, symbol)
    images: dict[str, Path] = {
        "Equity and drawdown": plot_equity(result, root / "equity.png"),
    }
    if price is not None and chosen is not None:
        images["Trades"] = plot_trades(result, price, root / "trades.png", symbol=chosen)
    images["Monthly returns"] = plot_monthly_returns(result, root / "monthly_returns.png")
    page = render_html(result, images, title=title, symbol=chosen)
    target = root / "report.html"
    target.write_text(page, encoding="utf-8")
    return target
