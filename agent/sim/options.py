"""The simulator's options, and the command-line flags that set them.

``trunkline sim`` and ``trunkline serve`` (which runs the simulator in-process) take the same
options; ``add_arguments`` declares the flags once so they cannot drift apart, with a prefix
for commands where they would be ambiguous (``serve --sim-think-ms``).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from .script import DEFAULT_SCRIPT, Script, ScriptError
from .timing import Chunking, ThinkTime, ThinkTimeError

DEFAULT_THINK = "lognormal:median=900,p90=1800"


@dataclass(frozen=True)
class SimOptions:
    #: delay from ``response.created`` to the first audio delta
    think: ThinkTime = field(default_factory=lambda: ThinkTime.parse(DEFAULT_THINK))
    #: how reply audio is cut and paced
    chunking: Chunking = Chunking.BURSTY
    #: seeds every random draw; the n-th connection gets its own stream derived from it
    seed: int = 0
    script: Script = DEFAULT_SCRIPT
    #: a connection whose unsent events exceed this many bytes is closed (slow reader)
    max_queued_bytes: int = 16 * 1024 * 1024
    #: this many consecutive connections share one seeded stream (the n-th draws from stream
    #: n // N): N callers on different paths, one after another, meet the same model behaviour
    sessions_per_draw: int = 1
    #: write each caller turn the simulator committed here as a WAV file (what the model heard)
    record_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.sessions_per_draw < 1:
            raise ValueError("sessions_per_draw must be at least 1")


def _think(text: str) -> ThinkTime:
    try:
        return ThinkTime.parse(text)
    except ThinkTimeError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _chunking(text: str) -> Chunking:
    try:
        return Chunking(text.lower())
    except ValueError:
        choices = ", ".join(c.value for c in Chunking)
        raise argparse.ArgumentTypeError(
            f"invalid choice: {text!r} (choose from {choices})"
        ) from None


def _script(path: str) -> Script:
    try:
        return Script.load(path)
    except ScriptError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser, *, prefix: str = "") -> None:
    """Declare ``--{prefix}think-ms``, ``--{prefix}chunking``, ``--{prefix}script``,
    ``--{prefix}sessions-per-draw``, ``--{prefix}record`` and ``--seed``."""
    parser.add_argument(
        f"--{prefix}think-ms",
        dest="sim_think",
        type=_think,
        default=ThinkTime.parse(DEFAULT_THINK),
        metavar="SPEC",
        help=(
            "simulated model think time before the first audio: a number of ms (800), "
            "lognormal:median=1200,p90=2500 or uniform:min=300,max=900 "
            f"(default: {DEFAULT_THINK})"
        ),
    )
    parser.add_argument(
        f"--{prefix}chunking",
        dest="sim_chunking",
        type=_chunking,
        choices=list(Chunking),
        default=Chunking.BURSTY,
        help=(
            "how the simulator delivers reply audio: steady (equal 100 ms chunks, 1.2× real "
            "time) or bursty (50–500 ms chunks at uneven speed, like the real service) "
            "(default: bursty)"
        ),
    )
    parser.add_argument(
        f"--{prefix}script",
        dest="sim_script",
        type=_script,
        default=DEFAULT_SCRIPT,
        metavar="FILE",
        help="JSON file with the simulator's greeting, turns and tool calls "
        "(format: agent/sim/script.py)",
    )
    parser.add_argument(
        f"--{prefix}sessions-per-draw",
        dest="sim_sessions_per_draw",
        type=_positive,
        default=1,
        metavar="N",
        help="N consecutive connections get the same seeded timing draws (for comparing N "
        "caller paths on identical model behaviour; default: 1, every connection its own)",
    )
    parser.add_argument(
        f"--{prefix}record",
        dest="sim_record",
        type=Path,
        default=None,
        metavar="DIR",
        help="write every caller turn the simulator heard to DIR as a 24 kHz WAV "
        "(<epoch ms>-c<connection>-t<turn>.wav; default: none)",
    )
    parser.add_argument(
        "--seed",
        dest="seed",
        type=int,
        default=0,
        help="seed for the simulator's random timing (default: 0)",
    )


def from_args(args: argparse.Namespace) -> SimOptions:
    return SimOptions(
        think=args.sim_think,
        chunking=args.sim_chunking,
        seed=args.seed,
        script=args.sim_script,
        sessions_per_draw=args.sim_sessions_per_draw,
        record_dir=args.sim_record,
    )
