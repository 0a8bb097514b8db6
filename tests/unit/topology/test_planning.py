"""What a server that cannot answer means, the same for `logway apply`, `validate --online`
and the operator (`topology.planning`)."""

import pytest
from confluent_kafka import KafkaError, KafkaException
from elastic_transport import ApiResponseMeta, ConnectionError, HttpHeaders, NodeConfig
from elasticsearch import ApiError
from pydantic import ValidationError

from topology.planning import SERVER_ERRORS, Unreachable, unreachable


def test_kafka_is_named_with_librdkafkas_own_words() -> None:
    error = KafkaException(KafkaError(KafkaError._TRANSPORT, "127.0.0.1:1: Connection refused"))
    assert isinstance(error, SERVER_ERRORS)
    failure = unreachable(error)
    assert failure.server == "Kafka"
    assert failure.reason == "KafkaUnreachable"
    assert failure.detail == "127.0.0.1:1: Connection refused"  # not KafkaError{code=...}


def test_elasticsearch_is_named_for_a_refused_connection_and_for_an_error_answer() -> None:
    refused = ConnectionError("Connection refused")
    meta = ApiResponseMeta(401, "1.1", HttpHeaders(), 0.01, NodeConfig("https", "es", 9200))
    answered = ApiError("security_exception", meta, {"error": "unable to authenticate"})
    for error in (refused, answered):
        assert isinstance(error, SERVER_ERRORS)
        failure = unreachable(error)
        assert (failure.server, failure.reason) == ("Elasticsearch", "ElasticsearchUnreachable")
    assert "Connection refused" in unreachable(refused).detail
    assert "security_exception" in unreachable(answered).detail


def test_a_failure_is_a_frozen_value_with_a_bounded_server() -> None:
    failure = Unreachable(server="Kafka", detail="down")
    with pytest.raises(ValidationError):
        failure.detail = "up"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Unreachable(server="Redis", detail="down")  # type: ignore[arg-type]
