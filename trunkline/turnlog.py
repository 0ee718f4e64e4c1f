"""The per-turn log: one JSON line per conversational turn, shared by every writer and reader.

The agent, the sidecar and the caller simulator each see part of a turn, so each appends what
it saw and the report merges lines of the same ``(call_id, turn)``. The waterfall timestamps
are epoch seconds from ``time.time()`` on one host (the lab runs everything on one machine), so
stages measured in different processes subtract meaningfully; any of them may be missing. A
writer holding a ``time.monotonic()`` reading (the pacer's clock) converts it with
:func:`epoch_from_monotonic`. One line of version 1 (only ``v``, ``call_id``, ``path`` and
``turn`` are required; this one is two writers' lines merged)::

    {"v": 1, "call_id": "CA12…", "path": "twilio-ws", "turn": 3,
     "caller_speech_end": 1795000000.120, "turn_detected": 1795000000.690,
     "model_first_audio": 1795000001.410, "pacer_first_frame": 1795000001.472,
     "caller_first_audio": 1795000001.530, "latency_s": 1.41,
     "pacer": {"underruns": 0, "frames": 212}, "source": "agent+caller"}

Merging needs every writer to name a turn the same way: ``call_id`` is the call's one id
across processes (e.g. the Twilio CallSid, or the LiveKit room name), and ``turn`` counts
the caller's utterances in the call from 0.

``latency_s`` is the response latency — caller speech end to first audio at the caller — as a
writer measured it on its own clock (a duration, so valid even across hosts); when absent it is
derived from the two timestamps. ``pacer`` carries the pacer's stats for the turn; the report
reads ``underruns`` (silence inserted because the model's audio was late) and ``late_gaps`` /
``late_gap_ms`` (gaps the caller heard because the process sent late, past what the sink
held) from it and keeps the rest. Readers report bad
lines and go on: a log with one torn line still produces a report.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Final, TypeAlias, cast

from trunkline.paths import CALL_PATHS, CallPath

SCHEMA_VERSION: Final = 1

JsonValue: TypeAlias = "str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None"

#: The waterfall's timestamps, in the order a turn passes them.
TIMESTAMPS: Final = (
    "caller_speech_end",
    "turn_detected",
    "model_first_audio",
    "pacer_first_frame",
    "caller_first_audio",
)
#: Each stage of the waterfall and the two timestamps that bound it.
STAGES: Final[dict[str, tuple[str, str]]] = {
    "turn_detection": ("caller_speech_end", "turn_detected"),
    "model": ("turn_detected", "model_first_audio"),
    "pacing": ("model_first_audio", "pacer_first_frame"),
    "transport": ("pacer_first_frame", "caller_first_audio"),
}
_KEYS: Final = frozenset(
    {"v", "call_id", "path", "turn", *TIMESTAMPS, "latency_s", "pacer", "source"}
)
# Epoch seconds between 2001 and 2286: catches monotonic readings and milliseconds by mistake.
_EPOCH_MIN: Final = 1e9
_EPOCH_MAX: Final = 1e10
#: Two writers' readings of one instant may differ by this much before they conflict.
CONFLICT_TOLERANCE_S: Final = 0.001


class TurnLogError(ValueError):
    """A line that does not follow the schema; the message says which field and why."""


@dataclass(frozen=True)
class TurnRecord:
    call_id: str
    path: CallPath
    turn: int
    caller_speech_end: float | None = None
    turn_detected: float | None = None
    model_first_audio: float | None = None
    pacer_first_frame: float | None = None
    caller_first_audio: float | None = None
    latency_s: float | None = None
    pacer: dict[str, JsonValue] = field(default_factory=dict)
    #: Who wrote the line ("agent", "sidecar", "caller", …); merged lines join with "+".
    source: str | None = None

    def timestamp(self, name: str) -> float | None:
        return cast(float | None, getattr(self, name))

    def response_latency(self) -> float | None:
        """The measured latency, else caller speech end → first audio at the caller."""
        if self.latency_s is not None:
            return self.latency_s
        return _span(self.caller_speech_end, self.caller_first_audio)

    def stage_durations(self) -> dict[str, float | None]:
        """Seconds spent in each waterfall stage (None where a bound is missing)."""
        return {
            name: _span(self.timestamp(start), self.timestamp(end))
            for name, (start, end) in STAGES.items()
        }

    def underruns(self) -> int:
        return self._pacer_int("underruns")

    def late_gaps(self) -> int:
        """Gaps heard because the pacer sent late (the sink ran dry), as the pacer counted."""
        return self._pacer_int("late_gaps")

    def late_gap_ms(self) -> float:
        value = self.pacer.get("late_gap_ms")
        if isinstance(value, bool) or not isinstance(value, int | float):
            return 0.0
        return float(value) if math.isfinite(value) else 0.0

    def _pacer_int(self, key: str) -> int:
        value = self.pacer.get(key, 0)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    def to_json(self) -> dict[str, JsonValue]:
        obj: dict[str, JsonValue] = {
            "v": SCHEMA_VERSION,
            "call_id": self.call_id,
            "path": self.path,
            "turn": self.turn,
        }
        for name in (*TIMESTAMPS, "latency_s"):
            value = getattr(self, name)
            if value is not None:
                obj[name] = value
        if self.pacer:
            obj["pacer"] = self.pacer
        if self.source is not None:
            obj["source"] = self.source
        return obj

    @classmethod
    def from_json(cls, obj: object) -> TurnRecord:
        """Validate a decoded JSON object; raises :class:`TurnLogError` naming the problem."""
        if not isinstance(obj, dict):
            raise TurnLogError(f"a turn must be a JSON object, got {type(obj).__name__}")
        unknown = sorted(set(obj) - _KEYS)
        if unknown:
            raise TurnLogError(f"unknown field(s) {', '.join(unknown)}")
        if obj.get("v") != SCHEMA_VERSION:
            raise TurnLogError(f"schema version must be {SCHEMA_VERSION}, got {obj.get('v')!r}")
        call_id = obj.get("call_id")
        if not isinstance(call_id, str) or not call_id:
            raise TurnLogError("call_id must be a non-empty string")
        path = obj.get("path")
        if path not in CALL_PATHS:
            raise TurnLogError(f"path must be one of {', '.join(CALL_PATHS)}, got {path!r}")
        turn = obj.get("turn")
        if not _is_int(turn) or cast(int, turn) < 0:
            raise TurnLogError(f"turn must be a non-negative integer, got {turn!r}")
        stamps = {name: _epoch(obj, name) for name in TIMESTAMPS}
        latency = _number(obj, "latency_s")
        if latency is not None and latency < 0:
            raise TurnLogError(f"latency_s must not be negative, got {latency}")
        pacer = obj.get("pacer", {})
        if not isinstance(pacer, dict):
            raise TurnLogError("pacer must be an object of stats")
        source = obj.get("source")
        if source is not None and not isinstance(source, str):
            raise TurnLogError("source must be a string")
        record = cls(
            call_id=call_id,
            path=cast(CallPath, path),
            turn=cast(int, turn),
            latency_s=latency,
            pacer=pacer,
            source=source,
            **stamps,
        )
        disorder = out_of_order(record)
        if disorder:
            raise TurnLogError(disorder)
        return record


def _span(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else end - start


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(obj: Mapping[str, object], name: str) -> float | None:
    value = obj.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TurnLogError(f"{name} must be a finite number or absent, got {value!r}")
    return float(value)


def _epoch(obj: Mapping[str, object], name: str) -> float | None:
    value = _number(obj, name)
    if value is not None and value < _EPOCH_MIN:
        raise TurnLogError(
            f"{name}={value} looks like a time.monotonic() reading, not epoch seconds "
            "(time.time()); convert it with trunkline.turnlog.epoch_from_monotonic"
        )
    if value is not None and value > _EPOCH_MAX:
        raise TurnLogError(f"{name}={value} looks like milliseconds; write epoch seconds")
    return value


def out_of_order(record: TurnRecord) -> str | None:
    """Why the record's timestamps go backwards (a clock or labelling bug), or None."""
    seen: list[tuple[str, float]] = [
        (n, t) for n in TIMESTAMPS if (t := record.timestamp(n)) is not None
    ]
    for (first, t0), (second, t1) in itertools.pairwise(seen):
        if t1 < t0:
            return f"{second} ({t1:.3f}) is before {first} ({t0:.3f})"
    return None


def format_line(record: TurnRecord) -> str:
    """One log line (with its newline) for ``record``."""
    return json.dumps(record.to_json(), separators=(",", ":"), allow_nan=False) + "\n"


def parse_line(line: str) -> TurnRecord:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise TurnLogError(f"not JSON: {exc.msg} at column {exc.colno}") from exc
    return TurnRecord.from_json(obj)


class TurnLogWriter:
    """Appends turn lines to a file, one ``write`` and flush per line.

    Append mode plus a single short write per line keeps lines whole when the agent, the
    sidecar and the simulator append to the same file from different processes.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")

    def write(self, record: TurnRecord) -> None:
        self._file.write(format_line(record))
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> TurnLogWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@dataclass(frozen=True)
class LogProblem:
    #: ``file:line`` for a bad line, ``file`` for an unreadable file, ``call/turn`` after merging.
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class TurnLog:
    records: list[TurnRecord] = field(default_factory=list)
    problems: list[LogProblem] = field(default_factory=list)


def read_turnlogs(paths: Iterable[str | Path]) -> TurnLog:
    """Every valid record in the files, and a problem for each bad line or unreadable file."""
    log = TurnLog()
    for path in paths:
        try:
            with Path(path).open("rb") as f:  # decoded per line: one bad byte costs one line
                for number, raw in enumerate(f, start=1):
                    if not raw.strip():
                        continue
                    try:
                        log.records.append(parse_line(raw.decode("utf-8")))
                    except UnicodeDecodeError as exc:
                        log.problems.append(LogProblem(f"{path}:{number}", f"not UTF-8: {exc}"))
                    except TurnLogError as exc:
                        log.problems.append(LogProblem(f"{path}:{number}", str(exc)))
        except OSError as exc:
            log.problems.append(LogProblem(str(path), f"cannot read: {exc}"))
    return log


def merge_turns(records: Sequence[TurnRecord]) -> TurnLog:
    """One record per ``(call_id, turn)``, combining what each writer saw.

    A field known to one writer fills the other's gap; two writers disagreeing (beyond 1 ms, or
    on the path) is a problem and the first-read value is kept. A merged turn whose timestamps
    go backwards is reported and left out rather than skewing the medians.
    """
    merged: dict[tuple[str, int], TurnRecord] = {}
    out = TurnLog()
    for rec in records:
        key = (rec.call_id, rec.turn)
        where = f"call {rec.call_id} turn {rec.turn}"
        have = merged.get(key)
        if have is None:
            merged[key] = rec
            continue
        if have.path != rec.path:
            out.problems.append(LogProblem(where, f"path {rec.path} conflicts with {have.path}"))
            continue
        merged[key] = _combine(have, rec, where, out.problems)
    for (call_id, turn), rec in merged.items():
        disorder = out_of_order(rec)
        if disorder:
            out.problems.append(LogProblem(f"call {call_id} turn {turn}", disorder))
        else:
            out.records.append(rec)
    return out


def _combine(a: TurnRecord, b: TurnRecord, where: str, problems: list[LogProblem]) -> TurnRecord:
    values: dict[str, float | None] = {}
    for name in (*TIMESTAMPS, "latency_s"):
        mine, theirs = getattr(a, name), getattr(b, name)
        if mine is None:
            values[name] = theirs
            continue
        values[name] = mine
        if theirs is not None and abs(theirs - mine) > CONFLICT_TOLERANCE_S:
            problems.append(
                LogProblem(where, f"{name} {theirs:.3f} conflicts with {mine:.3f} (kept)")
            )
    sources = sorted({s for rec in (a, b) if rec.source for s in rec.source.split("+")})
    return TurnRecord(
        call_id=a.call_id,
        path=a.path,
        turn=a.turn,
        pacer={**b.pacer, **a.pacer},
        source="+".join(sources) or None,
        **values,
    )


def epoch_from_monotonic(
    monotonic_s: float, *, now_monotonic: float | None = None, now_epoch: float | None = None
) -> float:
    """A ``time.monotonic()`` reading expressed on the ``time.time()`` clock.

    Both clocks are read now (or injected, for tests) and the offset applied, so a pacer's
    first-frame time joins the waterfall's other timestamps.
    """
    now_monotonic = time.monotonic() if now_monotonic is None else now_monotonic
    now_epoch = time.time() if now_epoch is None else now_epoch
    return now_epoch - (now_monotonic - monotonic_s)
