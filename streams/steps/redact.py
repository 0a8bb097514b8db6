"""Redaction steps: `mask` (a whole field, or what an RE2 pattern matches) and `hash`."""

from __future__ import annotations

import hashlib
from typing import Literal

import orjson
from pydantic import Field

from streams.fields import MISSING, compile_path
from streams.regex import compile_re2
from streams.steps.base import (
    CompiledStep,
    Document,
    FieldRef,
    Re2Pattern,
    Record,
    StepConfig,
    StepResult,
)


class MaskStep(StepConfig):
    """Replace a field's value, or the parts of it matching `pattern`, with `replacement`."""

    name = "mask"
    step: Literal["mask"] = Field(description="The step's name.")
    fields: tuple[FieldRef, ...] = Field(
        ("message",), min_length=1, max_length=100, description="The fields to mask."
    )
    pattern: Re2Pattern | None = Field(
        None,
        max_length=1000,
        description="RE2 pattern: mask only what it matches. Without it the whole value is "
        "replaced.",
        examples=[r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"],
    )
    replacement: str = Field("[masked]", max_length=100, description="What replaces it.")

    def build(self) -> CompiledStep:
        paths = [compile_path(field) for field in self.fields]
        replacement = self.replacement
        sub = compile_re2(self.pattern).sub if self.pattern else None
        literal = replacement.replace("\\", "\\\\")

        def mask(doc: Document, record: Record) -> StepResult:
            for path in paths:
                value = path.get(doc)
                if value is MISSING:
                    continue
                if sub is None:
                    path.set(doc, replacement)
                elif isinstance(value, str):
                    path.set(doc, sub(literal, value))
            return doc

        return mask


class HashStep(StepConfig):
    """Replace field values with their hex digest: still joinable, no longer readable."""

    name = "hash"
    step: Literal["hash"] = Field(description="The step's name.")
    fields: tuple[FieldRef, ...] = Field(
        min_length=1, max_length=100, description="The fields to hash.", examples=[["user.email"]]
    )
    algorithm: Literal["sha256", "blake2b"] = Field("sha256", description="The digest.")

    def build(self) -> CompiledStep:
        paths = [compile_path(field) for field in self.fields]
        algorithm = self.algorithm

        def hash_fields(doc: Document, record: Record) -> StepResult:
            for path in paths:
                value = path.get(doc)
                if value is MISSING:
                    continue
                data = value.encode() if isinstance(value, str) else orjson.dumps(value)
                path.set(doc, hashlib.new(algorithm, data).hexdigest())
            return doc

        return hash_fields
