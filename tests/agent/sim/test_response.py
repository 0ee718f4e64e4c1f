"""One response on the timing model, run on a fake clock: event order, schedule, cancellation."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest

from agent.sim.conversation import Conversation
from agent.sim.response import ReplyPlan, Response, ResponseContext
from agent.sim.script import ToolCall
from agent.sim.timing import STEADY_SPEED, Chunking, plan_chunks
from agent.sim.tts import SAMPLE_RATE, Speech, Word

from .harness import check_server_event

SPEECH = Speech(
    text="One two three.",
    pcm=(np.sin(np.arange(SAMPLE_RATE) * 2 * np.pi * 200 / SAMPLE_RATE) * 8000).astype(np.int16),
    words=(Word("One ", 0.0), Word("two ", 0.4), Word("three.", 0.8)),
)


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def now(self) -> float:
        return self.t

    async def sleep_until(self, deadline: float) -> None:
        self.t = max(self.t, deadline)
        await asyncio.sleep(0)


async def speak_fixture(text: str) -> Speech:
    assert text == SPEECH.text
    return SPEECH


class Rig:
    def __init__(self, speak: Callable[[str], Awaitable[Speech]] = speak_fixture) -> None:
        self.clock = FakeClock()
        self.conversation = Conversation()
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.finished: list[Response] = []
        self.emitted = asyncio.Event()
        self.ctx = ResponseContext(
            emit=self.emit,
            conversation=self.conversation,
            clock=self.clock,
            speak=speak,
            conversation_id="conv_1",
        )

    def emit(self, event: dict[str, Any]) -> None:
        event = json.loads(json.dumps(event))  # as sent: later state changes must not leak in
        check_server_event(event)
        self.events.append((self.clock.now(), event))
        self.emitted.set()

    async def wait_for(self, type_: str, count: int) -> None:
        while len(self.of(type_)) < count:
            self.emitted.clear()
            await self.emitted.wait()

    def response(
        self, plan: ReplyPlan, *, think_s: float = 0.5, chunking: Chunking = Chunking.STEADY
    ) -> Response:
        return Response(
            self.ctx,
            plan,
            metadata={"client_event_id": "ev_1"},
            voice="marin",
            think_s=think_s,
            chunking=chunking,
            rng=np.random.default_rng(4),
            on_finished=self.finished.append,
        )

    def types(self) -> list[str]:
        return [e["type"] for _, e in self.events]

    def of(self, type_: str) -> list[tuple[float, dict[str, Any]]]:
        return [(t, e) for t, e in self.events if e["type"] == type_]


async def run(response: Response) -> None:
    response.start()
    for _ in range(1000):
        if response.finished:
            return
        await asyncio.sleep(0)
    raise AssertionError("response did not finish")


async def test_audio_reply_with_a_tool_call_follows_the_service_sequence() -> None:
    rig = Rig()
    resp = rig.response(ReplyPlan(SPEECH.text, ToolCall("end_call", {"why": "done"}), audio=True))
    await run(resp)
    types = rig.types()
    assert types[:4] == [
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
    ]
    assert (
        types[-11:]
        == [
            "response.output_audio.done",
            "response.output_audio_transcript.done",
            "response.content_part.done",
            "response.output_item.done",
            "conversation.item.done",
            "response.output_item.added",
            "conversation.item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.done",
        ][-11:]
        or types
    )
    _, created = rig.of("response.created")[0]
    assert created["response"]["metadata"] == {"client_event_id": "ev_1"}
    _, done = rig.of("response.done")[0]
    assert done["response"]["status"] == "completed"
    message, call = done["response"]["output"]
    assert message["content"][0]["transcript"] == SPEECH.text
    assert call["name"] == "end_call" and json.loads(call["arguments"]) == {"why": "done"}
    assert call["call_id"] == resp.plan.call_id
    assert [i.type for i in rig.conversation.items] == ["message", "function_call"]
    assert rig.conversation.items[0].audio == bytearray(SPEECH.pcm.tobytes())
    assert rig.finished == [resp]


async def test_steady_audio_starts_after_think_time_and_keeps_its_pace() -> None:
    rig = Rig()
    await run(rig.response(ReplyPlan(SPEECH.text, None, audio=True), think_s=0.5))
    deltas = rig.of("response.output_audio.delta")
    times = [t - 100.0 for t, _ in deltas]
    sizes = [len(base64.b64decode(e["delta"])) // 2 for _, e in deltas]
    assert sizes == [2400] * 10
    gap = 0.1 / STEADY_SPEED
    assert times == pytest.approx([0.5 + i * gap for i in range(10)])
    audio = b"".join(base64.b64decode(e["delta"]) for _, e in deltas)
    assert audio == SPEECH.pcm.tobytes()


async def test_each_words_transcript_comes_just_before_the_audio_that_holds_it() -> None:
    rig = Rig()
    await run(rig.response(ReplyPlan(SPEECH.text, None, audio=True)))
    audio_before = 0
    heard: list[tuple[str, int]] = []
    for _, e in rig.events:
        if e["type"] == "response.output_audio.delta":
            audio_before += len(base64.b64decode(e["delta"])) // 2
        elif e["type"] == "response.output_audio_transcript.delta":
            heard.append((e["delta"], audio_before))
    # 100 ms chunks: words at 0.0, 0.4 and 0.8 s go out before chunks 0, 4 and 8
    assert heard == [("One ", 0), ("two ", 9600), ("three.", 19200)]


async def test_bursty_audio_follows_the_seeded_plan() -> None:
    rig = Rig()
    await run(rig.response(ReplyPlan(SPEECH.text, None, audio=True), chunking=Chunking.BURSTY))
    expected = plan_chunks(len(SPEECH.pcm), SAMPLE_RATE, Chunking.BURSTY, np.random.default_rng(4))
    deltas = rig.of("response.output_audio.delta")
    assert [len(base64.b64decode(e["delta"])) // 2 for _, e in deltas] == [
        c.samples for c in expected
    ]
    at = 0.5 + np.cumsum([0.0] + [c.gen_s for c in expected[1:]])
    assert [t - 100.0 for t, _ in deltas] == pytest.approx(list(at))


async def test_cancel_while_thinking_ends_with_no_output() -> None:
    rig = Rig()
    resp = rig.response(ReplyPlan(SPEECH.text, ToolCall("end_call"), audio=True), think_s=5)
    resp.start()
    await asyncio.sleep(0)
    resp.cancel("turn_detected")
    await asyncio.sleep(0)
    assert rig.types() == ["response.created", "response.done"]
    _, done = rig.events[-1]
    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    assert done["response"]["output"] == []
    assert rig.conversation.items == []
    assert resp.finished and resp.cancelled and rig.finished == [resp]
    resp.cancel("client_cancelled")  # a second cancel changes nothing
    assert len(rig.events) == 2


async def test_cancel_mid_audio_closes_the_item_incomplete_with_what_was_sent() -> None:
    rig = Rig()
    resp = rig.response(ReplyPlan(SPEECH.text, ToolCall("end_call"), audio=True))
    resp.start()
    await rig.wait_for("response.output_audio.delta", 3)
    resp.cancel("client_cancelled")
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(rig.of("response.output_audio.delta")) == 3
    _, item_done = rig.of("response.output_item.done")[0]
    assert item_done["item"]["status"] == "incomplete"
    _, done = rig.events[-1]
    assert done["type"] == "response.done"
    assert done["response"]["status_details"]["reason"] == "client_cancelled"
    assert [i.type for i in rig.conversation.items] == ["message"]
    assert rig.conversation.items[0].audio_ms == 300


async def test_text_only_reply_has_text_events_and_no_audio() -> None:
    rig = Rig()
    await run(rig.response(ReplyPlan("Plain words.", None, audio=False)))
    assert "response.output_audio.delta" not in rig.types()
    _, delta = rig.of("response.output_text.delta")[0]
    assert delta["delta"] == "Plain words."
    _, part = rig.of("response.content_part.added")[0]
    assert part["part"]["type"] == "text"
    assert rig.conversation.items[0].audio is None


async def test_a_silent_tool_follow_up_has_no_items() -> None:
    rig = Rig()
    await run(rig.response(ReplyPlan("", None, audio=True)))
    assert rig.types() == ["response.created", "response.done"]
    assert rig.events[-1][1]["response"]["status"] == "completed"


@pytest.mark.expect_log(r"^ERROR agent\.sim\.response: simulated response \S+ failed")
async def test_a_reply_that_cannot_be_produced_fails_the_response_only() -> None:
    async def broken(text: str) -> Speech:
        raise RuntimeError("espeak-ng is missing")

    rig = Rig(speak=broken)
    resp = rig.response(ReplyPlan(SPEECH.text, None, audio=True))
    await run(resp)
    _, done = rig.events[-1]
    assert done["response"]["status"] == "failed"
    assert done["response"]["status_details"]["error"]["message"] == "espeak-ng is missing"
    assert rig.finished == [resp]
