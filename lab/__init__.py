"""trunkline's measurement lab: audio quality per caller path and per-turn latency.

Every metric is a pure function over numpy arrays (samples in, numbers out) so the caller
simulator, the sidecar and the ``trunkline lab`` / ``trunkline report`` commands share one
implementation, and each is proven by a known-signal test under ``tests/lab``. Nothing is
imported here, so writers of turn logs pay only for :mod:`lab.turnlog`.

Audio metrics: :mod:`~lab.bandwidth` (99 % bandwidth, Welch and FFT-bin), :mod:`~lab.align`
(rate matching, delay), :mod:`~lab.gaps`, :mod:`~lab.clicks`, :mod:`~lab.drops`,
:mod:`~lab.quality` (PESQ, STOI). Paths: :mod:`~lab.codecs`, :mod:`~lab.chains`,
:mod:`~lab.codec_table`; material: :mod:`~lab.speech`, :mod:`~lab.synth`. Latency:
:mod:`~lab.turnlog` (the shared per-turn schema), :mod:`~lab.latency`. Output:
:mod:`~lab.plots`, :mod:`~lab.tables`, :mod:`~lab.notes`, :mod:`~lab.sections`
(a ``trunkline lab`` run), :mod:`~lab.codec_section`. Live calls: :mod:`~lab.live_plan` (what
every call says, and the clean reply), :mod:`~lab.path_runner` and :mod:`~lab.twilio_runner`
(placing calls per path), :mod:`~lab.heard` (what the caller heard), :mod:`~lab.source_ab`
(the rtc.AudioSource pacer A/B), :mod:`~lab.live_section`, :mod:`~lab.pacer_section`,
:mod:`~lab.live_notes`. The SIP caller a carrier trunk would be: :mod:`lab.sipcaller`.
"""
