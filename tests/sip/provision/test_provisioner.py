"""Provisioning against both control planes on loopback: create, no-op, drift, dry run, failure."""

from __future__ import annotations

from dataclasses import replace

import pytest
from livekit import api

from sip.provision.plan import Action, Change, ProvisionError
from tests.sip.provision.conftest import NUMBER, SIP_URI, SPEC, Planes

SECOND = "+15550002222"


def actions(changes: list[Change]) -> dict[str, Action]:
    return {c.what: c.action for c in changes}


def only_trunk(planes: Planes) -> api.SIPInboundTrunkInfo:
    (trunk,) = planes.livekit.trunks.values()
    return trunk


def only_rule(planes: Planes) -> api.SIPDispatchRuleInfo:
    (rule,) = planes.livekit.rules.values()
    return rule


async def test_fresh_create_makes_every_object(planes: Planes) -> None:
    spec = replace(SPEC, allowed_addresses=("54.172.60.0/30",))
    changes = await planes.provision(spec)

    assert [c.action for c in changes] == [Action.CREATE] * 5
    assert planes.livekit.writes == ["CreateSIPInboundTrunk", "CreateSIPDispatchRule"]
    trunk = only_trunk(planes)
    assert (trunk.name, list(trunk.numbers)) == ("trunkline", [NUMBER])
    assert list(trunk.allowed_addresses) == ["54.172.60.0/30"]
    rule = only_rule(planes)
    assert rule.name == "trunkline"
    assert rule.rule.dispatch_rule_individual.room_prefix == "call-"
    assert list(rule.trunk_ids) == [trunk.sip_trunk_id]
    assert [a.agent_name for a in rule.room_config.agents] == ["trunkline"]

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


async def test_second_run_changes_nothing(planes: Planes) -> None:
    await planes.provision()
    livekit_writes, twilio_writes = len(planes.livekit.writes), len(planes.twilio.writes)

    changes = await planes.provision()

    assert {c.action for c in changes} == {Action.KEEP}
    assert len(changes) == 5
    assert len(planes.livekit.writes) == livekit_writes
    assert len(planes.twilio.writes) == twilio_writes


async def test_drift_is_put_back_and_hand_made_settings_survive(planes: Planes) -> None:
    await planes.provision()
    trunk, rule = only_trunk(planes), only_rule(planes)
    del trunk.numbers[:]
    trunk.numbers.append("+15559999999")
    trunk.krisp_enabled = True  # set by hand in the console: not ours to undo
    del rule.room_config.agents[:]
    rule.room_config.agents.append(api.RoomAgentDispatch(agent_name="someone-else"))
    rule.rule.dispatch_rule_individual.pin = "1234"
    rule.hide_phone_number = True
    (trunk_sid,) = planes.twilio.trunks
    planes.twilio.trunks[trunk_sid]["transfer_mode"] = "disable-all"
    (url,) = planes.twilio.origination_urls[trunk_sid].values()
    url.update(enabled=False, weight=5)
    for number in planes.twilio.account_numbers.values():
        number["trunk_sid"] = None
    livekit_before, twilio_before = len(planes.livekit.writes), len(planes.twilio.writes)

    changes = await planes.provision()

    assert actions(changes) == {
        "LiveKit inbound trunk 'trunkline'": Action.UPDATE,
        "LiveKit dispatch rule 'trunkline'": Action.UPDATE,
        "Twilio Elastic SIP trunk 'trunkline'": Action.UPDATE,
        f"Twilio origination URL {SIP_URI}": Action.UPDATE,
        f"Twilio phone number {NUMBER} on the trunk": Action.CREATE,
    }
    assert planes.livekit.writes[livekit_before:] == [
        "UpdateSIPInboundTrunk",
        "UpdateSIPDispatchRule",
    ]
    trunk, rule = only_trunk(planes), only_rule(planes)
    assert list(trunk.numbers) == [NUMBER] and trunk.krisp_enabled
    assert [a.agent_name for a in rule.room_config.agents] == ["trunkline"]
    assert rule.rule.dispatch_rule_individual.pin == "" and rule.hide_phone_number
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
    twilio_before = len(planes.twilio.writes)

    changes = await planes.provision(
        replace(SPEC, numbers=(NUMBER, SECOND), agent_name="front-desk")
    )

    assert actions(changes)["LiveKit inbound trunk 'trunkline'"] is Action.UPDATE
    assert actions(changes)["LiveKit dispatch rule 'trunkline'"] is Action.UPDATE
    assert actions(changes)[f"Twilio phone number {NUMBER} on the trunk"] is Action.KEEP
    assert actions(changes)[f"Twilio phone number {SECOND} on the trunk"] is Action.CREATE
    second_sid = next(
        s for s, n in planes.twilio.account_numbers.items() if n["phone_number"] == SECOND
    )
    assert [w.form for w in planes.twilio.writes[twilio_before:]] == [
        {"PhoneNumberSid": second_sid}
    ]
    assert sorted(only_trunk(planes).numbers) == [NUMBER, SECOND]
    assert [a.agent_name for a in only_rule(planes).room_config.agents] == ["front-desk"]


async def test_dry_run_reads_and_reports_but_writes_nothing(planes: Planes) -> None:
    changes = await planes.provision(dry_run=True)

    assert [c.action for c in changes] == [Action.CREATE] * 5
    assert planes.livekit.writes == [] and planes.twilio.writes == []
    assert planes.livekit.requests("ListSIPInboundTrunk") and planes.twilio.requests
    rule = next(c for c in changes if c.what.startswith("LiveKit dispatch rule"))
    assert rule.render(dry_run=True)[0].endswith(": would create")
    assert "    trunk_ids: (none) -> [(new trunk)]" in rule.render(dry_run=True)


async def test_dry_run_over_drift_shows_the_diff_and_writes_nothing(planes: Planes) -> None:
    await planes.provision()
    only_trunk(planes).allowed_addresses.append("10.0.0.0/8")
    livekit_before, twilio_before = len(planes.livekit.writes), len(planes.twilio.writes)

    changes = await planes.provision(dry_run=True)

    (changed,) = [c for c in changes if c.action is not Action.KEEP]
    assert changed.render(dry_run=True) == [
        "LiveKit inbound trunk 'trunkline': would update",
        "    allowed_addresses: [10.0.0.0/8] -> []",
    ]
    assert len(planes.livekit.writes) == livekit_before
    assert len(planes.twilio.writes) == twilio_before
    assert list(only_trunk(planes).allowed_addresses) == ["10.0.0.0/8"]


async def test_a_failing_livekit_step_is_named_and_a_rerun_resumes(planes: Planes) -> None:
    planes.livekit.fail("CreateSIPDispatchRule", "invalid_argument", "rule conflicts with SDR_x")

    with pytest.raises(ProvisionError) as caught:
        await planes.provision()

    assert str(caught.value) == (
        "creating the LiveKit dispatch rule 'trunkline': "
        "LiveKit said invalid_argument: rule conflicts with SDR_x (HTTP 400)"
    )
    assert [c.what for c in planes.reports[-1]] == ["LiveKit inbound trunk 'trunkline'"]
    assert planes.twilio.writes == []

    planes.livekit.heal()
    changes = await planes.provision()
    assert actions(changes)["LiveKit inbound trunk 'trunkline'"] is Action.KEEP
    assert actions(changes)["LiveKit dispatch rule 'trunkline'"] is Action.CREATE


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

    assert str(caught.value).startswith(
        "listing LiveKit inbound trunks: LiveKit did not accept the API key and secret (HTTP 401)"
    )
    assert planes.livekit.writes == [] and planes.twilio.requests == []


async def test_an_unreachable_server_is_named(planes: Planes) -> None:
    planes.livekit_url = "http://127.0.0.1:9"  # discard port: nothing listens there

    with pytest.raises(ProvisionError) as caught:
        await planes.provision()

    assert str(caught.value).startswith("listing LiveKit inbound trunks: ClientConnectorError")


async def test_a_number_the_account_lacks_stops_before_any_write(planes: Planes) -> None:
    with pytest.raises(ProvisionError) as caught:
        await planes.provision(replace(SPEC, numbers=(NUMBER, "+15557777777")))

    assert str(caught.value) == (
        "looking up Twilio phone number +15557777777: "
        "this Twilio account has no such number (buy or port it first)"
    )
    assert planes.livekit.writes == [] and planes.twilio.writes == []


async def test_two_objects_with_our_name_stop_before_any_write(planes: Planes) -> None:
    for _ in range(2):
        planes.livekit.add_trunk(api.SIPInboundTrunkInfo(name="trunkline", numbers=[NUMBER]))

    with pytest.raises(ProvisionError) as caught:
        await planes.provision()

    assert str(caught.value).startswith(
        "finding the LiveKit inbound trunk 'trunkline': 2 objects have this name (ST_"
    )
    assert planes.livekit.writes == [] and planes.twilio.writes == []


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
