"""Experiments on one cause: two settings side by side (A/B), and a sweep of one number that finds
where a fix stops holding. The playground's logic, usable without widgets:

>>> ab = compare(lab, "idle", ["pymysql"], "none", "pool_pre_ping")
>>> ab.line   # "A failed once with 2006 on “after idle”; B ran clean at +1.3 round trips per checkout"
>>> points = sweep(lab, "recycle_margin", "pool_recycle", [0.5, 1, 1.5, 2], drivers=["pymysql"])
>>> boundary(points)         # Boundary(holds_below=True, between=(1.0, 1.5), ...)

Runs are serialized against the lab like every scenario run (:mod:`helpers.runlock`). A sweep has
at most :data:`MAX_POINTS` points, and :func:`estimate` says how long it takes before it starts.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from goneaway_pool.hardened import Hardening
from goneaway_pool.tcp import TcpKeepalive

from . import runlock
from .failures import error_label, failure_phrase
from .lab import Lab
from .scenarios import Fix, get, run, summarize
from .scenarios.fixes import NO_FIX
from .scenarios.registry import MAX_SECONDS, Scenario, check_timings

#: At most this many values in one sweep.
MAX_POINTS = 12
#: The server's counters for round trips: statements, and COM_PING (which ``Questions`` leaves out).
ROUND_TRIPS = ("Questions", "Com_admin_commands")


@dataclass(frozen=True)
class Knob:
    """One number a sweep can turn: an engine option, a hardened pool's or a socket's setting,
    or one of the scenario's own timings (``kind``: engine, hardening, tcp, timing)."""

    name: str
    kind: str
    what: str
    #: the smallest value it takes, and whether it takes whole numbers only
    minimum: float = 0.0
    whole: bool = False

    def check(self, value: float) -> float:
        """``value`` if the knob takes it; ``ValueError`` with a line a person can act on."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{self.name}={value!r}: give a number of seconds")
        if not self.minimum <= value <= MAX_SECONDS:
            raise ValueError(f"{self.name}={value:g}: choose from {self.minimum:g} to {MAX_SECONDS:g} s")
        if self.whole and value != int(value):
            raise ValueError(f"{self.name}={value:g}: whole seconds only")
        return value

    def apply(self, fix: Fix, timings: dict[str, float], value: float) -> tuple[Fix, dict[str, float]]:
        """``fix`` and ``timings`` with this knob set to ``value``."""
        value = self.check(value)
        label = f"{self.name}={value:g}"
        if self.kind == "timing":
            return fix, {**timings, self.name: value}
        if self.kind == "engine":
            options = {**fix.options, self.name: value}
            return dataclasses.replace(fix, name=label, options=options, prevents=None), timings
        if self.kind == "hardening":
            hardening = dataclasses.replace(fix.hardening or Hardening(), **{self.name: value})
            return dataclasses.replace(fix, name=label, hardening=hardening, prevents=None), timings
        tcp = TcpKeepalive(idle=int(value), interval=1, count=3)
        return dataclasses.replace(fix, name=label, tcp=tcp, prevents=None), timings


#: The knobs every scenario has; each scenario's own timings come on top (:func:`knobs`).
KNOBS = {
    "pool_recycle": Knob("pool_recycle", "engine", "the pool replaces a connection older than this", 0.1),
    "ping_after": Knob("ping_after", "hardening", "the hardened pool pings a connection idle this long"),
    "keepalive_idle": Knob(
        "keepalive_idle", "tcp", "TCP keepalive's first probe after this idle (1 s apart, 3 probes)", 1, True
    ),
}


def knobs(name: str) -> dict[str, Knob]:
    """The numbers a sweep of scenario ``name`` can turn: the shared ones and its own timings."""
    entry = get(name)
    own = {
        t: Knob(t, "timing", f"the scenario's {t}", 1, whole=True)  # the server takes whole seconds
        if t == "wait_timeout"
        else Knob(t, "timing", f"the scenario's {t}", 0.1)
        for t in entry.timings
    }
    return {**KNOBS, **own}


def estimate(entry: Scenario, timings: dict[str, float], values: Sequence[float], knob: str = "") -> float:
    """Seconds a sweep over ``values`` will take, about: per run the scenario's timings (with the
    swept one at its value, where ``knob`` is one) plus a second (a placed scenario starts its
    namespace, HAProxy or cluster: 5 s more). All drivers run in one run, in step."""
    chosen = check_timings(entry, timings)
    overhead = 6.0 if entry.place else 1.0
    total = 0.0
    for value in values:
        point = {**chosen, knob: value} if knob in chosen else chosen
        total += sum(point.values()) + overhead
    return round(total, 1)


def _round_trips(lab: Lab) -> int:
    status = lab.status(ROUND_TRIPS)
    return int(sum(int(status.loc[0, counter]) for counter in ROUND_TRIPS))


def measured_run(
    lab: Lab, name: str, drivers: Sequence[str], fix: Fix | str, timings: dict[str, float]
) -> pd.DataFrame:
    """One scenario run of one fix, with what the server saw during it in ``attrs``:
    ``round_trips`` (statements and pings) and ``aborted_clients``, read under the run's lock so
    that a queued run counts only its own."""
    b = lab.backend
    with runlock.exclusive(b.host, b.port, f"experiment: scenario {name}"):
        aborted = int(lab.status(["Aborted_clients"]).loc[0, "Aborted_clients"])
        trips = _round_trips(lab)
        rows = run(name, lab, drivers, fixes=[fix], **timings)
        rows.attrs["round_trips"] = _round_trips(lab) - trips
        rows.attrs["aborted_clients"] = (
            int(lab.status(["Aborted_clients"]).loc[0, "Aborted_clients"]) - aborted
        )
        rows.attrs["processlist"] = lab.processlist()
    return rows


@dataclass
class Comparison:
    """Two runs of one cause: A's rows and B's (the ``fix`` column says which: ``A · ...``)."""

    a: pd.DataFrame
    b: pd.DataFrame
    line: str

    @property
    def rows(self) -> pd.DataFrame:
        """Both runs' rows, on one time axis (each run's time counts from its own start); what
        the server saw stays in each run's own ``attrs``."""
        plain = [frame.copy() for frame in (self.a, self.b)]
        for frame in plain:
            frame.attrs = {}  # concat compares attrs, and a processlist frame has no truth value
        return pd.concat(plain, ignore_index=True)


def compare(
    lab: Lab,
    name: str,
    drivers: Sequence[str],
    a: Fix | str,
    b: Fix | str,
    timings: dict[str, float] | None = None,
) -> Comparison:
    """Run scenario ``name`` with setting A, then with B (serialized); the rows of each, and one
    line that compares them."""
    chosen = check_timings(get(name), timings or {})
    runs = []
    for label, fix in (("A", a), ("B", b)):
        rows = measured_run(lab, name, drivers, fix, chosen)
        rows["fix"] = f"{label} · " + rows["fix"]
        runs.append(rows)
    return Comparison(runs[0], runs[1], comparison_line(runs[0], runs[1]))


def comparison_line(a: pd.DataFrame, b: pd.DataFrame) -> str:
    """One line, e.g. "A failed once with 2006 on “after idle”; B ran clean at +1.0 round trip per
    checkout": the round trips the server counted during B's run less A's, per step (the lab's
    own statements are the same in both)."""
    steps = max(len(a), 1)
    extra = (b.attrs.get("round_trips", 0) - a.attrs.get("round_trips", 0)) / steps
    cost = (
        f" at {extra:+.1f} round trip{'s' if abs(extra) >= 1.05 else ''} per checkout"
        if abs(extra) >= 0.1
        else ""
    )
    return f"A {failure_phrase(a)}; B {failure_phrase(b)}{cost}"


def sweep(
    lab: Lab,
    name: str,
    knob: str,
    values: Sequence[float],
    drivers: Sequence[str] = ("pymysql",),
    base: Fix | str = NO_FIX,
    timings: dict[str, float] | None = None,
    on_point: Callable[[int, int, float], None] | None = None,
) -> pd.DataFrame:
    """Run scenario ``name`` once per value of ``knob`` (at most :data:`MAX_POINTS`), on top of
    ``base`` (a fix, or one of the scenario's fixes by name). One row per value: whether every
    driver ran clean, how many steps failed, the first code, the server connections per request
    (a recycle's cost: a new connection is a connect) and the seconds it took. ``on_point(i, n,
    value)`` is called before each run (progress)."""
    entry = get(name)
    turn = knobs(name).get(knob)
    if turn is None:
        raise ValueError(f"scenario {name!r} has no knob {knob!r}: {', '.join(knobs(name))}")
    if not 1 <= len(values) <= MAX_POINTS:
        raise ValueError(f"a sweep has 1 to {MAX_POINTS} values, not {len(values)}")
    values = sorted(turn.check(float(v)) for v in values)
    fix = base if isinstance(base, Fix) else next((f for f in entry.fixes if f.name == base), None)
    if fix is None:
        raise ValueError(f"scenario {name!r} has no fix {base!r}")
    chosen = check_timings(entry, timings or {})
    out = []
    for i, value in enumerate(values):
        if on_point is not None:
            on_point(i, len(values), value)
        point_fix, point_timings = turn.apply(fix, chosen, value)
        start = time.monotonic()
        rows = measured_run(lab, name, drivers, point_fix, point_timings)
        summary = summarize(rows)
        errors = rows[rows["outcome"] == "error"]
        requests = max(len(rows), 1)
        out.append(
            {
                "value": value,
                "ok": bool(summary["ok"].all()),
                "errors": len(errors),
                "code": None if errors.empty else error_label(errors.iloc[0]),
                "connections_per_request": round(rows["connection_id"].nunique() / requests, 2),
                "seconds": round(time.monotonic() - start, 1),
            }
        )
    frame = pd.DataFrame(out)
    frame.attrs.update(scenario=name, knob=knob)
    return frame


@dataclass(frozen=True)
class Boundary:
    """Where a sweep's outcome flips: between two neighbouring values; ``holds_below``: the fix
    holds for the values below the boundary (a recycle short enough), else above it."""

    between: tuple[float, float]
    holds_below: bool
    #: how often the outcome flips over the whole sweep (more than once: not one boundary)
    flips: int = 1

    @property
    def at(self) -> float:
        return (self.between[0] + self.between[1]) / 2

    def line(self, knob: str) -> str:
        low, high = self.between
        side = f"{knob} ≤ {low:g}" if self.holds_below else f"{knob} ≥ {high:g}"
        line = f"holds for {side}; the boundary lies between {low:g} and {high:g}"
        if self.flips > 1:
            line = (
                f"the first boundary lies between {low:g} and {high:g}; the outcome flips {self.flips} times"
            )
        return line


def boundary(points: pd.DataFrame) -> Boundary | None:
    """The first place where a sweep's outcome flips (None: it never does), and how often it flips."""
    ordered = points.sort_values("value").reset_index(drop=True)
    oks = [bool(ok) for ok in ordered["ok"]]
    flips = [i for i in range(1, len(oks)) if oks[i] != oks[i - 1]]
    if not flips:
        return None
    first = flips[0]
    between = (float(ordered.loc[first - 1, "value"]), float(ordered.loc[first, "value"]))
    return Boundary(between, holds_below=oks[first - 1], flips=len(flips))


def spread(low: float, high: float, points: int) -> list[float]:
    """``points`` evenly spaced values from ``low`` to ``high`` (rounded to 0.01 s)."""
    if not 1 <= points <= MAX_POINTS:
        raise ValueError(f"points={points}: choose 1 to {MAX_POINTS}")
    if high < low:
        raise ValueError(f"from {low:g} to {high:g}: the end must not be below the start")
    if points == 1:
        return [round(low, 2)]
    step = (high - low) / (points - 1)
    return [round(low + i * step, 2) for i in range(points)]
