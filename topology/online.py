"""Online validation (`logway validate --online`): would these tenants apply here, now?

Checks, without changing anything: Kafka answers; no tenant claims what an applied tenant owns
or declares fewer partitions than its topics have (`topology.live`); the plan can be made
(topics, ACLs); Elasticsearch answers and accepts each index template (its simulate API
installs nothing); each tenant's Slack webhook secret exists.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from elasticsearch import ApiError

from logway.core.names import index_pattern, index_template_name
from topology.load import ConfigError, LoadResult
from topology.planning import SERVER_ERRORS, plan_declared, unreachable
from topology.resources.templates import default_replicas, index_template
from topology.targets import Targets


def _reason(exc: ApiError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error")
    if isinstance(error, dict) and error.get("reason"):
        return str(error["reason"])
    return str(exc)


def check_online(
    targets: Targets, result: LoadResult, environ: Mapping[str, str] = os.environ
) -> list[str]:
    """Add the online errors to `result` (taking out the tenants they refuse); return the
    problems with the servers themselves."""
    errors: list[ConfigError] = []
    problems: list[str] = []
    try:
        plan_declared(targets, result)
    except SERVER_ERRORS as exc:
        failure = unreachable(exc)
        where = f" at {targets.kafka}" if failure.server == "Kafka" else ""
        problems.append(f"{failure.server}{where}: {failure.detail}")
    else:
        replicas = default_replicas(targets.es)
        for item in result.tenants:
            body = index_template(item.tenant, replicas)
            try:
                # Named as apply would name it, so an installed version is simulated as replaced.
                targets.es.indices.simulate_template(
                    name=index_template_name(item.tenant.name), **body
                )
            except ApiError as exc:
                pattern = index_pattern(item.tenant.name)
                errors.append(
                    item.error(
                        ("name",),
                        f"Elasticsearch refuses the index template for {pattern}: {_reason(exc)}",
                        "online",
                    )
                )
    for item in result.tenants:
        secret = item.tenant.owners.webhook_secret
        if secret not in environ:
            errors.append(
                item.error(
                    ("owners", "webhook_secret"),
                    f"secret {secret!r} not found: set the environment variable {secret} (or "
                    "mount the Kubernetes Secret of that name) with the Slack webhook URL",
                    "online",
                )
            )
    result.errors += errors
    failed = {error.tenant for error in errors}
    result.tenants = [t for t in result.tenants if t.tenant.name not in failed]
    return problems
