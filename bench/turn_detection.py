"""Where the simulator's turn detection spends its time, with no network and no sidecar.

``bench/sidecar_calls.py`` measures 714–724 ms from a caller's end of speech to the agent
hearing ``speech_stopped``, against a 500 ms silence rule. This replays the same caller audio
offline through the same steps the live path takes — the caller's trimmed clip and line noise
as μ-law 20 ms frames, the sidecar's 8 → 24 kHz streaming resampler, the 100 ms
``input_audio_buffer.append`` chunks livekit-plugins-openai sends, and the simulator's Silero
scorer and server-VAD rules — and reports, per bundled clip, in audio time:

- the last Silero window at or above the speech threshold (0.5) and above the hysteresis
  floor (0.35), relative to the clip's trimmed end of speech;
- ``audio_end_ms`` of ``speech_stopped`` relative to it (the floor crossing + 500 ms);
- when the event becomes possible: the end of the append that completed it, relative to it.

The live figure minus the last column is what the sidecar, the WebSocket hops and the agent
session add to turn detection. Usage: ``python bench/turn_detection.py``
"""

from __future__ import annotations

import numpy as np

from agent.sim.turns import HYSTERESIS, SpeechStopped, TurnDetector, VadConfig
from agent.sim.vad import SpeechScorer
from lab.caller.audio import LineNoise
from lab.caller.cli import default_speech
from lab.caller.runner import load_speech
from sip import g711
from trunkline.resample import StreamResampler

FRAME_MS = 20
APPEND_SAMPLES = 2400  # 100 ms at 24 kHz, as livekit-plugins-openai appends
LEAD_FRAMES, TAIL_FRAMES = 50, 100


def main() -> None:
    config = VadConfig()
    print("| clip | last p ≥ 0.5 | last p ≥ 0.35 | audio_end_ms | event possible |")
    print("| --- | --- | --- | --- | --- |")
    paths = default_speech()
    for index, (path, clip) in enumerate(zip(paths, load_speech(paths), strict=True)):
        noise = LineNoise(-60.0, index)
        frames = [noise.frame() for _ in range(LEAD_FRAMES)] + clip
        frames += [noise.frame() for _ in range(TAIL_FRAMES)]
        end_ms = (LEAD_FRAMES + len(clip)) * FRAME_MS
        upsample = StreamResampler(8000, 24000)
        scorer = SpeechScorer(24000)
        detector = TurnDetector(config, scorer.window_s)
        pending = np.zeros(0, dtype=np.int16)
        windows: list[tuple[float, float]] = []
        stopped: tuple[int, int] | None = None
        for i, frame in enumerate(frames):
            pending = np.concatenate([pending, upsample.push(g711.decode(frame))])
            while len(pending) >= APPEND_SAMPLES and stopped is None:
                append, pending = pending[:APPEND_SAMPLES], pending[APPEND_SAMPLES:]
                scored = list(scorer.push(append))
                windows += [(w.end_s * 1000, w.probability) for w in scored]
                for event in detector.feed(scored):
                    if isinstance(event, SpeechStopped):
                        stopped = (event.audio_end_ms, (i + 1) * FRAME_MS)
        if stopped is None:
            print(f"| {path.name} | no speech_stopped |  |  |  |")
            continue
        last = max(t for t, p in windows if p >= config.threshold)
        floor = max(t for t, p in windows if p >= config.threshold - HYSTERESIS)
        print(
            f"| {path.name} | +{last - end_ms:.0f} ms | +{floor - end_ms:.0f} ms "
            f"| +{stopped[0] - end_ms} ms | +{stopped[1] - end_ms} ms |"
        )


if __name__ == "__main__":
    main()
