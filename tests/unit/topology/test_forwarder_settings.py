"""Every setting `logway render forwarder` writes is one the forwarder's plugin documents, and
every librdkafka property it passes is one librdkafka takes.

The plugin lists are in `tests/golden/forwarder/plugin-settings.json`, with the pages they come
from. Fluent Bit and Fluentd do not run here, so the librdkafka part goes through the real
librdkafka (confluent-kafka's): a producer is built from exactly what the forwarder would hand
it, and librdkafka refuses any property or value it does not know.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaException, Producer

from topology.agents import render
from topology.forwarder import KAFKA_LOGINS, KafkaLogin
from topology.load import load_tenants

ROOT = Path(__file__).parents[3]
ACCEPTED = json.loads((ROOT / "tests/golden/forwarder/plugin-settings.json").read_text())
TENANTS = [t.tenant for t in load_tenants([ROOT / "examples" / "tenants"]).tenants]


def fluent_bit_sections(config: str) -> list[tuple[str, dict[str, str]]]:
    """("INPUT tail", {key: value}) for each section, keys lower-cased as Fluent Bit reads them."""
    sections: list[tuple[str, dict[str, str]]] = []
    for line in config.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("["):
            sections.append((stripped.strip("[]"), {}))
            continue
        key, value = stripped.split(None, 1)
        sections[-1][1][key.lower()] = value
    return [
        (f"{kind} {settings['name']}" if "name" in settings and kind != "SERVICE" else kind, s)
        for kind, settings in sections
        for s in [settings]
    ]


def fluentd_sections(config: str) -> list[tuple[str, dict[str, str]]]:
    """("match rdkafka2", {param: value}) for each directive and sub-section."""
    done: list[tuple[str, dict[str, str]]] = []
    stack: list[tuple[str, dict[str, str]]] = []
    for line in config.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("</"):
            kind, params = stack.pop()
            name = f"{kind} {params['@type']}" if "@type" in params else kind
            done.append((name, params))
        elif stripped.startswith("<"):
            stack.append((stripped[1:].split(None, 1)[0].rstrip(">"), {}))
        else:
            key, value = stripped.split(None, 1)
            stack[-1][1][key] = value
    assert not stack, f"unclosed sections: {stack}"
    return done


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate, for librdkafka to load where a real one would be."""
    folder = tmp_path_factory.mktemp("pem")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=check", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def librdkafka_accepts(properties: dict[str, Any], pem: tuple[Path, Path]) -> None:
    """Build a librdkafka producer from the forwarder's properties: secrets stand-ins for
    environment references, a real certificate for every file the chart would mount."""
    cert, key = pem
    files = {"ssl.ca.location": cert, "ssl.certificate.location": cert, "ssl.key.location": key}
    ready = {
        name: str(files[name]) if name in files else re.sub(r"\$\{\w+\}|#\{ENV\['\w+'\]\}", "x", v)
        for name, v in properties.items()
    }
    try:
        Producer(ready).flush(0)
    except KafkaException as exc:
        pytest.fail(f"librdkafka refuses the forwarder's settings {ready}: {exc}")


@pytest.mark.parametrize("login", KAFKA_LOGINS)
def test_fluent_bit_writes_only_settings_its_plugins_document(
    login: KafkaLogin, pem: tuple[Path, Path]
) -> None:
    documented = ACCEPTED["fluent-bit"]
    sections = fluent_bit_sections(render(TENANTS, "fluent-bit", login))
    assert [name for name, _ in sections].count("OUTPUT kafka") == 4  # 3 tenants, unclaimed
    for name, settings in sections:
        for key, value in settings.items():
            if name == "OUTPUT kafka" and key.startswith("rdkafka."):
                continue
            assert key in documented[name], f"[{name}] {key} is not a documented setting"
            allowed = documented["values"].get(f"{name} {key}")
            assert allowed is None or value in allowed, f"[{name}] {key} {value}"
        if name == "OUTPUT kafka":
            rdkafka = {
                k.removeprefix("rdkafka."): v
                for k, v in settings.items()
                if k.startswith("rdkafka.")
            }
            librdkafka_accepts({"bootstrap.servers": "127.0.0.1:1", **rdkafka}, pem)


@pytest.mark.parametrize("login", KAFKA_LOGINS)
def test_fluentd_writes_only_parameters_its_plugins_declare(
    login: KafkaLogin, pem: tuple[Path, Path]
) -> None:
    documented = ACCEPTED["fluentd"]
    to_librdkafka = documented["rdkafka2 to librdkafka"]
    sections = fluentd_sections(render(TENANTS, "fluentd", login))
    assert [name for name, _ in sections].count("match rdkafka2") == 4
    for name, params in sections:
        for key in params:
            assert key in documented[name], f"<{name}> {key} is not a declared parameter"
        if name == "match rdkafka2":
            # What rdkafka2's build_config hands librdkafka: its mapped parameters, then
            # rdkafka_options on top.
            mapped = {
                to_librdkafka[k]: v.strip('"') for k, v in params.items() if k in to_librdkafka
            }
            mapped["bootstrap.servers"] = "127.0.0.1:1"
            librdkafka_accepts({**mapped, **json.loads(params["rdkafka_options"])}, pem)


def test_a_misspelt_property_or_a_wrong_value_is_caught(pem: tuple[Path, Path]) -> None:
    """The check above can fail: librdkafka refuses what it does not know."""
    with pytest.raises(pytest.fail.Exception, match="mechanismz"):
        librdkafka_accepts({"sasl.mechanismz": "SCRAM-SHA-512"}, pem)
    with pytest.raises(pytest.fail.Exception, match=r"security\.protocol"):
        librdkafka_accepts({"security.protocol": "SCRAM_SSL"}, pem)
