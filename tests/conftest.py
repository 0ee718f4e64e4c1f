"""Shared pytest configuration for trunkline's test suite."""

# The real LiveKit stack's plugin: the private network namespace (entered at configure time,
# before any thread exists), the `netns` marker policy and the `livekit_stack` fixtures.
pytest_plugins = ["tests.realstack.plugin"]
