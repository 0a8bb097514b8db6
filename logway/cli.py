"""The `logway` command line: a thin layer over topology, streams, connectors and logway.dev."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from connectors.elasticsearch.config import SinkConfig
from connectors.gateway.config import GatewayConfig
from connectors.notifier.config import NotifierConfig
from connectors.operator.config import OperatorConfig
from connectors.podwatch.config import PodWatchConfig
from connectors.processor.config import ProcessorConfig
from connectors.retention.config import RetentionConfig
from logway.core.settings import Endpoints
from logway.options import options, variable
from topology.ceilings import Ceilings

ModelT = TypeVar("ModelT", bound=BaseModel)

# Help in markdown: a docstring's lines make one paragraph, wrapped to the screen.
MARKDOWN: Literal["markdown"] = "markdown"
app = typer.Typer(
    help="logway: a multi-tenant log pipeline on Kafka, Faust and Elasticsearch.\n\n"
    "Servers: LOGWAY_KAFKA_BOOTSTRAP and LOGWAY_ES_URL (with LOGWAY_ES_USERNAME, "
    "LOGWAY_ES_PASSWORD_FILE, LOGWAY_ES_CA_FILE); for the dev servers, "
    '`eval "$(logway dev env)"` sets them all.',
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=MARKDOWN,
)
dev_app = typer.Typer(
    help="Real Kafka and Elasticsearch as local JVM processes (the embedded default).",
    no_args_is_help=True,
    rich_markup_mode=MARKDOWN,
)
run_app = typer.Typer(
    help="Run pipeline processes.", no_args_is_help=True, rich_markup_mode=MARKDOWN
)
render_app = typer.Typer(
    help="Render configuration for other systems.",
    no_args_is_help=True,
    rich_markup_mode=MARKDOWN,
)
app.add_typer(dev_app, name="dev")
app.add_typer(run_app, name="run")
dlq_app = typer.Typer(
    help="A tenant's dead letters: look at them, and replay them once the config is fixed.",
    no_args_is_help=True,
    rich_markup_mode=MARKDOWN,
)
app.add_typer(render_app, name="render")
app.add_typer(dlq_app, name="dlq")

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


def _logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _endpoints() -> Endpoints:
    """The servers from the environment; a bad Kafka login setting ends the command (exit 2)."""
    from logway.core.elastic import ElasticSettingsError
    from logway.core.kafka import KafkaSettingsError

    try:
        return Endpoints.from_env()
    except KafkaSettingsError as exc:
        raise _fail(f"Kafka settings: {exc}", code=2) from None
    except ElasticSettingsError as exc:
        raise _fail(f"Elasticsearch settings: {exc}", code=2) from None


def _worker_endpoints() -> Endpoints:
    """`_endpoints()` for a long-running worker: a Kafka that refuses our login or certificate
    ends it now (exit 2) with the reason, instead of a worker that waits for ever. A Kafka that
    is merely down is waited for by the worker itself."""
    endpoints = _endpoints()
    problem = endpoints.kafka.diagnose()
    if problem is not None and problem.refused:
        raise _fail(f"Kafka at {endpoints.kafka} refused us: {problem}", code=2)
    return endpoints


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(message, err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def _require(paths: list[Path]) -> None:
    """Exit 2 (usage error) naming every path that does not exist."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise _fail(f"no such file or folder: {', '.join(missing)}", 2)


def _ceilings() -> Ceilings:
    """The platform's ceilings on what a tenant may declare (LOGWAY_TENANT_MAX_*)."""
    try:
        return Ceilings.from_env(os.environ)
    except ValueError as exc:
        raise _fail(str(exc), 2) from None


def _settings(model: type[ModelT], **values: object) -> ModelT:
    """Build a settings model from flags; a bad value is a usage error (exit 2), not a traceback."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"--{'-'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}"
            for e in exc.errors()
        )
        raise _fail(f"invalid settings: {problems}", 2) from None


# -- dev --------------------------------------------------------------------------------------


@dev_app.command("up")
def dev_up() -> None:
    """Fetch (first time only, with Maven) and start Kafka and Elasticsearch; wait until both
    answer. Ports: LOGWAY_DEV_KAFKA_PORT (9092, the platform's), LOGWAY_DEV_KAFKA_SASL_PORT
    (9094, SCRAM logins of tenants), LOGWAY_DEV_KAFKA_TLS_PORT (9095, SCRAM over TLS, with a
    dev CA and the platform user logway-platform), LOGWAY_DEV_KAFKA_CONTROLLER_PORT (9093),
    LOGWAY_DEV_ES_PORT
    (9200), LOGWAY_DEV_ES_TRANSPORT_PORT (9300); state in LOGWAY_HOME (.logway).
    LOGWAY_DEV_KAFKA_BROKERS=3 starts a three-broker cluster instead (replication 3,
    min.insync.replicas 2; node n on each Kafka port + 100 * (n - 1)), as `make chaos` does."""
    from logway.dev import servers

    try:
        servers.up(servers.DevConfig.from_env())
    except servers.DevError as exc:
        raise _fail(f"logway dev up failed: {exc}") from None


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
    indices, templates, published versions, consumer groups). Exit 1 if not all up."""
    from logway.dev import leftovers, servers

    config = servers.DevConfig.from_env()
    statuses = servers.status(config)
    for status in statuses:
        typer.echo(status.describe())
    answering = {s.name for s in statuses if s.answering}
    if {"kafka", "elasticsearch"} <= answering:
        found = leftovers.find(servers.endpoints(config), lambda _tenant: True)
        typer.echo(f"tenant objects: {found.describe()}")
    if not all(s.answering for s in statuses):
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
        raise _fail(f"--tenants-matching is not a regular expression: {exc}", 2) from None
    config = servers.DevConfig.from_env()
    removed = leftovers.sweep(servers.endpoints(config), lambda name: bool(pattern.match(name)))
    typer.echo(f"removed {removed.describe()}")


# -- tenants ----------------------------------------------------------------------------------


@app.command()
def validate(
    paths: Paths,
    output: Annotated[str, typer.Option("--format", help="text, or json for machines.")] = "text",
    online: Annotated[
        bool,
        typer.Option(
            "--online",
            help="Also check against the live servers: Kafka answers and the plan can be made, "
            "Elasticsearch accepts each index template (simulated, nothing installed), each "
            "webhook secret exists.",
        ),
    ] = False,
) -> None:
    """Check tenant files, level by level: static (YAML, schema), semantic (names, namespaces
    and principals each claimed once), and with --online the live servers and the platform's
    ceilings (LOGWAY_TENANT_MAX_*). Exit 0 valid, 1 invalid, 2 usage error. Errors read
    `file:line:col: tenant.field: what is wrong`."""
    from topology.load import LEVELS, load_tenants

    if output not in ("text", "json"):
        raise _fail("--format is text or json", 2)
    _require(paths)
    result = load_tenants(paths)
    problems: list[str] = []
    if online and result.tenants:
        problems = _check_online(result)
    counts = {level: sum(e.level == level for e in result.errors) for level in LEVELS}
    if output == "json":
        typer.echo(
            json.dumps(
                {
                    "valid": result.ok and not problems,
                    "tenants": [t.tenant.name for t in result.tenants],
                    "rejected": result.rejected,
                    "errors": [e.__dict__ for e in result.errors],
                    "levels": {
                        level: counts[level] if level != "online" or online else None
                        for level in LEVELS
                    },
                    "server_problems": problems,
                },
                indent=2,
            )
        )
    else:
        for error in result.errors:
            typer.echo(str(error), err=True)
        for problem in problems:
            typer.echo(f"online: {problem}", err=True)
        summary = [
            f"{level}: " + (f"{counts[level]} error(s)" if counts[level] else "ok")
            for level in LEVELS
            if level != "online" or online
        ]
        if not online:
            summary.append("online: not checked (--online)")
        typer.echo(" | ".join(summary) + ("" if not problems else " | servers unreachable"))
        names = [t.tenant.name for t in result.tenants]
        listed = ", ".join(names) if len(names) <= 10 else f"{', '.join(names[:10])}, ..."
        typer.echo(f"{len(names)} valid tenant(s){': ' + listed if names else ''}")
    if not result.ok or problems:
        raise typer.Exit(1)


def _check_online(result: Any) -> list[str]:
    """Add the online errors to `result`; return problems with the servers themselves."""
    from confluent_kafka.admin import AdminClient

    from topology.online import check_online
    from topology.targets import Targets

    endpoints = _endpoints()
    targets = Targets(
        admin=AdminClient(endpoints.kafka.client({"log_level": 0})),
        es=endpoints.es.client(request_timeout=15),
        kafka=endpoints.kafka,
        ceilings=_ceilings(),
    )
    return check_online(targets, result)


@app.command()
def schema(
    output_format: Annotated[
        str, typer.Option("--format", help="json (JSON Schema), or markdown (docs/tenants.md).")
    ] = "json",
) -> None:
    """Print the tenant document's JSON Schema (for editors and CI), or its reference page."""
    from topology.model import Tenant
    from topology.reference import render_reference

    if output_format == "json":
        typer.echo(json.dumps(Tenant.model_json_schema(), indent=2))
    elif output_format == "markdown":
        typer.echo(render_reference(), nl=False)
    else:
        raise _fail("--format is json or markdown", 2)


SYMBOLS = {
    "create": "+",
    "publish": "+",
    "grow partitions": "~",
    "update": "~",
    "unchanged": " ",
    "kept larger": "!",
    "not declared": "!",
    "unsupported": "!",
    "delete": "-",
    "keep data": "!",
    "re-render": "~",
}

Prune = Annotated[
    bool,
    typer.Option(
        "--prune",
        help="Also remove what is no longer declared: published tenants missing from PATHS "
        "(their template, user, ACLs, quotas, empty topics) and ACLs nobody declares. PATHS must "
        "then hold every tenant.",
    ),
]
Scope = Annotated[
    str,
    typer.Option(
        "--scope",
        help="Only published tenants whose name fully matches this regular expression are "
        "reported or removed as undeclared (default: all).",
    ),
]
DeleteData = Annotated[
    bool,
    typer.Option(
        "--delete-data",
        help="With --prune: also delete removed tenants' topics that hold records, and their "
        "indices.",
    ),
]


CredentialsDir = Annotated[
    Path,
    typer.Option(
        envvar="LOGWAY_CREDENTIALS_DIR",
        help="Where apply writes each new tenant's Kafka credentials (mode 0600).",
    ),
]


def _load_and_plan(
    paths: list[Path],
    credentials_dir: Path = Path(".logway/credentials"),
    *,
    prune: bool = False,
    delete_data: bool = False,
    scope: str = ".*",
) -> tuple[Any, Any, list[Any]]:
    """Load tenants (reporting rejected ones), then plan them against the live servers."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient
    from elasticsearch import ApiError, TransportError

    from logway.core.control import FILES
    from logway.core.discovery import tenant_matcher
    from topology.apply import plan
    from topology.live import check_servers
    from topology.load import load_tenants
    from topology.targets import Targets

    _require(paths)
    if delete_data and not prune:
        raise _fail("--delete-data only makes sense with --prune", 2)
    result = load_tenants(paths)

    def report() -> None:
        for error in result.errors:
            typer.echo(str(error), err=True)
        if result.rejected:
            typer.secho(
                f"rejected, left at their last good version: {', '.join(result.rejected)}",
                err=True,
                fg=typer.colors.YELLOW,
            )
        if not result.tenants:
            raise _fail("no valid tenants to plan", 1 if result.errors else 2)

    if not result.tenants:
        report()
    endpoints = _endpoints()
    try:
        replication = int(os.environ.get("LOGWAY_TOPIC_REPLICATION_FACTOR", "-1"))
        min_insync = int(os.environ.get("LOGWAY_TOPIC_MIN_INSYNC_REPLICAS", "0"))
    except ValueError:
        raise _fail(
            "LOGWAY_TOPIC_REPLICATION_FACTOR and LOGWAY_TOPIC_MIN_INSYNC_REPLICAS are whole "
            "numbers (-1 and 0: the broker's defaults)",
            2,
        ) from None
    # librdkafka would log every failed connection attempt; the error below says it once.
    targets = Targets(
        admin=AdminClient(endpoints.kafka.client({"log_level": 0})),
        es=endpoints.es.client(),
        kafka=endpoints.kafka,
        credentials_dir=credentials_dir,
        replication_factor=replication,
        min_insync_replicas=min_insync,
        ceilings=_ceilings(),
    )
    in_scope = tenant_matcher(scope)
    try:
        published = check_servers(
            result, targets.admin, endpoints.kafka, targets.timeout, targets.ceilings, es=targets.es
        )
        report()
        refused = set(result.rejected)  # declared but refused: never pruned as undeclared
        changes = plan(
            targets,
            [t.tenant for t in result.tenants],
            published,
            prune=prune,
            delete_data=delete_data,
            # Tenants declared by a LoggingPipeline are its operator's: never pruned from here.
            scope=lambda name: (
                in_scope(name) and name not in refused and published[name].source == FILES
            ),
        )
    except KafkaException as exc:
        raise _fail(
            f"cannot reach Kafka at {endpoints.kafka}: "
            f"{endpoints.kafka.diagnose() or exc.args[0].str()}; "
            "is it up (`logway dev status`) and LOGWAY_KAFKA_BOOTSTRAP right?"
        ) from None
    except (TransportError, ApiError) as exc:
        raise _fail(
            f"cannot reach Elasticsearch at {endpoints.es}: "
            f"{endpoints.es.diagnose() or exc}; "
            "is it up (`logway dev status`) and are the LOGWAY_ES_* settings right?"
        ) from None
    return result, targets, changes


def _show(change: Any) -> str:
    detail = f" ({change.detail})" if change.detail else ""
    result = f" [{change.result}]" if change.result else ""
    return (
        f"{SYMBOLS[change.action]} {change.kind:<15} {change.name:<42} "
        f"{change.action}{detail}{result}"
    )


@app.command()
def plan(
    paths: Paths, prune: Prune = False, delete_data: DeleteData = False, scope: Scope = ".*"
) -> None:
    """Show what `apply` would change, like a diff: topics (create, grow partitions, settings),
    index templates, SCRAM users and ACLs, and tenant versions to publish. Changes nothing.
    Exit 1 if a tenant is rejected."""
    result, _targets, changes = _load_and_plan(
        paths, prune=prune, delete_data=delete_data, scope=scope
    )
    for change in changes:
        typer.echo(_show(change))
    pending = sum(c.pending for c in changes)
    typer.echo(f"{pending} change(s) for {len(result.tenants)} tenant(s)")
    if result.errors:
        raise typer.Exit(1)


@app.command()
def apply(
    paths: Paths,
    credentials_dir: CredentialsDir = Path(".logway/credentials"),
    prune: Prune = False,
    delete_data: DeleteData = False,
    scope: Scope = ".*",
) -> None:
    """Validate tenant files, then make each valid tenant real: its raw, processed and DLQ
    topics, their settings, its index template, its Kafka principal and ACLs (it may write only
    its raw topic and read only its DLQ), and its published version in _logway.tenants.

    Each tenant is accepted or rejected on its own: a rejected one (a claim taken, more than a
    platform ceiling LOGWAY_TENANT_MAX_* allows) is reported and left at its last good version
    while the others apply. Idempotent; nothing is deleted without --prune,
    and no topic holding data without --delete-data too. Exit 1 if any tenant was rejected or
    any change failed."""
    from topology.apply import apply as carry_out

    result, targets, changes = _load_and_plan(
        paths, credentials_dir, prune=prune, delete_data=delete_data, scope=scope
    )
    outcome = carry_out(targets, [t.tenant for t in result.tenants], changes)
    for change in outcome:
        typer.echo(_show(change))
    failed = sorted({c.tenant for c in outcome if c.result in ("failed", "skipped")})
    applied = [t.tenant.name for t in result.tenants if t.tenant.name not in failed]
    typer.echo(f"applied {len(applied)} tenant(s)")
    if failed:
        raise _fail(f"not applied, left at their last good version: {', '.join(failed)}")
    if result.errors:
        raise typer.Exit(1)


@render_app.command("crd")
def render_crd(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Render the LoggingPipeline CustomResourceDefinition (YAML): a tenant as a namespaced
    resource whose name is the tenant's and whose spec is the tenant model, its schema
    generated from the model. The chart ships the same file (helm/logway/crds/)."""
    import yaml

    from topology.crd import crd

    text = "# Generated by `logway render crd` from the tenant model; do not edit.\n"
    text += yaml.safe_dump(crd(), sort_keys=False, width=100)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)


@render_app.command("forwarder")
def render_forwarder(
    paths: Paths,
    output_format: Annotated[
        str, typer.Option("--format", help="fluent-bit, or fluentd (fluent-plugin-kafka).")
    ] = "fluent-bit",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    kafka_login: Annotated[
        str,
        typer.Option(
            "--kafka-login",
            help="How the forwarder logs in to Kafka, as the chart's forwarder.kafka.login: "
            "none; scram (SCRAM-SHA-512 over TLS, KAFKA_USERNAME/KAFKA_PASSWORD from the "
            "environment); tls (a TLS KafkaUser's user.crt/user.key). Both check the brokers "
            "against the cluster CA file the chart mounts.",
        ),
    ] = "none",
) -> None:
    """Render the node forwarders' configuration: each tenant's namespaces to its raw topic,
    keyed by source file (so a container stream stays in order), every other namespace to
    _logway.unclaimed. Each tenant's output uses the tenant's name as its Kafka client id, so
    the broker applies that tenant's produce quota to its namespaces' logs. Refuses while any
    tenant is rejected: leaving one out would send its namespaces to _logway.unclaimed."""
    from topology.forwarder import KAFKA_LOGINS, render
    from topology.load import load_tenants

    if output_format not in ("fluent-bit", "fluentd"):
        raise _fail("--format is fluent-bit or fluentd", 2)
    if kafka_login not in KAFKA_LOGINS:
        raise _fail(f"--kafka-login is one of {', '.join(KAFKA_LOGINS)}", 2)
    _require(paths)
    result = load_tenants(paths)
    for error in result.errors:
        typer.echo(str(error), err=True)
    if not result.ok:
        raise _fail("not rendered: fix the tenant files first (see the errors above)")
    tenants = [t.tenant for t in result.tenants]
    text = render(tenants, output_format, kafka_login)  # type: ignore[arg-type]
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        typer.echo(f"wrote {output} ({len(result.tenants)} tenants)", err=True)


# -- run --------------------------------------------------------------------------------------


@run_app.command("processor")
@options(
    ProcessorConfig,
    "LOGWAY_PROCESSOR_",
    [
        "tenants_matching",
        "app_id",
        "instance_id",
        "data_dir",
        "metrics_port",
        "batch_max",
        "batch_linger_s",
    ],
)
def run_processor(**flags: Any) -> None:
    """Run a processor worker: `logs.<tenant>.raw` -> parse -> `logs.<tenant>.processed`,
    failures -> `logs.<tenant>.dlq`. New tenants' topics are picked up without a restart."""
    from connectors.processor.app import run_processor as run

    config = _settings(ProcessorConfig, kafka=_worker_endpoints().kafka, **flags)
    _logging()
    run(config)


@run_app.command("sink")
@options(
    SinkConfig,
    "LOGWAY_SINK_",
    [
        "tenants_matching",
        "group_id",
        "instance_id",
        "metrics_port",
        "batch_max_wait_s",
        "bulks_in_flight",
    ],
)
def run_sink(**flags: Any) -> None:
    """Run an Elasticsearch sink worker: `logs.<tenant>.processed` ->
    `logs-<tenant>.<route>-<date>`, offsets committed only after Elasticsearch accepted (or the
    DLQ took) each record."""
    from connectors.elasticsearch.sink import run_sink as run

    endpoints = _worker_endpoints()
    problem = endpoints.es.diagnose()
    if problem is not None and problem.refused:
        raise _fail(f"Elasticsearch at {endpoints.es} refused us: {problem}", code=2)
    config = _settings(SinkConfig, kafka=endpoints.kafka, es=endpoints.es, **flags)
    _logging()
    run(config)


@run_app.command("gateway")
@options(
    GatewayConfig,
    "LOGWAY_GATEWAY_",
    [
        "host",
        "port",
        "max_frame_bytes",
        "max_connections",
        "idle_timeout_s",
        "tls_cert",
        "tls_key",
        "metrics_port",
    ],
)
def run_gateway(**flags: Any) -> None:
    """Run a Fluentd forward-protocol gateway: fluent-logger clients (and Fluentd / Fluent Bit
    `forward` outputs) send with tags `<tenant>.<anything>`; each event goes to
    `logs.<tenant>.raw`, and a chunk is acked only after Kafka stored all of it. A tenant opts in
    with `sources.forward` (a shared key for the handshake, or trusted unauthenticated
    clients)."""
    from connectors.gateway.server import run_gateway as run

    config = _settings(GatewayConfig, kafka=_worker_endpoints().kafka, **flags)
    _logging()
    run(config)


@run_app.command("notifier")
@options(
    NotifierConfig,
    "LOGWAY_NOTIFIER_",
    ["tenants_matching", "group_id", "instance_id", "digest_interval_s", "metrics_port"],
)
def run_notifier(**flags: Any) -> None:
    """Run a notifier: each tenant's dead letters, summed up every `dlq.notify.digest_minutes`,
    posted to the Slack webhook named by `owners.webhook_secret` (read from the environment).
    Offsets are committed after Slack accepted the digest."""
    from connectors.notifier.notifier import run_notifier as run

    config = _settings(NotifierConfig, kafka=_worker_endpoints().kafka, **flags)
    _logging()
    run(config)


@run_app.command("podwatch")
@options(
    PodWatchConfig,
    "LOGWAY_PODWATCH_",
    ["kubeconfig", "annotations", "resync_s", "metrics_port"],
)
def run_podwatch(**flags: Any) -> None:
    """Run the pod watcher: one watch of the API server for the whole cluster, each pod's uid,
    node, labels and chosen annotations published to _logway.pods, which the processors join
    onto the lines of that pod's containers (the `kubernetes` block). Run one."""
    from connectors.podwatch.watcher import run_podwatch as run

    config = _settings(PodWatchConfig, kafka=_worker_endpoints().kafka, **flags)
    _logging()
    run(config)


@run_app.command("operator")
@options(
    OperatorConfig,
    "LOGWAY_OPERATOR_",
    [
        "kubeconfig",
        "topic_replication_factor",
        "topic_min_insync_replicas",
        "retry_s",
        "workers",
        "webhook_host",
        "webhook_listen",
        "webhook_port",
        "webhook_cert_file",
        "webhook_key_file",
        "webhook_ca_file",
        "forwarder_configmap",
        "forwarder_daemonset",
        "forwarder_namespace",
        "forwarder_login",
        "metrics_port",
    ],
)
def run_operator(**flags: Any) -> None:
    """Run the operator: every LoggingPipeline in the cluster (`logway render crd` gives its
    definition) validated, planned, applied and published as `logway apply` would, with its
    status, Events, the Secret `logway-<tenant>` in its namespace, and a finalizer that
    unpublishes the tenant on delete (its data stays unless annotated
    logway.dev/delete-data=true). Run one."""
    from connectors.operator.handlers import run_operator as run

    endpoints = _worker_endpoints()
    config = _settings(
        OperatorConfig, kafka=endpoints.kafka, es=endpoints.es, ceilings=_ceilings(), **flags
    )
    _logging()
    run(config)


@run_app.command("retention")
@options(RetentionConfig, "LOGWAY_RETENTION_", ["interval_s", "metrics_port"])
def run_retention(**flags: Any) -> None:
    """Run the retention worker: every `--interval-s`, each live tenant's indices measured
    (`logway_tenant_storage_*` metrics) and the daily indices its `storage` no longer keeps
    deleted, whole (see `logway retention`). Run one."""
    from connectors.retention.worker import run_retention as run

    endpoints = _worker_endpoints()
    config = _settings(RetentionConfig, kafka=endpoints.kafka, es=endpoints.es, **flags)
    _logging()
    run(config)


@run_app.command("all")
def run_all(
    tenants_matching: TenantsMatching = ".*",
    demo: Annotated[
        bool, typer.Option(help="Also feed demo traffic (a few broken lines included).")
    ] = False,
) -> None:
    """Run the processor and the sink, and show a live line per tenant (received, processed,
    indexed, dead-lettered) until Ctrl-C, which stops them."""
    from logway.supervisor import run_all as run

    run(
        _worker_endpoints(),
        tenants_matching=tenants_matching,
        demo=demo,
        log_dir=Path(".logway/run/logs"),
    )


def main() -> None:
    app()


@app.command("release")
def release(
    tenant: Annotated[str, typer.Argument(help="The tenant name to release.")],
) -> None:
    """Release a tenant name kept for the owner that removed it with its data kept, so another
    owner may declare it. That owner's reader key then reads the kept data
    (`logs-<tenant>.*`) and its topics: release only when that is meant, or delete the data
    instead (`logway apply --prune --delete-data`, or the resource's `logway.dev/delete-data`)."""
    from topology.reservations import release as release_name

    endpoints = _endpoints()
    owner = release_name(endpoints.es.client(), tenant)
    if owner is None:
        raise _fail(f"{tenant}: the name is not reserved; nothing to release", 1)
    typer.echo(f"{tenant}: released (it was kept for {owner}); its data goes to its next owner")


@app.command("retention")
def retention(
    apply_now: Annotated[
        bool,
        typer.Option(
            "--apply", help="Delete what the table says would go; without it, nothing is."
        ),
    ] = False,
) -> None:
    """Each live tenant's storage in Elasticsearch (bytes, documents, oldest day, budget), and
    the daily indices its `storage` no longer keeps: older than `retention_days`, or the oldest
    days while it is over `max_bytes`. Whole indices of that tenant only, by exact name; today's
    never. `logway run retention` does the same every `--interval-s`."""
    from datetime import UTC, datetime

    from connectors.retention.worker import enforce
    from topology.publish import read_published

    endpoints = _endpoints()
    live = read_published(endpoints.kafka)
    storages = {name: published.spec.storage for name, published in live.items()}
    es = endpoints.es.client()
    surveyed = enforce(es, storages, datetime.now(UTC).date(), apply=apply_now)
    verb = "deleted" if apply_now else "would delete"
    for found in surveyed:
        budget = found.storage.max_bytes
        oldest = found.oldest.isoformat() if found.oldest else "-"
        typer.echo(
            f"{found.tenant}: {found.bytes} bytes"
            + (f" of {budget} ({found.bytes / budget:.0%})" if budget else "")
            + f", {found.documents} documents, oldest day {oldest}, keeps "
            f"{found.storage.retention_days} days"
        )
        for deletion in found.deletions:
            typer.echo(f"  {verb} {deletion}")
    typer.echo(
        f"{sum(len(f.deletions) for f in surveyed)} index(es) {verb}; {len(surveyed)} tenant(s)"
    )


@app.command("status")
def status(
    *,
    tenant: Annotated[
        list[str] | None, typer.Option("--tenant", "-t", help="Only this tenant (repeatable).")
    ] = None,
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    serve: Annotated[
        int | None,
        typer.Option(help="Serve a read-only status page on this port instead of printing."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address the status page listens on.")] = "127.0.0.1",
    processor_group: Annotated[
        str, typer.Option(envvar="LOGWAY_PROCESSOR_APP_ID", help="The processors' group.")
    ] = "logway-processor",
    sink_group: Annotated[
        str, typer.Option(envvar="LOGWAY_SINK_GROUP_ID", help="The sinks' group.")
    ] = "logway-sink",
) -> None:
    """Per tenant: the config version live, records/s in and out, processor and sink lag,
    storage in Elasticsearch against its budget, dead letters of the last hour by reason and
    the last error."""
    from logway import status as tenant_status

    endpoints = _endpoints()
    es = endpoints.es.client()

    def collect() -> list[Any]:
        return tenant_status.collect(
            endpoints.kafka, tenant, processor_group=processor_group, sink_group=sink_group, es=es
        )

    if serve is not None:
        from logway.status_page import serve_page

        typer.echo(f"status page on http://{host}:{serve}/ (Ctrl-C stops it)")
        serve_page(host, serve, collect)
        return
    statuses = collect()
    if output == "json":
        typer.echo(json.dumps(tenant_status.as_json(statuses)))
    else:
        typer.echo(tenant_status.table(statuses))


DlqTenant = Annotated[str, typer.Option("--tenant", "-t", help="The tenant whose dead letters.")]
DlqReason = Annotated[
    str | None,
    typer.Option(help="Only this reason (invalid_json, pattern_mismatch, mapping_conflict, ...)."),
]
DlqSince = Annotated[
    str | None, typer.Option(help="Only dead letters from this long ago: 30m, 2h, 7d.")
]


def _selection(tenant: str, reason: str | None, since: str | None) -> Any:
    from connectors.dlq.replay import Selection, parse_duration
    from logway.core.deadletter import Reason

    try:
        return Selection(
            tenant=tenant,
            reason=Reason(reason) if reason else None,
            since=parse_duration(since) if since else None,
        )
    except ValueError as exc:
        known = ", ".join(r.value for r in Reason)
        message = f"{exc}" if since and "duration" in str(exc) else f"{exc}; reasons: {known}"
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(2) from None


def _letters(tenant: str, reason: str | None, since: str | None) -> list[Any]:
    from connectors.dlq.replay import read_dead_letters

    selection = _selection(tenant, reason, since)
    try:
        return list(read_dead_letters(_endpoints().kafka, selection))
    except LookupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@dlq_app.command("ls")
def dlq_ls(
    tenant: DlqTenant,
    reason: DlqReason = None,
    since: DlqSince = None,
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Count a tenant's dead letters by reason and step, with the first and last failure."""
    from collections import Counter

    letters = _letters(tenant, reason, since)
    groups: Counter[tuple[str, str, str]] = Counter(
        (str(d.stage), d.step, str(d.reason)) for d in letters
    )
    times: dict[tuple[str, str, str], list[Any]] = {}
    for d in letters:
        times.setdefault((str(d.stage), d.step, str(d.reason)), []).append(d.failed_at)
    rows = [
        {
            "stage": stage,
            "step": step,
            "reason": why,
            "count": count,
            "first": min(times[(stage, step, why)]).isoformat(timespec="seconds"),
            "last": max(times[(stage, step, why)]).isoformat(timespec="seconds"),
        }
        for (stage, step, why), count in groups.most_common()
    ]
    if output == "json":
        typer.echo(json.dumps({"tenant": tenant, "total": len(letters), "groups": rows}))
        return
    typer.echo(f"{len(letters)} dead letter(s) for {tenant}")
    if rows:
        typer.echo(f"{'stage':10}{'step':14}{'reason':20}{'count':>7}  first / last failure")
    for row in rows:
        typer.echo(
            f"{row['stage']:10}{row['step']:14}{row['reason']:20}{row['count']:>7}  "
            f"{row['first']} / {row['last']}"
        )
    if rows:
        typer.echo(f"look: logway dlq show --tenant {tenant} --reason <reason>")
        typer.echo(f"replay once fixed: logway dlq replay --tenant {tenant} [--reason <reason>]")


@dlq_app.command("show")
def dlq_show(
    tenant: DlqTenant,
    reason: DlqReason = None,
    since: DlqSince = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many.")] = 20,
    output: Annotated[str, typer.Option("--format", help="text or json (one per line).")] = "text",
) -> None:
    """Show a tenant's dead letters: what failed, where, why, and the original record."""
    letters = _letters(tenant, reason, since)[-limit:]
    for d in letters:
        if output == "json":
            typer.echo(d.model_dump_json())
            continue
        original = d.original if len(d.original) <= 300 else d.original[:300] + "..."
        typer.echo(
            f"{d.event_id}  {d.failed_at.isoformat(timespec='seconds')}  "
            f"{d.stage}/{d.step}  {d.reason}  version {d.tenant_version or '-'}\n"
            f"  error: {d.error}\n  original ({d.original_encoding}): {original}"
        )


@dlq_app.command("replay")
def dlq_replay(
    tenant: DlqTenant,
    reason: DlqReason = None,
    since: DlqSince = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would pass; produce nothing.")
    ] = False,
) -> None:
    """Run dead letters through the tenant's current config again. What passes now is sent on
    with its original event id, so replaying twice never duplicates a document; what fails
    again is counted by reason (its dead letter stays)."""
    from connectors.dlq.replay import replay

    selection = _selection(tenant, reason, since)
    try:
        report = replay(_endpoints().kafka, selection, dry_run=dry_run)
    except LookupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for line in report.lines():
        typer.echo(line)
    if dry_run:
        typer.echo("dry run: nothing was sent")
