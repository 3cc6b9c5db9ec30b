"""``performance_chart.png``: the brief table as bars, speed-ups on a log axis and memory saved.

matplotlib is imported inside ``write_chart`` only, and drawn through its Agg canvas on a
``Figure`` object: no pyplot, no global backend switch, no display needed. The image is
always ``FIGSIZE_IN`` x ``DPI`` pixels whatever the number of rows (no tight bounding box),
so its size is deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["DPI", "FIGSIZE_IN", "write_chart"]

FIGSIZE_IN = (11.0, 6.5)
DPI = 100
_FASTER, _SLOWER, _MEMORY, _CLAIM = "#2a9d8f", "#e76f51", "#457b9d", "#222222"


def _label(row: Mapping[str, Any]) -> str:
    return f"{row['category']}\n{row['optimised']['key']} vs {row['baseline']['key']}"


def _claimed_factor(row: Mapping[str, Any]) -> float | None:
    # The brief's "% faster" is time saved: 99.8 % less time is a 500x speed-up.
    claim = row.get("claim")
    if claim is None or row["kind"] != "time" or claim["pct"] >= 100:
        return None
    return 100.0 / (100.0 - float(claim["pct"]))


def _fmt_factor(value: float) -> str:
    return f"{value:,.0f}x" if value >= 100 else f"{value:.3g}x"


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _speedups(ax: Axes, rows: Sequence[Mapping[str, Any]]) -> None:
    rows = [r for r in rows if r["kind"] == "time"]
    measured = [r for r in rows if r["speedup"] is not None]
    if not measured:
        _empty(ax, "no speed-up measured in this run")
        return
    ys = list(range(len(rows)))[::-1]
    values = [float(r["speedup"]) if r["speedup"] is not None else 1.0 for r in rows]
    colours = [_FASTER if v >= 1 else _SLOWER for v in values]
    ax.barh(ys, [v - 1.0 for v in values], left=1.0, color=colours, height=0.6)
    claims = [(y, _claimed_factor(r)) for y, r in zip(ys, rows, strict=True)]
    shown = [(y, c) for y, c in claims if c is not None]
    if shown:
        ax.scatter(
            [c for _, c in shown],
            [y for y, _ in shown],
            marker="|",
            s=400,
            color=_CLAIM,
            label="brief's claim",
            zorder=3,
        )
        ax.legend(loc="lower right", fontsize=8, markerscale=0.5)
    for y, row, value in zip(ys, rows, values, strict=True):
        text = "n/a" if row["speedup"] is None else _fmt_factor(value)
        ax.text(max(value, 1.0) * 1.08, y, text, va="center", fontsize=8)
    high = max([*values, *(c for _, c in shown)])
    ax.set_xscale("log")
    ax.set_xlim(min(0.5, min(values) * 0.7), high * 4)
    ax.axvline(1.0, color="#888888", linewidth=0.8)
    ax.set_yticks(ys, [_label(r) for r in rows], fontsize=8)
    ax.set_xlabel("speed-up: baseline time / optimised time (log scale; above 1 is faster)")
    ax.set_title("Speed-up per category", fontsize=10, loc="left")


def _memory(ax: Axes, rows: Sequence[Mapping[str, Any]]) -> None:
    rows = [r for r in rows if r["kind"] == "memory"]
    if not rows:
        _empty(ax, "memory case (j) not in this run")
        return
    ys = list(range(len(rows)))[::-1]
    values = [float(r["reduction_pct"] or 0.0) for r in rows]
    ax.barh(ys, values, color=_MEMORY, height=0.6)
    for y, row, value in zip(ys, rows, values, strict=True):
        text = "n/a" if row["reduction_pct"] is None else f"{value:.1f} %"
        ax.text(value + 1.0, y, text, va="center", fontsize=8)
    claim = next((r["claim"]["pct"] for r in rows if r.get("claim")), None)
    if claim is not None:
        ax.axvline(claim, color=_CLAIM, linestyle="--", linewidth=1, label="brief's claim")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlim(0, 110)
    ax.set_yticks(ys, [_label(r) for r in rows], fontsize=8)
    ax.set_xlabel("memory saved, % of the input frame's bytes per row")
    ax.set_title("Memory reduction", fontsize=10, loc="left")


def write_chart(rows: Sequence[Mapping[str, Any]], path: Path, *, title: str = "") -> Path:
    """Draw the brief table as a PNG: speed-ups (log axis) above memory reductions.

    Parameters
    ----------
    rows : sequence of mapping
        ``brief.build_brief_table`` rows; ``overhead`` rows (a cache hit's cost) have no
        speed-up and are not drawn.
    path : Path
        Output file.
    title : str, optional
        Figure title.

    Returns
    -------
    Path
        ``path``, written as a ``FIGSIZE_IN`` x ``DPI`` PNG.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n_time = sum(r["kind"] == "time" for r in rows)
    n_memory = sum(r["kind"] == "memory" for r in rows)
    fig = Figure(figsize=FIGSIZE_IN, dpi=DPI)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, 1, height_ratios=[max(n_time, 1) + 1, max(n_memory, 1) + 1])
    fig.subplots_adjust(left=0.27, right=0.96, top=0.9, bottom=0.09, hspace=0.55)
    _speedups(fig.add_subplot(grid[0]), rows)
    _memory(fig.add_subplot(grid[1]), rows)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
    return path
