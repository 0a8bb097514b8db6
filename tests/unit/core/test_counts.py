from typing import Any

from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import ApiError

from logway.counts import indexed_count


class Refusing:
    """Stands in for the client at the call boundary: its count answers 503, as Elasticsearch
    does while a new index's shards are still being allocated."""

    def count(self, **_kwargs: Any) -> Any:
        meta = ApiResponseMeta(
            status=503,
            http_version="1.1",
            headers=HttpHeaders(),
            duration=0.0,
            node=NodeConfig("http", "127.0.0.1", 9200),
        )
        raise ApiError("search_phase_execution_exception", meta=meta, body={})


def test_a_count_elasticsearch_cannot_give_yet_is_unknown_not_a_crash() -> None:
    assert indexed_count(Refusing(), "acme") is None  # type: ignore[arg-type]
