"""Monitoring files agree with the bot: every metric an alert or a dashboard panel reads is one the
bot exports, every alert has promtool tests, the dashboard uses the provisioned data source.
(`promtool test rules` itself runs in .ci/run.)"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from bot.metrics import Metrics

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
MONITORING = DEPLOY / "monitoring"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "detectx.json"
# Exported by the durable inbox (agreed names; the alerts and the dashboard already use them).
INBOX_METRICS = {"detectx_inbox_backlog", "detectx_inbox_oldest_pending_age_seconds"}
HISTOGRAM_SERIES = re.compile(r"_(bucket|count|sum)$")
METRIC_NAME = re.compile(r"\bdetectx_[a-z_]+\b")


def _exported_series() -> set[str]:
    """Series names as Prometheus stores them (a counter's name ends in _total), also for
    labelled metrics that have no sample yet."""
    families = Metrics().registry.collect()
    return {f"{f.name}_total" if f.type == "counter" else f.name for f in families}


def _alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def _names(exprs: list[str]) -> set[str]:
    return {name for expr in exprs for name in METRIC_NAME.findall(expr)}


def test_alerts_and_dashboard_read_only_metrics_the_bot_exports() -> None:
    exported = _exported_series() | INBOX_METRICS
    used = _names([r["expr"] for r in _alert_rules()] + _dashboard_exprs())
    assert used, "no detectx metric found"
    unknown = {n for n in used if n not in exported and HISTOGRAM_SERIES.sub("", n) not in exported}
    assert not unknown, f"not exported by bot/metrics.py: {sorted(unknown)}"


def test_metric_names_follow_prometheus_conventions() -> None:
    for family in Metrics().registry.collect():
        assert family.name.startswith("detectx_")
        if family.type == "counter":
            assert not family.name.endswith("_total"), "the client adds _total itself"
        if family.type == "histogram":
            assert family.name.endswith("_seconds"), family.name


def test_the_alerts_cover_what_an_operator_is_paged_for_and_each_has_a_promtool_test() -> None:
    names = {rule["alert"] for rule in _alert_rules()}
    assert {
        "DetectXBotDown",
        "DetectXTFServingUnavailable",
        "DetectXInboxBacklogOld",
        "DetectXDetectionFailureRate",
        "DetectXLatencyP95High",
        "DetectXDatabaseErrors",
        "DetectXTelegramRateLimited",
    } <= names
    tests = yaml.safe_load((MONITORING / "alerts_test.yml").read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test["alert_rule_test"]}
    assert names <= tested, f"alerts without a promtool test: {sorted(names - tested)}"
    for rule in _alert_rules():
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]


def test_the_dashboard_uses_the_provisioned_data_source_and_unique_panel_ids() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    (source,) = yaml.safe_load(
        (MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    panels = dashboard["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        assert panel["targets"] and panel["description"], panel["title"]


def test_prometheus_configs_load_the_alert_rules_and_scrape_both_jobs() -> None:
    jobs_in_alerts = set(re.findall(r'job="([^"]+)"', (MONITORING / "alerts.yml").read_text()))
    for config_file in ("prometheus.yml", "prometheus-kubernetes.yml"):
        config = yaml.safe_load((MONITORING / config_file).read_text())
        assert config["rule_files"] == ["alerts.yml"]
        jobs = {job["job_name"] for job in config["scrape_configs"]}
        assert jobs_in_alerts <= jobs, config_file
