"""What every worker starts with, in one place: its logs on stderr, and its /metrics (its
version among them, `logway_info`), /livez and /readyz on its metrics port. `logway run
<worker>` calls `begin` before the worker's run function (`connectors.workers`). Stopping on
SIGINT or SIGTERM is each worker's own (`connectors.runtime.signals`): each finishes
differently (a batch produced, a chunk acked, offsets committed)."""

from __future__ import annotations

import logging
import sys
from typing import cast

from logway import __version__
from logway.core.metrics import Component, serve

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def begin(worker: str, metrics_port: int) -> None:
    """Logs on stderr at INFO; /metrics on `metrics_port` (0: none) as the component `worker`."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    serve(metrics_port, cast(Component, worker), __version__)
