"""The dialog an answered INVITE creates, seen from the caller (RFC 3261 §12).

It fixes what every later request in the call must carry: Call-ID, both tags, the remote
target (the 2xx's Contact), the route set (the 2xx's Record-Route, reversed) and the local CSeq
sequence; and it tells whether a request from the far end belongs to the call. Only loose
routing (``;lr``) is supported — every proxy since RFC 3261 does it; a strict router in the
route set is an error, not silently misrouted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lab.sipcaller.address import NameAddr, SipUri
from lab.sipcaller.errors import SipParseError
from lab.sipcaller.message import Headers, Request, Response

#: Headers the ACK for a 2xx copies from the INVITE (§13.2.2.4: "the same credentials").
_CREDENTIALS = ("Authorization", "Proxy-Authorization")


@dataclass
class Dialog:
    call_id: str
    local: NameAddr
    """Our From, with our tag."""
    remote: NameAddr
    """The far end's To, with its tag."""
    remote_target: SipUri
    route_set: tuple[NameAddr, ...]
    local_cseq: int
    remote_cseq: int | None = None

    @classmethod
    def from_answer(cls, invite: Request, response: Response) -> Dialog:
        """The dialog of a 2xx to ``invite`` (RFC 3261 §12.1.2)."""
        remote = response.to
        if remote.tag is None:
            raise SipParseError("the 2xx to the INVITE has no To tag")
        contact = response.headers.get("Contact")
        if contact is None:
            raise SipParseError("the 2xx to the INVITE has no Contact")
        routes = tuple(
            NameAddr.parse(r) for r in reversed(response.headers.get_all("Record-Route"))
        )
        for route in routes:
            if route.sip_uri.param("lr") is None:
                raise SipParseError(f"strict routing is not supported: Record-Route {route}")
        return cls(
            call_id=invite.call_id,
            local=invite.from_,
            remote=remote,
            remote_target=NameAddr.parse(contact).sip_uri,
            route_set=routes,
            local_cseq=invite.cseq.number,
        )

    @property
    def next_hop(self) -> SipUri:
        """Where in-dialog requests go: the first route, else the remote target."""
        return self.route_set[0].sip_uri if self.route_set else self.remote_target

    def request(
        self,
        method: str,
        via: str,
        *,
        cseq: int | None = None,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> Request:
        """A request within the dialog (§12.2.1.1); CSeq advances unless ``cseq`` is given."""
        if cseq is None:
            self.local_cseq += 1
            cseq = self.local_cseq
        fields = Headers()
        fields.add("Via", via)
        for route in self.route_set:
            fields.add("Route", str(route))
        fields.add("Max-Forwards", "70")
        fields.add("From", str(self.local))
        fields.add("To", str(self.remote))
        fields.add("Call-ID", self.call_id)
        fields.add("CSeq", f"{cseq} {method}")
        for name, value in headers:
            fields.add(name, value)
        return Request(headers=fields, body=body, method=method, uri=str(self.remote_target))

    def ack(self, invite: Request, via: str) -> Request:
        """The ACK for the 2xx: the INVITE's CSeq number, a new branch, its credentials."""
        credentials = [
            (name, value) for name in _CREDENTIALS for value in invite.headers.get_all(name)
        ]
        return self.request("ACK", via, cseq=invite.cseq.number, headers=credentials)

    def owns(self, request: Request) -> bool:
        """Whether a request from the far end belongs to this dialog (§12.2.2)."""
        return (
            request.call_id == self.call_id
            and request.to.tag == self.local.tag
            and request.from_.tag == self.remote.tag
        )

    def accept_cseq(self, number: int) -> bool:
        """Whether a far-end request's CSeq is in order (higher than any before it)."""
        if self.remote_cseq is not None and number <= self.remote_cseq:
            return False
        self.remote_cseq = number
        return True
