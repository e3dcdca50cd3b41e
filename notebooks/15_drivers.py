# %% [markdown]
# # 15 · Six drivers, the same causes
#
# **The question.** The lessons use PyMySQL and mysqlclient. Teams also run Oracle's
# mysql-connector-python, MariaDB Connector/Python (`mariadb`), and behind FastAPI the async
# `aiomysql` and `asyncmy` through `create_async_engine`. Does each say the same thing when the
# server drops a connection, does SQLAlchemy recognise it, and what does each one's `pre_ping`
# actually send?
#
# The async drivers run on their real code path: an `AsyncEngine`, an event loop that runs each
# step as a coroutine.

# %% [markdown]
# **Before you start:** `01_reproduce`, `03_pool_pre_ping`.
# **Docker:** not needed. **Time to run:** about a minute.

# %% tags=["parameters"]
drivers = None  # every driver the lab has; ["pymysql", "asyncmy"] runs two
scenarios = ["idle", "recycle_margin", "restart", "kill_idle", "kill_mid_query", "long_work", "lb_reset"]

# %%
import pandas as pd

import helpers
from helpers import plots
from helpers.drivers import ALL_DRIVERS, timeout_table
from helpers.record import code, nested, record

lab = helpers.start_lab()
drivers = drivers or list(ALL_DRIVERS)
helpers.scenarios.coverage(drivers)

# %% [markdown]
# "runs" where the lab runs a scenario with a driver; otherwise the reason, as data. Lessons and
# scenarios default to the two drivers above; `drivers=[...]` or `--driver` picks any of these.
#
# ## The same causes, with no fix
#
# Each scenario once, every driver in lockstep, no pool check:

# %%
rows = pd.concat(
    [helpers.run(name, lab, drivers=drivers, fixes=["none"]) for name in scenarios], ignore_index=True
)
errors = helpers.scenarios.first_errors(rows)
plots.error_grid(errors)

# %%
record(
    "the first error per cause and driver",
    codes=nested(errors, ["scenario", "driver"], lambda e: code(e.error_code)),
    invalidated=nested(errors, ["scenario", "driver"], lambda e: bool(e.invalidated)),
    recovered=nested(helpers.summarize(rows), ["scenario", "driver"], "recovered"),
)
errors[["scenario", "driver", "error_class", "error_code", "message", "invalidated"]]

# %% [markdown]
# What the grid shows:
# - The codes differ for the same fault. After an idle timeout PyMySQL and mysqlclient say 2006,
#   MariaDB Connector/Python says 2006 as an `InterfaceError` (its code is in `errno`, not in the
#   exception's arguments), aiomysql says 2013, asyncmy 2006 or 2013 from one run to the next, and
#   mysql-connector-python says 2055 ("Lost connection to MySQL server at 'host:port', system error:
#   Errno 32: Broken pipe").
# - **Amber cells are a finding:** with mysql-connector-python, SQLAlchemy does not see the dead
#   connection as a disconnect when it is the first statement of a checkout. `cursor()` refuses it
#   with "MySQL Connection not available"; the dialect looks for "MySQL Connection not available."
#   with a full stop; the rollback that follows fails with 2055, and that error reaches the caller as
#   a re-entrant error with `connection_invalidated` False. In `long_work`, where the request has
#   already used the connection, the same 2055 is recognised.
# - Every driver recovers on the next checkout all the same (the `recovered` values above).
#
# ## A client read timeout
#
# Each driver has its own names for its timeouts, and two lack some:

# %%
timeout_table()

# %% [markdown]
# A scenario's `Fix(read_timeout=1)` passes the driver's own name in `connect_args`; for aiomysql,
# which has no read timeout, the lab does what an async app does and bounds each statement with
# `asyncio.wait_for(..., 1)`. A 2 s query with a 1 s read timeout, then the next checkout:

# %%
timeouts = helpers.run("read_timeout", lab, drivers=drivers, fixes=["read_timeout=1"])
timeout_errors = helpers.scenarios.first_errors(timeouts)
record(
    "read_timeout=1 against a 2 s query",
    timeout_codes={
        e.driver: None if pd.isna(e.error_code) else int(e.error_code) for e in timeout_errors.itertuples()
    },
    timeout_seconds=dict(zip(timeout_errors["driver"], timeout_errors["latency"], strict=True)),
    next_checkout_ok={s.driver: s.recovered for s in helpers.summarize(timeouts).itertuples()},
)
timeout_errors[["driver", "error_class", "error_code", "message", "invalidated", "latency"]]

# %% [markdown]
# - PyMySQL, mysqlclient, MariaDB Connector/Python and asyncmy end the query after 1 s with 2013,
#   and the next checkout works.
# - **aiomysql** (`asyncio.wait_for`) raises a bare `TimeoutError` after 1 s: no code, no text.
#   SQLAlchemy invalidates the connection whose await was cancelled, and the next checkout works.
#   A traceback ends in a bare "TimeoutError"; the runbook reads that as an app's own timeout.
# - **mysql-connector-python** ends it with its own `ReadTimeoutError` 3024, which SQLAlchemy does not
#   see as a disconnect, and later than 1 s (see `latency`, in seconds). The driver has closed the
#   connection, so the pool hands the closed connection out again and the *next* checkout fails
#   too. `pool_pre_ping` would catch it there.
#
# The versions behind these rows:

# %%
versions = rows.drop_duplicates("driver")[["driver", "driver_version", "sqlalchemy_version"]]
record("versions", versions=dict(zip(versions["driver"], versions["driver_version"], strict=True)))
versions

# %% [markdown]
# ## What `pre_ping` sends, and what it costs
#
# Two hundred checkouts with `pool_pre_ping` on one pooled connection, counted on the server:
# `Com_admin_commands` counts a COM_PING, `Com_select` a `SELECT 1`. Then µs per checkout with and
# without it (each checkout runs no statement, so the difference is the ping).

# %%
pings = helpers.bench.ping_mechanisms(lab, drivers)
plots.ping_costs(pings)

# %%
record("what pre-ping sends", sends=dict(zip(pings["driver"], pings["pre_ping_sends"], strict=True)))
pings

# %% [markdown]
# MariaDB's SQLAlchemy dialect has no native ping, so its `pre_ping` runs a `SELECT 1`: a whole
# query with a result set. The others send COM_PING. The async drivers' checkouts cost more with or
# without a ping: each one goes through the event loop and SQLAlchemy's greenlet bridge.
#
# ## What a connect costs
#
# A recycle or a disconnect pays one connect. Per driver, with its defaults and, where it has
# one, with the setting that leaves TLS out (an async driver's `connect()` runs on an event loop):

# %%
connects = helpers.bench.connect_costs(lab, drivers)
record(
    "ms per connect",
    connect_ms=nested(connects, ["driver", "connect_args"], "ms_per_connect"),
)
connects

# %% [markdown]
# PyMySQL builds a TLS context on every connect in its default "preferred" mode, even against a
# server without TLS; `ssl_disabled=True` removes that cost (`13_beyond_pre_ping`).
#
# ## What to choose, and what to set
# - **Any driver:** `pool_pre_ping=True` (or the hardened pool of `13`) prevents the idle, restart
#   and kill errors with each of the six; nothing at checkout helps a connection lost mid-request.
# - **mysql-connector-python:** expect 2055 instead of 2006, and a first error after a dead
#   checkout that SQLAlchemy does not mark as a disconnect: use `pool_pre_ping` so that it never
#   reaches a request, and do not rely on `connection_invalidated` in retry logic.
# - **MariaDB Connector/Python:** errors arrive as `InterfaceError` with the code in `errno`;
#   `pre_ping` costs a `SELECT 1`.
# - **PyMySQL:** set `ssl_disabled=True` (or pass one `SSLContext`) where connections are recycled.
# - **aiomysql, asyncmy:** the same causes and fixes through `create_async_engine`; aiomysql reports
#   2013 where the sync drivers report 2006, asyncmy either, from run to run. aiomysql has no read
#   timeout: bound awaits with `asyncio.wait_for()` or `asyncio.timeout()`. A bound on the statement
#   leaves the pool's pre-ping unbounded behind a device that silently drops flows
#   (`lb_silent_drop`), and a bound on the whole request turns that wait into a `TimeoutError`,
#   not a reconnect; asyncmy's `read_timeout` makes the ping fail fast and the pool reconnect.
# - **Timeouts:** set each driver's own names from the table above; whole seconds for mysqlclient
#   and MariaDB Connector/Python, and for mysql-connector-python's read and write timeouts
#   (`timeout_args` refuses a fraction there).
#
# ## The versions these findings hold for
#
# Each finding above was measured with the versions the lab's lock (`requirements.txt`) pins;
# another release may behave otherwise. `helpers.findings` lists them, and a test fails, naming the
# finding and both versions, when the lock moves:

# %%
from helpers import findings

findings.table()

# %% [markdown]
# ## What's next, and references
#
# **Next:** the runbook (`runbook`) and the playground (`playground`).
#
# - [SQLAlchemy: MySQL and MariaDB dialects](https://docs.sqlalchemy.org/en/20/dialects/mysql.html)
# - [SQLAlchemy: asyncio](https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html)
# - [MySQL client error codes (2055 CR_SERVER_LOST_EXTENDED)](https://dev.mysql.com/doc/mysql-errors/8.0/en/client-error-reference.html)
# - [MariaDB Connector/Python](https://mariadb.com/docs/server/connect/programming-languages/python/)
