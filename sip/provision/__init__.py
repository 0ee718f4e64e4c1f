"""SIP-path provisioning: LiveKit inbound trunk + dispatch rule and the Twilio Elastic SIP trunk.

``trunkline provision`` (:mod:`sip.provision.cli`) is the way in; for code that already holds a
spec and credentials, :func:`sip.provision.provisioner.provision` is the same run. This package
file imports nothing so that loading the CLI module stays cheap (the SDKs load inside ``run``).

Modules: ``spec`` (the desired state, validated), ``plan`` (changes, diffs, named steps),
``livekit_side`` and ``twilio_side`` (read, then apply, per control plane), ``provisioner``
(one run over both), ``cli``.
"""
