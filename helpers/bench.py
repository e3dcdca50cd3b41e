"""What ``pool_pre_ping`` costs: checkouts per second with and without it."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pandas as pd
from sqlalchemy import text

from .drivers import DRIVERS
from .lab import Lab
from .progress import progress_enabled

SELECT_1 = text("SELECT 1")


def checkout_rate(lab: Lab, driver: str, pre_ping: bool, seconds: float = 1.0) -> dict[str, float]:
    """Check out, run ``SELECT 1`` and return, as often as possible for ``seconds``.

    One pooled connection, so the loop measures the pool and the round trips
    (the ping, the query, the rollback on return), not connecting.
    """
    engine = lab.engine(driver, pool_size=1, max_overflow=0, pool_pre_ping=pre_ping)
    try:
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
    finally:
        engine.dispose()
    return {"checkouts": count, "seconds": elapsed, "per_second": count / elapsed}


def pre_ping_cost(
    lab: Lab, drivers: Sequence[str] = tuple(DRIVERS), seconds: float = 1.0, repeats: int = 3
) -> pd.DataFrame:
    """``checkout_rate`` for every driver with and without pre-ping, ``repeats`` times each
    (interleaved, so a slow moment of the machine hits all variants alike)."""
    from tqdm.auto import tqdm

    rows = []
    variants = [(d, p) for d in drivers for p in (False, True)]
    with tqdm(
        total=len(variants) * repeats, desc="measuring checkouts", disable=not progress_enabled()
    ) as bar:
        for repeat in range(repeats):
            for driver, pre_ping in variants:
                rate = checkout_rate(lab, driver, pre_ping, seconds)
                rows.append({"driver": driver, "pre_ping": pre_ping, "repeat": repeat, **rate})
                bar.update()
    df = pd.DataFrame(rows)
    df["us_per_checkout"] = 1e6 / df["per_second"]
    return df


def cost_table(df: pd.DataFrame) -> pd.DataFrame:
    """Median checkouts/s per driver without and with pre-ping, and the cost in µs and %."""
    med = df.groupby(["driver", "pre_ping"])["per_second"].median().unstack("pre_ping")
    out = pd.DataFrame(
        {
            "per_second_without": med[False].round(0),
            "per_second_with_pre_ping": med[True].round(0),
            "extra_us_per_checkout": (1e6 / med[True] - 1e6 / med[False]).round(1),
            "slowdown_percent": ((med[False] / med[True] - 1) * 100).round(1),
        }
    )
    return out.reset_index()
