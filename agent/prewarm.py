"""Work a job's first reply would otherwise do on its event loop, done when its process starts.

livekit-agents builds some things lazily, on first use, inside the job: an import of the
toolset machinery when the agent starts, the TLS context of its HTTP session when the model
connects (parsing the whole CA bundle), the hyphenation patterns when the first transcript is
segmented. Each blocks the job's loop for 0.1–0.9 s on a busy machine — the loop that paces
the agent's audio — so the first greeting of every job process went out with late frames
(heard as gaps, counted in the turn log as late gaps), and livekit-agents itself logs "import
it at process warm-up (prewarm) instead of on first use". A job process runs this once, before
it is offered any job.
"""

from __future__ import annotations

import importlib
import logging

from livekit.agents import JobProcess
from livekit.agents.tokenize import basic
from livekit.agents.utils import http_context

logger = logging.getLogger(__name__)

#: imported by livekit-agents on a job's loop at first use
LAZY_MODULES = (
    "livekit.agents.llm.async_toolset",
    "livekit.plugins.openai.realtime",
)


def prewarm(proc: JobProcess) -> None:
    for name in LAZY_MODULES:
        importlib.import_module(name)
    basic.hyphenate_word("prewarming")
    # The shared HTTP session's TLS context: livekit-agents caches it per process, but builds it
    # only when a job opens its first session. Its builder is private, so where a later
    # livekit-agents renames it, the cost just moves back to the first reply.
    build_tls = getattr(http_context, "_create_ssl_context", None)
    if callable(build_tls):
        build_tls()
    logger.debug("job process %s prewarmed", proc.pid)
