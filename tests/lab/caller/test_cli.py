"""``trunkline call``'s SIP leg options: a split's ``<Dial><Sip>`` is placed with the lab's SIP
caller from ``--sip-from``, and asking for the sip path without it is refused up front."""

from __future__ import annotations

import argparse

import pytest

from lab.caller import cli
from lab.sip_leg import SipLegDialer


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.configure(parser)
    return parser.parse_args(list(argv))


def test_sip_from_gives_the_caller_a_sip_leg_dialer_bound_there() -> None:
    dialer = cli.sip_dialer(parse("--sip-from", "10.88.0.2", "--to", "+15550100777"))
    assert isinstance(dialer, SipLegDialer) and dialer.local_host == "10.88.0.2"
    assert cli.sip_dialer(parse()) is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--path", "sip"), "--path sip needs --sip-from"),
        (("--sip-from", "livekit.example"), "--sip-from must be an IP address"),
    ],
)
def test_a_sip_leg_that_cannot_be_placed_is_refused_before_dialling(
    argv: tuple[str, ...], message: str
) -> None:
    with pytest.raises(SystemExit, match=message):
        cli.sip_dialer(parse(*argv))


def test_the_caller_s_numbers_are_options() -> None:
    args = parse("--from", "+15550100123", "--to", "+15550100777")
    assert (args.from_number, args.to_number) == ("+15550100123", "+15550100777")
