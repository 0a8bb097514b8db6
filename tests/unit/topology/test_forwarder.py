"""Forwarder routing: golden files, and the rendered rules routing real tags as the tenants say.

Regenerate the golden files after an intended change with:
  logway render forwarder examples/tenants -o tests/golden/forwarder/fluent-bit.conf
  logway render forwarder --format fluentd examples/tenants -o tests/golden/forwarder/fluentd.conf
  logway render forwarder --format otel-collector examples/tenants \
    -o tests/golden/forwarder/otel-collector.yaml
and, for each LOGIN of scram and tls, with `--kafka-login LOGIN` into `<format>-LOGIN.<ext>`.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest
import yaml

from logway.core.names import raw_topic
from topology.agents import render
from topology.forwarder import UNCLAIMED_TOPIC
from topology.load import load_tenants
from topology.model import Tenant

ROOT = Path(__file__).parents[3]
GOLDEN = ROOT / "tests" / "golden" / "forwarder"
TENANTS = [t.tenant for t in load_tenants([ROOT / "examples" / "tenants"]).tenants]
CONTAINER_ID = "0123456789abcdef" * 4


@pytest.mark.parametrize("fmt", ["fluent-bit", "fluentd", "otel-collector"])
@pytest.mark.parametrize("login", ["none", "scram", "tls"])
def test_rendering_the_examples_matches_the_golden_file(fmt: str, login: str) -> None:
    ext = "yaml" if fmt == "otel-collector" else "conf"
    golden = GOLDEN / (f"{fmt}.{ext}" if login == "none" else f"{fmt}-{login}.{ext}")
    assert render(TENANTS, fmt, login) == golden.read_text()  # type: ignore[arg-type]


def fluent_bit_outputs(config: str) -> list[tuple[re.Pattern[str], str]]:
    outputs = []
    for block in config.split("[OUTPUT]")[1:]:
        settings = dict(line.split(None, 1) for line in block.strip().splitlines())
        outputs.append((re.compile(settings["Match_Regex"]), settings["Topics"]))
    return outputs


def fluent_bit_tag(config: str, path: str) -> str:
    """The tag Fluent Bit's tail input gives a file, from the rendered Tag and Tag_Regex."""
    settings = dict(
        line.split(None, 1)
        for line in config.split("[INPUT]")[1].split("\n\n", maxsplit=1)[0].strip().splitlines()
    )
    pattern = re.compile(settings["Tag_Regex"].replace("(?<", "(?P<"))
    match = pattern.match(path)
    assert match, f"Tag_Regex does not match {path}"
    return re.sub(r"<(\w+)>", lambda m: match.group(m.group(1)), settings["Tag"])


def expected_topic(namespace: str, tenants: list[Tenant]) -> str:
    owners = [t for t in tenants if namespace in t.sources.namespaces]
    return raw_topic(owners[0].name) if owners else UNCLAIMED_TOPIC


NAMESPACES = [
    *sorted({ns for t in TENANTS for ns in t.sources.namespaces}),
    "kube-system",
    "payments-eu",  # claimed by nobody, though 'payments' is a prefix of it
    "pay",
]


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_fluent_bit_sends_each_namespace_to_exactly_its_tenant(namespace: str) -> None:
    config = render(TENANTS, "fluent-bit")
    path = f"/var/log/containers/web-7d9f8-x2x_{namespace}_app-{CONTAINER_ID}.log"
    tag = fluent_bit_tag(config, path)
    assert tag == f"kube.{namespace}.web-7d9f8-x2x.app"
    topics = [topic for regex, topic in fluent_bit_outputs(config) if regex.match(tag)]
    assert topics == [expected_topic(namespace, TENANTS)]


def fluentd_routes(config: str) -> list[tuple[list[re.Pattern[str]], str]]:
    routes = []
    for block in re.findall(r"<match ([^>]+)>(.*?)</match>", config, re.DOTALL):
        patterns, body = block
        topic = re.search(r"default_topic (\S+)", body)
        assert topic
        compiled = [
            re.compile("^" + re.escape(p).replace(r"\*\*", ".*").replace(r"\*", r"[^.]*") + "$")
            for p in patterns.split()
        ]
        routes.append((compiled, topic.group(1)))
    return routes


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_fluentd_sends_each_namespace_to_exactly_its_tenant(namespace: str) -> None:
    # tail's `tag kube.*` puts the file path, slashes as dots, after `kube.`.
    tag = f"kube.var.log.containers.web-7d9f8-x2x_{namespace}_app-{CONTAINER_ID}.log"
    first = next(
        topic
        for patterns, topic in fluentd_routes(render(TENANTS, "fluentd"))
        if any(p.match(tag) for p in patterns)
    )
    assert first == expected_topic(namespace, TENANTS)


def collector_topics(config: str, path: str) -> list[str]:
    """The topics the rendered collector sends a file to: every pipeline whose receiver
    includes the file and does not exclude it (the globs as the receiver matches them)."""
    parsed = yaml.safe_load(config)
    topics = []
    for pipeline in parsed["service"]["pipelines"].values():
        [receiver], [exporter] = pipeline["receivers"], pipeline["exporters"]
        settings = parsed["receivers"][receiver]
        if any(fnmatch.fnmatchcase(path, glob) for glob in settings["include"]) and not any(
            fnmatch.fnmatchcase(path, glob) for glob in settings.get("exclude", [])
        ):
            topics.append(parsed["exporters"][exporter]["logs"]["topic"])
    return topics


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_the_collector_sends_each_namespace_to_exactly_its_tenant(namespace: str) -> None:
    config = render(TENANTS, "otel-collector")
    folder = f"/var/log/pods/{namespace}_web-7d9f8-x2x_0b7c9e2a-1f3d-4c5e-9a8b-7c6d5e4f3a2b/app"
    for name in ("0.log", "0.log.20261206-233000"):  # and once the kubelet rotated it
        path = f"{folder}/{name}"
        assert collector_topics(config, path) == [expected_topic(namespace, TENANTS)]
    assert collector_topics(config, f"{folder}/0.log.20261206-233000.gz") == []


def test_the_collector_gives_each_tenant_its_client_id_and_record_size() -> None:
    parsed = yaml.safe_load(render(TENANTS, "otel-collector", "scram"))
    for tenant in TENANTS:
        exporter = parsed["exporters"][f"kafka/{tenant.name}"]
        assert exporter["client_id"] == tenant.name  # the tenant's produce quota applies
        assert exporter["producer"]["max_message_bytes"] == tenant.topics.max_record_bytes
        assert exporter["auth"]["sasl"]["username"] == "${env:KAFKA_USERNAME}"
        assert exporter["retry_on_failure"] == {"max_elapsed_time": 0}


def test_with_no_namespace_claimed_everything_is_unclaimed() -> None:
    config = render([], "fluent-bit")
    assert fluent_bit_outputs(config) == [(re.compile(r"^kube\..*"), UNCLAIMED_TOPIC)]
