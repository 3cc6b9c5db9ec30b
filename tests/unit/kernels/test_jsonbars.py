"""The bar scanner kernel: exact numbers and times against float() and numpy, safe on any bytes."""

from __future__ import annotations

import math

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greekfire.kernels import jsonbars

BAR = b'{"t":"2024-01-02T05:00:00Z","o":187.15,"h":188.44,"l":183.89,"c":185.64,"v":82488674,"n":1008871,"vw":185.9465}'


def scan(body: bytes, single: bool = True) -> jsonbars.BarScan:
    return jsonbars.scan_bars(np.frombuffer(body, np.uint8), single)


def one_value(text: str, field: str = "o") -> tuple[int, float, int]:
    """Scan a one-bar body whose ``field`` is ``text``: (status, value, fix-ups)."""
    bar = {"t": '"2024-01-02T05:00:00Z"', "o": "1", "h": "1", "l": "1", "c": "1", "v": "1"}
    bar[field] = text
    body = '{"bars":[{' + ",".join(f'"{k}":{v}' for k, v in bar.items()) + "}]}"
    s = scan(body.encode())
    if s.status != jsonbars.OK:
        return s.status, math.nan, 0
    col = jsonbars.FIELD_NAMES.index(field) - 1
    return s.status, float(s.vals[col, 0]), len(s.fix)


def ts_ns(text: str) -> tuple[int, int]:
    body = '{"bars":[{"t":"' + text + '","o":1,"h":1,"l":1,"c":1,"v":1}]}'
    s = scan(body.encode())
    return s.status, int(s.ts_ns[0]) if s.status == jsonbars.OK else 0


def numpy_ns(text: str) -> int:
    """Reference: numpy's ISO parser on the local part, minus the UTC offset."""
    zone_at = len(text) - 1 if text.endswith("Z") else len(text) - 6
    local = np.datetime64(text[:zone_at], "ns").astype(np.int64)
    zone = text[zone_at:]
    off = (
        0
        if zone == "Z"
        else (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60) * (1 if zone[0] == "+" else -1)
    )
    return int(local) - off * 1_000_000_000


def test_common_bar_columns() -> None:
    s = scan(b'{"bars":[' + BAR + b"," + BAR + b'],"symbol":"AAPL","next_page_token":null}')
    assert s.status == jsonbars.OK
    assert s.ts_ns.tolist() == [1704171600 * 10**9] * 2
    assert s.vals[:, 1].tolist() == [
        187.15,
        188.44,
        183.89,
        185.64,
        82488674.0,
        1008871.0,
        185.9465,
    ]
    assert s.seg.tolist() == [[-1, 0, 0, 2]]
    assert len(s.fix) == 0
    assert s.ctx[jsonbars.C_TOKEN_START] == -1


def test_multi_symbol_segments_and_token() -> None:
    body = (
        b'{ "bars" : {"AAPL": ['
        + BAR
        + b'], "MSFT": [], "GOOG": ['
        + BAR
        + b","
        + BAR
        + b']},\n "next_page_token": "QUFQTHwy"}'
    )
    s = scan(body, single=False)
    assert s.status == jsonbars.OK
    names = [body[a : a + k].decode() for a, k, _, _ in s.seg.tolist()]
    assert names == ["AAPL", "MSFT", "GOOG"]
    assert s.seg[:, 2:].tolist() == [[0, 1], [1, 0], [1, 2]]
    start, size = s.ctx[jsonbars.C_TOKEN_START], s.ctx[jsonbars.C_TOKEN_LEN]
    assert body[start : start + size] == b"QUFQTHwy"


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "-0",
        "-0.0",
        "0.0",
        "1e-05",
        "1E+5",
        "185.9465",
        "0.000123",
        "123456789012345678",
        "9007199254740993",
        "1e22",
        "1.5e-21",
        "-2.25",
    ],
)
def test_numbers_equal_float(text: str) -> None:
    status, value, _ = one_value(text)
    assert status == jsonbars.OK
    expected = float(orjson.loads(text))
    assert np.float64(value).view(np.int64) == np.float64(expected).view(np.int64)


@pytest.mark.parametrize(
    ("text", "fixups"),
    [
        ("0.30000000000000004", 1),
        ("1e23", 1),
        ("1234567890123456789", 1),
        ("4.9e-324", 1),
        ("187.15", 0),
        ("-0", 0),
    ],
)
def test_numbers_outside_the_fast_path_are_listed_for_float(text: str, fixups: int) -> None:
    status, value, nfix = one_value(text)
    assert status == jsonbars.OK
    assert nfix == fixups
    assert math.isnan(value) == (fixups == 1)


@pytest.mark.parametrize(
    "text", ["12345678901234567890", "null", '"1.5"', "true", "01", "1.", "-", "1e", ".5", "+1"]
)
def test_numbers_the_scanner_declines(text: str) -> None:
    status, _, _ = one_value(text)
    assert status != jsonbars.OK


@given(st.floats(allow_nan=False, allow_infinity=False))
@settings(max_examples=300, deadline=None)
def test_any_float_rendering_is_exact_or_listed(x: float) -> None:
    for text in (
        repr(x),
        orjson.dumps(x).decode(),
        f"{x:.6e}",
        f"{x:.4f}" if abs(x) < 1e15 else repr(x),
    ):
        status, value, nfix = one_value(text)
        assert status == jsonbars.OK, text
        if nfix == 0:
            assert np.float64(value).view(np.int64) == np.float64(float(text)).view(np.int64), text


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-02T05:00:00Z",
        "2024-01-02T14:30:00.123456789Z",
        "2024-01-02T14:30:00.1Z",
        "2024-02-29T00:00:00-05:00",
        "1970-01-01T00:00:00+01:30",
        "2261-12-31T23:59:59.999999999Z",
        "1678-01-01T00:00:00Z",
    ],
)
def test_timestamps_match_numpy(text: str) -> None:
    status, value = ts_ns(text)
    assert status == jsonbars.OK
    assert value == numpy_ns(text)


@given(
    st.integers(min_value=-(2**62), max_value=2**62),
    st.integers(min_value=0, max_value=9),
    st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59),
)
@settings(max_examples=300, deadline=None)
def test_random_timestamps_match_numpy(ns: int, digits: int, off_min: int) -> None:
    local = np.datetime64(ns, "ns").astype(str)  # 'YYYY-MM-DDTHH:MM:SS.fffffffff'
    if not local[:4].isdigit() or not 1678 <= int(local[:4]) <= 2261:
        return
    base, frac = local[:19], local[20:29]
    zone = (
        "Z"
        if off_min == 0
        else f"{'+' if off_min > 0 else '-'}{abs(off_min) // 60:02d}:{abs(off_min) % 60:02d}"
    )
    text = base + ("." + frac[:digits] if digits else "") + zone
    status, value = ts_ns(text)
    assert status == jsonbars.OK
    assert value == numpy_ns(text)


@pytest.mark.parametrize(
    "text",
    [
        "2024-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2024-01-02T24:00:00Z",
        "2024-01-02T05:60:00Z",
        "2024-01-02T05:00:60Z",
        "2024-01-02 05:00:00Z",
        "2024-01-02T05:00:00",
        "2024-01-02T05:00:00.Z",
        "2024-01-02T05:00:00.1234567890Z",
        "2024-01-02T05:00:00+24:00",
        "2024-01-02T05:00:00+0500",
        "0001-01-01T00:00:00Z",
        "2024-1-02T05:00:00Z",
    ],
)
def test_timestamps_the_scanner_declines(text: str) -> None:
    status, _ = ts_ns(text)
    assert status != jsonbars.OK


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (
            b'{"bars":[{"t":"2024-01-02T05:00:00Z","o":1,"h":1,"l":1,"c":1}]}',
            jsonbars.FALLBACK,
        ),  # no v
        (
            b'{"bars":[{"t":"2024-01-02T05:00:00Z","o":1,"o":2,"h":1,"l":1,"c":1,"v":1}]}',
            jsonbars.FALLBACK,
        ),
        (
            b'{"bars":[{"t":"2024-01-02T05:00:00Z","o":1,"h":1,"l":1,"c":1,"v":1,"x":{"a":1}}]}',
            jsonbars.FALLBACK,
        ),
        (b'{"bars":{"A\\u0042":[]}}', jsonbars.FALLBACK),
        (b'{"bars":[1]}', jsonbars.FALLBACK),
        (b'{"bars":[]} x', jsonbars.SYNTAX),
        (b'{"bars":[],}', jsonbars.SYNTAX),
        (b'{"bars":[]', jsonbars.TRUNCATED),
    ],
)
def test_statuses(body: bytes, status: int) -> None:
    assert scan(body).status == status


def test_unknown_scalar_keys_are_skipped() -> None:
    body = b'{"bars":[{"x":"y","t":"2024-01-02T05:00:00Z","o":1,"h":2,"l":0.5,"c":1,"v":3,"z":null,"q":-1.5e3,"b":true}],"currency":"USD","symbol":"A","next_page_token":null}'
    s = scan(body)
    assert s.status == jsonbars.OK
    assert s.vals[:4, 0].tolist() == [1.0, 2.0, 0.5, 1.0]
    assert math.isnan(s.vals[5, 0])
    assert math.isnan(s.vals[6, 0])


def test_every_prefix_stops_without_reading_past_the_end() -> None:
    body = (
        b'{"bars": {"AAPL": ['
        + BAR
        + b", "
        + BAR.replace(b"Z", b".5-05:00")
        + b']}, "next_page_token": "abc"}'
    )
    assert scan(body, single=False).status == jsonbars.OK
    for k in range(len(body)):
        s = scan(body[:k], single=False)
        assert s.status in (jsonbars.TRUNCATED, jsonbars.SYNTAX, jsonbars.FALLBACK), k


def test_truncation_context_names_the_bar_and_field() -> None:
    body = b'{"bars":{"AAPL":[' + BAR + b"," + BAR[:35]
    s = scan(body, single=False)
    assert s.status == jsonbars.TRUNCATED
    assert (s.ctx[jsonbars.C_SEG], s.ctx[jsonbars.C_ROW]) == (0, 1)
    assert jsonbars.FIELD_NAMES[s.ctx[jsonbars.C_FIELD]] == "o"


def test_tables_grow() -> None:
    # many symbols with few bytes each overflow the first segment table; retried larger
    body = b'{"bars":{' + b",".join(b'"S%d":[]' % k for k in range(5000)) + b"}}"
    s = scan(body, single=False)
    assert s.status == jsonbars.OK
    assert len(s.seg) == 5000
    # every number needs float(): more fix-ups than the first table holds
    big = b"0.30000000000000004"
    bar = b'{"t":"2024-01-02T05:00:00Z","o":%s,"h":%s,"l":%s,"c":%s,"v":%s,"n":%s,"vw":%s}' % (
        (big,) * 7
    )
    s = scan(b'{"bars":[' + b",".join([bar] * 50) + b"]}")
    assert s.status == jsonbars.OK
    assert len(s.fix) == 350


def test_shape_checked() -> None:
    buf = np.frombuffer(b'{"bars":[]}', np.uint8)
    ctx = np.zeros(jsonbars.CTX_SIZE, np.int64)
    status = jsonbars.scan_bars_into(
        buf,
        True,
        np.empty(3, np.int64),
        np.empty((7, 2)),
        np.empty((2, 4), np.int64),
        np.empty((2, 4), np.int64),
        ctx,
    )
    assert status == jsonbars.SHAPE
