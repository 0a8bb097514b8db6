"""The command line's groups: `logway`, and `dev`, `run`, `render` and `dlq` under it."""

from __future__ import annotations

from typing import Literal

import typer

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
