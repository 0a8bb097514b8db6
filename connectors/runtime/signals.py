"""A graceful stop: SIGTERM (Kubernetes stopping the pod) or SIGINT (Ctrl-C) asks the worker to
finish what it has in hand, commit it, and leave."""

from __future__ import annotations

import asyncio
import signal
import threading


def stop_on_signals(stop: threading.Event | None = None) -> threading.Event:
    """`stop`, or a new event, set by SIGTERM and SIGINT. Call from the main thread."""
    stop = stop or threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def stopped_by_signals() -> asyncio.Event:
    """The same for an asyncio worker: an event of the running loop, set by SIGTERM and SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop
