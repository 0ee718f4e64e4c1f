"""Energy drops: where the sender was speaking and the caller heard (almost) nothing.

After a lossy codec, digital silence is no longer exact (Opus decodes a lost packet as comfort
noise or a fade), so gaps are judged by energy instead: on the aligned pair, a 20 ms frame is a
drop when the sent frame is active (the same gate as the bandwidth: within 40 dB of the loudest
frame and above −60 dBFS) and the received frame is more than 30 dB below it. Consecutive
dropped frames form one event. Align first (:func:`lab.align.align`); a drift after the
alignment point shows up as drops, which is also a defect worth seeing.
"""

from __future__ import annotations

from typing import Final

import numpy.typing as npt

from lab.pcm import active_mask, as_float, frame_levels_db
from lab.runs import Span, runs

DROP_DB: Final = 30.0
FRAME_MS: Final = 20.0


def energy_drops(
    sent: npt.ArrayLike,
    received: npt.ArrayLike,
    rate: int,
    *,
    drop_db: float = DROP_DB,
    frame_ms: float = FRAME_MS,
) -> list[Span]:
    """Drop events in aligned, equal-rate signals (the shorter length is compared)."""
    tx, rx = as_float(sent), as_float(received)
    n = min(len(tx), len(rx))
    frame = round(frame_ms * rate / 1000)
    sent_db = frame_levels_db(tx[:n], frame)
    received_db = frame_levels_db(rx[:n], frame)
    dropped = active_mask(sent_db) & (received_db < sent_db - drop_db)
    return [Span(s * frame / rate, (e - s) * frame / rate) for s, e in runs(dropped)]
