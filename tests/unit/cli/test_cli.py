import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import typer
from typer.testing import CliRunner

from logway.cli import app

runner = CliRunner()
EXAMPLES = Path(__file__).parents[3] / "examples" / "tenants"


def test_help_names_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("dev", "validate", "schema", "plan", "apply", "render", "run"):
        assert command in result.output
    for sub, names in (("dev", ("up", "down", "status")), ("run", ("processor", "sink", "all"))):
        output = runner.invoke(app, [sub, "--help"]).output
        assert all(name in output for name in names)


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):  # a group (typer's own click)
            found += _commands(command, (*path, name))
        else:
            found.append((*path, name))
    return found


def test_every_help_reads_as_written() -> None:
    """Every command's help is its docstring as one paragraph per paragraph, wrapped to the
    screen: no line break of the source left in the middle of a sentence, and no
    `<placeholder>` eaten as markup."""
    commands = _commands(typer.main.get_command(app))
    assert ("dev", "sweep") in commands
    for command in commands:
        output = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "400"}).output
        doc = typer.main.get_command(app)  # for the docstring of this command
        for part in command:
            doc = doc.commands[part]  # type: ignore[attr-defined]
        first = (doc.help or "").split("\n\n")[0]
        for placeholder in re.findall(r"<[a-z]+>", first):
            assert placeholder in output, (command, placeholder)
        start = " ".join(first.split())[:150].replace("`", "")  # over a line of the source
        lines = [" ".join(line.strip(" │").split()) for line in output.splitlines()]
        assert any(start in line for line in lines), (command, start)


def test_the_console_script_runs_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "logway", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "validate" in result.stdout


def test_validate_exit_codes(tmp_path: Path) -> None:
    assert runner.invoke(app, ["validate", str(EXAMPLES)]).exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:1:7: x.name:" in result.output
    assert runner.invoke(app, ["validate", str(tmp_path / "missing.yaml")]).exit_code == 2


def test_validate_json_output(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: acme\nowners: {}\n")
    result = runner.invoke(app, ["validate", "--format", "json", str(bad)])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["valid"] is False
    assert {e["path"] for e in report["errors"]} == {
        "acme.owners.team",
        "acme.owners.slack_channel",
        "acme.owners.webhook_secret",
    }


def test_every_example_pipeline_passes_its_own_samples() -> None:
    """The README's example pipelines run their samples through the real steps (the dry run)."""
    pipelines = EXAMPLES.parent / "pipelines"
    result = runner.invoke(app, ["validate", str(pipelines)])
    assert result.exit_code == 0, result.output
    assert f"{len(list(pipelines.glob('*.yaml')))} valid tenant(s)" in result.output


def test_schema_is_a_valid_json_schema_that_accepts_the_examples() -> None:
    result = runner.invoke(app, ["schema"])
    schema = json.loads(result.output)
    jsonschema.Draft202012Validator.check_schema(schema)
    import yaml

    for path in EXAMPLES.glob("*.yaml"):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)


def test_apply_with_only_invalid_tenants_stops_before_reaching_any_server(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: acme\nowners: {}\n")
    # Nothing listens at this address: reaching for it would hang, not exit 1 at once.
    result = runner.invoke(app, ["apply", str(bad)], env={"LOGWAY_KAFKA_BOOTSTRAP": "127.0.0.1:1"})
    assert result.exit_code == 1
    assert "rejected, left at their last good version: acme" in result.output
    assert "no valid tenants" in result.output


def test_bad_worker_settings_are_usage_errors_not_tracebacks() -> None:
    for component in ("processor", "sink"):
        result = runner.invoke(app, ["run", component, "--tenants-matching", "(unclosed"])
        assert result.exit_code == 2, result.output
        assert "--tenants-matching: Value error, not a valid regular expression" in result.output


def test_the_tenant_reference_page_is_generated_from_the_current_model() -> None:
    page = (Path(__file__).parents[3] / "docs" / "tenants.md").read_text()
    result = runner.invoke(app, ["schema", "--format", "markdown"])
    assert result.exit_code == 0
    assert result.output == page, "regenerate: logway schema --format markdown > docs/tenants.md"
    assert "| `sources.namespaces` | list of string |" in page


def test_dev_env_points_at_the_secured_dev_servers_naming_secrets_by_their_files(
    tmp_path: Path,
) -> None:
    result = runner.invoke(app, ["dev", "env"], env={"LOGWAY_HOME": str(tmp_path)})
    assert result.exit_code == 0, result.output
    settings = dict(
        line.removeprefix("export ").split("=", 1) for line in result.output.splitlines()
    )
    assert settings["LOGWAY_ES_URL"] == "https://127.0.0.1:9200"
    assert settings["LOGWAY_ES_USERNAME"] == "logway-platform"
    assert settings["LOGWAY_ES_PASSWORD_FILE"].startswith(str(tmp_path))
    assert "LOGWAY_ES_PASSWORD" not in settings
    secured = runner.invoke(
        app, ["dev", "env", "--secured-kafka"], env={"LOGWAY_HOME": str(tmp_path)}
    )
    assert "export LOGWAY_KAFKA_SECURITY_PROTOCOL=SASL_SSL" in secured.output


def test_a_bad_tenant_ceiling_is_a_usage_error_naming_the_variable() -> None:
    result = runner.invoke(
        app,
        ["plan", str(EXAMPLES)],
        env={"LOGWAY_TENANT_MAX_PARTITIONS": "twelve", "LOGWAY_KAFKA_BOOTSTRAP": "127.0.0.1:1"},
    )
    assert result.exit_code == 2
    assert "LOGWAY_TENANT_MAX_PARTITIONS='twelve' is not a whole number" in result.output
