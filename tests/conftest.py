"""Session fixtures: where the real Kafka and Elasticsearch are.

In order: LOGWAY_KAFKA_BOOTSTRAP / LOGWAY_ES_URL when both are set; else containers through
testcontainers when a Docker engine answers; else the dev runner's JVM servers (started here if
they are not running, and stopped at the end only if this session started them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from logway.core.settings import Endpoints


def _docker_engine_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        probe = subprocess.run(["docker", "info"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


@pytest.fixture(scope="session")
def endpoints() -> Iterator[Endpoints]:
    if os.environ.get("LOGWAY_KAFKA_BOOTSTRAP") and os.environ.get("LOGWAY_ES_URL"):
        yield Endpoints.from_env()
        return
    if _docker_engine_answers():
        from tests.containers import container_endpoints

        with container_endpoints() as found:
            yield found
        return
    from logway.dev import servers

    config = servers.DevConfig.from_env()
    before = {s.name for s in servers.status(config) if s.running}
    servers.up(config, say=lambda line: print(f"[dev] {line}"))
    try:
        yield servers.endpoints(config)
    finally:
        for server in servers.servers(config):
            if server.name not in before:
                server.stop()


@pytest.fixture
def tenant_prefix(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh tenant-name prefix, so tests never see each other's (or older runs') data. A
    test on the servers leaves nothing behind: every object named with its prefix (topics,
    users, ACLs, quotas, roles, keys, indices, templates, versions, groups) is removed when it
    ends (`logway.dev.leftovers`), after an operator test's LoggingPipelines, which the
    module's operator would otherwise publish again."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    yield prefix
    if "api" in request.fixturenames:  # an operator test: the module's operator still runs
        from tests.integration.operator_support import remove_pipelines

        remove_pipelines(prefix)
    if "endpoints" in request.fixturenames:
        from logway.dev.leftovers import sweep

        sweep(request.getfixturevalue("endpoints"), lambda name: name.startswith(prefix))
