"""Stack traces from the real runtimes (tests/fixtures/traces/): each program compiled and run
with the real `javac`/`java`, `python`, `go` and `node`, its stdout and stderr kept line by
line, and the traces in its stderr as a reader would cut them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

TRACES = Path(__file__).parent / "fixtures" / "traces"
RUNTIMES = ("java", "python", "go", "node")
Written = dict[str, tuple[list[str], list[str]]]  # runtime -> (stdout lines, stderr lines)


def _run(argv: list[str], cwd: Path, **env: str) -> tuple[list[str], list[str]]:
    result = subprocess.run(
        argv,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **env},
    )
    assert result.returncode != 0, f"{argv[0]} was meant to fail"
    return result.stdout.splitlines(), result.stderr.splitlines()


def run_runtimes(work: Path) -> Written:
    """Each runtime's stdout and stderr lines (builds into `work`)."""
    subprocess.run(
        ["javac", "-d", str(work), str(TRACES / "Checkout.java")], check=True, timeout=120
    )
    binary = work / "checkout-go"
    subprocess.run(
        ["go", "build", "-o", str(binary), str(TRACES / "checkout.go")],
        check=True,
        timeout=300,
        cwd=work,
        env={**os.environ, "GO111MODULE": "off"},
    )
    return {
        "java": _run(["java", "-cp", str(work), "Checkout"], work),
        "python": _run([sys.executable, str(TRACES / "checkout.py")], work),
        "go": _run([str(binary)], work, GOTRACEBACK="all"),
        "node": _run(["node", str(TRACES / "checkout.js")], work),
        "node-rejection": _run(["node", str(TRACES / "refund.js")], work),
    }


def traces(runtime: str, stderr: list[str]) -> list[list[str]]:
    """The traces in a runtime's stderr, each as its lines: Java and Node write two (a logged
    one, then the uncaught one), Python, Go and Node's unhandled rejection one."""
    second = {"node": r"^/.*checkout\.js:\d+$", "java": r"^Exception in thread "}.get(runtime)
    if second is None:
        return [stderr]
    [at] = [i for i, line in enumerate(stderr) if re.match(second, line)]
    return [stderr[:at], stderr[at:]]
