"""How dispatch rules and trunk numbers compare: every rule kind, the parts that change where a
caller lands, and numbers in the form LiveKit matches calls in."""

from __future__ import annotations

import pytest
from livekit import api

from sip.provision.livekit_side import describe_rule, livekit_number


@pytest.mark.parametrize(
    ("rule", "described"),
    [
        (
            api.SIPDispatchRule(
                dispatch_rule_individual=api.SIPDispatchRuleIndividual(room_prefix="call-")
            ),
            "individual room_prefix='call-'",
        ),
        (
            api.SIPDispatchRule(
                dispatch_rule_individual=api.SIPDispatchRuleIndividual(
                    room_prefix="call-", pin="1234", no_randomness=True
                )
            ),
            "individual room_prefix='call-' with pin no_randomness",
        ),
        (
            api.SIPDispatchRule(dispatch_rule_direct=api.SIPDispatchRuleDirect(room_name="lobby")),
            "direct room_name='lobby'",
        ),
        (
            api.SIPDispatchRule(dispatch_rule_callee=api.SIPDispatchRuleCallee(room_prefix="n-")),
            "callee room_prefix='n-'",
        ),
        (api.SIPDispatchRule(), "(none)"),
    ],
)
def test_rules_are_described_by_kind_and_routing(rule: api.SIPDispatchRule, described: str) -> None:
    assert describe_rule(rule) == described


@pytest.mark.parametrize(
    ("number", "compared"),
    [
        ("+15550001111", "+15550001111"),
        ("+1 (555) 000-1111", "+15550001111"),
        ("15550001111", "+15550001111"),
        ("1 555 000 1111", "+15550001111"),
        # not a number to LiveKit: compared as it is
        ("+1.555.000.1111", "+1.555.000.1111"),
        ("alice", "alice"),
        ("15550001111\n", "15550001111\n"),
        ("", ""),
    ],
)
def test_numbers_compare_as_livekit_matches_them(number: str, compared: str) -> None:
    assert livekit_number(number) == compared
