"""The status page's last hour per tenant: one point per STEP_S of records in and out per
second, dead letters of the last hour and lag, kept in memory by the page's process, and drawn
as a small SVG chart beside each tenant's row."""

from __future__ import annotations

import html
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from logway.status import TenantStatus

STEP_S = 30  # one point per 30 s: 120 over the hour, about 15 MB for 1,000 tenants
KEPT_S = 3600
WIDTH, HEIGHT = 180, 36
# figure -> its line's color (the page's palette) and what the chart's title calls it
SERIES = {
    "in_per_s": ("#0969da", "in/s"),
    "out_per_s": ("#2da44e", "out/s"),
    "dead_letters": ("#d1242f", "dead letters (1 h)"),
    "lag": ("#8c959f", "lag"),
}


@dataclass(frozen=True)
class Point:
    step: int  # seconds since the epoch // STEP_S
    in_per_s: float
    out_per_s: float
    dead_letters: float
    lag: float


class History:
    """Points per tenant over the last KEPT_S; a later look in the same step replaces it."""

    def __init__(self) -> None:
        self._points: dict[str, deque[Point]] = {}

    def record(self, statuses: list[TenantStatus], at: datetime) -> None:
        step = int(at.timestamp()) // STEP_S
        oldest = step - KEPT_S // STEP_S
        seen = set()
        for s in statuses:
            seen.add(s.tenant)
            point = Point(
                step,
                s.in_per_s,
                s.out_per_s,
                float(sum(s.dead_letters_last_hour.values())),
                float((s.processor_lag or 0) + (s.sink_lag or 0)),
            )
            points = self._points.setdefault(s.tenant, deque(maxlen=KEPT_S // STEP_S + 1))
            if points and points[-1].step == step:
                points.pop()
            points.append(point)
            while points and points[0].step < oldest:
                points.popleft()
        for gone in set(self._points) - seen:  # a tenant removed: its history goes too
            del self._points[gone]

    def points(self, tenant: str) -> list[Point]:
        return list(self._points.get(tenant, ()))

    def chart(self, tenant: str, now: datetime) -> str:
        """The tenant's last hour as an inline SVG: one line per figure, each scaled to its own
        highest value (named in the title), time running left to right up to `now`, from the
        first point when the page has run less than the hour."""
        points = self.points(tenant)
        last = int(now.timestamp()) // STEP_S
        first = max(last - KEPT_S // STEP_S, min(points[0].step, last - 1) if points else 0)
        minutes = (last - first) * STEP_S // 60

        def x(step: int) -> float:
            return round((step - first) / (last - first) * (WIDTH - 2) + 1, 1)

        lines, titles = [], []
        for figure, (color, name) in SERIES.items():
            values = [getattr(p, figure) for p in points]
            top = max(values, default=0.0)
            titles.append(f"{name} up to {top:,.1f}")
            scale = (HEIGHT - 4) / top if top else 0.0
            coords = " ".join(
                f"{x(p.step)},{round(HEIGHT - 2 - v * scale, 1)}"
                for p, v in zip(points, values, strict=True)
            )
            if coords:
                lines.append(
                    f"<polyline fill='none' stroke='{color}' stroke-width='1.5' points='{coords}'/>"
                )
        span = "last hour" if minutes >= 60 else f"last {max(minutes, 1)} min"
        title = html.escape(f"{span}: {'; '.join(titles)}")
        return (
            f"<svg class='history' width='{WIDTH}' height='{HEIGHT}' role='img' "
            f"aria-label='{title}'><title>{title}</title>"
            f"<rect width='{WIDTH}' height='{HEIGHT}' fill='#f6f8fa'/>{''.join(lines)}</svg>"
        )
