"""FileProvider: Yahoo, Stooq, long files, Parquet, time zones, ranges, hostile inputs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from greekfire.data.files import FileProvider
from greekfire.data.port import MarketDataProvider
from greekfire.data.validate import BarValidationError
from greekfire.domain.market import BAR_COLUMNS, Timeframe
from greekfire.errors import DataQualityError, ParseError, ProviderError

START = datetime(2000, 1, 1, tzinfo=UTC)
END = datetime(2100, 1, 1, tzinfo=UTC)

YAHOO = """Date,Open,High,Low,Close,Adj Close,Volume
2024-01-02,472.16,473.67,470.49,472.65,466.50,123
2024-01-03,470.43,471.19,468.17,468.79,462.70,456
2024-01-04,468.30,470.96,467.05,467.28,461.20,789
2024-01-05,467.49,470.44,466.43,467.92,461.83,1000
"""
STOOQ = """<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>,<OPENINT>
QQQ.US,5,20240102,143000,10,11,9.5,10.5,100,0
QQQ.US,5,20240102,143500,10.5,12,10,11.5,50,0
QQQ.US,5,20240102,144000,11.5,11.5,11,11,25,0
QQQ.US,5,20240102,150000,11,11.2,10.8,11.1,10,0
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _bars(provider: FileProvider, symbol: str, tf: str = "1d", **kw: datetime) -> pd.DataFrame:
    start, end = kw.get("start", START), kw.get("end", END)
    return asyncio.run(provider.bars(symbol, start, end, Timeframe.parse(tf)))


def test_yahoo_csv_daily_session_dates(tmp_path: Path) -> None:
    _write(tmp_path / "SPY.csv", YAHOO)
    provider = FileProvider(tmp_path)
    assert isinstance(provider, MarketDataProvider)
    bars = _bars(provider, "spy")
    assert tuple(bars.columns) == (*BAR_COLUMNS, "adj_close")
    assert bars.index[0] == pd.Timestamp("2024-01-02", tz="UTC")
    assert str(bars.index.dtype) == "datetime64[ns, UTC]"
    assert bars["close"].iloc[0] == 472.65
    assert bars["adj_close"].iloc[0] == 466.5


def test_session_dates_ignore_the_intraday_timezone(tmp_path: Path) -> None:
    _write(tmp_path / "SPY.csv", YAHOO.replace("-01-02,", "-01-02 00:00:00-05:00,"))
    provider = FileProvider(tmp_path, timezone="America/New_York")
    assert _bars(provider, "SPY").index[0] == pd.Timestamp("2024-01-02", tz="UTC")


def test_range_is_half_open(tmp_path: Path) -> None:
    _write(tmp_path / "SPY_1d.csv", YAHOO)
    provider = FileProvider(tmp_path)
    bars = _bars(provider, "SPY", start=datetime(2024, 1, 3, tzinfo=UTC),
                 end=datetime(2024, 1, 5, tzinfo=UTC))  # fmt: skip
    assert list(bars.index.day) == [3, 4]
    empty = _bars(provider, "SPY", start=datetime(2030, 1, 1, tzinfo=UTC))
    assert empty.empty
    assert tuple(empty.columns)[:5] == BAR_COLUMNS
    with pytest.raises(ValueError, match="naive"):
        asyncio.run(provider.bars("SPY", datetime(2024, 1, 1), END, Timeframe.D1))


def test_stooq_intraday_file_and_resampling(tmp_path: Path) -> None:
    _write(tmp_path / "qqq.us.txt", STOOQ)
    provider = FileProvider(tmp_path)
    bars = _bars(provider, "QQQ", "5m")
    assert bars.index[0] == pd.Timestamp("2024-01-02 14:30", tz="UTC")
    assert len(bars) == 4
    hourly = _bars(provider, "QQQ", "1h")
    assert hourly.index.tolist() == [
        pd.Timestamp("2024-01-02 14:00", tz="UTC"),
        pd.Timestamp("2024-01-02 15:00", tz="UTC"),
    ]
    first = hourly.iloc[0]
    assert (first["open"], first["high"], first["low"], first["close"], first["volume"]) == (
        10.0, 12.0, 9.5, 11.0, 175.0,
    )  # fmt: skip
    daily = _bars(provider, "QQQ", "1d")
    assert daily.index.tolist() == [pd.Timestamp("2024-01-02", tz="UTC")]
    with pytest.raises(ProviderError, match="cannot serve the finer timeframe '1m'"):
        _bars(provider, "QQQ", "1m")


def test_naive_intraday_times_are_in_the_given_timezone(tmp_path: Path) -> None:
    text = "Datetime,Open,High,Low,Close,Volume\n2024-07-01 09:30:00,1,2,0.5,1.5,10\n"
    _write(tmp_path / "SPY_1m.csv", text)
    bars = _bars(FileProvider(tmp_path, timezone="America/New_York"), "SPY", "1m")
    assert bars.index[0] == pd.Timestamp("2024-07-01 13:30", tz="UTC")
    offset = text.replace("09:30:00", "09:30:00+02:00")
    _write(tmp_path / "SPY_1m.csv", offset)
    bars = _bars(FileProvider(tmp_path, timezone="America/New_York"), "SPY", "1m")
    assert bars.index[0] == pd.Timestamp("2024-07-01 07:30", tz="UTC")


def test_nonexistent_local_time_is_a_parse_error(tmp_path: Path) -> None:
    text = "Datetime,Open,High,Low,Close,Volume\n2024-03-10 02:30:00,1,2,0.5,1.5,10\n"
    _write(tmp_path / "SPY.csv", text)
    provider = FileProvider(tmp_path, timezone="America/New_York")
    with pytest.raises(ParseError, match=r"row 1, line 2, column 'Datetime': ambiguous or"):
        _bars(provider, "SPY", "1m")


def test_long_file_with_ticker_column(tmp_path: Path) -> None:
    lines = ["ticker,date,open,high,low,close,volume"]
    for sym in ("SPY", "QQQ"):
        for day in (2, 3, 4):
            lines.append(f"{sym},2024-01-0{day},10,11,9,10.5,{day}")
    path = _write(tmp_path / "all.csv", "\n".join(lines) + "\n")
    provider = FileProvider([path], layout="long")
    bars = _bars(provider, "qqq")
    assert bars["volume"].tolist() == [2.0, 3.0, 4.0]
    with pytest.raises(ProviderError, match="no data for symbol 'IWM'"):
        _bars(provider, "IWM")


def test_long_file_rows_are_numbered_as_in_the_file(tmp_path: Path) -> None:
    text = (
        "symbol,date,open,high,low,close\nSPY,2024-01-02,1,2,0.5,1\nQQQ,2024-01-02,1,2,0.5,-3.2\n"
    )
    path = _write(tmp_path / "all.csv", text)
    with pytest.raises(BarValidationError, match=r"row 2 .*close: negative price -3\.2"):
        _bars(FileProvider(path), "QQQ")


def test_parquet_per_symbol(tmp_path: Path) -> None:
    index = pd.date_range("2024-01-02 14:30", periods=3, freq="min", tz="UTC", name="Timestamp")
    frame = pd.DataFrame(
        {"Open": [1.0, 2, 3], "High": [2.0, 3, 4], "Low": [0.5, 1, 2], "Close": [1.5, 2.5, 3.5],
         "Volume": [1, 2, 3], "VWAP": [1.2, 2.2, 3.2]},
        index=index,
    )  # fmt: skip
    frame.reset_index().to_parquet(tmp_path / "spy.parquet")
    bars = _bars(FileProvider(tmp_path), "SPY", "1m")
    assert tuple(bars.columns) == (*BAR_COLUMNS, "vwap")
    assert bars.index.equals(index.as_unit("ns").rename("timestamp"))
    five = _bars(FileProvider(tmp_path), "SPY", "5m")
    assert five["vwap"].iloc[0] == pytest.approx((1.2 + 4.4 + 9.6) / 6)


def test_parquet_dates_are_session_dates(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"date": pd.to_datetime(["2024-01-02", "2024-01-03"]).date, "open": [1.0, 2.0],
         "high": [2.0, 3.0], "low": [0.5, 1.0], "close": [1.5, 2.5], "volume": [1.0, 2.0]}
    )  # fmt: skip
    frame.to_parquet(tmp_path / "SPY.parquet")
    bars = _bars(FileProvider(tmp_path, timezone="Asia/Tokyo"), "SPY")
    assert bars.index[1] == pd.Timestamp("2024-01-03", tz="UTC")


def test_missing_file_names_symbol_and_paths(tmp_path: Path) -> None:
    _write(tmp_path / "SPY.csv", YAHOO)
    with pytest.raises(
        ProviderError, match=r"no data for symbol 'IWM': tried under .*IWM\[_<timeframe>\]"
    ):
        _bars(FileProvider(tmp_path), "IWM")


def test_missing_columns_name_file_found_and_hint(tmp_path: Path) -> None:
    _write(tmp_path / "SPY.csv", YAHOO.replace("Close,Adj", "Clsoe,Adj"))
    with pytest.raises(
        ParseError,
        match=r"SPY.csv: missing columns \['close'\]; found \[.*'Clsoe'.*did you mean 'Clsoe' -> 'close'",
    ):
        _bars(FileProvider(tmp_path), "SPY")
    _write(tmp_path / "SPY.csv", "Open,High,Low,Close\n1,2,0.5,1\n")
    with pytest.raises(ParseError, match=r"missing columns \['date/datetime/timestamp'\]"):
        _bars(FileProvider(tmp_path), "SPY")


def test_text_in_numeric_field_names_row_line_column_and_text(tmp_path: Path) -> None:
    _write(tmp_path / "SPY.csv", YAHOO.replace("468.79", "4x8.79"))
    with pytest.raises(
        ParseError, match=r"SPY.csv: row 2, line 3, column 'Close': not a number: '4x8.79'$"
    ):
        _bars(FileProvider(tmp_path), "SPY")


def test_bad_date_text(tmp_path: Path) -> None:
    _write(tmp_path / "SPY.csv", YAHOO.replace("2024-01-04", "2024-13-45"))
    with pytest.raises(
        ParseError, match=r"row 3, line 4, column 'Date': not a timestamp: '2024-13-45'"
    ):
        _bars(FileProvider(tmp_path), "SPY")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("467.28", "-3.2", r"row 3 \(2024-01-04T00:00:00\+00:00\): close: negative price -3.2"),
        ("467.28", "null", r"row 3 \(2024-01-04T00:00:00\+00:00\): close: missing \(NaN\)"),
        ("467.28", "NaN", r"row 3 \(2024-01-04T00:00:00\+00:00\): close: missing \(NaN\)"),
        ("2024-01-04", "2024-01-02", r"row 3 \(2024-01-02.*duplicate timestamp with different"),
        ("2024-01-04", "2024-01-01", r"row 3 \(2024-01-01.*out of order"),
    ],
)
def test_hostile_values_fail_the_batch(tmp_path: Path, old: str, new: str, message: str) -> None:
    _write(tmp_path / "SPY.csv", YAHOO.replace(old, new))
    with pytest.raises(DataQualityError, match=message):
        _bars(FileProvider(tmp_path), "SPY")
    bars, report = FileProvider(tmp_path, strict=False).read_bars("SPY", START, END, "1d")
    assert list(report.rejected_rows) == [3] or len(report.rejected_rows) == 2
    assert len(bars) == 4 - len(report.rejected_rows)


def test_identical_duplicate_rows_are_dropped(tmp_path: Path) -> None:
    lines = YAHOO.splitlines()
    _write(tmp_path / "SPY.csv", "\n".join([*lines[:3], lines[2], *lines[3:]]) + "\n")
    bars, report = FileProvider(tmp_path).read_bars("SPY", START, END, "1d")
    assert len(bars) == 4
    assert list(report.duplicates) == [3]


def test_quotes_and_chains(tmp_path: Path) -> None:
    _write(tmp_path / "SPY.csv", YAHOO)
    provider = FileProvider(tmp_path)
    quotes = asyncio.run(provider.latest_quotes(["SPY"]))
    assert quotes.loc["SPY", "last"] == 467.92
    assert np.isnan(quotes.loc["SPY", "bid"])
    assert quotes.loc["SPY", "timestamp"] == pd.Timestamp("2024-01-05", tz="UTC")
    with pytest.raises(ProviderError, match="not supported by files"):
        asyncio.run(provider.option_chain("SPY"))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="layout: expected"):
        FileProvider("x", layout="wide")


def test_changed_file_is_reread(tmp_path: Path) -> None:
    path = _write(tmp_path / "SPY.csv", YAHOO)
    provider = FileProvider(tmp_path)
    assert len(_bars(provider, "SPY")) == 4
    _write(path, "\n".join(YAHOO.splitlines()[:3]) + "\n")
    assert len(_bars(provider, "SPY")) == 2


def test_million_row_csv(tmp_path: Path) -> None:
    n = 1_000_000
    stamps = np.datetime64("2020-01-01T00:00") + np.arange(n).astype("timedelta64[m]")
    price = 100.0 + np.sin(np.arange(n) / 1000.0)
    table = pa.table(
        {"Datetime": np.datetime_as_string(stamps, unit="s"), "Open": price, "High": price + 0.5,
         "Low": price - 0.5, "Close": price, "Volume": np.arange(n, dtype=np.int64)}
    )  # fmt: skip
    pacsv.write_csv(table, tmp_path / "BIG_1m.csv")
    provider = FileProvider(tmp_path)
    bars, report = provider.read_bars("BIG", START, END, "1m")
    assert report.ok
    assert len(bars) == n
    assert bars.index[-1] == pd.Timestamp("2020-01-01", tz="UTC") + pd.Timedelta(minutes=n - 1)
    hourly = _bars(provider, "BIG", "1h", end=datetime(2020, 1, 2, tzinfo=UTC))
    assert len(hourly) == 24
    assert hourly["volume"].iloc[0] == sum(range(60))
