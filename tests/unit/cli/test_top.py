"""`logway top`'s figures from the workers' metrics, exposed as prometheus_client exposes them."""

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from logway.top import Scrape, compare, read_metrics


def exposition(*, read: dict[str, int], indexed: dict[str, int], dead: int, lag: int) -> str:
    registry = CollectorRegistry()
    records_in = Counter("logway_records_in", "", ["component", "tenant"], registry=registry)
    records_out = Counter(
        "logway_records_out", "", ["component", "tenant", "outcome"], registry=registry
    )
    letters = Counter(
        "logway_dead_letters", "", ["component", "tenant", "reason"], registry=registry
    )
    lags = Gauge("logway_consumer_lag_records", "", ["component", "tenant"], registry=registry)
    storage = Gauge("logway_tenant_storage_bytes", "", ["tenant"], registry=registry)
    for tenant, n in read.items():
        records_in.labels("processor", tenant).inc(n)
        records_in.labels("sink", tenant).inc(n * 100)  # the sink's reads are not "in"
    for tenant, n in indexed.items():
        records_out.labels("sink", tenant, "indexed").inc(n)
        records_out.labels("processor", tenant, "processed").inc(n * 100)
    letters.labels("processor", "acme", "invalid_json").inc(dead)
    lags.labels("processor", "acme").set(lag)
    lags.labels("sink", "acme").set(lag)
    lags.labels("gateway", "acme").set(1000)  # not a consumer lag top counts
    storage.labels("acme").set(2048)
    return generate_latest(registry).decode()


def scraped(at: float, *texts: str) -> Scrape:
    totals: dict[tuple[str, str], float] = {}
    for text in texts:  # two workers of a kind add up
        read_metrics(text, totals)
    return Scrape(at, totals, ())


def test_rates_lag_and_storage_per_tenant_busiest_first() -> None:
    before = scraped(10.0, exposition(read={"acme": 100, "zeta": 10}, indexed={}, dead=0, lag=0))
    after = scraped(
        12.0,
        exposition(read={"acme": 300, "zeta": 610}, indexed={"acme": 50}, dead=8, lag=7),
        exposition(read={"acme": 0}, indexed={"zeta": 40}, dead=0, lag=0),
    )
    zeta, acme = compare(before, after, "in")
    assert (zeta.tenant, zeta.in_per_s, zeta.out_per_s) == ("zeta", 300.0, 20.0)
    assert (acme.in_per_s, acme.out_per_s, acme.dead_per_s) == (100.0, 25.0, 4.0)
    assert acme.lag == 14  # the processor's and the sink's
    assert (acme.storage_bytes, acme.budget_bytes) == (2048, None)
    assert [row.tenant for row in compare(before, after, "dead")] == ["acme", "zeta"]
    assert [row.tenant for row in compare(before, after, "tenant")] == ["acme", "zeta"]


def test_a_worker_restarted_between_scrapes_counts_from_zero() -> None:
    before = scraped(0.0, exposition(read={"acme": 5000}, indexed={}, dead=0, lag=0))
    after = scraped(1.0, exposition(read={"acme": 30}, indexed={}, dead=0, lag=0))
    [acme] = compare(before, after)
    assert acme.in_per_s == 30.0
