"""The Twilio half: an Elastic SIP trunk that sends our numbers' calls to LiveKit SIP.

Origination is Twilio's word for "calls from the PSTN into your SIP endpoint": the trunk's
origination URL is LiveKit's SIP URI, and each phone number associated with the trunk routes its
calls there (instead of to the number's voice webhook). The trunk is found by friendly name, its
origination URL by ``sip_url`` and numbers by SID, so a second run changes nothing.

Objects on the trunk that we did not ask for (another origination URL, another number) are left
alone and reported: they may be someone's fail-over, and deleting telephony routing nobody asked
to delete is worse than pointing it out.

The Twilio SDK is synchronous (``requests``); the caller runs these functions in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twilio.rest import Client

from sip.provision.plan import (
    Action,
    Change,
    ProvisionError,
    Report,
    Value,
    change_for,
    find_by_name,
    step,
)
from sip.provision.spec import ProvisionSpec

# Stands for the SID of a trunk that a dry run would create but has not.
NEW_TRUNK_SID = "(new trunk)"
ORIGINATION_NAME = "LiveKit SIP"
# One URL, so priority and weight only matter against URLs someone else adds (lowest priority
# wins; weight splits within a priority). These are the values LiveKit's Twilio guide uses.
ORIGINATION_PRIORITY = 1
ORIGINATION_WEIGHT = 1


@dataclass(frozen=True)
class TwilioTrunk:
    sid: str
    name: str
    domain_name: str | None
    transfer_mode: str | None


@dataclass(frozen=True)
class OriginationUrl:
    sid: str
    sip_url: str
    friendly_name: str | None
    priority: int | None
    weight: int | None
    enabled: bool | None


@dataclass(frozen=True)
class AccountNumber:
    """An incoming phone number of the account (the SID a trunk association needs)."""

    sid: str
    phone_number: str
    trunk_sid: str | None
    voice_url: str | None


@dataclass(frozen=True)
class TwilioState:
    trunk: TwilioTrunk | None
    origination_urls: tuple[OriginationUrl, ...]
    trunk_numbers: dict[str, str]  # number SID -> E.164, as associated with the trunk now
    numbers: dict[str, AccountNumber]  # E.164 from the spec -> the account's number


def trunk_what(spec: ProvisionSpec) -> str:
    return f"Twilio Elastic SIP trunk {spec.name!r}"


def origination_what(sip_url: str) -> str:
    return f"Twilio origination URL {sip_url}"


def number_what(number: str) -> str:
    return f"Twilio phone number {number} on the trunk"


def read_twilio(client: Client, spec: ProvisionSpec) -> TwilioState:
    """Everything the plan needs, read before anything is written; unknown numbers stop here."""
    with step("listing Twilio Elastic SIP trunks"):
        trunks = [_trunk(t) for t in client.trunking.v1.trunks.list()]
    trunk = find_by_name(trunks, spec.name, trunk_what(spec), lambda t: t.sid)
    urls: tuple[OriginationUrl, ...] = ()
    trunk_numbers: dict[str, str] = {}
    if trunk is not None:
        with step(f"listing the origination URLs of {trunk_what(spec)}"):
            urls = tuple(
                _url(u) for u in client.trunking.v1.trunks(trunk.sid).origination_urls.list()
            )
        with step(f"listing the phone numbers of {trunk_what(spec)}"):
            listed = client.trunking.v1.trunks(trunk.sid).phone_numbers.list()
            trunk_numbers = {str(n.sid): str(n.phone_number) for n in listed}
    numbers: dict[str, AccountNumber] = {}
    for number in spec.numbers:
        what = f"looking up Twilio phone number {number}"
        with step(what):
            found = client.api.v2010.account.incoming_phone_numbers.list(phone_number=number)
        exact = [_account_number(n) for n in found if n.phone_number == number]
        if not exact:
            raise ProvisionError(
                what, "this Twilio account has no such number (buy or port it first)"
            )
        numbers[number] = exact[0]
    return TwilioState(
        trunk=trunk, origination_urls=urls, trunk_numbers=trunk_numbers, numbers=numbers
    )


def apply_twilio(
    client: Client, spec: ProvisionSpec, state: TwilioState, *, dry_run: bool, report: Report
) -> None:
    trunk_sid = _apply_trunk(client, spec, state.trunk, dry_run=dry_run, report=report)
    _apply_origination(client, spec, state, trunk_sid, dry_run=dry_run, report=report)
    _apply_numbers(client, spec, state, trunk_sid, dry_run=dry_run, report=report)


def _apply_trunk(
    client: Client, spec: ProvisionSpec, trunk: TwilioTrunk | None, *, dry_run: bool, report: Report
) -> str:
    desired: dict[str, Value] = {"transfer_mode": spec.transfer_mode}
    # The domain name matters only for termination (outbound calls); manage it only when given.
    if spec.twilio_domain is not None:
        desired["domain_name"] = spec.twilio_domain
    current = None
    if trunk is not None:
        current = {"transfer_mode": trunk.transfer_mode, "domain_name": trunk.domain_name}
    change = change_for(trunk_what(spec), current, desired)
    sid = NEW_TRUNK_SID if trunk is None else trunk.sid
    if not dry_run and change.action is not Action.KEEP:
        with step(change.step):
            if trunk is None:
                created = client.trunking.v1.trunks.create(
                    friendly_name=spec.name,
                    domain_name=spec.twilio_domain,
                    transfer_mode=spec.transfer_mode,
                )
                sid = _require_sid(created.sid, change)
            else:
                client.trunking.v1.trunks(trunk.sid).update(
                    domain_name=spec.twilio_domain, transfer_mode=spec.transfer_mode
                )
    report(change)
    return sid


def _apply_origination(
    client: Client,
    spec: ProvisionSpec,
    state: TwilioState,
    trunk_sid: str,
    *,
    dry_run: bool,
    report: Report,
) -> None:
    desired: dict[str, Value] = {
        "friendly_name": ORIGINATION_NAME,
        "priority": ORIGINATION_PRIORITY,
        "weight": ORIGINATION_WEIGHT,
        "enabled": True,
    }
    ours = next((u for u in state.origination_urls if u.sip_url == spec.sip_uri), None)
    current = None if ours is None else _url_fields(ours)
    change = change_for(origination_what(spec.sip_uri), current, desired)
    if not dry_run and change.action is not Action.KEEP:
        with step(change.step):
            urls = client.trunking.v1.trunks(trunk_sid).origination_urls
            if ours is None:
                urls.create(sip_url=spec.sip_uri, **desired)
            else:
                urls(ours.sid).update(**desired)
    report(change)
    for other in state.origination_urls:
        if other.sip_url != spec.sip_uri:
            note = (
                "not the LiveKit SIP URI given; left as is, and Twilio also routes calls to it "
                f"by priority {other.priority} / weight {other.weight} (delete it if it is stale)"
            )
            report(Change(Action.KEEP, origination_what(other.sip_url), notes=(note,)))


def _apply_numbers(
    client: Client,
    spec: ProvisionSpec,
    state: TwilioState,
    trunk_sid: str,
    *,
    dry_run: bool,
    report: Report,
) -> None:
    for number in spec.numbers:
        account_number = state.numbers[number]
        if account_number.sid in state.trunk_numbers:
            report(Change(Action.KEEP, number_what(number)))
            continue
        notes: list[str] = []
        if account_number.trunk_sid:
            notes.append(f"it is on trunk {account_number.trunk_sid} now and moves to this one")
        if account_number.voice_url:
            notes.append(
                f"its voice webhook {account_number.voice_url} stops receiving calls "
                "(a number on a trunk routes to the trunk)"
            )
        change = Change(Action.CREATE, number_what(number), notes=tuple(notes))
        if not dry_run:
            with step(change.step):
                trunk = client.trunking.v1.trunks(trunk_sid)
                trunk.phone_numbers.create(phone_number_sid=account_number.sid)
        report(change)
    for sid, number in state.trunk_numbers.items():
        if number not in state.numbers:
            note = f"{sid} is not among the numbers given; left associated"
            report(Change(Action.KEEP, number_what(number), notes=(note,)))


def _url_fields(url: OriginationUrl) -> dict[str, Value]:
    return {
        "friendly_name": url.friendly_name,
        "priority": url.priority,
        "weight": url.weight,
        "enabled": url.enabled,
    }


def _trunk(t: Any) -> TwilioTrunk:
    return TwilioTrunk(
        sid=str(t.sid),
        name=str(t.friendly_name or ""),
        domain_name=t.domain_name,
        transfer_mode=t.transfer_mode,
    )


def _url(u: Any) -> OriginationUrl:
    return OriginationUrl(
        sid=str(u.sid),
        sip_url=str(u.sip_url),
        friendly_name=u.friendly_name,
        priority=None if u.priority is None else int(u.priority),
        weight=None if u.weight is None else int(u.weight),
        enabled=u.enabled,
    )


def _account_number(n: Any) -> AccountNumber:
    return AccountNumber(
        sid=str(n.sid),
        phone_number=str(n.phone_number),
        trunk_sid=n.trunk_sid or None,
        voice_url=n.voice_url or None,
    )


def _require_sid(sid: str | None, change: Change) -> str:
    """The new trunk's SID, which every later step addresses; without it they cannot run."""
    if not sid:
        raise ProvisionError(change.step, "Twilio answered without a SID")
    return sid
