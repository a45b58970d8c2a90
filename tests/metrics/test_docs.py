"""docs/metrics.md is true: its TOML examples are valid settings, its table names every metric a
scrape shows (and nothing else), and its alert rules use documented names."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from faktory_core.plugins.metrics.settings import metrics_settings, statsd_settings

from ..redis import either_store  # noqa: TID252
from ..redis.either_store import Running  # noqa: TID252
from .support import get, start_metrics

module_redis = either_store.module_redis
serve = either_store.serve

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
TEXT = DOC.read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}[ \t]*\n(.*?)^```[ \t]*$", TEXT, re.M | re.S)


def table(heading: str) -> dict[str, str]:
    """First column (unquoted) → type column of the table under ``heading``."""
    part = TEXT.split(heading, 1)[1]
    found = {}
    for line in part.splitlines():
        if not line.startswith("| `"):
            if found:
                break
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        found[cells[0].strip("`")] = cells[1]
    return found


def test_the_toml_examples_are_valid() -> None:
    toml = blocks("toml")
    assert len(toml) == 2
    settings = metrics_settings(tomllib.loads(toml[0]))
    assert settings.listen == "0.0.0.0:9420"
    assert settings.open
    statsd = statsd_settings(tomllib.loads(toml[1]), {})
    assert statsd is not None
    assert statsd.address == ("udp", "localhost", 8125)
    assert statsd.queue_latency == ("critical", "default")


def test_every_metric_of_a_scrape_is_documented(serve: Callable[..., Running]) -> None:
    metrics = start_metrics(serve)
    conn = metrics.conn()
    for outcome in ("ack", "fail"):
        jid = metrics.push(conn, "Documented")
        metrics.fetch(conn)
        getattr(metrics, outcome)(conn, jid)
    status, _, body = get(metrics.url("/metrics"))
    assert status == 200
    families = {
        family.name + ("_total" if family.type == "counter" else ""): family.type
        for family in text_string_to_metric_families(body)
    }
    documented = table("### Every metric")
    assert families == documented
    conn.close()


def test_the_known_plugin_counters_follow_the_pattern() -> None:
    names = table("The ones known:")
    assert names
    assert all(re.fullmatch(r"faktory_[a-z_]+_total", name) for name in names)


def test_the_alert_rules_use_documented_names() -> None:
    documented = set(table("### Every metric"))
    used = set(re.findall(r"\bfaktory_[a-z_]+", "".join(blocks("yaml"))))
    assert used
    assert used <= documented
