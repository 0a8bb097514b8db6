"""The LoggingPipeline CRD made from the tenant model: structural, as Kubernetes requires (the
real API server accepting it is in tests/integration/test_operator.py), and complete."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import re2

from streams.steps import STEPS
from topology.crd import crd, structural
from topology.model import Tenant

FORBIDDEN = {"$ref", "$defs", "anyOf", "oneOf", "allOf", "const", "default", "examples", "title"}


def schema() -> dict[str, Any]:
    version = crd()["spec"]["versions"][0]
    found: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return found


def nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from nodes(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from nodes(node["additionalProperties"], f"{path}{{}}")


def test_every_node_is_structural() -> None:
    for path, node in nodes(schema()):
        assert not FORBIDDEN & set(node), (path, FORBIDDEN & set(node))
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), path
        assert not ("properties" in node and "additionalProperties" in node), path
        if "pattern" in node:
            re2.compile(node["pattern"])  # the API server compiles it with Go's RE2


def test_the_spec_is_the_tenant_model_but_its_name() -> None:
    spec = schema()["properties"]["spec"]
    assert set(spec["properties"]) == set(Tenant.model_fields) - {"name"}
    assert "name" not in spec.get("required", [])
    assert spec["required"] == ["owners"]
    owners = spec["properties"]["owners"]
    assert set(owners["required"]) == {"team", "slack_channel", "webhook_secret"}
    limits = spec["properties"]["limits"]["properties"]["produce_bytes_per_s"]
    assert (limits["type"], limits["minimum"], limits["maximum"]) == ("integer", 1024, 104857600)


def test_every_step_is_accepted_by_its_name_and_only_the_fields_of_some_step() -> None:
    steps = schema()["properties"]["spec"]["properties"]["pipeline"]["items"]
    assert sorted(steps["properties"]["step"]["enum"]) == sorted(STEPS)
    assert steps["required"] == ["step"]


def test_a_union_of_a_string_and_a_list_keeps_any_value() -> None:
    sample = schema()["properties"]["spec"]["properties"]["samples"]["items"]
    assert sample["properties"]["input"]["x-kubernetes-preserve-unknown-fields"] is True


def test_nullable_and_exclusive_bounds_are_openapi_v3() -> None:
    converted = structural(
        {
            "type": "object",
            "properties": {
                "a": {"anyOf": [{"type": "integer", "exclusiveMinimum": 0}, {"type": "null"}]}
            },
        }
    )
    assert converted["properties"]["a"] == {
        "type": "integer",
        "minimum": 0,
        "exclusiveMinimum": True,
        "nullable": True,
    }


def test_the_name_is_checked_as_a_tenant_name_and_the_columns_show_readiness() -> None:
    [rule] = schema()["x-kubernetes-validations"]
    assert "self.metadata.name.matches(" in rule["rule"]
    assert "!self.metadata.name.startsWith('logway')" in rule["rule"]
    columns = {
        c["name"]: c["jsonPath"] for c in crd()["spec"]["versions"][0]["additionalPrinterColumns"]
    }
    assert columns["Ready"] == '.status.conditions[?(@.type=="Ready")].status'
    assert columns["Version"] == ".status.liveVersion"


def test_the_example_resources_are_valid_tenants() -> None:
    from pathlib import Path

    import yaml

    from topology.crd import API_VERSION, KIND
    from topology.load import load_document

    examples = sorted((Path(__file__).parents[3] / "examples" / "kubernetes").glob("*.yaml"))
    assert examples
    for example in examples:
        body = yaml.safe_load(example.read_text())
        assert (body["apiVersion"], body["kind"]) == (API_VERSION, KIND)
        loaded = load_document(str(example), {"name": body["metadata"]["name"], **body["spec"]})
        assert loaded.errors == [], example
