"""The dashboard as a user sees it: Debian's Chromium, headless, driven by Playwright.

The bot runs as ``greekfire run --dashboard`` in a child process, on the simulated exchange
(``serve-market``, another child process) with the paper broker and a simulated clock paced to
one cycle a second, so that it is still trading while the browser visits every page. The test
checks that each page shows data (tiles hold numbers, tables have rows, every chart is drawn
with points), that the pages follow new cycles without a reload, that a control command needs
the token (refused without it, accepted with it, and the bot then shows entries paused), and
saves a screenshot of every page under ``test-artifacts/dashboard/`` at the repository root.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pandas as pd
import pytest
import yaml

from greekfire.exchange.config import ExchangeConfig
from greekfire.exchange.server import spawn

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.service, pytest.mark.integration]

CHROMIUM = Path("/usr/bin/chromium")
SCRIPT = Path(sys.executable).with_name("greekfire")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
STRATEGIES = ROOT / "tests" / "integration" / "engine"  # engine_strategies:BuyOnce
TOKEN = "secret-token"
MONDAY_OPEN = "2026-11-09T14:35:00+00:00"  # Monday 09:35 New York
DASHBOARD_LINE = re.compile(r"^dashboard: (http://127\.0\.0\.1:\d+/)\s*$", re.MULTILINE)
PAGES = ("overview", "performance", "orders", "strategies", "bench")
WAIT_MS = 30_000
MIN_CYCLES = 8

# BuyOnce buys 10 SPY and 10 MSFT in the first cycle (filled at once by the paper broker); the
# wheel sells options on two cheap stocks (positions with Greeks); momentum trades the rest.
STRATEGY_CONFIG = [
    {"name": "buy", "module": "engine_strategies:BuyOnce", "symbols": ["SPY", "MSFT"]},
    {
        "name": "wheel",
        "symbols": ["AAPL", "INTC"],
        "params": {
            "dte_min": 1,
            "dte_max": 10,
            "roll_dte": 0,
            "put_delta": 0.40,
            "call_delta": 0.40,
            "profit_target": 0.9,
        },
    },
    {"name": "momentum", "symbols": ["NVDA", "F"]},
]
SYMBOLS = ["AAPL", "F", "INTC", "MSFT", "NVDA", "SPY"]


@dataclass(frozen=True)
class Bot:
    """The running bot: its dashboard's URL and where its output goes."""

    url: str
    proc: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path


def write_bench_report(directory: Path) -> int:
    """A small ``make bench`` report (bench.json + bench.md); returns its number of cases."""
    directory.mkdir(parents=True)
    cases = [
        {
            "key": "a_bsm_greeks",
            "title": "(a) 50,000 options, price + 5 Greeks",
            "unit": "option",
            "headline": "greekfire",
            "target": {"metric": "median_ms", "limit": 0.5, "value": 0.43, "met": True},
            "rows": [
                {"key": "greekfire", "label": "greekfire kernels", "status": "ok",
                 "median_ms": 0.43, "min_ms": 0.42, "note": "preallocated outputs"},
                {"key": "numpy", "label": "numpy closed form", "status": "ok",
                 "median_ms": 2.99, "min_ms": 2.86, "note": ""},
            ],
        },
        {
            "key": "f_indicators",
            "title": "(f) Six indicators on 500 symbols x 2,520 bars",
            "unit": "bar",
            "headline": "greekfire",
            "target": {"metric": "median_ms", "limit": 10.0, "value": 10.5, "met": False},
            "rows": [
                {"key": "greekfire", "label": "greekfire kernels", "status": "ok",
                 "median_ms": 10.5, "min_ms": 10.1, "note": ""},
            ],
        },
    ]  # fmt: skip
    report = {"schema_version": 1, "date_utc": "2026-11-21T17:05:00+00:00", "cases": cases}
    (directory / "bench.json").write_text(json.dumps(report), encoding="utf-8")
    markdown = "\n".join(
        [
            "# greekfire benchmark report",
            "",
            "- Date (UTC): 2026-11-21T17:05:00+00:00",
            "- Command: `greekfire bench --out reports`",
            "",
            "## (a) 50,000 options, price + 5 Greeks",
            "",
            "**target median_ms <= 0.5 ms: 430 µs, met**",
            "",
            "| implementation | median | min | note |",
            "| --- | --- | --- | --- |",
            "| greekfire kernels | 430 µs | 420 µs | preallocated outputs |",
            "| numpy closed form | 2.99 ms | 2.86 ms | |",
            "",
        ]
    )
    (directory / "bench.md").write_text(markdown, encoding="utf-8")
    return len(cases)


def write_config(tmp: Path, data_url: str, bench_dir: Path) -> Path:
    config = {
        "engine": {
            "symbols": SYMBOLS,
            "clock": "simulated",
            "sim_start": MONDAY_OPEN,
            "interval_s": 60,
            "log_path": str(tmp / "logs" / "trading_system.jsonl"),
        },
        "data": {"provider": "alpaca", "data_url": data_url, "history_dir": None},
        "broker": {"kind": "paper"},
        "risk": {
            "risk_fraction": 0.05,
            "max_symbol_exposure_fraction": 0.25,
            # shown against the portfolio's Greeks; BuyOnce's 4,000 $ of delta use 16 %
            "greeks": {
                "max_abs_delta_usd": 25_000.0,
                "max_abs_gamma_shares_per_usd": 500.0,
                "max_abs_vega_per_point_usd": 2_000.0,
                "min_theta_per_day_usd": -1_000.0,
            },
        },
        "journal": {"path": str(tmp / "journal.db"), "dry_run_path": str(tmp / "dry.db")},
        "dashboard": {"bench_dir": str(bench_dir)},
        "strategies": STRATEGY_CONFIG,
    }
    path = tmp / "cfg.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def bot_env(tmp: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8", "COLUMNS": "200"}
    for key in list(env):
        if key.startswith("GREEKFIRE_") and key != "GREEKFIRE_REQUIRE_SERVICES":
            del env[key]  # only the config file and the token below
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(STRATEGIES), env.get("PYTHONPATH")]))
    env["GREEKFIRE_DASHBOARD_TOKEN"] = TOKEN
    env["APCA_API_KEY_ID"] = "unused"  # the exchange runs without auth
    env["APCA_API_SECRET_KEY"] = "unused"
    return env


def wait_for_url(bot: subprocess.Popen[bytes], stdout: Path, stderr: Path, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = DASHBOARD_LINE.search(read_text(stdout))
        if found:
            return found.group(1)
        if bot.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(
        f"no 'dashboard: <url>' line from the bot:\n{read_text(stdout)}\n{read_text(stderr)}"
    )


def read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def stop(bot: Bot) -> tuple[str, str]:
    if bot.proc.poll() is None:
        bot.proc.send_signal(signal.SIGTERM)
    try:
        bot.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        bot.proc.kill()
        bot.proc.wait(timeout=10)
    return read_text(bot.stdout), read_text(bot.stderr)


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[Bot]:
    """``greekfire run --dashboard`` on serve-market, one cycle (a simulated minute) a second."""
    assert SCRIPT.exists(), f"console script not installed next to {sys.executable}"
    bench_dir = tmp_path / "reports"
    write_bench_report(bench_dir)
    # The exchange's clock runs a simulated minute per second from the bot's start, as the bot
    # does: its quotes and option chains stay within minutes of the bot's clock.
    exchange = ExchangeConfig(
        symbols=tuple(SYMBOLS),
        start=pd.Timestamp(MONDAY_OPEN).to_pydatetime(),
        speed=60.0,
        key_id=None,
        secret_key=None,
    )
    with spawn(exchange) as market:
        config = write_config(tmp_path, market.base_url, bench_dir)
        stdout, stderr = tmp_path / "bot.out", tmp_path / "bot.err"
        command = [
            str(SCRIPT), "run", "--config", str(config), "--paper", "--plain",
            "--cycles", "100000", "--interval", "1m", "--pace", "1s",
            "--dashboard", "--dashboard-port", "0",
        ]  # fmt: skip
        with stdout.open("wb") as out, stderr.open("wb") as err:
            proc = subprocess.Popen(
                command, stdout=out, stderr=err, env=bot_env(tmp_path), cwd=tmp_path
            )
        running = None
        try:
            running = Bot(wait_for_url(proc, stdout, stderr, 120), proc, stdout, stderr)
            yield running
        finally:
            out_text, err_text = stop(running or Bot("", proc, stdout, stderr))
        assert proc.returncode == 0, out_text[-3000:] + err_text[-3000:]
        assert "Traceback" not in err_text, err_text[-3000:]


@pytest.fixture
def browser(require_service: Callable[..., None]) -> Iterator[Browser]:
    """Debian's Chromium, headless (checked before the bot starts)."""
    require_service("chromium", CHROMIUM.exists(), f"{CHROMIUM} (apt-get install chromium)")
    found = importlib.util.find_spec("playwright") is not None
    require_service("playwright", found, "the Python package (pip install playwright)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield launched
        finally:
            launched.close()


@contextmanager
def dashboard_tab(browser: Browser, base: str) -> Iterator[Page]:
    """A 1440 x 1000 tab; fails on any script error, any failed request but the controls'
    refusals (401, which the browser logs as console errors) and any request outside the
    dashboard."""
    errors: list[str] = []
    foreign: list[str] = []
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    try:
        tab = context.new_page()
        tab.set_default_timeout(WAIT_MS)
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        tab.on(
            "request",
            lambda req: None if req.url.startswith((base, "data:")) else foreign.append(req.url),
        )
        yield tab
    finally:
        context.close()
    unexpected = [e for e in errors if "the server responded with a status of 401" not in e]
    assert unexpected == [], unexpected
    assert foreign == [], f"requests outside the dashboard: {foreign}"


# --------------------------------------------------------------------------- page helpers


def open_page(page: Page, base: str, route: str) -> None:
    page.goto(f"{base}#/{route}")
    page.wait_for_selector(f"#page-{route}[data-loaded='true']", state="visible")


def rows(page: Page, table_id: str) -> int:
    """Data rows of a table (its 'nothing here' row does not count)."""
    return page.locator(f"#{table_id} tbody tr:not(.empty-row)").count()


def wait_rows(page: Page, table_id: str, at_least: int = 1) -> int:
    page.wait_for_function(
        "([id, n]) => document.querySelectorAll(`#${id} tbody tr:not(.empty-row)`).length >= n",
        arg=[table_id, at_least],
    )
    return rows(page, table_id)


def chart_points(page: Page, canvas_id: str) -> int:
    """Wait until the chart is drawn with data; return its ``data-points``."""
    page.wait_for_function(
        "id => { const c = document.getElementById(id);"
        " return c && c.dataset.rendered === 'true' && Number(c.dataset.points) > 0; }",
        arg=canvas_id,
    )
    return int(page.get_attribute(f"#{canvas_id}", "data-points") or 0)


def tile_value(page: Page, tile_id: str) -> float:
    """The number behind a tile once it shows one."""
    selector = f"#{tile_id} .value"
    page.wait_for_function("sel => document.querySelector(sel).dataset.value !== ''", arg=selector)
    text = page.locator(selector).inner_text()
    assert re.search(r"\d", text), f"{tile_id} shows {text!r}"
    return float(page.get_attribute(selector, "data-value") or "nan")


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000, f"{path} is suspiciously small"
    return path


def api(base: str, path: str) -> Any:
    response = httpx.get(f"{base}{path.lstrip('/')}", timeout=10)
    response.raise_for_status()
    return response.json()


# --------------------------------------------------------------------------- the pages


def check_overview(page: Page, base: str) -> None:
    open_page(page, base, "overview")
    equity = tile_value(page, "tile-equity")
    assert 50_000 < equity < 200_000  # the paper account starts with 100,000
    assert tile_value(page, "tile-cash") > 0
    assert tile_value(page, "tile-buying-power") > 0
    tile_value(page, "tile-day-pnl")  # any sign, but a number
    # BuyOnce's 10 SPY and 10 MSFT, bought in the first cycle, with their Greeks (delta = qty)
    for symbol in ("SPY", "MSFT"):
        row = page.locator(f"#positions-table tbody tr[data-symbol='{symbol}']")
        row.wait_for()
        cells = row.locator("td").all_inner_texts()
        assert cells[1] == "10", cells
        assert cells[6] == "10.00", cells  # delta in shares
    assert chart_points(page, "chart-equity") >= 1
    assert chart_points(page, "chart-greeks") >= 1
    assert rows(page, "greeks-table") == 5
    limits = page.locator("#greeks-table tbody tr[data-greek='delta_usd'] td").all_inner_texts()
    assert limits[2] == "25,000", limits
    assert 5 < float(limits[3].removesuffix(" %")) < 50, limits  # SPY + MSFT: ~4,000 $
    page.wait_for_selector("#live-indicator[data-state='open']")
    screenshot(page, "overview")


def check_live_updates(page: Page) -> None:
    """New cycles reach the open page through /api/stream, without a reload."""
    before = int(page.get_attribute("#status-cycle", "data-value") or 0)
    refreshes = int(page.get_attribute("#page-overview", "data-refreshes") or 0)
    page.wait_for_function(
        "n => Number(document.getElementById('status-cycle').dataset.value) > n", arg=before
    )
    page.wait_for_function(
        "n => Number(document.getElementById('page-overview').dataset.refreshes) > n",
        arg=refreshes,
    )


def check_performance(page: Page, base: str) -> None:
    open_page(page, base, "performance")
    assert tile_value(page, "tile-rss") > 10_000_000  # a Python process with numpy: > 10 MB
    assert tile_value(page, "tile-cycles") >= 1
    assert chart_points(page, "chart-cycle-series") >= 1
    phases = wait_rows(page, "phases-table", 8)
    names = page.locator("#phases-table tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.phase)"
    )
    assert {"fetch", "strategies", "risk", "orders", "journal"} <= set(names), names
    histograms = page.locator("#phase-histograms canvas")
    assert histograms.count() == phases
    for phase in ("fetch", "journal"):
        assert chart_points(page, f"chart-hist-{phase}") >= 1
    assert wait_rows(page, "api-table") >= 1  # market-data calls to serve-market
    assert chart_points(page, "chart-trades-per-hour") >= 1  # BuyOnce's fills at least
    screenshot(page, "performance")


def check_orders(page: Page, base: str) -> None:
    open_page(page, base, "orders")
    assert wait_rows(page, "orders-table", 2) >= 2
    assert wait_rows(page, "fills-table", 2) >= 2
    screenshot(page, "orders")
    # search: only the SPY orders and fills remain, and the address keeps the filter
    page.fill("#orders-search", "spy")
    page.wait_for_function(
        "() => location.hash === '#/orders?q=spy'"
        " && [...document.querySelectorAll('#orders-table tbody tr')]"
        ".every(r => r.textContent.toUpperCase().includes('SPY'))"
        " && [...document.querySelectorAll('#fills-table tbody tr')]"
        ".every(r => r.textContent.toUpperCase().includes('SPY'))"
    )
    assert rows(page, "orders-table") >= 1
    assert rows(page, "fills-table") >= 1
    symbols = page.locator("#orders-table tbody tr td:nth-child(4)").all_inner_texts()
    assert symbols, "no orders left after the search"
    assert all("SPY" in s for s in symbols), symbols
    # status filter: filled orders only
    page.select_option("#orders-status", "filled")
    page.wait_for_function(
        "() => location.hash.includes('status=filled')"
        " && [...document.querySelectorAll('#orders-table tbody tr')]"
        ".every(r => r.dataset.status === 'filled')"
    )
    assert rows(page, "orders-table") >= 1
    screenshot(page, "orders-search")
    page.fill("#orders-search", "")
    page.select_option("#orders-status", "")


def check_strategies(page: Page, base: str) -> None:
    open_page(page, base, "strategies")
    for name in ("buy", "wheel", "momentum"):
        page.wait_for_selector(f"[data-testid='strategy-{name}']")
    state = page.get_attribute("[data-testid='strategy-buy']", "data-enabled")
    assert state == "true"
    assert wait_rows(page, "strategies-list [data-testid='signals-buy']", 2) >= 2
    signals = page.locator("[data-testid='signals-buy'] tbody tr").all_inner_texts()
    assert any("SPY" in s and "approved" in s for s in signals), signals
    options = page.locator("#control-strategy option").all_inner_texts()
    assert {"buy", "wheel", "momentum"} <= set(options), options
    screenshot(page, "strategies")


def check_bench(page: Page, base: str) -> None:
    open_page(page, base, "bench")
    assert page.is_hidden("#bench-unavailable")
    assert "2026-11-21" in page.inner_text("#bench-generated")
    assert wait_rows(page, "bench-cases", 2) == 2
    verdicts = page.locator("#bench-cases tbody tr td:nth-child(5)").all_inner_texts()
    assert verdicts == ["met", "NOT met"], verdicts
    report = page.locator("#bench-report")
    assert "greekfire benchmark report" in report.locator("h2").first.inner_text()
    assert report.locator("table tbody tr").count() == 2  # the markdown table, as a table
    assert report.locator("strong").first.inner_text().startswith("target median_ms")
    screenshot(page, "bench")


def check_controls(page: Page, base: str) -> None:
    """Pause entries: refused without the token (401 shown), accepted with it (202), and the
    bot's next cycle shows entries paused."""
    open_page(page, base, "overview")
    assert page.get_attribute("#status-paused", "data-value") == "open"
    result = page.locator("#control-result")
    page.fill("#control-token", "")
    page.click("#control-pause")
    page.wait_for_selector("#control-result[data-status='401']")
    assert result.inner_text().startswith("401"), result.inner_text()
    page.fill("#control-token", "not-the-token")
    page.click("#control-pause")
    page.wait_for_function(
        "() => { const r = document.getElementById('control-result');"
        " return r.dataset.status === '401' && r.textContent.includes('wrong token'); }"
    )
    assert api(base, "/api/overview")["entries_paused"] is False
    screenshot(page, "control-refused")

    page.fill("#control-token", TOKEN)
    assert page.evaluate("sessionStorage.getItem('greekfire.dashboard.token')") == TOKEN
    page.click("#control-pause")
    page.wait_for_selector("#control-result[data-status='202']")
    assert result.inner_text().startswith("202 accepted"), result.inner_text()
    page.wait_for_selector("#status-paused[data-value='paused']")
    assert page.inner_text("#status-paused") == "entries paused"
    assert api(base, "/api/overview")["entries_paused"] is True
    screenshot(page, "control-paused")
    # the token survives a reload of the tab (sessionStorage), and resume works with it
    page.reload()
    page.wait_for_selector("#page-overview[data-loaded='true']")
    assert page.input_value("#control-token") == TOKEN
    page.click("#control-resume")
    page.wait_for_selector("#control-result[data-status='202']")
    page.wait_for_selector("#status-paused[data-value='open']")


def check_disable_strategy(page: Page, base: str) -> None:
    """Disable a strategy from its card, with a reason: the card then says so and why."""
    open_page(page, base, "strategies")
    card = "[data-testid='strategy-momentum']"
    assert page.get_attribute(card, "data-enabled") == "true"
    page.fill("#control-reason", "e2e: momentum off")
    page.click("[data-testid='disable-momentum']")
    page.wait_for_selector("#control-result[data-status='202']")
    page.wait_for_selector(f"{card}[data-enabled='false']")
    reason = page.inner_text("[data-testid='disabled-reason-momentum']")
    assert "e2e: momentum off" in reason, reason
    assert page.is_disabled("[data-testid='disable-momentum']")
    assert page.get_attribute("[data-testid='strategy-buy']", "data-enabled") == "true"
    screenshot(page, "strategies-disabled")


def test_every_page_with_data_live_updates_and_token_controls(browser: Browser, bot: Bot) -> None:
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    assert api(bot.url, "/api/health")["mode"] == "live"
    # some history first, so that the charts and the screenshots have something to show; the
    # first cycle compiles the numba kernels when the cache is cold (a fresh clone: ~1-2 min)
    deadline = time.monotonic() + 300
    while api(bot.url, "/api/health")["cycle"] < 1:
        assert time.monotonic() < deadline, "no cycle in 300 s"
        time.sleep(0.5)
    deadline = time.monotonic() + 90
    while api(bot.url, "/api/health")["cycle"] < MIN_CYCLES:
        assert time.monotonic() < deadline, f"fewer than {MIN_CYCLES} cycles in 90 s"
        time.sleep(0.5)
    with dashboard_tab(browser, bot.url) as page:
        check_overview(page, bot.url)
        check_live_updates(page)
        check_performance(page, bot.url)
        check_orders(page, bot.url)
        check_strategies(page, bot.url)
        check_bench(page, bot.url)
        check_controls(page, bot.url)
        check_disable_strategy(page, bot.url)
    saved = sorted(p.stem for p in ARTIFACTS.glob("*.png"))
    assert set(PAGES) <= set(saved), saved
