"""The LiveKit half: an inbound SIP trunk for the numbers and a dispatch rule naming the agent.

The trunk admits calls to our numbers (Twilio Elastic SIP cannot authenticate with a username
and password towards LiveKit, so numbers and, optionally, source addresses are the gate). For
the one-number split (``--dial-sip``) Twilio Programmable Voice dials the trunk instead, and it
can answer a digest challenge: the trunk then also asks for a username and password, and maps
the CallSid header the sidecar adds to the attribute the agent names the call by. The password
is compared, never shown: a plan says only whether it is set to ours. The
individual-room rule puts each caller in a fresh room and its ``room_config`` dispatches the
worker by ``agent_name``: a worker with an agent name is never dispatched automatically, so
without this the caller would sit in an empty room.

Updates replace the whole object (the SIP update-fields message cannot carry ``room_config``),
so the replacement starts from the existing object and changes only the fields we manage;
anything set by hand in the LiveKit console (Krisp, headers, timeouts) survives.

A trunk's numbers are stored as typed, but LiveKit matches calls against them (and refuses a
second trunk for one of them) in a normal form, so they are compared in that form: a trunk
that already holds our number written as ``1 (555) 000-1111`` is not rewritten.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeVar

from livekit import api
from livekit.api.sip_service import SipService

from agent.bridge_contract import CALL_SID_ATTRIBUTE
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
from sip.sidecar.routing import CALL_SID_HEADER

# Stands for the id of a trunk that a dry run would create but has not.
NEW_TRUNK_ID = "(new trunk)"


@dataclass(frozen=True)
class LiveKitState:
    trunk: api.SIPInboundTrunkInfo | None
    rule: api.SIPDispatchRuleInfo | None


def trunk_what(spec: ProvisionSpec) -> str:
    return f"LiveKit inbound trunk {spec.name!r}"


def rule_what(spec: ProvisionSpec) -> str:
    return f"LiveKit dispatch rule {spec.name!r}"


async def read_livekit(sip: SipService, spec: ProvisionSpec) -> LiveKitState:
    with step("listing LiveKit inbound trunks"):
        trunks = (await sip.list_inbound_trunk(api.ListSIPInboundTrunkRequest())).items
    with step("listing LiveKit dispatch rules"):
        rules = (await sip.list_dispatch_rule(api.ListSIPDispatchRuleRequest())).items
    trunk = find_by_name(trunks, spec.name, trunk_what(spec), lambda t: t.sip_trunk_id)
    rule = find_by_name(rules, spec.name, rule_what(spec), lambda r: r.sip_dispatch_rule_id)
    return LiveKitState(trunk=trunk, rule=rule)


_LIVEKIT_NUMBER = re.compile(r"\+?[0-9\- ()]+")
_NUMBER_FORMATTING = str.maketrans("", "", " -()")


def livekit_number(number: str) -> str:
    """``number`` as LiveKit compares numbers (livekit/protocol's ``NormalizeNumber``).

    Spaces, dashes and parentheses are dropped and a ``+`` added; anything that is not such a
    number (a SIP user name, say) is compared as it is.
    """
    if not _LIVEKIT_NUMBER.fullmatch(number):
        return number
    digits = number.translate(_NUMBER_FORMATTING)
    return digits if digits.startswith("+") else f"+{digits}"


#: How a plan shows the trunk's password: whether it is ours, never what it is.
PASSWORD_OURS = "(ours)"
PASSWORD_OTHER = "(another)"


def trunk_fields(trunk: api.SIPInboundTrunkInfo, spec: ProvisionSpec) -> dict[str, Value]:
    fields: dict[str, Value] = {
        "numbers": tuple(livekit_number(n) for n in trunk.numbers),
        "allowed_addresses": tuple(trunk.allowed_addresses),
    }
    if spec.dial_sip is not None:
        password = trunk.auth_password
        fields["auth_username"] = trunk.auth_username or None
        fields["auth_password"] = (
            None
            if not password
            else PASSWORD_OURS
            if password == spec.dial_sip.password
            else PASSWORD_OTHER
        )
        fields["call_sid_header"] = trunk.headers_to_attributes.get(CALL_SID_HEADER)
    return fields


def desired_trunk_fields(spec: ProvisionSpec) -> dict[str, Value]:
    fields: dict[str, Value] = {
        "numbers": spec.numbers,
        "allowed_addresses": spec.allowed_addresses,
    }
    if spec.dial_sip is not None:
        fields["auth_username"] = spec.dial_sip.username
        fields["auth_password"] = PASSWORD_OURS
        fields["call_sid_header"] = CALL_SID_ATTRIBUTE
    return fields


def rule_fields(rule: api.SIPDispatchRuleInfo) -> dict[str, Value]:
    return {
        "rule": describe_rule(rule.rule),
        "trunk_ids": tuple(rule.trunk_ids),
        "agents": tuple(a.agent_name for a in rule.room_config.agents),
    }


def desired_rule_fields(spec: ProvisionSpec, trunk_id: str) -> dict[str, Value]:
    return {
        "rule": describe_rule(_individual(spec)),
        "trunk_ids": (trunk_id,),
        "agents": (spec.agent_name,),
    }


def describe_rule(rule: api.SIPDispatchRule) -> str:
    """A comparable one-line form of the oneof, including the parts that change routing."""
    kind = rule.WhichOneof("rule")
    if kind == "dispatch_rule_individual":
        r = rule.dispatch_rule_individual
        extra = (" with pin" if r.pin else "") + (" no_randomness" if r.no_randomness else "")
        return f"individual room_prefix={r.room_prefix!r}{extra}"
    if kind == "dispatch_rule_direct":
        return f"direct room_name={rule.dispatch_rule_direct.room_name!r}"
    if kind == "dispatch_rule_callee":
        return f"callee room_prefix={rule.dispatch_rule_callee.room_prefix!r}"
    return "(none)"


async def apply_livekit(
    sip: SipService, spec: ProvisionSpec, state: LiveKitState, *, dry_run: bool, report: Report
) -> None:
    """Bring the trunk, then the rule (which refers to the trunk's id), to the desired state."""
    trunk_id = await _apply_trunk(sip, spec, state.trunk, dry_run=dry_run, report=report)
    await _apply_rule(sip, spec, state.rule, trunk_id, dry_run=dry_run, report=report)


async def _apply_trunk(
    sip: SipService,
    spec: ProvisionSpec,
    trunk: api.SIPInboundTrunkInfo | None,
    *,
    dry_run: bool,
    report: Report,
) -> str:
    current = None if trunk is None else trunk_fields(trunk, spec)
    change = change_for(trunk_what(spec), current, desired_trunk_fields(spec))
    trunk_id = NEW_TRUNK_ID if trunk is None else trunk.sip_trunk_id
    if not dry_run and change.action is not Action.KEEP:
        with step(change.step):
            if trunk is None:
                info = api.SIPInboundTrunkInfo(
                    name=spec.name,
                    numbers=spec.numbers,
                    allowed_addresses=spec.allowed_addresses,
                )
                _set_auth(info, spec)
                created = await sip.create_inbound_trunk(
                    api.CreateSIPInboundTrunkRequest(trunk=info)
                )
                trunk_id = _require_id(created.sip_trunk_id, change)
            else:
                await sip.update_inbound_trunk(trunk_id, _replaced_trunk(trunk, spec))
    report(change)
    return trunk_id


async def _apply_rule(
    sip: SipService,
    spec: ProvisionSpec,
    rule: api.SIPDispatchRuleInfo | None,
    trunk_id: str,
    *,
    dry_run: bool,
    report: Report,
) -> None:
    current = None if rule is None else rule_fields(rule)
    change = change_for(rule_what(spec), current, desired_rule_fields(spec, trunk_id))
    if not dry_run and change.action is not Action.KEEP:
        with step(change.step):
            if rule is None:
                info = api.SIPDispatchRuleInfo(name=spec.name)
                _set_managed_rule_fields(info, spec, trunk_id)
                await sip.create_dispatch_rule(api.CreateSIPDispatchRuleRequest(dispatch_rule=info))
            else:
                replacement = _without_timestamps(rule)
                _set_managed_rule_fields(replacement, spec, trunk_id)
                await sip.update_dispatch_rule(rule.sip_dispatch_rule_id, replacement)
    report(change)


def _individual(spec: ProvisionSpec) -> api.SIPDispatchRule:
    return api.SIPDispatchRule(
        dispatch_rule_individual=api.SIPDispatchRuleIndividual(room_prefix=spec.room_prefix)
    )


def _set_managed_rule_fields(
    info: api.SIPDispatchRuleInfo, spec: ProvisionSpec, trunk_id: str
) -> None:
    info.rule.CopyFrom(_individual(spec))
    del info.trunk_ids[:]
    info.trunk_ids.append(trunk_id)
    del info.room_config.agents[:]
    info.room_config.agents.append(api.RoomAgentDispatch(agent_name=spec.agent_name))


def _replaced_trunk(trunk: api.SIPInboundTrunkInfo, spec: ProvisionSpec) -> api.SIPInboundTrunkInfo:
    replacement = _without_timestamps(trunk)
    del replacement.numbers[:]
    replacement.numbers.extend(spec.numbers)
    del replacement.allowed_addresses[:]
    replacement.allowed_addresses.extend(spec.allowed_addresses)
    _set_auth(replacement, spec)
    return replacement


def _set_auth(info: api.SIPInboundTrunkInfo, spec: ProvisionSpec) -> None:
    """``--dial-sip``: the digest credentials, and the CallSid header mapped to the attribute
    (other header mappings made by hand stay)."""
    if spec.dial_sip is None:
        return
    info.auth_username = spec.dial_sip.username
    info.auth_password = spec.dial_sip.password
    info.headers_to_attributes[CALL_SID_HEADER] = CALL_SID_ATTRIBUTE


M = TypeVar("M", api.SIPInboundTrunkInfo, api.SIPDispatchRuleInfo)


def _without_timestamps(message: M) -> M:
    """A copy without the server-set creation/update times, which a replacement must not claim."""
    copy = type(message)()
    copy.CopyFrom(message)
    copy.ClearField("created_at")
    copy.ClearField("updated_at")
    return copy


def _require_id(ident: str, change: Change) -> str:
    """The new trunk's id, which the dispatch rule must name; without it the rule matches none."""
    if not ident:
        raise ProvisionError(change.step, "LiveKit answered without an id")
    return ident
