# %% [markdown]
# # 08 · Web applications: sessions that outlive their request
#
# **The question.** The app has `pool_pre_ping=True`, yet after a quiet period one request
# fails, and on some apps *every* later request on that worker fails too. Why?
#
# **The mechanism.** A Session holds its connection from its first query until it is committed,
# rolled back or closed. If the request does not end its Session (`scoped_session.remove()` at
# teardown, or a per-request Session that is closed), the connection stays with the session, never
# goes back through the pool's checkout, and pre-ping never sees it.
#
# Three real apps, driven through their test clients: request, 3 s of quiet (`wait_timeout` = 2 s),
# request, request.

# %% [markdown]
# **Before you start:** `01_reproduce`, `03_pool_pre_ping`, `06_server_kills`.
# **Docker:** not needed (a private `mariadbd` serves where no engine answers). **Time to run:** about 20 s, measured in the lab's browser tests.

# %% tags=["parameters"]
drivers = None  # both drivers; ["pymysql"] runs one

# %%

import helpers
from helpers import plots
from helpers.record import nested, outcomes, record

lab = helpers.start_lab()
rows = helpers.run_all(lab, ["flask_scoped_session", "flask_sqlalchemy", "fastapi_session"], drivers=drivers)
summary = helpers.summarize(rows)
plots.outcome_grid(summary, title="Request, 3 s quiet, request, request")


# %%
record("each fix, per driver", outcomes=outcomes(helpers.summarize(rows)))

# %%
rows[rows["outcome"] == "error"][["scenario", "driver", "fix", "step", "error_class", "error_code"]]

# %% [markdown]
# - **Flask + `scoped_session` without `remove()`**: request 2 gets 2006, and request 3 gets
#   `PendingRollbackError`: the thread's Session is stuck in its failed transaction, for every
#   request that thread serves, until the process restarts. With `remove()` but no pre-ping, request
#   2 fails once (the pooled connection is dead) and request 3 recovers. Both together: clean.
# - **Flask-SQLAlchemy** removes the session at teardown for you; what it needs is pool settings,
#   passed as `SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}` (or `pool_recycle`).
# - **FastAPI**: a Session per request from a `yield` dependency is clean; one Session shared by all
#   requests behaves like the un-removed `scoped_session`.
#
# ## Sessions never given back exhaust the pool
#
# A threaded server's worker threads each keep a thread-local Session. Without `remove()`, each
# keeps a connection after its request: three workers, a pool of two (no overflow, 1 s wait).

# %%
exhaustion = helpers.run("pool_exhaustion", lab, drivers=drivers)
record(
    "pool exhaustion: the QueuePool limit without remove(), none with it",
    exhaustion=outcomes(helpers.summarize(exhaustion)),
    limit_reached=nested(
        exhaustion.assign(limit=exhaustion["message"].fillna("").str.contains("QueuePool limit"))
        .groupby(["driver", "fix"], as_index=False)["limit"]
        .any(),
        ["driver", "fix"],
        "limit",
    ),
)
exhaustion[["driver", "fix", "step", "connection_id", "outcome", "error_class", "message"]]

# %% [markdown]
# The third worker waits `pool_timeout` and gets `QueuePool limit of size 2 overflow 0 reached,
# connection timed out`. **Detect it** with `engine.pool.status()` (or `engine.pool.checkedout()`):
# connections checked out while no request is running means sessions are not being closed. With
# `remove()` all three workers share one connection in turn.
#
# ## In production
# - End every Session with its request: `scoped_session.remove()` in teardown (Flask-SQLAlchemy does
#   it), or a per-request Session closed by the framework (FastAPI `yield` dependency).
# - Then `pool_pre_ping=True` (Flask-SQLAlchemy: `SQLALCHEMY_ENGINE_OPTIONS`) covers the rest.
# - Alert on `QueuePool limit ... reached` and export `pool.checkedout()`.

# %% [markdown]
# ## What's next, and references
#
# **Next:** `09_keepalive_vs_timeout`.
#
# - [Flask-SQLAlchemy: Configuration](https://flask-sqlalchemy.readthedocs.io/en/stable/config/)
# - [FastAPI: SQL (Relational) Databases](https://fastapi.tiangolo.com/tutorial/sql-databases/)
# - [SQLAlchemy: Session basics, when do I construct a Session](https://docs.sqlalchemy.org/en/20/orm/session_basics.html#when-do-i-construct-a-session-when-do-i-commit-it-and-when-do-i-close-it)
