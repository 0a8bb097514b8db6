"""Kafka and Elasticsearch in containers, for machines with a Docker engine (testcontainers).

Kafka: Confluent's cp-kafka 8.0.0, which is Apache Kafka 4.0 (testcontainers' KafkaContainer is
built around that image's configuration); Elasticsearch 9.2.0, as the dev runner.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from logway.core.elastic import ElasticConnection
from logway.core.kafka import KafkaConnection
from logway.core.settings import Endpoints

KAFKA_IMAGE = "confluentinc/cp-kafka:8.0.0"
ES_IMAGE = "docker.elastic.co/elasticsearch/elasticsearch:9.2.0"


@contextmanager
def container_endpoints() -> Iterator[Endpoints]:
    from testcontainers.community.elasticsearch import ElasticSearchContainer
    from testcontainers.community.kafka import KafkaContainer

    kafka = KafkaContainer(KAFKA_IMAGE).with_kraft()
    elastic = (
        ElasticSearchContainer(ES_IMAGE, mem_limit="2g")
        .with_env("discovery.type", "single-node")
        .with_env("xpack.security.enabled", "false")
        .with_env("ES_JAVA_OPTS", "-Xms1g -Xmx1g")
    )
    with kafka, elastic:
        host, port = elastic.get_container_host_ip(), elastic.get_exposed_port(9200)
        yield Endpoints(
            kafka=KafkaConnection(bootstrap=kafka.get_bootstrap_server()),
            es=ElasticConnection(url=f"http://{host}:{port}"),
        )
