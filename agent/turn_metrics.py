"""Per-turn metrics of one call, as the agent's side sees them, labelled with the caller path.

Each turn gets the waterfall stamps this process can honestly take: when the model's turn
detection declared the caller done, when the first reply audio reached the pacer, when the
pacer released its first frame, and — where the sink reports real playback at the caller
(Twilio's echoed marks) — when the caller started hearing it. The caller's own speech end is
only known on the caller's side; the report merges the two by ``(call_id, turn)``.
Turn 0 is the greeting; turn *n* is the reply to the caller's *n*-th utterance.

The same figures go to Prometheus (``trunkline.metrics``) as each turn closes: the response
latency as this process measures it the same way on every path (the model's end-of-turn
decision to the reply's first paced frame), each stage it knows, every segment's pacer
underruns and inserted silence, and the errors the model reports.
"""

from __future__ import annotations

import logging
from typing import Any

from livekit.agents import AgentSession, llm
from livekit.agents.voice.events import ErrorEvent, UserStateChangedEvent
from livekit.agents.voice.io import AudioOutput, PlaybackStartedEvent
from livekit.plugins.pacer import SegmentStats

from agent.call_actions import CallerPath
from trunkline import metrics
from trunkline.turnlog import JsonValue, TurnLogWriter, TurnRecord, epoch_from_monotonic

logger = logging.getLogger(__name__)


def pacer_summary(seg: SegmentStats) -> dict[str, JsonValue]:
    """The pacer figures a turn line carries (``underruns`` and ``late_gaps`` are the report's
    keys: silence inserted because the model was late, and gaps heard because this process
    sent late)."""
    latency = seg.first_frame_latency
    return {
        "underruns": seg.underruns,
        "underrun_ms": round(seg.underrun_ms, 1),
        "late_gaps": seg.late_gaps,
        "late_gap_ms": round(seg.late_gap_ms, 1),
        "stretched_share": round(seg.stretched_share, 3),
        "stretch_ms": round(seg.stretch_ms, 1),
        "frames": seg.frames_out,
        "hold_ms": round(seg.hold * 1000, 1),
        "first_frame_latency_ms": None if latency is None else round(latency * 1000, 1),
        "late_ticks": seg.late_ticks,
        "max_lateness_ms": round(seg.max_lateness * 1000, 1),
        "queue_high_water_ms": round(seg.queue_high_water_ms, 1),
        "interrupted": seg.interrupted,
    }


class TurnMetrics:
    """Collects one call's turns and writes each when the next begins (or the call ends)."""

    def __init__(
        self,
        call_id: str,
        path: CallerPath,
        *,
        writer: TurnLogWriter | None,
        playback_is_at_caller: bool,
    ) -> None:
        self.call_id = call_id
        self.path = path
        self.writer = writer
        self.playback_is_at_caller = playback_is_at_caller
        self.records: list[TurnRecord] = []
        self._turn = 0
        self._fields: dict[str, Any] = {}

    def attach(self, session: AgentSession[Any], output: AudioOutput) -> None:
        """Listen to the session's turn detection and the output chain's playback."""
        session.on("user_state_changed", self._on_user_state)
        session.on("error", self._on_error)
        output.on("playback_started", self._on_playback_started)

    def _on_error(self, ev: ErrorEvent) -> None:
        if isinstance(ev.source, llm.RealtimeModel | llm.LLM):
            recoverable = bool(getattr(ev.error, "recoverable", False))
            metrics.MODEL_ERRORS.labels(self.path, str(recoverable).lower()).inc()

    def _on_user_state(self, ev: UserStateChangedEvent) -> None:
        if ev.old_state == "speaking" and ev.new_state == "listening":
            self._close_turn()
            self._turn += 1
            self._fields = {"turn_detected": ev.created_at}

    def on_segment(self, seg: SegmentStats) -> None:
        """Pacer callback: the first segment after a turn's detection is its reply."""
        metrics.PACER_UNDERRUNS.labels(self.path, "agent").inc(seg.underruns)
        metrics.PACER_SILENCE.labels(self.path, "agent").inc(seg.underrun_ms / 1000)
        metrics.PACER_LATE_GAPS.labels(self.path, "agent").inc(seg.late_gaps)
        metrics.PACER_LATE_GAP_SECONDS.labels(self.path, "agent").inc(seg.late_gap_ms / 1000)
        if "pacer" in self._fields or seg.first_frame_at is None:
            return
        self._fields["model_first_audio"] = epoch_from_monotonic(seg.first_audio_at)
        self._fields["pacer_first_frame"] = epoch_from_monotonic(seg.first_frame_at)
        self._fields["pacer"] = pacer_summary(seg)

    def on_unpaced_audio(self, at: float) -> None:
        """With no pacer (``TRUNKLINE_PACER=off``): a reply's first audio left for the track at
        ``at`` (epoch seconds), so the model stage ends and the pacing stage is zero."""
        if "model_first_audio" in self._fields:
            return
        self._fields["model_first_audio"] = at
        self._fields["pacer_first_frame"] = at

    def _on_playback_started(self, ev: PlaybackStartedEvent) -> None:
        logger.debug("call %s: playback started at %.3f", self.call_id, ev.created_at)
        if self.playback_is_at_caller and "caller_first_audio" not in self._fields:
            self._fields["caller_first_audio"] = ev.created_at

    def _close_turn(self) -> None:
        if not self._fields:
            return
        fields = self._fields
        first_frame = fields.get("pacer_first_frame")
        heard = fields.get("caller_first_audio")
        if heard is not None and (first_frame is None or heard < first_frame):
            fields.pop("caller_first_audio")  # playback of an earlier reply, not this turn's
        record = TurnRecord(
            call_id=self.call_id, path=self.path, turn=self._turn, source="agent", **fields
        )
        self.records.append(record)
        if self.writer is not None:
            self.writer.write(record)
        stages = record.stage_durations()
        self._observe(record, stages)
        logger.info(
            "call %s turn %d [%s]: model %s, pacing %s, transport %s, underruns %s, late gaps %s",
            self.call_id,
            self._turn,
            self.path,
            _ms(stages["model"]),
            _ms(stages["pacing"]),
            _ms(stages["transport"]),
            record.underruns(),
            record.late_gaps(),
        )

    def _observe(self, record: TurnRecord, stages: dict[str, float | None]) -> None:
        detected, first_frame = record.turn_detected, record.pacer_first_frame
        if detected is not None and first_frame is not None and first_frame >= detected:
            metrics.RESPONSE_LATENCY.labels(self.path).observe(first_frame - detected)
        for stage, seconds in stages.items():
            if seconds is not None and seconds >= 0:
                metrics.TURN_STAGE.labels(self.path, stage).observe(seconds)

    def close(self) -> None:
        self._close_turn()
        self._fields = {}


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.0f} ms"
