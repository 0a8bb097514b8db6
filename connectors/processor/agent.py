"""The processor's Faust agent: it consumes the fetcher's rounds, one at a time.

The batch transport (`connectors.processor.transport`) does not hand records over one by one
(Faust's per-record delivery was the processor's main cost); it sends each fetch round, a list
of raw messages, on an in-memory channel. The agent takes the rounds off the channel in order
and runs each through `handle` (`BatchProcessor.handle`): Faust's agent, stream and
supervisor, used through their public surface, with one event per round instead of one per
record.

The fetcher waits until the agent has finished the round it sent (`Round.done`). That keeps
what the transport promises a revocation: the round in hand is finished, and its acks given,
before the revoked partitions' offsets are committed. A round that fails fails the fetcher
too, as it did when the fetcher called the handler itself, and the worker stops instead of
going on past records it did not process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import faust

Handle = Callable[[list[Any]], Awaitable[None]]


@dataclass(eq=False)
class Round:
    """One fetch round's messages, and the fetcher's wait for the agent to finish them."""

    messages: list[Any]
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


def round_agent(app: faust.App, handle: Handle) -> Callable[[list[Any]], Awaitable[None]]:
    """Define the agent that runs every round through `handle`; what the transport calls with
    each round (`BatchConsumer.batch_handler`): it sends the round and waits for its end."""
    rounds = app.channel()

    @app.agent(rounds, name="logway.processor.rounds", concurrency=1)
    async def process_rounds(stream: faust.StreamT[Round]) -> None:
        async for fetched in stream:
            try:
                await handle(fetched.messages)
            except BaseException as exc:  # the fetcher raises it: the round was not finished
                if not fetched.done.done():
                    fetched.done.set_exception(exc)
                raise
            fetched.done.set_result(None)

    async def hand_over(messages: list[Any]) -> None:
        fetched = Round(messages)
        # Put as a value, not sent as an event: a stream skips an event of an earlier
        # consumer generation, and a round carries no generation of its own.
        await rounds.put(fetched)  # type: ignore[arg-type]
        await fetched.done

    return hand_over
