"""Turn results into rich tables, JSON or CSV text. No numerics, no I/O beyond building strings.

JSON and CSV carry full float precision (``repr``), so a value read back equals the value
computed; NaN becomes ``null`` in JSON and an empty field in CSV.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Final

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "chain_tables",
    "iv_table",
    "price_table",
    "to_csv",
    "to_json",
]

Record = Mapping[str, object]

# (key, label, unit); "{u}" is the underlying's name ("spot" or "forward").
_PRICE_ROWS: Final = (
    ("price", "price", "per unit of underlying, in its currency"),
    ("delta", "delta", "per 1.00 move in {u}"),
    ("gamma", "gamma", "delta per 1.00 move in {u}"),
    ("vega", "vega", "per 1.00 of vol (100 vol points)"),
    ("vega_per_point", "vega", "per 1 vol point (0.01)"),
    ("theta", "theta", "per year"),
    ("theta_per_day", "theta", "per calendar day (1/365 year)"),
    ("rho", "rho", "per 1.00 of rate (100 %)"),
    ("rho_per_pct", "rho", "per 1 % of rate (0.01)"),
    ("vanna", "vanna", "delta per 1.00 of vol"),
    ("volga", "volga", "vega per 1.00 of vol"),
    ("charm", "charm", "delta per year"),
)


def _number(value: object, spec: str = ".6g") -> str:
    if not isinstance(value, int | float):
        return str(value)
    if math.isnan(value):
        return "nan"
    text = format(value, spec)
    # A tiny negative rounded to zero reads better without its sign.
    return text[1:] if text.startswith("-") and float(text) == 0.0 else text


def _clean(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json(data: Record | Sequence[Record]) -> str:
    """Serialise one record or a list of records; non-finite floats become ``null``."""
    if isinstance(data, Mapping):
        payload: object = {k: _clean(v) for k, v in data.items()}
    else:
        payload = [{k: _clean(v) for k, v in row.items()} for row in data]
    return json.dumps(payload, indent=2, allow_nan=False)


def to_csv(rows: Iterable[Record]) -> str:
    """Serialise records that share their keys as CSV with a header line."""
    materialised = list(rows)
    if not materialised:
        return ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(materialised[0]), lineterminator="\n")
    writer.writeheader()
    for row in materialised:
        writer.writerow({k: "" if _clean(v) is None else v for k, v in row.items()})
    return buffer.getvalue()


def _inputs_line(record: Record, keys: Sequence[str]) -> Text:
    parts = [f"{key} {_number(record[key])}" for key in keys if key in record]
    return Text("  ".join(parts), style="dim")


def _quantity_table() -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("quantity", style="bold")
    table.add_column("value", justify="right")
    table.add_column("unit", style="dim")
    return table


def price_table(record: Record) -> Group:
    """One option: a header with the inputs, then a row per quantity with value and unit.

    Parameters
    ----------
    record : mapping
        Output of ``greekfire.cli.pricing.price_option`` plus the inputs, ``model``, ``right``,
        ``underlying_name`` and ``greeks_method``.
    """
    underlying = str(record["underlying_name"])
    title = Text(f"{record['model']} {record['right']}, Greeks {record['greeks_method']}")
    title.stylize("bold")
    keys = (underlying, "strike", "t_years", "vol", "rate", "dividend_yield", "steps")
    table = _quantity_table()
    for key, label, unit in _PRICE_ROWS:
        table.add_row(label, _number(record[key]), unit.format(u=underlying))
    return Group(title, _inputs_line(record, keys), table)


def iv_table(record: Record) -> Group:
    """Implied volatility, as a decimal and in percent, with its status, under the inputs."""
    vol = record["iv"]
    percent = vol * 100.0 if isinstance(vol, float) else math.nan
    status = str(record["status"])
    title = Text(f"implied vol, {record['model']} {record['right']}", style="bold")
    keys = ("price", "spot", "strike", "t_years", "rate", "dividend_yield")
    table = _quantity_table()
    table.add_row("implied vol", _number(vol), "per year, decimal (0.25 = 25 %)")
    table.add_row("implied vol", _number(percent, ".4f"), "per year, in %")
    table.add_row("status", Text(status, style="green" if status == "OK" else "red"), "")
    return Group(title, _inputs_line(record, keys), table)


def _chain_cell(value: float, spec: str, *, itm: bool) -> Text:
    return Text(_number(float(value), spec), style="bold" if itm else "")


def _expiry_table(frame: pd.DataFrame, spot: float) -> Table:
    calls = frame[frame["right"] == "call"].sort_values("strike")
    puts = frame[frame["right"] == "put"].sort_values("strike")
    days = int(calls["expiry_days"].iloc[0])
    t_years = float(calls["t_years"].iloc[0])
    table = Table(
        title=f"{days} days to expiry (t = {t_years:.4f} y)",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        collapse_padding=True,
        title_justify="left",
        title_style="bold",
    )
    for header in ("theta/d", "delta", "call"):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("strike", justify="center", style="bold cyan", no_wrap=True)
    for header in ("put", "delta", "theta/d", "gamma", "vega/pt"):
        table.add_column(header, justify="right", no_wrap=True)
    columns = ("theta_per_day", "delta", "price", "gamma", "vega_per_point")
    call_cols = {c: calls[c].to_numpy(dtype=float) for c in ("strike", *columns)}
    put_cols = {c: puts[c].to_numpy(dtype=float) for c in columns}
    for i, strike in enumerate(call_cols["strike"]):
        call_itm, put_itm = strike < spot, strike > spot
        table.add_row(
            _chain_cell(call_cols["theta_per_day"][i], ".4f", itm=call_itm),
            _chain_cell(call_cols["delta"][i], ".4f", itm=call_itm),
            _chain_cell(call_cols["price"][i], ".4f", itm=call_itm),
            _number(float(strike), "g"),
            _chain_cell(put_cols["price"][i], ".4f", itm=put_itm),
            _chain_cell(put_cols["delta"][i], ".4f", itm=put_itm),
            _chain_cell(put_cols["theta_per_day"][i], ".4f", itm=put_itm),
            _number(float(call_cols["gamma"][i]), ".5f"),
            _number(float(call_cols["vega_per_point"][i]), ".4f"),
        )
    return table


def chain_tables(frame: pd.DataFrame) -> Group:
    """One table per expiry: calls left, strike in the middle, puts right.

    Gamma and vega are the same for a European call and put of equal strike and expiry, so they
    appear once, at the right. In-the-money prices and Greeks are bold.

    Parameters
    ----------
    frame : pandas.DataFrame
        Output of ``greekfire.analytics.chain.build_chain``.
    """
    spot = float(frame["spot"].iloc[0])
    first = frame.iloc[0]
    header = Text(
        f"BSM chain: spot {spot:g}  vol {float(first['iv']):g}  rate {float(first['rate']):g}"
        f"  dividend {float(first['dividend_yield']):g}\n"
        "theta/d per calendar day, vega/pt per vol point; bold = in the money",
        style="dim",
    )
    parts: list[Text | Table] = [header]
    for _, group in frame.groupby("expiry_days", sort=True):
        parts += [Text(""), _expiry_table(group, spot)]
    return Group(*parts)
