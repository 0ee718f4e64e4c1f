"""A simulated Twilio call through the bridge to the real room worker (``agent.worker``).

Everything on the path is the product's: the sidecar in bridge mode, the LiveKit SDK on both
sides, the worker's entrypoint with its pacer over RoomIO, the real openai plugin talking to the
simulator, and LiveKit is the real livekit-server. Only Twilio is the caller simulator.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.sim.script import Script, ToolCall, Turn
from sip.bridge import contract
from tests.agent.room_rig import running_worker
from tests.realstack.clients import room_names
from tests.sip.bridge.rig import bridge_rig, bridge_tasks
from trunkline.config import LiveKitCredentials
from trunkline.stack import LocalStack

pytestmark = [pytest.mark.netns, pytest.mark.slow]

CALL_SID = "CA" + "f" * 32
LONG = (
    "This reply goes on for quite a while, so that the caller has plenty of time to cut in "
    "before it ends, which is exactly what the caller is about to do right now."
)
SCRIPT = Script(
    greeting="Hello, this is trunkline.",
    turns=(Turn("Noted."), Turn(LONG), Turn("Goodbye!", call=ToolCall("end_call"))),
    fallback="Nothing more.",
)


async def test_a_twilio_call_reaches_the_real_worker_and_the_agent_ends_it(
    livekit_env: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = LiveKitCredentials(livekit_env.url, livekit_env.api_key, livekit_env.api_secret)
    async with (
        running_worker(livekit_env, SCRIPT, tmp_path, monkeypatch) as worker,
        bridge_rig(credentials, livekit_env) as rig,
    ):
        result = await rig.call(
            call_sid=CALL_SID,
            dtmf="7",
            turns=2,
            barge_in_turns=frozenset({1}),
            barge_after_ms=800,
            linger_s=5,
        )
        await worker.wait_idle()
    # the key press reached the agent as SIP DTMF, and the model was told about it
    user_text = [
        part.get("text", "")
        for item in worker.session().conversation.items
        if item.role == "user"
        for part in item.data.get("content", [])
    ]
    assert any("pressed 7" in text for text in user_text), user_text
    # the caller heard the greeting, the answer to the key and both replies, with no gaps
    assert result.greeting is not None and result.greeting.heard_ms > 500
    assert [t.turn for t in result.turns] == [1, 2]
    for turn in result.turns:
        assert turn.latency_ms is not None and turn.heard_ms > 0 and turn.gaps == 0
    # talking over the long reply: the worker's trunkline.clear became a Twilio clear
    barge = result.turns[0].barge_in
    assert result.clears >= 1 and barge is not None and barge.clear_after_ms is not None
    # the agent's end_call hung up the Twilio call (trunkline.hangup)
    assert result.hung_up_by == "agent" and result.close_code == 1000
    (call,) = rig.calls
    assert call.end_reason is not None and not call.apologised
    # the worker labelled the caller twilio-ws and logged the call's turns under its CallSid
    turns = worker.turns()
    assert {t.path for t in turns} == {"twilio-ws"} and {t.call_id for t in turns} == {CALL_SID}
    assert contract.room_name(CALL_SID) not in await room_names(livekit_env)
    assert not bridge_tasks()
