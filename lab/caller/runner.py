"""Place one simulated call from WAV files (the library form of ``trunkline call``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import aiohttp

from lab.caller.audio import read_wav, speech_frames, trim_to_speech
from lab.caller.call import CallerOptions, SimulatedCaller, SipDialer
from lab.caller.results import CallResult


def load_speech(paths: Sequence[Path]) -> list[list[bytes]]:
    """Each WAV trimmed to its speech, as 20 ms μ-law frames at 8 kHz."""
    clips = []
    for path in paths:
        pcm, rate = read_wav(path)
        clips.append(speech_frames(trim_to_speech(pcm, rate), rate))
    return clips


async def place_call(
    options: CallerOptions,
    session: aiohttp.ClientSession | None = None,
    sip_dialer: SipDialer | None = None,
) -> CallResult:
    if session is not None:
        return await SimulatedCaller(options, session, sip_dialer).run()
    async with aiohttp.ClientSession() as own:
        return await SimulatedCaller(options, own, sip_dialer).run()
