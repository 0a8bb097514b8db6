"""The OpenTelemetry Collector the tests run as the node agent, built once per machine from the
Go module proxy through the wrapper module in `logway/dev/otelcol/` (only the components logway
renders a configuration for: filelog, otlp, kafka, otlphttp, file_storage; core v0.165.0 with
contrib v0.165.1), and cached under `~/.cache/logway/otelcol/<version>/` (`LOGWAY_OTELCOL_CACHE`).
From an empty Go cache the build downloads the modules and compiles for a few minutes on 2
cores; after that, nothing.
"""

from __future__ import annotations

import os
import time
from importlib import resources
from pathlib import Path

from logway.dev.config import Say
from logway.dev.fetch import go_build

COLLECTOR_VERSION = "v0.165.0"
SOURCES = ("go.mod", "go.sum", "main.go")


def collector_cache() -> Path:
    explicit = os.environ.get("LOGWAY_OTELCOL_CACHE")
    if explicit:
        return Path(explicit)
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "logway" / "otelcol" / COLLECTOR_VERSION


def collector_binary(say: Say) -> Path:
    """The built collector; built first when this machine has none."""
    binary = collector_cache() / "otelcol"
    if binary.exists():
        return binary
    work = collector_cache() / "build"
    work.mkdir(parents=True, exist_ok=True)
    for name in SOURCES:
        source = resources.files("logway.dev").joinpath("otelcol", name)
        (work / name).write_bytes(source.read_bytes())
    say(
        f"otelcol: building the OpenTelemetry Collector {COLLECTOR_VERSION} from the Go module "
        f"proxy into {binary} (once per machine)"
    )
    started = time.monotonic()
    go_build(work, ".", binary, "-s -w", "the OpenTelemetry Collector")
    size = binary.stat().st_size / 1_048_576
    say(f"otelcol: built in {time.monotonic() - started:.0f} s, {size:.0f} MiB")
    return binary
