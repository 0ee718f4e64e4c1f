"""``trunkline call``: place one simulated Twilio call against a running sidecar."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lab.caller.call import SipDialer


def default_speech() -> list[Path]:
    speech = resources.files("trunkline") / "data" / "speech"
    return [Path(str(speech / name)) for name in ("arctic_a0007.wav", "arctic_a0009.wav")]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Place a simulated Twilio call: fetch TwiML from <url>/twilio/voice, open the media "
        "stream it names and speak like a caller on a phone (20 ms μ-law on a real-time clock, "
        "marks acknowledged at playout, clear honoured). Prints per-turn response latency "
        "(end of caller speech → first agent audio) and what the caller heard."
    )
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="sidecar base URL")
    parser.add_argument(
        "--wav",
        action="append",
        type=Path,
        help="caller speech (16-bit WAV, any rate); repeat for several clips, used in turn "
        "(default: the bundled CMU ARCTIC clips)",
    )
    parser.add_argument("--turns", type=int, default=2, help="caller turns (default 2)")
    parser.add_argument(
        "--barge-in",
        action="store_true",
        help="talk over each reply but the last after --barge-after-ms of it has played",
    )
    parser.add_argument("--barge-after-ms", type=int, default=1000)
    parser.add_argument("--dtmf", default="", help="keypad digits to press after the greeting")
    parser.add_argument("--out", type=Path, help="write the result as JSON here")
    parser.add_argument("--record", type=Path, help="write what the caller heard (8 kHz WAV)")
    parser.add_argument(
        "--auth-token",
        default=os.environ.get("TWILIO_AUTH_TOKEN"),
        help="sign requests like Twilio (default: $TWILIO_AUTH_TOKEN)",
    )
    parser.add_argument("--seed", type=int, default=0, help="line-noise seed")
    parser.add_argument(
        "--path",
        choices=["twilio-ws", "sip"],
        help="ask the webhook for this path (?trunkline_path=...) whatever its "
        "TRUNKLINE_SIP_SHARE says (sip needs --sip-from)",
    )
    parser.add_argument(
        "--sip-from",
        metavar="ADDRESS",
        help="when the webhook answers <Dial><Sip> (a split's sip path), place that SIP leg as "
        "Twilio would, from this IP address (one LiveKit SIP reaches; livekit-sip ignores "
        "loopback): the TwiML's URI, digest credentials and X- headers, μ-law RTP. Without it "
        "such a call is reported as not connected",
    )
    parser.add_argument(
        "--from", dest="from_number", default="+15550100001", help="the caller's number"
    )
    parser.add_argument(
        "--to",
        dest="to_number",
        default="+15550100002",
        help="the number dialled (a split's SIP leg dials LiveKit for it: use the provisioned one)",
    )


def sip_dialer(args: argparse.Namespace) -> SipDialer | None:
    """The lab's SIP caller for a ``<Dial><Sip>`` leg, when ``--sip-from`` says where from."""
    if args.sip_from is None:
        if args.path == "sip":
            raise SystemExit("--path sip needs --sip-from: the address to place the SIP leg from")
        return None
    from lab.sip_leg import SipLegDialer

    try:
        ipaddress.ip_address(args.sip_from)
    except ValueError:
        raise SystemExit(f"--sip-from must be an IP address, not {args.sip_from!r}") from None
    return SipLegDialer(args.sip_from)


def run(args: argparse.Namespace) -> int:
    import sys

    from rich.console import Console

    from lab.caller.call import CallerOptions, CallNotConnected
    from lab.caller.report import print_result, result_json
    from lab.caller.runner import load_speech, place_call

    if args.turns < 1:
        raise SystemExit("--turns must be at least 1")
    dialer = sip_dialer(args)
    wavs = args.wav or default_speech()
    options = CallerOptions(
        url=args.url,
        speech=load_speech(wavs),
        turns=args.turns,
        barge_in_turns=frozenset(range(1, args.turns)) if args.barge_in else frozenset(),
        barge_after_ms=args.barge_after_ms,
        dtmf=args.dtmf,
        auth_token=args.auth_token,
        seed=args.seed,
        path=args.path,
        from_number=args.from_number,
        to_number=args.to_number,
    )
    try:
        result = asyncio.run(place_call(options, sip_dialer=dialer))
    except CallNotConnected as exc:
        print(f"trunkline call: the call was not connected: {exc}", file=sys.stderr)
        return 1
    console = Console()
    print_result(console, result)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result_json(result), indent=2))
    if args.record:
        from lab.caller.audio import write_wav

        write_wav(args.record, result.heard, 8000)
    return 0 if result.turns and all(t.latency_ms is not None for t in result.turns) else 1
