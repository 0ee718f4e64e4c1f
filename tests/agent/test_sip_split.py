"""One number, both paths, end to end on the sip side: the webhook sends a call down the sip
path, the Twilio caller places the ``<Dial><Sip>`` leg into the real livekit-sip with the
trunk's digest credentials (``trunkline provision --dial-sip``), the worker answers it labelled
``sip`` under the call's CallSid (the ``X-Trunkline-Call-Sid`` header the trunk maps to the
bridge's attribute), the caller talks and hangs up, reports ``DialCallStatus=completed``, and
the webhook ends the call.

Needs livekit-sip (see the ``livekit_sip`` marker in ``tests/realstack/plugin.py``); the same
flow against a plain SIP peer runs everywhere: ``tests/lab/sipcaller/test_sip_leg.py``.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from agent.sim.script import Script, Turn
from lab.caller.call import CallerOptions, SimulatedCaller
from lab.caller.twiml import Hangup, SipDial
from lab.sip_leg import SipLegDialer
from sip import g711
from sip.provision.spec import DigestAuth
from sip.sidecar.app import create_app
from sip.sidecar.backend import CallControl, CallInfo
from sip.sidecar.link import TwilioLink
from trunkline.config import settings_from_env
from trunkline.stack import LocalStack

from .room_rig import STEP_S, running_worker, speech
from .test_sip_call import ANSWER_S, CALLER, RATE, new_number, provisioned

pytestmark = [pytest.mark.netns, pytest.mark.livekit_sip, pytest.mark.slow]

AUTH = DigestAuth("twilio-split", "split-" + secrets.token_hex(8))


def no_stream(info: CallInfo, link: TwilioLink, control: CallControl) -> None:
    raise AssertionError(f"call {info.call_sid} was streamed; it should have gone the sip path")


async def test_the_sip_leg_of_a_split_reaches_the_worker_under_its_callsid(
    livekit_env: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = Script(
        greeting="Hello, this is trunkline.", turns=(Turn("I heard you."),), fallback=""
    )
    number = new_number()
    sid = "CA" + secrets.token_hex(16)
    ulaw = g711.encode(speech(RATE))
    assert livekit_env.sip_address is not None
    env = {
        "LIVEKIT_SIP_URI": f"sip:{livekit_env.sip_address}",
        "TRUNKLINE_SIP_USERNAME": AUTH.username,
        "TRUNKLINE_SIP_PASSWORD": AUTH.password,
        "TRUNKLINE_SIP_SHARE": "1",
    }
    app = create_app(settings_from_env(env), no_stream)  # type: ignore[arg-type]
    async with (
        provisioned(livekit_env, number, dial_sip=AUTH),
        running_worker(livekit_env, script, tmp_path, monkeypatch) as worker,
    ):
        async with TestClient(TestServer(app)) as client, aiohttp.ClientSession() as http:
            options = CallerOptions(
                url=str(client.make_url("")).rstrip("/"),
                speech=[[ulaw[i : i + 160] for i in range(0, len(ulaw), 160)]],
                turns=1,
                greeting_timeout_s=ANSWER_S,
                reply_timeout_s=STEP_S,
                linger_s=0.0,
                call_sid=sid,
                from_number=CALLER,
                to_number=number,
            )
            caller = SimulatedCaller(options, http, SipLegDialer(livekit_env.host, ANSWER_S))
            result = await caller.run()
        await worker.wait_idle()
    dial, hangup = caller.answers
    assert isinstance(dial, SipDial) and hangup == Hangup()
    assert dial.uri.startswith(f"sip:{number}@{livekit_env.sip_address}")
    # the caller's side of the sip leg: greeting and the reply to its one turn
    assert result.call_sid == sid and result.greeting is not None
    assert result.greeting.heard_ms > 800
    (turn,) = result.turns
    assert turn.latency_ms is not None and turn.heard_ms > 300
    # the agent's side: the same call, by its CallSid, on the sip path
    turns = worker.turns()
    assert {t.path for t in turns} == {"sip"} and {t.call_id for t in turns} == {sid}
    assert [t.turn for t in turns] == [0, 1]
