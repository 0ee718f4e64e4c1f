"""Provisioning against the real livekit-server and the Twilio stand-in: create, no-op, drift,
dry run, and failures the real server produces (conflicts, wrong secret, a crash mid-run)."""

from __future__ import annotations

from dataclasses import replace

import aiohttp
import pytest
from livekit import api

from sip.provision.plan import Action, Change, ProvisionError
from sip.provision.spec import DigestAuth
from tests.sip.provision.conftest import NUMBER, SIP_URI, SPEC, Planes, writes
from trunkline.config import DEFAULT_AGENT_NAME

pytestmark = pytest.mark.netns

SECOND = "+15550002222"
TRUNK = "LiveKit inbound trunk 'trunkline'"
RULE = "LiveKit dispatch rule 'trunkline'"


def actions(changes: list[Change]) -> dict[str, Action]:
    return {c.what: c.action for c in changes}


async def test_fresh_create_makes_every_object(planes: Planes) -> None:
    spec = replace(SPEC, allowed_addresses=("54.172.60.0/30",))
    changes = await planes.provision(spec)

    assert [c.action for c in changes] == [Action.CREATE] * 5
    run = await planes.api_log()
    assert writes(run) == ["CreateSIPInboundTrunk", "CreateSIPDispatchRule"]
    assert {c.status for c in run} == {"200"}
    trunk = await planes.only_trunk()
    assert (trunk.name, list(trunk.numbers)) == ("trunkline", [NUMBER])
    assert list(trunk.allowed_addresses) == ["54.172.60.0/30"]
    rule = await planes.only_rule()
    assert rule.name == "trunkline"
    assert rule.rule.dispatch_rule_individual.room_prefix == "call-"
    assert list(rule.trunk_ids) == [trunk.sip_trunk_id]
    assert [a.agent_name for a in rule.room_config.agents] == [DEFAULT_AGENT_NAME]

    posts = [(w.path.split("/v1/")[1], w.form) for w in planes.twilio.writes]
    (trunk_sid,) = planes.twilio.trunks
    assert posts == [
        ("Trunks", {"FriendlyName": "trunkline", "TransferMode": "enable-all"}),
        (
            f"Trunks/{trunk_sid}/OriginationUrls",
            {
                "SipUrl": SIP_URI,
                "FriendlyName": "LiveKit SIP",
                "Priority": "1",
                "Weight": "1",
                "Enabled": "true",
            },
        ),
        (
            f"Trunks/{trunk_sid}/PhoneNumbers",
            {"PhoneNumberSid": next(iter(planes.twilio.account_numbers))},
        ),
    ]
    assert [n["phone_number"] for n in planes.twilio.trunk_numbers(trunk_sid)] == [NUMBER]
    (association,) = [c for c in changes if "phone number" in c.what]
    assert any("voice webhook https://example.test/twiml stops" in n for n in association.notes)


async def test_the_rule_dispatches_the_agent_by_name_as_the_server_stores_it(
    planes: Planes,
) -> None:
    # Named-agent dispatch from a SIP dispatch rule has failed for self-hosted users
    # (livekit#3690, sip#401); this is the half provisioning owns: what the server keeps.
    # The agent's name differs from the objects' name, so neither can stand in for the other.
    await planes.provision(replace(SPEC, agent_name="front-desk"))

    trunk = await planes.only_trunk()
    # the rules livekit-sip is offered for a call that arrives on this trunk
    (rule,) = await planes.rules(trunk.sip_trunk_id)
    assert rule.room_config.agents[0].agent_name == "front-desk"
    assert len(rule.room_config.agents) == 1
    assert rule.rule.WhichOneof("rule") == "dispatch_rule_individual"
    assert rule.rule.dispatch_rule_individual.pin == ""


async def test_second_run_changes_nothing(planes: Planes) -> None:
    await planes.provision()
    trunks, rules = await planes.trunks(), await planes.rules()
    seen = len(await planes.api_log())
    twilio_writes = len(planes.twilio.writes)

    changes = await planes.provision()

    assert {c.action for c in changes} == {Action.KEEP}
    assert len(changes) == 5
    run = (await planes.api_log())[seen:]
    assert [c.method for c in run] == ["ListSIPInboundTrunk", "ListSIPDispatchRule"]
    assert await planes.trunks() == trunks and await planes.rules() == rules
    assert len(planes.twilio.writes) == twilio_writes


async def test_drift_is_put_back_and_hand_made_settings_survive(planes: Planes) -> None:
    await planes.provision()
    trunk, rule = await planes.only_trunk(), await planes.only_rule()
    del trunk.numbers[:]
    trunk.numbers.append("+15559999999")
    trunk.krisp_enabled = True  # set by hand in the console: not ours to undo
    await planes.replace_trunk(trunk)
    del rule.room_config.agents[:]
    rule.room_config.agents.append(api.RoomAgentDispatch(agent_name="someone-else"))
    rule.rule.dispatch_rule_individual.pin = "1234"
    rule.hide_phone_number = True
    await planes.replace_rule(rule)
    (trunk_sid,) = planes.twilio.trunks
    planes.twilio.trunks[trunk_sid]["transfer_mode"] = "disable-all"
    (url,) = planes.twilio.origination_urls[trunk_sid].values()
    url.update(enabled=False, weight=5)
    for number in planes.twilio.account_numbers.values():
        number["trunk_sid"] = None
    seen = len(await planes.api_log())
    twilio_before = len(planes.twilio.writes)

    changes = await planes.provision()

    assert actions(changes) == {
        TRUNK: Action.UPDATE,
        RULE: Action.UPDATE,
        "Twilio Elastic SIP trunk 'trunkline'": Action.UPDATE,
        f"Twilio origination URL {SIP_URI}": Action.UPDATE,
        f"Twilio phone number {NUMBER} on the trunk": Action.CREATE,
    }
    run = (await planes.api_log())[seen:]
    assert writes(run) == ["UpdateSIPInboundTrunk", "UpdateSIPDispatchRule"]
    after_trunk, after_rule = await planes.only_trunk(), await planes.only_rule()
    assert after_trunk.sip_trunk_id == trunk.sip_trunk_id
    assert list(after_trunk.numbers) == [NUMBER] and after_trunk.krisp_enabled
    assert after_rule.sip_dispatch_rule_id == rule.sip_dispatch_rule_id
    assert [a.agent_name for a in after_rule.room_config.agents] == [DEFAULT_AGENT_NAME]
    assert after_rule.rule.dispatch_rule_individual.pin == "" and after_rule.hide_phone_number
    assert url["enabled"] is True and url["weight"] == 1
    assert [n["phone_number"] for n in planes.twilio.trunk_numbers(trunk_sid)] == [NUMBER]
    assert planes.twilio.trunks[trunk_sid]["transfer_mode"] == "enable-all"
    assert len(planes.twilio.writes) == twilio_before + 3
    rendered = "\n".join(line for c in changes for line in c.render(dry_run=False))
    assert "numbers: [+15559999999] -> [+15550001111]" in rendered
    assert "agents: [someone-else] -> [trunkline]" in rendered
    assert "enabled: False -> True" in rendered
    assert "transfer_mode: disable-all -> enable-all" in rendered


async def test_a_changed_spec_updates_only_what_it_touches(planes: Planes) -> None:
    planes.twilio.add_number(SECOND)
    await planes.provision()
    seen = len(await planes.api_log())
    twilio_before = len(planes.twilio.writes)

    changes = await planes.provision(
        replace(SPEC, numbers=(NUMBER, SECOND), agent_name="front-desk")
    )

    assert actions(changes)[TRUNK] is Action.UPDATE
    assert actions(changes)[RULE] is Action.UPDATE
    assert actions(changes)[f"Twilio phone number {NUMBER} on the trunk"] is Action.KEEP
    assert actions(changes)[f"Twilio phone number {SECOND} on the trunk"] is Action.CREATE
    assert writes((await planes.api_log())[seen:]) == [
        "UpdateSIPInboundTrunk",
        "UpdateSIPDispatchRule",
    ]
    second_sid = next(
        s for s, n in planes.twilio.account_numbers.items() if n["phone_number"] == SECOND
    )
    assert [w.form for w in planes.twilio.writes[twilio_before:]] == [
        {"PhoneNumberSid": second_sid}
    ]
    assert sorted((await planes.only_trunk()).numbers) == [NUMBER, SECOND]
    rule = await planes.only_rule()
    assert [a.agent_name for a in rule.room_config.agents] == ["front-desk"]


async def test_dry_run_reads_and_reports_but_writes_nothing(planes: Planes) -> None:
    changes = await planes.provision(dry_run=True)

    assert [c.action for c in changes] == [Action.CREATE] * 5
    assert [c.method for c in await planes.api_log()] == [
        "ListSIPInboundTrunk",
        "ListSIPDispatchRule",
    ]
    assert await planes.trunks() == [] and await planes.rules() == []
    assert planes.twilio.writes == [] and planes.twilio.requests
    rule = next(c for c in changes if c.what == RULE)
    assert rule.render(dry_run=True)[0].endswith(": would create")
    assert "    trunk_ids: (none) -> [(new trunk)]" in rule.render(dry_run=True)


async def test_dry_run_over_drift_shows_the_diff_and_writes_nothing(planes: Planes) -> None:
    await planes.provision()
    trunk = await planes.only_trunk()
    trunk.allowed_addresses.append("10.0.0.0/8")
    await planes.replace_trunk(trunk)
    trunks, rules = await planes.trunks(), await planes.rules()
    seen = len(await planes.api_log())
    twilio_before = len(planes.twilio.writes)

    changes = await planes.provision(dry_run=True)

    (changed,) = [c for c in changes if c.action is not Action.KEEP]
    assert changed.render(dry_run=True) == [
        "LiveKit inbound trunk 'trunkline': would update",
        "    allowed_addresses: [10.0.0.0/8] -> []",
    ]
    assert writes((await planes.api_log())[seen:]) == []
    assert await planes.trunks() == trunks and await planes.rules() == rules
    assert list((await planes.only_trunk()).allowed_addresses) == ["10.0.0.0/8"]
    assert len(planes.twilio.writes) == twilio_before


async def test_a_rule_the_server_refuses_is_named_and_a_rerun_resumes(planes: Planes) -> None:
    # An earlier run stopped after the trunk; since then someone gave that trunk a rule of
    # their own. The server allows one PIN-less rule per trunk and number, so ours conflicts.
    trunk = await planes.add_trunk("trunkline", NUMBER)
    theirs = await planes.add_rule("by-hand", trunk.sip_trunk_id)

    with pytest.raises(ProvisionError) as caught:
        await planes.provision()

    assert str(caught.value) == (
        f"creating the {RULE}: LiveKit said invalid_argument: Dispatch rule for the same "
        "trunk, inbound number, number, and PIN combination already exists in dispatch rule "
        f'"{theirs.sip_dispatch_rule_id}" "by-hand" (HTTP 400)'
    )
    assert [(c.what, c.action) for c in planes.reports[-1]] == [(TRUNK, Action.KEEP)]
    assert await planes.rules() == [theirs]
    assert planes.twilio.writes == []

    await planes.delete_rule(theirs.sip_dispatch_rule_id)
    changes = await planes.provision()

    assert actions(changes)[TRUNK] is Action.KEEP
    assert actions(changes)[RULE] is Action.CREATE
    rule = await planes.only_rule()
    assert list(rule.trunk_ids) == [trunk.sip_trunk_id]
    assert len(planes.twilio.trunks) == 1


async def test_a_trunk_the_server_refuses_stops_the_run_at_its_step(planes: Planes) -> None:
    # Another trunk already takes the number. The server compares numbers with formatting
    # stripped, so it refuses ours even though the other one's number is written differently.
    other = await planes.add_trunk("old-pbx", "+1 (555) 000-1111")

    with pytest.raises(ProvisionError) as caught:
        await planes.provision()

    assert str(caught.value) == (
        f"creating the {TRUNK}: LiveKit said invalid_argument: Conflicting inbound SIP Trunks: "
        f'"<new>" and "{other.sip_trunk_id}", using the same number(s) ["{NUMBER}"] without '
        "AllowedNumbers set (HTTP 400)"
    )
    assert planes.reports[-1] == []
    assert await planes.trunks() == [other] and await planes.rules() == []
    assert planes.twilio.writes == []

    await planes.delete_trunk(other.sip_trunk_id)
    changes = await planes.provision()
    assert [c.action for c in changes] == [Action.CREATE] * 5


async def test_a_server_crash_mid_run_is_named_and_a_restart_resumes(planes: Planes) -> None:
    def crash_after_the_trunk(change: Change) -> None:
        if change.what == TRUNK:
            planes.stack.kill_server()

    with pytest.raises(ProvisionError) as caught:
        await planes.provision(on_report=crash_after_the_trunk)

    assert caught.value.step == f"creating the {RULE}"
    # a pooled connection the crash closed, or no server to connect to
    assert isinstance(caught.value.__cause__, aiohttp.ClientConnectionError)
    assert caught.value.cause.startswith(type(caught.value.__cause__).__name__ + ": ")
    assert planes.twilio.writes == []

    planes.stack.start_server()
    trunk = await planes.only_trunk()  # Redis kept what was written before the crash
    assert await planes.rules() == []
    changes = await planes.provision()

    assert actions(changes)[TRUNK] is Action.KEEP
    assert actions(changes)[RULE] is Action.CREATE
    assert await planes.only_trunk() == trunk
    assert list((await planes.only_rule()).trunk_ids) == [trunk.sip_trunk_id]


async def test_a_failing_twilio_step_is_named(planes: Planes) -> None:
    planes.twilio.fail("POST", r"/OriginationUrls$", 400, 21204, "SipUrl is not reachable")

    with pytest.raises(ProvisionError) as caught:
        await planes.provision()

    assert str(caught.value) == (
        f"creating the Twilio origination URL {SIP_URI}: Twilio said HTTP 400: "
        "Unable to create record: SipUrl is not reachable (Twilio error 21204)"
    )
    assert planes.twilio.trunk_numbers(next(iter(planes.twilio.trunks))) == []


async def test_wrong_credentials_fail_the_first_read_by_name(planes: Planes) -> None:
    with pytest.raises(ProvisionError) as caught:
        await planes.provision(secret="not-the-project-secret-but-long-enough-for-hs256")

    assert str(caught.value) == (
        "listing LiveKit inbound trunks: LiveKit did not accept the API key and secret "
        "(HTTP 401): check LIVEKIT_API_KEY and LIVEKIT_API_SECRET against the project's keys"
    )
    # refused before the SIP service: the server logged no SIP call at all
    assert await planes.api_log() == []
    assert planes.twilio.requests == []


async def test_an_unreachable_server_is_named(planes: Planes) -> None:
    planes.stack.kill_server()

    with pytest.raises(ProvisionError) as caught:
        await planes.provision()

    assert str(caught.value).startswith("listing LiveKit inbound trunks: ClientConnectorError")
    assert planes.twilio.requests == []


async def test_a_number_the_account_lacks_stops_before_any_write(planes: Planes) -> None:
    with pytest.raises(ProvisionError) as caught:
        await planes.provision(replace(SPEC, numbers=(NUMBER, "+15557777777")))

    assert str(caught.value) == (
        "looking up Twilio phone number +15557777777: "
        "this Twilio account has no such number (buy or port it first)"
    )
    assert writes(await planes.api_log()) == []
    assert await planes.trunks() == [] and planes.twilio.writes == []


async def test_two_objects_with_our_name_stop_before_any_write(planes: Planes) -> None:
    # The server does not keep names unique (numbers must differ, names need not).
    first = await planes.add_trunk("trunkline", NUMBER)
    second = await planes.add_trunk("trunkline", SECOND)
    seen = len(await planes.api_log())

    with pytest.raises(ProvisionError) as caught:
        await planes.provision()

    ids = sorted([first.sip_trunk_id, second.sip_trunk_id])
    assert str(caught.value) == (
        f"finding the {TRUNK}: 2 objects have this name ({', '.join(ids)}); "
        "delete or rename all but one"
    )
    assert writes((await planes.api_log())[seen:]) == []
    assert await planes.trunks() == sorted([first, second], key=lambda t: t.sip_trunk_id)
    assert planes.twilio.writes == []


async def test_our_twilio_trunk_is_found_beyond_the_first_page(planes: Planes) -> None:
    planes.twilio.page_size = 2
    for i in range(5):
        planes.twilio.add_trunk(f"other-{i}")
    ours = planes.twilio.add_trunk("trunkline")
    planes.twilio.trunks[ours]["transfer_mode"] = "enable-all"

    changes = await planes.provision()

    assert actions(changes)["Twilio Elastic SIP trunk 'trunkline'"] is Action.KEEP
    assert len(planes.twilio.trunks) == 6
    assert {w.path.split("/")[4] for w in planes.twilio.writes} == {ours}
    pages = [r for r in planes.twilio.requests if r.path.endswith("/v1/Trunks")]
    assert len(pages) == 3


async def test_routing_we_did_not_ask_for_is_reported_not_removed(planes: Planes) -> None:
    trunk = planes.twilio.add_trunk("trunkline")
    planes.twilio.add_origination_url(trunk, "sip:pbx.example.test", priority=1)
    extra = planes.twilio.add_number(SECOND)
    planes.twilio.associate(trunk, extra)

    changes = await planes.provision()

    notes = {c.what: c.notes for c in changes if c.notes and c.action is Action.KEEP}
    assert "left as is, and Twilio also routes calls to it by priority 1" in " ".join(
        notes["Twilio origination URL sip:pbx.example.test"]
    )
    assert notes[f"Twilio phone number {SECOND} on the trunk"] == (
        f"{extra} is not among the numbers given; left associated",
    )
    assert len(planes.twilio.origination_urls[trunk]) == 2
    assert planes.twilio.account_numbers[extra]["trunk_sid"] == trunk
    assert all(w.method == "POST" for w in planes.twilio.writes)


async def test_a_number_on_another_trunk_moves_with_a_note(planes: Planes) -> None:
    other = planes.twilio.add_trunk("old-pbx")
    (number_sid,) = planes.twilio.account_numbers
    planes.twilio.associate(other, number_sid)

    changes = await planes.provision()

    (association,) = [c for c in changes if c.what.startswith("Twilio phone number")]
    assert f"it is on trunk {other} now and moves to this one" in association.notes
    assert planes.twilio.account_numbers[number_sid]["trunk_sid"] != other


async def test_termination_domain_is_managed_only_when_given(planes: Planes) -> None:
    await planes.provision()
    (trunk_sid,) = planes.twilio.trunks
    before = len(planes.twilio.writes)

    changes = await planes.provision(replace(SPEC, twilio_domain="acme.pstn.twilio.com"))

    assert actions(changes)["Twilio Elastic SIP trunk 'trunkline'"] is Action.UPDATE
    assert [(w.path, w.form) for w in planes.twilio.writes[before:]] == [
        (
            f"/trunking.twilio.com/v1/Trunks/{trunk_sid}",
            {"DomainName": "acme.pstn.twilio.com", "TransferMode": "enable-all"},
        )
    ]
    keep = await planes.provision()
    assert actions(keep)["Twilio Elastic SIP trunk 'trunkline'"] is Action.KEEP


async def test_a_number_written_differently_is_the_same_number_to_livekit(
    planes: Planes,
) -> None:
    # Typed by hand with formatting and no '+': the server stores it as typed, but matches
    # calls to it (and checks conflicts) with formatting stripped and '+' added, so the trunk
    # already serves NUMBER and rewriting it would be a write that changes nothing.
    trunk = await planes.add_trunk("trunkline", "1 (555) 000-1111")
    seen = len(await planes.api_log())

    changes = await planes.provision()

    assert actions(changes)[TRUNK] is Action.KEEP
    assert writes((await planes.api_log())[seen:]) == ["CreateSIPDispatchRule"]
    assert await planes.trunks() == [trunk]
    assert list((await planes.only_rule()).trunk_ids) == [trunk.sip_trunk_id]


DIAL_SIP = replace(SPEC, dial_sip=DigestAuth("trunkline", "digest-password-never-shown"))


async def test_dial_sip_puts_credentials_and_the_callsid_header_on_the_trunk_and_leaves_twilio(
    planes: Planes,
) -> None:
    changes = await planes.provision(DIAL_SIP)

    assert [(c.what, c.action) for c in changes] == [(TRUNK, Action.CREATE), (RULE, Action.CREATE)]
    trunk = await planes.only_trunk()
    assert (trunk.auth_username, trunk.auth_password) == (
        "trunkline",
        "digest-password-never-shown",
    )
    assert dict(trunk.headers_to_attributes) == {"X-Trunkline-Call-Sid": "trunkline.call_sid"}
    assert list(trunk.numbers) == [NUMBER]
    assert planes.twilio.writes == []  # the number keeps its voice webhook: the sidecar
    plan = "\n".join(line for c in changes for line in c.render(False))
    assert "digest-password-never-shown" not in plan
    assert "auth_password: (none) -> (ours)" in plan

    again = await planes.provision(DIAL_SIP)
    assert {c.action for c in again} == {Action.KEEP}


async def test_dial_sip_sets_a_changed_password_without_showing_either(planes: Planes) -> None:
    await planes.provision(DIAL_SIP)
    trunk = await planes.only_trunk()
    trunk.auth_password = "set-by-hand"
    trunk.headers_to_attributes["X-Other"] = "other.attribute"
    await planes.replace_trunk(trunk)

    changes = await planes.provision(DIAL_SIP)

    (update,) = [c for c in changes if c.what == TRUNK]
    assert update.render(False) == [f"{TRUNK}: update", "    auth_password: (another) -> (ours)"]
    trunk = await planes.only_trunk()
    assert trunk.auth_password == "digest-password-never-shown"
    assert trunk.headers_to_attributes["X-Other"] == "other.attribute"  # made by hand: kept
