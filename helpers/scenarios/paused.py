"""A server that stops answering: paused (docker) or stopped (SIGSTOP), not closed.

Nothing closes the connection, so nothing tells the client: no ``wait_timeout``
or pool setting explains the wait. Only a client ``read_timeout`` ends it (2013);
without one the request waits for as long as the server is frozen.
"""

from __future__ import annotations

import threading
import time

from ..drivers import ErrorInfo
from ..lab import Lab
from ..progress import wait
from .fixes import Fix
from .registry import scenario
from .trial import Trial, each

FROZEN = 3.0  # seconds the server stays frozen
READ_TIMEOUT = 1  # the client read_timeout that ends the wait

HANG = ErrorInfo("no answer", None, f"still waiting after {FROZEN:g}s: no timeout ends it", False)


@scenario(
    "paused_server",
    f"The server is frozen for {FROZEN:g}s (docker pause / SIGSTOP) while a query waits",
    fixes=[
        Fix("no read_timeout", prevents=False),
        Fix(f"read_timeout={READ_TIMEOUT}", read_timeout=READ_TIMEOUT, prevents=False),
    ],
    codes=frozenset({2013, None}),  # None: the hang, recorded as "no answer"
)
def paused_server(lab: Lab, trials: list[Trial]) -> None:
    """Every trial's query runs in its own thread while the server is frozen. A query still
    waiting at the thaw gets a "no answer" row; its own row follows when the answer comes."""
    each(trials, "first query")
    lab.pause()
    started = time.monotonic()
    threads = [threading.Thread(target=t.query, args=("query while frozen",), daemon=True) for t in trials]
    try:
        for thread in threads:
            thread.start()
        wait(FROZEN, "server frozen")
        for trial, thread in zip(trials, threads, strict=True):
            if thread.is_alive():  # no timeout ended it: it is still waiting
                trial.record(f"no answer for {FROZEN:g}s", started, None, HANG)
    finally:
        lab.unpause()
    for thread in threads:
        thread.join(timeout=30)
    each(trials, "next checkout")
