"""trunkline's measurement lab: audio quality per caller path and per-turn latency.

Every metric is a pure function over numpy arrays (samples in, numbers out) so the caller
simulator, the sidecar and the ``trunkline lab`` / ``trunkline report`` commands share one
implementation, and each is proven by a known-signal test under ``tests/lab``. Nothing is
imported here, so writers of turn logs pay only for :mod:`trunkline.turnlog`.

Audio metrics: :mod:`~lab.bandwidth` (99 % bandwidth, Welch and FFT-bin), :mod:`~lab.align`
(rate matching, delay), :mod:`~lab.gaps`, :mod:`~lab.clicks`, :mod:`~lab.drops`,
:mod:`~lab.quality` (PESQ, STOI). Paths: :mod:`~lab.codecs`, :mod:`~lab.chains`,
:mod:`~lab.codec_table`; material: :mod:`~lab.speech`, :mod:`~lab.synth`. Latency:
:mod:`~trunkline.turnlog` (the shared per-turn schema), :mod:`~lab.latency`. Output:
:mod:`~lab.plots`, :mod:`~lab.tables`, :mod:`~lab.notes`, :mod:`~lab.sections` (a
``trunkline lab`` run, :mod:`~lab.lab_command`), :mod:`~lab.codec_section`.

Every path on the real stack (:mod:`~lab.paths_section`): :mod:`~lab.rig` (LiveKit and each
pacer arm's worker, sidecars, simulator and SIP numbers; :mod:`~lab.services`,
:mod:`~lab.dispatch`), one runner per path — :mod:`~lab.twilio_runner`,
:mod:`~lab.sip_runner`, :mod:`~lab.webrtc_runner`, :mod:`~lab.browser_runner` (headless
Chromium on the call page: :mod:`~lab.browser`) over :mod:`~lab.conversation` (a caller on
any line) and :mod:`~lab.call_windows` (the agent's side joined by time) — and the report:
:mod:`~lab.path_measures`, :mod:`~lab.published`, :mod:`~lab.path_notes`,
:mod:`~lab.paths_report`. What every call says, and the clean reply: :mod:`~lab.live_plan`;
what the caller heard: :mod:`~lab.heard`. The rtc.AudioSource pacer A/B with no server:
:mod:`~lab.source_ab`, :mod:`~lab.source_section`. The SIP caller a carrier trunk would be:
:mod:`lab.sipcaller`; ``trunkline stack``: :mod:`~lab.stack_command`.
"""
