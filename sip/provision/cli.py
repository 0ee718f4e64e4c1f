"""``trunkline provision``: set up the sip path (LiveKit inbound trunk + dispatch rule, Twilio
Elastic SIP trunk + origination URL + number association) in one idempotent command.

The plan goes to stdout one object at a time, as each is changed (or, with ``--dry-run``, as it
would be); problems go to stderr. Exit status: 0 done, 1 a step failed (named in the message),
2 the input or credentials are wrong (every problem listed, nothing contacted).
"""

from __future__ import annotations

import argparse
import sys

from sip.provision.spec import (
    DEFAULT_NAME,
    DEFAULT_ROOM_PREFIX,
    DEFAULT_TRANSFER_MODE,
    TRANSFER_MODES,
    DigestAuth,
    make_spec,
)
from trunkline.config import (
    DEFAULT_AGENT_NAME,
    DEFAULT_ENV_FILE,
    agent_name,
    livekit_credentials,
    load_env,
    text,
    twilio_credentials,
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Create or update the LiveKit inbound SIP trunk and dispatch rule (which dispatches the "
        "agent by name into a new room per call) and the Twilio Elastic SIP trunk that sends "
        "your numbers' calls to LiveKit. Safe to run again: existing objects are found by name "
        "and only what differs is changed. Reads LIVEKIT_URL, LIVEKIT_API_KEY, "
        "LIVEKIT_API_SECRET, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN (and LIVEKIT_SIP_URI, "
        "AGENT_NAME) from the environment or the env file. "
        "With --dial-sip (one number, both paths) the number keeps its voice webhook, the "
        "sidecar, which sends some calls to LiveKit with <Dial><Sip>: the inbound trunk then "
        "asks for TRUNKLINE_SIP_USERNAME / TRUNKLINE_SIP_PASSWORD, and nothing is made at "
        "Twilio (no Twilio credentials needed)."
    )
    parser.add_argument(
        "--number",
        action="append",
        default=[],
        metavar="E164",
        help="a Twilio phone number of this account that should reach the agent, e.g. "
        "+15551234567 (repeat for several; required)",
    )
    parser.add_argument(
        "--sip-uri",
        help="LiveKit SIP URI from the project settings, e.g. sip:abc123.sip.livekit.cloud "
        "(env LIVEKIT_SIP_URI); ;transport=tcp is added unless a transport is given",
    )
    parser.add_argument(
        "--name",
        default=DEFAULT_NAME,
        help="name of the LiveKit trunk, the dispatch rule and the Twilio trunk; later runs "
        f"find them by it (default: {DEFAULT_NAME})",
    )
    parser.add_argument(
        "--room-prefix",
        default=DEFAULT_ROOM_PREFIX,
        help=f"prefix of the room made for each call (default: {DEFAULT_ROOM_PREFIX})",
    )
    parser.add_argument(
        "--agent-name",
        help=f"agent to dispatch; must match the worker's (env AGENT_NAME; default: "
        f"{DEFAULT_AGENT_NAME})",
    )
    parser.add_argument(
        "--allowed-address",
        action="append",
        default=[],
        metavar="IP[/BITS]",
        help="only accept SIP INVITEs from this address or block, e.g. Twilio's signalling "
        "ranges for your region (repeat for several; default: numbers alone gate calls)",
    )
    parser.add_argument(
        "--twilio-domain",
        metavar="NAME.pstn.twilio.com",
        help="termination domain for the Twilio trunk (only needed for outbound calls)",
    )
    parser.add_argument(
        "--transfer-mode",
        choices=TRANSFER_MODES,
        default=DEFAULT_TRANSFER_MODE,
        help="what the Twilio trunk lets the agent's transfer_call (a SIP REFER) reach: "
        "enable-all includes phone numbers, billed by Twilio (default: "
        f"{DEFAULT_TRANSFER_MODE})",
    )
    parser.add_argument(
        "--dial-sip",
        action="store_true",
        help="set up the sip path for the sidecar's one-number split instead of an Elastic "
        "SIP trunk: digest credentials on the inbound trunk (TRUNKLINE_SIP_USERNAME, "
        "TRUNKLINE_SIP_PASSWORD), the CallSid header mapped to an attribute; Twilio untouched",
    )
    parser.add_argument(
        "--env-file",
        default=DEFAULT_ENV_FILE,
        help=f"env file read under the environment (default: {DEFAULT_ENV_FILE})",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="read the current state and print what would change; change nothing",
    )


def run(args: argparse.Namespace) -> int:
    import asyncio

    from sip.provision.plan import Change, ProvisionError
    from sip.provision.provisioner import provision

    env = load_env(args.env_file)
    problems: list[str] = []
    dial_sip = None
    if args.dial_sip:
        username = text(env, "TRUNKLINE_SIP_USERNAME")
        password = text(env, "TRUNKLINE_SIP_PASSWORD")
        if username is None or password is None:
            problems.append(
                "--dial-sip needs TRUNKLINE_SIP_USERNAME and TRUNKLINE_SIP_PASSWORD (the same "
                "pair the sidecar dials with); make a password with e.g. "
                "python -c 'import secrets; print(secrets.token_urlsafe(24))'"
            )
        else:
            dial_sip = DigestAuth(username, password)
    spec = make_spec(
        numbers=args.number,
        sip_uri=args.sip_uri or text(env, "LIVEKIT_SIP_URI"),
        agent_name=agent_name(env, args.agent_name),
        name=args.name,
        room_prefix=args.room_prefix,
        allowed_addresses=args.allowed_address,
        twilio_domain=args.twilio_domain,
        transfer_mode=args.transfer_mode,
        dial_sip=dial_sip,
        problems=problems,
    )
    livekit = livekit_credentials(env, problems)
    twilio = None if args.dial_sip else twilio_credentials(env, problems)
    if problems or spec is None or livekit is None or (twilio is None and not args.dial_sip):
        print("trunkline provision: nothing was contacted, because:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2

    def report(change: Change) -> None:
        print("\n".join(change.render(args.dry_run)), flush=True)

    try:
        asyncio.run(provision(spec, livekit, twilio, dry_run=args.dry_run, report=report))
    except ProvisionError as exc:
        print(f"trunkline provision: failed while {exc}", file=sys.stderr)
        print(
            "The steps printed above are done; nothing after the failed one was attempted. "
            "Fix the cause and run again: finished steps are found and left as they are.",
            file=sys.stderr,
        )
        return 1
    if args.dry_run:
        print("dry run: nothing was changed")
    return 0
