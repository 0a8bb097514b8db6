"""The node agents logway renders a configuration for, by name: Fluent Bit and Fluentd
(`topology.forwarder`), and the OpenTelemetry Collector (`topology.otel_collector`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

from topology.forwarder import KafkaLogin, render_fluent_bit, render_fluentd
from topology.model import Tenant
from topology.otel_collector import render_otel_collector

Agent = Literal["fluent-bit", "fluentd", "otel-collector"]
AGENTS: tuple[Agent, ...] = get_args(Agent)
CONFIG_FILE: dict[Agent, str] = {
    "fluent-bit": "fluent-bit.conf",
    "fluentd": "fluent.conf",
    "otel-collector": "otel-collector.yaml",
}


def render(tenants: Sequence[Tenant], agent: Agent, login: KafkaLogin = "none") -> str:
    """The agent's whole configuration for these tenants."""
    if agent == "fluent-bit":
        return render_fluent_bit(tenants, login)
    if agent == "fluentd":
        return render_fluentd(tenants, login)
    return render_otel_collector(tenants, login)
