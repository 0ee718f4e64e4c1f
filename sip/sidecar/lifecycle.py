"""The sidecar process from start to exit: listen, drain on a signal, stop.

aiohttp's ``run_app`` stops on the first SIGTERM/SIGINT and gives live connections seconds,
which hangs up every call of a deploy. Here the first signal starts a drain (``drain``) while
the server keeps serving — the calls in progress, the streams about to arrive, the fallback
TwiML for new calls, ``/readyz`` saying no — and the process exits once the drain is done or a
second signal forces it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence

from aiohttp import web

from sip.sidecar.app import STATE
from sip.sidecar.drain import drain_calls

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    signals: Sequence[signal.Signals] = STOP_SIGNALS,
    request_log: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
) -> None:
    """Serve ``app`` on ``host:port`` until a drain started by one of ``signals`` is over;
    ``request_log`` is the logger aiohttp's server reports unparseable requests to."""
    state = app[STATE]
    runner = (
        web.AppRunner(app, access_log=None, handle_signals=False)
        if request_log is None
        else web.AppRunner(app, access_log=None, handle_signals=False, logger=request_log)
    )
    await runner.setup()
    loop = asyncio.get_running_loop()
    try:
        await web.TCPSite(runner, host, port).start()
        for sig in signals:
            loop.add_signal_handler(sig, state.draining.signal, sig.name)
        await drain_calls(
            state.draining,
            lambda: state.calls,
            state.tokens.outstanding,
            timeout_s=state.settings.drain.timeout_s,
            goodbye=state.goodbye,
        )
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        await runner.cleanup()
