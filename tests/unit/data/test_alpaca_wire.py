"""parse_bars_page: bit-identical to an orjson reference on random bodies, fast path taken for the
common shape, ParseError naming source, symbol, row and field for hostile bodies."""

from __future__ import annotations

import math
import re

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greekfire.data.alpaca_wire import BarsPage, RawBars, parse_bars_page
from greekfire.errors import ParseError

KEYS = ("t", "o", "h", "l", "c", "v", "n", "vw")
COLUMNS = ("open", "high", "low", "close", "volume", "trade_count", "vwap")
BAR = '{"t":"2024-01-02T05:00:00Z","o":187.15,"h":188.44,"l":183.89,"c":185.64,"v":82488674,"n":1008871,"vw":185.9465}'


# --- the independent reference: orjson.loads, numpy's ISO parser, float() -------------------


def ref_ts(text: str) -> int:
    m = re.fullmatch(r"(.{19}(?:\.\d+)?)(Z|[+-]\d\d:\d\d)", text)
    assert m is not None
    local = int(np.datetime64(m.group(1), "ns").astype(np.int64))
    zone = m.group(2)
    off = (
        0 if zone == "Z" else (int(zone[1:3]) * 60 + int(zone[4:6])) * (1 if zone[0] == "+" else -1)
    )
    return local - off * 60 * 10**9


def reference(body: bytes, symbol: str | None) -> dict[str, list[np.ndarray]]:
    doc = orjson.loads(body)
    raw = {symbol: doc["bars"] or []} if symbol else (doc["bars"] or {})
    out = {}
    for name, rows in raw.items():
        cols = [np.array([ref_ts(r["t"]) for r in rows], dtype=np.int64)]
        cols += [
            np.array([float(r[k]) if k in r else math.nan for r in rows], dtype=np.float64)
            for k in KEYS[1:]
        ]
        out[name] = cols
    return out


def assert_same(page: BarsPage, body: bytes, symbol: str | None) -> None:
    ref = reference(body, symbol)
    assert list(page.bars) == list(ref)
    for name, cols in ref.items():
        got = page.bars[name]
        assert np.array_equal(got.ts_ns, cols[0])
        for col, expected in zip(COLUMNS, cols[1:], strict=True):
            assert np.array_equal(getattr(got, col).view(np.int64), expected.view(np.int64)), (
                name,
                col,
            )
    assert page.next_page_token == orjson.loads(body).get("next_page_token")


# --- random bodies ---------------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)
prices = st.integers(min_value=1, max_value=10**7).map(lambda k: k / 10**4)


@st.composite
def number(draw: st.DrawFn, tricky: bool) -> str:
    if not tricky:
        return repr(draw(prices))
    kind = draw(st.integers(0, 6))
    if kind == 0:
        return orjson.dumps(draw(finite)).decode()
    if kind == 1:
        return repr(draw(finite))
    if kind == 2:
        return str(draw(st.integers(min_value=-(2**64) + 1, max_value=2**64 - 1)))
    if kind == 3:
        return f"{draw(st.integers(-(10**6), 10**6))}{draw(st.sampled_from(['e', 'E']))}{draw(st.sampled_from(['', '+', '-']))}{draw(st.integers(0, 30))}"
    if kind == 4:
        return f"{draw(finite):.17g}".replace("inf", "1").replace("nan", "1")
    if kind == 5:
        return draw(
            st.sampled_from(
                [
                    "-0",
                    "-0.0",
                    "0.0",
                    "5e-324",
                    "2.2250738585072014e-308",
                    "1e-05",
                    "9007199254740993",
                ]
            )
        )
    return f"{draw(finite):.3f}"


@st.composite
def timestamp(draw: st.DrawFn, tricky: bool) -> str:
    seconds = draw(st.integers(min_value=-(2**31), max_value=2**33))
    base = str(np.datetime64(seconds, "s"))
    if not tricky:
        return base + "Z"
    digits = draw(st.integers(0, 9))
    frac = (
        "."
        + "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=digits, max_size=digits)))
        if digits
        else ""
    )
    minutes = draw(st.integers(-(23 * 60 + 59), 23 * 60 + 59))
    zone = draw(
        st.sampled_from(
            ["Z", f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"]
        )
    )
    return base + frac + zone


@st.composite
def bar(draw: st.DrawFn, tricky: bool) -> str:
    fields = {"t": '"' + draw(timestamp(tricky)) + '"'}
    for key in KEYS[1:]:
        if key in ("n", "vw") and tricky and draw(st.booleans()):
            continue
        fields[key] = (
            draw(number(tricky)) if key != "v" or tricky else str(draw(st.integers(0, 10**9)))
        )
    if tricky and draw(st.booleans()):
        fields["x"] = draw(st.sampled_from(['"extra"', "null", "true", "1.5", '{"nested":[1]}']))
    items = list(fields.items())
    if tricky:
        items = draw(st.permutations(items))
    ws = st.sampled_from(["", " ", "\n", "\t", "\r\n  "]) if tricky else st.just("")
    return (
        "{" + ",".join(f'{draw(ws)}"{k}"{draw(ws)}:{draw(ws)}{v}{draw(ws)}' for k, v in items) + "}"
    )


@st.composite
def body(draw: st.DrawFn, tricky: bool, single: bool) -> bytes:
    def bars() -> str:
        return "[" + ",".join(draw(st.lists(bar(tricky), max_size=6))) + "]"

    token = draw(st.sampled_from(["null", '"QUFQTHwy"']))
    if single:
        return f'{{"bars":{bars()},"symbol":"AAPL","next_page_token":{token}}}'.encode()
    names = draw(
        st.lists(
            st.sampled_from(
                ["AAPL", "MSFT", "BRK.B", "A\\u00e9", 'Q\\"Z', "\\u0041B"]
                if tricky
                else ["AAPL", "MSFT", "BRK.B", "SPY"]
            ),
            max_size=4,
            unique=True,
        )
    )
    syms = ",".join(f'"{s}":{bars()}' for s in names)
    return f'{{"bars":{{{syms}}},"next_page_token":{token}}}'.encode()


@given(body(tricky=False, single=False))
@settings(max_examples=150, deadline=None)
def test_common_multi_symbol_bodies_take_the_fast_path(raw: bytes) -> None:
    page = parse_bars_page(raw, source="test")
    assert page.fast
    assert_same(page, raw, None)


@given(body(tricky=False, single=True))
@settings(max_examples=100, deadline=None)
def test_common_single_symbol_bodies_take_the_fast_path(raw: bytes) -> None:
    page = parse_bars_page(raw, source="test", symbol="AAPL")
    assert page.fast
    assert_same(page, raw, "AAPL")


@given(body(tricky=True, single=False))
@settings(max_examples=400, deadline=None)
def test_tricky_multi_symbol_bodies_equal_the_reference(raw: bytes) -> None:
    assert_same(parse_bars_page(raw, source="test"), raw, None)


@given(body(tricky=True, single=True))
@settings(max_examples=300, deadline=None)
def test_tricky_single_symbol_bodies_equal_the_reference(raw: bytes) -> None:
    assert_same(parse_bars_page(raw, source="test", symbol="AAPL"), raw, "AAPL")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"bars":{"A\\u0042":[' + BAR.encode() + b"]}}",  # an escape in a symbol
        b'{"bars":{"AAPL":['
        + BAR.replace('"n":1008871', '"x":{"y":[1]}').encode()
        + b"]}}",  # nested extra
        b'{"bars":{"AAPL":['
        + BAR.replace('"o":187.15', '"o":1,"o":187.15').encode()
        + b"]}}",  # duplicate key
        b'{"bars":{"AAPL":[' + BAR.encode() + b'],"AAPL":[]}}',  # duplicate symbol: the last wins
        b'{"bars":{"AAPL":[' + BAR.replace("Z", "z").encode() + b"]}}",  # lowercase zone
        b'{"bars":{"AAPL":[' + BAR.replace("2024-01", "1677-12").encode() + b"]}}",  # before 1678
        b'{"bars":{"AAPL":['
        + BAR.replace("185.9465", "1" * 25).encode()
        + b"]}}",  # a huge integer
    ],
)
def test_odd_bodies_take_the_fallback(raw: bytes) -> None:
    page = parse_bars_page(raw, source="test")
    assert not page.fast
    doc = orjson.loads(raw)
    assert list(page.bars) == list(doc["bars"])


def test_fallback_values_for_odd_bodies() -> None:
    raw = b'{"bars":{"A\\u0042":[' + BAR.replace("Z", ".5z").encode() + b"]}}"
    page = parse_bars_page(raw, source="test")
    assert not page.fast
    assert page.bars["AB"].ts_ns.tolist() == [1704171600_500_000_000]
    assert page.bars["AB"].vwap.tolist() == [185.9465]
    old = parse_bars_page(
        b'{"bars":{"X":[{"t":"1677-12-01T00:00:00Z","o":1,"h":1,"l":1,"c":1,"v":1}]}}', source="t"
    )
    assert old.bars["X"].ts_ns.tolist() == [
        int(np.datetime64("1677-12-01T00:00:00", "s").astype(np.int64)) * 10**9
    ]
    with pytest.raises(ParseError, match="row 0, field 't'"):
        parse_bars_page(
            b'{"bars":{"X":[{"t":"1600-01-01T00:00:00Z","o":1,"h":1,"l":1,"c":1,"v":1}]}}',
            source="t",
        )


def test_empty_shapes() -> None:
    assert parse_bars_page(b'{"bars":null,"next_page_token":null}', source="t").bars == {}
    assert parse_bars_page(b'{"bars":{}}', source="t").bars == {}
    for raw in (b'{"bars":null,"symbol":"X"}', b'{"bars":{}}', b'{"bars":[]}'):
        page = parse_bars_page(raw, source="t", symbol="X")
        assert list(page.bars) == ["X"]
        assert len(page.bars["X"]) == 0


def test_raw_bars_concat_and_lengths() -> None:
    raw = ('{"bars":[' + BAR + "," + BAR + '],"next_page_token":"abc"}').encode()
    page = parse_bars_page(raw, source="t", symbol="AAPL")
    assert page.next_page_token == "abc"
    joined = RawBars.concat([page.bars["AAPL"], RawBars.empty(), page.bars["AAPL"]])
    assert len(joined) == 4
    assert joined.close.tolist() == [185.64] * 4
    assert len(RawBars.concat([])) == 0
    with pytest.raises(ValueError, match="equal lengths"):
        RawBars(np.zeros(2, np.int64), *(np.zeros(1) for _ in COLUMNS))


def bad_bar(old: str, new: str) -> bytes:
    good = BAR
    return ('{"bars":{"AAPL":[' + good + "," + good + "," + good.replace(old, new) + "]}}").encode()


@pytest.mark.parametrize(
    ("raw", "field", "row", "value"),
    [
        (bad_bar('"o":187.15,', ""), "o", "row 2", "None"),
        (bad_bar('"t":"2024-01-02T05:00:00Z",', ""), "t", "row 2", "None"),
        (bad_bar('"v":82488674', '"v":"82488674"'), "v", "row 2", "'82488674'"),
        (bad_bar('"h":188.44', '"h":null'), "h", "row 2", "None"),
        (bad_bar('"c":185.64', '"c":true'), "c", "row 2", "True"),
        (bad_bar('"n":1008871', '"n":null'), "n", "row 2", "None"),
        (bad_bar('"vw":185.9465', '"vw":"x"'), "vw", "row 2", "'x'"),
        (bad_bar("2024-01-02T05:00:00Z", "2024-13-02T05:00:00Z"), "t", "row 2", "2024-13-02"),
        (bad_bar("2024-01-02T05:00:00Z", "yesterday"), "t", "row 2", "yesterday"),
        (
            bad_bar("2024-01-02T05:00:00Z", "2024-01-02T05:00:00"),
            "t",
            "row 2",
            "2024-01-02T05:00:00",
        ),
        (bad_bar('"t":"2024-01-02T05:00:00Z"', '"t":1704171600'), "t", "row 2", "1704171600"),
        (('{"bars":{"AAPL":[' + BAR + ',["x"]]}}').encode(), "(bar)", "row 1", "['x']"),
        (b'{"bars":{"AAPL":{"t":1}}}', "bars", "row -", "{'t': 1}"),
        (b'{"bars":[]}', "bars", "row -", "[]"),
        (b'{"bars":"x"}', "bars", "row -", "'x'"),
        (b"[1, 2]", "(body)", "row -", "[1, 2]"),
        (b'{"next_page_token":null}', "bars", "row -", "next_page_token"),
        (b'{"bars":{},"next_page_token":5}', "next_page_token", "row -", "5"),
    ],
)
def test_hostile_bodies_raise_parse_error(raw: bytes, field: str, row: str, value: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_bars_page(raw, source="https://data.alpaca.markets/v2/stocks/bars")
    message = str(info.value)
    assert message.startswith("https://data.alpaca.markets/v2/stocks/bars: ")
    assert f"field {field!r}" in message
    assert row in message
    assert value in message


@pytest.mark.parametrize(
    ("raw", "symbol"),
    [
        (b'{"bars":[' + BAR.encode() + b'],"symbol":5}', "X"),
        (b'{"bars":{"X":[]}}', "X"),
    ],
)
def test_single_symbol_shape_errors(raw: bytes, symbol: str) -> None:
    with pytest.raises(ParseError, match="symbol X, row -"):
        parse_bars_page(raw, source="s", symbol=symbol)


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (('{"bars":{"AAPL":[' + BAR + "," + BAR[:35]).encode(), "symbol AAPL, row 1, field 'o'"),
        (
            ('{"bars":{"AAPL":[' + BAR + "," + BAR.replace("187.15", "NaN") + "]}}").encode(),
            "symbol AAPL, row 1, field 'o'",
        ),
        (
            ('{"bars":{"AAPL":[' + BAR.replace("185.64", "Infinity") + "]}}").encode(),
            "symbol AAPL, row 0, field 'c'",
        ),
        (b'{"bars":{"AAPL":[' + BAR.encode() + b"]}} trailing", "row -"),
        (b"", "row -"),
        (b'{"bars":{"AAPL":[' + BAR.encode() + b",]}}", "symbol AAPL, row 1"),
    ],
)
def test_invalid_json_is_a_parse_error_that_says_where(raw: bytes, where: str) -> None:
    with pytest.raises(ParseError, match="not valid JSON at byte") as info:
        parse_bars_page(raw, source="src")
    assert where in str(info.value)
    assert isinstance(info.value.__cause__, orjson.JSONDecodeError)


def test_number_overflow_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="infinity"):
        parse_bars_page(bad_bar("185.9465", "1e400"), source="src")


def test_hundred_megabyte_body() -> None:
    rows = 1_000_000  # ~110 MB
    raw = ('{"bars":{"AAPL":[' + ",".join([BAR] * rows) + ']},"next_page_token":null}').encode()
    page = parse_bars_page(raw, source="big")
    assert page.fast
    got = page.bars["AAPL"]
    assert len(got) == rows
    assert got.vwap[-1] == 185.9465
    assert got.ts_ns[123_456] == 1704171600 * 10**9
