"""trunkline: one AI voice agent for Twilio Media Streams, SIP and WebRTC callers."""

__version__ = "0.1.0"
