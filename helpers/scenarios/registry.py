"""The registry of scenarios, and the runner that runs one for each driver × fix."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field

import pandas as pd

from .. import runlock
from ..drivers import ALL_DRIVERS, DISCONNECT_CODES, DRIVERS, check_driver, driver_noise_logged
from ..lab import Lab
from .fixes import Fix
from .trial import COLUMNS, Trial, new_trial

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scenario:
    """A registered reproduction: its story, its fixes, the function that runs it, the
    error codes its failure really gives (None: an error with no driver code), and its
    ``timings`` (name -> default seconds) that a caller may change. ``not_for``: why
    it does not run with a driver, by driver; ``drivers``: the others, which it runs with."""

    name: str
    title: str
    fixes: tuple[Fix, ...]
    body: Callable[..., None]
    codes: frozenset[int | None] = DISCONNECT_CODES
    timings: dict[str, float] = field(default_factory=dict)
    not_for: dict[str, str] = field(default_factory=dict)

    @property
    def drivers(self) -> frozenset[str]:
        """The drivers it runs with: every one but those ``not_for`` names."""
        return frozenset(ALL_DRIVERS) - set(self.not_for)

    def why_not(self, driver: str) -> str | None:
        """None if the scenario runs with ``driver``; else why not."""
        return self.not_for.get(check_driver(driver))


SCENARIOS: dict[str, Scenario] = {}


def scenario(
    name: str,
    title: str,
    fixes: Sequence[Fix],
    codes: frozenset[int | None] = DISCONNECT_CODES,
    timings: dict[str, float] | None = None,
    code_changes: set[str] | frozenset[str] = frozenset(),
    not_for: dict[str, str] | None = None,
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
    b = lab.backend
    trials: list[Trial] = []
    with runlock.exclusive(b.host, b.port, f"scenario {name}"), driver_noise_logged(), ExitStack() as closing:
        t0 = time.monotonic()
        for driver in drivers:
            for fix in chosen:  # each closed at the end, whatever fails after it was made
                trials.append(new_trial(lab, name, driver, fix, t0))
                closing.callback(trials[-1].close)
        entry.body(lab, trials, **chosen_timings)
    rows = [row for trial in trials for row in trial.rows]
    return pd.DataFrame(rows, columns=COLUMNS).astype({"error_code": "Int64", "connection_id": "Int64"})


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
        for driver in wanted:
            why = entry.why_not(driver)
            if why:
                log.warning("%s does not run with %s: %s", name, driver, why)
        plan[name] = [d for d in wanted if not entry.why_not(d)]
    frames = [run(name, lab, runs_with) for name, runs_with in plan.items() if runs_with]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)


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
