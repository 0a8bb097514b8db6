import pytest
from pydantic import ValidationError

from connectors.elasticsearch.config import SinkConfig
from connectors.gateway.config import GatewayConfig
from connectors.processor.config import ProcessorConfig
from logway.core.elastic import ElasticConnection
from logway.core.kafka import KafkaConnection


def test_a_worker_serves_tenants_its_pattern_matches_in_full() -> None:
    config = ProcessorConfig(
        kafka=KafkaConnection(bootstrap="k:9092"), tenants_matching="team-a-.*|billing"
    )
    assert config.serves("team-a-web")
    assert config.serves("billing")
    assert not config.serves("billing-eu")  # a full match, not a prefix
    assert not config.serves("team-b-web")


@pytest.mark.parametrize("model", [ProcessorConfig, SinkConfig])
def test_settings_reject_unknown_fields(model: type) -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        model(
            kafka=KafkaConnection(bootstrap="k:9092"),
            es=ElasticConnection(url="http://e:9200"),
            batchsize=3,
        )


def test_otlp_is_served_over_tls_unless_plaintext_is_chosen() -> None:
    """Its clients send their tenant's key as a bearer token."""
    kafka = KafkaConnection()
    with pytest.raises(ValidationError, match="serve TLS"):
        GatewayConfig(kafka=kafka, otlp_port=4318)
    assert GatewayConfig(kafka=kafka, otlp_port=4318, otlp_plaintext=True).otlp_port == 4318
    assert GatewayConfig(kafka=kafka).otlp_port == 0  # off unless asked for
