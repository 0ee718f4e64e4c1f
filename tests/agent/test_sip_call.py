"""The ``sip`` path end to end: a SIP call into the real livekit-sip, answered by the worker.

What Twilio's Elastic SIP trunk does, the SIP caller (``lab.sipcaller``) does: INVITE with PCMU
and ``telephone-event`` to the number, 20 ms μ-law RTP, RFC 4733 key presses. ``trunkline
provision`` made the inbound trunk and the dispatch rule through the real livekit-server's SIP
API (its Twilio half against the Twilio REST recorder: Twilio has no local counterpart).
livekit-sip admits the call by the dialled number, puts the caller in a fresh room, dispatches
the agent by name; the worker labels the call ``sip``. The agent's ``end_call`` deletes the
room, which livekit-sip turns into a BYE; ``transfer_call`` becomes a REFER.

Needs livekit-sip (``make livekit`` installs it where the Go module proxy serves
``github.com/livekit/sip``; or a ``livekit-sip`` on ``PATH``): see the ``livekit_sip`` marker in
``tests/realstack/plugin.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from aiohttp.test_utils import TestServer

from agent.sim.script import Script, ToolCall, Turn
from lab.sipcaller import DialOptions, Ending, SipCall
from sip.provision.provisioner import provision
from sip.provision.spec import DigestAuth, ProvisionSpec
from tests.sip.provision.twilio_standin import LoopbackHttpClient, TwilioStandIn
from tests.waiting import eventually
from trunkline.config import DEFAULT_AGENT_NAME, LiveKitCredentials, TwilioCredentials
from trunkline.stack import LocalStack

from .room_rig import STEP_S, Worker, audible_ms, running_worker, speech, tool_outputs, user_texts

pytestmark = [pytest.mark.netns, pytest.mark.livekit_sip, pytest.mark.slow]

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-test-auth-token"
CALLER = "+15550100777"
TRANSFER_TO = "+15551234567"
RATE = 8000
#: livekit-sip answers once the agent publishes; the worker's job starts in a thread
ANSWER_S = 30.0


def new_number() -> str:
    """A number of this test's own: trunks are matched by the dialled number."""
    return "+1555" + str(uuid.uuid4().int)[:7]


@contextlib.asynccontextmanager
async def provisioned(
    stack: LocalStack, number: str, dial_sip: DigestAuth | None = None
) -> AsyncIterator[None]:
    """``trunkline provision`` for ``number`` (``--dial-sip`` with ``dial_sip``): LiveKit side
    on the real server."""
    twilio = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN)
    twilio.add_number(number, voice_url="https://example.test/twiml")
    server = TestServer(twilio.app, host="127.0.0.1")
    await server.start_server()
    try:
        assert stack.sip_address is not None
        spec = ProvisionSpec(
            numbers=(number,),
            sip_uri=f"sip:{stack.sip_address}",
            agent_name=DEFAULT_AGENT_NAME,
            name=f"trunkline-{number}",
            dial_sip=dial_sip,
        )
        await provision(
            spec,
            LiveKitCredentials(stack.http_url, stack.api_key, stack.api_secret),
            TwilioCredentials(ACCOUNT_SID, AUTH_TOKEN),
            dry_run=False,
            report=lambda change: None,
            twilio_http_client=LoopbackHttpClient(str(server.make_url(""))),
        )
        yield
    finally:
        await server.close()


def dial(stack: LocalStack, number: str) -> DialOptions:
    return DialOptions(
        target=f"sip:{number}@{stack.sip_address}", from_number=CALLER, local_host=stack.host
    )


async def hears(call: SipCall, ms: float, since: int = 0) -> None:
    """Until the caller has heard ``ms`` of audible agent audio after sample ``since``."""
    await eventually(lambda: audible_ms(call.heard().pcm()[since:], RATE) >= ms, STEP_S)


def heard_samples(call: SipCall) -> int:
    return len(call.heard().pcm())


async def test_a_sip_call_is_answered_labelled_sip_hears_keys_and_is_hung_up_with_a_bye(
    livekit_env: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = Script(
        greeting="Hello, this is trunkline.",
        turns=(Turn("I heard you."), Turn("Goodbye!", call=ToolCall("end_call"))),
        fallback="",
    )
    number = new_number()
    async with (
        provisioned(livekit_env, number),
        running_worker(livekit_env, script, tmp_path, monkeypatch) as worker,
    ):
        async with SipCall.dial(dial(livekit_env, number)) as call:
            await asyncio.wait_for(call.answered(), ANSWER_S)
            await hears(call, 800)  # the greeting
            await asyncio.sleep(1.0)
            before = heard_samples(call)
            await call.play(speech(RATE))
            await hears(call, 500, since=before)  # "I heard you."
            await asyncio.sleep(1.0)
            await call.send_dtmf("5")
            # the key press is the next turn: end_call, whose goodbye ends in livekit-sip's BYE
            await asyncio.wait_for(call.bye_received, STEP_S * 2)
            ended = await asyncio.wait_for(call.ended, STEP_S)
            session = worker.session()
        await worker.wait_idle()
    assert ended.how == Ending.BYE_RECEIVED
    assert any("pressed 5" in text for text in user_texts(session))
    turns = worker.turns()
    assert {t.path for t in turns} == {"sip"}
    (call_id,) = {t.call_id for t in turns}
    assert call_id  # LiveKit SIP's sip.callID
    # the greeting and the spoken turn (a key press's reply is not a caller turn)
    assert [t.turn for t in turns] == [0, 1]
    # μ-law both ways: what came back is telephone-band speech
    heard = call.heard().pcm()
    assert audible_ms(heard, RATE) > 1500
    assert np.abs(heard).max() > 1000


async def test_transfer_call_on_the_sip_path_is_a_refer_to_the_caller(
    livekit_env: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = Script(
        greeting="Hello.",
        turns=(
            Turn(
                "One moment.",
                call=ToolCall("transfer_call", {"phone_number": TRANSFER_TO}),
                after_call="",
            ),
        ),
        fallback="",
    )
    number = new_number()
    worker: Worker
    async with (
        provisioned(livekit_env, number),
        running_worker(livekit_env, script, tmp_path, monkeypatch) as worker,
    ):
        async with SipCall.dial(dial(livekit_env, number)) as call:
            await asyncio.wait_for(call.answered(), ANSWER_S)
            await hears(call, 300)
            await call.send_dtmf("1")
            refer = await asyncio.wait_for(call.refer_received, STEP_S * 2)
            # our NOTIFY says the transfer succeeded; livekit-sip then leaves with a BYE
            await asyncio.wait_for(call.bye_received, STEP_S * 2)
            await eventually(lambda: tool_outputs(worker.session(), "transfer_call"), STEP_S)
            session = worker.session()
        await worker.wait_idle()
    assert refer.refer_to.startswith(f"<tel:{TRANSFER_TO}") or TRANSFER_TO in refer.refer_to
    (output,) = tool_outputs(session, "transfer_call")
    assert f"being transferred to {TRANSFER_TO}" in output
