"""The corpus of the bad-input suite: named hostile inputs and how each must be answered.

A :class:`Case` runs one input through a real parser (bars, CSV and Parquet files, Alpaca JSON,
Alpaca HTTP answers behind ``httpx.MockTransport``, option inputs, configs); :func:`evaluate`
classifies what it did. :func:`build_cases` returns the whole corpus. The suite that runs it is
:mod:`greekfire.reliability.corpus`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd

from greekfire.analytics.options import black_scholes, greeks, implied_vol
from greekfire.data.alpaca import AlpacaCredentials, AlpacaProvider
from greekfire.data.alpaca_wire import parse_bars_page
from greekfire.data.files import FileProvider
from greekfire.data.http import CorruptResponse
from greekfire.data.validate import BarValidationError, validate_bars
from greekfire.errors import ConfigError, ParseError, ProviderError
from greekfire.settings import load_settings

__all__ = ["Case", "Handler", "Outcome", "build_cases", "call_provider", "evaluate", "good_bars"]

_DAYS = pd.date_range("2024-01-02", periods=5, freq="D", tz="UTC", name="timestamp")
_URL = "http://market.test"


@dataclass(frozen=True, slots=True)
class Case:
    """One hostile input and what must happen to it.

    Attributes
    ----------
    name, target : str
        Unique case name; the parser it goes through (``validate_bars``, ``files``, ...).
    call : callable
        Runs the parser on the input; returns its result.
    error : type, optional
        The exception class expected; its message must contain every string of ``names``.
    names : tuple of str
        Fragments (field, value) the error message must contain.
    check : callable, optional
        For a documented treatment: given the result, returns None when it is the documented
        one, else what differs.
    treatment : str
        The documented treatment in words.
    """

    name: str
    target: str
    call: Callable[[], object]
    error: type[BaseException] | None = None
    names: tuple[str, ...] = ()
    check: Callable[[Any], str | None] | None = None
    treatment: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a case did: ``kind`` is ``clear_error``, ``documented`` or ``unexpected``."""

    case: str
    target: str
    kind: str
    detail: str = ""


def evaluate(case: Case) -> Outcome:
    """Run ``case`` and classify its outcome (never raises for the input's sake)."""
    try:
        result = case.call()
    except Exception as exc:  # the suite's boundary: any escape is classified, not raised
        text = f"{type(exc).__name__}: {exc}"
        if case.error is None or not isinstance(exc, case.error):
            return Outcome(case.name, case.target, "unexpected", "raised " + text[:300])
        missing = [n for n in case.names if n not in str(exc)]
        if missing:
            return Outcome(case.name, case.target, "unexpected", f"{missing} not in {text[:300]}")
        return Outcome(case.name, case.target, "clear_error", text[:200])
    if case.error is not None:
        want = case.error.__name__
        return Outcome(case.name, case.target, "unexpected", f"no {want}; returned {result!r:.200}")
    problem = case.check(result) if case.check is not None else None
    if problem is not None:
        return Outcome(case.name, case.target, "unexpected", problem)
    return Outcome(case.name, case.target, "documented", case.treatment)


# --------------------------------------------------------------------------- bars


def good_bars(rows: int = 5) -> pd.DataFrame:
    """A clean daily bar frame (UTC index, float64 columns), the base every bar case spoils."""
    index = pd.date_range("2024-01-02", periods=rows, freq="D", tz="UTC", name="timestamp")
    close = 100.0 + np.arange(rows, dtype=np.float64)
    return pd.DataFrame(
        {
            "open": close - 0.5,
            "high": close + 1.0,
            "low": close - 1.0,
            "close": close,
            "volume": np.full(rows, 1000.0),
        },
        index=index,
    )


def _spoiled(column: str, row: int, value: float) -> pd.DataFrame:
    return _with_cell(good_bars(), column, row, value)


def _with_cell(frame: pd.DataFrame, column: str, row: int, value: object) -> pd.DataFrame:
    values = frame[column].to_numpy(copy=True)
    values[row] = value
    frame[column] = values
    return frame


def _rejects(name: str, reason: str, rows_out: int = 4) -> Callable[[Any], str | None]:
    def check(result: Any) -> str | None:
        clean, report = result
        rej = report.rejected
        hit = rej[(rej["field"] == name) & rej["reason"].str.contains(reason, regex=False)]
        if hit.empty:
            return f"no rejection of {name!r} ({reason}); got {report.messages()}"
        if len(clean) != rows_out or report.rows_out != rows_out:
            return f"expected {rows_out} clean rows, got {len(clean)}"
        if not clean.index.is_monotonic_increasing or not clean.index.is_unique:
            return "clean frame not strictly increasing"
        return None

    return check


def _validate(frame: Any, strict: bool = False) -> Callable[[], object]:
    return lambda: validate_bars(frame, source="corpus", symbol="BAD", strict=strict)


def _bar_cases() -> list[Case]:
    def case(name: str, frame: pd.DataFrame, field_: str, reason: str, rows: int = 4) -> Case:
        return Case(
            name,
            "validate_bars",
            _validate(frame),
            check=_rejects(field_, reason, rows),
            treatment=f"row dropped and reported: {field_} {reason}",
        )

    dup = pd.concat([good_bars(), good_bars().iloc[[2]]]).sort_index()
    conflict = _with_cell(dup.copy(), "close", 3, 102.5)
    unordered = good_bars().iloc[[0, 1, 3, 2, 4]]
    huge = good_bars() * 1e300
    naive = good_bars().tz_localize(None)
    texts = _with_cell(good_bars().astype({"close": object}), "close", 1, "abc")

    def dup_check(result: Any) -> str | None:
        clean, report = result
        ok = report.ok and len(report.duplicates) == 1 and len(clean) == 5
        return None if ok else f"duplicates {report.duplicates}, {report.messages()}"

    def huge_check(result: Any) -> str | None:
        clean, report = result
        return None if report.ok and len(clean) == 5 else f"huge rejected: {report.messages()}"

    return [
        case("bar_nan_close", _spoiled("close", 2, math.nan), "close", "missing (NaN)"),
        case("bar_inf_high", _spoiled("high", 1, math.inf), "high", "not finite"),
        case("bar_negative_low", _spoiled("low", 3, -5.0), "low", "negative price"),
        case("bar_zero_open", _spoiled("open", 0, 0.0), "open", "zero price"),
        case("bar_high_below_low", _spoiled("high", 2, 90.0), "low", "above high"),
        case("bar_close_above_high", _spoiled("close", 2, 150.0), "high", "below max"),
        case("bar_close_below_low", _spoiled("close", 2, 50.0), "low", "above min"),
        case("bar_negative_volume", _spoiled("volume", 4, -1.0), "volume", "negative"),
        case("bar_inf_volume", _spoiled("volume", 4, math.inf), "volume", "not finite"),
        case("bar_conflicting_duplicate", conflict, "timestamp", "duplicate", 4),
        case("bar_out_of_order", unordered, "timestamp", "out of order", 4),
        Case(
            "bar_identical_duplicate",
            "validate_bars",
            _validate(dup),
            check=dup_check,
            treatment="identical duplicate dropped and listed in report.duplicates",
        ),
        Case(
            "bar_huge_values",
            "validate_bars",
            _validate(huge),
            check=huge_check,
            treatment="finite huge prices kept (no upper bound rule)",
        ),
        Case(
            "bar_strict_nan",
            "validate_bars",
            _validate(_spoiled("close", 2, math.nan), True),
            BarValidationError,
            ("close", "BAD"),
        ),
        Case("bar_text_column", "validate_bars", _validate(texts), TypeError, ("'close'",)),
        Case(
            "bar_missing_volume",
            "validate_bars",
            _validate(good_bars().drop(columns="volume")),
            ValueError,
            ("volume",),
        ),
        Case("bar_naive_index", "validate_bars", _validate(naive), ValueError, ("naive",)),
        Case(
            "bar_integer_index",
            "validate_bars",
            _validate(good_bars().reset_index(drop=True)),
            TypeError,
            ("DatetimeIndex",),
        ),
        Case("bar_not_a_frame", "validate_bars", _validate([1, 2, 3]), TypeError, ("list",)),
    ]


# --------------------------------------------------------------------------- files

_CSV_HEAD = "Date,Open,High,Low,Close,Volume\n"
_CSV_ROWS = "".join(
    f"2024-01-{d:02d},{100 + d},{101 + d},{99 + d},{100.5 + d},1000\n" for d in range(2, 7)
)


def _file_reader(root: Path, symbol: str) -> Callable[[], object]:
    def call() -> object:
        start, end = pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-02-01", tz="UTC")
        return FileProvider(root).read_bars(symbol, start, end, "1d")

    return call


def _file_cases(root: Path) -> list[Case]:
    specs: list[tuple[str, str, bytes, type[BaseException], tuple[str, ...]]] = [
        (
            "csv_bad_header",
            "csv",
            b"Day,Opn,Hi,Lo,Px\n2024-01-02,1,2,0.5,1.5\n",
            ParseError,
            ("missing columns", "close"),
        ),
        (
            "csv_text_in_price",
            "csv",
            (_CSV_HEAD + _CSV_ROWS.replace("104.5", "abc")).encode(),
            ParseError,
            ("'abc'", "row 3"),
        ),
        (
            "csv_bad_date",
            "csv",
            (_CSV_HEAD + _CSV_ROWS.replace("2024-01-04", "04/31/24")).encode(),
            ParseError,
            ("04/31/24",),
        ),
        (
            "csv_latin1_bytes",
            "csv",
            (_CSV_HEAD + _CSV_ROWS).encode() + b"2024-01-07,1\xe9,2,1,1,1\n",
            ParseError,
            ("utf-8", "0xe9"),
        ),
        ("csv_empty_file", "csv", b"", ParseError, ("SYM",)),
        (
            "csv_ragged_rows",
            "csv",
            (_CSV_HEAD + "2024-01-02,1,2\n" + _CSV_ROWS).encode(),
            ParseError,
            ("SYM",),
        ),
        (
            "csv_crossed_row",
            "csv",
            (_CSV_HEAD + _CSV_ROWS.replace("106,104,", "96,104,")).encode(),
            BarValidationError,
            ("row 4", "low"),
        ),
        (
            "csv_nan_price",
            "csv",
            (_CSV_HEAD + _CSV_ROWS.replace("105,103", "nan,103")).encode(),
            BarValidationError,
            ("high",),
        ),
        ("parquet_garbage", "parquet", b"PAR1 this is not parquet PAR1", ParseError, ("SYM",)),
    ]
    cases = []
    for name, ext, data, error, names in specs:
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"SYM.{ext}").write_bytes(data)
        cases.append(Case(name, "files", _file_reader(folder, "SYM"), error, names))
    text_price = root / "parquet_text_price"
    text_price.mkdir(parents=True, exist_ok=True)
    frame = good_bars().reset_index().astype({"close": str})
    frame.to_parquet(text_price / "SYM.parquet")
    text_word = root / "parquet_word_price"
    text_word.mkdir(parents=True, exist_ok=True)
    frame.loc[2, "close"] = "abc"
    frame.to_parquet(text_word / "SYM.parquet")
    missing = root / "no_file"
    missing.mkdir(parents=True, exist_ok=True)
    header_only = root / "csv_header_only"
    header_only.mkdir(parents=True, exist_ok=True)
    (header_only / "SYM.csv").write_text(_CSV_HEAD, encoding="utf-8")

    def numeric(result: Any) -> str | None:
        close = result[0]["close"].to_numpy()
        return None if np.array_equal(close, good_bars()["close"].to_numpy()) else f"{close}"

    def no_rows(result: Any) -> str | None:
        frame, report = result
        return None if len(frame) == 0 and report.ok else f"got {len(frame)} rows"

    pipeline = root / "pipeline_quotes"
    pipeline.mkdir(parents=True, exist_ok=True)
    for name in ("AAA", "BBB"):
        (pipeline / f"{name}.csv").write_text(_CSV_HEAD + _CSV_ROWS, encoding="utf-8")
    crossed = _CSV_ROWS.replace("106,104,", "96,104,")
    (pipeline / "CCC.csv").write_text(_CSV_HEAD + crossed, encoding="utf-8")

    def split(result: Any) -> str | None:
        got, failed = sorted(result.data), sorted(result.failures)
        ok = got == ["AAA", "BBB"] and failed == ["CCC"]
        return None if ok else f"quotes for {got}, failures {failed}: one bad file sank the group"

    return [
        *cases,
        Case(
            "pipeline_quotes_one_bad_file",
            "files",
            lambda: _pipeline_quotes(pipeline),
            check=split,
            treatment="the bad symbol fails alone, the good ones get quotes",
        ),
        Case(
            "parquet_text_price",
            "files",
            _file_reader(text_price, "SYM"),
            check=numeric,
            treatment="numeric text in a Parquet string column parsed as numbers, like CSV",
        ),
        Case(
            "parquet_word_price",
            "files",
            _file_reader(text_word, "SYM"),
            ParseError,
            ("'abc'", "close"),
        ),
        Case(
            "files_no_such_symbol", "files", _file_reader(missing, "SYM"), ProviderError, ("SYM",)
        ),
        Case(
            "csv_header_only",
            "files",
            _file_reader(header_only, "SYM"),
            check=no_rows,
            treatment="no rows: an empty frame, nothing rejected",
        ),
    ]


def _pipeline_quotes(root: Path) -> Any:
    from greekfire.data.pipeline import AsyncDataPipeline

    async def go() -> Any:
        pipeline = AsyncDataPipeline(FileProvider(root), max_concurrent_requests=4)
        return await pipeline.fetch_quotes(["AAA", "BBB", "CCC"])

    return asyncio.run(go())


# --------------------------------------------------------------------------- Alpaca JSON


def _bar_json(**changes: object) -> dict[str, object]:
    bar: dict[str, object] = {
        "t": "2024-01-02T05:00:00Z",
        "o": 1.0,
        "h": 2.0,
        "l": 0.5,
        "c": 1.5,
        "v": 100,
    }
    bar.update(changes)
    return {k: v for k, v in bar.items() if v is not _DROP}


_DROP = object()


def _page(*bars: object, token: object = None) -> bytes:
    return orjson.dumps({"bars": {"SPY": list(bars)}, "next_page_token": token})


def _wire(body: bytes) -> Callable[[], object]:
    return lambda: parse_bars_page(body, source="corpus")


def _wire_cases() -> list[Case]:
    deep = b'{"bars": {"SPY": [' + b"[" * 5000 + b"]" * 5000 + b"]}}"
    specs: list[tuple[str, bytes, tuple[str, ...]]] = [
        ("json_garbage", b"<html>502 Bad Gateway</html>", ("not valid JSON",)),
        ("json_truncated", _page(_bar_json())[:40], ("not valid JSON", "SPY")),
        ("json_non_utf8", _page(_bar_json()).replace(b"SPY", b"S\xffY"), ("not valid JSON",)),
        ("json_top_level_list", b"[1, 2, 3]", ("expected a JSON object",)),
        ("json_bars_missing", b'{"quotes": {}}', ("'bars'", "missing")),
        ("json_bars_wrong_type", b'{"bars": 7}', ("'bars'", "7")),
        ("json_price_as_string", _page(_bar_json(o="1.0")), ("'o'", "'1.0'")),
        ("json_close_missing", _page(_bar_json(c=_DROP)), ("'c'", "missing")),
        ("json_bad_time", _page(_bar_json(t="yesterday")), ("'t'", "yesterday")),
        ("json_year_zero", _page(_bar_json(t="0000-01-01T00:00:00Z")), ("'t'", "0000")),
        ("json_out_of_range_time", _page(_bar_json(t="9999-01-01T00:00:00Z")), ("'t'", "9999")),
        ("json_number_overflow", _page(_bar_json()).replace(b'"h":2.0', b'"h":1e400'), ("1e400",)),
        (
            "json_huge_integer",
            _page(_bar_json()).replace(b'"v":100', b'"v":' + b"9" * 400),
            ("999",),
        ),
        ("json_deep_nesting", deep, ("not valid JSON",)),
        ("json_bool_volume", _page(_bar_json(v=True)), ("'v'", "True")),
        ("json_token_number", _page(_bar_json(), token=5), ("next_page_token", "5")),
        ("json_bar_is_list", _page([1, 2, 3]), ("expected an object",)),
    ]
    cases = [Case(n, "parse_bars_page", _wire(b), ParseError, names) for n, b, names in specs]

    def empty(page: Any) -> str | None:
        return None if page.bars == {} else f"bars {page.bars}"

    cases.append(
        Case(
            "json_bars_null",
            "parse_bars_page",
            _wire(b'{"bars": null}'),
            check=empty,
            treatment="no bars: an empty page",
        )
    )
    return cases


# --------------------------------------------------------------------------- HTTP payloads

Handler = Callable[[httpx.Request], httpx.Response]


def _json(payload: object, status: int = 200) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return httpx.Response(status, content=body, headers={"content-type": "application/json"})


def call_provider(handler: Handler, method: str, *args: object) -> object:
    """Call ``AlpacaProvider.<method>(*args)`` against ``handler`` (an ``httpx.MockTransport``)."""

    async def go() -> object:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            provider = AlpacaProvider(
                AlpacaCredentials("corpus-key", "corpus-secret"),
                data_url=_URL,
                trading_url=_URL,
                client=client,
            )
            result: object = await getattr(provider, method)(*args)
            return result

    return asyncio.run(go())


def _by_path(routes: dict[str, Callable[[], httpx.Response]]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        for suffix, answer in routes.items():
            if request.url.path.endswith(suffix):
                return answer()
        return _json({"message": "not found"}, 404)

    return handler


def _quote(**changes: object) -> dict[str, object]:
    quote: dict[str, object] = {"t": "2024-01-02T15:00:00Z", "bp": 1.0, "ap": 1.1, "bs": 1, "as": 2}
    quote.update(changes)
    return quote


def _quotes_with(quotes: object) -> Handler:
    trades = {"SPY": {"t": "2024-01-02T15:00:00Z", "p": 1.05}}
    return _by_path(
        {
            "/quotes/latest": lambda: _json({"quotes": quotes}),
            "/trades/latest": lambda: _json({"trades": trades}),
        }
    )


def _http_cases() -> list[Case]:
    start, end = pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-01-10", tz="UTC")
    mixed = {"bars": {"SPY": [_bar_json()], "BAD": [_bar_json(h=0.1)]}, "next_page_token": None}

    def bars(answer: Callable[[], httpx.Response]) -> Callable[[], object]:
        handler = _by_path({"/v2/stocks/bars": answer})
        return lambda: call_provider(handler, "bars_many", ["SPY", "BAD"], start, end, "1d")

    def quotes(payload: object) -> Callable[[], object]:
        return lambda: call_provider(_quotes_with(payload), "latest_quotes", ["SPY"])

    def one_bad(result: Any) -> str | None:
        good, bad = result.get("SPY"), result.get("BAD")
        if not isinstance(good, pd.DataFrame) or len(good) != 1:
            return f"SPY lost: {good!r:.120}"
        if not isinstance(bad, BarValidationError) or "low" not in str(bad):
            return f"BAD not refused: {bad!r:.120}"
        return None

    chain_bad_key = _by_path(
        {
            "/snapshots/SPY": lambda: _json({"snapshots": {"NOT-AN-OCC": {}}}),
            "/options/contracts": lambda: _json({"option_contracts": []}),
            "/trades/latest": lambda: _json({"trades": {"SPY": {"p": 400.0}}}),
        }
    )
    chain_bad_oi = _by_path(
        {
            "/snapshots/SPY": lambda: _json({"snapshots": {}}),
            "/options/contracts": lambda: _json(
                {"option_contracts": [{"symbol": "SPY240119C00400000", "open_interest": "lots"}]}
            ),
            "/trades/latest": lambda: _json({"trades": {"SPY": {"p": 400.0}}}),
        }
    )
    chain_list = _by_path(
        {
            "/snapshots/SPY": lambda: _json({"snapshots": [[1, 2, 3]]}),
            "/options/contracts": lambda: _json({"option_contracts": []}),
            "/trades/latest": lambda: _json({"trades": {"SPY": {"p": 400.0}}}),
        }
    )
    deep = b"[" * 100_000 + b"]" * 100_000
    return [
        Case(
            "http_one_bad_symbol",
            "alpaca_http",
            bars(lambda: _json(mixed)),
            check=one_bad,
            treatment="the bad symbol's BarValidationError, the good symbol's frame",
        ),
        Case(
            "http_bars_not_json",
            "alpaca_http",
            bars(lambda: _json(b"\x00\xff garbage")),
            CorruptResponse,
            ("not valid JSON",),
        ),
        Case(
            "http_bars_deep_nesting",
            "alpaca_http",
            bars(lambda: _json(deep)),
            CorruptResponse,
            ("not valid JSON",),
        ),
        Case(
            "http_bars_422",
            "alpaca_http",
            bars(lambda: _json({"message": "bad \x00"}, 422)),
            ProviderError,
            ("422",),
        ),
        Case(
            "http_quote_price_text",
            "alpaca_http",
            quotes({"SPY": _quote(bp="cheap")}),
            ParseError,
            ("'bp'", "cheap"),
        ),
        Case(
            "http_quote_missing_ask",
            "alpaca_http",
            quotes({"SPY": _quote(ap=None)}),
            ParseError,
            ("'ap'",),
        ),
        Case("http_quote_list", "alpaca_http", quotes([1, 2]), ParseError, ("'quotes'",)),
        Case(
            "http_quote_time_number",
            "alpaca_http",
            quotes({"SPY": _quote(t=17)}),
            ParseError,
            ("'t'", "17"),
        ),
        Case(
            "http_quote_time_year_9999",
            "alpaca_http",
            quotes({"SPY": _quote(t="9999-12-31T00:00:00Z")}),
            ParseError,
            ("'t'", "9999"),
        ),
        Case(
            "http_quote_huge_number",
            "alpaca_http",
            quotes({"SPY": _quote(bp=1.7e308)}),
            check=lambda f: None if f.loc["SPY", "bid"] == 1.7e308 else f"bid {f}",
            treatment="a finite huge price is passed through (quotes are not range-checked)",
        ),
        Case(
            "http_chain_bad_key",
            "alpaca_http",
            lambda: call_provider(chain_bad_key, "option_chain", "SPY"),
            ParseError,
            ("NOT-AN-OCC",),
        ),
        Case(
            "http_chain_bad_open_interest",
            "alpaca_http",
            lambda: call_provider(chain_bad_oi, "option_chain", "SPY"),
            ParseError,
            ("open_interest", "lots"),
        ),
        Case(
            "http_chain_snapshots_list",
            "alpaca_http",
            lambda: call_provider(chain_list, "option_chain", "SPY"),
            ParseError,
            ("snapshots",),
        ),
    ]


# --------------------------------------------------------------------------- option inputs


def _all_nan(*names: str) -> Callable[[Any], str | None]:
    def check(result: Any) -> str | None:
        values = [result] if not names else [result[n] for n in names]
        ok = all(np.isnan(np.asarray(v, dtype=np.float64)).all() for v in values)
        return None if ok else f"expected NaN, got {result!r:.200}"

    return check


def _option_cases() -> list[Case]:
    def status_bad(result: Any) -> str | None:
        vol, status = result
        return None if math.isnan(vol) and int(status) != 0 else f"got {result}"

    def finite_or_nan(value: Any) -> str | None:
        x = float(value)
        return None if math.isnan(x) or (math.isfinite(x) and x >= 0) else f"got {x}"

    return [
        Case(
            "opt_negative_vol",
            "analytics",
            lambda: black_scholes(100, 100, 1, -0.2),
            check=_all_nan(),
            treatment="NaN price",
        ),
        Case(
            "opt_negative_time",
            "analytics",
            lambda: black_scholes(100, 100, -1, 0.2),
            check=_all_nan(),
            treatment="NaN price",
        ),
        Case(
            "opt_zero_time",
            "analytics",
            lambda: black_scholes(110, 100, 0, 0.2),
            check=lambda x: None if abs(x - 10) < 1e-9 else f"got {x}",
            treatment="t_years 0: the intrinsic value",
        ),
        Case(
            "opt_nan_spot",
            "analytics",
            lambda: greeks(math.nan, 100, 1, 0.2),
            check=lambda g: (
                _all_nan("price", "delta")(g)
                or (None if int(g["status"]) != 0 else "status OK for NaN spot")
            ),
            treatment="NaN Greeks and a non-OK status",
        ),
        Case(
            "opt_absurd_strike",
            "analytics",
            lambda: black_scholes(100, 1e300, 1, 0.2, right="put"),
            check=finite_or_nan,
            treatment="a finite price or NaN, never a raise",
        ),
        Case(
            "opt_zero_strike",
            "analytics",
            lambda: black_scholes(100, 0, 1, 0.2),
            check=_all_nan(),
            treatment="NaN price",
        ),
        Case(
            "opt_iv_below_intrinsic",
            "analytics",
            lambda: implied_vol(1.0, 120, 100, 1),
            check=status_bad,
            treatment="NaN vol and a status saying why",
        ),
        Case(
            "opt_iv_nan_price",
            "analytics",
            lambda: implied_vol(math.nan, 100, 100, 1),
            check=status_bad,
            treatment="NaN vol and a status saying why",
        ),
        Case(
            "opt_bad_right",
            "analytics",
            lambda: black_scholes(100, 100, 1, 0.2, right="straddle"),
            ValueError,
            ("right", "straddle"),
        ),
        Case(
            "opt_text_spot",
            "analytics",
            lambda: black_scholes("abc", 100, 1, 0.2),
            TypeError,
            ("spot", "abc"),
        ),
        Case(
            "opt_shapes",
            "analytics",
            lambda: black_scholes([1.0, 2.0], [1.0, 2.0, 3.0], 1, 0.2),
            ValueError,
            ("broadcast", "strike"),
        ),
    ]


# --------------------------------------------------------------------------- configs


def _config_cases(root: Path) -> list[Case]:
    specs: list[tuple[str, bytes, dict[str, str], tuple[str, ...]]] = [
        ("cfg_wrong_type", b"risk:\n  max_positions: many\n", {}, ("risk.max_positions", "many")),
        ("cfg_unknown_key", b"engine:\n  symbolz: [SPY]\n", {}, ("engine.symbolz",)),
        ("cfg_unknown_section", b"enginez: {}\n", {}, ("enginez",)),
        ("cfg_secret_in_file", b"broker:\n  api_secret: hunter2\n", {}, ("broker.api_secret",)),
        ("cfg_yaml_syntax", b"engine: [unclosed\n", {}, ("line",)),
        ("cfg_not_mapping", b"- a\n- b\n", {}, ("mapping",)),
        ("cfg_duplicate_key", b"engine: {}\nengine: {}\n", {}, ("engine",)),
        ("cfg_non_utf8", b"engine:\n  symbols: [\xff\xfe]\n", {}, ("cfg_non_utf8",)),
        ("cfg_negative_interval", b"engine:\n  interval_s: -5\n", {}, ("engine.interval_s", "-5")),
        (
            "cfg_bad_env_type",
            b"",
            {"GREEKFIRE_RISK__MAX_POSITIONS": "lots"},
            ("risk.max_positions", "lots"),
        ),
        ("cfg_bad_env_key", b"", {"GREEKFIRE_RISK__NOPE": "1"}, ("GREEKFIRE_RISK__NOPE",)),
        ("cfg_bad_env_yaml", b"", {"GREEKFIRE_ENGINE__SYMBOLS": "[SPY"}, ("engine.symbols",)),
        ("cfg_bad_env_index", b"", {"GREEKFIRE_STRATEGIES__99__ENABLED": "false"}, ("strategies",)),
    ]
    cases = []
    for name, text, env, names in specs:
        path = root / f"{name}.yaml"
        path.write_bytes(text)
        call = _loader(path, env)
        cases.append(Case(name, "load_settings", call, ConfigError, names))
    empty = root / "cfg_empty.yaml"
    empty.write_bytes(b"")
    huge = root / "cfg_huge_int.yaml"
    huge.write_bytes(b"risk:\n  max_positions: " + b"9" * 400 + b"\n")
    cases.append(
        Case(
            "cfg_huge_int",
            "load_settings",
            _loader(huge, {}),
            check=lambda s: None if s.risk.max_positions == int("9" * 400) else "changed",
            treatment="a 400-digit max_positions is accepted as is (no upper bound)",
        )
    )
    cases.append(
        Case(
            "cfg_empty_file",
            "load_settings",
            _loader(empty, {}),
            check=lambda s: None if s.engine.symbols else "no symbols",
            treatment="an empty file means the defaults",
        )
    )
    return cases


def _loader(path: Path, env: dict[str, str]) -> Callable[[], object]:
    return lambda: load_settings(path, env=env)


def build_cases(root: Path) -> list[Case]:
    """Every corpus case; files and configs are written under ``root``."""
    (root / "files").mkdir(parents=True, exist_ok=True)
    (root / "configs").mkdir(parents=True, exist_ok=True)
    return [
        *_bar_cases(),
        *_file_cases(root / "files"),
        *_wire_cases(),
        *_http_cases(),
        *_option_cases(),
        *_config_cases(root / "configs"),
    ]
