"""A local server that speaks the OpenAI Realtime protocol: trunkline's default model.

It lets anyone place a call with no OpenAI account and lets the tests drive the real
``livekit-plugins-openai`` client offline. It is honest about what it is: replies come from a
script (``script``), spoken by espeak-ng (``tts``); turns are found by Silero VAD (``vad``,
``turns``) but nothing is recognised, so user transcripts only say how long the caller spoke.
What it reproduces faithfully is the protocol (``protocol``, ``session``, ``response``) and the
model's timing — think time and bursty audio (``timing``) — which is what the pacer must handle.

Entry points: ``trunkline sim`` (``cli``), ``run_simulator`` / ``SimulatorThread``
(``embedded``), and ``agent.model.ModelFactory``, which starts it when no OpenAI key is set.
"""
