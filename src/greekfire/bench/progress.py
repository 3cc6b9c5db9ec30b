"""A rich progress bar for ``greekfire bench``, fed by ``runner.BenchEvent``.

The bar goes to stderr (stdout keeps the summary table and stays pipeable) and is transient
(it disappears when the run ends). When stderr is not a terminal there is nothing to draw:
``progress_bar`` then yields None and the run takes no ``events`` callback at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

if TYPE_CHECKING:
    from greekfire.bench.runner import BenchEvent

__all__ = ["progress_bar"]


@contextmanager
def progress_bar(
    console: Console | None = None,
) -> Iterator[Callable[[BenchEvent], None] | None]:
    """Show one task that advances per case step and per contender while the block runs.

    Parameters
    ----------
    console : rich.console.Console, optional
        Where to draw; defaults to a stderr console. Nothing is drawn when it is not a
        terminal.

    Yields
    ------
    callable or None
        Pass it as ``run_bench(..., events=...)``; None when ``console`` is not a terminal.
    """
    console = console or Console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    bar = Progress(
        TextColumn("[bold]bench[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}", markup=False),  # labels are not rich markup
        console=console,
        transient=True,
    )
    task = bar.add_task("starting", total=None)

    def on_event(event: BenchEvent) -> None:
        bar.update(
            task, completed=event.completed, total=event.total, description=event.description
        )

    with bar:
        yield on_event
