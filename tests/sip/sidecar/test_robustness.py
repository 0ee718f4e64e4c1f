"""Whatever one peer sends, the other calls on the same sidecar carry on untouched.

A healthy simulated call runs through the real sidecar, agent and simulator while hypothesis
throws generated garbage at the same server on other streams: malformed JSON, wrong types,
out-of-order and duplicate events, bad base64, oversized payloads, binary frames, and valid
``start``s (with real stream tokens) followed by nonsense. The healthy call must complete as a
call placed alone does — on virtual time (``tests.virtual_time``) the same cadence and lead, no
gap, each turn's latency and audio to the frame (``honest.py`` says why not to the sample) — and
the server must stay up and release every call.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import agent.sim.embedded  # noqa: F401 - registers Silero on the main thread, as livekit requires
from tests.sip.sidecar.honest import assert_undisturbed, call_alone, honest_call, local_sidecar
from tests.waiting import eventually

pytestmark = [pytest.mark.slow, pytest.mark.virtual_time]

SPACING_S = 0.5
"""Between two attacks: thirty of them spread over most of the healthy call (~25 s)."""

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
anything = json_values | st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode())
events = st.sampled_from(["connected", "start", "media", "mark", "dtmf", "stop", "clear", "x"])


@st.composite
def twilio_shaped(draw: st.DrawFn) -> str:
    """A message with Twilio's shape whose fields are any of right, wrong or missing."""
    msg: dict[str, Any] = {"event": draw(events)}
    for key in ("sequenceNumber", "streamSid"):
        if draw(st.booleans()):
            msg[key] = draw(st.sampled_from(["1", "2", "MZ1", "-4"]) | anything)
    body = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "payload": st.sampled_from(["//8=", "@@", "A" * 20000]) | anything,
                "timestamp": st.sampled_from(["0", "20", "999999999"]) | anything,
                "digit": st.sampled_from(["1", "#", "xx"]) | anything,
                "name": anything,
                "mediaFormat": anything,
                "customParameters": anything,
                "callSid": anything,
            },
        )
    )
    msg[msg["event"]] = body
    return json.dumps(msg)


frames = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    twilio_shaped(),
    st.binary(max_size=100),
)


def drawn_junk() -> list[tuple[list[str | bytes], bool]]:
    """Hypothesis's examples, drawn before the attack: the attack then runs on the test's own
    (virtual-time) loop beside the honest call. A failure names the example that caused it."""
    drawn: list[tuple[list[str | bytes], bool]] = []

    @settings(max_examples=30, deadline=None, database=None)
    @given(junk=st.lists(frames, min_size=1, max_size=15), with_start=st.booleans())
    def draw(junk: list[str | bytes], with_start: bool) -> None:
        drawn.append((junk, with_start))

    draw()
    return drawn


async def stream_token(http: aiohttp.ClientSession, url: str, call_sid: str) -> dict[str, str]:
    async with http.post(f"{url}/twilio/voice", data={"CallSid": call_sid}) as resp:
        body = await resp.text()
    token = body.split('name="trunkline_stream_token" value="')[1].split('"')[0]
    return {"trunkline_stream_token": token}


async def attack(url: str, junk: list[str | bytes], with_start: bool, n: int) -> int:
    """Send ``junk`` on a fresh stream (after a valid start if asked); returns /healthz status."""
    async with aiohttp.ClientSession() as http:
        with contextlib.suppress(aiohttp.ClientError, ConnectionError):
            async with http.ws_connect(f"{url}/twilio/media") as ws:
                if with_start:
                    sid = f"CAjunk{n}"
                    params = await stream_token(http, url, sid)
                    await ws.send_str(
                        json.dumps(
                            {
                                "event": "start", "sequenceNumber": "1", "streamSid": "MZj",
                                "start": {
                                    "streamSid": "MZj", "accountSid": "AC1", "callSid": sid,
                                    "customParameters": params,
                                    "mediaFormat": {"encoding": "audio/x-mulaw",
                                                    "sampleRate": 8000, "channels": 1},
                                },
                            }
                        )
                    )  # fmt: skip
                for frame in junk:
                    if isinstance(frame, bytes):
                        await ws.send_bytes(frame)
                    else:
                        await ws.send_str(frame)
                await asyncio.sleep(0.05)
        async with http.get(f"{url}/healthz") as resp:
            return resp.status


async def test_garbage_on_other_streams_never_disturbs_a_call() -> None:
    examples = drawn_junk()
    assert len(examples) == 30
    alone = await call_alone(turns=3)
    async with local_sidecar() as (url, state):
        healthy = asyncio.ensure_future(honest_call(url, turns=3))
        for n, (junk, with_start) in enumerate(examples):
            status = await attack(url, junk, with_start, n)
            assert status == 200, (junk, with_start)
            await asyncio.sleep(SPACING_S)
        assert not healthy.done()  # the attack lasted through the greeting and into the turns
        result = await healthy
        await eventually(lambda: state.active_calls == 0, within_s=20)
    assert [t.turn for t in result.turns] == [1, 2, 3]
    assert result.hung_up_by == "agent"
    assert_undisturbed(result, alone)
