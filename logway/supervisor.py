"""`logway run all`: the processor and the sink as child processes, and a live per-tenant view.

Children that exit unexpectedly are restarted (at-least-once delivery makes that safe). While
Kafka cannot be reached (a broker restarting), the view says so and tries again, as the
children do. Ctrl-C or SIGTERM stops every child this process started, and nothing else.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient
from rich.console import Console
from rich.live import Live
from rich.table import Table

from logway.core.discovery import served_topics, tenant_matcher
from logway.core.names import RAW_TOPIC_RE, tenant_of_topic
from logway.core.settings import Endpoints
from logway.counts import TenantCounts, counts_consumer, tenant_counts
from logway.demo import send_demo

COMPONENTS = ("processor", "sink")
RESTART_DELAY_S = 3.0


@dataclass
class Child:
    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        self.started_at = time.monotonic()

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def render(rows: list[TenantCounts], children: list[Child]) -> Table:
    table = Table(title="logway: per tenant (Ctrl-C stops everything started here)")
    for column in ("tenant", "received", "processed", "indexed", "dead-lettered"):
        table.add_column(column, justify="left" if column == "tenant" else "right")
    for row in rows:
        table.add_row(
            row.tenant,
            str(row.received),
            str(row.processed),
            "-" if row.indexed is None else str(row.indexed),
            str(row.dead_lettered),
        )
    states = ", ".join(
        f"{c.name} {'running' if c.exited() is None else 'restarting'}"
        + (f" (restarted {c.restarts}x)" if c.restarts else "")
        for c in children
    )
    table.caption = f"{states}; logs in {children[0].log_path.parent}"
    return table


def print_lines(console: Console, rows: list[TenantCounts]) -> None:
    stamp = time.strftime("%H:%M:%S")
    for row in rows:
        console.print(
            f"{stamp} {row.tenant}: received {row.received}, processed {row.processed}, "
            f"indexed {'-' if row.indexed is None else row.indexed}, "
            f"dead-lettered {row.dead_lettered}",
            highlight=False,
        )


def run_all(
    endpoints: Endpoints,
    *,
    tenants_matching: str,
    demo: bool,
    log_dir: Path,
    refresh_s: float = 2.0,
) -> None:
    console = Console()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    children = [
        Child(
            name,
            [sys.executable, "-m", "logway", "run", name, "--tenants-matching", tenants_matching],
            log_dir / f"{name}.log",
        )
        for name in COMPONENTS
    ]
    # Quiet clients (as counts_consumer is): the view reports an unreachable Kafka itself,
    # once per try, where librdkafka would log every failed connection on the terminal.
    admin = AdminClient(endpoints.kafka.admin())
    consumer = counts_consumer(endpoints.kafka)
    es = endpoints.es.client()
    producer = Producer(endpoints.kafka.producer())
    serves = tenant_matcher(tenants_matching)
    for child in children:
        child.start()
    console.print(f"started {', '.join(c.name for c in children)}; logs in {log_dir}")
    sent_first_burst = False
    # A terminal gets a table redrawn in place; a log file or a pipe gets plain lines.
    show: Callable[[list[TenantCounts]], None]
    try:
        with Live(console=console, auto_refresh=False, transient=False) as live:
            if console.is_terminal:
                show = lambda rows: live.update(render(rows, children), refresh=True)  # noqa: E731
            else:
                show = lambda rows: print_lines(console, rows)  # noqa: E731
            while not stop.is_set():
                for child in children:
                    if child.exited() is not None and time.monotonic() - child.started_at > (
                        RESTART_DELAY_S
                    ):
                        child.restarts += 1
                        child.start()
                # The children ride out a Kafka that goes away; so does the view, whether it
                # goes while the topics are listed or while their records are counted.
                doing = "list the tenants' topics"
                try:
                    topics = served_topics(admin, RAW_TOPIC_RE, serves)
                    tenants = [tenant for t in topics if (tenant := tenant_of_topic(t))]
                    if demo and tenants:
                        burst = 5 if sent_first_burst else 200
                        send_demo(producer, tenants, burst, seed=int(time.time()))
                        sent_first_burst = True
                    doing = "count the tenants' records"
                    rows = tenant_counts(consumer, es, tenants)
                except KafkaException as exc:
                    console.print(
                        f"{time.strftime('%H:%M:%S')} Kafka cannot {doing} "
                        f"({exc.args[0].str()}); trying again",
                        highlight=False,
                    )
                    stop.wait(refresh_s)
                    continue
                show(rows)
                stop.wait(refresh_s)
    finally:
        console.print("stopping...")
        for child in children:
            child.stop()
        consumer.close()
        producer.flush(10)
        console.print("stopped processor and sink; servers keep running (`logway dev down`)")
