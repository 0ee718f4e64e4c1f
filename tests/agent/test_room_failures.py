"""The worker or LiveKit going away mid-call ends the call cleanly, leaving nothing behind."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from livekit import rtc

from agent.bridge_contract import CALL_SID_ATTRIBUTE, PATH_ATTRIBUTE
from agent.sim.script import Script, ToolCall, Turn
from tests.logcheck import LIVEKIT_SERVER_LOST
from tests.realstack.clients import identities
from tests.waiting import eventually
from trunkline.stack import LocalStack

from .room_rig import STEP_S, Caller, is_agent, running_worker

pytestmark = pytest.mark.netns

LONG = (
    "This reply goes on for a long time, long enough for something to fail while the agent "
    "is still speaking it, which is the moment the test is about."
)
SCRIPT = Script(greeting="Hello.", turns=(Turn(LONG),), fallback="")


async def in_a_long_reply(caller: Caller) -> None:
    """After the greeting, a key press starts the long reply; returns while it plays."""
    await caller.replies_played(1)
    await caller.room.local_participant.publish_dtmf(code=1, digit="1")
    await eventually(lambda: caller.agent_states.count("speaking") >= 2, within_s=STEP_S)


async def test_the_worker_going_away_mid_reply_takes_the_agent_out_of_the_room(
    livekit_env: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with (
        running_worker(livekit_env, SCRIPT, tmp_path, monkeypatch) as worker,
        Caller.joined(livekit_env, "browser", "web-gone") as caller,
    ):
        await in_a_long_reply(caller)
        await worker.agent_server.aclose()
        await eventually(
            lambda: not any(is_agent(p) for p in caller.room.remote_participants.values()),
            within_s=STEP_S,
        )
        await worker.wait_idle()
        # the caller is still connected; only the agent left
        assert await identities(livekit_env, "web-gone") == ["browser"]
    # the turn under way was still written to the turn log
    assert [t.turn for t in worker.turns()] == [0]


@pytest.mark.expect_log(LIVEKIT_SERVER_LOST)
async def test_livekit_going_away_mid_reply_ends_the_job(
    private_stack: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """livekit-server crashes (SIGKILL) mid-reply: the job ends and takes everything along."""
    for name, value in private_stack.env.items():
        monkeypatch.setenv(name, value)
    async with (
        running_worker(private_stack, SCRIPT, tmp_path, monkeypatch) as worker,
        Caller.joined(private_stack, "browser", "web-down") as caller,
    ):
        await in_a_long_reply(caller)
        private_stack.kill_server()
        await worker.wait_idle()
    assert [t.turn for t in worker.turns()] == [0]


async def test_a_bridge_that_does_not_take_the_hangup_still_has_its_call_ended(
    livekit_env: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bridge registers no RPC methods: end_call falls back to deleting the room."""
    script = Script(
        greeting="Hello.", turns=(Turn("Bye!", call=ToolCall("end_call")),), fallback=""
    )
    attributes = {PATH_ATTRIBUTE: "twilio-ws", CALL_SID_ATTRIBUTE: "CAdeaf"}
    async with running_worker(livekit_env, script, tmp_path, monkeypatch) as worker:
        async with Caller.joined(
            livekit_env, "twilio-CAdeaf", "twilio-CAdeaf", 8000, attributes=attributes
        ) as caller:
            await caller.replies_played(1)
            await caller.room.local_participant.publish_dtmf(code=9, digit="9")
            await eventually(lambda: not caller.room.isconnected(), within_s=STEP_S)
        await worker.wait_idle()
        await eventually(lambda: caller.disconnect_reason is not None, within_s=STEP_S)
    assert caller.disconnect_reason == rtc.DisconnectReason.ROOM_DELETED
    assert {t.path for t in worker.turns()} == {"twilio-ws"}


@pytest.mark.parametrize("after_s", [0.0, 0.2])
async def test_the_caller_leaving_while_the_session_starts_ends_the_job(
    livekit_env: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, after_s: float
) -> None:
    """The caller hangs up as the agent arrives, while its job is still setting up the
    session: the job ends, and takes its session, model connection and tasks along."""
    async with running_worker(livekit_env, SCRIPT, tmp_path, monkeypatch) as worker:
        caller = await Caller.join(livekit_env, "browser", f"web-brief-{after_s:g}")
        try:
            await eventually(
                lambda: any(is_agent(p) for p in caller.room.remote_participants.values()),
                within_s=STEP_S,
            )
            await asyncio.sleep(after_s)
        finally:
            await caller.aclose()
        await worker.wait_idle()
