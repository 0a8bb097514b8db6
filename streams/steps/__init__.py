"""The step catalogue: every processing step, registered by name.

Adding a step is one new module with a `StepConfig` subclass, plus its line in `STEP_TYPES`;
`logway validate`, `logway schema` and the reference docs pick it up from here.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from streams.steps.base import StepConfig
from streams.steps.fields import CopyStep, RemoveStep, RenameStep, SetStep
from streams.steps.multiline import MultilineStep
from streams.steps.parse import ParseStep
from streams.steps.reassemble import ReassembleStep
from streams.steps.redact import HashStep, MaskStep
from streams.steps.select import DropStep, KeepStep, LimitStep, SampleStep
from streams.steps.timestamp import TimestampStep

STEP_TYPES: tuple[type[StepConfig], ...] = (
    ParseStep,
    ReassembleStep,
    MultilineStep,
    TimestampStep,
    DropStep,
    KeepStep,
    SetStep,
    RenameStep,
    RemoveStep,
    CopyStep,
    MaskStep,
    HashStep,
    SampleStep,
    LimitStep,
)
STEPS: dict[str, type[StepConfig]] = {step.name: step for step in STEP_TYPES}

AnyStep = Annotated[
    ParseStep
    | ReassembleStep
    | MultilineStep
    | TimestampStep
    | DropStep
    | KeepStep
    | SetStep
    | RenameStep
    | RemoveStep
    | CopyStep
    | MaskStep
    | HashStep
    | SampleStep
    | LimitStep,
    Field(discriminator="step"),
]

DEFAULT_PIPELINE: tuple[AnyStep, ...] = (ParseStep(step="parse", format="json"),)
