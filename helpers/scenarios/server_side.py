"""The server ends the connection: KILL (idle, mid-query), restart, idle-in-transaction timeouts.

What ``pool_pre_ping`` covers (a connection killed while it sat in the pool) and
what it cannot (a connection lost while the request holds it), and what the
ORM needs after such a loss: a rollback before the Session can be used again.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pandas as pd
import sqlalchemy.exc
from sqlalchemy import text
from sqlalchemy.orm import Session

from ..drivers import describe_error
from ..lab import Lab, server_id
from ..progress import wait
from .common import HARDENED, PRE_PING, does_not_prevent
from .fixes import NO_FIX, Fix
from .registry import scenario
from .trial import Trial, each, ensure_events_table

#: When the KILL lands during ``SELECT SLEEP(QUERY)``.
KILL_AFTER = 0.3
QUERY = 3
#: MariaDB's idle_transaction_timeout for the lab, and how long the request idles.
TX_TIMEOUT = 1
TX_IDLE = 2.0


@scenario(
    "kill_idle",
    "The connection is KILLed while it sits in the pool",
    fixes=[NO_FIX, PRE_PING, HARDENED],
)
def kill_idle(lab: Lab, trials: list[Trial]) -> None:
    each(trials, "first query")
    for trial in trials:
        lab.kill(trial.rows[-1]["connection_id"])
    each(trials, "after KILL")
    each(trials, "next checkout")


@scenario(
    "kill_mid_query",
    "The connection is KILLed while a query runs on it",
    fixes=[NO_FIX, does_not_prevent(PRE_PING), does_not_prevent(HARDENED)],
)
def kill_mid_query(lab: Lab, trials: list[Trial]) -> None:
    each(trials, "first query")
    for trial in trials:
        conn = trial.checkout()
        timer = threading.Timer(KILL_AFTER, lab.kill, (server_id(conn),))
        timer.start()
        trial.query(f"SELECT SLEEP({QUERY}), KILL after {KILL_AFTER}s", f"SELECT SLEEP({QUERY})", conn=conn)
        timer.join()
    each(trials, "next checkout")


@scenario(
    "idle_transaction",
    f"A transaction writes, then idles {TX_IDLE:g}s > idle_transaction_timeout={TX_TIMEOUT}s",
    fixes=[
        NO_FIX,
        does_not_prevent(PRE_PING),
        Fix("commit before idling", code_change="commit"),
    ],
    code_changes={"commit"},
)
def idle_transaction(lab: Lab, trials: list[Trial]) -> None:
    table = ensure_events_table(lab)
    with lab.globals(idle_transaction_timeout=TX_TIMEOUT):
        held = {}
        for trial in trials:
            conn = trial.checkout()
            commit = trial.fix.code_change == "commit"
            trial.query(
                "INSERT in a transaction", f"INSERT INTO {table} (v) VALUES (1)", conn=conn, keep=not commit
            )
            held[trial] = conn
        wait(TX_IDLE, "idle inside the transaction")
        for trial, conn in held.items():
            if trial.fix.code_change == "commit":
                trial.query("next statement")
            else:
                trial.query("next statement in the transaction", conn=conn)
        each(trials, "next checkout")


def session_after_disconnect(lab: Lab, driver: str = "pymysql") -> pd.DataFrame:
    """An ORM Session loses its connection mid-transaction: what each next call raises.

    1. the statement on the dead connection fails (OperationalError, connection invalidated)
    2. the Session refuses further work until rolled back (PendingRollbackError)
    3. after ``rollback()`` it works again, on a new connection
    """
    table = ensure_events_table(lab)
    engine = lab.engine(driver, pool_pre_ping=True)
    steps: list[dict[str, Any]] = []

    def step(name: str, fn: Any) -> None:
        start = time.monotonic()
        try:
            result = fn()
            steps.append(
                {
                    "step": name,
                    "outcome": "ok",
                    "exception": None,
                    "error_code": None,
                    "message": None if result is None else str(result),
                }
            )
        except sqlalchemy.exc.SQLAlchemyError as exc:
            info = describe_error(exc)
            steps.append(
                {
                    "step": name,
                    "outcome": "error",
                    "exception": type(exc).__name__,
                    "error_code": info.error_code,
                    "message": info.message[:120],
                }
            )
        steps[-1]["seconds"] = round(time.monotonic() - start, 3)

    try:
        with Session(engine) as session:
            marker = int(time.time() * 1000) % 1_000_000_000
            insert = text(f"INSERT INTO {table} (v) VALUES (:v)")
            step("INSERT (transaction begins)", lambda: session.execute(insert, {"v": marker}) and None)
            cid = session.connection().connection.info["server_id"]
            step(f"server KILLs connection {cid}", lambda: lab.kill(cid))
            step("SELECT in the same transaction", lambda: session.execute(text("SELECT 1")).scalar())
            step("SELECT again, no rollback", lambda: session.execute(text("SELECT 1")).scalar())
            step("session.rollback()", session.rollback)
            step("SELECT after rollback", lambda: session.execute(text("SELECT CONNECTION_ID()")).scalar())
            count = text(f"SELECT COUNT(*) FROM {table} WHERE v = :v")
            step("rows the INSERT left", lambda: session.execute(count, {"v": marker}).scalar())
    finally:
        engine.dispose()
    return pd.DataFrame(steps).astype({"error_code": "Int64"})
