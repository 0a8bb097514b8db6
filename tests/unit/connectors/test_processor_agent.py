"""The channel that carries the fetcher's rounds to the processor's agent
(`connectors.processor.agent`): a round on it is never dropped by Faust's flow control."""

import asyncio

import faust

from connectors.processor.agent import RoundChannel


def test_a_round_survives_the_clear_a_rebalance_makes_and_a_plain_channel_would_not() -> None:
    async def scenario() -> tuple[object, bool]:
        app = faust.App("logway-test-rounds", broker="memory://")
        rounds = RoundChannel(app)
        plain = app.channel()
        taken_by_agent = rounds.clone(is_iterator=True)  # what the agent's stream reads
        taken_plain = plain.clone(is_iterator=True)
        app.flow_control.resume()  # the flow as it is between rebalances
        await asyncio.wait_for(rounds.put("round 1"), 5)  # type: ignore[arg-type]
        await asyncio.wait_for(plain.put("round 1"), 5)  # type: ignore[arg-type]
        # What a rebalance does to the queues Faust manages: suspend, then resume, which
        # clears them.
        app.flow_control.suspend()
        app.flow_control.resume()
        return taken_by_agent.queue.get_nowait(), taken_plain.queue.empty()

    kept, plain_emptied = asyncio.run(scenario())
    assert kept == "round 1"
    assert plain_emptied  # why RoundChannel exists: Faust's own queues are cleared
