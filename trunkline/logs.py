"""Log lines for people and for machines, each naming the call it belongs to.

On a terminal a person reads the lines, so they stay the familiar one-liners; anywhere else
(a container, a service manager, a file) a log collector reads them, so each line is one JSON
object with the same fields every time. Lines logged while a call is being handled carry the
call's ``call_id`` (the Twilio CallSid on the ``twilio-ws`` path, as in the turn log), its
LiveKit ``room`` where it has one, and its caller ``path``.

The call is found through a context variable, not passed to each logger: asyncio copies the
context into every task a call's task starts, so lines that libraries log inside a call (the
agent session, the LiveKit SDK, aiohttp) name the call too, without knowing about it. The
fields are added by a filter on the handlers this module installs, so they are on the record
whichever logger wrote it.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any, Final, Literal, TextIO

LogFormat = Literal["auto", "json", "text"]
LOG_FORMATS: Final[tuple[LogFormat, ...]] = ("auto", "json", "text")
TEXT_FORMAT: Final = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
#: Libraries that log every request at INFO (the twilio SDK: ten lines per REST call): their
#: warnings still show, their chatter only at debug.
CHATTY: Final = ("twilio.http_client",)

#: LogRecord's own attributes: anything else on a record came from ``extra=`` or a filter.
_STANDARD: Final = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
}


@dataclass(frozen=True)
class CallContext:
    call_id: str | None = None
    room: str | None = None
    path: str | None = None

    def items(self) -> Iterator[tuple[str, str]]:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                yield f.name, value


CALL_FIELDS: Final = tuple(f.name for f in fields(CallContext))
_CALL: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar(
    "trunkline_call", default=None
)


def bind_call(
    *, call_id: str | None = None, room: str | None = None, path: str | None = None
) -> None:
    """Name the call in every line logged from now on by this task and the tasks it starts.

    Fields given replace the ones already bound; the others are kept (a call learns its room
    after its CallSid)."""
    known = {k: v for k, v in (("call_id", call_id), ("room", room), ("path", path)) if v}
    _CALL.set(replace(_CALL.get() or CallContext(), **known))


@contextlib.contextmanager
def call_context(
    *, call_id: str | None = None, room: str | None = None, path: str | None = None
) -> Iterator[None]:
    """:func:`bind_call` for the block only (a request handler that must not leak its call)."""
    token = _CALL.set(_CALL.get())
    try:
        bind_call(call_id=call_id, room=room, path=path)
        yield
    finally:
        _CALL.reset(token)


def current_call() -> CallContext | None:
    return _CALL.get()


class CallFilter(logging.Filter):
    """Puts the current call's fields on each record (fields a record already has win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        call = _CALL.get()
        if call is not None:
            for name, value in call.items():
                if not hasattr(record, name):
                    setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the call, any ``extra=``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CALL_FIELDS:
            if (value := getattr(record, name, None)) is not None:
                line[name] = value
        for name, value in record.__dict__.items():
            if name not in _STANDARD and name not in line and not name.startswith("_"):
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The one-line format people read, with the call's fields in brackets at the end."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        call = [f"{n}={v}" for n in CALL_FIELDS if (v := getattr(record, n, None)) is not None]
        if not call:
            return text
        head, newline, rest = text.partition("\n")  # a traceback stays below the line
        return f"{head} [{' '.join(call)}]{newline}{rest}"


def wants_json(log_format: LogFormat, stream: TextIO) -> bool:
    if log_format != "auto":
        return log_format == "json"
    isatty = getattr(stream, "isatty", None)
    return not (callable(isatty) and isatty())


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a line is logged (as logging's last-resort
    handler does), so redirecting stderr later (a test capturing it) redirects the lines."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stderr


def configure_logging(
    level: str, log_format: LogFormat = "auto", stream: TextIO | None = None
) -> logging.Handler:
    """Send every logger's lines to ``stream`` (default: stderr): JSON unless it is a
    terminal, or as ``log_format`` says. Replaces the handler an earlier call installed."""
    handler: logging.Handler = StderrHandler() if stream is None else logging.StreamHandler(stream)
    shown = sys.stderr if stream is None else stream
    handler.setFormatter(JsonFormatter() if wants_json(log_format, shown) else TextFormatter())
    handler.addFilter(CallFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if any(isinstance(f, CallFilter) for f in h.filters)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    chatty_level = logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
    for name in CHATTY:
        logging.getLogger(name).setLevel(chatty_level)
    return handler


#: what asyncio logs (at ERROR) for work a program started and never cleaned up
ASYNCIO_LEFTOVERS: Final = ("Task exception was never retrieved", "Task was destroyed but it is")


@dataclass
class LogSummary:
    """What a process's log says went wrong: the lines an operator would have to look at."""

    levels: dict[str, int]
    """Log lines per level."""
    tracebacks: int
    leftovers: int
    """asyncio's never-retrieved task exceptions and destroyed pending tasks."""
    problems: list[str]
    """The first lines at ERROR or above, to read."""

    @property
    def errors(self) -> int:
        return self.levels.get("ERROR", 0) + self.levels.get("CRITICAL", 0)


def summarize_log(text: str, keep: int = 20) -> LogSummary:
    """Read a log this module's handler wrote, in either format: JSON lines, or text lines
    (other lines — a traceback's, a library's print — count only when they start a
    traceback, which one uncaught outside logging does)."""
    levels: dict[str, int] = {}
    tracebacks = leftovers = 0
    problems: list[str] = []
    names = logging.getLevelNamesMapping()
    for line in text.splitlines():
        tracebacks += line.startswith("Traceback (most recent call last)")
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict) and "level" in record:
            level, message = str(record["level"]), str(record.get("message", ""))
            tracebacks += "Traceback (most recent call last)" in str(record.get("exception", ""))
        else:
            parts = line.split(maxsplit=3)
            if len(parts) < 4 or parts[2] not in names:
                continue  # a traceback's or a library's own continuation line
            level, message = parts[2], parts[3]
        levels[level] = levels.get(level, 0) + 1
        leftovers += any(marker in message for marker in ASYNCIO_LEFTOVERS)
        if names.get(level, 0) >= logging.ERROR and len(problems) < keep:
            problems.append(line[:300])
    return LogSummary(levels, tracebacks, leftovers, problems)
