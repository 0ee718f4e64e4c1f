"""trunkline's measurement lab: audio quality per caller path and per-turn latency.

Every metric is a pure function over numpy arrays (samples in, numbers out) so the caller
simulator, the sidecar and the ``trunkline lab`` / ``trunkline report`` commands share one
implementation, and each is proven by a known-signal test under ``tests/lab``.
"""
