"""The `LoggingPipeline` custom resource: a tenant declared as a Kubernetes object.

The resource's name is the tenant's name and its `spec` is the tenant model, so its OpenAPI
schema is generated here from the pydantic model: one source for `logway validate`, the JSON
Schema, the docs and the CRD. Kubernetes needs a *structural* schema, which is narrower than
JSON Schema, so the conversion:

- inlines every `$ref`; turns `anyOf [X, null]` into X with `nullable`;
- merges a union of objects (the pipeline's steps) into one object with every branch's fields,
  and gives any other union (a sample's `input`: a string or a list) no type but
  `x-kubernetes-preserve-unknown-fields`;
- keeps types, descriptions, enums, bounds and the patterns RE2 can compile; drops defaults
  (pydantic fills them in, the stored object stays as the team wrote it), examples and titles.

What the schema cannot say (cross-field rules, the samples' dry run, claims against other
teams) the operator's admission webhook and reconciler check with the model itself.
"""

from __future__ import annotations

from typing import Any

import re2

from logway.core.names import TENANT_NAME
from topology.model import Tenant

GROUP = "logway.dev"
VERSION = "v1alpha1"
KIND = "LoggingPipeline"
PLURAL = "loggingpipelines"
SINGULAR = "loggingpipeline"
SHORT_NAMES = ("lp",)
CRD_NAME = f"{PLURAL}.{GROUP}"
API_VERSION = f"{GROUP}/{VERSION}"

Schema = dict[str, Any]
KEPT = (
    "description",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
)


def crd() -> Schema:
    """The CustomResourceDefinition, ready for `kubectl apply` (or the chart's `crds/`)."""
    spec = structural(Tenant.model_json_schema(), drop=("name",))
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
                "categories": ["logway"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": _root(spec)},
                }
            ],
        },
    }


def _condition(kind: str, field: str) -> str:
    return f'.status.conditions[?(@.type=="{kind}")].{field}'


PRINTER_COLUMNS = [
    {"name": "Ready", "type": "string", "jsonPath": _condition("Ready", "status")},
    {"name": "Reason", "type": "string", "jsonPath": _condition("Ready", "reason")},
    {"name": "Version", "type": "string", "jsonPath": ".status.liveVersion"},
    {"name": "Index", "type": "string", "jsonPath": ".status.indexPattern", "priority": 1},
    {
        "name": "Message",
        "type": "string",
        "jsonPath": _condition("Ready", "message"),
        "priority": 1,
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]

CONDITION: Schema = {
    "type": "object",
    "required": ["type", "status"],
    "properties": {
        "type": {"type": "string", "description": "Validated, Applied or Ready."},
        "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
        "reason": {"type": "string", "description": "One word, CamelCase: why."},
        "message": {"type": "string", "description": "What is wrong, at which field."},
        "observedGeneration": {"type": "integer"},
        "lastTransitionTime": {"type": "string", "format": "date-time"},
    },
}

STATUS: Schema = {
    "type": "object",
    "description": "Written by the operator only.",
    "properties": {
        "observedGeneration": {
            "type": "integer",
            "description": "The generation of the spec the conditions are about.",
        },
        "conditions": {
            "type": "array",
            "items": CONDITION,
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
        "liveVersion": {
            "type": "string",
            "description": "The tenant version the workers run: the last good one.",
        },
        "topics": {
            "type": "array",
            "items": {"type": "string"},
            "description": "The tenant's raw, processed and dead-letter topics.",
        },
        "indexPattern": {"type": "string", "description": "The tenant's index family."},
        "owner": {
            "type": "string",
            "description": "When refused for a claim: the resource (or source) that holds it.",
        },
    },
}


def _root(spec: Schema) -> Schema:
    pattern = f"^{TENANT_NAME}$"
    return {
        "type": "object",
        "description": "A team's logs, from its namespaces to its indices: a logway tenant "
        "named after the resource.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": STATUS,
        },
        "x-kubernetes-validations": [
            {
                "rule": f"self.metadata.name.matches('{pattern}') && "
                "!self.metadata.name.startsWith('logway')",
                "message": "the name is the tenant's name: lower case letters, digits and '-', "
                "2-31 characters, starting with a letter, not with 'logway'",
            }
        ],
    }


def structural(schema: Schema, drop: tuple[str, ...] = ()) -> Schema:
    """A structural OpenAPI v3 schema for a pydantic JSON Schema (its `$defs` inlined)."""
    defs = schema.get("$defs", {})
    converted = _convert(schema, defs)
    for name in drop:
        converted.get("properties", {}).pop(name, None)
        if name in converted.get("required", []):
            converted["required"].remove(name)
    return converted


def _convert(node: Schema, defs: dict[str, Schema]) -> Schema:
    description = node.get("description")
    if "$ref" in node:
        target = _convert(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
        return _described(target, description)
    branches = node.get("anyOf") or node.get("oneOf")
    if branches:
        return _described(_union(branches, defs), description)
    kind = node.get("type")
    out: Schema = {}
    if kind == "object":
        out = _object(node, defs)
    elif kind == "array":
        out["type"] = "array"
        items = node.get("items")
        out["items"] = (
            _convert(items, defs) if items else {"x-kubernetes-preserve-unknown-fields": True}
        )
    elif kind in ("string", "integer", "number", "boolean"):
        out["type"] = kind
        if "const" in node:
            out["enum"] = [node["const"]]
        pattern = node.get("pattern")
        if pattern and _re2_compiles(pattern):
            out["pattern"] = pattern
    else:  # JsonValue, or no type at all: any value
        out["x-kubernetes-preserve-unknown-fields"] = True
    out.update({k: node[k] for k in KEPT if k in node})
    if "exclusiveMinimum" in node:
        out["minimum"], out["exclusiveMinimum"] = node["exclusiveMinimum"], True
    return _described(out, description)


def _object(node: Schema, defs: dict[str, Schema]) -> Schema:
    out: Schema = {"type": "object"}
    properties = node.get("properties")
    if properties:
        out["properties"] = {k: _convert(v, defs) for k, v in properties.items()}
        if node.get("required"):
            out["required"] = list(node["required"])
    elif isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = _convert(node["additionalProperties"], defs)
    else:
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def _union(branches: list[Schema], defs: dict[str, Schema]) -> Schema:
    present = [b for b in branches if b.get("type") != "null"]
    nullable = len(present) < len(branches)
    converted = [_convert(b, defs) for b in present]
    if len(converted) == 1:
        out = dict(converted[0])
    elif all(c.get("type") == "object" and "properties" in c for c in converted):
        out = _merged_objects(converted)
    else:
        out = {"x-kubernetes-preserve-unknown-fields": True}
    if nullable:
        out["nullable"] = True
    return out


def _merged_objects(objects: list[Schema]) -> Schema:
    """One object with every branch's fields: each field as its first branch declares it, and
    the discriminator's values together. Only the fields every branch requires stay required."""
    properties: dict[str, Schema] = {}
    for obj in objects:
        for name, prop in obj["properties"].items():
            seen = properties.get(name)
            properties[name] = prop if seen is None else _either(seen, prop)
    required = set.intersection(*(set(obj.get("required", [])) for obj in objects))
    out: Schema = {"type": "object", "properties": properties}
    if required:
        out["required"] = sorted(required)
    return out


def _either(a: Schema, b: Schema) -> Schema:
    """A field two branches declare differently: what admits both (its type, and the union of
    the enums when both have one); the model checks the rest."""
    if a == b:
        return a
    if a.get("type") != b.get("type") or a.get("type") in ("object", "array", None):
        return _described({"x-kubernetes-preserve-unknown-fields": True}, a.get("description"))
    out: Schema = {"type": a["type"]}
    if "enum" in a and "enum" in b:
        out["enum"] = list(dict.fromkeys([*a["enum"], *b["enum"]]))
    if a.get("nullable") or b.get("nullable"):
        out["nullable"] = True
    return _described(out, a.get("description"))


def _described(schema: Schema, description: str | None) -> Schema:
    return {**schema, "description": description} if description else schema


def _re2_compiles(pattern: str) -> bool:
    try:
        re2.compile(pattern)
    except re2.error:
        return False
    return True
