"""Supervised loops: a transient error starts the loop again, anything else ends the process
(here: the `on_death` the test gives), and a loop that returns is a death too."""

from __future__ import annotations

import threading

import pytest
from confluent_kafka import KafkaError, KafkaException

from logway.core import loops
from logway.core.loops import LOOPS, Loop, is_transient, run_supervised


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loops, "BACKOFF_FIRST_S", 0.01)


def kafka_error(code: int) -> KafkaException:
    return KafkaException(KafkaError(code))


@pytest.mark.parametrize(
    "exc",
    [
        kafka_error(KafkaError.NOT_LEADER_FOR_PARTITION),  # a new topic's partition, no leader
        kafka_error(KafkaError.LEADER_NOT_AVAILABLE),
        kafka_error(KafkaError._TRANSPORT),
        kafka_error(KafkaError._ALL_BROKERS_DOWN),
        kafka_error(KafkaError._TIMED_OUT),
        kafka_error(KafkaError._DESTROY_BROKER),  # a broker killed under a request
        ConnectionRefusedError(111, "refused"),
        TimeoutError("read timed out"),
    ],
)
def test_errors_a_retry_outlives_are_transient(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        kafka_error(KafkaError.TOPIC_AUTHORIZATION_FAILED),
        kafka_error(KafkaError.SASL_AUTHENTICATION_FAILED),
        KeyError("version"),
        RecursionError("maximum recursion depth exceeded"),
        ValueError("bad record"),
    ],
)
def test_errors_that_need_a_restart_or_a_person_are_not(exc: BaseException) -> None:
    assert not is_transient(exc)


def test_a_transient_error_starts_the_loop_again_and_counts_it() -> None:
    stop = threading.Event()
    runs: list[int] = []
    deaths: list[str] = []

    def body(loop: Loop) -> None:
        runs.append(1)
        if len(runs) < 3:
            raise kafka_error(KafkaError.NOT_LEADER_FOR_PARTITION)
        loop.beat()
        stop.set()

    run_supervised("test-transient", body, stop, on_death=lambda name, _e: deaths.append(name))
    assert len(runs) == 3
    assert deaths == []
    [loop] = [lp for lp in LOOPS.all() if lp.name == "test-transient"]
    assert loop.retries == 2
    assert loop.silent_for() < 5


def test_an_unexpected_error_is_a_death_not_a_silent_thread() -> None:
    stop = threading.Event()
    deaths: list[tuple[str, BaseException]] = []

    def body(_loop: Loop) -> None:
        raise KeyError("tenant_said")

    run_supervised("test-unexpected", body, stop, on_death=lambda n, e: deaths.append((n, e)))
    [(name, exc)] = deaths
    assert name == "test-unexpected"
    assert isinstance(exc, KeyError)


def test_a_loop_that_returns_while_not_stopped_is_a_death() -> None:
    deaths: list[str] = []
    run_supervised(
        "test-returns",
        lambda _loop: None,
        threading.Event(),
        on_death=lambda n, _e: deaths.append(n),
    )
    assert deaths == ["test-returns"]


def test_a_stopped_loop_ends_quietly() -> None:
    stop = threading.Event()
    deaths: list[str] = []

    def body(_loop: Loop) -> None:
        stop.set()
        raise ValueError("raised while stopping")

    run_supervised("test-stopped", body, stop, on_death=lambda n, _e: deaths.append(n))
    assert deaths == []
