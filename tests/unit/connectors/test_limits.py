"""A tenant's records_per_s, shared out by partitions, with its two policies."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from connectors.processor.limits import TenantLimits
from logway.core.metrics import THROTTLED_SECONDS
from topology.model import Limits


class TP(NamedTuple):
    topic: str
    partition: int


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def tps(tenant: str, *partitions: int) -> set[TP]:
    return {TP(f"logs.{tenant}.raw", p) for p in partitions}


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make(
    clock: Clock, declared: dict[str, Limits]
) -> tuple[TenantLimits, list[set[TP]], list[set[TP]]]:
    paused: list[set[TP]] = []
    resumed: list[set[TP]] = []
    limits = TenantLimits(
        lambda tenant: declared.get(tenant, Limits()), paused.append, resumed.append, clock
    )
    return limits, paused, resumed


def test_a_tenant_out_of_tokens_is_held_until_its_rate_brings_them_back(clock: Clock) -> None:
    limits, paused, resumed = make(clock, {"noisy": Limits(records_per_s=1000)})
    limits.assigned(tps("noisy", 0, 1, 2) | tps("quiet", 0), lambda _topic: None)

    assert sum(limits.admit("noisy") for _ in range(1500)) == 1000  # one second's worth
    assert not limits.ready("noisy")
    limits.hold("noisy")
    limits.hold("noisy")  # once
    assert paused == [tps("noisy", 0, 1, 2)]
    assert limits.held() == {"noisy"}

    clock.now += 0.0005
    assert not limits.ready("noisy")
    clock.now += 0.001
    assert limits.ready("noisy")  # a token a millisecond
    before = THROTTLED_SECONDS.labels(component="processor", tenant="noisy")._value.get()
    limits.release("noisy")
    assert resumed == [tps("noisy", 0, 1, 2)]
    throttled = THROTTLED_SECONDS.labels(component="processor", tenant="noisy")._value.get()
    assert throttled - before == pytest.approx(0.0015)
    assert limits.admit("quiet")  # another tenant has its own bucket
    assert paused == [tps("noisy", 0, 1, 2)]


def test_the_rate_is_the_limit_times_the_share_of_partitions_assigned_here(clock: Clock) -> None:
    limits, _, _ = make(clock, {"acme": Limits(records_per_s=900)})
    # 2 of the topic's 6 partitions: 300 records/s here, 300 at once after a quiet spell
    limits.assigned(tps("acme", 0, 1), lambda topic: 6 if topic == "logs.acme.raw" else None)
    assert sum(limits.admit("acme") for _ in range(1000)) == 300
    clock.now += 0.1
    assert sum(limits.admit("acme") for _ in range(1000)) == 30


def test_over_time_a_tenant_gets_its_limit_and_no_more(clock: Clock) -> None:
    limits, _, _ = make(clock, {"acme": Limits(records_per_s=500)})
    limits.assigned(tps("acme", 0), lambda _topic: 1)
    taken = 0
    for _ in range(10_000):  # 10 s in steps of 1 ms, asking for 50 records each time
        taken += sum(limits.admit("acme") for _ in range(50))
        clock.now += 0.001
    assert 500 * 10 <= taken <= 500 * 10 + 500  # the limit, and one second's worth at first


def test_the_policy_is_the_tenants(clock: Clock) -> None:
    limits, _, _ = make(clock, {"acme": Limits(records_per_s=100, over_limit="drop")})
    assert limits.policy("acme") == "drop"
    assert limits.policy("other") == "delay"  # the default


def test_a_rebalance_forgets_what_faust_resumed_and_counts_its_time(clock: Clock) -> None:
    limits, paused, resumed = make(clock, {"acme": Limits(records_per_s=100)})
    limits.assigned(tps("acme", 0, 1), lambda _topic: 2)
    limits.hold("acme")
    before = THROTTLED_SECONDS.labels(component="processor", tenant="acme")._value.get()
    clock.now += 1
    limits.assigned(tps("acme", 1), lambda _topic: 2)  # Faust resumed everything it assigned
    assert limits.held() == set()
    assert resumed == []
    after = THROTTLED_SECONDS.labels(component="processor", tenant="acme")._value.get()
    assert after - before == pytest.approx(1.0)
    limits.hold("acme")  # held again: now only its remaining partition
    assert paused[-1] == tps("acme", 1)


def test_a_changed_limit_takes_effect_at_the_next_record(clock: Clock) -> None:
    declared = {"acme": Limits(records_per_s=1000)}
    limits, _, _ = make(clock, declared)
    limits.assigned(tps("acme", 0), lambda _topic: 1)
    assert sum(limits.admit("acme") for _ in range(500)) == 500
    declared["acme"] = Limits(records_per_s=100)  # republished lower
    assert sum(limits.admit("acme") for _ in range(500)) == 100  # not the 500 left


def test_a_tenant_held_for_want_of_a_published_version_is_not_counted_as_throttled(
    clock: Clock,
) -> None:
    limits, paused, resumed = make(clock, {})
    limits.assigned(tps("gone", 0, 1), lambda _topic: 2)
    before = THROTTLED_SECONDS.labels(component="processor", tenant="gone")._value.get()
    limits.hold("gone", throttled=False)
    assert paused == [tps("gone", 0, 1)]
    clock.now += 30
    limits.release("gone")
    assert resumed == [tps("gone", 0, 1)]
    after = THROTTLED_SECONDS.labels(component="processor", tenant="gone")._value.get()
    assert after == before  # a deleted tenant is not over its limit
