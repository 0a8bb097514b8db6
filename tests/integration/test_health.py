"""The workers' /livez and /readyz on real servers: a processor is ready once it has read the
published tenant versions and joined its group; a processor started before any tenant exists
(a first install) is live but not ready, then ready and processing once `apply` publishes one,
with no restart by hand; the sink is live and ready beside it."""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from logway.core.settings import Endpoints
from tests.integration.support import (
    PipelineProcess,
    apply_tenant,
    free_port,
    indexed_count,
    processor,
    sink,
    wait_for,
    write_lines,
)

pytestmark = pytest.mark.integration


def probe(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()
    except OSError as down:  # not listening yet
        return 0, str(down)


def test_workers_started_before_their_tenant_become_ready_and_process_it(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    name = f"{tenant_prefix}-first"
    proc_port, sink_port = free_port(), free_port()
    workers = [
        processor(endpoints, name, f"{name}-proc", tmp_path, metrics_port=proc_port).start(),
        sink(endpoints, name, f"{name}-sink", tmp_path, metrics_port=sink_port).start(),
    ]
    es = endpoints.es.client()
    try:
        wait_for(
            "the processor live", lambda: probe(proc_port, "/livez")[0], lambda s: s == 200, 60
        )
        status, body = probe(proc_port, "/readyz")
        assert status == 503, body  # no tenant of its yet: nothing joined
        apply_tenant(endpoints, tmp_path, name)
        wait_for(
            "the processor ready",
            lambda: probe(proc_port, "/readyz"),
            lambda answer: answer[0] == 200,
            90,
            workers[0].assert_running,
        )
        assert "ok published tenant versions read" in probe(proc_port, "/readyz")[1]
        assert probe(sink_port, "/readyz")[0] == 200
        write_lines(endpoints, name, 5)
        wait_for("5 documents", lambda: indexed_count(es, name), lambda n: n == 5, 60)
        for port in (proc_port, sink_port):
            status, body = probe(port, "/livez")
            assert status == 200, body
        for worker in workers:
            worker.assert_running()
    finally:
        for worker in workers:
            worker.stop()


# Every supervised loop of the processor and the sink, by the name it runs under.
PROCESSOR_LOOPS = ("logway-registry-processor", "logway-pod-table", "lag-monitor")
SINK_LOOPS = ("lag-monitor",)


def exits_within(worker: PipelineProcess, seconds: float) -> int | None:
    assert worker.process is not None
    try:
        return worker.process.wait(seconds)
    except subprocess.TimeoutExpired:
        return None


@pytest.mark.parametrize(
    ("kind", "loop"),
    [("processor", loop) for loop in PROCESSOR_LOOPS]
    + [("processor", "logway-processor-publications-"), ("sink", "logway-sink-publications-")]
    + [("sink", loop) for loop in SINK_LOOPS],
)
def test_a_loop_that_fails_unexpectedly_ends_its_worker_non_zero(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path, kind: str, loop: str
) -> None:
    """Each loop in turn raises an unexpected error (LOGWAY_FAILPOINTS): the worker exits 71
    within 60 s (the lag monitor's first round comes after 15 s), never runs on deaf."""
    name = f"{tenant_prefix}-fails"
    apply_tenant(endpoints, tmp_path, name)
    group = f"{name}-{kind}"
    loop = loop + group if loop.endswith("-") else loop  # the followers are named per group
    start = processor if kind == "processor" else sink
    worker = start(endpoints, name, group, tmp_path, env={"LOGWAY_FAILPOINTS": f"{loop}=fatal"})
    worker.start()
    try:
        assert exits_within(worker, 60) == 71, f"{kind} ran on with {loop} dead"
    finally:
        worker.stop()
    assert f"{loop} failed and cannot recover" in worker.log_path.read_text()


@pytest.mark.parametrize("kind", ["podwatch", "retention"])
def test_the_pod_watchers_and_the_retention_loops_end_their_worker_when_they_fail(
    endpoints: Endpoints, tmp_path: Path, kind: str
) -> None:
    """The pod watcher's watch and the retention rounds, under the same supervision: an
    unexpected failure exits 71, a transient one is retried and the worker goes on."""
    from tests.integration.operator_support import kube

    args = {
        "podwatch": ["podwatch", "--kubeconfig", str(kube().kubeconfig)],
        "retention": ["retention", "--interval-s", "60"],
    }[kind]
    failing = PipelineProcess(
        endpoints,
        args,
        tmp_path / f"{kind}-fatal.log",
        extra_env={"LOGWAY_FAILPOINTS": f"{kind}=fatal"},
    ).start()
    try:
        assert exits_within(failing, 60) == 71
    finally:
        failing.stop()
    assert f"{kind} failed and cannot recover" in failing.log_path.read_text()
    port = free_port()
    recovering = PipelineProcess(
        endpoints,
        args,
        tmp_path / f"{kind}-transient.log",
        metrics_port=port,
        extra_env={"LOGWAY_FAILPOINTS": f"{kind}=transient"},
    ).start()
    try:
        wait_for(
            f"{kind} live again after its restart",
            lambda: probe(port, "/livez"),
            lambda answer: answer[0] == 200 and "1 restart(s)" in answer[1],
            60,
            recovering.assert_running,
        )
    finally:
        recovering.stop()


def test_a_loop_that_fails_in_passing_recovers_and_the_worker_processes(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    """The processor's registry meets a transient error at its first read, as when `apply`
    made `_logway.tenants` and its partition had no leader yet: it is read again after a
    backoff, and the processor processes."""
    name = f"{tenant_prefix}-recovers"
    apply_tenant(endpoints, tmp_path, name)
    failing = {"LOGWAY_FAILPOINTS": "logway-registry-processor=transient"}
    port = free_port()
    workers = [
        processor(endpoints, name, f"{name}-proc", tmp_path, metrics_port=port, env=failing),
        sink(endpoints, name, f"{name}-sink", tmp_path),
    ]
    for worker in workers:
        worker.start()
    es = endpoints.es.client()
    try:
        write_lines(endpoints, name, 5)
        wait_for("5 documents", lambda: indexed_count(es, name), lambda n: n == 5, 90)
        status, body = probe(port, "/livez")
        assert status == 200, body
        assert "1 restart(s)" in body
        for worker in workers:
            worker.assert_running()
    finally:
        for worker in workers:
            worker.stop()
