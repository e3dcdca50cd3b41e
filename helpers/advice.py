"""The blogs' advice on "gone away", tested: each common claim, the run that tests it, and a
verdict computed from what the run recorded (lesson ``17_what_the_blogs_say``).

A verdict is one of :data:`VERDICTS`. For advice of the form "do X and the error is gone" it
comes from the outcomes: X kept every cause it was tried against clean (true), some of them
(true only for those causes), or none (false). Other claims are statements of fact, and each
function says which measurement decides it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import scoped_session, sessionmaker

from . import bench
from .drivers import DRIVERS, describe_error
from .errors import LabError
from .lab import Lab, server_id
from .progress import wait
from .record import code, nested
from .runbook.settings import AppSettings, ServerFacts, check_settings
from .scenarios import Fix, run, summarize
from .scenarios.common import PRE_PING, WAIT_TIMEOUT
from .scenarios.idle import recycle_by_age
from .scenarios.keepalive_vs_timeout import KEEPALIVE_JOB, RAISED_TIMEOUT

log = logging.getLogger(__name__)

TRUE, SOME, FALSE = "true", "true only for some causes", "false"
VERDICTS = (TRUE, SOME, FALSE)


@dataclass(frozen=True)
class Claim:
    """A claim as people write it, and the lesson that goes deeper."""

    key: str
    says: str
    deeper: str


CLAIMS: dict[str, Claim] = {
    c.key: c
    for c in (
        Claim(
            "recycle_below", "Set pool_recycle below wait_timeout and the error is gone.", "02_pool_recycle"
        ),
        Claim(
            "recycle_idle",
            "pool_recycle=3600 recycles a connection after an hour without requests.",
            "02_pool_recycle",
        ),
        Claim("ping_select_1", "pool_pre_ping sends a SELECT 1 before each use.", "15_drivers"),
        Claim("pre_ping_for_good", "pool_pre_ping fixes it for good.", "03_pool_pre_ping"),
        Claim("raise_wait_timeout", "Raise wait_timeout (or set it to a year).", "09_keepalive_vs_timeout"),
        Claim(
            "keepalive_job",
            "A keep-alive query every few minutes keeps the connections alive.",
            "09_keepalive_vs_timeout",
        ),
        Claim(
            "new_session",
            "Create a new Session() wherever you use one, and the stale connection goes away.",
            "08_web_apps",
        ),
        Claim(
            "remove_session",
            "Close or remove() the session at the end of every request, and the error is gone.",
            "08_web_apps",
        ),
        Claim("recycle_twice_timeout", "With a 30 s server timeout, recycle every 60 s.", "02_pool_recycle"),
        Claim(
            "driver_codes",
            "PyMySQL says 'Lost connection' (2013) where mysqlclient says 'gone away' (2006).",
            "01_reproduce",
        ),
        Claim(
            "flask_pool_recycle",
            "SQLALCHEMY_POOL_RECYCLE is deprecated; use SQLALCHEMY_ENGINE_OPTIONS.",
            "08_web_apps",
        ),
        Claim(
            "eight_hours", "The default wait_timeout is 8 hours, so it only bites overnight.", "01_reproduce"
        ),
        Claim("pre_ping_expensive", "pool_pre_ping is expensive.", "03_pool_pre_ping"),
    )
}


def verdict(key: str, value: str, covers: Sequence[str], why: str, **measured: Any) -> dict[str, Any]:
    """One verdict row: the claim, its verdict, the causes (or drivers) it holds for, why, and
    the measured values it rests on (which the lesson records and its test asserts)."""
    if value not in VERDICTS:
        raise ValueError(f"a verdict is one of {VERDICTS}, not {value!r}")
    claim = CLAIMS[key]
    return {
        "claim": key,
        "says": claim.says,
        "verdict": value,
        "covers": ", ".join(covers) or "none",
        "why": why,
        "deeper": claim.deeper,
        "measured": measured,
    }


def _each(
    lab: Lab, causes: Sequence[str], drivers: Sequence[str] | None, fixes: list[Fix | str]
) -> pd.DataFrame:
    """``summarize`` of each cause run with ``fixes``."""
    return summarize(pd.concat([run(name, lab, drivers=drivers, fixes=fixes) for name in causes]))


def fix_verdict(key: str, summary: pd.DataFrame, why: str) -> dict[str, Any]:
    """ "Do X and the error is gone", judged from ``summary`` (one fix, several causes): clean
    wherever it was tried, somewhere, or nowhere."""
    clean = summary.groupby("scenario", sort=False)["ok"].all()
    held = [name for name, ok in clean.items() if ok]
    value = TRUE if len(held) == len(clean) else SOME if held else FALSE
    return verdict(key, value, held, why, clean=clean.to_dict())


def recycle_below(lab: Lab, drivers: Sequence[str] | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Claim 1: ``pool_recycle`` just below ``wait_timeout`` (1.8 s against 2 s) against idling,
    a KILL of an idle connection and long work while holding one.

    Not a restart: whether a recycle happens to replace connections after one depends on how
    long the restart took (a container's restart outlasts 1.8 s, a local server's does not), so
    the outcome would be the machine's, not the setting's."""
    below = Fix("pool_recycle=1.8 (below wait_timeout=2)", {"pool_recycle": 1.8}, prevents=None)
    summary = _each(lab, ["idle", "kill_idle", "long_work"], drivers, [below])
    why = (
        "it replaces connections before the server's idle timeout, so it prevents the idle failure; "
        "a KILL, or work while holding the connection, kills connections younger than the recycle"
    )
    return summary, fix_verdict("recycle_below", summary, why)


def recycle_counts_age(lab: Lab, driver: str = "pymysql") -> tuple[pd.DataFrame, dict[str, Any]]:
    """Claim 2: a connection used every 0.25 s (never idle for long) with ``pool_recycle=2``.
    A machine that stalls a whole recycle period between two uses decides nothing: LabError."""
    recycle = 2.0
    uses, _log = recycle_by_age(lab, driver, recycle=recycle, every=0.25, seconds=5.0)
    longest_idle = float(uses["t"].diff().max())
    if longest_idle >= recycle:
        raise LabError(f"the machine stalled {longest_idle:.2f} s between two uses: run it again")
    replaced = int(uses["connection_id"].nunique()) - 1
    value = FALSE if replaced >= 1 else TRUE
    why = (
        f"the connection was replaced {replaced} times in 5 s although it never sat idle {recycle:g} s "
        f"(longest gap {longest_idle:.2f} s): pool_recycle counts age since connect, not idle time"
    )
    return uses, verdict("recycle_idle", value, [], why, replaced=replaced, longest_idle=longest_idle)


def what_pre_ping_sends(lab: Lab, drivers: Sequence[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Claim 3: what each driver's pre-ping sends, counted on the server."""
    pings = bench.ping_mechanisms(lab, drivers, n=100, repeats=1)
    sends = dict(zip(pings["driver"], pings["pre_ping_sends"], strict=True))
    select = [d for d, s in sends.items() if s == "SELECT 1"]
    value = TRUE if len(select) == len(sends) else SOME if select else FALSE
    by_what = {what: [d for d, s in sends.items() if s == what] for what in dict.fromkeys(sends.values())}
    why = "counted on the server (COM_PING in Com_admin_commands, SELECT 1 in Com_select): " + "; ".join(
        f"{what} for {', '.join(drivers_)}" for what, drivers_ in by_what.items()
    )
    return pings, verdict("ping_select_1", value, select, why, sends=sends)


def pre_ping_everywhere(
    lab: Lab, drivers: Sequence[str] | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Claim 4: ``pool_pre_ping`` against every cause it is a fix or a non-fix for."""
    causes = ["idle", "restart", "kill_idle", "lb_reset", "kill_mid_query", "long_work", "lb_silent_drop"]
    summary = _each(lab, causes, drivers, [PRE_PING.name])
    why = (
        "it checks at checkout: whatever killed an idle pooled connection, it finds it; a connection "
        "lost while the request holds it, or a flow a device forgot silently (the ping hangs), it cannot"
    )
    return summary, fix_verdict("pre_ping_for_good", summary, why)


def keepalive_and_raised_timeout(
    lab: Lab, drivers: Sequence[str] | None = None
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Claims 5 and 6: the ``keepalive`` scenario (a pool quiet for 5 s against a 2 s
    ``wait_timeout``): the session's ``wait_timeout`` raised to 4 s, and a keep-alive job."""
    quiet = summarize(run("keepalive", lab, drivers=drivers))

    def trial(fix: Fix) -> pd.DataFrame:
        rows = quiet[quiet["fix"] == fix.name]
        if rows.empty:
            raise LabError(f"the keepalive scenario ran no trial named {fix.name!r}")
        return rows

    raised, job = trial(RAISED_TIMEOUT), trial(KEEPALIVE_JOB)
    five = verdict(
        "raise_wait_timeout",
        TRUE if raised["ok"].all() else FALSE,
        [],
        f"raised to 4 s, a 5 s quiet period {'passed' if raised['ok'].all() else 'still failed'}: a higher "
        "timeout only moves the cliff to a longer quiet period (a weekend, a holiday)",
        clean=bool(raised["ok"].all()),
    )
    six = fix_verdict(
        "keepalive_job",
        job,
        "the job checked every pooled connection out every second, so none sat idle long enough for "
        "the server to drop it; the price is a server thread per connection for as long as the app "
        "runs. It is a keep-alive, not a check: what kills a used connection (a restart, a KILL) it "
        "does not prevent (06_server_kills)",
    )
    return quiet, [five, six]


def new_session_faces(lab: Lab, driver: str = "pymysql") -> tuple[pd.DataFrame, dict[str, Any]]:
    """Claim 7, both faces of "a new Session": ``scoped_session()`` hands back the same Session
    from its registry; ``sessionmaker()()`` is new, but takes the pooled connection, dead or not.
    The pool holds one connection; it idles past ``wait_timeout``."""
    engine = lab.engine(driver, pool_size=1, max_overflow=0)
    steps: list[dict[str, Any]] = []
    try:
        with lab.globals(wait_timeout=WAIT_TIMEOUT):
            registry = scoped_session(sessionmaker(bind=engine))
            same = registry() is registry()
            first = sessionmaker(bind=engine)()
            before = first.execute(text("SELECT CONNECTION_ID()")).scalar()
            first.close()
            steps.append(
                {"step": "first Session", "connection_id": before, "outcome": "ok", "error_code": None}
            )
            wait(WAIT_TIMEOUT + 1, f"idle {WAIT_TIMEOUT + 1}s (wait_timeout={WAIT_TIMEOUT}s)")
            fresh = sessionmaker(bind=engine)()
            try:
                fresh.execute(text("SELECT 1"))
                steps.append({"step": "a new Session", "outcome": "ok", "error_code": None})
            except Exception as e:  # the failure reproduced on purpose: recorded as data
                steps.append(
                    {"step": "a new Session", "outcome": "error", "error_code": describe_error(e).error_code}
                )
            finally:
                fresh.close()
            with engine.connect() as conn:
                after = server_id(conn)
            steps.append(
                {"step": "next checkout", "connection_id": after, "outcome": "ok", "error_code": None}
            )
            registry.remove()
    finally:
        engine.dispose()
    failed = steps[1]["outcome"] == "error"
    why = (
        f"scoped_session() returned {'the same' if same else 'a new'} Session from its registry; a new "
        f"sessionmaker() Session {'failed with ' + str(steps[1]['error_code']) if failed else 'worked'}: "
        "a Session is not a connection, it checks out whatever the pool holds"
    )
    value = FALSE if same or failed else TRUE
    return pd.DataFrame(steps), verdict(
        "new_session", value, [], why, same_scoped=same, new_session_code=steps[1]["error_code"]
    )


def remove_alone(lab: Lab, drivers: Sequence[str] | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Claim 8: Flask with ``remove()`` at teardown, without and with ``pool_pre_ping``."""
    fixes = ["remove() at teardown, no pre-ping", "remove() at teardown + pool_pre_ping"]
    summary = summarize(run("flask_scoped_session", lab, drivers=drivers, fixes=fixes))
    alone = bool(summary[summary["fix"] == fixes[0]]["ok"].all())
    with_ping = bool(summary[summary["fix"] == fixes[1]]["ok"].all())
    why = (
        "remove() gives the connection back, so one failure does not stick to the thread; the pooled "
        f"connection still dies idle: alone the next request {'worked' if alone else 'failed'}, with "
        f"pool_pre_ping it {'worked' if with_ping else 'failed'}"
    )
    value = TRUE if alone else FALSE
    return summary, verdict("remove_session", value, [], why, alone=alone, with_pre_ping=with_ping)


def recycle_above_timeout(
    lab: Lab, drivers: Sequence[str] | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Claim 9, scaled: ``wait_timeout`` 2 s and ``pool_recycle=4`` (twice it, as 60 against 30),
    run against idling; and the runbook's settings check of the real numbers."""
    twice = Fix("pool_recycle=4 (twice wait_timeout)", {"pool_recycle": 4}, prevents=None)
    summary = summarize(run("idle", lab, drivers=drivers, fixes=[twice]))
    check = check_settings(
        AppSettings(form="advice", options={"pool_recycle": 60}), ServerFacts(wait_timeout=30)
    )
    severity = str(check[check["check"] == "pool_recycle vs wait_timeout"]["severity"].iloc[0])
    clean = bool(summary["ok"].all())
    why = (
        f"recycled at twice the timeout, the idle connection {'survived' if clean else 'died first'}; "
        f"the runbook's settings check calls pool_recycle=60 against wait_timeout=30 {severity}"
    )
    return summary, verdict(
        "recycle_twice_timeout", TRUE if clean else FALSE, [], why, clean=clean, severity=severity
    )


def codes_by_driver(lab: Lab, drivers: Sequence[str] = tuple(DRIVERS)) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Claim 10: the first code per driver for an idle close and a restart. True where PyMySQL
    said 2013 and mysqlclient 2006 for the same cause; false where both said the same."""
    summary = _each(lab, ["idle", "restart"], drivers, ["none"])
    codes = nested(summary, ["scenario", "driver"], lambda r: code(r.error_code))
    causes = list(codes)
    as_claimed = [c for c in causes if (codes[c].get("pymysql"), codes[c].get("mysqldb")) == (2013, 2006)]
    same = [c for c in causes if summary[summary["scenario"] == c]["error_code"].nunique(dropna=False) == 1]
    value = TRUE if len(as_claimed) == len(causes) else SOME if as_claimed else FALSE
    why = (
        "the code follows the cause, not the driver: "
        + ("each cause gave every driver the same code " if len(same) == len(causes) else "")
        + "("
        + ", ".join(f"{k}: {v}" for k, v in codes.items())
        + ")"
    )
    return summary, verdict("driver_codes", value, as_claimed, why, codes=codes)


def flask_sqlalchemy_recycle(lab: Lab, driver: str = "pymysql") -> tuple[pd.DataFrame, dict[str, Any]]:
    """Claim 11: the recycle of the engine the locked Flask-SQLAlchemy builds from
    ``SQLALCHEMY_POOL_RECYCLE`` and from ``SQLALCHEMY_ENGINE_OPTIONS``."""
    import flask_sqlalchemy
    from flask import Flask

    url = lab.url(driver).render_as_string(hide_password=False)
    rows = []
    for key, config in (
        ("SQLALCHEMY_POOL_RECYCLE = 1", {"SQLALCHEMY_POOL_RECYCLE": 1}),
        ("SQLALCHEMY_ENGINE_OPTIONS = {pool_recycle: 1}", {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_recycle": 1}}),
    ):
        app = Flask("advice")
        app.config.update({"SQLALCHEMY_DATABASE_URI": url, **config})
        db = flask_sqlalchemy.SQLAlchemy(app)
        with app.app_context():
            rows.append({"config": key, "engine's pool_recycle": db.engine.pool._recycle})
            db.engine.dispose()
    frame = pd.DataFrame(rows)
    ignored = frame["engine's pool_recycle"].iloc[0] != 1  # 3.x: its own MySQL default, 7200
    version = flask_sqlalchemy.__version__
    why = (
        f"Flask-SQLAlchemy {version} builds its engine with pool_recycle={frame.iloc[0, 1]} from "
        f"SQLALCHEMY_POOL_RECYCLE ({'ignored' if ignored else 'used'}) and {frame.iloc[1, 1]} from "
        "SQLALCHEMY_ENGINE_OPTIONS; its changelog deprecated the POOL_* keys in 2.4 and removed "
        "them in 3.0 (3.x gives a MySQL engine pool_recycle=7200 when the options set none)"
    )
    return frame, verdict(
        "flask_pool_recycle", TRUE if ignored else FALSE, [], why, ignored=bool(ignored), version=version
    )


def default_timeout(lab: Lab, drivers: Sequence[str] | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Claim 12: the server's compiled-in ``wait_timeout``, and the idle failure at 2 s."""
    default = int(lab.sql("SELECT @@global.wait_timeout AS w").iloc[0, 0])
    summary = summarize(run("idle", lab, drivers=drivers, fixes=["none"]))
    failed = not summary["ok"].any()
    why = (
        f"the server's default is {default} s ({default / 3600:g} h), but the failure comes after any "
        f"quiet period longer than wait_timeout, whatever it is: at {WAIT_TIMEOUT} s it came after "
        f"{WAIT_TIMEOUT + 1} s of quiet (hosts set 300 s or 30 s; MySQL 8 and MariaDB ship 28 800)"
    )
    value = FALSE if failed else TRUE
    return summary, verdict("eight_hours", value, [], why, default=default, failed_at_two=failed)


def pre_ping_cost(
    lab: Lab, driver: str = "pymysql", seconds: float = 0.5
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Claim 13, judged from counts (round trips per checkout, counted on the server) and from the
    effect behind 2 ms of added round trip, not from loopback µs."""
    trips = bench.ping_mechanisms(lab, [driver], n=200, repeats=1).iloc[0]
    rates = bench.summary(
        bench.measure(lab, [driver], ["none", "pre_ping"], (1.0,), seconds=seconds, repeats=3)
    )
    ratio = float(rates[rates["fix"] == "pre_ping"]["ratio_to_none"].iloc[0])
    per = float(trips["round_trips_per_checkout"])
    why = (
        f"{per:g} round trip per checkout, counted on the server: behind 2 ms it left {ratio:.2f} of the "
        "rate of one-statement requests, on loopback a fraction of a millisecond; against a request's "
        "real work it is one round trip"
    )
    value = SOME if per >= 0.9 and ratio < 0.9 else FALSE
    covers = ["one-statement requests behind a slow network"] if value == SOME else []
    return rates, verdict("pre_ping_expensive", value, covers, why, round_trips=per, ratio_at_2ms=ratio)


def table(verdicts: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The summary: claim, verdict, what it covers, the lesson that goes deeper."""
    return pd.DataFrame(verdicts)[["claim", "says", "verdict", "covers", "deeper", "why"]]
