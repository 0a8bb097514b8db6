"""The worker runtime against the real broker: following tenants' topics as they appear."""

from __future__ import annotations

import re

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic

from connectors.runtime.subscription import Subscription, TenantTopics
from logway.core.settings import Endpoints
from tests.integration.support import wait_for

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def create(admin: AdminClient, *topics: str) -> None:
    """Create `topics` and wait until the broker's metadata lists them: a topic is acknowledged
    created before every listing shows it, and a look in between rightly finds nothing new."""
    for future in admin.create_topics([NewTopic(t, 1) for t in topics]).values():
        future.result(timeout=30)
    wait_for(
        f"{topics} in the broker's metadata",
        lambda: set(admin.list_topics(timeout=10).topics),
        lambda listed: set(topics) <= listed,
        30,
    )


def test_a_subscription_follows_new_tenants_when_due(
    endpoints: Endpoints, tenant_prefix: str
) -> None:
    admin = AdminClient(endpoints.kafka.client())
    kind = re.compile(rf"^logs\.({re.escape(tenant_prefix)}-[a-z]+)\.raw$")
    clock = Clock()
    topics = TenantTopics(admin, kind, lambda t: not t.endswith("-b"), 10, clock=clock)
    consumer = Consumer(endpoints.kafka.consumer(f"{tenant_prefix}-follow"))
    subscription = Subscription(consumer, topics)
    try:
        assert subscription.refresh() is False  # none yet: waits, says so once
        create(admin, f"logs.{tenant_prefix}-a.raw", f"logs.{tenant_prefix}-b.raw")
        assert topics.changed() is None, "looked again before the interval"
        clock.now = 10
        assert subscription.refresh() is True
        assert topics.topics == [f"logs.{tenant_prefix}-a.raw"]  # -b is not served
        create(admin, f"logs.{tenant_prefix}-c.raw")
        clock.now = 20
        assert subscription.refresh() is True
        assert topics.topics == [f"logs.{tenant_prefix}-a.raw", f"logs.{tenant_prefix}-c.raw"]
        wanted = set(topics.topics)
        wait_for(
            "both served topics assigned",
            lambda: (consumer.poll(0.5), {tp.topic for tp in consumer.assignment()})[1],
            lambda assigned: assigned == wanted,
            60,
        )
        clock.now = 30
        assert topics.changed() is None  # due, nothing new
        create(admin, f"logs.{tenant_prefix}-d.raw")
        assert topics.changed() is None  # not due again before 40
        topics.nudge()  # a tenant was published: look now
        assert f"logs.{tenant_prefix}-d.raw" in (topics.changed() or [])
    finally:
        consumer.close()
        admin.delete_topics([f"logs.{tenant_prefix}-{t}.raw" for t in "abcd"])


def test_a_follower_whose_take_fails_ends_the_process_instead_of_going_deaf(
    endpoints: Endpoints, tenant_prefix: str
) -> None:
    """Before, an exception in a follower's thread ended that thread only: the processor's
    registry stopped at `NOT_LEADER_FOR_PARTITION` and the worker waited for ever. Now a
    transient error is retried and anything else is a death (here, recorded instead of exiting);
    the follower is also started before its topic exists, as on a first install."""
    import threading

    from confluent_kafka import Producer

    from logway.core.control import TopicFollower

    topic = f"_logway.test.{tenant_prefix}"
    taken: list[str] = []
    deaths: list[tuple[str, BaseException]] = []
    died = threading.Event()

    def take(key: str, _value: bytes | None) -> None:
        taken.append(key)
        if key == "poison":
            raise KeyError("a bug in take")

    def on_death(name: str, exc: BaseException) -> None:
        deaths.append((name, exc))
        died.set()

    follower = TopicFollower(
        endpoints.kafka, f"{tenant_prefix}-follower", topic, take, on_death=on_death
    )
    follower.start()
    admin = AdminClient(endpoints.kafka.client())
    try:
        create(admin, topic)  # while the follower waits for it: a partition without a leader yet
        producer = Producer(endpoints.kafka.client())
        producer.produce(topic, b"{}", key=b"fine")
        assert producer.flush(10) == 0
        wait_for("the record", lambda: taken, lambda keys: "fine" in keys, 30)
        assert deaths == []
        producer.produce(topic, b"{}", key=b"poison")
        assert producer.flush(10) == 0
        assert died.wait(30), "the follower's failure went unnoticed"
    finally:
        follower.stop()
        admin.delete_topics([topic])
    [(name, exc)] = deaths
    assert name == f"{tenant_prefix}-follower"
    assert isinstance(exc, KeyError)
