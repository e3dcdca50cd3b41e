# %% [markdown]
# # 03 · Fix with `pool_pre_ping`
#
# **The question.** `pool_pre_ping=True` makes the pool test each connection at checkout (a
# `ping`, one round trip) and replace it if it is dead. Does it prevent the failure, whatever
# killed the connection? And what does it cost?

# %% [markdown]
# **Before you start:** `01_reproduce`, `02_pool_recycle`.
# **Docker:** not needed (a private `mariadbd` serves where no engine answers). **Time to run:** about 20 s, measured in the lab's browser tests.

# %% tags=["parameters"]
drivers = None  # both drivers; ["pymysql"] runs one

# %%
import pandas as pd

import helpers
from helpers import plots
from helpers.record import outcomes, record

lab = helpers.start_lab()

# %% [markdown]
# ## Idle past `wait_timeout`, and a server restart
#
# The same `idle` scenario as `01`, and `restart`: the pool holds a connection, the server
# restarts, a request arrives.

# %%
rows = pd.concat(
    [
        helpers.run("idle", lab, drivers=drivers, fixes=["none", "pool_pre_ping"]),
        helpers.run("restart", lab, drivers=drivers),
    ]
)
summary = helpers.summarize(rows)
plots.outcome_grid(summary, title="Without and with pool_pre_ping")


# %%
record("without and with pre-ping", outcomes=outcomes(summary))

# %%
summary[["scenario", "driver", "fix", "ok", "error_code", "error_message"]]

# %% [markdown]
# With pre-ping, the dead connection is found by the ping at checkout: SQLAlchemy invalidates it
# (and every connection in the pool older than it, since a restart kills them all) and hands the
# request a new one. The request never sees the error. `pool_recycle` cannot do this: after a
# restart the pool's connections are young.
#
# ## What it costs
#
# One extra round trip per checkout. We measure checkouts per second (each running `SELECT 1`)
# with one pooled connection, with and without pre-ping, both drivers, three runs each.

# %%
cost = helpers.bench.pre_ping_cost(lab, seconds=0.5, repeats=3)
plots.checkout_rates(cost)

# %%
helpers.bench.cost_table(cost)


# %% [markdown]
# On loopback the difference is small against the machine's noise, and a busy machine can even
# turn its sign. What does not depend on the machine is the *work*: the server counts what each
# checkout sent (`Com_admin_commands` counts a COM_PING, `Com_select` a `SELECT 1`). Below, 500
# checkouts that run no statement, with and without pre-ping, counted on the server, then timed
# (interleaved batches; the µs are a figure, not a verdict):

# %%
pings = helpers.bench.ping_mechanisms(lab, drivers or helpers.DRIVERS, n=500, repeats=5)
record(
    "round trips per checkout, counted on the server, and the µs they cost here",
    round_trips={
        r.driver: {"with": r.round_trips_per_checkout, "without": r.round_trips_per_checkout_without}
        for r in pings.itertuples()
    },
    sends=dict(zip(pings["driver"], pings["pre_ping_sends"], strict=True)),
    cost_us=dict(zip(pings["driver"], pings["pre_ping_us"], strict=True)),
)
pings[
    [
        "driver",
        "pre_ping_sends",
        "round_trips_per_checkout",
        "round_trips_per_checkout_without",
        "us_per_checkout",
        "us_per_checkout_with_pre_ping",
        "pre_ping_us",
    ]
]

# %% [markdown]
# Pre-ping adds exactly one round trip per checkout, and none without it. On loopback that
# round trip costs a fraction of a millisecond per checkout, a large *share* of a
# request that runs only `SELECT 1`, and a negligible one for a request that does real work. Over
# a network, add one round-trip time per checkout. (`python -m helpers bench` prints the same
# figures from the shell.)
#
# ## In production
# - `pool_pre_ping=True` catches connections killed by anything: idle timeout, restart, failover,
#   a `KILL`, a network drop while idle. Pay one round trip per checkout for it.
# - It checks at **checkout** only: a connection that dies while a request holds it (long work, a
#   restart mid-request) still fails that request. Those causes, and their fixes, come next.
# - Combine with `pool_recycle` below `wait_timeout`, so that routinely expired connections are
#   replaced without a failed ping.

# %% [markdown]
# ## What's next, and references
#
# **Next:** `04_long_work`.
#
# - [SQLAlchemy: Disconnect Handling - Pessimistic](https://docs.sqlalchemy.org/en/20/core/pooling.html#disconnect-handling-pessimistic)
# - [SQLAlchemy: Dealing with Disconnects](https://docs.sqlalchemy.org/en/20/core/pooling.html#dealing-with-disconnects)
