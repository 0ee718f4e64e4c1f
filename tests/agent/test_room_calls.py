"""Calls on every caller path reach the same room agent: a real worker, real SDK callers.

Each test dispatches ``trunkline`` into a room of the real livekit-server the way its path
does in production (a browser token's room configuration, a SIP dispatch rule's, the bridge's)
and plays the caller: a browser publishing wideband speech, a SIP-kind participant publishing a
μ-law leg with LiveKit SIP's attributes, or the Twilio bridge with its attributes and RPC
methods. The simulator is the model, with a script per test so tools run end to end. What the
agent did to the call is checked through the server's own faces: why the caller was
disconnected, which rooms it still lists. (A SIP call through the real livekit-sip, with its
REFER and BYE, is tested in ``test_sip_call.py``.)
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from livekit import api, rtc

from agent.bridge_contract import (
    CALL_SID_ATTRIBUTE,
    FROM_ATTRIBUTE,
    PATH_ATTRIBUTE,
    RPC_CLEAR,
    RPC_HANGUP,
    RPC_TRANSFER,
    TO_ATTRIBUTE,
)
from agent.sim.script import Script, ToolCall, Turn
from tests.realstack.clients import room_names, server_api
from tests.waiting import eventually
from trunkline.stack import LocalStack

from .room_rig import (
    STEP_S,
    Caller,
    Worker,
    audible_ms,
    running_worker,
    speech,
    tool_outputs,
    ulaw_speech,
    user_texts,
    voice_band_share,
)

pytestmark = pytest.mark.netns

LONG = (
    "This reply goes on for quite a while, so that the caller has plenty of time to cut in "
    "before it ends, which is exactly what the caller is about to do right now."
)
TRANSFER_TO = "+15551234567"


def transfer_then_goodbye(after_transfer: str, *middle: Turn) -> Script:
    """Greeting; the first reply transfers the caller (then says ``after_transfer``); then
    ``middle``; then a goodbye that ends the call."""
    transfer = ToolCall("transfer_call", {"phone_number": TRANSFER_TO})
    turns = (
        Turn("One moment.", call=transfer, after_call=after_transfer),
        *middle,
        Turn("Goodbye!", call=ToolCall("end_call")),
    )
    return Script(greeting="Hello, this is trunkline.", turns=turns, fallback="")


def assert_turns(worker: Worker, path: str, call_id: str, count: int) -> None:
    """The agent's turn log: one line per reply, labelled with the path, each one paced."""
    turns = worker.turns()
    assert [t.turn for t in turns] == list(range(count))
    assert {(t.path, t.call_id) for t in turns} == {(path, call_id)}
    for turn in turns:
        assert turn.pacer_first_frame is not None
        assert isinstance(turn.pacer["frames"], int) and turn.pacer["frames"] > 0


async def disconnected(room: rtc.Room) -> None:
    await eventually(lambda: not room.isconnected(), within_s=STEP_S)


async def hung_up_by_deleting_the_room(caller: Caller, stack: LocalStack) -> None:
    """How the agent ends a SIP or browser call: the room goes, and the caller with it."""
    await eventually(lambda: caller.disconnect_reason is not None, within_s=STEP_S)
    assert caller.disconnect_reason == rtc.DisconnectReason.ROOM_DELETED
    assert caller.room.name not in await room_names(stack)


async def test_a_browser_caller_hears_paced_speech_and_is_labelled_webrtc(
    livekit_env: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = Script(
        greeting="Hello, this is trunkline.", turns=(Turn("I heard you."),), fallback=""
    )
    async with running_worker(livekit_env, script, tmp_path, monkeypatch) as worker:
        async with Caller.joined(livekit_env, "browser", "web-1") as caller:
            await caller.replies_played(1)
            greeting = caller.heard()
            await caller.say(speech())
            await caller.replies_played(2)
            reply = caller.heard()[len(greeting) :]
            session = worker.session()
        await worker.wait_idle()
    # what the model sent, the caller heard: speech-band audio for most of each reply
    said = [item.audio_ms for item in session.conversation.items if item.role == "assistant"]
    assert len(said) == 2
    for heard, sent_ms in zip((greeting, reply), said, strict=True):
        assert audible_ms(heard) > 0.6 * sent_ms
        assert voice_band_share(heard) > 0.8
    # the model heard the caller's one utterance as one turn
    assert session.stats["turns"] == 1
    assert_turns(worker, "webrtc", "web-1", 2)
    turns = worker.turns()
    assert turns[1].turn_detected is not None and turns[1].model_first_audio is not None


async def test_a_sip_caller_is_labelled_sip_presses_keys_and_is_hung_up(
    livekit_env: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SIP-kind participant as LiveKit SIP presents one. This stack has no SIP gateway, so
    the transfer is refused by livekit-server itself (503, no SIP node answered): the model is
    told so in words it can pass on, and the call goes on to its goodbye."""
    script = transfer_then_goodbye("Sorry, that did not work.")
    attributes = {
        "sip.callID": "SCL_test1",
        "sip.phoneNumber": "+15550100",
        "sip.trunkPhoneNumber": "+15550199",
    }
    async with running_worker(livekit_env, script, tmp_path, monkeypatch) as worker:
        async with Caller.joined(
            livekit_env, "sip_+15550100", "call-sip", 8000, kind="sip", attributes=attributes
        ) as caller:
            await caller.replies_played(1)
            await caller.room.local_participant.publish_dtmf(code=7, digit="7")
            await eventually(
                lambda: tool_outputs(worker.session(), "transfer_call"), within_s=STEP_S
            )
            await caller.replies_played(3)
            await caller.say(ulaw_speech(1.8))
            await hung_up_by_deleting_the_room(caller, livekit_env)
            session = worker.session()
        await worker.wait_idle()
    assert any("pressed 7" in text for text in user_texts(session))
    (refusal,) = tool_outputs(session, "transfer_call")
    assert "the phone network did not accept the transfer" in refusal
    assert session.stats["turns"] == 1
    assert_turns(worker, "sip", "SCL_test1", 2)


async def test_a_browser_caller_cannot_be_transferred_and_is_hung_up_by_deleting_the_room(
    livekit_env: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = transfer_then_goodbye("Sorry, I cannot transfer you.")
    async with running_worker(livekit_env, script, tmp_path, monkeypatch) as worker:
        async with Caller.joined(livekit_env, "browser", "web-2") as caller:
            await caller.replies_played(1)
            # not a keypad digit: ignored (DTMF arrives in order, so before "1" is answered)
            await caller.room.local_participant.publish_dtmf(code=99, digit="x")
            await caller.room.local_participant.publish_dtmf(code=1, digit="1")
            await eventually(
                lambda: tool_outputs(worker.session(), "transfer_call"), within_s=STEP_S
            )
            await caller.replies_played(3)
            await caller.room.local_participant.publish_dtmf(code=2, digit="2")
            await hung_up_by_deleting_the_room(caller, livekit_env)
            session = worker.session()
        await worker.wait_idle()
    texts = user_texts(session)
    assert any("pressed 1" in t for t in texts) and not any("pressed x" in t for t in texts)
    # the model was told why, in words it can pass on to the caller
    (refusal,) = tool_outputs(session, "transfer_call")
    assert "Transfer is not possible on this call" in refusal and "browser" in refusal
    assert_turns(worker, "webrtc", "web-2", 1)


class Bridge:
    """The Twilio bridge's side of the contract: its RPC methods, recording what was asked."""

    #: the Twilio REST round trip before the bridge deletes the room: long enough to see that
    #: nobody else (the agent) deleted it first
    HANGUP_DELAY_S = 1.0

    def __init__(self, caller: Caller, stack: LocalStack, can_transfer: bool) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.stack = stack
        #: whether the caller was still connected just before the bridge deleted the room
        self.connected_at_delete: bool | None = None
        self.caller = caller
        self.can_transfer = can_transfer
        participant = caller.room.local_participant
        for method in (RPC_CLEAR, RPC_HANGUP, RPC_TRANSFER):
            participant.register_rpc_method(method, self.handle)

    async def handle(self, data: rtc.RpcInvocationData) -> str:
        self.calls.append((data.method, json.loads(data.payload)))
        if data.method == RPC_TRANSFER and not self.can_transfer:
            raise rtc.RpcError(1500, "Twilio REST credentials are not configured")
        if data.method == RPC_HANGUP:
            # as the bridge does: answer, end the Twilio call (a REST request), delete the room
            self.tasks.append(asyncio.create_task(self._delete_room()))
        return json.dumps({"ok": True})

    async def _delete_room(self) -> None:
        await asyncio.sleep(self.HANGUP_DELAY_S)
        self.connected_at_delete = self.caller.room.isconnected()
        async with server_api(self.stack) as lkapi:
            await lkapi.room.delete_room(api.DeleteRoomRequest(room=self.caller.room.name))

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]


async def test_a_bridged_twilio_call_is_labelled_twilio_ws_and_signals_the_bridge(
    livekit_env: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = transfer_then_goodbye("That did not work.", Turn(LONG))
    attributes = {
        PATH_ATTRIBUTE: "twilio-ws",
        CALL_SID_ATTRIBUTE: "CA0123456789abcdef0123456789abcdef",
        FROM_ATTRIBUTE: "+15550100",
        TO_ATTRIBUTE: "+15550199",
    }
    room_name = "twilio-CA0123456789abcdef0123456789abcdef"
    async with running_worker(livekit_env, script, tmp_path, monkeypatch) as worker:
        async with Caller.joined(
            livekit_env, room_name, room_name, 8000, attributes=attributes
        ) as caller:
            bridge = Bridge(caller, livekit_env, can_transfer=False)
            await caller.replies_played(1)
            # Twilio's dtmf event, re-sent by the bridge as SIP DTMF
            await caller.room.local_participant.publish_dtmf(code=5, digit="5")
            await eventually(
                lambda: tool_outputs(worker.session(), "transfer_call"), within_s=STEP_S
            )
            await caller.replies_played(3)
            await caller.say(ulaw_speech(1.8))
            # the long reply starts; the caller cuts in a second into it
            await eventually(lambda: caller.agent_states.count("speaking") >= 4, within_s=STEP_S)
            await asyncio.sleep(1.0)
            assert RPC_CLEAR not in bridge.methods()
            await caller.say(ulaw_speech(1.8))
            await eventually(lambda: caller.disconnect_reason is not None, within_s=STEP_S)
            session = worker.session()
        await worker.wait_idle()
    # the room is the bridge's to delete: the agent asked and left it alone
    assert bridge.connected_at_delete is True
    assert caller.disconnect_reason == rtc.DisconnectReason.ROOM_DELETED
    assert any("pressed 5" in text for text in user_texts(session))
    (refusal,) = tool_outputs(session, "transfer_call")
    assert "Twilio REST credentials are not configured" in refusal
    assert bridge.calls[0] == (RPC_TRANSFER, {"to": TRANSFER_TO})
    assert (RPC_CLEAR, {}) in bridge.calls
    assert bridge.calls[-1] == (RPC_HANGUP, {"reason": "the agent ended the call"})
    assert session.stats["cancelled"] >= 1
    assert_turns(worker, "twilio-ws", attributes[CALL_SID_ATTRIBUTE], 3)
    turns = worker.turns()
    assert turns[1].pacer["interrupted"] is True
