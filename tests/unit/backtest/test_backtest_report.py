"""The backtest report: PNG plots that read back as images, a self-contained HTML page."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greekfire.backtest.report import (
    DPI,
    drawdown,
    monthly_returns,
    plot_equity,
    render_html,
    write_report,
)
from greekfire.backtest.results import BacktestResult, trades_from_fills

DAYS = pd.date_range("2023-11-01", periods=120, freq="D", tz="UTC")


def _result(symbol_b: str = "BBB") -> tuple[BacktestResult, pd.DataFrame]:
    rng = np.random.default_rng(3)
    steps = rng.normal(0.0, 0.01, size=(len(DAYS), 2))
    prices = pd.DataFrame(100.0 * np.exp(np.cumsum(steps, axis=0)), index=DAYS)
    prices.columns = pd.Index(["AAA", symbol_b])
    equity = 1_000.0 * prices / prices.iloc[0]
    equity["total"] = equity.sum(axis=1)
    fills = pd.DataFrame(
        {
            "symbol": ["AAA", "AAA", symbol_b],
            "side": ["buy", "sell", "buy"],
            "qty": [1.0, 1.0, 2.0],
            "price": [prices["AAA"].iloc[5], prices["AAA"].iloc[40], prices[symbol_b].iloc[60]],
            "fee_usd": [1.0, 1.0, 0.0],
            "ts_ns": [DAYS[5].value, DAYS[40].value, DAYS[60].value],
        }
    )
    trades = trades_from_fills(fills, index=DAYS, strategy="sma")
    result = BacktestResult(
        equity=equity,
        trades=trades,
        exposure=pd.DataFrame({"AAA": 0.5, symbol_b: 0.0}, index=DAYS),
        params={"fast": 10, "slow": 50},
        meta={"init_cash": 1_000.0, "engine": "event", "fill": "close"},
    )
    return result, prices


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "data", "action", "poster"):
                self.refs.append((tag, name, value or ""))


def _links(page: str) -> _Links:
    parser = _Links()
    parser.feed(page)
    parser.close()
    return parser


def _png_shape(path: Path) -> tuple[int, ...]:
    from matplotlib.image import imread

    with path.open("rb") as handle:
        image = imread(handle, format="png")
    return tuple(image.shape)


def test_write_report_writes_the_pngs_and_the_html(tmp_path: Path) -> None:
    result, prices = _result()
    page_path = write_report(result, tmp_path / "report", price=prices, symbol="AAA")
    assert page_path == tmp_path / "report" / "report.html"
    names = sorted(p.name for p in page_path.parent.iterdir())
    assert names == ["equity.png", "monthly_returns.png", "report.html", "trades.png"]
    # matplotlib reads each PNG back as an RGBA image of the figure's size in pixels.
    assert _png_shape(page_path.parent / "equity.png") == (650, 1100, 4)
    assert _png_shape(page_path.parent / "trades.png") == (500, 1100, 4)
    height, width, bands = _png_shape(page_path.parent / "monthly_returns.png")
    assert (width, bands) == (1100, 4)
    assert height >= 2 * DPI


def test_html_is_self_contained(tmp_path: Path) -> None:
    result, prices = _result()
    page = write_report(result, tmp_path, price=prices).read_text(encoding="utf-8")
    links = _links(page)
    assert "script" not in links.tags
    assert "link" not in links.tags
    images = [value for tag, name, value in links.refs if tag == "img" and name == "src"]
    assert len(images) == 3
    assert all(value.startswith("data:image/png;base64,") for value in images)
    assert [ref for ref in links.refs if not ref[2].startswith("data:")] == []
    assert "url(" not in page
    assert "@import" not in page


def test_html_holds_the_stats_meta_params_and_trades(tmp_path: Path) -> None:
    result, prices = _result()
    page = write_report(result, tmp_path, price=prices).read_text(encoding="utf-8")
    total = result.total_return()["total"] * 100.0
    assert '<th class="text">Return [%]</th>' in page
    assert f"{total:,.4f}" in page
    assert "Trades (2)" in page
    assert "<td>sma</td>" in page
    assert "<td>close</td>" in page
    assert '<th class="text">slow</th>' in page


def test_html_escapes_text_from_the_result(tmp_path: Path) -> None:
    result, prices = _result(symbol_b="<script>x</script>")
    page = write_report(result, tmp_path, price=prices).read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page


def test_without_prices_there_is_no_trades_plot(tmp_path: Path) -> None:
    result, _ = _result()
    page = write_report(result, tmp_path).read_text(encoding="utf-8")
    assert not (tmp_path / "trades.png").exists()
    assert len([r for r in _links(page).refs if r[0] == "img"]) == 2


def test_write_report_refuses_an_unknown_symbol_and_missing_prices(tmp_path: Path) -> None:
    result, prices = _result()
    with pytest.raises(ValueError, match=r"symbol: expected one of .*got 'ZZZ'"):
        write_report(result, tmp_path, price=prices, symbol="ZZZ")
    with pytest.raises(ValueError, match="price: expected a column 'BBB'"):
        write_report(result, tmp_path, price=prices[["AAA"]], symbol="BBB")


def test_monthly_returns_compound_within_each_month() -> None:
    index = pd.DatetimeIndex(
        ["2024-01-30", "2024-01-31", "2024-02-01", "2024-02-02", "2024-03-01"], tz="UTC"
    )
    equity = pd.DataFrame({"AAA": [110.0, 99.0, 99.0, 108.9, 98.01]}, index=index)
    result = BacktestResult(equity, meta={"init_cash": 100.0})
    table = monthly_returns(result)
    assert list(table.columns) == list(range(1, 13))
    assert table.loc[2024, 1] == pytest.approx(-1.0)  # 100 -> 99
    assert table.loc[2024, 2] == pytest.approx(10.0)  # 99 -> 108.9
    assert table.loc[2024, 3] == pytest.approx(-10.0)
    assert np.isnan(table.loc[2024, 4])


def test_drawdown_starts_from_the_initial_cash() -> None:
    equity = pd.DataFrame({"AAA": [90.0, 120.0, 96.0, 130.0]}, index=DAYS[:4])
    result = BacktestResult(equity, meta={"init_cash": 100.0})
    assert drawdown(result).to_numpy() == pytest.approx([-0.10, 0.0, -0.20, 0.0])


def test_plot_and_render_one_symbol_without_trades(tmp_path: Path) -> None:
    equity = pd.DataFrame({"AAA": np.linspace(100.0, 110.0, 30)}, index=DAYS[:30])
    result = BacktestResult(equity)
    image = plot_equity(result, tmp_path / "deep" / "eq.png")
    assert _png_shape(image)[2] == 4
    page = render_html(result, {"Equity": image}, title="One & only")
    assert "<title>One &amp; only</title>" in page
    assert "no trades" in page
