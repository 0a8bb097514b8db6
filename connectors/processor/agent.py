"""The processor's Faust agent: it consumes the fetcher's rounds, one at a time.

The batch transport (`connectors.processor.transport`) does not hand records over one by one
(Faust's per-record delivery was the processor's main cost); it puts each fetch round, a list
of raw messages, on an in-memory channel. The agent takes the rounds off the channel in order
and runs each through `handle` (`BatchProcessor.handle`): Faust's agent, stream and
supervisor, used through their public surface, with one value per round instead of one event
per record.

The fetcher waits until the agent has finished the round it sent (`Round.done`). That keeps
what the transport promises a revocation: the round in hand is finished, and its acks given,
before the revoked partitions' offsets are committed. A round that fails fails the fetcher
too, as it did when the fetcher called the handler itself, and the worker stops instead of
going on past records it did not process.

The channel's queues are its own (`RoundChannel`): Faust clears the queues its flow control
manages whenever a rebalance resumes the flow, to drop records fetched before its seek. A
round cleared that way would leave the fetcher waiting for ever with the consumer's lock held
(two rebalances back to back can resume the flow while a round is on its way to the agent),
and a round never needs dropping: the records it holds are acked only once it is finished.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import faust
from mode.utils.queues import FlowControlEvent, ThrowableQueue

Handle = Callable[[list[Any]], Awaitable[None]]


class UnfinishedRoundError(RuntimeError):
    """The agent did not finish a round (it was cancelled): the fetcher must not go on."""


@dataclass(eq=False)
class Round:
    """One fetch round's messages, and the fetcher's wait for the agent to finish them."""

    messages: list[Any]
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class RoundChannel(faust.Channel):  # type: ignore[type-arg]
    """An in-memory channel whose queues no flow control manages, so nothing clears them."""

    rounds: ThrowableQueue[Any] | None = None

    @property
    def queue(self) -> ThrowableQueue[Any]:
        if self.rounds is None:
            # One round at a time: the fetcher waits for each to be finished anyway.
            self.rounds = ThrowableQueue(
                maxsize=1,
                flow_control=FlowControlEvent(initially_suspended=False),
                clear_on_resume=False,
            )
        return self.rounds


def round_agent(app: faust.App, handle: Handle) -> Callable[[list[Any]], Awaitable[None]]:
    """Define the agent that runs every round through `handle`; what the transport calls with
    each round (`BatchConsumer.batch_handler`): it sends the round and waits for its end."""
    rounds = RoundChannel(app)

    @app.agent(rounds, name="logway.processor.rounds", concurrency=1)
    async def process_rounds(stream: faust.StreamT[Round]) -> None:
        async for fetched in stream:
            try:
                await handle(fetched.messages)
            except asyncio.CancelledError:
                _settle(fetched, UnfinishedRoundError("the agent was cancelled in a round"))
                raise
            except BaseException as exc:  # the fetcher raises it: the round was not finished
                _settle(fetched, exc)
                raise
            _settle(fetched, None)

    async def hand_over(messages: list[Any]) -> None:
        fetched = Round(messages)
        # Put as a value, not sent as an event: a stream skips an event of an earlier
        # consumer generation, and a round carries no generation of its own.
        await rounds.put(fetched)  # type: ignore[arg-type]
        # Shielded: the fetcher cancelled at shutdown leaves the future for the agent to set.
        await asyncio.shield(fetched.done)

    return hand_over


def _settle(fetched: Round, failure: BaseException | None) -> None:
    """Tell the fetcher how the round ended, unless nobody waits for it any more."""
    if fetched.done.done():
        return
    if failure is None:
        fetched.done.set_result(None)
    else:
        fetched.done.set_exception(failure)
