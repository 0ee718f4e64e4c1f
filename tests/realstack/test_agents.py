"""A real livekit-agents ``AgentServer`` registers, is dispatched by name, and joins."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from livekit import agents, api, rtc

from trunkline.stack import LocalStack

from .clients import Events, join, participant, registered, server_api

pytestmark = pytest.mark.netns

AGENT_NAME = "trunkline-contract"


@contextlib.asynccontextmanager
async def running_worker(stack: LocalStack) -> AsyncIterator[agents.AgentServer]:
    """An AgentServer (jobs in threads) whose jobs echo their dispatch metadata as attributes."""
    worker = agents.AgentServer(
        job_executor_type=agents.JobExecutorType.THREAD,
        ws_url=stack.url,
        api_key=stack.api_key,
        api_secret=stack.api_secret,
        port=0,
    )

    @worker.rtc_session(agent_name=AGENT_NAME)
    async def entrypoint(ctx: agents.JobContext) -> None:
        await ctx.connect()
        await ctx.room.local_participant.set_attributes({"job.metadata": ctx.job.metadata})

    task = asyncio.create_task(worker.run(devmode=True))
    try:
        await registered(worker)
        yield worker
    finally:
        await worker.aclose()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def is_agent(participant: rtc.RemoteParticipant) -> bool:
    return participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT


async def test_dispatch_from_the_token_room_configuration(
    livekit_stack: LocalStack,
) -> None:
    config = api.RoomConfiguration(
        agents=[api.RoomAgentDispatch(agent_name=AGENT_NAME, metadata="from-token")]
    )
    async with running_worker(livekit_stack):
        caller = await join(livekit_stack, "caller", "call-token", room_config=config)
        try:
            agent = await participant(caller, lambda p: "job.metadata" in p.attributes)
            assert is_agent(agent)
            assert agent.attributes["lk.agent.name"] == AGENT_NAME
            assert agent.attributes["job.metadata"] == "from-token"
        finally:
            await caller.disconnect()


async def test_dispatch_through_the_agent_dispatch_service(
    livekit_stack: LocalStack,
) -> None:
    async with (
        running_worker(livekit_stack),
        server_api(livekit_stack) as lkapi,
    ):
        caller = await join(livekit_stack, "caller", "call-api")
        events = Events(caller, "participant_disconnected")
        try:
            await asyncio.sleep(0.5)
            assert not any(is_agent(p) for p in caller.remote_participants.values())

            dispatch = await lkapi.agent_dispatch.create_dispatch(
                api.CreateAgentDispatchRequest(
                    agent_name=AGENT_NAME, room="call-api", metadata="from-api"
                )
            )
            agent = await participant(caller, lambda p: "job.metadata" in p.attributes)
            assert agent.attributes["job.metadata"] == "from-api"

            (listed,) = [
                d
                for d in await lkapi.agent_dispatch.list_dispatch(room_name="call-api")
                if d.agent_name == AGENT_NAME
            ]
            assert listed.id == dispatch.id

            await lkapi.agent_dispatch.delete_dispatch(dispatch.id, "call-api")
            (gone,) = await events.next("participant_disconnected")
            assert gone.identity == agent.identity
        finally:
            await caller.disconnect()
