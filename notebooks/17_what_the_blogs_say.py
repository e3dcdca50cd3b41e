# %% [markdown]
# # 17 · What the blogs say, tested
#
# **The question.** You have read advice about "MySQL server has gone away" in posts and answers:
# recycle below the timeout, turn on pre-ping, raise the timeout, close your sessions. Which of it
# is true, which is true only for some causes, and which is wrong?
#
# Each section below quotes a claim as people write it, runs the scenario that tests it, shows the
# outcome as data, and gives a verdict computed from that run: **true**, **true only for some
# causes** (named), or **false**, with the reason. A table at the end sums them up.

# %% [markdown]
# **Before you start:** `01_reproduce` to `09_keepalive_vs_timeout` (this page points back to them).
# **Docker:** not needed. **Time to run:** about 2 minutes, measured in the lab's browser tests.

# %% tags=["parameters"]
drivers = ["pymysql"]  # the claims about fixes, with one driver; claim 10 compares both

# %%
import helpers
from helpers import advice, plots
from helpers.record import record

lab = helpers.start_lab()
verdicts = []

# %% [markdown]
# ## 1. "Set `pool_recycle` below `wait_timeout` and the error is gone."
#
# `pool_recycle=1.8` against a 2 s `wait_timeout`, tried against idling, a `KILL` of an idle
# connection, and long work while holding a connection (a restart is left out: whether a recycle
# happens to replace the connections after one depends on how long the restart took):

# %%
summary, v = advice.recycle_below(lab, drivers)
verdicts.append(v)
plots.outcome_grid(summary, title="pool_recycle=1.8 against three causes")
summary[["scenario", "driver", "fix", "ok", "error_code"]]

# %% [markdown]
# Recycling replaces connections before the server's idle timeout can close them: it prevents the
# idle failure. A `KILL` kills young connections too, and long work outlives any checkout-time
# setting (`04`, `06`).
#
# ## 2. "`pool_recycle=3600` recycles a connection after an hour without requests."
#
# A connection used every 0.5 s, never idle for long, with `pool_recycle=1.2`:

# %%
uses, v = advice.recycle_counts_age(lab)
verdicts.append(v)
uses.groupby("connection_id", sort=False)["t"].agg(["min", "max", "count"])

# %% [markdown]
# The pool counts a connection's **age** since it connected, not its idle time (`02`).
#
# ## 3. "`pool_pre_ping` sends a `SELECT 1` before each use."
#
# What each driver's pre-ping sends, counted on the server (`Com_admin_commands` counts a COM_PING,
# `Com_select` a `SELECT 1`):

# %%
pings, v = advice.what_pre_ping_sends(lab, ["pymysql", "mysqldb", "mariadbconnector"])
verdicts.append(v)
pings[["driver", "pre_ping_sends", "com_ping_per_checkout", "select_per_checkout", "driver_version"]]

# %% [markdown]
# SQLAlchemy's MySQL dialects ping with the driver's own `ping()` (COM_PING); only a dialect without one
# (MariaDB Connector/Python) runs `SELECT 1` (`15`).
#
# ## 4. "`pool_pre_ping` fixes it for good."

# %%
summary, v = advice.pre_ping_everywhere(lab, drivers)
verdicts.append(v)
plots.outcome_grid(summary, title="pool_pre_ping against seven causes")

# %% [markdown]
# Pre-ping checks at checkout. A connection lost while the request holds it (a `KILL` mid-query,
# long work) or behind a device that forgot the flow silently (the ping itself hangs) is beyond it
# (`03`, `04`, `12`).
#
# ## 5. "Raise `wait_timeout` (or set it to a year)." and 6. "A keep-alive query every few minutes keeps the connections alive."
#
# A pool quiet for 5 s against a 2 s timeout: the session's `wait_timeout` raised to 4 s, and a
# keep-alive job every second:

# %%
summary, (five, six) = advice.keepalive_and_raised_timeout(lab, drivers)
verdicts += [five, six]
summary[["scenario", "driver", "fix", "ok", "error_code"]]

# %% [markdown]
# A higher timeout only moves the cliff to a longer quiet period (and a year-long one leaves
# connections of dead clients open for a year). The keep-alive job does keep idle connections alive,
# at the price of a server thread per connection for as long as the app runs; it is not a check, so
# what kills a connection in use (a restart, a `KILL`) is another matter (`06`, `09`).
#
# ## 7. "Create a new `Session()` wherever you use one, and the stale connection goes away."
#
# Both faces of "a new Session", with a pool of one connection that idled past `wait_timeout`:

# %%
steps, v = advice.new_session_faces(lab)
verdicts.append(v)
steps

# %% [markdown]
# `scoped_session()` returns the **same** Session from its registry (as one post found: the same id
# each time). `sessionmaker()()` does make a new Session, but a Session is not a connection: it
# checks out whatever the pool holds, the dead one included.
#
# ## 8. "Close or `remove()` the session at the end of every request, and the error is gone."

# %%
summary, v = advice.remove_alone(lab, drivers)
verdicts.append(v)
summary[["driver", "fix", "ok", "error_code"]]

# %% [markdown]
# `remove()` is necessary (without it one failure sticks to the worker thread: `08`), but the
# pooled connection still dies while idle; it takes `pool_pre_ping` (or a recycle) as well.
#
# ## 9. "With a 30 s server timeout, recycle every 60 s."
#
# Scaled down: `wait_timeout` 2 s and `pool_recycle=4`, against idling; and the runbook's settings
# check of the real numbers:

# %%
summary, v = advice.recycle_above_timeout(lab, drivers)
verdicts.append(v)
summary[["driver", "fix", "ok", "error_code"]]

# %% [markdown]
# A recycle above the timeout lets connections die in the pool first. The runbook calls it
# critical (`python -m helpers doctor --engine-options '{"pool_recycle": 60}'` against such a server).
#
# ## 10. "PyMySQL says 'Lost connection' (2013) where mysqlclient says 'gone away' (2006)."

# %%
summary, v = advice.codes_by_driver(lab)
verdicts.append(v)
summary[["scenario", "driver", "error_code", "error_message"]]

# %% [markdown]
# The code follows the cause: an idle close makes the next *write* fail (2006), a restart the next
# *read* (2013), with either driver (`01`).
#
# ## 11. "`SQLALCHEMY_POOL_RECYCLE` is deprecated; use `SQLALCHEMY_ENGINE_OPTIONS`."
#
# The engine the locked Flask-SQLAlchemy builds from each key:

# %%
built, v = advice.flask_sqlalchemy_recycle(lab)
verdicts.append(v)
built

# %% [markdown]
# Flask-SQLAlchemy deprecated the `SQLALCHEMY_POOL_*` keys in 2.4 and removed them in 3.0: in 3.x
# the key is silently ignored: the engine gets Flask-SQLAlchemy's own MySQL default,
# `pool_recycle=7200`, whatever the old key says. A `wait_timeout` below two hours then still bites.
#
# ## 12. "The default `wait_timeout` is 8 hours, so it only bites overnight."

# %%
summary, v = advice.default_timeout(lab, drivers)
verdicts.append(v)
summary[["driver", "fix", "ok", "error_code"]]

# %% [markdown]
# ## 13. "`pool_pre_ping` is expensive."
#
# Judged from what it sends (counted on the server) and from its effect behind 2 ms of added round
# trip, where one round trip is far above the machine's noise; loopback µs decide nothing:

# %%
rates, v = advice.pre_ping_cost(lab)
verdicts.append(v)
rates

# %% [markdown]
# ## The verdicts

# %%
table = advice.table(verdicts)
record(
    "the verdicts, one per claim",
    verdicts={r["claim"]: r["verdict"] for r in verdicts},
    covers={r["claim"]: r["covers"] for r in verdicts},
    measured={r["claim"]: r["measured"] for r in verdicts},
)
table

# %% [markdown]
# ## In production
# - Pre-ping (or the hardened pool of `13`) for anything that kills an idle pooled connection;
#   `pool_recycle` with a margin below `wait_timeout` as well; a `read_timeout` for what hangs.
# - End every Session with its request; a new Session is not a new connection.
# - Do not raise `wait_timeout` to hide the failure; find what holds connections idle.
# - With Flask-SQLAlchemy 3, put pool settings in `SQLALCHEMY_ENGINE_OPTIONS`.

# %% [markdown]
# ## What's next, and references
#
# **Next:** the runbook (`runbook`) and the playground (`playground`).
#
# - [SQLAlchemy: Dealing with Disconnects](https://docs.sqlalchemy.org/en/20/core/pooling.html#dealing-with-disconnects)
# - [SQLAlchemy: Setting Pool Recycle](https://docs.sqlalchemy.org/en/20/core/pooling.html#setting-pool-recycle)
# - [Flask-SQLAlchemy changes (3.0: the SQLALCHEMY_POOL_* keys removed)](https://flask-sqlalchemy.readthedocs.io/en/stable/changes/)
# - [MariaDB: wait_timeout](https://mariadb.com/kb/en/server-system-variables/#wait_timeout)
