"""Session configuration: the service's defaults, ``session.update`` merging, and what it means.

``session.update`` changes only the fields it names (``null`` clears one, e.g. turn detection);
the full effective configuration goes back in ``session.updated``. The simulator keeps that
configuration as the JSON the service would report and derives the few settings it acts on.
It speaks PCM16 at 24 kHz only; asking for G.711 formats gets a clear error rather than audio
the client would misread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, TypeVar

from openai.types.realtime import RealtimeSessionCreateRequest
from openai.types.realtime.realtime_audio_formats import AudioPCM
from openai.types.realtime.realtime_audio_input_turn_detection import ServerVad

from .protocol import InvalidRequest, new_id
from .turns import VadConfig

T = TypeVar("T")

_PCM = {"type": "audio/pcm", "rate": 24000}
#: merged key by key; every other field is replaced whole, as the service does
_MERGED = {"audio", "input", "output"}


def default_session(model: str) -> dict[str, Any]:
    """The session a new connection starts with (``session.created``)."""
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": new_id("sess"),
        "model": model,
        "output_modalities": ["audio"],
        "instructions": "",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "expires_at": int(time.time()) + 3600,
        "audio": {
            "input": {
                "format": dict(_PCM),
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 500,
                    "idle_timeout_ms": None,
                    "create_response": True,
                    "interrupt_response": True,
                },
            },
            "output": {"format": dict(_PCM), "voice": "marin", "speed": 1.0},
        },
    }


def merge(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(current)
    for key, value in update.items():
        if key in _MERGED and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class Settings:
    """What the simulator does with a session configuration."""

    vad: VadConfig | None
    transcribe: bool
    audio_out: bool
    voice: str
    tools: frozenset[str]
    tool_choice: str


def settings(session: dict[str, Any], event_id: str | None) -> Settings:
    """Read a merged configuration; raises ``InvalidRequest`` for what the simulator lacks."""
    req = RealtimeSessionCreateRequest.model_validate(session)
    audio_in = req.audio.input if req.audio and req.audio.input else None
    audio_out = req.audio.output if req.audio and req.audio.output else None
    formats = {
        "input": audio_in.format if audio_in else None,
        "output": audio_out.format if audio_out else None,
    }
    for where, fmt in formats.items():
        if fmt is not None and not isinstance(fmt, AudioPCM):
            raise InvalidRequest(
                f"The local simulator speaks only audio/pcm at 24000 Hz, not {fmt.type}.",
                code="invalid_value",
                param=f"session.audio.{where}.format",
                event_id=event_id,
            )
    detection = audio_in.turn_detection if audio_in else None
    vad = None
    if isinstance(detection, ServerVad):
        vad = VadConfig(
            threshold=_or(detection.threshold, 0.5),
            prefix_padding_ms=_or(detection.prefix_padding_ms, 300),
            silence_duration_ms=_or(detection.silence_duration_ms, 500),
            create_response=_or(detection.create_response, True),
            interrupt_response=_or(detection.interrupt_response, True),
        )
    elif detection is not None:  # semantic_vad: the server_vad rules with the defaults
        vad = VadConfig(
            create_response=_or(detection.create_response, True),
            interrupt_response=_or(detection.interrupt_response, True),
        )
    tool_choice = req.tool_choice
    choice = tool_choice if isinstance(tool_choice, str) else getattr(tool_choice, "name", "auto")
    return Settings(
        vad=vad,
        transcribe=bool(audio_in and audio_in.transcription is not None),
        audio_out="audio" in (req.output_modalities or ["audio"]),
        voice=str(audio_out.voice) if audio_out and audio_out.voice else "marin",
        tools=function_names(session.get("tools")),
        tool_choice=choice,
    )


def function_names(tools: Any) -> frozenset[str]:
    return frozenset(
        str(t["name"])
        for t in tools or []
        if isinstance(t, dict) and t.get("type", "function") == "function" and t.get("name")
    )


def _or(value: T | None, default: T) -> T:
    return default if value is None else value
