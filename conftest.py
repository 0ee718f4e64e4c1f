"""pytest's plugins and settings for every test path in the repository: trunkline's own
(``tests/``) and the pacer plugin's (``plugins/livekit-plugins-pacer/tests/``), whichever of them
a run names.

The real LiveKit stack's plugin: the private network namespace (entered at configure time,
before any thread exists), the `netns` marker policy and the `livekit_stack` fixtures; and the
log check: a test that leaves an ERROR line, a never-retrieved task exception or a destroyed
pending task fails unless it expects it (`@pytest.mark.expect_log`).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

pytest_plugins = ["tests.realstack.plugin", "tests.logcheck", "tests.virtual_time"]

# Property-based tests: `ci` (the default, also in `make test`) is short and derandomized, so a
# run is repeatable; HYPOTHESIS_PROFILE=long searches much further (see bench/fuzz_streams.py
# for the long stream-level campaign).
settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "long", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
