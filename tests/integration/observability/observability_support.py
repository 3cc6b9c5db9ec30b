"""Helpers for the observability tests: a live bot exporting metrics, a real Prometheus, and a
small PromQL reader that lists the metric names a query refers to.

A plain module (imported by the conftest and the tests through the sys.path entry the conftest
adds), named so that it cannot collide with another folder's helpers.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"
PROMETHEUS_DIR = DEPLOY / "prometheus"
GRAFANA_DIR = DEPLOY / "grafana"
PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"

SIM_START = "2026-11-09T14:35:00+00:00"  # Monday 09:35 New York: the market is open
SYMBOLS = ["AAPL", "SPY"]


def binary(name: str, default: str) -> str | None:
    """The Debian binary if present, else whatever ``name`` is on PATH (None: neither)."""
    return default if Path(default).is_file() else shutil.which(name)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(url: str, timeout_s: float = 10.0) -> tuple[int, bytes]:
    """GET ``url``: (status, body); HTTP errors are returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code), bytes(exc.read())


def wait_for(
    predicate: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.2
) -> None:
    """Poll ``predicate`` until it is true; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(poll_s)


# -- the bot -------------------------------------------------------------------------------------


@dataclass
class RunningBot:
    """A TradingEngine cycling in a thread (simulated clock, 5 simulated minutes per cycle,
    a few cycles per wall second) with the web dashboard serving its ``/metrics``."""

    metrics_url: str = ""
    cycles: int = 0
    errors: list[str] = field(default_factory=list)
    failure: BaseException | None = None

    @property
    def target(self) -> str:
        """``host:port`` of the metrics endpoint, as a Prometheus target."""
        return urllib.parse.urlsplit(self.metrics_url).netloc

    def metrics_text(self) -> str:
        """The live exposition text."""
        status, body = http_get(self.metrics_url)
        assert status == 200, f"GET {self.metrics_url} answered {status}"
        return body.decode()


def bot_settings(workdir: Path) -> Any:
    """Settings for a small synthetic market with the library's momentum strategy."""
    from greekfire.settings import Settings

    return Settings.model_validate(
        {
            "engine": {
                "symbols": SYMBOLS,
                "clock": "simulated",
                "sim_start": SIM_START,
                "interval_s": 300,
                "lookback_bars": 60,
                "log_path": str(workdir / "logs" / "bot.jsonl"),
            },
            "data": {"provider": "synthetic", "history_dir": None},
            "risk": {"risk_fraction": 0.1},
            "journal": {"path": str(workdir / "journal.db"), "dry_run_path": str(workdir / "d.db")},
            "strategies": [{"name": "momentum", "symbols": SYMBOLS}],
        }
    )


def _bot_loop(
    bot: RunningBot, workdir: Path, ready: threading.Event, stop: threading.Event
) -> None:
    # The engine is built, cycled and closed on this thread. The dashboard (uvicorn in its own
    # thread, as `greekfire run --dashboard` runs it) reads the published LiveState, the
    # journal read-only and the metrics registry, which prometheus-client makes thread-safe.
    import pandas as pd

    from greekfire.engine.clock import SimulatedClock
    from greekfire.engine.engine import TradingEngine
    from greekfire.web.api import create_app
    from greekfire.web.server import DashboardServer
    from greekfire.web.service import DashboardService

    try:
        clock = SimulatedClock(pd.Timestamp(SIM_START))
        settings = bot_settings(workdir)
        with TradingEngine(settings, clock=clock, workdir=workdir) as engine:
            monitor = engine.monitor
            own_sampler = not monitor.sampler_running
            if own_sampler:
                monitor.start_sampler(0.5)
            service = DashboardService(
                settings.journal.path, live=engine.live_state, monitor=monitor, risk=settings.risk
            )
            app = create_app(
                service, controls=engine.controls, token=None, registry=monitor.registry
            )
            try:
                with DashboardServer(app, "127.0.0.1", 0) as server:
                    bot.metrics_url = f"{server.url}metrics"
                    while not stop.is_set():
                        report = engine.run_cycle()
                        bot.cycles += 1
                        bot.errors.extend(report.errors)
                        ready.set()
                        clock.advance(300)
                        stop.wait(0.25)
            finally:
                if own_sampler:
                    monitor.stop_sampler()
    except BaseException as exc:  # reported to the test through the fixture
        bot.failure = exc
    finally:
        ready.set()


@contextlib.contextmanager
def running_bot(workdir: Path, startup_timeout_s: float = 120.0) -> Iterator[RunningBot]:
    """Start the bot thread, wait for its first cycle, stop and join it on exit."""
    bot = RunningBot()
    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(
        target=_bot_loop, args=(bot, workdir, ready, stop), name="observability-bot", daemon=True
    )
    thread.start()
    try:
        assert ready.wait(startup_timeout_s), "the bot ran no cycle in time"
        if bot.failure is not None:
            raise AssertionError(f"the bot failed to start: {bot.failure!r}") from bot.failure
        yield bot
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive(), "the bot thread did not stop"
    if bot.failure is not None:
        raise AssertionError(f"the bot failed: {bot.failure!r}") from bot.failure


def exported_families(text: str) -> dict[str, str]:
    """``{family name: type}`` declared in an exposition text (a labelled family with no
    sample yet is declared all the same). Counters are listed under their ``_total`` name."""
    families: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        name = f"{family.name}_total" if family.type == "counter" else family.name
        families[name] = family.type
    return families


def sample_names(text: str) -> set[str]:
    """The sample names present in an exposition text (with _bucket/_sum/_count suffixes)."""
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


# -- PromQL --------------------------------------------------------------------------------------

# The PromQL functions and aggregations (a word before "(" that is not one of them is a typo).
_PROMQL_FUNCTIONS = frozenset(
    """abs absent absent_over_time avg avg_over_time bottomk ceil changes clamp clamp_max
    clamp_min count count_over_time count_values day_of_month day_of_week delta deriv exp floor
    group histogram_quantile holt_winters hour idelta increase irate label_join label_replace
    last_over_time ln log10 log2 max max_over_time min min_over_time minute month
    predict_linear present_over_time quantile quantile_over_time rate resets round scalar sgn
    sort sort_desc sqrt stddev stddev_over_time stdvar stdvar_over_time sum sum_over_time time
    timestamp topk vector year""".split()  # noqa: SIM905
)
_PROMQL_KEYWORDS = frozenset(
    "by without on ignoring group_left group_right bool and or unless offset inf nan".split()  # noqa: SIM905
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_MODIFIER = re.compile(r"\boffset\s+-?\w+|@\s*(?:start\(\)|end\(\)|[\d.]+)")
_NUMBER = re.compile(r"(?<![\w:])(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)")
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def grafana_to_promql(expr: str) -> str:
    """Replace Grafana's interval variables with a fixed duration."""
    return re.sub(
        r"\$__(rate_interval|interval|range)|\$\{__(rate_interval|interval|range)\}", "1m", expr
    )


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (enough of PromQL for dashboards/alerts).

    Strings, label matchers, range selectors, ``offset``/``@`` modifiers and ``by (...)``-style
    groupings are removed
    first; what remains are function names (followed by ``(``), keywords, numbers and metric
    names.

    Raises
    ------
    ValueError
        Unbalanced brackets, or a ``$`` variable left after :func:`grafana_to_promql`.
    """
    text = grafana_to_promql(expr)
    if "$" in text:
        raise ValueError(f"unresolved Grafana variable in {expr!r}")
    for opening, closing in ("()", "{}", "[]"):
        if text.count(opening) != text.count(closing):
            raise ValueError(f"unbalanced {opening}{closing} in {expr!r}")
    text = _STRING.sub('""', text)
    text = _GROUPING.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _MODIFIER.sub(" ", text)
    text = _NUMBER.sub(" ", text)
    names: set[str] = set()
    for match in _IDENT.finditer(text):
        word = match.group()
        rest = text[match.end() :].lstrip()
        if rest.startswith("("):
            if word not in _PROMQL_FUNCTIONS:
                raise ValueError(f"unknown PromQL function {word!r} in {expr!r}")
            continue
        if word.lower() in _PROMQL_KEYWORDS or word in _PROMQL_FUNCTIONS:
            continue
        names.add(word)
    return names


def base_metric_name(name: str, families: dict[str, str]) -> str | None:
    """The exported family ``name`` belongs to (a histogram's _bucket/_sum/_count included);
    None when the bot exports no such series."""
    if name in families:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name.removesuffix(suffix)
        if base != name and families.get(base) == "histogram":
            return base
    return None


# -- Prometheus ----------------------------------------------------------------------------------


def scrape_config_for(target: str, workdir: Path) -> Path:
    """The shipped prometheus.yml with its target replaced by ``target``, a 1 s scrape
    interval and the shipped alerts.yml by absolute path; written under ``workdir``."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text(encoding="utf-8"))
    config["global"].update({"scrape_interval": "1s", "scrape_timeout": "1s"})
    config["global"]["evaluation_interval"] = "1s"
    config["rule_files"] = [str(PROMETHEUS_DIR / name) for name in config["rule_files"]]
    (job,) = config["scrape_configs"]
    job["static_configs"][0]["targets"] = [target]
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@dataclass
class RunningPrometheus:
    """A Prometheus server on loopback; ``query`` calls its HTTP API."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def api(self, path: str, **params: str) -> dict[str, Any]:
        """GET ``/api/v1/<path>``; the decoded JSON (any status)."""
        query = urllib.parse.urlencode(params)
        status, body = http_get(f"{self.url}/api/v1/{path}?{query}")
        payload: dict[str, Any] = json.loads(body)
        payload["http_status"] = status
        return payload

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector; fails the test on an API error."""
        payload = self.api("query", query=expr)
        assert payload["status"] == "success", f"{expr!r}: {payload}"
        result: list[dict[str, Any]] = payload["data"]["result"]
        return result

    def log(self) -> str:
        """What Prometheus wrote to stderr so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@contextlib.contextmanager
def running_prometheus(prometheus: str, config: Path, workdir: Path) -> Iterator[RunningPrometheus]:
    """Start Prometheus (its own storage under ``workdir``), wait until ready, stop it with
    SIGTERM on exit and check that it shut down cleanly."""
    port = free_port()
    log_path = workdir / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=info",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    running = RunningPrometheus(process, f"http://127.0.0.1:{port}", log_path)
    try:

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"prometheus exited early:\n{running.log()}")
            with contextlib.suppress(OSError):
                return http_get(f"{running.url}/-/ready", timeout_s=2)[0] == 200
            return False

        wait_for(ready, 60, "prometheus to be ready")
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
            raise AssertionError(f"prometheus ignored SIGTERM:\n{running.log()}") from None
    assert code == 0, f"prometheus exited with {code}:\n{running.log()}"
