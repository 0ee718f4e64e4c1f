"""The ``/rtc`` WebSocket: join, then one protobuf ``SignalRequest`` at a time.

The connection sequence the SDKs need (verified with livekit 1.1.21): ``/rtc/v1`` answers 404
so the SDK falls back to ``/rtc`` (dual peer connections); the first message is the
``JoinResponse`` with non-zero ping settings; the client then offers its publisher connection
and the server answers. Everything a client asks for that this server does not implement is
logged and ignored, as an older LiveKit server would.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from aiohttp import WSMsgType, web
from google.protobuf.message import DecodeError
from livekit.protocol import models, rtc

from . import auth, data, ids
from .media import LOSSY_LABEL, RELIABLE_LABEL
from .participant import Participant
from .room import Room, RoomError, RoomRegistry

logger = logging.getLogger(__name__)

Reason = models.DisconnectReason
RequestReason = rtc.RequestResponse.Reason

SERVER_VERSION = "1.9.0"
PROTOCOL_VERSION = 16
_DATA_KINDS = {
    RELIABLE_LABEL: models.DataPacket.Kind.RELIABLE,
    LOSSY_LABEL: models.DataPacket.Kind.LOSSY,
}
_IGNORED = frozenset(
    {
        "track_setting",
        "update_layers",
        "subscription_permission",
        "sync_state",
        "simulate",
        "update_audio_track",
        "update_video_track",
        "update_data_subscription",
    }
)


@dataclass(frozen=True)
class SignalSettings:
    ping_interval_s: int = 5
    ping_timeout_s: int = 15


class SignalServer:
    """aiohttp handlers for ``/rtc`` and ``/rtc/validate``."""

    def __init__(
        self, authenticator: auth.Authenticator, rooms: RoomRegistry, settings: SignalSettings
    ) -> None:
        self.auth = authenticator
        self.rooms = rooms
        self.settings = settings
        self.node_id = ids.new_id(ids.NODE)

    def server_info(self) -> models.ServerInfo:
        return models.ServerInfo(
            edition=models.ServerInfo.Edition.Standard,
            version=SERVER_VERSION,
            protocol=PROTOCOL_VERSION,
            node_id=self.node_id,
        )

    async def validate(self, request: web.Request) -> web.Response:
        """What the SDK asks after a failed connect, to report a precise reason."""
        try:
            self.auth.verify_room_join(auth.bearer_token(request))
        except auth.AuthError as exc:
            return web.Response(status=exc.status, text=exc.message)
        return web.Response(text="success")

    async def connect(self, request: web.Request) -> web.StreamResponse:
        try:
            claims = self.auth.verify_room_join(auth.bearer_token(request))
        except auth.AuthError as exc:
            return web.Response(status=exc.status, text=exc.message)
        if request.query.get("reconnect") == "1":
            return await self._refuse_resume(request)
        video = auth.video_grants(claims)
        room = self.rooms.get_or_create(video.room, self.rooms.settings(claims.room_config))
        participant = Participant(claims, auto_subscribe=request.query.get("auto_subscribe") != "0")
        try:
            room.join(participant)
        except RoomError as exc:
            return web.Response(status=403, text=str(exc))
        ws = web.WebSocketResponse()
        try:
            await ws.prepare(request)
        except BaseException:
            room.leave(participant, Reason.JOIN_FAILURE)
            raise
        session = Session(ws, room, participant)
        participant.send(
            rtc.SignalResponse(
                join=rtc.JoinResponse(
                    room=room.info(),
                    participant=participant.info(),
                    other_participants=room.visible_others(participant),
                    server_version=SERVER_VERSION,
                    server_info=self.server_info(),
                    subscriber_primary=False,
                    ping_interval=self.settings.ping_interval_s,
                    ping_timeout=self.settings.ping_timeout_s,
                )
            )
        )
        await session.run()
        return ws

    async def _refuse_resume(self, request: web.Request) -> web.WebSocketResponse:
        """Sessions are not resumable here: tell the SDK at once to rejoin from scratch.

        An SDK whose signal connection dropped first tries to resume it; a Leave with the
        RECONNECT action as the first message makes it do a full reconnect (a new join)
        instead of waiting for a ReconnectResponse that would never come.
        """
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        leave = rtc.LeaveRequest(
            reason=Reason.STATE_MISMATCH, action=rtc.LeaveRequest.Action.RECONNECT
        )
        await ws.send_bytes(rtc.SignalResponse(leave=leave).SerializeToString())
        await ws.close()
        return ws


class Session:
    """One participant's signalling connection, from join to leave."""

    def __init__(self, ws: web.WebSocketResponse, room: Room, participant: Participant) -> None:
        self.ws = ws
        self.room = room
        self.participant = participant
        self.leave_reason: Reason = Reason.SIGNAL_CLOSE

    async def run(self) -> None:
        p = self.participant
        p.connect_media(
            on_error=self._media_failed,
            on_tracks=lambda tracks: self.room.tracks_received(p, tracks),
            on_data=self._on_data,
            on_connected=lambda: self.room.activate(p),
        )
        self.room.subscribe_existing(p)
        write_task = asyncio.create_task(self._write_loop())
        try:
            async for message in self.ws:
                if message.type != WSMsgType.BINARY:
                    logger.warning("%s sent a non-binary signal message; ignored", p.identity)
                    continue
                request = rtc.SignalRequest()
                try:
                    request.ParseFromString(message.data)
                except DecodeError:
                    logger.warning("%s sent an undecodable signal message", p.identity)
                    continue
                if not self._handle(request):
                    break
        finally:
            self.room.leave(p, self.leave_reason)
            p.end_signal()
            await write_task
            await p.close_media()
            await self.ws.close()

    async def _write_loop(self) -> None:
        while (response := await self.participant.next_outgoing()) is not None:
            if self.ws.closed:
                return
            try:
                await self.ws.send_bytes(response.SerializeToString())
            except ConnectionError:
                return
        await self.ws.close()

    def _media_failed(self, message: str) -> None:
        logger.warning("media of %s failed: %s", self.participant.identity, message)
        self.room.remove(self.participant, Reason.MEDIA_FAILURE)

    def _on_data(self, label: str, payload: bytes) -> None:
        p = self.participant
        kind = _DATA_KINDS.get(label)
        if kind is None or not p.permission.can_publish_data or not p.connected:
            return
        try:
            packet = data.decode(payload)
        except data.DataError as exc:
            logger.warning("data from %s dropped: %s", p.identity, exc)
            return
        prepared = data.prepare(p, packet, kind)
        if prepared is not None:
            self.room.forward_data(p, prepared, kind)

    def _handle(self, request: rtc.SignalRequest) -> bool:
        """Act on one request; False when the client leaves."""
        p = self.participant
        which = request.WhichOneof("message")
        assert p.publisher is not None and p.subscriber is not None
        if which == "offer":
            p.publisher.handle_offer(request.offer)
        elif which == "answer":
            p.subscriber.handle_answer(request.answer)
        elif which == "trickle":
            transport = (
                p.subscriber
                if request.trickle.target == rtc.SignalTarget.SUBSCRIBER
                else p.publisher
            )
            transport.add_candidate(request.trickle.candidateInit)
        elif which == "add_track":
            self._add_track(request.add_track)
        elif which == "mute":
            self._mute(request.mute)
        elif which == "subscription":
            sub = request.subscription
            sids = list(sub.track_sids) + [s for t in sub.participant_tracks for s in t.track_sids]
            self.room.set_subscriptions(p, sids, sub.subscribe)
        elif which == "update_metadata":
            self._update_metadata(request.update_metadata)
        elif which == "ping":
            p.send(rtc.SignalResponse(pong=int(time.time() * 1000)))
        elif which == "ping_req":
            p.send(
                rtc.SignalResponse(
                    pong_resp=rtc.Pong(
                        last_ping_timestamp=request.ping_req.timestamp,
                        timestamp=int(time.time() * 1000),
                    )
                )
            )
        elif which == "leave":
            self.leave_reason = request.leave.reason or Reason.CLIENT_INITIATED
            return False
        elif which in _IGNORED:
            logger.debug("%s: %s ignored", p.identity, which)
        else:
            logger.info("%s: unsupported signal request %s ignored", p.identity, which)
        return True

    def _refuse_track(self, req: rtc.AddTrackRequest, reason: RequestReason, message: str) -> None:
        """Like LiveKit: say why, and send no TrackPublished (the SDK's publish times out)."""
        logger.warning("%s: track %r refused: %s", self.participant.identity, req.name, message)
        response = rtc.RequestResponse(reason=reason, message=message, add_track=req)
        self.participant.send(rtc.SignalResponse(request_response=response))

    def _add_track(self, req: rtc.AddTrackRequest) -> None:
        p = self.participant
        if req.type != models.TrackType.AUDIO:
            self._refuse_track(
                req, RequestReason.UNSUPPORTED_TYPE, "this test server forwards audio only"
            )
            return
        if not auth.may_publish_source(p.permission, req.source):
            self._refuse_track(req, RequestReason.NOT_ALLOWED, "no permission to publish")
            return
        info = p.pending.get(req.cid)
        if info is None:
            info = models.TrackInfo(
                sid=ids.new_id(ids.TRACK),
                type=req.type,
                name=req.name,
                muted=req.muted,
                source=req.source,
                mime_type="audio/opus",
                disable_dtx=req.disable_dtx,
                stereo=req.stereo,
                disable_red=True,
                encryption=req.encryption,
                stream=req.stream,
                audio_features=req.audio_features,
            )
            p.pending[req.cid] = info
        p.send(
            rtc.SignalResponse(track_published=rtc.TrackPublishedResponse(cid=req.cid, track=info))
        )

    def _mute(self, req: rtc.MuteTrackRequest) -> None:
        p = self.participant
        publication = p.publications.get(req.sid)
        if publication is None:
            return
        publication.info.muted = req.muted
        p.changed()
        self.room.broadcast(p)

    def _update_metadata(self, req: rtc.UpdateParticipantMetadata) -> None:
        p = self.participant
        response = rtc.RequestResponse(request_id=req.request_id, update_metadata=req)
        if not p.permission.can_update_metadata:
            response.reason = RequestReason.NOT_ALLOWED
            response.message = "does not have permission to update own metadata"
        else:
            self.room.update_participant(
                p, name=req.name, metadata=req.metadata, attributes=dict(req.attributes)
            )
        p.send(rtc.SignalResponse(request_response=response))
