# %% [markdown]
# # 02 · Fix with `pool_recycle`
#
# **The question.** `pool_recycle=N` makes the pool replace connections older than N seconds at
# checkout. What value is right, and what does "older" mean?
#
# **The usual advice** is "set `pool_recycle` below `wait_timeout`". Let us measure below, at and
# above it, on the same idle scenario as `01`, with both drivers (`wait_timeout` = 2 s).

# %% [markdown]
# **Before you start:** `01_reproduce`.
# **Docker:** not needed (a private `mariadbd` serves where no engine answers). **Time to run:** about 20 s, measured in the lab's browser tests.

# %% tags=["parameters"]
drivers = None  # both drivers; ["pymysql"] runs one

# %%
import helpers
from helpers import Fix, plots
from helpers.record import outcomes, record

lab = helpers.start_lab()
WAIT_TIMEOUT = helpers.scenarios.WAIT_TIMEOUT

sweep = [
    Fix("none", prevents=False),
    Fix("pool_recycle=1", {"pool_recycle": 1}),
    Fix("pool_recycle=2 (=wait_timeout)", {"pool_recycle": 2}),
    Fix("pool_recycle=4", {"pool_recycle": 4}, prevents=False),
]
idle_rows = helpers.run("idle", lab, drivers=drivers, fixes=sweep)
plots.timeline(idle_rows, wait_timeout=WAIT_TIMEOUT)

# %%
helpers.summarize(idle_rows)[["driver", "fix", "ok", "errors", "error_code"]]


# %%
record("the recycle sweep, idling", idle=outcomes(helpers.summarize(idle_rows)))

# %% [markdown]
# Below `wait_timeout` it works and above it does not, as advertised. **At** `wait_timeout` it also
# works here, and that is no accident: the pool measures a connection's age from when it was
# *opened*, and the server measures idleness from its *last command*, which is always later. So for
# a connection that just sat in the pool, age ≥ idle time, and recycle = `wait_timeout` is in time.
#
# ## Where recycle at `wait_timeout` fails
#
# Recycling happens only at checkout. A request that checks a connection out and works for a while
# before its first query lets the connection keep idling on the server *after* the pool's check.
# `recycle_margin`: checkout after 1.3 s in the pool, 1.3 s of work, then the first query.

# %%
margin_rows = helpers.run("recycle_margin", lab, drivers=drivers)
plots.outcome_grid(helpers.summarize(margin_rows), title="Checkout, 1.3 s of work, then the first query")


# %%
record("recycle and a request that works first", margin=outcomes(helpers.summarize(margin_rows)))

# %% [markdown]
# Recycle at `wait_timeout` (and above) now fails: the check at checkout passed, the query came
# too late. Only a recycle that leaves a margin bigger than the time between checkout and first
# query prevents it. `pool_pre_ping` also passes here: its ping at checkout is a command, so it
# resets the server's idle clock (see `03`).
#
# ## Recycle counts age, not idle time
#
# A connection used every 0.5 s, never idle longer, with `pool_recycle=1.2`. We capture the
# `sqlalchemy.pool` logger (what `echo_pool="debug"` would print) as data.

# %%
uses, pool_log = helpers.recycle_by_age(lab, recycle=1.2)
plots.connection_ids(uses, recycle=1.2)

# %%
pool_log[pool_log["message"].str.contains("recycling|Created new connection", regex=True)]

# %% [markdown]
# The server connection id changes at the first use after the connection turned 1.2 s old (every
# 1.5 s on this 0.5 s rhythm), although it was never idle for more than 0.5 s: each recycle closes
# a healthy connection and opens a new one. That is the price of `pool_recycle`: a reconnect per
# connection per recycle period, paid by the request that hits it.
#
# ## In production
# - Set `pool_recycle` **well below** the server's `wait_timeout`, with a margin at least as long as
#   a request can hold a connection before its first query: e.g. `wait_timeout=28800` → `pool_recycle=3600`.
# - Know the real `wait_timeout` your connections get (global, or `interactive_timeout` for
#   interactive clients, or a per-session value): `SELECT @@session.wait_timeout` from the app.
# - Recycle does nothing for a connection that dies for other reasons (restart, kill, network):
#   that is `pool_pre_ping`'s job, next.

# %% [markdown]
# ## What's next, and references
#
# **Next:** `03_pool_pre_ping`.
#
# - [SQLAlchemy: Setting Pool Recycle](https://docs.sqlalchemy.org/en/20/core/pooling.html#setting-pool-recycle)
# - [MariaDB: `wait_timeout`](https://mariadb.com/kb/en/server-system-variables/#wait_timeout)
