"""A new raw topic waits for its tenant's published version before the processor consumes it:
`apply` creates the topics first, and a record processed before the version is read would go
through the default pipeline instead of the tenant's."""

from connectors.processor.app import UnpublishedTopics


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_topic_is_consumed_once_its_tenant_is_published() -> None:
    published: set[str] = set()
    clock = Clock()
    topics = UnpublishedTopics(published.__contains__, wait_s=30, clock=clock)

    assert topics.ready(["logs.shop.raw", "logs.bank.raw"]) == []
    published.add("bank")
    clock.now += 0.5
    assert topics.ready([]) == ["logs.bank.raw"]  # held back topics are looked at again
    assert topics.ready([]) == []
    published.add("shop")
    assert topics.ready(["logs.shop.raw"]) == ["logs.shop.raw"]  # found again: same topic
    assert topics.waiting == {}


def test_a_topic_whose_tenant_stays_unpublished_is_consumed_after_the_wait() -> None:
    clock = Clock()
    topics = UnpublishedTopics(lambda _tenant: False, wait_s=30, clock=clock)

    assert topics.ready(["logs.shop.raw"]) == []
    clock.now += 29.9
    assert topics.ready(["logs.shop.raw"]) == []  # the first sighting counts, not the latest
    clock.now += 0.1
    assert topics.ready([]) == ["logs.shop.raw"]
    assert topics.waiting == {}


def test_a_published_tenant_is_not_held_back_at_all() -> None:
    topics = UnpublishedTopics(lambda _tenant: True, wait_s=30, clock=Clock())
    assert topics.ready(["logs.shop.raw"]) == ["logs.shop.raw"]
