# %% [markdown]
# # 09 · Keep-alive job, or a higher `wait_timeout`?
#
# **The question.** Two popular fixes that do not touch the pool: ping the connections on a schedule
# so they never idle, or raise `wait_timeout`. What does each cost, and does each work?

# %% [markdown]
# **Before you start:** `01_reproduce`, `02_pool_recycle`, `03_pool_pre_ping`.
# **Docker:** not needed (a private `mariadbd` serves where no engine answers). **Time to run:** about 20 s, measured in the lab's browser tests.

# %% tags=["parameters"]
drivers = None  # both drivers; ["pymysql"] runs one

# %%
import helpers
from helpers import plots
from helpers.record import outcomes, record
from helpers.scenarios import WAIT_TIMEOUT, keepalive_vs_timeout

lab = helpers.start_lab()
rows = helpers.run("keepalive", lab, drivers=drivers)
plots.outcome_grid(helpers.summarize(rows), title="5 s of quiet; wait_timeout=2")


# %%
record("each fix, per driver", outcomes=outcomes(helpers.summarize(rows)))

# %% [markdown]
# The keep-alive job (`helpers.keepalive_vs_timeout.KeepAlive`: a thread that checks out the pool's
# connections every second and runs `SELECT 1`) prevents the failure. Raising the timeout to 4 s
# does not: 5 s of quiet is longer. Raising it only moves the cliff to a longer quiet period, and
# there is always a longer night, weekend or holiday.
#
# ## What they hold on the server
#
# Three pools of three connections each, watched while the application is quiet:

# %%
samples = keepalive_vs_timeout.connections_over_time(lab)
plots.connections_over_time(samples, wait_timeout=WAIT_TIMEOUT)

# %% [markdown]
# - **No fix**: the server drops all three at `wait_timeout`; the next request pays for it.
# - **Raised timeout (4 s)**: the same, later.
# - **Keep-alive**: three server threads held for as long as the application runs, busy or not,
#   for every process and every pool. Multiply by your worker count against `max_connections`.
#
# ## In production
# - Prefer `pool_pre_ping` (one round trip per checkout) and `pool_recycle` below `wait_timeout`:
#   connections are replaced when used, and the server can reclaim idle ones.
# - A keep-alive job is for connections held outside a pool (a long-lived worker's own connection);
#   size `max_connections` for what it holds.
# - Raising `wait_timeout` trades failures for idle server threads and does not remove them.

# %% [markdown]
# ## What's next, and references
#
# **Next:** `10_fork`.
#
# - [MariaDB: `wait_timeout`](https://mariadb.com/kb/en/server-system-variables/#wait_timeout)
# - [SQLAlchemy: Disconnect Handling - Pessimistic](https://docs.sqlalchemy.org/en/20/core/pooling.html#disconnect-handling-pessimistic)
