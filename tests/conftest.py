"""Shared pytest configuration for trunkline's test suite."""

# The LiveKit test server's plugin: the private network namespace (entered at configure time,
# before any thread exists), the `netns` marker policy and the `livekit_server` fixtures.
pytest_plugins = ["tests.livekit_server.plugin"]
