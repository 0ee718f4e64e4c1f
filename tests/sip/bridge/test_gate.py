"""The stretch gate: which frames of the agent's continuous track reach the caller."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hypothesis import given
from hypothesis import strategies as st

from sip.bridge.gate import GateSettings, StretchGate, Verdict

RATE = 8000
FRAME = 160  # 20 ms
F, D, END = Verdict.FORWARD, Verdict.DROP, Verdict.FORWARD_AND_END


def frame(peak: int) -> npt.NDArray[np.int16]:
    pcm = np.zeros(FRAME, dtype=np.int16)
    pcm[FRAME // 2] = peak
    return pcm


SOUND, QUIET = frame(5000), frame(2)


def run(gate: StretchGate, frames: list[npt.NDArray[np.int16]]) -> list[Verdict]:
    return [gate.feed(f) for f in frames]


def test_silence_is_dropped_and_sound_opens_a_stretch() -> None:
    gate = StretchGate(RATE)
    assert run(gate, [QUIET, QUIET, SOUND, SOUND]) == [D, D, F, F]
    assert gate.active


def test_a_stretch_ends_after_the_hangover_of_quiet_which_is_still_forwarded() -> None:
    gate = StretchGate(RATE, GateSettings(hangover_ms=100))  # five 20 ms frames
    assert run(gate, [SOUND, *[QUIET] * 5, QUIET]) == [F, F, F, F, F, END, D]
    assert not gate.active


def test_pauses_shorter_than_the_hangover_stay_in_the_stretch() -> None:
    gate = StretchGate(RATE, GateSettings(hangover_ms=100))
    pattern = [SOUND, QUIET, QUIET, QUIET, QUIET, SOUND, QUIET]
    assert run(gate, pattern) == [F] * 7
    assert gate.active


def test_the_threshold_is_a_peak_magnitude_either_sign() -> None:
    gate = StretchGate(RATE, GateSettings(threshold=64))
    assert run(gate, [frame(63), frame(-63)]) == [D, D]
    assert run(gate, [frame(-64)]) == [F]
    assert gate.feed(frame(-32768)) is F  # no overflow on the most negative sample


def test_after_a_clear_the_cut_replys_tail_is_dropped_until_it_goes_quiet() -> None:
    gate = StretchGate(RATE, GateSettings(unmute_quiet_ms=60))
    gate.feed(SOUND)
    gate.mute()
    tail = run(gate, [SOUND, SOUND, QUIET, SOUND, QUIET, QUIET, QUIET])
    assert tail == [D] * 7
    assert gate.dropped_after_clear == 7 * FRAME
    # the next reply is forwarded from its first frame
    assert run(gate, [QUIET, SOUND]) == [D, F]


def test_a_mute_never_lasts_beyond_its_bound_if_the_agent_keeps_talking() -> None:
    gate = StretchGate(RATE, GateSettings(max_mute_ms=100))
    gate.mute()
    assert run(gate, [SOUND] * 6) == [D, D, D, D, F, F]


@given(st.lists(st.sampled_from(["sound", "quiet", "mute"]), max_size=200))
def test_stretches_open_on_sound_end_after_the_hangover_and_respect_a_mute(
    steps: list[str],
) -> None:
    hangover, unmute, max_mute = 3, 2, 10  # frames
    gate = StretchGate(RATE, GateSettings(hangover_ms=60, unmute_quiet_ms=40, max_mute_ms=200))
    in_stretch = False
    trailing_quiet = 0
    since_mute: list[str] | None = None  # frames fed since the last mute, until one passes
    for step in steps:
        if step == "mute":
            gate.mute()
            in_stretch, since_mute = False, []
            continue
        verdict = gate.feed(SOUND if step == "sound" else QUIET)
        trailing_quiet = 0 if step == "sound" else trailing_quiet + 1
        if since_mute is not None:
            since_mute.append(step)
            if verdict is not D:
                # the tail went quiet for a while, or the mute ran out (the frame that
                # reaches the bound is the first one let through)
                fed = "".join(s[0] for s in since_mute)
                assert "q" * unmute in fed or len(fed) >= max_mute
                since_mute = None
        if verdict is not D and not in_stretch:
            assert step == "sound"  # a stretch opens only on sound
            in_stretch = True
        if verdict is END:
            assert in_stretch and trailing_quiet >= hangover
            in_stretch = False
        assert gate.active == in_stretch
