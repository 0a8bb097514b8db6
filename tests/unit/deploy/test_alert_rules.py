"""The shipped Prometheus alert rules are valid and behave as their unit tests say (promtool)."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[3]
RULES = ROOT / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> str:
    local = ROOT / ".logway" / "tools" / "promtool"
    found = str(local) if local.exists() else shutil.which("promtool")
    assert found, "promtool is missing: `make tools` builds it (make test does so itself)"
    return found


def run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], cwd=RULES, capture_output=True, text=True, check=False)


def test_the_rules_file_is_valid(promtool: str) -> None:
    result = run(promtool, "check", "rules", "rules.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 18 rules found" in result.stdout


def test_every_rule_fires_when_it_should_and_only_then(promtool: str) -> None:
    result = run(promtool, "test", "rules", "rules.test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_and_every_recorded_figure_has_a_test() -> None:
    import yaml

    rules = yaml.safe_load((RULES / "rules.yaml").read_text())
    every = [r for group in rules["groups"] for r in group["rules"]]
    tests = yaml.safe_load((RULES / "rules.test.yaml").read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test.get("alert_rule_test", [])}
    assert {r["alert"] for r in every if "alert" in r} == tested
    queried = " ".join(case["expr"] for test in tests for case in test.get("promql_expr_test", []))
    assert [r["record"] for r in every if "record" in r and r["record"] not in queried] == []
