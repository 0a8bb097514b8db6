"""`logway run all` (what `make run` ends in) rides out a Kafka it cannot reach.

Its children already do; the supervisor's own view used to die with a traceback on the first
topic listing that failed, taking `make run` down with it while a broker restarted.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from logway.core.settings import Endpoints
from tests.integration.support import env_for, free_port, wait_for

pytestmark = pytest.mark.integration

UNREACHABLE = "Kafka cannot list the tenants' topics"


def test_the_view_says_kafka_is_unreachable_keeps_trying_and_stops_cleanly(
    endpoints: Endpoints, tmp_path: Path
) -> None:
    nobody = f"127.0.0.1:{free_port()}"  # no broker listens here
    output = tmp_path / "run-all.out"
    with output.open("wb") as sink:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "logway", "run", "all"],
            cwd=tmp_path,
            env={**env_for(endpoints), "LOGWAY_KAFKA_BOOTSTRAP": nobody},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:

            def alive() -> None:
                assert supervisor.poll() is None, output.read_text(errors="replace")[-3000:]

            wait_for(
                "two failed topic listings, reported and retried",
                lambda: output.read_text(errors="replace").count(UNREACHABLE),
                lambda n: n >= 2,
                90,
                alive,
            )
            alive()
        finally:
            supervisor.send_signal(signal.SIGTERM)
            code = supervisor.wait(60)
    said = output.read_text(errors="replace")
    assert code == 0, said[-3000:]
    assert "Traceback" not in said
    assert "stopped processor and sink" in said
    assert (tmp_path / ".logway" / "run" / "logs" / "processor.log").exists()
