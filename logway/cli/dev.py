"""`logway dev`: the embedded servers."""

from __future__ import annotations

from typing import Annotated

import typer

from logway.cli.apps import dev_app
from logway.cli.common import (
    fail,
)


@dev_app.command("up")
def dev_up(
    kubernetes: Annotated[
        bool,
        typer.Option(
            help="Also build (first time only, from the Go module proxy, about 4 minutes) and "
            "start etcd and kube-apiserver, for the operator and the pod watcher."
        ),
    ] = True,
) -> None:
    """Fetch (first time only, with Maven) and start Kafka and Elasticsearch, and etcd and
    kube-apiserver unless `--no-kubernetes`; wait until they answer. Ports:
    LOGWAY_DEV_KAFKA_PORT (9092, the platform's), LOGWAY_DEV_KAFKA_SASL_PORT (9094, SCRAM
    logins of tenants), LOGWAY_DEV_KAFKA_TLS_PORT (9095, SCRAM over TLS, with a dev CA and the
    platform user logway-platform), LOGWAY_DEV_KAFKA_CONTROLLER_PORT (9093), LOGWAY_DEV_ES_PORT
    (9200), LOGWAY_DEV_ES_TRANSPORT_PORT (9300); state in LOGWAY_HOME (.logway).
    LOGWAY_DEV_KAFKA_BROKERS=3 starts a three-broker cluster instead (replication 3,
    min.insync.replicas 2; node n on each Kafka port + 100 * (n - 1)), as `make chaos` does."""
    from logway.dev import servers

    try:
        servers.up(servers.DevConfig.from_env(), kubernetes=kubernetes)
    except servers.DevError as exc:
        raise fail(f"logway dev up failed: {exc}") from None


@dev_app.command("env")
def dev_env(
    secured_kafka: Annotated[
        bool, typer.Option(help="Kafka over SCRAM and TLS as the platform user, too.")
    ] = False,
) -> None:
    """Print the `export` lines that point logway at the dev servers, for
    `eval "$(logway dev env)"`: Elasticsearch over HTTPS as the platform user (its password
    named by its file), and Kafka on its plain platform listener."""
    from logway.dev import servers

    for setting in servers.environment(servers.DevConfig.from_env(), secured_kafka=secured_kafka):
        typer.echo(f"export {setting}")


@dev_app.command("down")
def dev_down() -> None:
    """Stop the servers `logway dev up` started (and only those). Data is kept."""
    from logway.dev import servers

    servers.down(servers.DevConfig.from_env())


@dev_app.command("clean")
def dev_clean(
    all_: Annotated[
        bool, typer.Option("--all", help="Also delete the fetched Kafka and Elasticsearch.")
    ] = False,
) -> None:
    """Stop the servers and delete their data and logs: every topic and index is gone."""
    from logway.dev import servers

    servers.clean(servers.DevConfig.from_env(), downloads=all_)


@dev_app.command("status")
def dev_status() -> None:
    """Say which embedded servers run, where, and whether they answer, and how many tenant
    objects Kafka and Elasticsearch hold (topics, users, ACLs, quotas, reader roles and keys,
    indices, templates, published versions, consumer groups). Exit 1 unless Kafka and
    Elasticsearch answer, and every other server that runs does too."""
    from logway.dev import leftovers, servers

    config = servers.DevConfig.from_env()
    statuses = servers.status(config)
    for status in statuses:
        typer.echo(status.describe())
    answering = {s.name for s in statuses if s.answering}
    if {"kafka", "elasticsearch"} <= answering:
        found = leftovers.find(servers.endpoints(config), lambda _tenant: True)
        typer.echo(f"tenant objects: {found.describe()}")
    if not servers.healthy(statuses):
        raise typer.Exit(1)


@dev_app.command("sweep")
def dev_sweep(
    tenants_matching: Annotated[
        str,
        typer.Option(help="Regular expression (matched from the start) over tenant names."),
    ] = ".*",
) -> None:
    """Remove every object of the matching tenants from the dev servers, which keep running:
    topics, SCRAM users, ACLs, quotas, reader roles and keys, indices, index templates,
    published versions and the consumer groups named after them. For leftovers of earlier
    runs; `logway dev clean` wipes the servers instead.

    Example: `logway dev sweep --tenants-matching 'bench-'`."""
    import re

    from logway.dev import leftovers, servers

    try:
        pattern = re.compile(tenants_matching)
    except re.error as exc:
        raise fail(f"--tenants-matching is not a regular expression: {exc}", 2) from None
    config = servers.DevConfig.from_env()
    removed = leftovers.sweep(servers.endpoints(config), lambda name: bool(pattern.match(name)))
    typer.echo(f"removed {removed.describe()}")
