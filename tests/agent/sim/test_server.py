"""The simulator over a raw WebSocket: the protocol as the service speaks it, and its errors."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import wave
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest

from agent.sim import session as session_module
from agent.sim.embedded import RunningSimulator, run_simulator
from agent.sim.options import SimOptions
from agent.sim.script import Script, ToolCall, Turn
from agent.sim.timing import Chunking, ThinkTime

from .harness import RATE, check_server_event, speech_clip, speech_span

pytestmark = pytest.mark.virtual_time

SCRIPT = Script(
    greeting="Hello there.",
    turns=(
        Turn("First reply."),
        Turn("Bye now.", call=ToolCall("end_call", {"reason": "done"}), after_call="Call ended."),
    ),
    fallback="Nothing more.",
)
OPTIONS = SimOptions(think=ThinkTime.fixed(0), chunking=Chunking.STEADY, script=SCRIPT)
AUTH = {"Authorization": "Bearer test-key"}


class Client:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def send(self, type_: str, **fields: Any) -> None:
        await self.ws.send_str(json.dumps({"type": type_, **fields}))

    async def recv(self) -> dict[str, Any]:
        async with asyncio.timeout(15):
            msg = await self.ws.receive()
        assert msg.type is aiohttp.WSMsgType.TEXT, msg
        event: dict[str, Any] = json.loads(msg.data)
        check_server_event(event)
        self.seen.append(event)
        return event

    async def expect(self, type_: str) -> dict[str, Any]:
        """The next event of this type (others seen on the way are kept in ``seen``)."""
        while True:
            event = await self.recv()
            if event["type"] == type_:
                return event

    async def append(self, pcm: np.ndarray, chunk: int = RATE // 10) -> None:
        for i in range(0, len(pcm), chunk):
            data = pcm[i : i + chunk].astype(np.int16).tobytes()
            await self.send("input_audio_buffer.append", audio=base64.b64encode(data).decode())


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with run_simulator(OPTIONS) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def connect(http: aiohttp.ClientSession, sim: RunningSimulator) -> Client:
    ws = await http.ws_connect(sim.ws_url + "?model=gpt-realtime", headers=AUTH)
    client = Client(ws)
    created = await client.recv()
    assert created["type"] == "session.created"
    return client


async def test_the_endpoint_wants_a_bearer_token_a_model_and_a_websocket(
    http: aiohttp.ClientSession, sim: RunningSimulator
) -> None:
    url = sim.base_url + "/realtime"
    async with http.get(url + "?model=m", headers={"Upgrade": "websocket"}) as r:
        assert r.status == 401
        assert (await r.json())["error"]["type"] == "invalid_request_error"
    async with http.get(url, headers=AUTH) as r:
        assert r.status == 400
        assert "model" in (await r.json())["error"]["message"]
    async with http.get(url + "?model=m", headers=AUTH) as r:
        assert r.status == 400
        assert "WebSocket" in (await r.json())["error"]["message"]


async def test_session_starts_with_server_vad_and_updates_only_what_is_named(
    http: aiohttp.ClientSession, sim: RunningSimulator
) -> None:
    client = await connect(http, sim)
    session = client.seen[0]["session"]
    assert session["model"] == "gpt-realtime"
    assert session["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    assert session["audio"]["input"]["turn_detection"]["silence_duration_ms"] == 500
    await client.send(
        "session.update",
        session={
            "type": "realtime",
            "instructions": "Be brief.",
            "audio": {"input": {"turn_detection": None}},
            "some_future_option": True,
        },
    )
    updated = (await client.expect("session.updated"))["session"]
    assert updated["instructions"] == "Be brief."
    assert updated["audio"]["input"]["turn_detection"] is None
    assert updated["audio"]["output"]["voice"] == "marin"  # untouched
    assert updated["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}


@pytest.mark.parametrize(
    ("session", "param"),
    [
        ({"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcmu"}}}},
         "session.audio.input.format"),
        ({"type": "transcription"}, "session.type"),
    ],
)  # fmt: skip
async def test_session_update_refuses_what_the_simulator_cannot_do(
    http: aiohttp.ClientSession, sim: RunningSimulator, session: dict[str, Any], param: str
) -> None:
    client = await connect(http, sim)
    await client.send("session.update", session=session, event_id="evt_upd")
    error = (await client.expect("error"))["error"]
    assert (error["param"], error["event_id"]) == (param, "evt_upd")
    await client.send("session.update", session={"type": "realtime", "instructions": "ok"})
    updated = (await client.expect("session.updated"))["session"]
    assert updated["audio"]["input"]["format"]["type"] == "audio/pcm"


async def test_bad_input_gets_one_error_each_and_the_session_carries_on(
    http: aiohttp.ClientSession, sim: RunningSimulator
) -> None:
    client = await connect(http, sim)
    ws = client.ws
    await ws.send_str("{not json")
    await ws.send_str(json.dumps({"type": "response.generate", "event_id": "e1"}))
    await ws.send_str(json.dumps({"type": "input_audio_buffer.append", "audio": "***"}))
    odd = base64.b64encode(b"\x00\x01\x02").decode()
    await ws.send_str(json.dumps({"type": "input_audio_buffer.append", "audio": odd}))
    await ws.send_bytes(b"\x00\x01")
    await ws.send_str(json.dumps({"type": "conversation.item.delete", "event_id": "e2"}))
    errors = [(await client.recv())["error"] for _ in range(6)]
    assert [e["code"] for e in errors] == [
        "invalid_json",
        "invalid_value",
        "invalid_value",
        "invalid_value",
        "invalid_type",
        "missing_required_parameter",
    ]
    assert errors[1]["event_id"] == "e1" and errors[5]["param"] == "item_id"
    assert "2-byte samples" in errors[3]["message"]
    assert all(e["type"] == "invalid_request_error" for e in errors)
    await client.send("response.create")
    assert (await client.expect("response.done"))["response"]["status"] == "completed"


async def test_items_can_be_created_placed_retrieved_and_deleted(
    http: aiohttp.ClientSession, sim: RunningSimulator
) -> None:
    client = await connect(http, sim)
    text = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    await client.send("conversation.item.create", item={**text, "id": "item_a"})
    added = await client.expect("conversation.item.added")
    assert (added["item"]["id"], added["previous_item_id"]) == ("item_a", None)
    await client.send(
        "conversation.item.create", item={**text, "id": "item_0"}, previous_item_id="root"
    )
    assert (await client.expect("conversation.item.added"))["previous_item_id"] is None
    await client.send("conversation.item.create", item={**text, "id": "item_a"}, event_id="dup")
    error = (await client.expect("error"))["error"]
    assert (error["code"], error["event_id"]) == ("item_create_duplicate_item_id", "dup")

    audio = base64.b64encode(np.arange(2400, dtype=np.int16).tobytes()).decode()
    spoken = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_audio", "audio": audio}],
    }
    await client.send("conversation.item.create", item={**spoken, "id": "item_b"})
    added = await client.expect("conversation.item.added")
    assert added["previous_item_id"] == "item_a"
    assert "audio" not in added["item"]["content"][0]
    await client.send("conversation.item.retrieve", item_id="item_b")
    retrieved = await client.expect("conversation.item.retrieved")
    assert retrieved["item"]["content"][0]["audio"] == audio

    await client.send("conversation.item.delete", item_id="item_a")
    assert (await client.expect("conversation.item.deleted"))["item_id"] == "item_a"
    await client.send("conversation.item.delete", item_id="item_a", event_id="gone")
    error = (await client.expect("error"))["error"]
    assert (error["code"], error["event_id"]) == ("item_delete_invalid_item_id", "gone")


async def test_manual_commit_needs_100_ms_and_says_there_is_no_asr(
    http: aiohttp.ClientSession, sim: RunningSimulator
) -> None:
    client = await connect(http, sim)
    transcription = {"model": "gpt-4o-mini-transcribe"}
    await client.send(
        "session.update",
        session={
            "type": "realtime",
            "audio": {"input": {"turn_detection": None, "transcription": transcription}},
        },
    )
    await client.expect("session.updated")
    await client.append(np.zeros(RATE // 20))  # 50 ms
    await client.send("input_audio_buffer.commit", event_id="c1")
    error = (await client.expect("error"))["error"]
    assert (error["code"], error["event_id"]) == ("input_audio_buffer_commit_empty", "c1")
    await client.append(speech_clip()[: RATE * 2])
    await client.send("input_audio_buffer.commit")
    committed = await client.expect("input_audio_buffer.committed")
    item = (await client.expect("conversation.item.added"))["item"]
    assert item["id"] == committed["item_id"] and item["role"] == "user"
    done = await client.expect("conversation.item.input_audio_transcription.completed")
    assert done["transcript"] == "[caller speech, 2.0 s]"
    assert done["usage"] == {"type": "duration", "seconds": 2.0}
    await client.send("input_audio_buffer.clear")
    await client.expect("input_audio_buffer.cleared")
    assert not any(e["type"] == "response.created" for e in client.seen)  # commit alone: no reply


async def test_an_uncommitted_buffer_is_bounded(
    http: aiohttp.ClientSession, sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_module, "MAX_BUFFER_MS", 1000)
    client = await connect(http, sim)
    await client.send(
        "session.update", session={"type": "realtime", "audio": {"input": {"turn_detection": None}}}
    )
    await client.expect("session.updated")
    await client.append(np.zeros(RATE), chunk=RATE)  # exactly the limit
    await client.append(np.zeros(RATE // 10))
    assert (await client.expect("error"))["error"]["code"] == "input_audio_buffer_full"
    await client.send("input_audio_buffer.commit")
    item = (await client.expect("conversation.item.added"))["item"]
    (live,) = sim.simulator.sessions
    stored = live.conversation.get(item["id"])
    assert stored is not None and stored.audio_ms == 1000  # nothing from the refused append


async def test_server_vad_turns_phone_speech_into_a_user_item_and_a_reply(
    http: aiohttp.ClientSession, sim: RunningSimulator
) -> None:
    client = await connect(http, sim)
    clip = speech_clip()
    silence = np.zeros(RATE)
    await client.append(np.concatenate([silence, clip, silence]))
    onset_s, end_s = speech_span(clip)
    started = await client.expect("input_audio_buffer.speech_started")
    # onset within two VAD windows, reported with 300 ms of prefix padding
    assert started["audio_start_ms"] == pytest.approx(1000 + onset_s * 1000 - 300, abs=64)
    stopped = await client.expect("input_audio_buffer.speech_stopped")
    assert stopped["item_id"] == started["item_id"]
    # end of speech within 250 ms (the report includes the 500 ms of silence that confirmed it)
    assert stopped["audio_end_ms"] - 500 == pytest.approx(1000 + end_s * 1000, abs=250)
    committed = await client.expect("input_audio_buffer.committed")
    assert committed["item_id"] == started["item_id"]
    (live,) = sim.simulator.sessions
    user = live.conversation.get(committed["item_id"])
    assert user is not None
    assert user.audio_ms == pytest.approx(
        stopped["audio_end_ms"] - started["audio_start_ms"], abs=1
    )
    created = await client.expect("response.created")
    assert created["response"]["metadata"] is None  # server-initiated
    done = await client.expect("response.done")
    assert done["response"]["output"][0]["content"][0]["transcript"] == "Hello there."


async def test_one_response_at_a_time_and_cancel_rules(
    http: aiohttp.ClientSession, sim: RunningSimulator
) -> None:
    client = await connect(http, sim)
    await client.send("response.cancel", event_id="x1")
    error = (await client.expect("error"))["error"]
    assert error["message"].startswith("Cancellation failed")
    assert error["event_id"] == "x1"
    await client.send("response.create")
    created = await client.expect("response.created")
    await client.send("response.create", event_id="x2")
    error = (await client.expect("error"))["error"]
    assert (error["code"], error["event_id"]) == ("conversation_already_has_active_response", "x2")
    await client.send("response.cancel", response_id="resp_other")
    assert (await client.expect("error"))["error"]["code"] == "response_cancel_not_active"
    await client.send("response.cancel", response_id=created["response"]["id"])
    done = await client.expect("response.done")
    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"]["reason"] == "client_cancelled"


async def test_speech_during_a_response_cancels_it_as_turn_detected(
    http: aiohttp.ClientSession,
) -> None:
    slow = replace(OPTIONS, think=ThinkTime.fixed(3000))
    async with run_simulator(slow) as sim:
        client = await connect(http, sim)
        await client.send("response.create")
        await client.expect("response.created")
        await client.append(np.concatenate([np.zeros(RATE // 2), speech_clip()]))
        await client.expect("input_audio_buffer.speech_started")
        done = await client.expect("response.done")
        assert done["response"]["status_details"] == {
            "type": "cancelled",
            "reason": "turn_detected",
        }


async def test_truncate_cuts_the_heard_audio(
    http: aiohttp.ClientSession, sim: RunningSimulator
) -> None:
    client = await connect(http, sim)
    await client.send("response.create")
    done = await client.expect("response.done")
    item_id = done["response"]["output"][0]["id"]
    await client.send(
        "conversation.item.truncate", item_id=item_id, content_index=0, audio_end_ms=400
    )
    truncated = await client.expect("conversation.item.truncated")
    assert (truncated["item_id"], truncated["audio_end_ms"]) == (item_id, 400)
    (live,) = sim.simulator.sessions
    item = live.conversation.get(item_id)
    assert item is not None and item.audio_ms == 400
    assert item.data["content"][0]["transcript"] == ""
    await client.send(
        "conversation.item.truncate",
        item_id=item_id,
        content_index=0,
        audio_end_ms=900,
        event_id="t",
    )
    error = (await client.expect("error"))["error"]
    assert (error["param"], error["event_id"]) == ("audio_end_ms", "t")


async def test_scripted_tool_call_only_for_a_declared_tool_then_the_follow_up_line(
    http: aiohttp.ClientSession, sim: RunningSimulator
) -> None:
    client = await connect(http, sim)
    for _ in range(2):  # greeting, first reply
        await client.send("response.create")
        await client.expect("response.done")
    await client.send("response.create", response={"tools": []})  # turn 2, no tool offered
    output = (await client.expect("response.done"))["response"]["output"]
    assert [o["type"] for o in output] == ["message"]

    tool = {"type": "function", "name": "end_call", "description": "hang up", "parameters": {}}
    await client.send("session.update", session={"type": "realtime", "tools": [tool]})
    await client.expect("session.updated")
    client2 = await connect(http, sim)
    await client2.send("session.update", session={"type": "realtime", "tools": [tool]})
    for _ in range(3):
        await client2.send("response.create")
        done = await client2.expect("response.done")
    message, call = done["response"]["output"]
    assert message["content"][0]["transcript"] == "Bye now."
    assert (call["type"], call["name"], json.loads(call["arguments"])) == (
        "function_call",
        "end_call",
        {"reason": "done"},
    )
    output_item = {"type": "function_call_output", "call_id": call["call_id"], "output": "ok"}
    await client2.send("conversation.item.create", item=output_item)
    await client2.expect("conversation.item.added")
    await client2.send("response.create")
    done = await client2.expect("response.done")
    assert done["response"]["output"][0]["content"][0]["transcript"] == "Call ended."


async def test_tool_choice_none_suppresses_the_call(
    http: aiohttp.ClientSession, sim: RunningSimulator
) -> None:
    client = await connect(http, sim)
    tool = {"type": "function", "name": "end_call", "parameters": {}}
    await client.send("session.update", session={"type": "realtime", "tools": [tool]})
    for choice in ("auto", "auto", "none"):
        await client.send("response.create", response={"tool_choice": choice})
        done = await client.expect("response.done")
    assert [o["type"] for o in done["response"]["output"]] == ["message"]


async def test_text_modality_gets_text_not_audio(
    http: aiohttp.ClientSession, sim: RunningSimulator
) -> None:
    client = await connect(http, sim)
    await client.send("response.create", response={"output_modalities": ["text"]})
    done = await client.expect("response.done")
    assert done["response"]["output"][0]["content"][0] == {
        "type": "output_text",
        "text": "Hello there.",
    }
    assert not any(e["type"] == "response.output_audio.delta" for e in client.seen)


async def test_a_client_that_stops_reading_is_dropped_and_others_carry_on(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    async with run_simulator(replace(OPTIONS, max_queued_bytes=256 * 1024)) as sim:
        stalled = await connect(http, sim)
        audio = base64.b64encode(bytes(10 * RATE * 2)).decode()  # 10 s of input audio
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_audio", "audio": audio}],
        }
        await stalled.send("conversation.item.create", item={**item, "id": "item_big"})
        for _ in range(60):  # ~40 MB of events that this client never reads
            await stalled.send("conversation.item.retrieve", item_id="item_big")

        healthy = await connect(http, sim)
        await healthy.send("response.create")
        done = await healthy.expect("response.done")
        assert done["response"]["status"] == "completed"
        async with asyncio.timeout(15):
            while (await stalled.ws.receive()).type is aiohttp.WSMsgType.TEXT:
                pass  # what the kernel buffered before the server gave up on this client
        # cut off: with its buffers full it cannot even take the close frame
        assert stalled.ws.close_code in (
            aiohttp.WSCloseCode.POLICY_VIOLATION,
            aiohttp.WSCloseCode.ABNORMAL_CLOSURE,
        )
        assert len(sim.simulator.sessions) == 1
    assert "the client stopped reading" in caplog.text


async def test_sessions_draw_their_own_seeded_timing(http: aiohttp.ClientSession) -> None:
    bursty = replace(OPTIONS, chunking=Chunking.BURSTY, seed=11)

    async def chunk_sizes(client: Client) -> list[int]:
        await client.send("response.create")
        sizes = []
        while (event := await client.recv())["type"] != "response.done":
            if event["type"] == "response.output_audio.delta":
                sizes.append(len(base64.b64decode(event["delta"])) // 2)
        return sizes

    async with run_simulator(bursty) as sim:
        a, b = await connect(http, sim), await connect(http, sim)
        first, second = await asyncio.gather(chunk_sizes(a), chunk_sizes(b))
    assert sum(first) == sum(second)  # the same greeting ...
    assert first != second  # ... cut differently by each session's stream
    assert len(set(first)) > 3
    async with run_simulator(bursty) as sim:
        again = await chunk_sizes(await connect(http, sim))
    assert again == first  # and the same seed replays the same cuts


async def test_sessions_per_draw_lets_consecutive_connections_replay_one_stream(
    http: aiohttp.ClientSession,
) -> None:
    shared = replace(OPTIONS, chunking=Chunking.BURSTY, seed=11, sessions_per_draw=2)

    async def chunk_sizes(client: Client) -> list[int]:
        await client.send("response.create")
        sizes = []
        while (event := await client.recv())["type"] != "response.done":
            if event["type"] == "response.output_audio.delta":
                sizes.append(len(base64.b64decode(event["delta"])) // 2)
        return sizes

    async with run_simulator(shared) as sim:
        first, second, third = [await chunk_sizes(await connect(http, sim)) for _ in range(3)]
    assert first == second  # connections 0 and 1 draw from stream 0 ...
    assert third != first  # ... connection 2 from stream 1
    async with run_simulator(replace(shared, sessions_per_draw=1)) as sim:
        await connect(http, sim)
        one_each = await chunk_sizes(await connect(http, sim))
    assert one_each != first  # by default connection 1 has a stream of its own


async def test_recording_writes_each_committed_caller_turn(
    http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    async with run_simulator(replace(OPTIONS, record_dir=tmp_path / "heard")) as sim:
        await connect(http, sim)  # connection 0 says nothing
        client = await connect(http, sim)
        clip = speech_clip()
        await client.append(np.concatenate([np.zeros(RATE), clip, np.zeros(RATE)]))
        committed = await client.expect("input_audio_buffer.committed")
        (live,) = [s for s in sim.simulator.sessions if s.ordinal == 1]
        item = live.conversation.get(committed["item_id"])
    (wav,) = (tmp_path / "heard").iterdir()
    assert re.fullmatch(r"\d{13}-c1-t1\.wav", wav.name)
    with wave.open(str(wav)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (RATE, 1, 2)
        recorded = w.readframes(w.getnframes())
    assert item is not None and recorded == bytes(item.audio or b"")


async def test_shutdown_closes_live_connections(http: aiohttp.ClientSession) -> None:
    async with run_simulator(OPTIONS) as sim:
        client = await connect(http, sim)
    msg = await client.ws.receive()
    assert msg.type is aiohttp.WSMsgType.CLOSE
    assert msg.data == aiohttp.WSCloseCode.GOING_AWAY


@pytest.mark.expect_log(r"^ERROR agent\.sim\.session: failed to handle a client event")
async def test_an_internal_failure_is_a_server_error_not_a_lost_session(
    http: aiohttp.ClientSession, sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await connect(http, sim)

    def broken(*args: object) -> None:
        raise KeyError("simulated bug")

    monkeypatch.setattr(session_module.SimSession, "_item_delete", broken)
    await client.send("conversation.item.delete", item_id="x")
    assert (await client.expect("error"))["error"]["type"] == "server_error"
    await client.send("response.create")
    assert (await client.expect("response.done"))["response"]["status"] == "completed"
