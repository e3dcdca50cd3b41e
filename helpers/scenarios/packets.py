"""Packets and timeouts: a too-large packet, a client read_timeout, a slow reader.

``max_allowed_packet``  the server refuses a packet larger than this and
                        closes the connection (the client sees 2006).
``read_timeout``        the *client* gives up waiting for an answer (2013).
``net_write_timeout``   the *server* gives up writing to a client that does
                        not read a streamed result (2013 at the next read).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import sqlalchemy.exc
from sqlalchemy import text

from ..drivers import describe_error
from ..lab import Lab, server_id
from ..progress import wait
from .fixes import Fix
from .registry import scenario
from .trial import AsyncTrial, Trial, each, ensure_events_table

PACKET_LIMIT = 1024 * 1024  # the lab's max_allowed_packet: 1 MiB
BLOB = 2 * PACKET_LIMIT  # what the request inserts
#: Chunk size: a quarter of the limit, since PyMySQL sends bytes as hex (twice their size).
CHUNK = PACKET_LIMIT // 4

SLOW_QUERY = 2  # seconds the server needs
STREAM_ROWS = 20_000  # × 1 KB: more than the socket buffers hold, so the server must wait for the reader
READER_PAUSE = 2.5  # seconds the reader stops reading; net_write_timeout is 1


def payload(driver: str, size: int) -> bytes | str:
    """``size`` bytes of ``x`` to insert: bytes, except for aiomysql, which gets text.
    aiomysql 0.3 imports PyMySQL's ``escape_bytes_prefixed``, which PyMySQL 1.2 replaced with
    a string, so a bytes parameter fails with ``TypeError`` before anything is sent."""
    return "x" * size if driver == "aiomysql" else b"x" * size


@scenario(
    "max_allowed_packet",
    "INSERT of a 2 MiB value with max_allowed_packet=1 MiB",
    fixes=[
        Fix("one 2 MiB INSERT", prevents=False),
        Fix("max_allowed_packet raised to 16 MiB (server)", code_change="raise"),
        Fix("256 KiB chunks, one row each", code_change="chunked"),
    ],
    code_changes={"raise", "chunked"},
)
def max_allowed_packet(lab: Lab, trials: list[Trial]) -> None:
    """Each trial inserts :func:`payload` values: bytes, or text for aiomysql."""
    table = ensure_events_table(lab)
    insert = f"INSERT INTO {table} (v, payload) VALUES (3, :payload)"
    lab.sql(f"DELETE FROM `{lab.backend.database}`.{table} WHERE v = 3")  # keep the table small
    with lab.globals(max_allowed_packet=PACKET_LIMIT):
        for trial in trials:
            if trial.fix.code_change == "raise":  # the session value is read-only: it comes from the global
                with lab.globals(max_allowed_packet=16 * PACKET_LIMIT):
                    trial.query("INSERT 2 MiB", insert, params={"payload": payload(trial.driver, BLOB)})
            elif trial.fix.code_change == "chunked":  # CONCAT() could not help: its result is capped too
                for part in range(BLOB // CHUNK):
                    trial.query(
                        f"INSERT chunk {part}", insert, params={"payload": payload(trial.driver, CHUNK)}
                    )
            else:
                trial.query("INSERT 2 MiB", insert, params={"payload": payload(trial.driver, BLOB)})
        each(trials, "next checkout")


@scenario(
    "read_timeout",
    f"A {SLOW_QUERY}s query with a client read_timeout of 1 s",
    fixes=[
        Fix("read_timeout=1", read_timeout=1, prevents=False),
        Fix("read_timeout=5", read_timeout=5),
    ],
    timings={"query": SLOW_QUERY},
)
def read_timeout(lab: Lab, trials: list[Trial], query: float) -> None:
    each(trials, "first query")
    each(trials, f"SELECT SLEEP({query:g})", f"SELECT SLEEP({query:g})")
    each(trials, "next checkout")


@scenario(
    "net_write_timeout",
    f"A client reads a streamed result, pauses {READER_PAUSE:g}s, net_write_timeout=1",
    fixes=[
        Fix("stream_results, pause", prevents=False),
        Fix("buffered result (no streaming)", code_change="buffered"),
        Fix(
            "session net_write_timeout=10 (connect event)", on_connect=("SET SESSION net_write_timeout = 10",)
        ),
    ],
    code_changes={"buffered"},
)
def net_write_timeout(lab: Lab, trials: list[Trial]) -> None:
    """An async trial streams with ``AsyncConnection.stream()`` (its steps awaited through
    ``Trial.resolve``). Two drivers never make the server wait, whatever the reader does:
    SQLAlchemy's mysql-connector-python dialect has no server-side cursor (it always asks for
    a buffered one), and asyncmy's protocol reads the socket into memory as data comes (it
    pauses reading only for the TLS handshake)."""
    query = text(f"SELECT seq, REPEAT('x', 1000) FROM seq_1_to_{STREAM_ROWS}")
    with lab.globals(net_write_timeout=1):
        each(trials, "first query")
        open_results = []
        for trial in trials:
            conn: Any = trial.checkout()
            stream = trial.fix.code_change != "buffered"
            if isinstance(trial, AsyncTrial):
                result = trial.resolve(conn.stream(query) if stream else conn.execute(query))
            else:
                result = conn.execution_options(stream_results=stream).execute(query)
            trial.resolve(result.fetchmany(10))
            open_results.append((trial, conn, result))
        wait(READER_PAUSE, "the reader pauses")
        for trial, conn, result in open_results:
            with trial.step("read the rest", server_id(conn)):
                try:
                    trial.resolve(result.fetchall())
                finally:
                    trial.resolve(conn.close())  # a coroutine for an AsyncConnection
        each(trials, "next checkout")


def packet_headroom(
    lab: Lab, sizes: tuple[int, ...] = (256_000, 512_000, 700_000, 1_000_000)
) -> pd.DataFrame:
    """Which parameter sizes each driver gets through ``max_allowed_packet`` = 1 MiB.

    PyMySQL sends ``bytes`` as a hex literal (``X'78…'``, two characters a byte);
    mysqlclient sends them escaped, about one byte a byte. The wire size decides.
    """
    rows = []
    with lab.globals(max_allowed_packet=PACKET_LIMIT):
        for driver in ("pymysql", "mysqldb"):
            engine = lab.engine(driver)
            try:
                for size in sizes:
                    try:
                        with engine.connect() as conn:
                            conn.execute(text("SELECT LENGTH(:b)"), {"b": b"x" * size}).scalar()
                        rows.append(
                            {"driver": driver, "value bytes": size, "outcome": "ok", "error_code": None}
                        )
                    except sqlalchemy.exc.DBAPIError as exc:
                        code = describe_error(exc).error_code
                        rows.append(
                            {"driver": driver, "value bytes": size, "outcome": "error", "error_code": code}
                        )
            finally:
                engine.dispose()
    table = pd.DataFrame(rows).astype({"error_code": "Int64"})
    return table.pivot(index="value bytes", columns="driver", values="outcome")
