"""The few SDP facts the server reads or writes itself; aiortc does the rest.

- LiveKit names a subscribed track by its media stream id, ``"<participant sid>|<track sid>"``
  (the SDK drops tracks whose stream id lacks the ``|``). aiortc gives every track of a peer
  connection one random stream id, so the server rewrites the ``a=msid`` line of each media
  section of its own offers.
- A publisher starts and stops tracks by renegotiating; which section carries which track
  (and whether it still sends) is read from the client's offer.
- Clients trickle candidates as JSON ``RTCIceCandidateInit`` strings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiortc.sdp import candidate_from_sdp

_SEND_DIRECTIONS = ("sendrecv", "sendonly")
_DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")


class SdpError(ValueError):
    """Malformed SDP or candidate from a client."""


def _sections(sdp: str) -> list[list[str]]:
    """Session part first, then one list of lines per ``m=`` section."""
    sections: list[list[str]] = [[]]
    for line in sdp.splitlines():
        if line.startswith("m="):
            sections.append([])
        sections[-1].append(line)
    return sections


def _mid(section: list[str]) -> str | None:
    for line in section:
        if line.startswith("a=mid:"):
            return line[len("a=mid:") :].strip()
    return None


def check(text: str) -> None:
    """Refuse what is not SDP at all; aiortc would take it for an empty description."""
    if not text.startswith("v=0") or "\nm=" not in text:
        raise SdpError("session description is not SDP with media sections")


def stream_id(participant_sid: str, track_sid: str) -> str:
    return f"{participant_sid}|{track_sid}"


def set_stream_ids(sdp: str, stream_ids: Mapping[str, str]) -> str:
    """Replace the stream id of ``a=msid`` in each section whose mid is in ``stream_ids``."""
    out: list[str] = []
    for section in _sections(sdp):
        mid = _mid(section)
        for line in section:
            if mid is not None and mid in stream_ids and line.startswith("a=msid:"):
                _, _, track_id = line[len("a=msid:") :].partition(" ")
                line = f"a=msid:{stream_ids[mid]} {track_id}"
            out.append(line)
    return "\r\n".join(out) + "\r\n"


def sending_tracks(sdp: str) -> dict[str, str]:
    """``{mid: track id}`` of the audio/video sections in which the SDP's author sends media.

    The track id is the second part of ``a=msid``; LiveKit clients use it as the ``cid`` of
    their AddTrackRequest, which is how a publication is matched to its media section.
    """
    tracks: dict[str, str] = {}
    for section in _sections(sdp)[1:]:
        media, port = [*section[0].split(), "", ""][:2]
        if port == "0" or media not in ("m=audio", "m=video"):
            continue
        mid = _mid(section)
        direction = "sendrecv"
        track_id = None
        for line in section:
            if line.startswith("a=") and line[2:] in _DIRECTIONS:
                direction = line[2:]
            elif line.startswith("a=msid:"):
                _, _, track_id = line[len("a=msid:") :].partition(" ")
        if mid is not None and track_id and direction in _SEND_DIRECTIONS:
            tracks[mid] = track_id.strip()
    return tracks


def parse_trickle(candidate_init: str) -> Any | None:
    """An aiortc ``RTCIceCandidate`` from a trickled init, or None when there is nothing to add.

    Nothing to add: the end-of-candidates marker (an empty candidate) and non-UDP candidates,
    which aioice cannot use.
    """
    try:
        init = json.loads(candidate_init)
    except json.JSONDecodeError as exc:
        raise SdpError(f"trickle is not JSON: {exc}") from exc
    if not isinstance(init, dict):
        raise SdpError("trickle is not a JSON object")
    line = init.get("candidate", "")
    if not isinstance(line, str):
        raise SdpError("trickle candidate is not a string")
    if not line:
        return None
    line = line.removeprefix("a=").removeprefix("candidate:")
    bits = line.split()
    if len(bits) < 8:
        raise SdpError(f"malformed candidate: {line!r}")
    if bits[2].lower() != "udp":
        return None
    candidate = candidate_from_sdp(line)
    mid = init.get("sdpMid")
    index = init.get("sdpMLineIndex")
    candidate.sdpMid = mid if isinstance(mid, str) else None
    candidate.sdpMLineIndex = index if isinstance(index, int) else None
    if candidate.sdpMid is None and candidate.sdpMLineIndex is None:
        raise SdpError("trickle names neither sdpMid nor sdpMLineIndex")
    return candidate
