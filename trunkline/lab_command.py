"""``trunkline lab``: measure every caller path and write lab.json, REPORT.md and PNGs.

Runs the codec-chain table over the given speech files (default: the bundled CMU ARCTIC
clips) plus the wideband synthetic speech, the only input that can show what a path keeps
above 8 kHz. Live calls and the pacer A/B join as further sections of the same run
(:mod:`lab.sections`).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

DEFAULT_OUT = Path("out/lab")


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
        "--synth-seconds",
        type=float,
        default=4.0,
        help="length of the synthetic wideband speech in seconds (default: 4)",
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


def _command_line(args: argparse.Namespace) -> str:
    """The run's settings as a command that repeats it (recorded in every report)."""
    parts = ["trunkline", "lab"]
    parts += ["--speech", *map(str, args.speech)] if args.speech else []
    parts += ["--out", str(args.out), "--opus-bitrate", str(args.opus_bitrate)]
    parts += ["--no-synth"] if args.no_synth else ["--synth-seconds", str(args.synth_seconds)]
    return shlex.join(parts)


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
    from rich.progress import Progress

    from lab.codec_section import CodecChainSection
    from lab.sections import LabContext, environment, run_sections, write_json, write_markdown
    from lab.speech import bundled_speech_files, load_speech, synthetic_speech
    from lab.tables import table_console

    if args.synth_seconds <= 0 or not 6000 <= args.opus_bitrate <= 510000:
        print("--synth-seconds must be > 0 and --opus-bitrate 6000…510000", file=sys.stderr)
        return 2
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
    with Progress(console=Console(stderr=True), transient=True) as progress:
        results = run_sections(
            [CodecChainSection(speech, opus_bitrate=args.opus_bitrate)],
            LabContext(out, progress),
        )
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
