"""Shared pytest configuration for trunkline's test suite."""

# The real LiveKit stack's plugin: the private network namespace (entered at configure time,
# before any thread exists), the `netns` marker policy and the `livekit_stack` fixtures; and the
# log check: a test that leaves an ERROR line, a never-retrieved task exception or a destroyed
# pending task fails unless it expects it (`@pytest.mark.expect_log`).
pytest_plugins = ["tests.realstack.plugin", "tests.logcheck"]
