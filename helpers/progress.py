"""Waits that show how long is left: every sleep in the lab goes through here."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm.auto import tqdm

TICK = 0.1

#: ``listener(desc, done, total)``: called on every tick of a wait; total is None for open-ended waits.
Listener = Callable[[str, float, "float | None"], None]
_local = threading.local()


@contextmanager
def report_to(listener: Listener) -> Iterator[None]:
    """In this thread, send every wait's progress to ``listener`` instead of drawing bars
    (the playground shows it in its own widget, from the thread that runs the scenario)."""
    previous = getattr(_local, "listener", None)
    _local.listener = listener
    try:
        yield
    finally:
        _local.listener = previous


def _tell(desc: str, done: float, total: float | None) -> None:
    listener = getattr(_local, "listener", None)
    if listener is not None:
        listener(desc, done, total)


def progress_enabled() -> bool:
    """Progress bars are on unless ``LAB_PROGRESS=0`` (every bar passes ``disable=`` itself, so
    tqdm's own ``TQDM_DISABLE`` does not reach them)."""
    return os.environ.get("LAB_PROGRESS", "1") != "0"


@contextmanager
def _bar(seconds: float, desc: str, counts_down: bool = True) -> Iterator[tqdm]:
    """A progress bar in seconds that disappears when done (``LAB_PROGRESS=0``: none).

    A wait that ends early by design (its condition came true, its last tick) has
    finished: the bar's total becomes what was done, so a notebook does not paint it
    red as it does a bar closed short of its total. Only a wait that an exception
    ends keeps the red bar: that one did fail.
    """
    bar = tqdm(
        total=round(seconds, 1),
        desc=desc,
        unit="s",
        bar_format="{desc}: {bar} {n:.1f}/{total:.1f} s" if counts_down else "{desc}: {bar} {n:.1f} s",
        disable=not progress_enabled() or getattr(_local, "listener", None) is not None,
        leave=False,
    )
    try:
        yield bar
    except GeneratorExit:  # the loop over ticks() stopped early: finished, not failed
        bar.total = bar.n
        raise
    except BaseException:
        bar.close()
        raise
    else:
        bar.total = bar.n
    finally:
        bar.close()


def wait(seconds: float, desc: str = "waiting") -> float:
    """Sleep ``seconds`` with a progress bar; return the seconds really slept."""
    start = time.monotonic()
    end = start + seconds
    with _bar(seconds, desc) as bar:
        while (now := time.monotonic()) < end:
            time.sleep(min(TICK, end - now))
            bar.n = round(min(time.monotonic() - start, seconds), 1)
            bar.refresh()
            _tell(desc, bar.n, seconds)
    return time.monotonic() - start


def wait_until(
    condition: Callable[[], bool], timeout: float, desc: str = "waiting", interval: float = 0.05
) -> bool:
    """Poll ``condition`` until it is true or ``timeout`` passes; return whether it became true."""
    start = time.monotonic()
    with _bar(timeout, desc, counts_down=False) as bar:
        while True:
            if condition():
                return True
            elapsed = time.monotonic() - start
            if elapsed >= timeout:
                return False
            bar.n = round(elapsed, 1)
            bar.refresh()
            _tell(desc, elapsed, None)
            time.sleep(interval)


def ticks(seconds: float, every: float, desc: str = "sampling") -> Iterator[float]:
    """Yield the elapsed time every ``every`` seconds for ``seconds``, under one progress bar.

    The loop body's own time counts: ticks stay on the ``every`` grid.
    """
    start = time.monotonic()
    with _bar(seconds, desc) as bar:
        k = 0
        while (elapsed := time.monotonic() - start) <= seconds:
            bar.n = round(elapsed, 1)
            bar.refresh()
            _tell(desc, elapsed, seconds)
            yield elapsed
            k += 1
            time.sleep(max(0.0, start + k * every - time.monotonic()))
