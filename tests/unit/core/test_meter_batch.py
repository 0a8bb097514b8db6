from prometheus_client import REGISTRY

from logway.core.metrics import TenantMeters


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, {"component": "processor", **labels}) or 0.0


def test_a_batch_of_counts_lands_only_when_applied_and_adds_up() -> None:
    tenant = "meter-batch-test"
    before = value("logway_records_in_total", tenant=tenant)
    batch = TenantMeters("processor").batch()
    for size in (10, 20, 30):
        batch.read(tenant, size)
    batch.finished(tenant, "processed", 2)
    batch.dead_lettered(tenant, "invalid_json")
    batch.dropped(tenant, "rule")
    assert value("logway_records_in_total", tenant=tenant) == before
    batch.apply()
    assert value("logway_records_in_total", tenant=tenant) == before + 3
    assert value("logway_bytes_in_total", tenant=tenant) == 60
    assert value("logway_records_out_total", tenant=tenant, outcome="processed") == 2
    assert value("logway_records_out_total", tenant=tenant, outcome="dead_lettered") == 1
    assert value("logway_records_out_total", tenant=tenant, outcome="dropped") == 1
    assert value("logway_dead_letters_total", tenant=tenant, reason="invalid_json") == 1
    assert value("logway_dropped_records_total", tenant=tenant, reason="rule") == 1
