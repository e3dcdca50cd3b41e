"""The registry of scenarios, and the runner that runs one for each driver × fix."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .. import runlock
from ..drivers import ALL_DRIVERS, DISCONNECT_CODES, DRIVERS, check_driver, driver_noise_logged
from ..errors import LabError
from ..lab import Lab
from .fixes import Fix
from .trial import COLUMNS, Trial, new_trial

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scenario:
    """A registered reproduction: its story, its fixes, the function that runs it, the
    error codes its failure really gives (None: an error with no driver code), and its
    ``timings`` (name -> default seconds) that a caller may change. ``not_for``: why
    it does not run with a driver, by driver; ``drivers``: the others, which it runs with.
    ``place``: where its trials run (default: against the caller's lab, in the caller's
    thread; a network namespace's scenario runs them inside it); ``needs``: why it cannot
    run on this machine (one line), or None; ``shares``: what :func:`run_all` keeps up across
    the scenarios beside it that name the same (one TLS server for the TLS scenarios)."""

    name: str
    title: str
    fixes: tuple[Fix, ...]
    body: Callable[..., None]
    codes: frozenset[int | None] = DISCONNECT_CODES
    timings: dict[str, float] = field(default_factory=dict)
    not_for: dict[str, str] = field(default_factory=dict)
    place: Callable[[Lab, dict[str, float]], AbstractContextManager[Place]] | None = None
    needs: Callable[[], str | None] | None = None
    shares: Callable[[Lab], AbstractContextManager[object]] | None = None

    def unavailable(self) -> str | None:
        """Why it cannot run on this machine (a missing tool or privilege), or None."""
        return self.needs() if self.needs is not None else None

    @property
    def drivers(self) -> frozenset[str]:
        """The drivers it runs with: every one but those ``not_for`` names."""
        return frozenset(ALL_DRIVERS) - set(self.not_for)

    def why_not(self, driver: str) -> str | None:
        """None if the scenario runs with ``driver``; else why not."""
        return self.not_for.get(check_driver(driver))


@dataclass
class Place:
    """Where a scenario's trials run: the lab they run against, how a callable runs there (the
    caller's thread, or one inside a network namespace), and what the body saw beside the
    trials' rows (``views``: records of the server's, the device's or the load balancer's side)."""

    lab: Lab
    call: Callable[[Callable[[], None]], None] = field(default=lambda fn: fn())
    views: list[dict[str, Any]] = field(default_factory=list)
    #: the place's own server or device, for the body's views (a namespace's backend, a HAProxy)
    device: Any = None


@contextmanager
def _here(lab: Lab, timings: dict[str, float]) -> Iterator[Place]:
    yield Place(lab)


SCENARIOS: dict[str, Scenario] = {}


def scenario(
    name: str,
    title: str,
    fixes: Sequence[Fix],
    codes: frozenset[int | None] = DISCONNECT_CODES,
    timings: dict[str, float] | None = None,
    code_changes: set[str] | frozenset[str] = frozenset(),
    not_for: dict[str, str] | None = None,
    place: Callable[[Lab, dict[str, float]], AbstractContextManager[Place]] | None = None,
    needs: Callable[[], str | None] | None = None,
    shares: Callable[[Lab], AbstractContextManager[object]] | None = None,
) -> Callable[[Callable[..., None]], Scenario]:
    """Decorator: register ``body(lab, trials, **timings)`` as scenario ``name``; ``timings``
    are in seconds (e.g. ``wait_timeout``, ``idle``), with their defaults;
    ``code_changes`` the changes to application code (``Fix.code_change``) its body carries out;
    ``not_for`` the drivers it does not run with, and why (it runs with every other one)."""

    def register(body: Callable[..., None]) -> Scenario:
        for fix in fixes:
            if fix.code_change is not None and fix.code_change not in code_changes:
                known = ", ".join(sorted(code_changes)) or "none"
                raise ValueError(
                    f"scenario {name!r}: fix {fix.name!r} names code change {fix.code_change!r};"
                    f" known: {known}"
                )
        entry = Scenario(
            name,
            title,
            tuple(fixes),
            body,
            frozenset(codes),
            dict(timings or {}),
            {check_driver(d): why for d, why in (not_for or {}).items()},
            place,
            needs,
            shares,
        )
        SCENARIOS[name] = entry
        return entry

    return register


def get(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"no scenario {name!r}; there are: {', '.join(SCENARIOS)}") from None


#: No timing a caller sets may exceed this: nobody freezes a kernel for minutes.
MAX_SECONDS = 30.0


def check_timings(entry: Scenario, timings: dict[str, float]) -> dict[str, float]:
    """The scenario's timings with ``timings`` applied; unknown names or values out of
    range raise ``ValueError`` with a message a person can act on."""
    unknown = set(timings) - set(entry.timings)
    if unknown:
        known = ", ".join(entry.timings) or "none"
        raise ValueError(
            f"scenario {entry.name!r} has no timing {', '.join(sorted(unknown))}; it has: {known}"
        )
    merged = {**entry.timings}
    for key, value in timings.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_SECONDS:
            raise ValueError(
                f"{key}={value!r}: choose a number of seconds above 0 and at most {MAX_SECONDS:g}"
            )
        merged[key] = value
    return merged


def run(
    name: str,
    lab: Lab,
    drivers: Sequence[str] | None = None,
    fixes: Sequence[Fix | str] | None = None,
    **timings: float,
) -> pd.DataFrame:
    """Run scenario ``name`` for every driver × fix; one row per step per trial.

    ``drivers`` defaults to the two default drivers (``DRIVERS``); any of ``ALL_DRIVERS``
    the scenario runs with (``Scenario.drivers``) may be picked. ``fixes`` defaults to the
    scenario's own list (names pick from it). ``timings`` change the scenario's own
    (``Scenario.timings``). Runs against one server are serialized across processes
    (:mod:`helpers.runlock`): a second one waits.
    """
    entry = get(name)
    chosen_timings = check_timings(entry, timings)
    chosen = [f if isinstance(f, Fix) else _fix_named(entry, f) for f in (fixes or entry.fixes)]
    drivers = list(drivers or DRIVERS)
    for driver in drivers:
        why = entry.why_not(check_driver(driver))
        if why:
            raise ValueError(f"scenario {name!r} does not run with {driver}: {why}")
    missing = entry.unavailable()
    if missing:
        raise LabError(f"scenario {name!r} cannot run here: {missing}")
    b = lab.backend
    trials: list[Trial] = []
    with (
        runlock.exclusive(b.host, b.port, f"scenario {name}"),
        driver_noise_logged(),
        (entry.place or _here)(lab, chosen_timings) as place,
        ExitStack() as closing,
    ):

        def trials_and_body() -> None:
            t0 = time.monotonic()
            for driver in drivers:
                for fix in chosen:  # each closed at the end, whatever fails after it was made
                    trials.append(new_trial(place.lab, name, driver, fix, t0))
                    closing.callback(trials[-1].close)
            extra = {"place": place} if entry.place else {}  # a placed body records its views there
            entry.body(place.lab, trials, **extra, **chosen_timings)

        place.call(trials_and_body)
    rows = [row for trial in trials for row in trial.rows]
    frame = pd.DataFrame(rows, columns=COLUMNS).astype({"error_code": "Int64", "connection_id": "Int64"})
    frame.attrs["views"] = [{"scenario": name, **view} for view in place.views]
    return frame


def run_all(
    lab: Lab, names: Sequence[str] | None = None, drivers: Sequence[str] | None = None
) -> pd.DataFrame:
    """Every scenario (or ``names``) with every fix and driver, one after the other: all rows.
    A scenario runs with those of ``drivers`` it runs with; the others are logged with why."""
    chosen = list(names or SCENARIOS)
    wanted = [check_driver(d) for d in (drivers or DRIVERS)]
    plan = {}
    for name in chosen:
        entry = get(name)  # an unknown name fails before anything runs
        missing = entry.unavailable()
        if missing:
            log.warning("%s does not run on this machine: %s", name, missing)
            continue
        for driver in wanted:
            why = entry.why_not(driver)
            if why:
                log.info("%s does not run with %s: %s", name, driver, why)
        plan[name] = [d for d in wanted if not entry.why_not(d)]
    frames = []
    with ExitStack() as kept:  # what scenarios side by side share, up while they run
        held = None
        for name, runs_with in plan.items():
            if not runs_with:
                continue
            shares = get(name).shares
            if shares is not held:
                kept.close()
                held = shares
                if shares is not None:
                    kept.enter_context(shares(lab))
            frames.append(run(name, lab, runs_with))
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    rows = pd.concat(frames, ignore_index=True)
    rows.attrs["views"] = [view for frame in frames for view in frame.attrs.get("views", [])]
    return rows


def coverage(drivers: Sequence[str] | None = None) -> pd.DataFrame:
    """Which scenario runs with which driver: one row per scenario, a column per driver
    (default: ``ALL_DRIVERS``) holding "runs" or why not."""
    drivers = [check_driver(d) for d in (drivers or ALL_DRIVERS)]
    return pd.DataFrame(
        [{"scenario": e.name, **{d: e.why_not(d) or "runs" for d in drivers}} for e in SCENARIOS.values()]
    )


def _fix_named(entry: Scenario, name: str) -> Fix:
    for fix in entry.fixes:
        if fix.name == name:
            return fix
    raise ValueError(f"scenario {entry.name!r} has no fix {name!r}: {', '.join(f.name for f in entry.fixes)}")
