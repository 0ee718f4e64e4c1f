"""The AgentSession every path runs: turn-taking belongs to the realtime model.

The model's server VAD decides when the caller is done and when they barge in, so the session
needs no local VAD or turn detector. The outputs below the session (Twilio, RoomIO) cannot
pause playback, so a "false interruption" cannot be resumed and is not attempted.
"""

from __future__ import annotations

from livekit.agents import AgentSession
from livekit.agents.llm import RealtimeModel


def new_session(model: RealtimeModel) -> AgentSession[None]:
    return AgentSession(
        llm=model,
        vad=None,
        turn_handling={
            "turn_detection": "realtime_llm",
            "interruption": {"resume_false_interruption": False},
        },
    )
