"""Joining what the agent's side logged to the call the lab placed, by when it happened.

A worker serves every room path of a pacer arm and writes one turn log; its simulator records
every caller turn it heard. Neither knows the lab's name for a call — the worker names a SIP
call by LiveKit SIP's own id, a browser call by its room — but the lab places an arm's calls
strictly one after another, so a line or a recording belongs to the call whose time span holds
it. Turn lines are renamed to the lab's call id so they merge with the caller's halves; a line
of another path inside a call's span is a labelling fault and reported.
"""

from __future__ import annotations

import asyncio
import re
import time
import wave
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import numpy as np

from lab.heard import HeardTurn
from trunkline.paths import CallPath
from trunkline.turnlog import TIMESTAMPS, TurnRecord, read_turnlogs

#: The simulator's recordings: <epoch ms>-c<connection>-t<turn>.wav
_RECORDING = re.compile(r"(\d+)-c(\d+)-t(\d+)\.wav")
MODEL_RATE: Final = 24000


@dataclass(frozen=True)
class CallWindow:
    """One placed call: the lab's id for it and when it ran (epoch seconds)."""

    call_id: str
    started: float
    ended: float

    def holds(self, t: float) -> bool:
        """Every stamp the agent takes of a call (its events, not when it wrote them) falls
        while the caller is on the line."""
        return self.started <= t <= self.ended


def _first_stamp(record: TurnRecord) -> float | None:
    return next((t for n in TIMESTAMPS if (t := record.timestamp(n)) is not None), None)


def agent_records(
    log: Path, windows: Sequence[CallWindow], path: CallPath
) -> tuple[list[TurnRecord], list[str]]:
    """The agent's lines of these calls, renamed to the lab's call ids, and any problems."""
    if not log.exists():
        return [], [f"the agent wrote no turn log ({log})"] if windows else []
    read = read_turnlogs([log])
    problems = [str(p) for p in read.problems]
    out = []
    for record in read.records:
        at = _first_stamp(record)
        window = next((w for w in windows if at is not None and w.holds(at)), None)
        if window is None:
            continue
        if record.path != path:
            problems.append(
                f"call {window.call_id}: the agent labelled turn {record.turn} {record.path}, "
                f"not {path}"
            )
            continue
        out.append(replace(record, call_id=window.call_id))
    return out, problems


async def agent_settled(
    log: Path, window: CallWindow, path: CallPath, last_turn: int, within_s: float = 15.0
) -> bool:
    """Until the agent has logged ``last_turn`` of the call (it writes a turn's line when the
    next begins, the last one when its job ends, a moment after the caller hung up)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        records, _ = agent_records(log, [window], path)
        if any(r.turn >= last_turn for r in records):
            return True
        await asyncio.sleep(0.25)
    return False


@dataclass(frozen=True)
class Recording:
    at: float
    connection: int
    turn: int
    path: Path


def recordings(directory: Path) -> list[Recording]:
    found = []
    if directory.is_dir():
        for path in sorted(directory.iterdir()):
            match = _RECORDING.fullmatch(path.name)
            if match:
                ms, connection, turn = (int(g) for g in match.groups())
                found.append(Recording(ms / 1000, connection, turn, path))
    return found


def _read(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


def model_heard(
    directory: Path, windows: Sequence[CallWindow]
) -> tuple[list[HeardTurn], dict[str, list[int]]]:
    """What the model heard of each call's caller turns (24 kHz), and per call the simulator
    connection numbers that served it (which seeded draws it got)."""
    heard: list[HeardTurn] = []
    connections: dict[str, list[int]] = {}
    for rec in recordings(directory):
        window = next((w for w in windows if w.holds(rec.at)), None)
        if window is None:
            continue
        heard.append(HeardTurn(window.call_id, rec.turn, MODEL_RATE, _read(rec.path)))
        seen = connections.setdefault(window.call_id, [])
        if rec.connection not in seen:
            seen.append(rec.connection)
    return heard, connections
