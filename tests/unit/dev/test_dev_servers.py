"""The dev runner: Kafka cluster ids that `kafka-storage format -t` takes, every time, and an
Elasticsearch that a new checkout at an old path starts from nothing."""

from __future__ import annotations

import shutil
from base64 import urlsafe_b64decode
from pathlib import Path

import pytest

from logway.dev.servers import DevConfig, Elasticsearch, kafka_cluster_id, running_as_root

SAMPLES = 5000  # a leading "-" comes once in 64 ids; this many would show it ~78 times


def test_cluster_ids_are_16_random_bytes_that_never_start_with_a_dash() -> None:
    ids = [kafka_cluster_id() for _ in range(SAMPLES)]
    assert not [i for i in ids if i.startswith("-")]  # the storage tool reads it as an option
    assert {len(urlsafe_b64decode(i + "==")) for i in ids} == {16}
    assert {len(i) for i in ids} == {22}
    assert len(set(ids)) == SAMPLES


@pytest.mark.skipif(not running_as_root(), reason="only root keeps ES's state under /var/tmp")
def test_a_new_checkout_at_an_old_path_starts_elasticsearch_from_nothing(tmp_path: Path) -> None:
    es = Elasticsearch(DevConfig(home=tmp_path / ".logway", dist=tmp_path / "dist"))
    leftover = es.es_run / "config" / "users"
    try:
        leftover.parent.mkdir(parents=True)
        leftover.write_text("logway-platform:$2a$10$an-earlier-checkouts-hash\n")
        es.platform_password_file.parent.mkdir(parents=True)
        es.platform_password_file.write_text("this checkout's\n")
        es._forget_an_earlier_checkout()
        assert leftover.exists()  # the same checkout, restarted: its state is kept

        es.platform_password_file.unlink()
        es._forget_an_earlier_checkout()
        assert not es.es_run.exists()
    finally:
        shutil.rmtree(es.es_run, ignore_errors=True)
