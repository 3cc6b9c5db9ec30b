"""The shipped Prometheus files pass promtool, and a real Prometheus scrapes a live bot."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from observability_support import (
    PROMETHEUS_DIR,
    RunningBot,
    RunningPrometheus,
    base_metric_name,
    exported_families,
    promql_metric_names,
    wait_for,
)

pytestmark = pytest.mark.integration

ALERTS = PROMETHEUS_DIR / "alerts.yml"


def promtool_run(promtool: str, *args: str, cwd: Path = PROMETHEUS_DIR) -> str:
    result = subprocess.run(
        [promtool, *args], capture_output=True, text=True, timeout=120, check=False, cwd=cwd
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"promtool {' '.join(args)} failed:\n{output}"
    return output


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


@pytest.mark.service
def test_promtool_check_config_passes_on_the_shipped_config(promtool: str) -> None:
    output = promtool_run(promtool, "check", "config", "prometheus.yml")
    assert "is valid prometheus config file syntax" in output
    assert "1 rule files found" in output  # alerts.yml is found and loaded with it


@pytest.mark.service
def test_promtool_check_rules_passes_on_the_shipped_alerts(promtool: str) -> None:
    output = promtool_run(promtool, "check", "rules", "alerts.yml")
    assert f"SUCCESS: {len(alert_rules())} rules found" in output


@pytest.mark.service
def test_the_alert_unit_tests_pass(promtool: str) -> None:
    output = promtool_run(promtool, "test", "rules", "alerts_test.yml")
    assert "SUCCESS" in output


def test_every_alert_has_a_duration_a_severity_and_words_for_a_human() -> None:
    rules = alert_rules()
    names = {rule["alert"] for rule in rules}
    wanted = {
        "GreekfireBotDown",
        "GreekfireCycleLatencyHigh",
        "GreekfireCycleErrors",
        "GreekfireApiErrorRate",
        "GreekfireKillSwitchTripped",
        "GreekfireMemoryHigh",
    }
    assert wanted <= names
    for rule in rules:
        assert rule.get("for"), f"{rule['alert']}: no 'for:'"
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert len(rule["annotations"]["description"]) > 40, rule["alert"]


def test_the_alerts_refer_only_to_series_a_live_bot_exports(bot: RunningBot) -> None:
    families = exported_families(bot.metrics_text())
    for rule in alert_rules():
        names = promql_metric_names(rule["expr"])
        assert names, f"{rule['alert']}: no metric in {rule['expr']!r}"
        # up is made by Prometheus for every target, not exported by the bot
        unknown = {n for n in names - {"up"} if base_metric_name(n, families) is None}
        assert not unknown, f"{rule['alert']} refers to series the bot does not export: {unknown}"


def _value(result: list[dict[str, Any]]) -> float:
    assert len(result) == 1, result
    return float(result[0]["value"][1])


@pytest.mark.service
def test_a_real_prometheus_scrapes_the_bot_and_answers_queries(
    prometheus: RunningPrometheus | None, bot: RunningBot, require_service: Callable[..., None]
) -> None:
    require_service("prometheus", prometheus is not None, "apt-get install prometheus")
    assert prometheus is not None

    def scraped_twice() -> bool:
        # two scrapes with cycles in between: rates and increases have something to work on
        result = prometheus.query('count_over_time(greekfire_cycles_total{job="greekfire"}[1m])')
        return bool(result) and float(result[0]["value"][1]) >= 3

    wait_for(scraped_twice, 60, "three scrapes of greekfire_cycles_total")

    targets = prometheus.api("targets")["data"]["activeTargets"]
    assert [(t["labels"]["job"], t["health"]) for t in targets] == [("greekfire", "up")]
    assert targets[0]["scrapeUrl"] == bot.metrics_url
    assert _value(prometheus.query('up{job="greekfire"}')) == 1.0

    cycles = _value(prometheus.query("greekfire_cycles_total"))
    assert cycles > 0
    assert cycles <= bot.cycles  # what Prometheus saw the bot had done, never more
    wait_for(
        lambda: _value(prometheus.query("increase(greekfire_cycles_total[30s])")) > 0,
        30,
        "the cycle counter to move between scrapes",
    )

    buckets = prometheus.query('greekfire_cycle_phase_duration_seconds_bucket{phase="fetch"}')
    assert {b["metric"]["le"] for b in buckets} >= {"0.1", "1.0", "+Inf"}
    phases = prometheus.query(
        "histogram_quantile(0.95, sum by (phase, le) "
        "(rate(greekfire_cycle_phase_duration_seconds_bucket[30s])))"
    )
    by_phase = {p["metric"]["phase"]: float(p["value"][1]) for p in phases}
    assert {"fetch", "strategies", "risk", "orders", "journal"} <= set(by_phase)
    assert all(v >= 0 for v in by_phase.values() if v == v)  # NaN: no run in the window

    assert _value(prometheus.query("greekfire_equity_usd")) > 0
    assert _value(prometheus.query("greekfire_process_resident_memory_bytes")) > 10e6
    assert _value(prometheus.query("greekfire_kill_switch_tripped")) == 0.0

    # the shipped alert rules are loaded and evaluated; none fires on a healthy bot
    groups = prometheus.api("rules")["data"]["groups"]
    loaded = {rule["name"]: rule for group in groups for rule in group["rules"]}
    assert {rule["alert"] for rule in alert_rules()} == set(loaded)
    wait_for(
        lambda: all(
            r["health"] == "ok"
            for g in prometheus.api("rules")["data"]["groups"]
            for r in g["rules"]
        ),
        30,
        "every alert rule to be evaluated without error",
    )
    firing = [a for a in prometheus.api("alerts")["data"]["alerts"] if a["state"] == "firing"]
    assert firing == []
