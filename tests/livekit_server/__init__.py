"""A LiveKit-compatible server for tests only: never shipped, never imported by product code.

Import ``tests.livekit_server.server.LiveKitTestServer`` or use the ``livekit_server`` fixture
(``plugin.py``). This package's ``__init__`` stays empty on purpose: the pytest plugin must be
importable without loading livekit's native library (see ``plugin.py``).
"""
