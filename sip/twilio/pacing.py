"""How the agent's audio is paced onto a Twilio media stream, in local and bridge mode alike.

Both modes meter the model's bursts into Twilio's buffer with the same settings; they live here,
below both, so the bridge does not import local mode (and with it the agent session and the
model) to read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from livekit.plugins import pacer


@dataclass(frozen=True)
class Pacing:
    """Pacer settings for the Twilio path; ``enabled=False`` forwards model audio unpaced
    (as OpenAI's and Twilio's demos do) — kept for A/B measurement, not for production."""

    enabled: bool = True
    frame_ms: int = 20
    prebuffer_ms: float = 60
    lead_ms: int = 60
    """Twilio buffers what it gets: a few frames of lead absorb event-loop jitter, and Twilio
    empties its buffer on ``clear``, so barge-in costs nothing for it. 60 ms gave no heard gap
    with 20 calls on one core; 200 ms was no better at 40 (bench/BENCHMARKS.md)."""
    adaptive_hold: bool = True
    stretch: pacer.Stretch | None = field(default_factory=pacer.Stretch)
    """Adaptive playout (local mode): start early and absorb stalls in tempo, not delay; None
    holds each reply until the learned stall is covered (see bench/BENCHMARKS.md)."""
