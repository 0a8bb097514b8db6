"""Background loops that never go deaf: each runs supervised, and its last progress is known.

A worker is more than its main loop: the tenant registry, the pod table, topic discovery, the
lag monitor and the operator's followers each run in a thread of their own. A thread that ends
on an exception leaves a live process that no longer does its job, and nothing restarts it.
So every such loop runs through `supervise`:

- an error that passes by itself (a partition without a leader while a topic is being made, a
  leader election, a broker or API server restarting, a TLS handshake, a time-out) is logged
  and the loop starts again after a backoff (1 s, doubling, at most 30 s);
- anything else ends the process at once with `EXIT_LOOP_DIED` and one log line naming the
  loop, so that Kubernetes restarts the pod: a process never runs on with a dead loop.

Each loop also says when it last made progress (`Loop.beat`), which the health endpoint reads.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException

log = logging.getLogger("logway.loops")

EXIT_LOOP_DIED = 71
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0

# Kafka errors that a retry outlives: partitions without a leader yet (a new topic, an
# election), brokers away, time-outs, a coordinator moving.
TRANSIENT_KAFKA = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NOT_ENOUGH_REPLICAS,
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.NETWORK_EXCEPTION,
        KafkaError.BROKER_NOT_AVAILABLE,
        KafkaError._TRANSPORT,
        KafkaError._TIMED_OUT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._UNKNOWN_PARTITION,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError._WAIT_COORD,
        KafkaError._SSL,
        KafkaError._RESOLVE,
        # A broker's handle torn down under a request while it leaves the cluster (a broker
        # killed; seen in `make chaos` on the three-broker cluster).
        KafkaError._DESTROY_BROKER,
        KafkaError._MSG_TIMED_OUT,
        KafkaError._TIMED_OUT_QUEUE,
    }
)


def failpoints(spec: str) -> dict[str, str]:
    """`LOGWAY_FAILPOINTS`: `<loop>=transient` or `<loop>=fatal`, comma-separated. The named
    loop fails so at its first run: a transient error (it must recover) or an unexpected one
    (the process must exit). For the tests that fail each loop in turn; unset in production."""
    found = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, kind = item.partition("=")
        if kind not in ("transient", "fatal"):
            raise SystemExit(f"LOGWAY_FAILPOINTS: {item!r} is not <loop>=transient|fatal")
        found[name] = kind
    return found


FAILPOINTS = failpoints(os.environ.get("LOGWAY_FAILPOINTS", ""))


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` is the kind of error a retry outlives (see the module docstring)."""
    if isinstance(exc, KafkaException):
        error = exc.args[0] if exc.args else None
        if isinstance(error, KafkaError):
            return error.retriable() or error.code() in TRANSIENT_KAFKA
        return False
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    # The API server's and Elasticsearch's clients: unreachable, or answering 5xx / 429.
    status = getattr(exc, "status", None) or getattr(getattr(exc, "meta", None), "status", None)
    if isinstance(status, int) and (status >= 500 or status == 429):
        return True
    name = type(exc).__name__
    return name in {"ConnectionError", "ConnectionTimeout", "MaxRetryError", "ProtocolError"}


# How long a loop may go without progress before the health endpoint says the process is not
# live: a follower's poll beats twice a second, a retry's backoff is at most BACKOFF_MAX_S.
MAX_SILENCE_S = 120.0


@dataclass
class Loop:
    """One supervised loop: its name, when it last made progress (monotonic seconds), and how
    long it may go without (`MAX_SILENCE_S` unless it says otherwise)."""

    name: str
    max_silence_s: float = MAX_SILENCE_S
    beaten: float = field(default_factory=time.monotonic)
    retries: int = 0

    def beat(self) -> None:
        self.beaten = time.monotonic()

    def silent_for(self) -> float:
        return time.monotonic() - self.beaten

    def live(self) -> bool:
        return self.silent_for() <= self.max_silence_s


class Loops:
    """The supervised loops of this process, for the health endpoint."""

    def __init__(self) -> None:
        self._loops: dict[str, Loop] = {}
        self._lock = threading.Lock()

    def add(self, name: str, max_silence_s: float = MAX_SILENCE_S) -> Loop:
        """A loop to watch (one loop of that name: a restarted loop takes its place)."""
        with self._lock:
            loop = self._loops[name] = Loop(name, max_silence_s)
        return loop

    def all(self) -> list[Loop]:
        with self._lock:
            return list(self._loops.values())


LOOPS = Loops()


def die(loop: str, exc: BaseException) -> None:
    """End the process: `loop` failed in a way no retry mends. Kubernetes restarts the pod."""
    log.critical(
        "%s failed and cannot recover (%s: %s); exiting %d so the process is restarted",
        loop,
        type(exc).__name__,
        exc,
        EXIT_LOOP_DIED,
        exc_info=exc,
    )
    logging.shutdown()
    os._exit(EXIT_LOOP_DIED)


def run_supervised(
    name: str,
    body: Callable[[Loop], None],
    stop: threading.Event,
    *,
    transient: Callable[[BaseException], bool] = is_transient,
    on_death: Callable[[str, BaseException], None] = die,
    max_silence_s: float = MAX_SILENCE_S,
) -> None:
    """Run `body(loop)` until `stop` is set. A transient error runs it again after a backoff;
    anything else goes to `on_death` (by default: the process exits). `body` returning while
    `stop` is not set counts as a death too: a loop is meant to run for ever."""
    loop = LOOPS.add(name, max_silence_s)
    backoff = BACKOFF_FIRST_S
    failpoint = FAILPOINTS.pop(name, None)
    while not stop.is_set():
        started = time.monotonic()
        try:
            if failpoint is not None:
                kind, failpoint = failpoint, None
                raise ConnectionError("failpoint") if kind == "transient" else RuntimeError(kind)
            body(loop)
        except Exception as exc:
            if stop.is_set():
                return
            if not transient(exc):
                on_death(name, exc)
                return
            loop.retries += 1
            if time.monotonic() - started > BACKOFF_MAX_S:  # it ran well for a while
                backoff = BACKOFF_FIRST_S
            wait = min(BACKOFF_MAX_S, backoff) * random.uniform(0.8, 1.2)  # noqa: S311 - jitter
            log.warning("%s: %s; starting it again in %.1f s", name, exc, wait)
            stop.wait(wait)
            backoff = min(BACKOFF_MAX_S, backoff * 2)
            continue
        if not stop.is_set():
            on_death(name, RuntimeError("the loop returned, and loops run for ever"))
        return


def start_supervised(
    name: str,
    body: Callable[[Loop], None],
    stop: threading.Event,
    *,
    transient: Callable[[BaseException], bool] = is_transient,
    on_death: Callable[[str, BaseException], None] = die,
    max_silence_s: float = MAX_SILENCE_S,
) -> threading.Thread:
    """`run_supervised` in a daemon thread named `name`, started."""
    thread = threading.Thread(
        target=run_supervised,
        args=(name, body, stop),
        kwargs={"transient": transient, "on_death": on_death, "max_silence_s": max_silence_s},
        name=name,
        daemon=True,
    )
    thread.start()
    return thread
