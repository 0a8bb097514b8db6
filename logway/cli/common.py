"""What the commands share: arguments, the servers from the environment, and failing with a
message and an exit code."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from logway.core.settings import Endpoints
from logway.options import variable
from topology.ceilings import Ceilings

ModelT = TypeVar("ModelT", bound=BaseModel)

Paths = Annotated[
    list[Path],
    typer.Argument(help="Tenant YAML files, or folders whose *.yaml files are read."),
]
TenantsMatching = Annotated[
    str,
    typer.Option(
        envvar=variable("", "tenants_matching"),
        help="Serve only tenants whose name fully matches this regular expression.",
    ),
]


def server_endpoints() -> Endpoints:
    """The servers from the environment; a bad Kafka login setting ends the command (exit 2)."""
    from logway.core.elastic import ElasticSettingsError
    from logway.core.kafka import KafkaSettingsError

    try:
        return Endpoints.from_env()
    except KafkaSettingsError as exc:
        raise fail(f"Kafka settings: {exc}", code=2) from None
    except ElasticSettingsError as exc:
        raise fail(f"Elasticsearch settings: {exc}", code=2) from None


def worker_endpoints() -> Endpoints:
    """`server_endpoints()` for a long-running worker: a Kafka that refuses our login or certificate
    ends it now (exit 2) with the reason, instead of a worker that waits for ever. A Kafka that
    is merely down is waited for by the worker itself."""
    endpoints = server_endpoints()
    problem = endpoints.kafka.diagnose()
    if problem is not None and problem.refused:
        raise fail(f"Kafka at {endpoints.kafka} refused us: {problem}", code=2)
    return endpoints


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(message, err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def require(paths: list[Path]) -> None:
    """Exit 2 (usage error) naming every path that does not exist."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise fail(f"no such file or folder: {', '.join(missing)}", 2)


def platform_ceilings() -> Ceilings:
    """The platform's ceilings on what a tenant may declare (LOGWAY_TENANT_MAX_*)."""
    try:
        return Ceilings.from_env(os.environ)
    except ValueError as exc:
        raise fail(str(exc), 2) from None


def parse_settings(model: type[ModelT], **values: object) -> ModelT:
    """Build a settings model from flags; a bad value is a usage error (exit 2), not a traceback."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"--{'-'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}"
            for e in exc.errors()
        )
        raise fail(f"invalid settings: {problems}", 2) from None
