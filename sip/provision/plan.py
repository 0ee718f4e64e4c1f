"""The plan: what differs between the desired state and what exists, and naming failed steps.

Provisioning touches two control planes in sequence, so a failure can leave the first half done.
Each object's change is therefore reported as it is made (or, with ``--dry-run``, as it would
be), and every error names the step it came from, so the user knows what was done, what was not,
and that running again picks up where it stopped (every step finds existing objects first).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol, TypeVar

import aiohttp
from livekit import api
from twilio.base.exceptions import TwilioRestException

from sip.livekit_errors import livekit_failure

Value = str | int | bool | tuple[str, ...] | None


class Action(enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    KEEP = "unchanged"


_GERUND = {Action.CREATE: "creating", Action.UPDATE: "updating", Action.KEEP: "checking"}


@dataclass(frozen=True)
class FieldDiff:
    field: str
    before: Value
    after: Value

    def render(self) -> str:
        return f"{self.field}: {_show(self.before)} -> {_show(self.after)}"


@dataclass(frozen=True)
class Change:
    """One object's fate. ``what`` names it the way errors and the plan refer to it."""

    action: Action
    what: str
    diffs: tuple[FieldDiff, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def step(self) -> str:
        return f"{_GERUND[self.action]} the {self.what}"

    def render(self, dry_run: bool) -> list[str]:
        verb = self.action.value
        if dry_run and self.action is not Action.KEEP:
            verb = f"would {verb}"
        lines = [f"{self.what}: {verb}"]
        lines += [f"    {d.render()}" for d in self.diffs]
        lines += [f"    note: {n}" for n in self.notes]
        return lines


Report = Callable[[Change], None]


class ProvisionError(RuntimeError):
    """A provisioning step failed; the message starts with the step's name."""

    def __init__(self, step: str, cause: str) -> None:
        self.step = step
        self.cause = cause
        super().__init__(f"{step}: {cause}")


def diff(
    current: Mapping[str, Value] | None, desired: Mapping[str, Value]
) -> tuple[FieldDiff, ...]:
    """Fields whose values differ; tuples compare as sets because order carries no meaning here.

    ``current`` is None for an object that does not exist yet: every desired field is new,
    except empty lists, which a new object has anyway.
    """
    out: list[FieldDiff] = []
    for key, want in desired.items():
        if current is None and want == ():
            continue
        have = None if current is None else current.get(key)
        if _comparable(have) != _comparable(want):
            out.append(FieldDiff(key, have, want))
    return tuple(out)


def change_for(
    what: str,
    current: Mapping[str, Value] | None,
    desired: Mapping[str, Value],
    notes: tuple[str, ...] = (),
) -> Change:
    """Create when absent, update when a field differs, otherwise keep."""
    diffs = diff(current, desired)
    if current is None:
        return Change(Action.CREATE, what, diffs, notes)
    return Change(Action.UPDATE if diffs else Action.KEEP, what, diffs, notes)


class Named(Protocol):
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=Named)


def find_by_name(items: Sequence[N], name: str, what: str, ident: Callable[[N], str]) -> N | None:
    """The one object called ``name``: names are our only handle on objects we made before.

    Two with the same name cannot be told apart safely, so that stops the run before any write.
    """
    matches = [item for item in items if item.name == name]
    if len(matches) > 1:
        ids = ", ".join(ident(m) for m in matches)
        raise ProvisionError(
            f"finding the {what}",
            f"{len(matches)} objects have this name ({ids}); delete or rename all but one",
        )
    return matches[0] if matches else None


@contextmanager
def step(name: str) -> Iterator[None]:
    """Re-raise any API or transport failure inside as a :class:`ProvisionError` named ``name``."""
    try:
        yield
    except ProvisionError:
        raise
    except api.TwirpError as exc:
        raise ProvisionError(name, livekit_failure(exc)) from exc
    except TwilioRestException as exc:
        code = f" (Twilio error {exc.code})" if exc.code else ""
        raise ProvisionError(name, f"Twilio said HTTP {exc.status}: {exc.msg}{code}") from exc
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise ProvisionError(name, f"{type(exc).__name__}: {exc}") from exc


def _comparable(value: Value) -> object:
    if isinstance(value, tuple):
        return frozenset(value)
    return value


def _show(value: Value) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, tuple):
        return "[" + ", ".join(value) + "]"
    if isinstance(value, str):
        return value or '""'
    return repr(value)
