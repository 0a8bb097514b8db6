"""Forwarder routing: golden files, and the rendered rules routing real tags as the tenants say.

Regenerate the golden files after an intended change with:
  logway render forwarder examples/tenants -o tests/golden/forwarder/fluent-bit.conf
  logway render forwarder --format fluentd examples/tenants -o tests/golden/forwarder/fluentd.conf
and, for each LOGIN of scram and tls, with `--kafka-login LOGIN` into `<format>-LOGIN.conf`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from logway.core.names import raw_topic
from topology.forwarder import UNCLAIMED_TOPIC, render
from topology.load import load_tenants
from topology.model import Tenant

ROOT = Path(__file__).parents[3]
GOLDEN = ROOT / "tests" / "golden" / "forwarder"
TENANTS = [t.tenant for t in load_tenants([ROOT / "examples" / "tenants"]).tenants]
CONTAINER_ID = "0123456789abcdef" * 4


@pytest.mark.parametrize("fmt", ["fluent-bit", "fluentd"])
@pytest.mark.parametrize("login", ["none", "scram", "tls"])
def test_rendering_the_examples_matches_the_golden_file(fmt: str, login: str) -> None:
    golden = GOLDEN / (f"{fmt}.conf" if login == "none" else f"{fmt}-{login}.conf")
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


def test_with_no_namespace_claimed_everything_is_unclaimed() -> None:
    config = render([], "fluent-bit")
    assert fluent_bit_outputs(config) == [(re.compile(r"^kube\..*"), UNCLAIMED_TOPIC)]
