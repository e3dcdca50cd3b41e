# %% [markdown]
# # 10 · fork and multiprocessing
#
# **The question.** A Celery/Gunicorn/multiprocessing worker gets `Lost connection`, `Commands out of
# sync` or `Packet sequence number wrong`, at random. Why?
#
# **The mechanism.** `fork()` copies the process, open sockets included. An engine created before
# the fork gives every child the parent's pooled connection: several processes then talk on one
# socket at once, and the protocol breaks for all of them.
#
# The parent runs a query (its pool now holds a connection), forks two children, and all three run
# 30 queries at the same time.

# %% [markdown]
# **Before you start:** `01_reproduce`.
# **Docker:** not needed (a private `mariadbd` serves where no engine answers). **Time to run:** under 15 s, measured in the lab's browser tests.

# %% tags=["parameters"]
drivers = None  # both drivers; ["pymysql"] runs one

# %%
import helpers
from helpers import plots
from helpers.record import outcomes, record

lab = helpers.start_lab()
rows = helpers.run("fork", lab, drivers=drivers)
plots.outcome_grid(helpers.summarize(rows), title="Parent and two forked children share an engine")


# %%
record("each fix, per driver", outcomes=outcomes(helpers.summarize(rows)))

# %%
rows[rows["outcome"] == "error"][["driver", "fix", "step", "error_class", "error_code", "message"]]

# %% [markdown]
# Without a fix, the failures differ run by run and driver by driver (2013, 2006, 2014 commands out
# of sync, or a SQLAlchemy `ResourceClosedError` when a reply meant for another process arrives),
# and they hit the parent too. Some of them are not recognised as disconnects, so the tangled
# connection can stay in the parent's pool and fail its next checkout as well.
#
# The fixes give each process its own connections:
# - `engine.dispose(close=False)` at the start of the child (a pool initializer, Celery's
#   `worker_process_init`, Gunicorn's `post_fork`): the child forgets the inherited connections
#   without closing the parent's sockets. **With PyMySQL only.** The child here then runs a garbage
#   collection, as any long-lived worker does sooner or later. It frees the connections the pool
#   let go of, and mysqlclient (like MariaDB Connector/Python and mysql-connector-python) closes a
#   connection it frees with COM_QUIT, over the socket the parent still uses. The server ends the
#   parent's connection, and the parent's next query fails (2006 or 2013 in the table above).
# - `gc.freeze()` in the parent just before forking, then `dispose(close=False)` in the child: the
#   child's collector never frees what existed at the fork, so nothing is closed. This holds with
#   every driver.
# - `NullPool`: nothing is pooled, so nothing is inherited (at the cost of a connect per checkout).
#
# ## In production
# - Create engines after forking; or call `gc.freeze()` before forking and
#   `engine.dispose(close=False)` in every child.
# - Never pass a live connection or Session across a fork.

# %% [markdown]
# ## What's next, and references
#
# **Next:** `11_retry`.
#
# - [SQLAlchemy: Using Connection Pools with Multiprocessing or os.fork()](https://docs.sqlalchemy.org/en/20/core/pooling.html#using-connection-pools-with-multiprocessing-or-os-fork)
