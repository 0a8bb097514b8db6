"""Standalone per-kind JSON schemas from the Kubernetes OpenAPI (swagger) document, for
kubeconform: `<kind>[-<group>]-<version>.json`, each holding only the definitions it reaches.

Objects get `additionalProperties: false` (kubeconform -strict: a misspelled field is an
error); Quantity and IntOrString accept both forms Kubernetes accepts.
usage: python helm/k8s_schemas.py swagger.json OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

LOOSE = {
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {
        "oneOf": [{"type": "string"}, {"type": "number"}]
    },
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {
        "oneOf": [{"type": "string"}, {"type": "integer"}]
    },
}


def tighten(node: Any) -> Any:
    if isinstance(node, dict):
        node = {key: tighten(value) for key, value in node.items()}
        if node.get("type") == "object" and "properties" in node:
            node.setdefault("additionalProperties", False)
        return node
    if isinstance(node, list):
        return [tighten(item) for item in node]
    return node


def refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref.removeprefix("#/definitions/"))
        for value in node.values():
            found |= refs(value)
    elif isinstance(node, list):
        for item in node:
            found |= refs(item)
    return found


def main() -> None:
    swagger, out = json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2])
    definitions = {**swagger["definitions"], **LOOSE}
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for name, definition in swagger["definitions"].items():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            needed, queue = set(), [name]
            while queue:
                current = queue.pop()
                if current in needed:
                    continue
                needed.add(current)
                queue.extend(refs(definitions[current]) - needed)
            group = gvk["group"].split(".")[0]
            suffix = f"-{group}-{gvk['version']}" if group else f"-{gvk['version']}"
            schema = {
                "$ref": f"#/definitions/{name}",
                "definitions": {d: tighten(definitions[d]) for d in sorted(needed)},
            }
            (out / f"{gvk['kind'].lower()}{suffix}.json").write_text(json.dumps(schema))
            written += 1
    print(f"{written} schemas")


if __name__ == "__main__":
    main()
