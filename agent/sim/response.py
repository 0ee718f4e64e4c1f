"""One model response, streamed on the timing model from ``response.created`` to ``response.done``.

The event sequence is the service's: ``response.created``; after the think time the message
item (``response.output_item.added``, ``conversation.item.added``,
``response.content_part.added``); then each chunk's words as
``response.output_audio_transcript.delta`` followed by its audio as
``response.output_audio.delta``; the closing ``*.done`` events; an optional ``function_call``
item; ``response.done``. A cancel (client ``response.cancel`` or the caller barging in) closes
whatever is open with status ``incomplete`` and ends the response ``cancelled`` with the reason.

Chunk *i* is sent at ``created + think + sum(production time of chunks 1..i)`` on the injected
clock, computed from the start rather than from the previous send, so the schedule does not
drift however late the event loop wakes up. ``usage`` is null: the simulator has no tokens to
count and does not pretend to.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .conversation import Conversation, Item
from .protocol import Event, encode_audio, event, new_id
from .script import ToolCall
from .timing import Chunk, Chunking, Clock, plan_chunks
from .tts import SAMPLE_RATE, Speech

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplyPlan:
    """What this response will contain: spoken (or written) text and perhaps a tool call."""

    text: str
    call: ToolCall | None
    audio: bool
    call_id: str = field(default_factory=lambda: new_id("call"))


@dataclass(frozen=True)
class ResponseContext:
    """Where a response sends its events and items, and the time it runs on."""

    emit: Callable[[Event], None]
    conversation: Conversation
    clock: Clock
    speak: Callable[[str], Awaitable[Speech]]
    conversation_id: str


class Response:
    def __init__(
        self,
        ctx: ResponseContext,
        plan: ReplyPlan,
        *,
        metadata: Any,
        voice: str,
        think_s: float,
        chunking: Chunking,
        rng: np.random.Generator,
        on_finished: Callable[[Response], None],
    ) -> None:
        self.id = new_id("resp")
        self.plan = plan
        self._ctx = ctx
        self._metadata = metadata
        self._voice = voice
        self._think_s = think_s
        self._chunking = chunking
        self._rng = rng
        self._on_finished = on_finished
        self._output: list[dict[str, Any]] = []
        self._open_message: Item | None = None
        self._transcript = ""
        self._task: asyncio.Task[None] | None = None
        self.finished = False
        self.cancelled = False

    def start(self) -> None:
        """Announce the response and begin streaming it (``response.created`` goes out now)."""
        self._ctx.emit(event("response.created", response=self._resource("in_progress")))
        self._task = asyncio.create_task(self._guarded(), name=f"sim-{self.id}")

    def cancel(self, reason: str) -> None:
        """Stop now: close the open item as incomplete and end with status ``cancelled``."""
        if self.finished:
            return
        self.cancelled = True
        if self._task is not None:
            self._task.cancel()
        if self._open_message is not None:
            self._close_message("incomplete")
        self._finish("cancelled", {"type": "cancelled", "reason": reason})

    async def _guarded(self) -> None:
        """Run; if producing the reply itself breaks, fail this response, not the session."""
        try:
            await self._run()
        except Exception as e:
            logger.exception("simulated response %s failed", self.id)
            if self._open_message is not None:
                self._close_message("incomplete")
            error = {"type": "server_error", "code": None, "message": str(e) or type(e).__name__}
            self._finish("failed", {"type": "failed", "error": error})

    async def _run(self) -> None:
        start = self._ctx.clock.now()
        plan = self.plan
        speech = await self._ctx.speak(plan.text) if plan.text and plan.audio else None
        deadline = start + self._think_s
        await self._ctx.clock.sleep_until(deadline)
        if plan.text:
            self._open(plan)
            if speech is not None:
                await self._stream_audio(speech, deadline)
            else:
                self._stream_text(plan.text)
            self._close_message("completed")
        if plan.call is not None:
            self._function_call(plan.call)
        self._finish("completed", None)

    def _resource(self, status: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
        audio_format = {"type": "audio/pcm", "rate": SAMPLE_RATE}
        return {
            "object": "realtime.response",
            "id": self.id,
            "status": status,
            "status_details": details,
            "output": list(self._output),
            "conversation_id": self._ctx.conversation_id,
            "output_modalities": ["audio" if self.plan.audio else "text"],
            "max_output_tokens": "inf",
            "audio": {"output": {"format": audio_format, "voice": self._voice}},
            "usage": None,
            "metadata": self._metadata,
        }

    def _where(self, item: Item) -> dict[str, Any]:
        return {"response_id": self.id, "item_id": item.id, "output_index": len(self._output)}

    def _add_item(self, data: dict[str, Any], audio: bytearray | None) -> Item:
        item = Item(data={"object": "realtime.item", "status": "in_progress", **data}, audio=audio)
        previous = self._ctx.conversation.insert(item, None)
        self._item_events(item, "added", previous_item_id=previous)
        return item

    def _done_item(self, item: Item, status: str) -> None:
        item.data["status"] = status
        self._item_events(item, "done")
        self._output.append(item.data)

    def _item_events(self, item: Item, phase: str, **fields: Any) -> None:
        """``response.output_item.<phase>`` and its twin ``conversation.item.<phase>``."""
        self._ctx.emit(
            event(
                f"response.output_item.{phase}",
                response_id=self.id,
                output_index=len(self._output),
                item=item.data,
            )
        )
        self._ctx.emit(event(f"conversation.item.{phase}", **fields, item=item.data))

    def _open(self, plan: ReplyPlan) -> None:
        kind = "audio" if plan.audio else "text"
        part = (
            {"type": "output_audio", "transcript": ""}
            if plan.audio
            else {"type": "output_text", "text": ""}
        )
        item = self._add_item(
            {"id": new_id("item"), "type": "message", "role": "assistant", "content": [part]},
            bytearray() if plan.audio else None,
        )
        self._open_message = item
        empty = {"type": kind, "transcript": ""} if plan.audio else {"type": kind, "text": ""}
        self._ctx.emit(
            event("response.content_part.added", **self._where(item), content_index=0, part=empty)
        )

    async def _stream_audio(self, speech: Speech, first_at: float) -> None:
        item = self._open_message
        assert item is not None and item.audio is not None
        chunks: list[Chunk] = plan_chunks(len(speech.pcm), SAMPLE_RATE, self._chunking, self._rng)
        words = list(speech.words)
        at, sent = first_at, 0
        for i, chunk in enumerate(chunks):
            if i:
                at += chunk.gen_s
                await self._ctx.clock.sleep_until(at)
            end = sent + chunk.samples
            while words and words[0].start_s * SAMPLE_RATE < end:
                self._transcript_delta(item, words.pop(0).text)
            pcm = speech.pcm[sent:end].tobytes()
            item.audio.extend(pcm)
            self._ctx.emit(
                event(
                    "response.output_audio.delta",
                    **self._where(item),
                    content_index=0,
                    delta=encode_audio(pcm),
                )
            )
            sent = end
        for word in words:
            self._transcript_delta(item, word.text)

    def _transcript_delta(self, item: Item, text: str) -> None:
        self._transcript += text
        item.data["content"][0]["transcript"] = self._transcript
        self._ctx.emit(
            event(
                "response.output_audio_transcript.delta",
                **self._where(item),
                content_index=0,
                delta=text,
            )
        )

    def _stream_text(self, text: str) -> None:
        item = self._open_message
        assert item is not None
        self._transcript = text
        item.data["content"][0]["text"] = text
        self._ctx.emit(
            event("response.output_text.delta", **self._where(item), content_index=0, delta=text)
        )

    def _close_message(self, status: str) -> None:
        item = self._open_message
        assert item is not None
        self._open_message = None
        where = {**self._where(item), "content_index": 0}
        emit = self._ctx.emit
        if self.plan.audio:
            emit(event("response.output_audio.done", **where))
            emit(
                event("response.output_audio_transcript.done", **where, transcript=self._transcript)
            )
            part = {"type": "audio", "transcript": self._transcript}
        else:
            emit(event("response.output_text.done", **where, text=self._transcript))
            part = {"type": "text", "text": self._transcript}
        emit(event("response.content_part.done", **where, part=part))
        self._done_item(item, status)

    def _function_call(self, call: ToolCall) -> None:
        item = self._add_item(
            {
                "id": new_id("item"),
                "type": "function_call",
                "call_id": self.plan.call_id,
                "name": call.name,
                "arguments": "",
            },
            None,
        )
        args = call.arguments_json
        where = {**self._where(item), "call_id": item.data["call_id"]}
        self._ctx.emit(event("response.function_call_arguments.delta", **where, delta=args))
        item.data["arguments"] = args
        self._ctx.emit(
            event("response.function_call_arguments.done", **where, name=call.name, arguments=args)
        )
        self._done_item(item, "completed")

    def _finish(self, status: str, details: dict[str, Any] | None) -> None:
        self.finished = True
        self._ctx.emit(event("response.done", response=self._resource(status, details)))
        self._on_finished(self)
