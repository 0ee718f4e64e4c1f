"""What the public HTTP side does with bytes it cannot use: a 400 and one line, never a 500.

The webhook faces the internet. aiohttp's ``request.post()`` decodes the body with the charset
the request declares and raises whatever that raises (``UnicodeDecodeError`` for bytes that are
not UTF-8, ``LookupError`` for a made-up charset) from inside the handler, which becomes a 500
and a traceback at ERROR. Twilio sends ``application/x-www-form-urlencoded`` UTF-8, so that is
what :func:`read_form` accepts, strictly; anything else is a :class:`MalformedRequest`.

Bytes aiohttp's own HTTP parser rejects (a raw non-ASCII byte in the request line, a broken
header line) never reach a handler: aiohttp answers 400 and logs the parse error with its
traceback at ERROR. :class:`RequestErrorLog` is the server logger to hand aiohttp instead
(``logger=`` of ``web.run_app`` / ``AppRunner``): such a request is one WARNING line, and any
other error is logged as aiohttp would.
"""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping
from typing import Any, Final
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

FORM_TYPE: Final = "application/x-www-form-urlencoded"
#: most fields a form may carry (Twilio's voice webhook sends about 20)
MAX_FIELDS: Final = 200


#: what a CallSid may look like: Twilio's are "CA" and 32 hex digits; it names rooms and goes
#: into TwiML, so nothing beyond letters and digits is taken
CALL_SID: Final = re.compile(r"[A-Za-z0-9]{1,64}")
#: longest caller or called number (or SIP address) passed on
MAX_NUMBER: Final = 128


def call_sid(form: dict[str, str]) -> str | None:
    """The form's CallSid, or None when it has none that can be used."""
    value = form.get("CallSid", "")
    return value if CALL_SID.fullmatch(value) else None


def caller_text(value: str) -> str:
    """``From``/``To`` as passed on (TwiML, stream parameters, room attributes): empty when
    not printable text of a sane length — XML cannot even carry control characters."""
    return value if len(value) <= MAX_NUMBER and value.isprintable() else ""


class MalformedRequest(ValueError):
    """The request's body is not a form this server can read; the message says why."""


async def read_form(request: web.Request) -> dict[str, str]:
    """The request's form fields (the last value of a repeated name wins)."""
    if request.content_type != FORM_TYPE:
        raise MalformedRequest(f"content type {request.content_type[:60]!r} is not {FORM_TYPE}")
    charset = request.charset
    if charset is not None and charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise MalformedRequest(f"charset {charset[:40]!r} is not UTF-8")
    body = await request.read()
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError as exc:
        raise MalformedRequest(f"the body is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    except ValueError as exc:  # too many fields
        raise MalformedRequest(str(exc)) from exc
    return dict(pairs)


class RequestErrorLog(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's server logger, with requests its HTTP parser rejected logged as one line."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        error = kwargs.get("exc_info")
        if level >= logging.ERROR and isinstance(error, HttpProcessingError):
            remote = args[0] if args else "?"
            reason = error.message.splitlines()[0] if error.message else type(error).__name__
            self.logger.warning(
                "rejected a malformed request from %s (%d): %s", remote, error.code, reason[:200]
            )
            return
        super().log(level, msg, *args, **kwargs)

    def process(self, msg: object, kwargs: MutableMapping[str, Any]) -> tuple[object, Any]:
        return msg, kwargs


#: the logger ``trunkline serve`` gives aiohttp's server
REQUEST_LOG: Final = RequestErrorLog(logging.getLogger("aiohttp.server"))
