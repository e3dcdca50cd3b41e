# %% [markdown]
# # 06 · The server ends the connection
#
# **The question.** A DBA kills connections, the server restarts, or MariaDB's
# `idle_transaction_timeout` fires. Which of these does `pool_pre_ping` cover, and what does the
# application see for the others?
#
# **The mechanism.** Pre-ping tests a connection at checkout. A connection that died while it sat
# in the pool is caught. A connection that dies while a request holds it is not.

# %% [markdown]
# **Before you start:** `01_reproduce`, `03_pool_pre_ping`.
# **Docker:** not needed (a private `mariadbd` serves where no engine answers). **Time to run:** under 15 s, measured in the lab's browser tests.

# %% tags=["parameters"]
drivers = None  # both drivers; ["pymysql"] runs one

# %%

import helpers
from helpers import plots
from helpers.record import outcomes, record
from helpers.scenarios import server_side

lab = helpers.start_lab()
rows = helpers.run_all(lab, ["kill_idle", "kill_mid_query", "restart", "idle_transaction"], drivers=drivers)
summary = helpers.summarize(rows)
plots.outcome_grid(summary, title="Killed in the pool, killed mid-query, restarted, idle in a transaction")


# %%
record("each fix, per driver", outcomes=outcomes(helpers.summarize(rows)))

# %%
summary[["scenario", "driver", "fix", "ok", "error_code", "error_message"]]

# %% [markdown]
# - **KILL while idle in the pool** and **restart**: pre-ping catches both; without it, 2013.
# - **KILL mid-query**: 2013 for everyone; nothing at checkout can help a query that is already
#   running. (`KILL QUERY` instead ends only the statement, error 1317, and the connection lives.)
# - **`idle_transaction_timeout`** (MariaDB; `idle_write_transaction_timeout` counts only
#   transactions that wrote): the request that idles *inside* its transaction loses the connection,
#   2006 at its next statement, pre-ping or not. Committing before idling avoids it.
#
# ## After the loss: the Session needs a rollback
#
# An ORM Session whose connection died mid-transaction does not silently reconnect: the transaction's
# earlier work is gone, and SQLAlchemy makes you acknowledge it.

# %%
server_side.session_after_disconnect(lab, "pymysql")

# %% [markdown]
# The failed statement is `OperationalError` (the connection is invalidated); every further use
# raises `PendingRollbackError` until `rollback()`; then the Session works on a new connection. The
# INSERT made before the kill is gone (0 rows): the server rolled it back.
#
# ## In production
# - `pool_pre_ping=True` covers kills, restarts and failovers that happen between requests.
# - For losses *during* a request, handle the error: roll the Session back (a web framework's
#   teardown does it), and retry only what is safe to repeat (`11_retry`).
# - Do not leave transactions open while idle: `idle_transaction_timeout` exists because they hold locks.

# %% [markdown]
# ## What's next, and references
#
# **Next:** `07_packets_and_timeouts`.
#
# - [MySQL manual: Lost connection to MySQL server](https://dev.mysql.com/doc/refman/8.0/en/error-lost-connection.html)
# - [MariaDB: `idle_transaction_timeout`](https://mariadb.com/kb/en/server-system-variables/#idle_transaction_timeout)
# - [SQLAlchemy: Dealing with Disconnects](https://docs.sqlalchemy.org/en/20/core/pooling.html#dealing-with-disconnects)
