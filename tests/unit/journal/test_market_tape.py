"""The market tape: the Arrow frame codec (quotes, chains, stacked bars keep their dtypes), the
journal's ``market_tape`` and ``runs`` tables (filters, order, bad kinds), the migration of a
version-2 file to version 3, ``stack_bars`` and a disabled ``MarketTape``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from greekfire.data.port import empty_bars, empty_chain, empty_quotes
from greekfire.engine.tape import SYMBOL_COLUMN, MarketTape, stack_bars
from greekfire.journal.schema import MIGRATIONS, SCHEMA_VERSION, current_version, migrate
from greekfire.journal.sqlite import TAPE_KINDS, Journal
from greekfire.journal.tape import decode_frame, encode_frame

T0 = 1_700_000_000_000_000_000
SEC = 1_000_000_000
STAMP = pd.Timestamp("2026-11-09T14:35:00.123456789+00:00")


class FixedClock:
    def __init__(self, t: int = T0) -> None:
        self.t = t

    def now_ns(self) -> int:
        return self.t


def quotes_frame() -> pd.DataFrame:
    frame = empty_quotes()
    rows = {
        "SPY": (STAMP, 500.25, 500.27, 300.0, 400.0, 500.26),
        "MSFT": (STAMP + pd.Timedelta(1, "ns"), 410.5, 410.6, 1.0, 2.0, np.nan),
        "INTC": (STAMP, 19.99, 20.01, 5_000.0, 6_000.0, 20.0),
    }
    built = pd.DataFrame(
        [dict(zip(frame.columns, values, strict=True)) for values in rows.values()],
        index=pd.Index(list(rows), dtype="str", name="symbol"),
    )
    return built.astype(frame.dtypes.to_dict())


def chain_frame() -> pd.DataFrame:
    schema = empty_chain()
    expiry = pd.Timestamp("2026-12-18", tz="UTC")
    rows = []
    for strike in (480.0, 500.0, 520.0):
        for right in (1, -1):
            kind = "C" if right == 1 else "P"
            rows.append(
                {
                    "contract": f"SPY261218{kind}{int(strike * 1000):08d}",
                    "underlying": "SPY",
                    "expiry": expiry,
                    "strike": strike,
                    "right": right,
                    "bid": 1.0 + strike / 1000,
                    "ask": 1.1 + strike / 1000,
                    "last": np.nan,
                    "volume": 10.0,
                    "open_interest": 1_000.0,
                    "iv": 0.2,
                    "delta": 0.5 * right,
                    "gamma": 0.01,
                    "theta": -12.0,
                    "vega": 55.0,
                    "underlying_price": 500.26,
                    "timestamp": STAMP,
                }
            )
    return pd.DataFrame(rows, columns=schema.columns).astype(schema.dtypes.to_dict())


def bars_frame(start: str, closes: list[float], *, optional: bool) -> pd.DataFrame:
    index = pd.date_range(start, periods=len(closes), freq="D", tz="UTC", name="timestamp")
    close = np.asarray(closes, dtype=np.float64)
    data = {
        "open": close - 1.0,
        "high": close + 2.0,
        "low": close - 2.0,
        "close": close,
        "volume": np.full(len(close), 1_000.0),
    }
    if optional:
        data["vwap"] = close - 0.5
        data["trade_count"] = np.arange(len(close), dtype=np.float64) + 7.0
    frame = pd.DataFrame(data, index=index.as_unit("ns"))
    schema = empty_bars(optional=optional)
    return frame[list(schema.columns)]


# -- the codec ------------------------------------------------------------------------------------
def test_a_quotes_frame_round_trips_with_its_dtypes_and_index() -> None:
    frame = quotes_frame()
    back = decode_frame(encode_frame(frame))
    assert_frame_equal(back, frame)
    assert back.index.name == "symbol"
    assert list(back.index) == ["SPY", "MSFT", "INTC"]
    assert str(back["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert pd.DatetimeIndex(back["timestamp"]).asi8[1] == STAMP.value + 1  # nanoseconds kept
    assert np.isnan(back["last"].to_numpy()[1])


def test_a_chain_frame_round_trips_with_int8_rights() -> None:
    frame = chain_frame()
    back = decode_frame(encode_frame(frame))
    assert_frame_equal(back, frame)
    assert back["right"].dtype == np.int8
    assert back["right"].tolist() == [1, -1] * 3
    assert str(back["expiry"].dtype) == "datetime64[ns, UTC]"


def test_an_empty_quotes_frame_round_trips() -> None:
    frame = empty_quotes()
    assert_frame_equal(decode_frame(encode_frame(frame)), frame)


def test_a_stacked_bars_frame_round_trips() -> None:
    stacked = stack_bars(
        {
            "SPY": bars_frame("2026-11-02", [500.0, 501.0], optional=True),
            "MSFT": bars_frame("2026-11-03", [410.0], optional=False),
        }
    )
    back = decode_frame(encode_frame(stacked))
    assert_frame_equal(back, stacked)
    assert back[SYMBOL_COLUMN].tolist() == ["SPY", "SPY", "MSFT"]


@pytest.mark.parametrize(
    "payload", [b"", b"garbage", b"\xff" * 64, encode_frame(empty_quotes())[:20]]
)
def test_decoding_garbage_is_a_value_error_naming_the_payload(payload: bytes) -> None:
    with pytest.raises(
        ValueError, match=rf"payload: not an Arrow IPC stream \({len(payload)} bytes"
    ):
        decode_frame(payload)


# -- the journal's tape and runs ------------------------------------------------------------------
def test_tape_rows_round_trip_in_recording_order_with_time_filters(tmp_path: Path) -> None:
    quotes = encode_frame(quotes_frame())
    chain = encode_frame(chain_frame())
    rows = [
        (T0 + 2 * SEC, "quotes", "", quotes),
        (T0, "quotes", "", b"first"),  # recorded second though earlier in time
        (T0 + 2 * SEC, "chain", "SPY", chain),
        (T0 + 3 * SEC, "bars", "", b"bars"),
        (T0 + 5 * SEC, "quotes", "", b"late"),
    ]
    with Journal(tmp_path / "j.db", clock=FixedClock()) as journal:
        for row in rows:
            journal.record_tape(*row)
        assert list(journal.tape()) == rows  # the buffered rows are flushed first
        got = list(journal.tape(start_ns=T0 + 2 * SEC, end_ns=T0 + 3 * SEC))
        assert got == [rows[0], rows[2], rows[3]]  # both bounds inclusive, id order
        assert [r[0] for r in journal.tape(start_ns=T0 + 3 * SEC)] == [T0 + 3 * SEC, T0 + 5 * SEC]
        assert [r[3] for r in journal.tape(end_ns=T0 + SEC)] == [b"first"]
        assert list(journal.tape(start_ns=T0 + 6 * SEC)) == []
    reader = Journal.open_readonly(tmp_path / "j.db")
    try:
        stored = list(reader.tape())
    finally:
        reader.close()
    assert stored == rows
    assert_frame_equal(decode_frame(stored[2][3]), chain_frame())
    assert stored[2][2] == "SPY"


def test_tape_streams_more_rows_than_one_fetch(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db", batch_size=100, clock=FixedClock()) as journal:
        for i in range(600):
            journal.record_tape(T0 + i, "quotes", "", i.to_bytes(2, "big"))
        got = [int.from_bytes(r[3], "big") for r in journal.tape()]
    assert got == list(range(600))


@pytest.mark.parametrize("kind", ["quote", "QUOTES", "", "trades"])
def test_an_unknown_tape_kind_is_refused_naming_it(tmp_path: Path, kind: str) -> None:
    with Journal(tmp_path / "j.db", clock=FixedClock()) as journal:
        with pytest.raises(ValueError, match=rf"kind: expected one of .*got {kind!r}"):
            journal.record_tape(T0, kind, "", b"x")
        assert list(journal.tape()) == []
    assert TAPE_KINDS == ("quotes", "bars", "chain")


def test_runs_are_recorded_oldest_first(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db", clock=FixedClock()) as journal:
        assert journal.runs() == []
        journal.record_run(T0, '{"engine": {"symbols": ["SPY"]}}')
        journal.record_run(T0 + SEC, '{"engine": {"symbols": ["MSFT"]}}')
    reader = Journal.open_readonly(tmp_path / "j.db")
    try:
        assert reader.runs() == [
            {"started_ns": T0, "settings": '{"engine": {"symbols": ["SPY"]}}'},
            {"started_ns": T0 + SEC, "settings": '{"engine": {"symbols": ["MSFT"]}}'},
        ]
    finally:
        reader.close()


def build_v2(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        assert migrate(conn, path=str(path), now_ns=1, migrations=MIGRATIONS[:2]) == 2
        conn.execute(
            "INSERT INTO fills VALUES ('f-1', 'gf-1', 'SPY', 'buy', 10, 500.5, 0.0, ?)", (T0,)
        )
        conn.execute(
            "INSERT INTO cycles (cycle, ts_ns, timings, counts) VALUES (1, ?, '{}', '{}')", (T0,)
        )
        conn.execute("INSERT INTO meta VALUES ('last_event_seq', '4')")
    finally:
        conn.close()


def test_a_version_2_file_migrates_to_3_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    build_v2(path)
    conn = sqlite3.connect(path)
    try:
        assert current_version(conn) == 2
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()
    assert "market_tape" not in names
    assert "runs" not in names
    with Journal(path, clock=FixedClock(T0 + 9)) as journal:
        assert journal.schema_version == SCHEMA_VERSION == 3
        assert [(f.fill_id, f.qty, f.price) for f in journal.fills()] == [("f-1", 10.0, 500.5)]
        assert [c["cycle"] for c in journal.cycles()] == [1]
        assert journal.get_meta("last_event_seq") == "4"
        assert journal.runs() == []
        assert list(journal.tape()) == []
        journal.record_run(T0, "{}")
        journal.record_tape(T0, "bars", "", b"b")
        assert journal.integrity_check() == "ok"
    conn = sqlite3.connect(path)
    try:
        versions = conn.execute("SELECT version, applied_ns FROM schema_version ORDER BY 1")
        assert versions.fetchall() == [(1, 1), (2, 1), (3, T0 + 9)]
        assert conn.execute("SELECT COUNT(*) FROM market_tape").fetchone()[0] == 1
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
    finally:
        conn.close()


# -- stack_bars -----------------------------------------------------------------------------------
def test_stack_bars_keeps_symbol_order_and_fills_missing_columns_with_nan() -> None:
    msft = bars_frame("2026-11-02", [410.0, 411.0, 412.0], optional=False)
    aapl = bars_frame("2026-11-03", [250.0, 251.0], optional=True)
    stacked = stack_bars({"MSFT": msft, "NVDA": empty_bars(), "AAPL": aapl})
    assert stacked[SYMBOL_COLUMN].tolist() == ["MSFT"] * 3 + ["AAPL"] * 2  # given order, not sorted
    assert list(stacked.columns) == [
        SYMBOL_COLUMN,
        "open",
        "high",
        "low",
        "close",
        "volume",
        "vwap",
        "trade_count",
    ]
    assert stacked.index.name == "timestamp"
    assert str(stacked.index.dtype) == "datetime64[ns, UTC]"
    assert list(stacked.index) == list(msft.index) + list(aapl.index)
    assert stacked["close"].tolist() == [410.0, 411.0, 412.0, 250.0, 251.0]
    assert stacked["vwap"].iloc[:3].isna().all()
    assert stacked["trade_count"].iloc[:3].isna().all()
    assert stacked["vwap"].iloc[3:].tolist() == [249.5, 250.5]
    assert all(stacked[c].dtype == np.float64 for c in stacked.columns if c != SYMBOL_COLUMN)
    for symbol, frame in (("MSFT", msft), ("AAPL", aapl)):
        part = stacked[stacked[SYMBOL_COLUMN] == symbol].drop(columns=[SYMBOL_COLUMN])
        assert_frame_equal(part[list(frame.columns)], frame, check_freq=False)


@pytest.mark.parametrize("bars", [{}, {"SPY": empty_bars(), "MSFT": empty_bars(optional=True)}])
def test_stack_bars_of_nothing_is_an_empty_frame_with_the_symbol_column(
    bars: dict[str, pd.DataFrame],
) -> None:
    stacked = stack_bars(bars)
    assert len(stacked) == 0
    assert SYMBOL_COLUMN in stacked.columns


# -- MarketTape -----------------------------------------------------------------------------------
def record_everything(tape: MarketTape) -> None:
    tape.quotes(T0, quotes_frame())
    tape.bars(T0, {"SPY": bars_frame("2026-11-02", [500.0], optional=False)})
    tape.chain(T0, "SPY", chain_frame())


def test_a_disabled_market_tape_writes_nothing(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db", clock=FixedClock()) as journal:
        record_everything(MarketTape(journal, enabled=False))
        assert list(journal.tape()) == []
        assert journal.stats()["buffered"] == 0


def test_an_enabled_market_tape_records_each_kind_and_skips_empty_data(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db", clock=FixedClock()) as journal:
        tape = MarketTape(journal)
        record_everything(tape)
        tape.quotes(T0 + SEC, empty_quotes())  # nothing arrived: no row
        tape.bars(T0 + SEC, {"SPY": empty_bars()})
        rows = list(journal.tape())
    assert [(ts, kind, key) for ts, kind, key, _ in rows] == [
        (T0, "quotes", ""),
        (T0, "bars", ""),
        (T0, "chain", "SPY"),
    ]
    assert_frame_equal(decode_frame(rows[0][3]), quotes_frame())
    assert_frame_equal(decode_frame(rows[2][3]), chain_frame())
    assert decode_frame(rows[1][3])["close"].tolist() == [500.0]
