"""The provisioned Grafana dashboard: valid JSON, every query names a series a live bot exports,
every query is PromQL a real Prometheus accepts, and the provisioning files agree with it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from observability_support import (
    GRAFANA_DIR,
    REPO,
    RunningBot,
    RunningPrometheus,
    base_metric_name,
    exported_families,
    grafana_to_promql,
    promql_metric_names,
    wait_for,
)

pytestmark = pytest.mark.integration

DASHBOARD_PATH = GRAFANA_DIR / "dashboards" / "greekfire.json"
DATASOURCES = GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = GRAFANA_DIR / "provisioning" / "dashboards" / "greekfire.yml"
GRID_WIDTH = 24


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD_PATH.read_text(encoding="utf-8"))
    return data


def query_panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def all_exprs() -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in query_panels() for t in p["targets"]]


def test_the_dashboard_has_grafanas_required_fields() -> None:
    board = dashboard()
    for key in ("title", "uid", "schemaVersion", "panels", "time", "templating", "version"):
        assert key in board, f"dashboard JSON lacks {key!r}"
    assert isinstance(board["schemaVersion"], int)
    assert board["schemaVersion"] >= 36
    assert re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", board["uid"])
    assert board["id"] is None  # provisioned dashboards get their id from Grafana
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are not unique"
    assert len(query_panels()) >= 20


def test_every_panel_has_a_grid_position_inside_the_grid_and_none_overlap() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboard()["panels"]:
        grid = panel["gridPos"]
        assert all(isinstance(grid[k], int) for k in "hwxy"), panel["title"]
        assert grid["w"] > 0, panel["title"]
        assert grid["h"] > 0, panel["title"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= GRID_WIDTH, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = panel["title"]


def test_every_query_panel_has_a_datasource_and_targets_with_an_expr() -> None:
    uid = provisioned_datasource()["uid"]
    for panel in query_panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}, panel["title"]
        assert panel["targets"], f"{panel['title']}: no targets"
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), f"{panel['title']}: duplicate refId"
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target.get("datasource", panel["datasource"]) == panel["datasource"]


def test_the_dashboard_covers_the_web_dashboards_panels() -> None:
    referenced = set().union(*(promql_metric_names(expr) for _, expr in all_exprs()))
    wanted = {
        "greekfire_equity_usd",
        "greekfire_cash_usd",
        "greekfire_buying_power_usd",
        "greekfire_day_pnl_usd",
        "greekfire_portfolio_delta_usd",
        "greekfire_portfolio_gamma_shares_per_usd",
        "greekfire_portfolio_vega_per_point_usd",
        "greekfire_portfolio_theta_per_day_usd",
        "greekfire_portfolio_greek_limit",
        "greekfire_cycle_phase_duration_seconds_bucket",
        "greekfire_cycles_total",
        "greekfire_cycle_errors_total",
        "greekfire_cache_hits_total",
        "greekfire_cache_misses_total",
        "greekfire_api_requests_total",
        "greekfire_api_errors_total",
        "greekfire_process_cpu_usage_ratio",
        "greekfire_process_resident_memory_bytes",
        "greekfire_fills_total",
        "greekfire_kill_switch_tripped",
        "greekfire_entries_paused",
    }
    assert wanted <= referenced, f"no panel shows {sorted(wanted - referenced)}"
    quantiles = [e for _, e in all_exprs() if "histogram_quantile" in e and "phase" in e]
    assert quantiles, "no cycle-time-by-phase panel (histogram_quantile over the phases)"


def test_every_query_names_a_series_the_live_bot_exports(bot: RunningBot) -> None:
    text = bot.metrics_text()
    families = exported_families(text)
    for title, expr in all_exprs():
        names = promql_metric_names(expr)
        assert names, f"{title}: no metric in {expr!r}"
        unknown = {n for n in names - {"up"} if base_metric_name(n, families) is None}
        assert not unknown, f"{title!r}: {expr!r} names series the bot does not export: {unknown}"


def test_the_metric_name_reader_sees_through_promql() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (phase, le) (rate(a_seconds_bucket{phase=~"f.*"}'
        "[$__rate_interval]))) / on (job) group_left (x) b_total offset 5m > bool 2e9 "
        "or vector(0) unless c:recorded @ 1609746000 offset -1h"
    )
    assert promql_metric_names(expr) == {"a_seconds_bucket", "b_total", "c:recorded"}
    with pytest.raises(ValueError, match="unknown PromQL function"):
        promql_metric_names("nonsense(x)")
    with pytest.raises(ValueError, match="unbalanced"):
        promql_metric_names("sum(rate(x[1m])")
    families = {"h_seconds": "histogram", "g": "gauge"}
    assert base_metric_name("h_seconds_bucket", families) == "h_seconds"
    assert base_metric_name("g_sum", families) is None


@pytest.mark.service
def test_a_real_prometheus_accepts_every_query_and_answers_the_core_panels(
    prometheus: RunningPrometheus | None, require_service: Callable[..., None]
) -> None:
    require_service("prometheus", prometheus is not None, "apt-get install prometheus")
    assert prometheus is not None
    for title, expr in all_exprs():
        payload = prometheus.api("query", query=grafana_to_promql(expr))
        assert payload["status"] == "success", f"{title!r}: {expr!r}: {payload.get('error')}"

    def answered(expr: str) -> bool:
        return bool(prometheus.query(grafana_to_promql(expr)))

    wait_for(lambda: answered("greekfire_equity_usd"), 30, "a scrape of the account gauges")
    core = {
        title: expr
        for title, expr in all_exprs()
        if title in {"Equity", "Cash", "Buying power", "Kill switch", "Bot up", "Memory (RSS)"}
        or "histogram_quantile(0.95, sum by (phase" in expr
    }
    assert len(core) >= 7
    wait_for(
        lambda: all(answered(e) for e in core.values()),
        30,
        f"data for every core panel: {sorted(core)}",
    )


def provisioned_datasource() -> dict[str, Any]:
    document = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))
    (source,) = document["datasources"]
    assert isinstance(source, dict)
    return source


def test_the_provisioned_datasource_is_the_one_the_panels_use() -> None:
    source = provisioned_datasource()
    assert source["type"] == "prometheus"
    assert source["url"] == "http://127.0.0.1:9090"  # where docs/OBSERVABILITY.md runs it
    uids = {p["datasource"]["uid"] for p in query_panels()}
    assert uids == {source["uid"]}


def test_the_dashboard_provider_loads_the_folder_the_docs_mount() -> None:
    document = yaml.safe_load(PROVIDERS.read_text(encoding="utf-8"))
    (provider,) = document["providers"]
    assert provider["type"] == "file"
    path = provider["options"]["path"]
    docs = (REPO / "docs" / "OBSERVABILITY.md").read_text(encoding="utf-8")
    # the docs put deploy/grafana/dashboards (which holds greekfire.json) at that path
    assert f"deploy/grafana/dashboards:{path}" in docs
    assert DASHBOARD_PATH.parent.name == "dashboards"
    assert "deploy/grafana/provisioning:/etc/grafana/provisioning" in docs
