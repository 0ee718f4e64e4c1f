"""``trunkline lab``: measure every caller path and write lab.json, REPORT.md and PNGs.

Sections (:mod:`lab.sections`), each selectable with ``--sections``:

- ``codec``: the codec-chain table over the given speech files (default: the bundled CMU
  ARCTIC clips) plus the wideband synthetic speech, the only input that can show what a path
  keeps above 8 kHz;
- ``paths``: the same seeded conversation on every path through the real LiveKit stack —
  twilio-ws local and bridged, sip, webrtc — with the pacer A/B on each and the model timing
  sweep (:mod:`lab.paths_section`). With no settings the local stack of ``make livekit`` is
  started; with ``LIVEKIT_URL`` that deployment is measured instead;
- ``source`` (not run by default): the pacer A/B on ``rtc.AudioSource`` alone, no server.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lab.sections import Section
    from lab.speech import Speech

DEFAULT_OUT = Path("out/lab")
SECTIONS = ("codec", "paths", "source")
DEFAULT_SECTIONS = ("codec", "paths")
#: The main phase's model: the simulator's think time, median ms (p90 twice that).
THINK_MS = 900
#: The sweep's other think-time medians, full and ``--quick`` (which keeps the one where
#: transport weighs most).
SWEEP_MS = ((250, 2000), (250,))
#: Defaults of the run's size, full and ``--quick``.
SIZES = {
    "calls": (3, 1),
    "turns": (3, 2),
    "sweep_calls": (1, 1),
    "sweep_turns": (2, 1),
    "source_turns": (6, 3),
    "synth_seconds": (4.0, 2.0),
}


def think_spec(median_ms: int) -> str:
    """The simulator's think time with this median, p90 at twice it (as its default)."""
    return f"lognormal:median={median_ms},p90={2 * median_ms}"


def configure(parser: argparse.ArgumentParser) -> None:
    from lab.codecs import OPUS_BITRATE

    parser.description = (
        "Measure every caller path: codec chains, and the same seeded conversation on "
        "twilio-ws (local and bridged), sip and webrtc through the real LiveKit stack, with the "
        "pacer A/B on each path and a model timing sweep. Writes lab.json, REPORT.md and PNGs. "
        "With no LIVEKIT_URL it starts the local stack `make livekit` installs."
    )
    parser.add_argument(
        "--speech",
        nargs="+",
        action="extend",
        type=Path,
        metavar="FILE",
        help="speech recordings for the codec table, any format FFmpeg decodes "
        "(default: the bundled CMU ARCTIC clips)",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--sections",
        nargs="+",
        choices=SECTIONS,
        default=list(DEFAULT_SECTIONS),
        help=f"which measurements to run (default: {' '.join(DEFAULT_SECTIONS)})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a short run: 1 call of 2 turns per path and arm, one sweep timing (250 ms) with "
        "calls of 1 turn, 2 s of synthetic speech (any size flag given still wins)",
    )
    sizes = [
        ("--calls", int, "calls per path and pacer arm in the main phase", "calls"),
        ("--turns", int, "caller turns per call in the main phase", "turns"),
        ("--sweep-calls", int, "calls per path and arm at each sweep timing", "sweep_calls"),
        ("--sweep-turns", int, "caller turns per sweep call", "sweep_turns"),
        ("--source-turns", int, "turns per arm of the rtc.AudioSource A/B", "source_turns"),
        ("--synth-seconds", float, "length of the synthetic wideband speech (s)", "synth_seconds"),
    ]
    for flag, kind, text, key in sizes:
        full, quick = SIZES[key]
        parser.add_argument(flag, type=kind, help=f"{text} (default: {full}; --quick: {quick})")
    parser.add_argument(
        "--think-ms",
        type=int,
        default=THINK_MS,
        help=f"the main phase's simulated model think time, median ms (default: {THINK_MS})",
    )
    parser.add_argument(
        "--sweep-ms",
        type=int,
        nargs="*",
        help="think-time medians of the sweep's other phases; none to skip the sweep "
        f"(default: {' '.join(map(str, SWEEP_MS[0]))}; --quick: "
        f"{' '.join(map(str, SWEEP_MS[1]))})",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the simulated model and callers (default: 0)"
    )
    parser.add_argument(
        "--env-file",
        default=".env.local",
        help="settings file read under the environment (LIVEKIT_URL: measure that deployment)",
    )
    parser.add_argument(
        "--no-synth", action="store_true", help="leave out the synthetic wideband speech"
    )
    parser.add_argument(
        "--opus-bitrate",
        type=int,
        default=OPUS_BITRATE,
        help=f"Opus target in bit/s for the codec table (default: {OPUS_BITRATE})",
    )


def _resolve_sizes(args: argparse.Namespace) -> None:
    """Fill each size flag not given from the full or the ``--quick`` defaults."""
    for key, (full, quick) in SIZES.items():
        if getattr(args, key) is None:
            setattr(args, key, quick if args.quick else full)
    if args.sweep_ms is None:
        args.sweep_ms = list(SWEEP_MS[1] if args.quick else SWEEP_MS[0])


def _command_line(args: argparse.Namespace) -> str:
    """The run's settings as a command that repeats it (recorded in every report)."""
    parts = ["trunkline", "lab", "--sections", *args.sections, "--out", str(args.out)]
    if "codec" in args.sections:
        parts += ["--speech", *map(str, args.speech)] if args.speech else []
        parts += ["--opus-bitrate", str(args.opus_bitrate)]
        parts += ["--no-synth"] if args.no_synth else ["--synth-seconds", str(args.synth_seconds)]
    if "paths" in args.sections:
        parts += ["--calls", str(args.calls), "--turns", str(args.turns)]
        parts += ["--think-ms", str(args.think_ms), "--sweep-ms", *map(str, args.sweep_ms)]
        parts += ["--sweep-calls", str(args.sweep_calls), "--sweep-turns", str(args.sweep_turns)]
    if "source" in args.sections:
        parts += ["--source-turns", str(args.source_turns)]
    if "paths" in args.sections or "source" in args.sections:
        parts += ["--seed", str(args.seed)]
    return shlex.join(parts)


def _paths_section(args: argparse.Namespace) -> Section:
    from lab.live_plan import SHORT_REPLY, LivePlan
    from lab.paths_section import PathsSection, Phase
    from trunkline.config import load_env

    main = LivePlan(
        calls=args.calls, turns=args.turns, seed=args.seed, think=think_spec(args.think_ms)
    )
    phases = [Phase(main.think, main, main=True)]
    for ms in args.sweep_ms:
        plan = LivePlan(
            calls=args.sweep_calls,
            turns=args.sweep_turns,
            barge_in=False,
            seed=args.seed,
            think=think_spec(ms),
            reply=SHORT_REPLY,
        )
        phases.append(Phase(plan.think, plan, main=False))
    return PathsSection(phases, load_env(args.env_file), args.out)


def _sections(args: argparse.Namespace, speech: list[Speech]) -> list[Section]:
    from lab.codec_section import CodecChainSection
    from lab.source_section import SourceABSection

    chosen: dict[str, Section] = {}
    if "codec" in args.sections:
        chosen["codec"] = CodecChainSection(speech, opus_bitrate=args.opus_bitrate)
    if "paths" in args.sections:
        chosen["paths"] = _paths_section(args)
    if "source" in args.sections:
        chosen["source"] = SourceABSection(args.source_turns, args.seed)
    return [chosen[name] for name in SECTIONS if name in chosen]


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return out


def _stack_problem(args: argparse.Namespace) -> str | None:
    """Why the paths section cannot run here, before anything is measured (None: it can)."""
    from trunkline.config import load_env, text
    from trunkline.stack.binaries import LIVEKIT_SERVER, REDIS, find

    if "paths" not in args.sections or text(load_env(args.env_file), "LIVEKIT_URL"):
        return None
    missing = [name for name in (REDIS, LIVEKIT_SERVER) if find(name) is None]
    if not missing:
        return None
    return (
        f"the paths section needs the local LiveKit stack, but {' and '.join(missing)} "
        f"{'is' if len(missing) == 1 else 'are'} not installed: run `make livekit` (it builds "
        "livekit-server and livekit-sip into .tools/bin; Redis comes from your system, e.g. "
        "`apt-get install redis-server`), or set LIVEKIT_URL to measure a deployment, or run "
        "`trunkline lab --sections codec` for the codec table alone"
    )


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from rich.console import Console
    from rich.progress import Progress, TimeElapsedColumn

    from lab.paths_section import PathsSection
    from lab.sections import LabContext, environment, run_sections, write_json, write_markdown
    from lab.speech import bundled_speech_files, load_speech, synthetic_speech
    from lab.tables import table_console
    from trunkline.stack import StackUnavailable
    from trunkline.stack.service import ServiceFailed

    started = time.monotonic()
    # the progress display tells what runs; below warnings, the SDKs' chatter would bury it
    root = logging.getLogger()
    if root.level > logging.DEBUG:
        root.setLevel(max(root.level, logging.WARNING))
    _resolve_sizes(args)
    if args.synth_seconds <= 0 or not 6000 <= args.opus_bitrate <= 510000:
        print("--synth-seconds must be > 0 and --opus-bitrate 6000…510000", file=sys.stderr)
        return 2
    counts = (args.calls, args.turns, args.sweep_calls, args.sweep_turns, args.source_turns)
    if min(counts) < 1 or min([args.think_ms, *args.sweep_ms]) < 0:
        print(
            "--calls, --turns, --sweep-calls, --sweep-turns and --source-turns must be at least "
            "1, and think times not negative",
            file=sys.stderr,
        )
        return 2
    problem = _stack_problem(args)
    if problem is not None:
        print(f"trunkline lab: {problem}", file=sys.stderr)
        return 2
    speech = []
    if "codec" in args.sections:
        files: list[Path] = args.speech or bundled_speech_files()
        try:
            speech = [load_speech(p) for p in files]
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 2
        if not args.no_synth:
            speech.append(synthetic_speech(args.synth_seconds))
        names = _unique_names([s.name for s in speech])
        speech = [replace(s, name=name) for s, name in zip(speech, names, strict=True)]
    out: Path = args.out
    columns = (*Progress.get_default_columns(), TimeElapsedColumn())
    sections = _sections(args, speech)
    paths = [s for s in sections if isinstance(s, PathsSection)]
    try:
        with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
            for section in paths:  # its servers boot while the sections before it run
                section.start()
                if section.no_browser is not None:
                    progress.console.print(f"webrtc: no browser caller: {section.no_browser}")
            results = run_sections(sections, LabContext(out, progress))
    except (StackUnavailable, ServiceFailed, ValueError) as exc:
        print(f"trunkline lab: the real stack could not start: {exc}", file=sys.stderr)
        return 2
    finally:
        for section in paths:
            section.stop()
    console = table_console()
    for result in results:
        for table in result.tables:
            console.print(table)
        for note in result.notes:
            console.print(f"- {note}", soft_wrap=False)
        if result.notes:
            console.print()
    env = environment(_command_line(args))
    env["duration_s"] = round(time.monotonic() - started, 1)
    json_path = write_json(results, env, out / "lab.json")
    md_path = write_markdown(results, env, out / "REPORT.md")
    figures = sum(len(r.figures) for r in results)
    minutes, seconds = divmod(round(env["duration_s"]), 60)
    console.print(
        f"wrote {json_path}, {md_path} and {figures} figures in {out} ({minutes} min {seconds} s)"
    )
    return 0
