"""`routes`: which index family each record goes to.

Routes are tried in order; the first whose `when` matches wins, and the last route, the default,
has no `when` and takes the rest. A route's `index` names an index family of the tenant:
each route's indices are `logs-<tenant>.<name>-<yyyy.mm.dd>`, `default` included
(see `logway.core.names.index_name`). The processor writes the chosen name to `logway.route`; the
sink turns it into the index, so no record can reach an index that apply did not set up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field

from logway.core.names import DEFAULT_ROUTE, ROUTE_NAME
from streams.conditions import compile_condition
from streams.steps.base import Condition, Document

RouteChooser = Callable[[Document], str]


class Route(BaseModel):
    """One route: a condition and the index family it sends to."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    index: str = Field(
        pattern=f"^{ROUTE_NAME}$",
        description="Index family within the tenant: `default`, or a name of lower case letters, "
        "digits and '_' whose indices are `logs-<tenant>.<index>-<start>`.",
        examples=["default", "audit"],
    )
    when: Condition | None = Field(
        None,
        description="Condition a record must match to take this route. The last route has "
        "none: it is the default.",
        examples=['level == "error" or http.status >= 500'],
    )


DEFAULT_ROUTES = (Route(index=DEFAULT_ROUTE),)


def compile_routes(routes: Sequence[Route]) -> RouteChooser:
    """The route chooser; `routes` is validated (the last one, only, has no `when`)."""
    rules = [(compile_condition(route.when), route.index) for route in routes if route.when]
    fallback = routes[-1].index
    if not rules:
        return lambda doc: fallback

    def choose(doc: Document) -> str:
        for matches, index in rules:
            if matches(doc):
                return index
        return fallback

    return choose
