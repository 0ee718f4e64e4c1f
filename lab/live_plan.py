"""What every live call of a lab run says and hears, fixed so paths and pacer arms compare.

The simulated model answers every caller turn with the same scripted line. The clean reply —
the reference each heard reply is judged against (gaps, clicks) — is then known exactly: the
simulator's own espeak-ng synthesis of that line, which is the audio it streams as deltas.
Only the cutting into bursts and the think time are random, drawn from a seed: the n-th call
to a freshly started simulator gets the same draws whichever path or pacer setting serves it,
so two arms of an A/B hear the same model behaviour.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from agent.sim.options import DEFAULT_THINK
from agent.sim.tts import synthesize
from lab.caller.audio import read_wav, trim_to_speech
from lab.caller.call import CallerOptions
from lab.caller.cli import default_speech
from lab.caller.runner import load_speech
from lab.conversation import CallerScript
from lab.pcm import Int16Array
from trunkline.resample import resample

GREETING: Final = "Hello, this is the trunkline lab."
#: About 4.8 s of speech: long enough for bursts and stalls to matter, short enough for a
#: few minutes' run.
REPLY: Final = "Thanks, I have that. Your order ships tomorrow morning, with tracking by text."
#: About 1.2 s: for calls measured for latency only (the sweep), where a reply's length only
#: costs time.
SHORT_REPLY: Final = "Thanks, I have that."


@dataclass(frozen=True)
class LivePlan:
    calls: int = 3
    turns: int = 3
    #: The caller talks over the reply of its next-to-last turn (with two turns or more).
    barge_in: bool = True
    barge_after_ms: int = 1000
    seed: int = 0
    #: The simulator's think time spec and chunking (``trunkline serve --sim-…``).
    think: str = DEFAULT_THINK
    chunking: str = "bursty"
    #: After the last reply the caller waits this long, then hangs up.
    linger_s: float = 1.0
    #: What the model says after every caller turn (the heard-audio figures assume REPLY).
    reply: str = REPLY
    speech: tuple[Path, ...] = field(default_factory=lambda: tuple(default_speech()))

    def __post_init__(self) -> None:
        if self.calls < 1 or self.turns < 1:
            raise ValueError("a live run needs at least one call of at least one turn")

    @property
    def barge_in_turns(self) -> frozenset[int]:
        """The interrupted turn: the next-to-last, so the last reply still plays out."""
        return frozenset({self.turns - 1}) if self.barge_in and self.turns > 1 else frozenset()

    @property
    def first_complete_turn(self) -> int:
        """The first caller turn whose reply is not talked over (0, the greeting, if none)."""
        return next((t for t in range(1, self.turns + 1) if t not in self.barge_in_turns), 0)

    def caller_script(self, rate: int) -> CallerScript:
        """The same caller for a path without Twilio's protocol: the clips trimmed to their
        speech exactly as the Twilio caller's, at the rate the caller's line sends."""
        return CallerScript(
            clips=[resample(pcm, source, rate) for pcm, source in _trimmed(self.speech)],
            clip_rate=rate,
            turns=self.turns,
            barge_in_turns=self.barge_in_turns,
            barge_after_ms=self.barge_after_ms,
            linger_s=self.linger_s,
        )

    def script_json(self) -> str:
        """The simulator script (``--sim-script``): a short greeting, then the reply every turn."""
        return json.dumps({"greeting": GREETING, "turns": [], "fallback": self.reply}, indent=2)

    def sim_args(self, script: Path) -> list[str]:
        """``trunkline sim``'s flags for the plan's model behaviour."""
        return [
            "--script", str(script), "--think-ms", self.think,
            "--chunking", self.chunking, "--seed", str(self.seed),
        ]  # fmt: skip

    def caller_options(self, url: str, call: int) -> CallerOptions:
        """The ``call``-th caller (0-based): seeded line noise, the plan's turns and barge-in."""
        return CallerOptions(
            url=url,
            speech=_speech_frames(self.speech),
            turns=self.turns,
            barge_in_turns=self.barge_in_turns,
            barge_after_ms=self.barge_after_ms,
            linger_s=self.linger_s,
            seed=self.seed + call,
        )


@functools.cache
def _speech_frames(paths: tuple[Path, ...]) -> list[list[bytes]]:
    return load_speech(paths)


@functools.cache
def _trimmed(paths: tuple[Path, ...]) -> list[tuple[Int16Array, int]]:
    out = []
    for path in paths:
        pcm, rate = read_wav(path)
        out.append((trim_to_speech(pcm, rate), rate))
    return out


@functools.cache
def clean_speech(text: str) -> Int16Array:
    """A scripted line exactly as the simulated model sends it: PCM16 at the model's 24 kHz."""
    return synthesize(text).pcm


def clean_audio(turn: int) -> Int16Array:
    """What the model sent in ``turn``: the greeting first, the reply after every caller turn."""
    return clean_speech(GREETING if turn == 0 else REPLY)
