"""REPORT.md prose for the live sections: how each figure was measured and how to read it.

Kept beside the code that measures (as :mod:`lab.notes` is for the codec table), and the
sentences that quote results are built from the run's own numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

from lab.latency import PathSummary
from lab.live_plan import GREETING, REPLY, LivePlan

LATENCY_METHOD = """\
**Response latency** is caller speech end → first agent audio at the caller, measured by the
simulated caller on its own clock (the end of its last speech frame to the first agent media
message). **The waterfall** splits it at timestamps taken where each event happens, all
epoch seconds on this one machine: caller speech end (caller) → turn detected (the agent
session's user state leaving *speaking*: the model's server VAD `speech_stopped`) → model first
audio (first reply audio reaching the pacer) → pacer first frame → first audio at the caller
(the caller's echo of the first frame's Twilio mark, i.e. when its playout started it). The
agent's and the caller's lines are merged per (call, turn) as `trunkline report` does; a stage
is left out of a turn where a bound is missing (the greeting has no caller speech end; with the
pacer off nothing stamps the pacer stages). Stage figures are medians over the turns that have
both bounds, so the stacked medians do not add up to the median latency. p90 is numpy's
linear interpolation between order statistics — with a handful of turns read it as a range,
not a tail estimate.
"""

HEARD_METHOD = f"""\
Every reply the caller heard is cut from its recording (8 kHz, after μ-law, exactly what its
playout played) from its first to its last sound, and judged against the **clean reply** — the
simulator's own espeak-ng audio of the scripted line, which is what the model sent — passed
through the path's codecs alone (soxr HQ to 8 kHz, μ-law). The model says
"{GREETING}" first and "{REPLY}" after every caller turn.

- **gaps**: runs of digital silence ≥ 10 ms with audio on both sides that the clean reply did
  not have at that point (located by normalised cross-correlation) — whoever inserted them: a
  pacer underrun (silence frames) or the caller's playout running dry.
- **playout underruns**: times the caller's Twilio-like buffer ran dry mid-reply and audio then
  resumed (the pacer's own silence is audio to Twilio and does not count here).
- **clicks/min**: third-order-difference events per minute of heard reply, with the ratio to
  the clean reply's own rate through the same codecs (speech has sharp events of its own;
  ×1.00 means nothing added).
- **BW99**: 99 % bandwidth of all heard replies, Welch (activity-gated, interpolated) and, labelled,
  the bin-quantized FFT-bin method; see the codec section for why the two differ.
- **barge-in**: the caller starts talking after hearing 1 s of the interrupted reply; **clear**
  is until the sidecar's `clear` arrived, **cut-off** until the last agent audio it heard.
"""

SPECTROGRAM_NOTE = """\
Spectrograms (32 ms Hann, 50 % overlap, shared 0–12 kHz axis; a dotted line marks each signal's
Nyquist): the clean reply as sent at 24 kHz, and as heard on each path — the first reply of the
first call that the caller did not talk over (white is digital silence, e.g. a gap).
"""


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{1000 * seconds:,.0f} ms"


def where_the_time_goes(name: str, summary: PathSummary) -> str:
    """One sentence per path: the median latency and each stage, naming the largest."""
    stages = {k: v for k, v in summary.stage_medians_s.items() if v is not None}
    if not stages:
        return f"- **{name}**: median latency {_ms(summary.latency_median_s)}; no stage known."
    largest = max(stages, key=lambda k: stages[k])
    parts = ", ".join(f"{k.replace('_', ' ')} {_ms(v)}" for k, v in stages.items())
    share = ""
    if summary.latency_median_s:
        share = f" ({100 * stages[largest] / summary.latency_median_s:.0f} % of the median latency)"
    return (
        f"- **{name}**: median latency {_ms(summary.latency_median_s)} over "
        f"{summary.latency_turns} turns; stage medians: {parts}. The largest is "
        f"**{largest.replace('_', ' ')}**{share}."
    )


def plan_sentence(plan: LivePlan, what: str) -> str:
    barge = "".join(
        f" The caller talks over the reply of turn {t} after {plan.barge_after_ms} ms of it "
        "(barge-in)."
        for t in plan.barge_in_turns
    )
    clips = ", ".join(f"`{p.name}`" for p in plan.speech)
    return (
        f"{what}: {plan.calls} call(s) × {plan.turns} caller turn(s), placed one after another. "
        f"The caller speaks {clips} in turn; the model is the local Realtime simulator (think "
        f"time `{plan.think}`, `{plan.chunking}` chunking, seed {plan.seed}) — so the model "
        "stage here is the simulator's configured think time, not OpenAI's (0.5–4 s in "
        f"production).{barge}"
    )


def bullet_list(lines: Sequence[str]) -> str:
    return "\n".join(f"- {line}" for line in lines) + "\n" if lines else ""


TWILIO_AB_METHOD = """\
Two sidecars run side by side, identical but for `trunkline serve --pacer on|off`, each on a
fresh simulator with the same seed, so the n-th call on each gets the same think times and the
same bursts (50–500 ms chunks, each produced at its own uneven speed, some slower than real
time); the callers are identical too. **paced**: the pacer's defaults on this path (20 ms
frames on a drift-free clock, 60 ms lead into Twilio's buffer, adaptive playout: 0.9× while less
than the learned stall is queued, a reply starting once 0.75 of it is, the greeting after 60 ms).
**unpaced**: every model chunk is forwarded as it arrives, as OpenAI's and Twilio's demos do,
and Twilio's buffer (the caller's playout) absorbs the bursts. Latency, gaps, clicks and
barge-in are measured at the caller as in the live section; **after detection** is the
response latency less the turn detection (turn detected → first audio at the caller), median
per arm; **playout ran dry** counts the caller's playout underruns; **pacer late gaps** are
the pacer's own count of them (frames it sent after the caller's buffer would have run dry)
and their total, from the turn log; **pacer underruns** are the pacer's own count of starved
stretches (silence it sent) and their total; **buffer max** is the most audio the caller's
playout held when a media message arrived — how far ahead of real time the sender ran.
"""

FRAME_TIMING_NOTE = """\
Frame timing: each 20 ms of one reply (the same turn of the first call in both arms), placed
at the arrival time of the media message that carried its first sample, against an ideal grid
that starts at the first frame and advances 20 ms per frame. Paced frames sit on the grid (up
to the 60 ms lead ahead of it); unpaced, whole model chunks arrive at once, far ahead of the
grid, and the intervals collapse to zero inside a burst.
"""

SOURCE_AB_METHOD = """\
LiveKit's media path without a server: `rtc.AudioSource` → `LocalAudioTrack` →
`AudioStream.from_track`, in this process. The source runs its own 10 ms clock and plays zeros
whenever it holds less than 10 ms. Both arms run at the same time in one event loop and get the
same seeded bursty schedules (the simulator's own chunk planner) over the clean reply, with its
exact zeros raised to one LSB so that every zero in the received reply is inserted silence —
counted exactly — and everything else must come out bit-exact. **unpaced**: each chunk captured
as it arrives in ≤ 50 ms frames (RoomIO's frame) into a 200 ms-queue source (LiveKit Agents'
setting). **paced**: `PacedStream` (20 ms frames, lead 100 ms as above RoomIO, adaptive hold) →
`AudioSourceSink` → the same kind of source. Turns follow one another on one stream per arm,
so the hold learns across them. **inserted silence** counts the runs of zeros inside the
received replies (their total in brackets); **first audio** is from the first chunk pushed to
the first sound out of the track; **missing samples** are sent samples that never came out
(the source keeps a final piece shorter than 10 ms), negative when an earlier turn's leftover
came out instead.
"""
