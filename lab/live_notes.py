"""REPORT.md prose shared by the live sections: the plan of calls, lists, and the method of
the rtc.AudioSource A/B (kept beside the code that measures, as :mod:`lab.notes` is for the
codec table)."""

from __future__ import annotations

from collections.abc import Sequence

from lab.live_plan import LivePlan


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
