"""One Realtime connection's state machine: configuration, input audio, conversation, responses.

Every client event is handled synchronously and answered through ``emit`` (which never blocks),
so the order of server events follows the order of client events exactly as on the real
service. Only a response streams over time, as its own task. A rejected event produces one
``error`` event carrying the client's ``event_id`` and leaves the session as it was.

The simulator has no speech recognition: when transcription is enabled the user's transcript
says so ("[caller speech, 1.8 s]") instead of inventing words.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from openai.types.realtime import (
    ConversationItemCreateEvent,
    ConversationItemDeleteEvent,
    ConversationItemRetrieveEvent,
    ConversationItemTruncateEvent,
    InputAudioBufferAppendEvent,
    InputAudioBufferClearEvent,
    InputAudioBufferCommitEvent,
    OutputAudioBufferClearEvent,
    RealtimeResponseCreateParams,
    ResponseCancelEvent,
    ResponseCreateEvent,
    SessionUpdateEvent,
)
from pydantic import BaseModel

from . import config, tts
from .conversation import Conversation, Item
from .input_buffer import BYTES_PER_MS, InputBuffer
from .options import SimOptions
from .protocol import (
    Event,
    InvalidRequest,
    decode_audio,
    error_event,
    event,
    new_id,
    parse_client_event,
    server_error_event,
)
from .recorder import record_turn
from .response import ReplyPlan, Response, ResponseContext
from .script import ToolCall
from .timing import Clock
from .turns import SpeechStarted, TurnDetector
from .vad import SpeechScorer

logger = logging.getLogger(__name__)

#: the service refuses to commit less audio than this
MIN_COMMIT_MS = 100
#: between turns, keep this much audio beyond the prefix padding
_KEEP_MARGIN_MS = 1000
#: the most uncommitted audio one session may hold (manual turn taking); more is refused
MAX_BUFFER_MS = 10 * 60 * 1000


async def _speak(text: str) -> tts.Speech:
    return await asyncio.to_thread(tts.synthesize, text)


class SimSession:
    def __init__(
        self,
        options: SimOptions,
        *,
        ordinal: int,
        model: str,
        emit: Callable[[Event], None],
        clock: Clock,
    ) -> None:
        self.options = options
        self.ordinal = ordinal
        self._emit = emit
        # connections that share a draw (``sessions_per_draw``) replay one seeded stream
        self._rng = np.random.default_rng([options.seed, ordinal // options.sessions_per_draw])
        self.config = config.default_session(model)
        self.settings = config.settings(self.config, None)
        self.conversation = Conversation()
        self._input = InputBuffer()
        self._scorer = SpeechScorer(tts.SAMPLE_RATE)
        self._turns = self._detector()
        self._speech: tuple[str, int] | None = None  # item id and audio_start_ms of a turn
        self.response: Response | None = None
        self._replies = 0
        self._after_call: dict[str, str] = {}
        self._response_ctx = ResponseContext(
            emit=emit,
            conversation=self.conversation,
            clock=clock,
            speak=_speak,
            conversation_id=new_id("conv"),
        )
        self.stats = {"turns": 0, "responses": 0, "cancelled": 0, "errors": 0}

    def start(self) -> None:
        self._emit(event("session.created", session=self.config))

    def close(self) -> None:
        """The connection is gone: stop any response without telling anyone."""
        if self.response is not None:
            self.response.cancel("client_cancelled")

    def handle(self, text: str) -> None:
        """Handle one client message; a bad one yields an ``error`` event, nothing else."""
        try:
            self._dispatch(parse_client_event(text))
        except InvalidRequest as e:
            self.reject(e)
        except Exception:
            # a simulator bug: report it like the service's server_error, keep the session
            logger.exception("failed to handle a client event")
            self.stats["errors"] += 1
            self._emit(
                server_error_event("The simulator failed to handle this event; see its log.")
            )

    def reject(self, err: InvalidRequest) -> None:
        self.stats["errors"] += 1
        logger.debug("rejected client event: %s", err.message)
        self._emit(error_event(err))

    def _dispatch(self, ev: BaseModel) -> None:
        match ev:
            case SessionUpdateEvent():
                self._session_update(ev)
            case InputAudioBufferAppendEvent():
                self._append(ev)
            case InputAudioBufferCommitEvent():
                self._commit_event(ev)
            case InputAudioBufferClearEvent():
                self._clear(ev)
            case OutputAudioBufferClearEvent():
                self._output_clear(ev)
            case ConversationItemCreateEvent():
                self._item_create(ev)
            case ConversationItemDeleteEvent():
                self._item_delete(ev)
            case ConversationItemTruncateEvent():
                self._item_truncate(ev)
            case ConversationItemRetrieveEvent():
                self._item_retrieve(ev)
            case ResponseCreateEvent():
                self._response_create(ev)
            case ResponseCancelEvent():
                self._response_cancel(ev)

    # -- session ---------------------------------------------------------------------------

    def _session_update(self, ev: SessionUpdateEvent) -> None:
        update = ev.session.model_dump(mode="json", exclude_unset=True)
        if update.get("type") != "realtime":
            raise InvalidRequest(
                "The local simulator supports only realtime sessions, not transcription ones.",
                code="invalid_value",
                param="session.type",
                event_id=ev.event_id,
            )
        merged = config.merge(self.config, update)
        new = config.settings(merged, ev.event_id)
        self.config, old, self.settings = merged, self.settings, new
        if new.vad != old.vad:
            self._turns = self._detector()
            self._speech = None
        self._emit(event("session.updated", session=self.config))

    def _detector(self) -> TurnDetector | None:
        vad = self.settings.vad
        return None if vad is None else TurnDetector(vad, self._scorer.window_s)

    # -- input audio ------------------------------------------------------------------------

    def _append(self, ev: InputAudioBufferAppendEvent) -> None:
        pcm = decode_audio(ev.audio, ev.event_id)
        if self._input.held_ms + len(pcm) / BYTES_PER_MS > MAX_BUFFER_MS:
            raise InvalidRequest(
                f"The input audio buffer is full ({MAX_BUFFER_MS // 60000} minutes of audio); "
                "commit or clear it before appending more.",
                code="input_audio_buffer_full",
                param="audio",
                event_id=ev.event_id,
            )
        self._input.append(pcm)
        if self._turns is None:
            return
        windows = self._scorer.push(np.frombuffer(pcm, dtype=np.int16))
        for turn in self._turns.feed(windows):
            if isinstance(turn, SpeechStarted):
                self._speech_started(turn)
            else:
                self._speech_stopped(turn.audio_end_ms)
        vad = self._turns.config
        if not self._turns.speaking:
            self._input.keep_last(vad.prefix_padding_ms + _KEEP_MARGIN_MS)

    def _speech_started(self, turn: SpeechStarted) -> None:
        item_id = new_id("item")
        self._speech = (item_id, turn.audio_start_ms)
        self._emit(
            event(
                "input_audio_buffer.speech_started",
                audio_start_ms=turn.audio_start_ms,
                item_id=item_id,
            )
        )
        assert self._turns is not None
        if self.response is not None and self._turns.config.interrupt_response:
            self.response.cancel("turn_detected")

    def _speech_stopped(self, audio_end_ms: int) -> None:
        assert self._speech is not None and self._turns is not None
        item_id, audio_start_ms = self._speech
        self._speech = None
        self._emit(
            event("input_audio_buffer.speech_stopped", audio_end_ms=audio_end_ms, item_id=item_id)
        )
        self._commit(item_id, self._input.take(audio_start_ms, audio_end_ms))
        if self._turns.config.create_response and self.response is None:
            self._respond(None, None)

    def _commit_event(self, ev: InputAudioBufferCommitEvent) -> None:
        if self._input.held_ms < MIN_COMMIT_MS:
            raise InvalidRequest(
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_MS}ms of audio, but buffer only has {self._input.held_ms:.2f}ms "
                "of audio.",
                code="input_audio_buffer_commit_empty",
                event_id=ev.event_id,
            )
        item_id = self._speech[0] if self._speech else new_id("item")
        self._speech = None
        if self._turns is not None:
            self._turns.reset()
        self._commit(item_id, self._input.take_all())

    def _clear(self, ev: InputAudioBufferClearEvent) -> None:
        self._input.take_all()
        self._speech = None
        if self._turns is not None:
            self._turns.reset()
        self._emit(event("input_audio_buffer.cleared"))

    def _commit(self, item_id: str, pcm: bytes) -> None:
        self.stats["turns"] += 1
        if self.options.record_dir is not None:
            record_turn(self.options.record_dir, self.ordinal, self.stats["turns"], pcm)
        part: dict[str, Any] = {"type": "input_audio", "transcript": None}
        item = Item(
            data={
                "id": item_id,
                "object": "realtime.item",
                "type": "message",
                "role": "user",
                "status": "completed",
                "content": [part],
            },
            audio=bytearray(pcm),
        )
        previous = self.conversation.insert(item, None)
        self._emit(
            event("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
        )
        self._emit(event("conversation.item.added", previous_item_id=previous, item=item.data))
        self._emit(event("conversation.item.done", previous_item_id=previous, item=item.data))
        if self.settings.transcribe:
            seconds = round(item.audio_ms / 1000, 1)
            transcript = f"[caller speech, {seconds:.1f} s]"
            part["transcript"] = transcript
            where = {"item_id": item_id, "content_index": 0}
            self._emit(
                event(
                    "conversation.item.input_audio_transcription.delta", **where, delta=transcript
                )
            )
            self._emit(
                event(
                    "conversation.item.input_audio_transcription.completed",
                    **where,
                    transcript=transcript,
                    usage={"type": "duration", "seconds": seconds},
                )
            )

    def _output_clear(self, ev: OutputAudioBufferClearEvent) -> None:
        raise InvalidRequest(
            "output_audio_buffer.clear is only supported for WebRTC and SIP connections; over "
            "a WebSocket the client owns playback and truncates with conversation.item.truncate.",
            code="invalid_value",
            param="type",
            event_id=ev.event_id,
        )

    # -- conversation -----------------------------------------------------------------------

    def _item_create(self, ev: ConversationItemCreateEvent) -> None:
        data = ev.item.model_dump(mode="json", exclude_none=True)
        data.setdefault("id", new_id("item"))
        data.update(object="realtime.item", status="completed")
        audio = None
        for part in data.get("content", []):
            if part.get("type") == "input_audio" and "audio" in part:
                audio = bytearray(decode_audio(part.pop("audio"), ev.event_id))
        item = Item(data=data, audio=audio)
        previous = self.conversation.insert(item, ev.previous_item_id, ev.event_id)
        self._emit(event("conversation.item.added", previous_item_id=previous, item=item.data))
        self._emit(event("conversation.item.done", previous_item_id=previous, item=item.data))

    def _item_delete(self, ev: ConversationItemDeleteEvent) -> None:
        self.conversation.delete(ev.item_id, ev.event_id)
        self._emit(event("conversation.item.deleted", item_id=ev.item_id))

    def _item_truncate(self, ev: ConversationItemTruncateEvent) -> None:
        self.conversation.truncate(ev.item_id, ev.content_index, ev.audio_end_ms, ev.event_id)
        self._emit(
            event(
                "conversation.item.truncated",
                item_id=ev.item_id,
                content_index=ev.content_index,
                audio_end_ms=ev.audio_end_ms,
            )
        )

    def _item_retrieve(self, ev: ConversationItemRetrieveEvent) -> None:
        item = self.conversation.require(ev.item_id, ev.event_id, "item_retrieve_invalid_item_id")
        self._emit(event("conversation.item.retrieved", item=item.with_audio()))

    # -- responses --------------------------------------------------------------------------

    def _response_create(self, ev: ResponseCreateEvent) -> None:
        if self.response is not None:
            raise InvalidRequest(
                "Conversation already has an active response in progress: "
                f"{self.response.id}. Wait until the response is finished before creating "
                "a new one.",
                code="conversation_already_has_active_response",
                event_id=ev.event_id,
            )
        self._respond(ev.response, ev.event_id)

    def _response_cancel(self, ev: ResponseCancelEvent) -> None:
        active = self.response
        if active is None or (ev.response_id and ev.response_id != active.id):
            raise InvalidRequest(
                "Cancellation failed: no active response found",
                code="response_cancel_not_active",
                event_id=ev.event_id,
            )
        active.cancel("client_cancelled")

    def _respond(self, params: RealtimeResponseCreateParams | None, event_id: str | None) -> None:
        plan = self._plan(params, event_id)
        think_s = self.options.think.sample_ms(self._rng) / 1000
        self.response = Response(
            self._response_ctx,
            plan,
            metadata=params.metadata if params else None,
            voice=self.settings.voice,
            think_s=think_s,
            chunking=self.options.chunking,
            rng=self._rng,
            on_finished=self._response_finished,
        )
        self.stats["responses"] += 1
        self.response.start()

    def _response_finished(self, response: Response) -> None:
        if response is self.response:
            self.response = None
        if response.cancelled:
            self.stats["cancelled"] += 1

    def _plan(self, params: RealtimeResponseCreateParams | None, event_id: str | None) -> ReplyPlan:
        modalities = params.output_modalities if params and params.output_modalities else None
        audio = "audio" in modalities if modalities else self.settings.audio_out
        last = self.conversation.last
        if last is not None and last.type == "function_call_output":
            # the tool's result is in: say the line that follows the call
            return ReplyPlan(self._after_call.pop(str(last.data.get("call_id")), ""), None, audio)
        turn = self.options.script.reply(self._replies)
        self._replies += 1
        call = turn.call if turn.call and self._may_call(turn.call, params) else None
        plan = ReplyPlan(turn.say, call, audio)
        if call is not None:
            self._after_call[plan.call_id] = turn.after_call
        return plan

    def _may_call(self, call: ToolCall, params: RealtimeResponseCreateParams | None) -> bool:
        """A model can only call a tool the client declared, and not when told not to."""
        tools = self.settings.tools
        choice = self.settings.tool_choice
        if params is not None and params.tools is not None:
            tools = config.function_names([t.model_dump() for t in params.tools])
        if params is not None and params.tool_choice is not None:
            tc = params.tool_choice
            choice = tc if isinstance(tc, str) else getattr(tc, "name", "auto")
        if choice == "none" or call.name not in tools:
            logger.debug("script calls %s, which the client did not offer", call.name)
            return False
        return choice in ("auto", "required") or choice == call.name
