"""Shared pytest configuration for trunkline's test suite."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from trunkline.logs import CallFilter

# pytest's plugins (the real stack, the log check) and the hypothesis profiles are in the
# repository's root conftest.py, for the pacer plugin's tests too.


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """A test that runs a command (``cli.main``) configures the process's logging as the
    command would (a stderr handler, the root level); later tests get pytest's back."""
    root = logging.getLogger()
    level = root.level
    yield
    for handler in [h for h in root.handlers if any(isinstance(f, CallFilter) for f in h.filters)]:
        root.removeHandler(handler)
    root.setLevel(level)
