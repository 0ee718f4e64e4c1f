"""Diffs, rendering and the naming of failed steps."""

from __future__ import annotations

import aiohttp
import pytest
from livekit import api
from twilio.base.exceptions import TwilioRestException

from sip.provision.plan import (
    Action,
    Change,
    FieldDiff,
    ProvisionError,
    Value,
    change_for,
    diff,
    find_by_name,
    step,
)


def test_lists_compare_as_sets_and_scalars_exactly() -> None:
    current: dict[str, Value] = {"numbers": ("+1", "+2"), "weight": 1, "enabled": False}
    assert diff(current, {"numbers": ("+2", "+1"), "weight": 1, "enabled": False}) == ()
    assert diff(current, {"numbers": ("+1",), "enabled": True}) == (
        FieldDiff("numbers", ("+1", "+2"), ("+1",)),
        FieldDiff("enabled", False, True),
    )


def test_absent_object_is_created_with_every_field_shown() -> None:
    change = change_for("thing 'x'", None, {"a": ("1",), "b": "", "c": ()})
    assert change.action is Action.CREATE
    assert change.render(dry_run=False) == [
        "thing 'x': create",
        "    a: (none) -> [1]",
        '    b: (none) -> ""',
    ]
    assert change.render(dry_run=True)[0] == "thing 'x': would create"


def test_present_object_is_kept_or_updated() -> None:
    assert change_for("t", {"a": 1}, {"a": 1}).action is Action.KEEP
    assert change_for("t", {"a": 1}, {"a": 2}).action is Action.UPDATE
    kept = Change(Action.KEEP, "t", notes=("left alone",))
    assert kept.render(dry_run=True) == ["t: unchanged", "    note: left alone"]


@pytest.mark.parametrize(
    ("action", "name"),
    [
        (Action.CREATE, "creating the t"),
        (Action.UPDATE, "updating the t"),
        (Action.KEEP, "checking the t"),
    ],
)
def test_step_names_read_as_what_was_being_done(action: Action, name: str) -> None:
    assert Change(action, "t").step == name


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (
            api.TwirpError("not_found", "no such trunk", status=404),
            "LiveKit said not_found: no such trunk (HTTP 404)",
        ),
        (
            # livekit-server's answer to a token signed with the wrong secret or an unknown key
            api.TwirpError("unknown", "", status=401),
            "LiveKit did not accept the API key and secret (HTTP 401): check LIVEKIT_API_KEY "
            "and LIVEKIT_API_SECRET against the project's keys",
        ),
        (
            api.TwirpError("unauthenticated", "token expired", status=401),
            "LiveKit did not accept the API key and secret (HTTP 401) (token expired): check "
            "LIVEKIT_API_KEY and LIVEKIT_API_SECRET against the project's keys",
        ),
        (
            api.TwirpError("unknown", "", status=502),
            "LiveKit answered HTTP 502 without an error message (unknown)",
        ),
        (
            TwilioRestException(400, "https://x", msg="bad", code=21204),
            "Twilio said HTTP 400: bad (Twilio error 21204)",
        ),
        (TwilioRestException(500, "https://x", msg="oops"), "Twilio said HTTP 500: oops"),
        (aiohttp.ServerDisconnectedError(), "ServerDisconnectedError: Server disconnected"),
        (TimeoutError("slow"), "TimeoutError: slow"),
    ],
)
def test_step_names_api_and_transport_failures(error: Exception, cause: str) -> None:
    with pytest.raises(ProvisionError) as caught, step("doing the thing"):
        raise error
    assert (caught.value.step, caught.value.cause) == ("doing the thing", cause)
    assert str(caught.value) == f"doing the thing: {cause}"
    assert caught.value.__cause__ is error


def test_step_leaves_programming_errors_alone() -> None:
    with pytest.raises(KeyError), step("doing the thing"):
        raise KeyError("bug")


def test_inner_step_name_wins() -> None:
    with pytest.raises(ProvisionError) as caught, step("outer"), step("inner"):
        raise TimeoutError("x")
    assert caught.value.step == "inner"


def test_find_by_name_refuses_to_guess() -> None:
    items = [api.SIPInboundTrunkInfo(name="a", sip_trunk_id=f"ST_{i}") for i in range(2)]
    assert find_by_name(items, "b", "trunk 'b'", lambda t: t.sip_trunk_id) is None
    with pytest.raises(ProvisionError, match=r"^finding the trunk 'a': 2 objects .*\(ST_0, ST_1\)"):
        find_by_name(items, "a", "trunk 'a'", lambda t: t.sip_trunk_id)
