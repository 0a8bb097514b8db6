"""docs/metrics.md and logway/core/metrics.py describe the same metrics, and follow the rules."""

import re
from pathlib import Path

from prometheus_client import REGISTRY

import logway.core.metrics  # noqa: F401 - registers the metrics
from logway.core.metrics import TenantMeters

SPEC = (Path(__file__).parents[3] / "docs" / "metrics.md").read_text()
BOUNDED_LABELS = {"component", "tenant", "outcome", "reason", "step", "version"}
NAME = re.compile(r"^logway_[a-z_]+$")


def documented() -> dict[str, set[str]]:
    rows = re.findall(r"^\| `(logway_[a-z_]+)` \| \w+ \| ([^|]+) \|", SPEC, re.MULTILINE)
    return {name: set(re.findall(r"`(\w+)`", labels)) for name, labels in rows}


def exported() -> dict[str, set[str]]:
    found = {}
    for collector in list(REGISTRY._collector_to_names):
        name = getattr(collector, "_name", "")
        if not name.startswith("logway"):
            continue
        kind = getattr(collector, "_type", "")
        full = {"counter": f"{name}_total", "info": f"{name}_info"}.get(kind, name)
        found[full] = set(getattr(collector, "_labelnames", ())) | (
            {"version"} if kind == "info" else set()
        )
    return found


def test_the_spec_and_the_code_list_the_same_metrics_with_the_same_labels() -> None:
    assert documented() == exported()


def test_names_and_labels_follow_the_rules() -> None:
    for name, labels in exported().items():
        assert NAME.match(name), name
        assert labels <= BOUNDED_LABELS, (name, labels - BOUNDED_LABELS)


def test_meters_count_in_and_out_per_tenant() -> None:
    meters = TenantMeters("sink")
    before = REGISTRY.get_sample_value(
        "logway_records_out_total", {"component": "sink", "tenant": "spec-t", "outcome": "indexed"}
    )
    meters.read("spec-t", 120)
    meters.finished("spec-t", "indexed")
    meters.dead_lettered("spec-t", "mapping_conflict", 2)
    sample = REGISTRY.get_sample_value
    assert sample("logway_records_in_total", {"component": "sink", "tenant": "spec-t"}) == 1
    assert sample("logway_bytes_in_total", {"component": "sink", "tenant": "spec-t"}) == 120
    assert before is None
    out = {"component": "sink", "tenant": "spec-t"}
    assert sample("logway_records_out_total", {**out, "outcome": "indexed"}) == 1
    assert sample("logway_records_out_total", {**out, "outcome": "dead_lettered"}) == 2
    assert sample("logway_dead_letters_total", {**out, "reason": "mapping_conflict"}) == 2


def test_a_busy_metrics_port_is_a_clear_error() -> None:
    import socket

    import pytest

    from logway.core.metrics import serve

    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit, match=f"cannot serve /metrics on port {port}"):
            serve(port, "sink", "test")
