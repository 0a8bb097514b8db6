"""Command-line options made from the settings models, so each default and help text is written
once, in the model (`connectors/*/config.py`), and the flags cannot drift from it.

`@options(SinkConfig, "LOGWAY_SINK_", ["group_id", ...])` gives a command one option per field:
`--group-id`, read also from `LOGWAY_SINK_GROUP_ID`, with the field's type, default and
description. The command receives the values as keyword arguments and builds the model from
them; the model's own checks then judge them (`cli._settings`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

# Fields every worker shares read one variable, whatever the component.
SHARED_VARIABLES = {"tenants_matching": "LOGWAY_TENANTS_MATCHING"}

Command = Callable[..., None]


def variable(prefix: str, field: str) -> str:
    """The environment variable of `field` for a component whose variables start `prefix`."""
    return SHARED_VARIABLES.get(field, f"{prefix}{field.upper()}")


def options(
    model: type[BaseModel], prefix: str, fields: Sequence[str]
) -> Callable[[Command], Command]:
    """A decorator giving a typer command one option per field of `model` in `fields` (after
    the command's own keyword-only options)."""

    def decorate(command: Command) -> Command:
        own = [
            parameter
            for parameter in inspect.signature(command, eval_str=True).parameters.values()
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY
        ]
        generated = []
        for name in fields:
            field = model.model_fields[name]
            if field.default is PydanticUndefined:
                raise ValueError(f"{model.__name__}.{name} has no default to offer as a flag")
            option = typer.Option(envvar=variable(prefix, name), help=field.description)
            generated.append(
                inspect.Parameter(
                    name,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=field.default,
                    annotation=Annotated[field.annotation, option],
                )
            )

        @functools.wraps(command)
        def with_options(**values: Any) -> None:
            command(**values)

        parameters = [*own, *generated]
        with_options.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        with_options.__annotations__ = {p.name: p.annotation for p in parameters}
        return with_options

    return decorate
