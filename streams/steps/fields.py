"""Field steps: `set`, `rename`, `remove`, `copy`. Missing fields are skipped, never an error."""

from __future__ import annotations

import copy as _copy
from typing import Literal

from pydantic import Field, JsonValue

from streams.fields import MISSING, compile_path
from streams.steps.base import CompiledStep, Document, FieldRef, Record, StepConfig, StepResult


class SetStep(StepConfig):
    """Set a field to a fixed value (replacing what is there)."""

    name = "set"
    step: Literal["set"] = Field(description="The step's name.")
    field: FieldRef = Field(description="The field to set.", examples=["env"])
    value: JsonValue = Field(description="The value: text, number, boolean, list or object.")

    def build(self) -> CompiledStep:
        path = compile_path(self.field)
        value = self.value
        scalar = not isinstance(value, dict | list)

        def set_field(doc: Document, record: Record) -> StepResult:
            path.set(doc, value if scalar else _copy.deepcopy(value))
            return doc

        return set_field


class RenameStep(StepConfig):
    """Move a field to a new name."""

    name = "rename"
    step: Literal["rename"] = Field(description="The step's name.")
    field: FieldRef = Field(description="The field to rename.", examples=["msg"])
    to: FieldRef = Field(description="Its new name.", examples=["message"])

    def build(self) -> CompiledStep:
        source, target = compile_path(self.field), compile_path(self.to)

        def rename(doc: Document, record: Record) -> StepResult:
            value = source.pop(doc)
            if value is not MISSING:
                target.set(doc, value)
            return doc

        return rename


class CopyStep(StepConfig):
    """Copy a field's value to another field."""

    name = "copy"
    step: Literal["copy"] = Field(description="The step's name.")
    field: FieldRef = Field(description="The field to copy.", examples=["kubernetes.pod"])
    to: FieldRef = Field(description="Where the copy goes.", examples=["pod"])

    def build(self) -> CompiledStep:
        source, target = compile_path(self.field), compile_path(self.to)

        def copy_field(doc: Document, record: Record) -> StepResult:
            value = source.get(doc)
            if value is not MISSING:
                target.set(doc, _copy.deepcopy(value) if isinstance(value, dict | list) else value)
            return doc

        return copy_field


class RemoveStep(StepConfig):
    """Remove fields."""

    name = "remove"
    step: Literal["remove"] = Field(description="The step's name.")
    fields: tuple[FieldRef, ...] = Field(
        min_length=1, max_length=100, description="The fields to remove.", examples=[["password"]]
    )

    def build(self) -> CompiledStep:
        paths = [compile_path(field) for field in self.fields]

        def remove(doc: Document, record: Record) -> StepResult:
            for path in paths:
                path.pop(doc)
            return doc

        return remove
