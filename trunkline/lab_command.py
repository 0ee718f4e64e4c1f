"""``trunkline lab``: measure every caller path and write lab.json, REPORT.md and PNGs.

Three sections (:mod:`lab.sections`), each selectable with ``--sections``:

- ``codec``: the codec-chain table over the given speech files (default: the bundled CMU
  ARCTIC clips) plus the wideband synthetic speech, the only input that can show what a path
  keeps above 8 kHz;
- ``live``: simulated calls on every path reachable here — twilio-ws in local mode always,
  the LiveKit room paths listed with the reason they were not measured;
- ``pacer``: the pacer A/B on bursty model audio, on twilio-ws and on rtc.AudioSource.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lab.sections import Section
    from lab.speech import Speech

DEFAULT_OUT = Path("out/lab")
SECTIONS = ("codec", "live", "pacer")
#: Defaults of the run's size, full and ``--quick``.
SIZES = {
    "calls": (3, 1),
    "turns": (3, 2),
    "ab_calls": (2, 1),
    "source_turns": (6, 3),
    "synth_seconds": (4.0, 2.0),
}


def configure(parser: argparse.ArgumentParser) -> None:
    from lab.codecs import OPUS_BITRATE

    parser.add_argument(
        "--speech",
        nargs="+",
        action="extend",
        type=Path,
        metavar="FILE",
        help="speech recordings to measure, any format FFmpeg decodes "
        "(default: the bundled CMU ARCTIC clips)",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--sections",
        nargs="+",
        choices=SECTIONS,
        default=list(SECTIONS),
        help="which measurements to run (default: all)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a short run: 1 call of 2 turns per path and per A/B arm, 3 rtc.AudioSource "
        "turns, 2 s of synthetic speech (any size flag given still wins)",
    )
    sizes = [
        ("--calls", int, "calls per path in the live section", "calls"),
        ("--turns", int, "caller turns per call (live and pacer sections)", "turns"),
        ("--ab-calls", int, "calls per arm of the twilio-ws pacer A/B", "ab_calls"),
        ("--source-turns", int, "turns per arm of the rtc.AudioSource pacer A/B", "source_turns"),
        ("--synth-seconds", float, "length of the synthetic wideband speech (s)", "synth_seconds"),
    ]
    for flag, kind, text, key in sizes:
        full, quick = SIZES[key]
        parser.add_argument(flag, type=kind, help=f"{text} (default: {full}; --quick: {quick})")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the simulated model and callers (default: 0)"
    )
    parser.add_argument(
        "--env-file",
        default=".env.local",
        help="settings file read under the environment (LIVEKIT_URL enables the room paths)",
    )
    parser.add_argument(
        "--no-synth", action="store_true", help="leave out the synthetic wideband speech"
    )
    parser.add_argument(
        "--opus-bitrate",
        type=int,
        default=OPUS_BITRATE,
        help=f"Opus target in bit/s for the sip and webrtc chains (default: {OPUS_BITRATE})",
    )


def _resolve_sizes(args: argparse.Namespace) -> None:
    """Fill each size flag not given from the full or the ``--quick`` defaults."""
    for key, (full, quick) in SIZES.items():
        if getattr(args, key) is None:
            setattr(args, key, quick if args.quick else full)


def _command_line(args: argparse.Namespace) -> str:
    """The run's settings as a command that repeats it (recorded in every report)."""
    parts = ["trunkline", "lab", "--sections", *args.sections]
    parts += ["--speech", *map(str, args.speech)] if args.speech else []
    parts += ["--out", str(args.out), "--opus-bitrate", str(args.opus_bitrate)]
    parts += ["--no-synth"] if args.no_synth else ["--synth-seconds", str(args.synth_seconds)]
    if "live" in args.sections or "pacer" in args.sections:
        parts += ["--calls", str(args.calls), "--turns", str(args.turns)]
        parts += ["--ab-calls", str(args.ab_calls), "--source-turns", str(args.source_turns)]
        parts += ["--seed", str(args.seed)]
    return shlex.join(parts)


def _sections(args: argparse.Namespace, speech: list[Speech]) -> list[Section]:
    from dataclasses import replace

    from lab.codec_section import CodecChainSection
    from lab.live_plan import LivePlan
    from lab.live_section import LiveCallSection
    from lab.pacer_section import PacerABSection
    from lab.path_runner import room_routes
    from lab.twilio_runner import TwilioWsRunner
    from trunkline.config import load_env

    plan = LivePlan(calls=args.calls, turns=args.turns, seed=args.seed)
    chosen: dict[str, Section] = {
        "codec": CodecChainSection(speech, opus_bitrate=args.opus_bitrate),
        "live": LiveCallSection(plan, [TwilioWsRunner()], room_routes(load_env(args.env_file))),
        "pacer": PacerABSection(replace(plan, calls=args.ab_calls), args.source_turns),
    }
    return [chosen[name] for name in SECTIONS if name in args.sections]


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return out


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from rich.console import Console
    from rich.progress import Progress, TimeElapsedColumn

    from lab.sections import LabContext, environment, run_sections, write_json, write_markdown
    from lab.speech import bundled_speech_files, load_speech, synthetic_speech
    from lab.tables import table_console

    _resolve_sizes(args)
    if args.synth_seconds <= 0 or not 6000 <= args.opus_bitrate <= 510000:
        print("--synth-seconds must be > 0 and --opus-bitrate 6000…510000", file=sys.stderr)
        return 2
    if min(args.calls, args.turns, args.ab_calls, args.source_turns) < 1:
        print("--calls, --turns, --ab-calls and --source-turns must be at least 1", file=sys.stderr)
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
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        results = run_sections(_sections(args, speech), LabContext(out, progress))
    console = table_console()
    for result in results:
        for table in result.tables:
            console.print(table)
    env = environment(_command_line(args))
    json_path = write_json(results, env, out / "lab.json")
    md_path = write_markdown(results, env, out / "REPORT.md")
    figures = sum(len(r.figures) for r in results)
    console.print(f"wrote {json_path}, {md_path} and {figures} figures in {out}")
    return 0
