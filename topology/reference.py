"""The tenant reference page (docs/tenants.md), generated from the models' own descriptions."""

from __future__ import annotations

import json
from enum import Enum
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from annotated_types import Ge, Le, MaxLen, MinLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_jsonable_python

import streams.conditions
from streams.steps import STEP_TYPES
from topology.model import Tenant

INTRO = """\
# Tenant reference

Generated from the tenant model (`topology/model.py`) by
`logway schema --format markdown > docs/tenants.md`; a test keeps it current.
Unknown keys are errors. Every field below can be checked with `logway validate`.

| field | type | default | rules | meaning |
| --- | --- | --- | --- | --- |
"""


def _type_name(annotation: Any) -> str:  # noqa: PLR0911 - one case per kind of type
    origin = get_origin(annotation)
    if origin in (Union, UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        optional = len(options) < len(get_args(annotation))
        return " or ".join(_type_name(a) for a in options) + (" or null" if optional else "")
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " \\| ".join(json.dumps(member.value) for member in annotation)
    if origin is dict:
        return "mapping"
    if origin is Annotated:
        return _type_name(get_args(annotation)[0])
    if origin is tuple:
        item = get_args(annotation)[0]
        if get_origin(item) is Annotated and "discriminator" in repr(get_args(item)[1:]):
            return "list of steps"
        return f"list of {_type_name(item)}"
    if origin is not None and str(origin).endswith("Literal"):
        return " \\| ".join(json.dumps(a) for a in get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    name = getattr(annotation, "__name__", str(annotation))
    names = {"str": "string", "int": "integer", "StrictInt": "integer", "bool": "boolean"}
    return {**names, "float": "number", "JsonValue": "any JSON value"}.get(name, name)


def _item_rules(annotation: Any) -> list[str]:
    """Rules on each item of a list field (an Annotated item type with a pattern)."""
    if get_origin(annotation) is not tuple:
        return []
    item = get_args(annotation)[0]
    if get_origin(item) is not Annotated:
        return []
    patterns = [
        getattr(rule, "pattern", None)
        for meta in get_args(item)[1:]
        if isinstance(meta, FieldInfo)
        for rule in meta.metadata
    ]
    return [f"each `{pattern}`" for pattern in patterns if pattern]


def _rules(info: FieldInfo) -> str:
    rules = _item_rules(info.annotation)
    for item in info.metadata:
        if isinstance(item, Ge):
            rules.append(f">= {item.ge}")
        elif isinstance(item, Le):
            rules.append(f"<= {item.le}")
        elif isinstance(item, MinLen):
            rules.append(f"at least {item.min_length}")
        elif isinstance(item, MaxLen):
            rules.append(f"at most {item.max_length}")
        elif getattr(item, "pattern", None):
            rules.append(f"`{item.pattern}`")
    return ", ".join(rules).replace("|", "\\|")


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    if info.default is not PydanticUndefined:
        value = to_jsonable_python(info.default, exclude_none=True)
        return f"`{json.dumps(value)}`".replace("|", "\\|")
    return "see below"


def _rows(model: type[BaseModel], prefix: str) -> list[str]:
    rows = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        annotation = info.annotation
        description = (info.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(
            f"| `{path}` | {_type_name(annotation)} | {_default(info)} | {_rules(info)} | "
            f"{description} |"
        )
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.extend(_rows(annotation, f"{path}."))
        item = get_args(annotation)[0] if get_origin(annotation) is tuple else None
        if isinstance(item, type) and issubclass(item, BaseModel):
            rows.extend(_rows(item, f"{path}[]."))
    return rows


def _steps() -> str:
    sections = []
    for step in STEP_TYPES:
        module = __import__(step.__module__, fromlist=["__doc__"])
        rows = "\n".join(_rows(step, ""))
        sections.append(
            f"### `{step.name}`\n\n{(step.__doc__ or '').strip()}\n\n"
            f"| field | type | default | rules | meaning |\n| --- | --- | --- | --- | --- |\n"
            f"{rows}\n\nFrom `{step.__module__}`:\n\n{(module.__doc__ or '').strip()}\n"
        )
    return "\n".join(sections)


def render_reference() -> str:
    doc = (Tenant.__doc__ or "").strip()
    conditions = (streams.conditions.__doc__ or "").strip()
    return (
        INTRO
        + "\n".join(_rows(Tenant, ""))
        + "\n\n## The tenant\n\n"
        + doc
        + "\n\n## Pipeline steps\n\nEach item of `pipeline` is one step, chosen by `step`. "
        "Every step also takes `when` (a condition, below): it then runs only for matching "
        "records.\n\n" + _steps() + "\n## Conditions\n\n" + conditions + "\n"
    )
