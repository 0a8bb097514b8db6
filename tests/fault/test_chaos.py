"""Faults under load, each ending in a ledger (see ../shared/guides/reliability.md):
sent, acked, indexed, dead-lettered, duplicates, lost (= acked - indexed - dlq), recovery
(seconds from the end of the fault until every acked event is indexed or dead-lettered).
Should anything be lost, `lost_at` says after which hop: the gateway, the processor, the sink.

Load goes in through the gateway, as an outside service's would: PackedForward chunks of 100
events with acks; a chunk without an ack is sent again, as fluent-logger and Fluent Bit do.
5% of the events are broken by design (the tenant's pipeline dead-letters them). While it
runs, a fault strikes: a worker killed with SIGKILL at random moments and started again; the
broker killed with SIGKILL and started again; Elasticsearch stopped for a while; one of two
processors frozen with SIGSTOP past its group session. Every scenario must end with lost = 0
and duplicates = 0.

`make test` runs the short scenarios (marker `fault`); `make chaos` runs them all, the long
ones too (marker `chaos`: five kills of each worker, Elasticsearch down for ten minutes), and
writes the ledger table to bench/results/chaos-<date>-<commit>.json.
"""

from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer
from elasticsearch import Elasticsearch

from logway.core.deadletter import DeadLetter
from logway.core.kafka import SESSION_TIMEOUT_S
from logway.core.names import dlq_topic, processed_topic, raw_topic
from logway.core.settings import Endpoints
from logway.dev import servers
from tests.fault.conftest import LEDGER
from tests.integration.support import (
    PipelineProcess,
    accepts,
    apply_tenant,
    env_for,
    forward_chunk,
    free_port,
    read_topic,
    tenant_documents,
    wait_for,
)

CHUNKS, PER_CHUNK = 60, 100
PIPELINE = """\
sources:
  forward:
    allow_unauthenticated: true
pipeline:
  - {step: parse, format: json}
  - {step: parse, format: regex, field: msg, pattern: '^(?P<never>never)$', when: 'broken == true'}
"""


class Sender(threading.Thread):
    """Sends every chunk until it is acked; counts what it tried and what was acked."""

    def __init__(self, port: int, tag: str, seed: int) -> None:
        super().__init__(daemon=True)
        self.port, self.tag = port, tag
        self.rng = random.Random(seed)
        self.sent = 0
        self.acked_events: set[str] = set()
        self.resends = 0

    def run(self) -> None:
        for c in range(CHUNKS):
            events: list[dict[str, object]] = [
                {
                    "eid": f"e{c}-{n}",
                    "broken": self.rng.random() < 0.05,
                    "msg": "x" * self.rng.randint(100, 800),
                }
                for n in range(PER_CHUNK)
            ]
            self.sent += PER_CHUNK
            while not forward_chunk(self.port, self.tag, events, f"chunk-{c}"):
                self.resends += 1
                time.sleep(0.3)
            self.acked_events.update(str(e["eid"]) for e in events)
            time.sleep(0.25)  # about 15 s of sending: the kills land while chunks are in flight


class Pipeline:
    """The tenant's gateway, processor(s) and sink as real processes, restartable by name."""

    def __init__(self, endpoints: Endpoints, tenant: str, tmp_path: Path, processors: int) -> None:
        self.endpoints, self.tmp_path, self.tenant = endpoints, tmp_path, tenant
        self.port = free_port()
        processor = ["processor", "--tenants-matching", tenant, "--app-id", f"{tenant}-proc"]
        # Each worker keeps its name across restarts, as a container restarted in its pod does
        # (the chart names each worker after its pod): static membership.
        self.args = {
            "gateway": ["gateway", "--host", "127.0.0.1", "--port", str(self.port)],
            **{
                name: [
                    *processor,
                    *("--data-dir", str(tmp_path / f"faust-{name}")),
                    *("--instance-id", name),
                ]
                for name in ["processor", "processor-b"][:processors]
            },
            "sink": [
                *("sink", "--tenants-matching", tenant, "--group-id", f"{tenant}-sink"),
                *("--instance-id", "sink"),
            ],
        }
        self.runs: Counter[str] = Counter()
        self.live = {name: self.start(name) for name in self.args}
        wait_for("the gateway", lambda: accepts(self.port), bool, 90, self.assert_running)

    def start(self, name: str) -> PipelineProcess:
        self.runs[name] += 1
        log = self.tmp_path / f"{name}-{self.runs[name]}.log"
        return PipelineProcess(self.endpoints, self.args[name], log).start()

    def kill_and_restart(self, name: str) -> None:
        self.live[name].stop(signal.SIGKILL)
        self.live[name] = self.start(name)
        if name == "gateway":
            wait_for("the gateway again", lambda: accepts(self.port), bool, 90)

    def indexed(self) -> int:
        with self.endpoints.es.client() as es:
            return len(indexed_ids(es, self.tenant))

    def assert_running(self) -> None:
        for process in self.live.values():
            process.assert_running()

    def stop(self) -> None:
        for process in self.live.values():
            process.stop()


# A fault acts on the running pipeline while the sender sends, and returns when it is over,
# with any figures of its own for the ledger.
Fault = Callable[[Pipeline, random.Random], dict[str, Any]]


def run_scenario(
    endpoints: Endpoints,
    tenant: str,
    tmp_path: Path,
    scenario: str,
    fault: Fault,
    *,
    processors: int = 1,
) -> dict[str, Any]:
    apply_tenant(endpoints, tmp_path, tenant, partitions=3, extra=PIPELINE)
    pipeline = Pipeline(endpoints, tenant, tmp_path, processors)
    sender = Sender(pipeline.port, f"{tenant}.app", seed=len(scenario))
    es = endpoints.es.client()

    def settled() -> tuple[int, int]:
        return len(indexed_ids(es, tenant)), len(dead_ids(endpoints, tenant))

    try:
        sender.start()
        figures = fault(pipeline, random.Random(scenario))
        fault_over = time.monotonic()
        sender.join(900)
        assert not sender.is_alive(), "the sender could not get every chunk acked"
        wait_for(
            "every acked event indexed or dead-lettered",
            settled,
            lambda counts: sum(counts) >= len(sender.acked_events),
            600,
            pipeline.assert_running,
        )
        recovery = time.monotonic() - fault_over
        time.sleep(3)  # duplicates, if any, would land now
        documents = indexed_docs(es, tenant)
        letters = dead_letters(endpoints, tenant)
    finally:
        pipeline.stop()
        es.close()
    indexed = set(documents)
    dead = {eid for eid, _reason in letters}
    lost = sender.acked_events - indexed - dead
    return {
        "scenario": scenario,
        "sent": sender.sent,
        "acked": len(sender.acked_events),
        "resent_chunks": sender.resends,
        "indexed": len(indexed),
        "dlq": len(dead),
        "dlq_by_reason": dict(Counter(reason for _eid, reason in set(letters))),
        "duplicates": len(documents) - len(indexed),
        "lost": len(lost),
        "lost_at": where_lost(endpoints, tenant, lost),
        "recovery_s": round(recovery, 1),
        **figures,
    }


def kill_9(victim: str, kills: int) -> Fault:
    def fault(pipeline: Pipeline, rng: random.Random) -> dict[str, Any]:
        for _ in range(kills):
            time.sleep(rng.uniform(1.5, 4.0))
            pipeline.kill_and_restart(victim)
        return {"victim": victim, "kills": kills}

    return fault


def dev_server(name: str) -> servers.Server:
    """The dev runner's Kafka or Elasticsearch, to stop and start; skips on other servers."""
    config = servers.DevConfig.from_env()
    server = {"kafka": servers.Kafka, "elasticsearch": servers.Elasticsearch}[name](config)
    if server.pid() is None:
        pytest.skip(f"{name} was not started by the dev runner, so this test cannot stop it")
    return server


def rss_mb(process: PipelineProcess) -> float:
    assert process.process is not None
    for line in Path(f"/proc/{process.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def elasticsearch_down(seconds: float) -> Fault:
    """Stop Elasticsearch for `seconds` while events arrive; start it again. The sink's memory
    is sampled every second of the outage."""

    def fault(pipeline: Pipeline, _rng: random.Random) -> dict[str, Any]:
        server = dev_server("elasticsearch")
        time.sleep(3)
        server.stop()
        began, peak = time.monotonic(), 0.0
        try:
            while time.monotonic() - began < seconds:
                pipeline.assert_running()
                peak = max(peak, rss_mb(pipeline.live["sink"]))
                time.sleep(1)
        finally:
            server.start(print)
            server.wait_until_answering(servers.DevConfig.from_env().start_timeout_s)
        return {"outage_s": seconds, "sink_peak_rss_mb": round(peak)}

    return fault


def broker_crash(pipeline: Pipeline, _rng: random.Random) -> dict[str, Any]:
    """SIGKILL the broker while events are produced, and start it again 5 s later."""
    server = dev_server("kafka")
    time.sleep(4)
    server.stop(hard=True)
    time.sleep(5)
    server.start(print)
    server.wait_until_answering(servers.DevConfig.from_env().start_timeout_s)
    server.ready(print)  # as `logway dev up` does after a start: the platform login, again
    return {"broker_down_s": 5}


PAUSED_S = int(3 * SESSION_TIMEOUT_S)


def processor_paused(pipeline: Pipeline, _rng: random.Random) -> dict[str, Any]:
    """SIGSTOP one of two processors past its group session (10 s, `SESSION_TIMEOUT_S`), then
    SIGCONT: the other takes its partitions meanwhile, and the woken one must not commit stale
    work."""
    paused = pipeline.live["processor"].process
    assert paused is not None
    time.sleep(4)
    paused.send_signal(signal.SIGSTOP)
    try:
        at_pause = pipeline.indexed()
        time.sleep(PAUSED_S)
        during = pipeline.indexed() - at_pause
    finally:
        paused.send_signal(signal.SIGCONT)
    time.sleep(10)
    pipeline.assert_running()  # the woken one rejoined instead of dying
    assert during > 0, "nothing was indexed while one processor was frozen: no takeover"
    return {"paused_s": PAUSED_S, "indexed_while_paused": during}


def indexed_docs(es: Elasticsearch, tenant: str) -> list[str]:
    return [str(hit["_source"]["eid"]) for hit in tenant_documents(es, tenant, ["eid"])]


def indexed_ids(es: Elasticsearch, tenant: str) -> set[str]:
    return set(indexed_docs(es, tenant))


def dead_letters(endpoints: Endpoints, tenant: str) -> list[tuple[str, str]]:
    found = []
    for _key, value in read_topic(endpoints.kafka, dlq_topic(tenant), timeout=10):
        letter = DeadLetter.from_bytes(value)
        found.append((str(orjson.loads(letter.original)["eid"]), str(letter.reason)))
    return found


def where_lost(endpoints: Endpoints, tenant: str, lost: set[str]) -> dict[str, int]:
    """The hop after which each lost event (acked, yet neither indexed nor dead-lettered) was
    last seen: never reached the raw topic (the gateway acked what Kafka did not keep), in the
    raw topic only (the processor), in the processed topic (the sink). Empty when none is lost.
    """
    if not lost:
        return {}
    raw = event_ids(read_topic(endpoints.kafka, raw_topic(tenant), timeout=10))
    processed = event_ids(read_topic(endpoints.kafka, processed_topic(tenant), timeout=10))
    return {
        "gateway (acked, not in the raw topic)": len(lost - raw - processed),
        "processor (in the raw topic, not processed)": len((lost & raw) - processed),
        "sink (processed, not indexed)": len(lost & processed),
    }


def event_ids(records: list[tuple[bytes | None, bytes]]) -> set[str]:
    """The `eid` of every record that is a JSON object carrying one."""
    found = set()
    for _key, value in records:
        try:
            document = orjson.loads(value)
        except orjson.JSONDecodeError:
            continue
        if isinstance(document, dict) and "eid" in document:
            found.add(str(document["eid"]))
    return found


def dead_ids(endpoints: Endpoints, tenant: str) -> set[str]:
    return {eid for eid, _reason in dead_letters(endpoints, tenant)}


def assert_balanced(row: dict[str, Any]) -> None:
    LEDGER.append(row)
    print(row)
    assert (row["lost"], row["duplicates"]) == (0, 0), row
    assert row["acked"] == row["sent"] == CHUNKS * PER_CHUNK
    assert row["dlq"] > 0  # the broken 5% went to the DLQ, not nowhere


@pytest.mark.fault
@pytest.mark.integration
@pytest.mark.parametrize("victim", ["processor", "sink", "gateway"])
def test_kill_9_once_loses_and_duplicates_nothing(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path, victim: str
) -> None:
    tenant = f"{tenant_prefix}-k{victim[:4]}"
    row = run_scenario(endpoints, tenant, tmp_path, "kill -9 once", kill_9(victim, 1))
    assert_balanced(row)
    # Restarted under its name (static membership), a worker takes its partitions back at
    # once: about 13 s here, most of it the sender's own remaining time. Before, the group
    # waited out the dead member's session: 61 s (processor) and 46 s (sink).
    assert row["recovery_s"] < 30, row


@pytest.mark.fault
@pytest.mark.integration
@pytest.mark.parametrize(
    "seconds", [60, pytest.param(600, marks=[pytest.mark.chaos, pytest.mark.timeout(1800)])]
)
def test_elasticsearch_down_loses_nothing_and_bounds_memory(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path, seconds: int
) -> None:
    scenario = f"Elasticsearch down {seconds} s"
    row = run_scenario(
        endpoints, f"{tenant_prefix}-es{seconds}", tmp_path, scenario, elasticsearch_down(seconds)
    )
    assert_balanced(row)
    assert row["sink_peak_rss_mb"] < 400, row


@pytest.mark.fault
@pytest.mark.integration
def test_a_broker_crash_while_producing_loses_nothing(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    row = run_scenario(endpoints, f"{tenant_prefix}-brk", tmp_path, "broker kill -9", broker_crash)
    assert_balanced(row)


@pytest.mark.fault
@pytest.mark.integration
def test_a_processor_paused_past_its_session_loses_nothing(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    row = run_scenario(
        endpoints,
        f"{tenant_prefix}-stop",
        tmp_path,
        f"processor SIGSTOP {PAUSED_S} s (of 2)",
        processor_paused,
        processors=2,
    )
    assert_balanced(row)


@pytest.mark.chaos
@pytest.mark.fault
@pytest.mark.integration
@pytest.mark.parametrize("victim", ["processor", "sink", "gateway"])
def test_kill_9_five_times_loses_and_duplicates_nothing(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path, victim: str
) -> None:
    tenant = f"{tenant_prefix}-c{victim[:4]}"
    assert_balanced(
        run_scenario(endpoints, tenant, tmp_path, f"{victim} kill -9 x5", kill_9(victim, 5))
    )


@pytest.mark.integration
def test_the_ledger_says_after_which_hop_an_event_was_lost(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    tenant = f"{tenant_prefix}-hops"
    apply_tenant(endpoints, tmp_path, tenant)
    producer = Producer(endpoints.kafka.client({"acks": "all"}))
    for eid in ("in-raw", "in-both", "indexed"):
        producer.produce(raw_topic(tenant), orjson.dumps({"eid": eid, "msg": "m"}))
    producer.produce(raw_topic(tenant), b"not json at all")
    for eid in ("in-both", "indexed"):
        producer.produce(processed_topic(tenant), orjson.dumps({"eid": eid, "logway": {}}))
    assert producer.flush(10) == 0

    lost = {"never-arrived", "in-raw", "in-both"}
    assert where_lost(endpoints, tenant, lost) == {
        "gateway (acked, not in the raw topic)": 1,
        "processor (in the raw topic, not processed)": 1,
        "sink (processed, not indexed)": 1,
    }
    assert where_lost(endpoints, tenant, set()) == {}


# -- A cluster shaped like production: three brokers (replication 3, min.insync.replicas 2),
# -- reached over SASL_SSL (`make chaos`; skipped on a single broker).


def cluster_node(node: int) -> servers.Kafka:
    config = servers.DevConfig.from_env()
    if config.kafka_brokers < 3:
        pytest.skip("needs the three-broker dev cluster: `make chaos` starts it")
    server = servers.Kafka(config, node)
    if server.pid() is None:
        pytest.skip(f"broker {node + 1} was not started by the dev runner")
    return server


def node_of(broker_id: int) -> int:
    return broker_id - 1  # node.id is the node's index + 1


def partition_leader(endpoints: Endpoints, topic: str, partition: int = 0) -> int:
    from confluent_kafka.admin import AdminClient

    listed = AdminClient(endpoints.kafka.admin()).list_topics(topic, timeout=15)
    return int(listed.topics[topic].partitions[partition].leader)


def quorum_leader() -> int:
    """The active controller's node id, as Kafka's own metadata quorum tool reports it."""
    import re
    import subprocess

    config = servers.DevConfig.from_env()
    first = servers.Kafka(config, 0)
    java = servers.require_java(17, "LOGWAY_KAFKA_JAVA_HOME", "Kafka's tools need Java 17")
    result = subprocess.run(
        [
            *(java, "-cp", str(first.dist / "libs" / "*")),
            "org.apache.kafka.tools.MetadataQuorumCommand",
            *("--bootstrap-server", config.kafka_bootstrap, "describe", "--status"),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    found = re.search(r"LeaderId:\s+(\d+)", result.stdout)
    assert found is not None, result.stdout + result.stderr
    return int(found.group(1))


def bounce(node: int, down_s: float, *, hard: bool = True) -> None:
    server = cluster_node(node)
    server.stop(hard=hard)
    time.sleep(down_s)
    server.start(print)
    server.wait_until_answering(servers.DevConfig.from_env().start_timeout_s)


def busy_leader_killed(pipeline: Pipeline, _rng: random.Random) -> dict[str, Any]:
    """SIGKILL the leader of the tenant's busiest partition under load; back after 10 s."""
    time.sleep(4)
    leader = partition_leader(pipeline.endpoints, raw_topic(pipeline.tenant))
    bounce(node_of(leader), 10)
    return {"killed_broker": leader}


def controller_killed(pipeline: Pipeline, _rng: random.Random) -> dict[str, Any]:
    """SIGKILL the active controller under load; back after 10 s."""
    time.sleep(4)
    leader = quorum_leader()
    bounce(node_of(leader), 10)
    return {"killed_controller": leader}


def rolling_restart(pipeline: Pipeline, _rng: random.Random) -> dict[str, Any]:
    """Each broker in turn stopped (SIGTERM, as a rolling update does) and started again."""
    time.sleep(2)
    for node in range(3):
        bounce(node, 2, hard=False)
    return {"restarted_brokers": 3}


def tenants_leader_moved_while_workers_start(
    pipeline: Pipeline, _rng: random.Random
) -> dict[str, Any]:
    """The processor and the sink restarted while the leader of `_logway.tenants` is killed:
    they start while its leadership moves (before, the registry thread died on
    NOT_LEADER_FOR_PARTITION and the processor waited for ever)."""
    from logway.core.names import TENANTS_TOPIC

    time.sleep(3)
    leader = partition_leader(pipeline.endpoints, TENANTS_TOPIC)
    server = cluster_node(node_of(leader))
    server.stop(hard=True)
    for name in ("processor", "sink"):
        pipeline.kill_and_restart(name)
    time.sleep(10)
    server.start(print)
    server.wait_until_answering(servers.DevConfig.from_env().start_timeout_s)
    return {"killed_broker": leader}


CLUSTER_FAULTS = {
    "busy partition's leader kill -9": busy_leader_killed,
    "active controller kill -9": controller_killed,
    "rolling restart of 3 brokers": rolling_restart,
    "_logway.tenants leader moved as workers start": tenants_leader_moved_while_workers_start,
}


@pytest.mark.chaos
@pytest.mark.fault
@pytest.mark.integration
@pytest.mark.parametrize("scenario", list(CLUSTER_FAULTS))
def test_the_three_broker_cluster_loses_and_duplicates_nothing(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path, scenario: str
) -> None:
    cluster_node(0)  # skips on a single broker
    tenant = f"{tenant_prefix}-n{list(CLUSTER_FAULTS).index(scenario)}"
    row = run_scenario(endpoints, tenant, tmp_path, scenario, CLUSTER_FAULTS[scenario])
    assert_balanced(row)


def api_server_restarted(pipeline: Pipeline, _rng: random.Random) -> dict[str, Any]:
    """kube-apiserver stopped for 15 s under the operator and the pod watcher, then started:
    both keep running (their watches are retried) or end non-zero and are started again, as
    Kubernetes would; a LoggingPipeline made after is Ready within 60 s."""
    from logway.dev.kube import KubeApiServer, install_crd
    from tests.integration.operator_support import (
        Pipelines,
        admin_client,
        operator,
        ready,
        spec,
        wait_for_webhook,
    )
    from tests.integration.operator_support import (
        pipeline as resource,
    )

    config = servers.DevConfig.from_env()
    kube = KubeApiServer(config)
    if kube.pid() is None:
        pytest.skip("kube-apiserver was not started by the dev runner")
    api = admin_client()
    install_crd(api)
    webhook = free_port()
    folder = pipeline.tmp_path
    watchers = {
        "operator": operator(pipeline.endpoints, folder, webhook_port=webhook),
        "podwatch": PipelineProcess(
            pipeline.endpoints, ["podwatch", "--kubeconfig", str(kube.kubeconfig)],
            folder / "podwatch.log",
        ),
    }  # fmt: skip
    for process in watchers.values():
        process.start()
    restarts: Counter[str] = Counter()
    try:
        wait_for_webhook(api, webhook, watchers["operator"].assert_running)
        time.sleep(3)
        kube.stop()
        time.sleep(15)
        kube.start(print)
        kube.wait_until_answering(config.start_timeout_s)
        kube.ready(print)
        back = time.monotonic()
        for name, process in watchers.items():  # Kubernetes restarts what exits
            assert process.process is not None
            if process.process.poll() is not None:
                assert process.process.returncode != 0, f"{name} exited 0 after the outage"
                restarts[name] += 1
                watchers[name] = PipelineProcess(
                    process.endpoints, process.args, process.log_path, extra_env=process.extra_env
                ).start()
        namespace = f"{pipeline.tenant}-ns"
        name = f"{pipeline.tenant}-after"
        resources = Pipelines(admin_client())
        resources.namespace(namespace)
        wait_for_webhook(admin_client(), webhook, watchers["operator"].assert_running)
        resources.create(namespace, resource(name, spec(name)))
        resources.wait_condition(namespace, name, ready, "Ready after the outage", timeout=60)
        ready_s = time.monotonic() - back
        for process in watchers.values():
            process.assert_running()
    finally:
        for process in watchers.values():
            process.stop()
    return {
        "api_server_down_s": 15,
        "restarted": dict(restarts),
        "resource_ready_after_s": round(ready_s, 1),
    }


@pytest.mark.chaos
@pytest.mark.fault
@pytest.mark.integration
def test_the_api_server_restarted_under_the_operator_and_the_pod_watcher(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    row = run_scenario(
        endpoints, f"{tenant_prefix}-kube", tmp_path, "kube-apiserver down 15 s",
        api_server_restarted,
    )  # fmt: skip
    assert_balanced(row)


@pytest.mark.fault
@pytest.mark.integration
def test_the_run_all_view_rides_out_the_broker_going_away_and_counts_again(
    endpoints: Endpoints, tenant_prefix: str, tmp_path: Path
) -> None:
    """`make run`'s view (`logway run all`) lists the tenants' topics, then counts their
    records. A broker going away while it counted ended it with a traceback
    (`get_watermark_offsets`: not leader, or unknown partition; 3 runs of 3 before the fix).
    It says Kafka is away, keeps trying, counts again once the broker is back, and stops
    cleanly."""
    tenant = f"{tenant_prefix}-view"
    apply_tenant(endpoints, tmp_path, tenant, partitions=4)
    counted = f"{tenant}: received"
    output = tmp_path / "run-all.out"
    with output.open("wb") as sink:
        view = subprocess.Popen(
            [sys.executable, "-m", "logway", "run", "all", "--tenants-matching", re.escape(tenant)],
            cwd=tmp_path,
            env=env_for(endpoints),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:

            def said() -> str:
                return output.read_text(errors="replace")

            def alive() -> None:
                assert view.poll() is None, said()[-3000:]

            wait_for("the tenant counted", lambda: said().count(counted), bool, 90, alive)
            server = dev_server("kafka")
            server.stop()
            try:
                wait_for(
                    "two rounds that found Kafka away",
                    lambda: said().count("Kafka cannot"),
                    lambda n: n >= 2,
                    60,
                    alive,
                )
                before = said().count(counted)
            finally:
                server.start(print)
                server.wait_until_answering(servers.DevConfig.from_env().start_timeout_s)
                server.ready(print)
            wait_for(
                "the tenant counted again",
                lambda: said().count(counted),
                lambda n: n > before,
                90,
                alive,
            )
        finally:
            view.send_signal(signal.SIGTERM)
            code = view.wait(60)
    assert code == 0, said()[-3000:]
    assert "Traceback" not in said()
