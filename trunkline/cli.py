"""The ``trunkline`` command line: one entry point, one subcommand per job.

A subcommand's module is imported only when that subcommand is chosen, so ``trunkline --help``
stays fast and a heavy or optional dependency of one job (livekit, matplotlib, PortAudio) never
breaks the others. Each module exposes ``configure(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, cast

from trunkline.logs import LOG_FORMATS, LogFormat, configure_logging

LOG_LEVELS = ("debug", "info", "warning", "error")


class CommandModule(Protocol):
    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


@dataclass(frozen=True)
class Command:
    module: str
    summary: str


COMMANDS: dict[str, Command] = {
    "serve": Command(
        "sip.sidecar.serve", "run the Twilio sidecar (webhook + media streams) and its agent"
    ),
    "sim": Command("agent.sim.cli", "serve the local OpenAI-Realtime-compatible model simulator"),
    "call": Command("lab.caller.cli", "place a simulated Twilio call against a running sidecar"),
    "provision": Command(
        "sip.provision.cli",
        "set up the sip path: LiveKit inbound trunk, dispatch rule, Twilio trunk",
    ),
    "token": Command("sip.browser_token", "print a browser join token that dispatches the agent"),
    "lab": Command(
        "lab.lab_command", "measure every caller path on the real stack: tables, REPORT.md, plots"
    ),
    "report": Command("lab.report_command", "per-path latency report from turn logs (JSON lines)"),
    "stack": Command(
        "lab.stack_command",
        "run LiveKit, its SIP gateway, the worker and the sidecar here (make livekit first)",
    ),
}


def build_parser(commands: dict[str, Command], chosen: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trunkline",
        description=(
            "Answer Twilio Media Streams, SIP and WebRTC callers with one LiveKit voice agent, "
            "and measure which path is worth it. Configuration comes from the environment and "
            ".env.local; see README.md."
        ),
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("TRUNKLINE_LOG_LEVEL", "info"),
        choices=LOG_LEVELS,
        help="logging verbosity (env TRUNKLINE_LOG_LEVEL; default: info)",
    )
    parser.add_argument(
        "--log-format",
        default=os.environ.get("TRUNKLINE_LOG_FORMAT", "auto"),
        choices=LOG_FORMATS,
        help="json: one JSON object per line; text: lines for people; auto: text on a "
        "terminal, json anywhere else (env TRUNKLINE_LOG_FORMAT; default: auto)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, spec in commands.items():
        p = sub.add_parser(name, help=spec.summary, description=spec.summary)
        if name == chosen:
            module = cast(CommandModule, _import(parser, name, spec.module))
            module.configure(p)
            p.set_defaults(run=module.run)
    return parser


#: our own top-level packages: a missing one of these is a bug, not a missing extra
OURS = frozenset({"trunkline", "agent", "sip", "lab", "bench", "livekit"})


def _import(parser: argparse.ArgumentParser, command: str, module: str) -> object:
    """The command's module. The product is installed without the lab's libraries (the images
    carry none): a command that needs them says which and how to get them."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if not missing or missing in OURS:
            raise
        parser.exit(
            2,
            f"trunkline {command}: needs {missing!r}, one of the measurement lab's libraries, "
            "which this installation does not have: pip install 'trunkline[lab]' "
            "(make demo and make test install them)\n",
        )


def main(argv: Sequence[str] | None = None, commands: dict[str, Command] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    table = COMMANDS if commands is None else commands
    chosen = next((a for a in argv if a in table), None)
    parser = build_parser(table, chosen)
    args = parser.parse_args(argv)
    # argparse checks choices on the command line only, not defaults taken from the environment
    for setting, value, choices in (
        ("TRUNKLINE_LOG_LEVEL", args.log_level, LOG_LEVELS),
        ("TRUNKLINE_LOG_FORMAT", args.log_format, LOG_FORMATS),
    ):
        if value not in choices:
            parser.error(f"{setting}={value!r} is not one of {', '.join(choices)}")
    configure_logging(args.log_level, cast(LogFormat, args.log_format))
    run = cast(Callable[[argparse.Namespace], int], args.run)
    try:
        return int(run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
