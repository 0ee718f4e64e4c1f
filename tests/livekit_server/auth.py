"""Access tokens: verified with livekit-api's own verifier, grants enforced as LiveKit does.

Using the SDK's ``TokenVerifier`` (not a hand-written JWT check) keeps the server in step with
how tokens are minted: a claim the SDK learns to write, the server learns to read.
"""

from __future__ import annotations

from collections.abc import Mapping

import jwt
from aiohttp import web
from livekit import api
from livekit.api.access_token import Claims
from livekit.protocol import models


class AuthError(Exception):
    """A request the server refuses; ``status`` is the HTTP status LiveKit answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def unauthenticated(message: str) -> AuthError:
    return AuthError(401, message)


def permission_denied(message: str) -> AuthError:
    return AuthError(403, message)


def bearer_token(request: web.Request) -> str:
    """The token from ``Authorization: Bearer`` (SDKs) or ``?access_token=`` (browsers)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    query_token = request.query.get("access_token", "")
    if query_token:
        return query_token
    raise unauthenticated("no access token: send Authorization: Bearer <jwt>")


_KINDS: Mapping[str, models.ParticipantInfo.Kind] = {
    "": models.ParticipantInfo.Kind.STANDARD,
    "standard": models.ParticipantInfo.Kind.STANDARD,
    "ingress": models.ParticipantInfo.Kind.INGRESS,
    "egress": models.ParticipantInfo.Kind.EGRESS,
    "sip": models.ParticipantInfo.Kind.SIP,
    "agent": models.ParticipantInfo.Kind.AGENT,
    "connector": models.ParticipantInfo.Kind.CONNECTOR,
    "bridge": models.ParticipantInfo.Kind.BRIDGE,
}

_SOURCES: Mapping[str, models.TrackSource] = {
    "camera": models.TrackSource.CAMERA,
    "microphone": models.TrackSource.MICROPHONE,
    "screen_share": models.TrackSource.SCREEN_SHARE,
    "screen_share_audio": models.TrackSource.SCREEN_SHARE_AUDIO,
}

_SOURCE_NAMES = {value: name for name, value in _SOURCES.items()}


def participant_kind(claims: Claims) -> models.ParticipantInfo.Kind:
    """The token's ``kind``; like LiveKit, an unknown kind is a standard participant."""
    return _KINDS.get(claims.kind.lower(), models.ParticipantInfo.Kind.STANDARD)


def video_grants(claims: Claims) -> api.VideoGrants:
    return claims.video if claims.video is not None else api.VideoGrants()


def permission(claims: Claims) -> models.ParticipantPermission:
    """What the holder may do in a room, as other participants see it in ParticipantInfo."""
    video = video_grants(claims)
    sources = [_SOURCES[s] for s in (video.can_publish_sources or []) if s in _SOURCES]
    return models.ParticipantPermission(
        can_subscribe=video.can_subscribe,
        can_publish=video.can_publish,
        can_publish_data=video.can_publish_data,
        can_publish_sources=sources,
        hidden=bool(video.hidden),
        recorder=bool(video.recorder),
        can_update_metadata=bool(video.can_update_own_metadata),
        agent=bool(video.agent) or participant_kind(claims) == models.ParticipantInfo.Kind.AGENT,
        can_subscribe_metrics=bool(video.can_subscribe_metrics),
    )


def may_publish_source(perm: models.ParticipantPermission, source: models.TrackSource) -> bool:
    """LiveKit's rule: a non-empty source list supersedes the plain can_publish flag."""
    if not perm.can_publish:
        return False
    return not perm.can_publish_sources or source in perm.can_publish_sources


class Authenticator:
    """Verifies tokens issued with this server's key/secret and mints the ones it issues."""

    def __init__(self, api_key: str, api_secret: str) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self._verifier = api.TokenVerifier(api_key, api_secret)

    def verify(self, token: str) -> Claims:
        try:
            return self._verifier.verify(token)
        except jwt.PyJWTError as exc:
            raise unauthenticated(f"invalid access token: {exc}") from exc
        except (TypeError, ValueError, AttributeError) as exc:
            # a well-signed token whose grants have the wrong shape (e.g. "video": "x")
            raise unauthenticated(f"malformed access token claims: {exc}") from exc

    def verify_room_join(self, token: str) -> Claims:
        """Claims of a token that may join a room: a grant, a room name and an identity."""
        claims = self.verify(token)
        video = video_grants(claims)
        if not video.room_join:
            raise unauthenticated("token lacks the roomJoin grant")
        if not video.room:
            raise unauthenticated("token names no room")
        if not claims.identity:
            raise unauthenticated("token has no identity (sub)")
        return claims

    def agent_token(
        self,
        *,
        room: str,
        identity: str,
        name: str,
        metadata: str,
        attributes: Mapping[str, str],
        allowed: models.ParticipantPermission,
    ) -> str:
        """The room token a job assignment carries: kind=agent, the worker's permissions."""
        grants = api.VideoGrants(
            room_join=True,
            room=room,
            can_publish=allowed.can_publish,
            can_subscribe=allowed.can_subscribe,
            can_publish_data=allowed.can_publish_data,
            can_update_own_metadata=allowed.can_update_metadata,
            can_publish_sources=[_SOURCE_NAMES[s] for s in allowed.can_publish_sources] or None,
            hidden=allowed.hidden,
            agent=True,
        )
        return (
            api.AccessToken(self.api_key, self.api_secret)
            .with_identity(identity)
            .with_name(name)
            .with_metadata(metadata)
            .with_attributes(dict(attributes))
            .with_kind("agent")
            .with_grants(grants)
            .to_jwt()
        )
