"""The status page's last hour per tenant, and its order (`logway.status_history`, `page`)."""

import re
from datetime import UTC, datetime, timedelta

from logway.status import TenantStatus, page
from logway.status_history import STEP_S, History

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def status(tenant: str, n: float, *, dead: int = 0, lag: int = 0) -> TenantStatus:
    return TenantStatus(tenant, "v1", None, n, n, lag, 0, {"invalid_json": dead} if dead else {})


def test_one_point_per_step_over_the_last_hour() -> None:
    history = History()
    for minute in range(90):  # an hour and a half, a look every 10 s
        for tick in range(6):
            at = T0 + timedelta(minutes=minute, seconds=tick * 10)
            history.record([status("acme", minute * 10 + tick)], at)
    points = history.points("acme")
    assert len(points) == 3600 // STEP_S + 1  # the hour, both ends
    assert points[-1].in_per_s == 89 * 10 + 5  # the step's latest look
    assert points[0].step == points[-1].step - 3600 // STEP_S


def test_the_chart_draws_each_figure_and_a_removed_tenant_goes() -> None:
    history = History()
    for n in range(5):
        at = T0 + timedelta(seconds=n * STEP_S)
        history.record([status("acme", n, dead=n, lag=10 * n), status("zeta", 1)], at)
    chart = history.chart("acme", T0 + timedelta(seconds=4 * STEP_S))
    assert chart.count("<polyline") == 4  # in, out, dead letters, lag
    for drawn in re.findall(r"points='([^']*)'", chart):
        assert len(drawn.split()) == 5
    assert "lag up to 40.0" in chart
    history.record([status("zeta", 1)], T0 + timedelta(seconds=5 * STEP_S))
    assert history.points("acme") == []


def test_the_page_puts_the_tenant_needing_a_look_first_with_its_chart() -> None:
    statuses = [
        status("calm", 500),
        status("lagging", 10, lag=50_000),
        status("failing", 1, dead=3),
        status("busy", 900),
    ]
    html = page(statuses, T0, {"failing": "<svg class='history'></svg>"})
    order = re.findall(r"data-tenant='([^']+)'", html)
    assert order == ["failing", "lagging", "busy", "calm"]
    assert "<svg class='history'></svg>" in html
