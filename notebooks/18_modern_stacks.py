# %% [markdown]
# # 18 · What modern stacks add: cancelled requests, TLS, and MySQL 8's goodbye
#
# **The question.** Three things the earlier lessons leave out, each common in today's stacks:
#
# 1. An **async app cancels a request mid-query**: a client that went away (an ASGI server cancels
#    its request), or an `asyncio.timeout()` around a statement. Does the *next* request on that
#    pool get a connection out of step with its server (`Packet sequence number wrong`,
#    `2014 Command Out of Sync`, or the previous request's rows), as aiomysql #605, asyncmy #89 and
#    SQLAlchemy #8145 reported?
# 2. The connection is **TLS**. When the server closes it, OpenSSL reads the close first. What
#    does each driver say then, and does SQLAlchemy still see a disconnect?
# 3. The server is **MySQL 8.0.24 or later**, which sends `4031 The client was disconnected by the
#    server because of inactivity` before it closes an idle connection. What does that become on
#    its way to SQLAlchemy?
#
# **What is real here.** The drivers, SQLAlchemy's pools and a second private MariaDB that
# requires TLS (certificates made by a throwaway CA with `trustme`; `require_secure_transport=ON`,
# so a trial that connects at all is a TLS one). MySQL 8 cannot be installed on this machine:
# its goodbye is **MySQL 8's bytes replayed in front of MariaDB**: the lab's fault proxy sends the
# exact ERR packet (4031, SQLSTATE HY000, numbered 0, as MySQL's manual and `net_serv.cc` give it)
# to a connection idle past its limit, then closes it.

# %% [markdown]
# **Before you start:** `01_reproduce`, `03_pool_pre_ping`, `15_drivers`.
# **Docker:** not needed. **Time to run:** about a minute (six drivers; one TLS server, about 1 s
# to start).

# %% tags=["parameters"]
drivers = None  # every driver; ["pymysql", "mysqldb"] runs two

# %%
import helpers
from helpers import bench, plots
from helpers.drivers import ALL_DRIVERS, versions
from helpers.record import code, nested, outcomes, record
from helpers.tls import kept

lab = helpers.start_lab()
drivers = drivers or list(ALL_DRIVERS)
names = ["async_cancel", "idle_tls", "restart_tls", "kill_idle_tls", "mysql8_inactivity"]
with kept(lab.backend.config) as tls_server:  # one TLS server for the TLS scenarios and the last section
    rows = helpers.run_all(lab, names, drivers=drivers)  # async_cancel: with the async drivers only
    costs = bench.connect_costs(lab, drivers, n=10, repeats=3, tls_lab=tls_server)  # shown at the end
views = rows.attrs["views"]
summary = helpers.summarize(rows)
record(
    "each cause, each fix, per driver",
    outcomes=outcomes(summary),
    versions={d: versions(d)["driver_version"] for d in drivers},
)
plots.outcome_grid(summary, title="Cancellation, TLS and MySQL 8's goodbye: each fix, per driver")

# %% [markdown]
# ## 1 · A request cancelled mid-query (`async_cancel`)
#
# Each request runs `SELECT SLEEP(5)` and is cancelled once the server shows that statement in its
# processlist: a fixed point, not a race. Then the next request runs on the same pool.

# %%
cancelled = rows[rows["step"].str.startswith(("request cancelled", "next request"))]
record(
    "the cancelled requests and the next ones",
    cancelled=nested(cancelled, ["driver", "fix", "step"], lambda r: {
        "ok": r.outcome == "ok", "invalidated": bool(r.invalidated), "message": r.message,
    }),
)  # fmt: skip
cancelled[["driver", "fix", "step", "outcome", "invalidated", "connection_id", "message"]]

# %% [markdown]
# **What really happens with the locked versions:** every cancelled connection is invalidated,
# and the next request gets a new connection and works, with no fix at all. The drivers already
# close a connection whose read was cancelled (aiomysql's `_read_packet`, asyncmy's
# `_close_on_cancel` in `connection.pyx`), and SQLAlchemy 2.x counts a cancellation as an exit
# exception and invalidates the connection. So `asyncio.shield()` around the cleanup, pre-ping,
# the hardened pool and an explicit `invalidate()` all hold too, and change nothing here. On older
# versions (before those changes) the fix is the last one: drop a cancelled connection.
#
# What no fix changes: **the server runs the cancelled statement on** (still running 0.2 s after
# the cancellation, every time; the lab then kills it). Cancelling the task frees the client, not
# the server: a heavy query keeps its thread, its locks and its CPU (`KILL QUERY` it, or bound it on
# the server with `max_statement_time`).

# %% [markdown]
# ## 2 · The same closes, over TLS (`idle_tls`, `restart_tls`, `kill_idle_tls`)

# %%
tls_rows = rows[rows["scenario"].str.endswith("_tls")]
first = helpers.scenarios.first_errors(tls_rows)
server = next(v for v in views if v["view"] == "server")
record(
    "each driver's first error over TLS",
    tls_codes=nested(first, ["scenario", "driver", "fix"], lambda r: code(r.error_code)),
    tls_texts=nested(first, ["scenario", "driver", "fix"], "message"),
    tls_invalidated=nested(first, ["scenario", "driver", "fix"], "invalidated"),
    server={k: server[k] for k in ("version", "require_secure_transport", "Ssl_version", "Ssl_cipher")},
)
first[["scenario", "driver", "fix", "error_code", "message", "invalidated"]]

# %% [markdown]
# **What the drivers say.** Python's `ssl` module reads the close: PyMySQL reports `2006 MySQL
# server has gone away (SSLEOFError(8, 'EOF occurred in violation of protocol'))` after the idle
# timeout, and mysql-connector-python `2055 ... Errno 8: EOF occurred in violation of protocol`.
# Nobody here prints OpenSSL 3's `unexpected eof while reading` that C clients show (the runbook
# knows both). The codes stay 2006, 2013 and 2055; SQLAlchemy invalidates the connection as it
# does without TLS (mysql-connector-python's 2055 not, as in lesson 15).
#
# **Where the blogs' advice breaks.** After a KILL or a restart, `pool_pre_ping` **fails** with
# mysqlclient and MariaDB Connector/Python (both on MariaDB Connector/C): their ping of the closed
# TLS connection says `2026 TLS/SSL error: shutdown while in init`, and SQLAlchemy's dialect does
# not list 2026 as a disconnect, so the ping's error reaches the request instead of a reconnect.
# Counting 2026 as a disconnect in a `handle_error` listener (it sees pre-pings too:
# `goneaway_pool.failover.treat_as_disconnect(engine, {2026})`) fixes it; so does the hardened
# pool, which peeks at the socket instead of pinging.

# %% [markdown]
# ## 3 · MySQL 8's goodbye (`mysql8_inactivity`)

# %%
first8 = helpers.scenarios.first_errors(rows[rows["scenario"] == "mysql8_inactivity"])
record(
    "what 4031 becomes, per driver",
    codes_4031=nested(first8, ["driver", "fix"], lambda r: code(r.error_code)),
    invalidated_4031=nested(first8, ["driver", "fix"], "invalidated"),
)
first8[["driver", "fix", "error_code", "message", "invalidated"]]

# %% [markdown]
# **What reaches SQLAlchemy** depends on how each driver reads a packet numbered 0 where it waits
# for 1. PyMySQL and aiomysql turn it into `2013 Lost connection` (their `_read_packet` reads a
# packet numbered 0 as the server's goodbye at shutdown); mysqlclient and MariaDB Connector/Python report
# the 4031 itself, which SQLAlchemy's MySQL dialect lists; asyncmy sees the closed stream before it
# writes and says 2006. mysql-connector-python never reads the packet: its write fails first
# (`2055 ... Broken pipe`), and its dialect does not invalidate, as after an idle timeout (lesson
# 15). Its dialect does not list 4031 either, but here that changes nothing: the `handle_error`
# listener for 4031 has no 4031 to see. `pool_pre_ping` and the hardened pool hold with all six.

# %% [markdown]
# ## What a connect costs, with and without TLS
#
# A recycle or a disconnect pays one connect. PyMySQL 1.2 builds an SSL context (loading the
# system's CA store) on every connect even where the server offers no TLS; `ssl_disabled=True`
# skips it. A TLS server adds its handshake. Measured in the first cell, on the TLS server the
# TLS scenarios used.

# %%
record("ms per connect", ms=nested(costs, ["driver", "connect_args"], "ms_per_connect"))
plots.connect_costs(costs)

# %% [markdown]
# **Takeaway.** With today's drivers and SQLAlchemy 2.x, a cancelled request costs the server its
# statement, not the next request its connection. Over TLS the codes stay the ones you know, but
# with mysqlclient or MariaDB Connector/Python count 2026 as a disconnect, or `pool_pre_ping`
# breaks after a restart. Behind MySQL 8, `pool_pre_ping` (or `pool_recycle` below `wait_timeout`)
# still holds; what your logs say depends on the driver. And if you use PyMySQL without TLS, say
# so (`ssl_disabled=True`): it saves a connect most of its time.
#
# ## References
#
# - SQLAlchemy: [Using asyncio: cancellation](https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html)
# - aiomysql #605, #614; asyncmy #89, #100, #103; sqlalchemy/sqlalchemy #7286, #8145, #11760, #7586
# - MySQL 8.0 Error Reference: `ER_CLIENT_INTERACTION_TIMEOUT` (4031)
# - MariaDB KB: Secure Connections Overview, `require_secure_transport`
