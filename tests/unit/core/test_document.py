"""The document's `logway` block: written by the pipeline, mapped by apply, from one model."""

from __future__ import annotations

import orjson
import pytest
from pydantic import BaseModel, Field

from logway.core.document import BLOCK, Flag, LogwayBlock, mapping
from streams.pipeline import TenantPipeline
from streams.steps.base import Record
from topology.model import Tenant
from topology.resources.templates import index_template

OWNERS = {"team": "t", "slack_channel": "#t", "webhook_secret": "T_HOOK"}


def test_the_block_the_pipeline_writes_is_the_model_flags_included() -> None:
    tenant = Tenant.model_validate({"name": "acme", "owners": OWNERS})
    pipeline = TenantPipeline(tenant.name, tenant.pipeline, tenant.routes, version="v1")
    record = Record("logs.acme.raw", 0, 7, None, 1_764_064_800_000)
    # A record that speaks for logway: its keys are moved aside and the block flagged.
    outcome = pipeline.process(b'{"msg": "hi", "logway.tenant": "other"}', record)
    assert outcome.output is not None
    block = LogwayBlock.model_validate(orjson.loads(outcome.output.value)[BLOCK])
    assert block.tenant == "acme"
    assert block.foreign_fields_moved is True
    assert block.origin.offset == 7


def test_every_flag_is_a_boolean_of_the_block() -> None:
    for flag in Flag:
        assert LogwayBlock.model_fields[flag.value].annotation is bool, flag


def test_the_index_template_maps_the_block_from_the_model() -> None:
    tenant = Tenant.model_validate({"name": "acme", "owners": OWNERS})
    properties = index_template(tenant, replicas=0)["template"]["mappings"]["properties"]
    assert properties[BLOCK] == mapping()
    assert properties[BLOCK]["properties"]["origin"]["properties"]["offset"] == {"type": "long"}
    assert set(properties[BLOCK]["properties"]) == set(LogwayBlock.model_fields)


def test_a_field_without_an_elasticsearch_type_is_refused() -> None:
    class Untyped(BaseModel):
        name: str = Field(description="no es type")

    with pytest.raises(TypeError, match=r"Untyped\.name declares no Elasticsearch type"):
        mapping(Untyped)
