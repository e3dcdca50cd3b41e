# %% [markdown]
# # 04 · Long work while holding a connection
#
# **The question.** A request fails with 2013/2006 in the *middle*, after it already ran queries
# successfully. `pool_pre_ping` is on. Why?
#
# **The mechanism.** The request checked a connection out, queried, then spent longer than
# `wait_timeout` on something else (an API call, a report, a file upload) while its Session kept
# the connection. The server saw an idle connection and closed it. Pool settings act only at
# **checkout**; this connection was never checked in.
#
# `long_work`: query, 3 s of non-database work (`wait_timeout` = 2 s), query again.

# %% [markdown]
# **Before you start:** `01_reproduce`, `02_pool_recycle`, `03_pool_pre_ping`.
# **Docker:** not needed (a private `mariadbd` serves where no engine answers). **Time to run:** under 15 s, measured in the lab's browser tests.

# %% tags=["parameters"]
drivers = None  # both drivers; ["pymysql"] runs one

# %%
import helpers
from helpers import plots
from helpers.record import outcomes, record

lab = helpers.start_lab()
rows = helpers.run("long_work", lab, drivers=drivers)
summary = helpers.summarize(rows)
plots.outcome_grid(summary, title="Query, 3 s of other work on the same connection, query")


# %%
record("each fix, per driver", outcomes=outcomes(helpers.summarize(rows)))

# %% [markdown]
# `pool_pre_ping` and `pool_recycle` fail, as predicted: nothing checks the connection out in
# between. What works:
# - **release during work**: end the transaction and give the connection back before the long work,
#   check out anew afterwards (with pre-ping, so a stale pooled one is replaced);
# - **keep-alive during work**: a `SELECT 1` every second keeps the server's idle clock from reaching
#   `wait_timeout` (rows named `keep-alive` below);
# - **a longer session `wait_timeout`** for this engine only, set when each connection is made:
#   a `connect` event running `SET SESSION wait_timeout = 10`, or the driver's `init_command`.

# %%
plots.timeline(rows[rows["step"] != "keep-alive"], wait_timeout=helpers.scenarios.WAIT_TIMEOUT)

# %%
rows[rows["outcome"] == "error"][["driver", "fix", "step", "error_code", "message"]]

# %% [markdown]
# ## In production
# - Do not hold a Session across slow non-database work: commit or close, work, then open a new one.
# - Jobs that must hold a connection (batch scripts, migrations) can raise their own session
#   `wait_timeout` (`connect` event or `connect_args={"init_command": "SET SESSION wait_timeout=..."}`)
#   without changing the server for everyone.
# - A 2013 in the middle of a request, with pre-ping on, points here (or to `read_timeout`, `07`).

# %% [markdown]
# ## What's next, and references
#
# **Next:** `05_interactive_timeout`.
#
# - [MySQL manual: MySQL server has gone away](https://dev.mysql.com/doc/refman/8.0/en/gone-away.html)
# - [MariaDB: `wait_timeout`](https://mariadb.com/kb/en/server-system-variables/#wait_timeout)
# - [SQLAlchemy: Dealing with Disconnects](https://docs.sqlalchemy.org/en/20/core/pooling.html#dealing-with-disconnects)
