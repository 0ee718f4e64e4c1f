"""Twilio's REST API, as far as provisioning uses it, on loopback.

The SDK has no base-URL option, so :class:`LoopbackHttpClient` (a real ``TwilioHttpClient``)
rewrites ``https://<host>.twilio.com/<path>`` to ``http://127.0.0.1:<port>/<host>.twilio.com/
<path>`` and everything else — auth, form encoding, paging via ``next_page_url`` — is the SDK's
own. The stand-in checks Basic auth, the account in the URL, the form content type and required
parameters; keeps trunks, origination URLs, the account's phone numbers and associations in
memory; pages lists like Twilio (``meta.next_page_url`` for trunking v1); and records every
request so tests can assert exactly which writes happened.
"""

from __future__ import annotations

import base64
import itertools
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from twilio.http.http_client import TwilioHttpClient

Record = dict[str, Any]
TRUNKING = "/trunking.twilio.com/v1"
FORM = web.RequestKey("form", dict[str, str])


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    form: dict[str, str]


class TwilioError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class LoopbackHttpClient(TwilioHttpClient):  # type: ignore[misc]
    """Sends the SDK's requests for ``*.twilio.com`` to the stand-in instead."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.netloc.endswith(".twilio.com"):
            raise AssertionError(f"the SDK asked for an unexpected URL {url}")
        local = f"{self.base_url}/{parts.netloc}{parts.path}"
        if parts.query:
            local += f"?{parts.query}"
        return super().request(method, local, *args, **kwargs)


class TwilioStandIn:
    def __init__(self, account_sid: str, auth_token: str, page_size: int = 50) -> None:
        self.account_sid = account_sid
        self._auth = "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self.page_size = page_size
        self.trunks: dict[str, Record] = {}
        self.origination_urls: dict[str, dict[str, Record]] = {}
        self.account_numbers: dict[str, Record] = {}
        self.requests: list[Request] = []
        self.failures: list[tuple[str, re.Pattern[str], TwilioError]] = []
        self._ids = itertools.count(1)
        self.app = web.Application(middlewares=[self._middleware])
        r = self.app.router
        r.add_get(f"{TRUNKING}/Trunks", self._list_trunks)
        r.add_post(f"{TRUNKING}/Trunks", self._create_trunk)
        r.add_post(f"{TRUNKING}/Trunks/{{trunk}}", self._update_trunk)
        r.add_get(f"{TRUNKING}/Trunks/{{trunk}}/OriginationUrls", self._list_urls)
        r.add_post(f"{TRUNKING}/Trunks/{{trunk}}/OriginationUrls", self._create_url)
        r.add_post(f"{TRUNKING}/Trunks/{{trunk}}/OriginationUrls/{{url}}", self._update_url)
        r.add_get(f"{TRUNKING}/Trunks/{{trunk}}/PhoneNumbers", self._list_trunk_numbers)
        r.add_post(f"{TRUNKING}/Trunks/{{trunk}}/PhoneNumbers", self._associate_number)
        r.add_get(
            "/api.twilio.com/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json",
            self._list_account_numbers,
        )

    # -- test controls ---------------------------------------------------------------------

    def fail(self, method: str, path_pattern: str, status: int, code: int, message: str) -> None:
        """Answer requests whose path matches ``path_pattern`` with a Twilio error."""
        self.failures.append((method, re.compile(path_pattern), TwilioError(status, code, message)))

    @property
    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.method != "GET"]

    def add_number(self, e164: str, voice_url: str | None = None) -> str:
        sid = self._sid("PN")
        self.account_numbers[sid] = {
            "sid": sid,
            "account_sid": self.account_sid,
            "phone_number": e164,
            "friendly_name": e164,
            "trunk_sid": None,
            "voice_url": voice_url,
        }
        return sid

    def add_trunk(self, friendly_name: str) -> str:
        sid = self._sid("TK")
        self.trunks[sid] = self._trunk_record(sid, friendly_name, None)
        self.origination_urls[sid] = {}
        return sid

    def add_origination_url(self, trunk: str, sip_url: str, priority: int = 10) -> str:
        sid = self._sid("OU")
        self.origination_urls[trunk][sid] = {
            "sid": sid,
            "trunk_sid": trunk,
            "sip_url": sip_url,
            "friendly_name": "PBX",
            "priority": priority,
            "weight": 10,
            "enabled": True,
        }
        return sid

    def associate(self, trunk: str, number_sid: str) -> None:
        self.account_numbers[number_sid]["trunk_sid"] = trunk

    def trunk_numbers(self, trunk: str) -> list[Record]:
        return [n for n in self.account_numbers.values() if n["trunk_sid"] == trunk]

    # -- protocol --------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        form: dict[str, str] = {}
        try:
            if request.headers.get("Authorization") != self._auth:
                raise TwilioError(401, 20003, "Authenticate")
            if request.method == "POST":
                if request.content_type != "application/x-www-form-urlencoded":
                    raise TwilioError(400, 20001, f"unexpected content type {request.content_type}")
                form = {k: str(v) for k, v in (await request.post()).items()}
            self.requests.append(Request(request.method, request.path, form))
            for method, pattern, error in self.failures:
                if method == request.method and pattern.search(request.path):
                    raise error
            request[FORM] = form
            response: web.StreamResponse = await handler(request)
            return response
        except TwilioError as err:
            return _error(err)
        except web.HTTPNotFound:
            return _error(
                TwilioError(404, 20404, f"The requested resource {request.path} was not found")
            )

    def _trunk(self, request: web.Request) -> Record:
        trunk = self.trunks.get(request.match_info["trunk"])
        if trunk is None:
            raise TwilioError(404, 20404, f"The requested resource {request.path} was not found")
        return trunk

    async def _list_trunks(self, request: web.Request) -> web.Response:
        return self._page(request, "trunks", list(self.trunks.values()))

    async def _create_trunk(self, request: web.Request) -> web.Response:
        form = request[FORM]
        domain = form.get("DomainName")
        if domain is not None and not domain.endswith(".pstn.twilio.com"):
            raise TwilioError(400, 21245, "Domain name must end in pstn.twilio.com")
        sid = self._sid("TK")
        self.trunks[sid] = self._trunk_record(sid, form.get("FriendlyName"), domain)
        if "TransferMode" in form:
            self.trunks[sid]["transfer_mode"] = _transfer_mode(form)
        self.origination_urls[sid] = {}
        return web.json_response(self.trunks[sid], status=201)

    async def _update_trunk(self, request: web.Request) -> web.Response:
        trunk = self._trunk(request)
        form = request[FORM]
        for key, field in (("FriendlyName", "friendly_name"), ("DomainName", "domain_name")):
            if key in form:
                trunk[field] = form[key]
        if "TransferMode" in form:
            trunk["transfer_mode"] = _transfer_mode(form)
        return web.json_response(trunk)

    async def _list_urls(self, request: web.Request) -> web.Response:
        trunk = self._trunk(request)
        items = list(self.origination_urls[trunk["sid"]].values())
        return self._page(request, "origination_urls", items)

    async def _create_url(self, request: web.Request) -> web.Response:
        trunk = self._trunk(request)
        form = request[FORM]
        for required in ("Weight", "Priority", "Enabled", "FriendlyName", "SipUrl"):
            if required not in form:
                raise TwilioError(400, 20001, f"Missing required parameter {required}")
        if not form["SipUrl"].startswith("sip:"):
            raise TwilioError(400, 21204, "SipUrl must be a sip: URI")
        sid = self._sid("OU")
        record = {"sid": sid, "trunk_sid": trunk["sid"], "sip_url": form["SipUrl"]}
        record.update(_url_fields(form))
        self.origination_urls[trunk["sid"]][sid] = record
        return web.json_response(record, status=201)

    async def _update_url(self, request: web.Request) -> web.Response:
        trunk = self._trunk(request)
        record = self.origination_urls[trunk["sid"]].get(request.match_info["url"])
        if record is None:
            raise TwilioError(404, 20404, f"The requested resource {request.path} was not found")
        record.update(_url_fields(request[FORM]))
        return web.json_response(record)

    async def _list_trunk_numbers(self, request: web.Request) -> web.Response:
        trunk = self._trunk(request)
        return self._page(request, "phone_numbers", self.trunk_numbers(trunk["sid"]))

    async def _associate_number(self, request: web.Request) -> web.Response:
        trunk = self._trunk(request)
        sid = request[FORM].get("PhoneNumberSid")
        if sid is None:
            raise TwilioError(400, 20001, "Missing required parameter PhoneNumberSid")
        number = self.account_numbers.get(sid)
        if number is None:
            raise TwilioError(404, 20404, f"Phone number {sid} was not found")
        if number["trunk_sid"] == trunk["sid"]:
            raise TwilioError(400, 21412, "Phone number is already associated with this trunk")
        number["trunk_sid"] = trunk["sid"]
        return web.json_response(number, status=201)

    async def _list_account_numbers(self, request: web.Request) -> web.Response:
        if request.match_info["account"] != self.account_sid:
            raise TwilioError(403, 20003, "the URL names another account")
        wanted = request.query.get("PhoneNumber")
        items = [
            n
            for n in self.account_numbers.values()
            if wanted is None or n["phone_number"] == wanted
        ]
        return web.json_response(
            {
                "incoming_phone_numbers": items,
                "page": 0,
                "page_size": 50,
                "start": 0,
                "end": max(len(items) - 1, 0),
                "uri": request.path_qs,
                "first_page_uri": request.path_qs,
                "next_page_uri": None,
                "previous_page_uri": None,
            }
        )

    def _page(self, request: web.Request, key: str, items: list[Record]) -> web.Response:
        """One page of a trunking v1 list; ``meta.next_page_url`` is absolute, as Twilio's is."""
        size = int(request.query.get("PageSize", self.page_size))
        page = int(request.query.get("Page", 0))
        chunk = items[page * size : (page + 1) * size]
        base = "https://" + request.path.lstrip("/")
        more = (page + 1) * size < len(items)
        next_url = f"{base}?{urlencode({'PageSize': size, 'Page': page + 1})}" if more else None
        meta = {
            "page": page,
            "page_size": size,
            "first_page_url": f"{base}?{urlencode({'PageSize': size, 'Page': 0})}",
            "previous_page_url": None,
            "url": f"https://{request.path_qs.lstrip('/')}",
            "next_page_url": next_url,
            "key": key,
        }
        return web.json_response({key: chunk, "meta": meta})

    def _trunk_record(self, sid: str, friendly_name: str | None, domain: str | None) -> Record:
        return {
            "sid": sid,
            "account_sid": self.account_sid,
            "friendly_name": friendly_name,
            "domain_name": domain,
            "secure": False,
            "transfer_mode": "disable-all",
            "url": f"https://trunking.twilio.com/v1/Trunks/{sid}",
        }

    def _sid(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):032x}"


def _url_fields(form: dict[str, str]) -> Record:
    fields: Record = {}
    for key, field in (("Weight", "weight"), ("Priority", "priority")):
        if key in form:
            fields[field] = int(form[key])
    if "Enabled" in form:
        if form["Enabled"] not in ("true", "false"):
            raise TwilioError(400, 20001, f"Enabled must be true or false, not {form['Enabled']}")
        fields["enabled"] = form["Enabled"] == "true"
    if "FriendlyName" in form:
        fields["friendly_name"] = form["FriendlyName"]
    return fields


def _transfer_mode(form: dict[str, str]) -> str:
    mode = form["TransferMode"]
    if mode not in ("enable-all", "sip-only", "disable-all"):
        raise TwilioError(400, 20001, "TransferMode must be enable-all, sip-only or disable-all")
    return mode


def _error(err: TwilioError) -> web.Response:
    body = {
        "code": err.code,
        "message": err.message,
        "more_info": f"https://www.twilio.com/docs/errors/{err.code}",
        "status": err.status,
    }
    return web.json_response(body, status=err.status)
