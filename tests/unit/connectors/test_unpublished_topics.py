"""A raw topic is consumed only once its tenant's version is published and read: `apply`
creates the topics first, and a record processed before the version is read would go through
a default pipeline instead of the tenant's; a deleted tenant's topic is never consumed again."""

from connectors.processor.startup import UnpublishedTopics


def test_a_topic_is_consumed_once_its_tenant_is_published() -> None:
    published: set[str] = set()
    topics = UnpublishedTopics(published.__contains__)

    assert topics.ready(["logs.shop.raw", "logs.bank.raw"]) == []
    published.add("bank")
    assert topics.ready([]) == ["logs.bank.raw"]  # held back topics are looked at again
    assert topics.ready([]) == []
    published.add("shop")
    assert topics.ready(["logs.shop.raw"]) == ["logs.shop.raw"]  # found again: same topic
    assert topics.waiting == set()


def test_a_topic_whose_tenant_stays_unpublished_is_never_consumed() -> None:
    topics = UnpublishedTopics(lambda _tenant: False)
    for _ in range(100):
        assert topics.ready(["logs.gone.raw"]) == []
    assert topics.waiting == {"logs.gone.raw"}


def test_a_published_tenant_is_not_held_back_at_all() -> None:
    topics = UnpublishedTopics(lambda _tenant: True)
    assert topics.ready(["logs.shop.raw"]) == ["logs.shop.raw"]
