"""What a liveness check at checkout costs: checkouts per second per fix, per driver, per latency.

Each fix compared is a :class:`~helpers.scenarios.Fix` (``FIXES``): engine options, and for
``hardened`` the hardened pool (:mod:`goneaway_pool.hardened`). The round trip grows through
the lab's fault proxy (:mod:`helpers.faultproxy`), which adds latency each way;
latency 0 connects straight to the server, without the proxy.
"""

from __future__ import annotations

import asyncio
import importlib
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import pandas as pd
import sqlalchemy
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from goneaway_pool.hardened import Hardening

from . import tls
from .drivers import ALL_DRIVERS, ASYNC_DRIVERS, DRIVERS, versions
from .faultproxy import FaultProxy
from .lab import Lab
from .progress import progress_enabled
from .scenarios.common import HARDENED, PRE_PING
from .scenarios.fixes import NO_FIX, Fix, built_engine
from .scenarios.trial import Trial, new_trial

SELECT_1 = text("SELECT 1")

#: The fixes the benchmark compares, by name.
FIXES: dict[str, Fix] = {"none": NO_FIX, "pre_ping": PRE_PING, "hardened": HARDENED}

#: Latencies the proxy adds, each way, in milliseconds (0: no proxy).
LATENCIES_MS = (0.0, 1.0, 5.0)

#: Per driver, the connect arguments that leave TLS out where the server offers none.
#: PyMySQL builds ``ssl.create_default_context()`` on every connect in its default
#: "preferred" mode; mysqlclient (on MariaDB Connector/C) asks for TLS only when told to.
NO_TLS: dict[str, dict[str, Any]] = {
    "pymysql": {"ssl_disabled": True},
    "mysqlconnector": {"ssl_disabled": True},
}


def checkout_rate(
    lab: Lab, driver: str, fix: str = "none", seconds: float = 1.0, via: int | None = None
) -> dict[str, float]:
    """Check out, run ``SELECT 1`` and return, as often as possible for ``seconds``.

    One pooled connection, so the loop measures the pool and the round trips
    (any check, the query, the rollback on return), not connecting. ``via``
    routes the connection through a local port (the fault proxy).
    """
    with built_engine(lab, driver, fix_named(fix), via, pool_size=1, max_overflow=0) as (engine, _watch):
        with engine.connect() as conn:  # connect and warm up outside the timed loop
            conn.execute(SELECT_1)
        count = 0
        start = time.perf_counter()
        end = start + seconds
        while time.perf_counter() < end:
            with engine.connect() as conn:
                conn.execute(SELECT_1)
            count += 1
        elapsed = time.perf_counter() - start
    return {"checkouts": count, "seconds": elapsed, "per_second": count / elapsed}


def fix_named(name: str) -> Fix:
    try:
        return FIXES[name]
    except KeyError:
        raise ValueError(f"unknown fix {name!r}: choose one of {', '.join(FIXES)}") from None


def measure(
    lab: Lab,
    drivers: Sequence[str] = tuple(DRIVERS),
    fixes: Sequence[str] = tuple(FIXES),
    latencies_ms: Sequence[float] = (0.0,),
    seconds: float = 1.0,
    repeats: int = 3,
) -> pd.DataFrame:
    """``checkout_rate`` for every driver × fix × latency, ``repeats`` times each.

    The repeats are interleaved (every variant once, then again) and each repeat starts one
    variant later than the one before, so that a slow moment of the machine, or its drift
    during a repeat, hits all variants alike. One row per measurement; ``rtt_ms`` is the round
    trip the proxy adds (twice the latency each way).
    """
    from tqdm.auto import tqdm

    for name in fixes:
        fix_named(name)
    rows = []
    variants = [(d, f) for d in drivers for f in fixes]
    with ExitStack() as stack:
        proxies: dict[float, int | None] = {}
        for ms in latencies_ms:
            if ms == 0:
                proxies[ms] = None
                continue
            proxy = stack.enter_context(FaultProxy(lab.backend.host, lab.backend.port))
            proxy.latency(ms / 1000)
            proxies[ms] = proxy.port
        bar = stack.enter_context(
            tqdm(
                total=len(variants) * len(proxies) * repeats,
                desc="measuring checkouts",
                disable=not progress_enabled(),
            )
        )
        for repeat in range(repeats):
            shift = repeat % len(variants)
            for ms, via in proxies.items():
                for driver, fix in variants[shift:] + variants[:shift]:
                    rate = checkout_rate(lab, driver, fix, seconds, via)
                    rows.append(
                        {"driver": driver, "fix": fix, "latency_ms": ms, "rtt_ms": 2 * ms, "repeat": repeat}
                        | rate
                    )
                    bar.update()
    df = pd.DataFrame(rows)
    df["us_per_checkout"] = 1e6 / df["per_second"]
    return df


def pre_ping_cost(
    lab: Lab, drivers: Sequence[str] = tuple(DRIVERS), seconds: float = 1.0, repeats: int = 3
) -> pd.DataFrame:
    """``measure`` on loopback with no fix and with ``pool_pre_ping``."""
    return measure(lab, drivers, ("none", "pre_ping"), (0.0,), seconds, repeats)


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Medians per driver × fix × round trip: checkouts per second, µs per checkout, and the
    ratio to no fix at the same driver and round trip (``ratio_to_none``)."""
    med = df.groupby(["driver", "rtt_ms", "fix"], sort=False)["per_second"].median().reset_index()
    base = med[med["fix"] == "none"].set_index(["driver", "rtt_ms"])["per_second"]
    none = med.set_index(["driver", "rtt_ms"]).index.map(base.get)
    med["ratio_to_none"] = (med["per_second"] / none.to_numpy(dtype=float)).round(3)
    med["us_per_checkout"] = (1e6 / med["per_second"]).round(1)
    med["extra_us_per_checkout"] = (med["us_per_checkout"] - 1e6 / none.to_numpy(dtype=float)).round(1) + 0.0
    med["per_second"] = med["per_second"].round(0)
    return med[
        [
            "driver",
            "fix",
            "rtt_ms",
            "per_second",
            "ratio_to_none",
            "us_per_checkout",
            "extra_us_per_checkout",
        ]
    ]


def extra_us(df: pd.DataFrame, fix: str) -> dict[str, dict[str, float]]:
    """What ``fix``'s check adds per checkout, in µs (medians), by driver and round trip:
    ``{"pymysql": {"0": 75.0, "2": 2400.0}}`` (round trips in ms, as text keys)."""
    part = summary(df)
    part = part[part["fix"] == fix]
    return {
        str(driver): {
            f"{rtt:g}": float(us)
            for rtt, us in zip(rows["rtt_ms"], rows["extra_us_per_checkout"], strict=True)
        }
        for driver, rows in part.groupby("driver", sort=False)
    }


def cost_table(df: pd.DataFrame) -> pd.DataFrame:
    """What ``pool_pre_ping`` costs per driver (and round trip): checkouts/s without and with
    it, the extra µs per checkout and the slowdown in %."""
    s = summary(df).set_index(["driver", "rtt_ms", "fix"])
    without, with_ping = s.xs("none", level="fix"), s.xs("pre_ping", level="fix")
    out = pd.DataFrame(
        {
            "per_second_without": without["per_second"],
            "per_second_with_pre_ping": with_ping["per_second"],
            "extra_us_per_checkout": with_ping["extra_us_per_checkout"],
            "slowdown_percent": ((1 / with_ping["ratio_to_none"] - 1) * 100).round(1),
        }
    ).reset_index()
    return out if out["rtt_ms"].nunique() > 1 else out.drop(columns="rtt_ms")


def _median_us(call: Callable[[], object], n: int, repeats: int) -> float:
    """The median over ``repeats`` batches of µs per ``call()``, each batch ``n`` calls."""
    batches = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            call()
        batches.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(batches)


def part_costs(lab: Lab, driver: str = "pymysql", n: int = 2000, repeats: int = 5) -> pd.DataFrame:
    """What each part of the hardened pool costs one checkout: µs (medians of ``repeats``
    batches of ``n``) and round trips (what the server counted, per call), next to a ping and
    a ``SELECT 1`` on the same connection.

    The hardened pool's own ``checkout`` and ``checkin`` listeners are called directly on a
    live, recently used connection, so a row shows the check alone, not the pool around it:
    the peek (``poll()`` of the socket), and the peek with ``leak_after`` (the checkout's
    stack captured, the connection registered for the watcher).
    """
    rows = [
        _listeners_row(lab, driver, "peek (hardened pool, defaults)", Hardening(), n, repeats),
        _listeners_row(
            lab, driver, "peek + checkout stack (leak_after set)", Hardening(leak_after=3600), n, repeats
        ),
    ]
    engine = lab.engine(driver, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            dbapi = conn.connection.dbapi_connection
            assert dbapi is not None
            cursor = dbapi.cursor()

            def select_1() -> None:
                cursor.execute("SELECT 1")
                cursor.fetchall()

            def ping() -> None:
                engine.dialect.do_ping(dbapi)

            for part, call in (("ping (pool_pre_ping's check)", ping), ("SELECT 1 (a round trip)", select_1)):
                rows.append(_part_row(lab, part, call, n // 10, repeats))
            cursor.close()
    finally:
        engine.dispose()
    df = pd.DataFrame(rows)
    df.insert(0, "driver", driver)
    df["us"] = df["us"].round(2)
    return df


def _part_row(lab: Lab, part: str, call: Callable[[], object], n: int, repeats: int) -> dict[str, Any]:
    """µs per ``call()``, and the round trips it made as the server counted them (per call, rounded)."""

    def batch() -> None:
        for _ in range(n):
            call()

    own = _counted(lab, lambda: None)  # what reading the counters costs
    sent = _counted(lab, batch)
    trips = round(sum(sent[k] - own[k] for k in PING_COUNTERS) / n)
    return {"part": part, "us": _median_us(call, n, repeats), "round_trips": trips}


def _listeners_row(
    lab: Lab, driver: str, part: str, settings: Hardening, n: int, repeats: int
) -> dict[str, Any]:
    """The hardened pool's checkout and checkin listeners, called on a live connection."""
    fix = Fix("hardened pool", hardening=settings)
    with built_engine(lab, driver, fix, pool_size=1, max_overflow=0) as (engine, watch):
        assert watch is not None
        with engine.connect() as conn:
            fairy = conn.connection
            dbapi, record = fairy.dbapi_connection, fairy._connection_record
            return _part_row(lab, part, lambda: watch.check(dbapi, record), n, repeats)


def connect_costs(
    lab: Lab,
    drivers: Sequence[str] = tuple(DRIVERS),
    n: int = 20,
    repeats: int = 5,
    tls_lab: Lab | None = None,
) -> pd.DataFrame:
    """Milliseconds per new DBAPI connection (connect, then close), per driver, with the
    driver's defaults and, where :data:`NO_TLS` has them, with TLS left out; with ``tls_lab``
    (a server that requires TLS, :func:`helpers.tls.tls_lab`) also over TLS, the server's
    certificate verified. The medians of ``repeats`` interleaved batches of ``n``; ``server``
    says which server. A recycle or a disconnect pays this once.
    An async driver's ``connect()`` coroutine runs on an event loop of this call's own, in a
    thread of its own (Jupyter runs a loop in the caller's thread); each connect includes one
    ``run_until_complete``."""
    variants: list[tuple[str, str, dict[str, Any], Lab]] = [(d, "defaults", {}, lab) for d in drivers] + [
        (d, ", ".join(f"{k}={v}" for k, v in args.items()), args, lab)
        for d in drivers
        for args in [NO_TLS.get(d)]
        if args
    ]
    ca = tls_lab.backend.tls_ca if tls_lab is not None else None
    if tls_lab is not None and ca is not None:
        variants += [(d, "TLS, certificate verified", tls.connect_args(d, ca), tls_lab) for d in drivers]
    connects: dict[tuple[str, str], Callable[[], object]] = {}
    loop = asyncio.new_event_loop()  # not running until a batch runs it: closed in any case below
    batches: dict[tuple[str, str], list[float]] = {}
    try:
        for driver, name, args, server in variants:
            is_async = driver in ASYNC_DRIVERS
            make = create_async_engine if is_async else sqlalchemy.create_engine
            dialect = make(server.url(driver)).dialect  # no pool is used: nothing to dispose
            cargs, cparams = dialect.create_connect_args(server.url(driver))  # what the dialect passes
            params = {**cparams, **args}
            connects[driver, name] = (  # the name says which server: a TLS one, or the lab's
                _async_connect(loop, driver, cargs, params)
                if is_async
                else _sync_connect(dialect, cargs, params)
            )
        batches = {key: [] for key in connects}
        servers = {
            (d, name): "TLS required" if server.backend.tls_ca else "the lab's (TLS not configured)"
            for d, name, _, server in variants
        }
        with ThreadPoolExecutor(1) as loop_thread:
            for _ in range(repeats):
                for key, connect in connects.items():
                    if key[0] in ASYNC_DRIVERS:
                        batches[key].append(loop_thread.submit(_median_us, connect, n, 1).result() / 1000)
                    else:
                        batches[key].append(_median_us(connect, n, 1) / 1000)
    finally:
        loop.close()
    return pd.DataFrame(
        [
            {
                "driver": d,
                "server": servers[d, name],
                "connect_args": name,
                "ms_per_connect": round(statistics.median(b), 3),
            }
            for (d, name), b in batches.items()
        ]
    )


def _sync_connect(dialect: Any, cargs: Any, cparams: dict[str, Any]) -> Callable[[], None]:
    """A call that opens one DBAPI connection through ``dialect`` and closes it."""
    return lambda: dialect.connect(*cargs, **cparams).close()


def _async_connect(
    loop: asyncio.AbstractEventLoop, driver: str, cargs: Any, cparams: dict[str, Any]
) -> Callable[[], None]:
    """A call that runs async ``driver``'s own ``connect()`` on ``loop``, then closes the
    connection as the sync drivers' ``close()`` does: with COM_QUIT (``ensure_closed()``)."""
    module = importlib.import_module(driver)

    async def connect_close() -> None:
        conn = await module.connect(*cargs, **cparams)
        await conn.ensure_closed()

    return lambda: loop.run_until_complete(connect_close())


#: The server's counters that tell a ping (COM_PING) from a ``SELECT 1``.
PING_COUNTERS = ("Com_admin_commands", "Com_select")


def ping_mechanisms(
    lab: Lab, drivers: Sequence[str] = tuple(ALL_DRIVERS), n: int = 200, repeats: int = 3
) -> pd.DataFrame:
    """How ``pool_pre_ping`` checks a connection with each driver, and what it costs.

    Per driver: ``n`` checkouts with no statement on one pooled connection with
    ``pool_pre_ping``, counting on the server what each sends (``Com_admin_commands`` counts
    COM_PING, ``Com_select`` a ``SELECT 1``), less what reading the counters itself costs; then
    µs per checkout with and without pre-ping (medians of ``repeats`` interleaved batches), on
    the driver's real code path (an event loop for the async ones)."""
    return pd.DataFrame([_ping_row(lab, driver, n, repeats) for driver in drivers])


def _ping_row(lab: Lab, driver: str, n: int, repeats: int) -> dict[str, Any]:
    trials = {
        fix.name: new_trial(lab, "pre_ping", driver, fix, time.monotonic()) for fix in (NO_FIX, PRE_PING)
    }

    def sent_per_checkout(trial: Trial) -> dict[str, float]:
        def checkouts() -> None:
            for _ in range(n):
                trial.touch()

        own = _counted(lab, lambda: None)  # what reading the counters costs
        sent = _counted(lab, checkouts)
        return {k: round((sent[k] - own[k]) / n, 2) for k in PING_COUNTERS}

    try:
        for trial in trials.values():
            trial.touch()  # connect: a fresh connection is not pinged
        per = sent_per_checkout(trials[PRE_PING.name])
        without_pre_ping = sent_per_checkout(trials[NO_FIX.name])
        us: dict[str, list[float]] = {name: [] for name in trials}
        for _ in range(repeats):
            for name, trial in trials.items():
                us[name].append(_median_us(trial.touch, n, 1))
    finally:
        for trial in trials.values():
            trial.close()
    without, with_ping = (statistics.median(times) for times in us.values())
    sends = (
        "COM_PING" if per["Com_admin_commands"] >= 0.9 else "SELECT 1" if per["Com_select"] >= 0.9 else "?"
    )
    return {
        "driver": driver,
        "pre_ping_sends": sends,
        "com_ping_per_checkout": per["Com_admin_commands"],
        "select_per_checkout": per["Com_select"],
        "round_trips_per_checkout": round(sum(per.values()), 2),
        "round_trips_per_checkout_without": round(sum(without_pre_ping.values()), 2),
        "us_per_checkout": round(without, 1),
        "us_per_checkout_with_pre_ping": round(with_ping, 1),
        "pre_ping_us": round(with_ping - without, 1),
        **versions(driver),
    }


def _counted(lab: Lab, action: Callable[[], object]) -> dict[str, int]:
    """How much each of :data:`PING_COUNTERS` grew on the server around ``action()``."""
    before = lab.status(PING_COUNTERS).iloc[0]
    action()
    after = lab.status(PING_COUNTERS).iloc[0]
    return {k: int(after[k] - before[k]) for k in PING_COUNTERS}
