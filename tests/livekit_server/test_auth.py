"""Tokens: verified with LiveKit's verifier, kinds and permissions read as LiveKit reads them."""

from __future__ import annotations

import datetime

import jwt
import pytest
from aiohttp.test_utils import make_mocked_request
from livekit import api
from livekit.protocol import models

from . import auth

AUTH = auth.Authenticator("devkey", "secret")
Kind = models.ParticipantInfo.Kind


def token(
    *,
    key: str = "devkey",
    secret: str = "secret",
    identity: str = "who",
    grants: api.VideoGrants | None = None,
    kind: api.AccessToken.ParticipantKind = "standard",
    ttl: datetime.timedelta = datetime.timedelta(minutes=5),
) -> str:
    return (
        api.AccessToken(key, secret)
        .with_identity(identity)
        .with_kind(kind)
        .with_ttl(ttl)
        .with_grants(grants or api.VideoGrants(room_join=True, room="r"))
        .to_jwt()
    )


def test_a_join_token_is_accepted() -> None:
    claims = AUTH.verify_room_join(token(kind="sip"))
    assert (claims.identity, auth.participant_kind(claims)) == ("who", Kind.SIP)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (token(secret="other-secret"), "invalid"),
        (token(key="other-key"), "invalid"),
        (token(ttl=datetime.timedelta(minutes=-5)), "invalid"),
        (token(grants=api.VideoGrants(room="r")), "roomJoin"),
        ("garbage", "invalid"),
    ],
)
def test_bad_join_tokens_are_unauthenticated(bad: str, reason: str) -> None:
    with pytest.raises(auth.AuthError, match=reason) as refused:
        AUTH.verify_room_join(bad)
    assert refused.value.status == 401


def handmade(claims: dict[str, object]) -> str:
    """Tokens AccessToken refuses to mint, as a buggy or foreign minter could."""
    expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5)
    return jwt.encode({"iss": "devkey", "exp": expiry, **claims}, "secret", algorithm="HS256")


def test_a_join_token_needs_a_room_and_an_identity() -> None:
    with pytest.raises(auth.AuthError, match="no room"):
        AUTH.verify_room_join(handmade({"sub": "x", "video": {"roomJoin": True}}))
    with pytest.raises(auth.AuthError, match="identity"):
        AUTH.verify_room_join(handmade({"video": {"roomJoin": True, "room": "r"}}))
    with pytest.raises(auth.AuthError, match="malformed"):
        AUTH.verify_room_join(handmade({"sub": "x", "video": "room=r"}))


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("standard", Kind.STANDARD), ("agent", Kind.AGENT), ("sip", Kind.SIP), ("", Kind.STANDARD)],
)
def test_kinds(kind: api.AccessToken.ParticipantKind, expected: int) -> None:
    assert auth.participant_kind(AUTH.verify(token(kind=kind))) == expected


def test_permissions_follow_the_grants() -> None:
    defaults = auth.permission(AUTH.verify(token()))
    assert (defaults.can_publish, defaults.can_subscribe, defaults.can_publish_data) == (
        True,
        True,
        True,
    )
    assert not defaults.can_update_metadata and not defaults.hidden and not defaults.agent
    limited = api.VideoGrants(
        room_join=True,
        room="r",
        can_subscribe=False,
        can_update_own_metadata=True,
        can_publish_sources=["microphone"],
        hidden=True,
    )
    perm = auth.permission(AUTH.verify(token(grants=limited, kind="agent")))
    assert not perm.can_subscribe and perm.can_update_metadata and perm.hidden and perm.agent
    assert auth.may_publish_source(perm, models.TrackSource.MICROPHONE)
    assert not auth.may_publish_source(perm, models.TrackSource.SCREEN_SHARE_AUDIO)
    muted = auth.permission(AUTH.verify(token(grants=api.VideoGrants(can_publish=False))))
    assert not auth.may_publish_source(muted, models.TrackSource.MICROPHONE)


def test_agent_tokens_carry_what_the_worker_chose() -> None:
    allowed = models.ParticipantPermission(
        can_publish=True, can_subscribe=True, can_publish_data=True, can_update_metadata=True
    )
    minted = AUTH.agent_token(
        room="call",
        identity="agent-AJ_1",
        name="Agent",
        metadata="md",
        attributes={"lk.agent.name": "a"},
        allowed=allowed,
    )
    claims = AUTH.verify_room_join(minted)
    assert (claims.identity, claims.name, claims.metadata, claims.kind) == (
        "agent-AJ_1",
        "Agent",
        "md",
        "agent",
    )
    assert claims.attributes == {"lk.agent.name": "a"}
    perm = auth.permission(claims)
    assert perm.agent and perm.can_update_metadata and not perm.hidden


def test_bearer_tokens_come_from_the_header_or_the_query() -> None:
    header = make_mocked_request("GET", "/rtc", headers={"Authorization": "Bearer abc"})
    assert auth.bearer_token(header) == "abc"
    query = make_mocked_request("GET", "/rtc?access_token=def")
    assert auth.bearer_token(query) == "def"
    with pytest.raises(auth.AuthError) as missing:
        auth.bearer_token(make_mocked_request("GET", "/rtc"))
    assert missing.value.status == 401
