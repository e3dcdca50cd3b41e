# %% [markdown]
# # 13 · Beyond `pool_pre_ping`: a hardened pool
#
# **The question.** `pool_pre_ping` pays a round trip on every checkout to find the rare dead
# connection. Can a pool check less, catch the same failures, and tell us more?
#
# `goneaway_pool.hardened` (re-exported as `helpers.hardened`) is such a pool, built only on SQLAlchemy's pool events. At checkout it
# **peeks** at the socket with `poll()` (no round trip: a closed connection shows up as a readable
# socket), **pings** only a connection idle for half its session's `wait_timeout`, **retires** a
# connection before that timeout with a margin and a per-connection jitter, and can **report** a
# connection held too long, with the stack of the code that checked it out. One call turns it on:
# `watch = harden(engine)`.

# %% [markdown]
# **Before you start:** `03_pool_pre_ping`, `06_server_kills`, `12_network_faults`.
# **Docker:** not needed. **Time to run:** about 75 s, measured in the lab's browser tests.

# %% tags=["parameters"]
drivers = None  # both drivers; ["pymysql"] runs one
scenarios = ["idle", "recycle_margin", "restart", "kill_idle", "lb_reset", "kill_mid_query"]
bench_seconds = 0.5  # one checkout-rate measurement

# %%
import pandas as pd

import helpers
from helpers import plots
from helpers import scenarios as lab_scenarios
from helpers.record import nested, outcomes, record

lab = helpers.start_lab()
FIXES = ["none", "pool_pre_ping", "hardened pool"]

# %% [markdown]
# ## Does it catch what pre-ping catches?
#
# The same scenarios as the lessons before: idling past `wait_timeout`, a request that works before
# its first query, a restart, a `KILL` of an idle connection, a load balancer that resets idle flows,
# and a `KILL` in the middle of a query (which no check at checkout can see).

# %%
rows = pd.concat(
    [helpers.run(name, lab, drivers=drivers, fixes=FIXES) for name in scenarios], ignore_index=True
)
summary = helpers.summarize(rows)
plots.outcome_grid(summary, title="No check, pool_pre_ping and the hardened pool")

# %%
record("outcomes per scenario and pool", outcomes=outcomes(summary))

# %% [markdown]
# Wherever pre-ping prevents the error, so does the hardened pool, with both drivers; where a
# connection dies while a request holds it (`kill_mid_query`), neither can help (`04` and `06` show
# what does). Each time the hardened pool replaced a connection, its trial recorded which part
# caught it. At the step where the pool with no check failed:

# %%
failed = rows[(rows["fix"] == "none") & (rows["outcome"] == "error")][["scenario", "driver", "step"]]
hardened = rows[rows["fix"] == "hardened pool"].merge(failed, on=["scenario", "driver", "step"])
caught = hardened[hardened["caught_by"].notna()][["scenario", "driver", "step", "caught_by", "message"]]
record(
    "which part caught each dead connection",
    caught=nested(caught, ["scenario", "driver"], "caught_by"),
)
caught

# %% [markdown]
# The **recycle** retired the connection that had idled past its lifetime (`idle`): with
# `wait_timeout` 2 s, lifetimes are 1.62–1.8 s, so it was replaced before anything used it. The
# **peek** caught the connections killed while young (`kill_idle`, `restart`) and the one the device
# reset (`lb_reset`): the server's or the device's FIN or RST was already waiting on the socket, so no
# round trip was needed to see it. In `recycle_margin` nothing was dead, so nothing was caught: the
# request checked out a connection idle 1.3 s, past `ping_after` (half of `wait_timeout`), so the
# pool **pinged** it, and the ping reset the server's idle clock, which gave the request its 1.3 s of
# work before the first query. (`tests/test_hardened.py` shows the ping happen only past the
# threshold; the ping is also the backstop for a socket that looks fine but is not: `12`'s silent
# drop, with `ping_after` below the device's idle limit.)
#
# ## What each check costs
#
# Checkouts per second, each running `SELECT 1` on one pooled connection, for the three pools,
# on loopback and behind the lab's fault proxy adding 1 ms and 5 ms each way. The repeats are
# interleaved; the plot shows medians.

# %%
bench = helpers.bench.measure(
    lab, drivers or helpers.DRIVERS, latencies_ms=(0.0, 1.0, 5.0), seconds=bench_seconds, repeats=3
)
plots.rates_by_latency(bench)

# %%
table = helpers.bench.summary(bench)
record(
    "checkouts per second as a ratio to no check",
    ratio=nested(
        table[table["fix"] != "none"].assign(rtt=table["rtt_ms"].map("{:g}".format)),
        ["driver", "fix", "rtt"],
        "ratio_to_none",
    ),
)
table

# %% [markdown]
# `pool_pre_ping` adds a round trip to every checkout, so its share grows with the latency; the
# hardened pool adds a `poll()` and stays with no check at all. On loopback, where a round trip
# costs tens of µs (measured below), the three are closer and the machine's noise shows.
#
# Part by part, on one live connection (the hardened pool's own listeners called directly; a ping
# and a `SELECT 1` for comparison):

# %%
parts = pd.concat([helpers.bench.part_costs(lab, d) for d in drivers or helpers.DRIVERS], ignore_index=True)
plots.part_costs(parts)

# %%
record(
    "µs per check, and round trips counted on the server",
    part_us=nested(parts, ["driver", "part"], "us"),
    part_round_trips=nested(parts, ["driver", "part"], "round_trips"),
)
parts

# %% [markdown]
# ## What a reconnect costs
#
# A retired or dead connection costs a connect. PyMySQL, in its default "preferred" TLS mode,
# builds a TLS context (`ssl.create_default_context()`, which loads the system's CA certificates)
# on every connect, even when the server offers no TLS. `ssl_disabled=True` leaves it out:

# %%
connects = helpers.bench.connect_costs(lab, drivers or helpers.DRIVERS)
record(
    "ms per connect",
    connect_ms=nested(connects, ["driver", "connect_args"], "ms_per_connect"),
)
connects

# %% [markdown]
# Where TLS is not wanted (a loopback or a private link), pass `connect_args={"ssl_disabled": True}`
# to PyMySQL; where it is, build one `ssl.SSLContext` and pass it as `connect_args={"ssl": ctx}`.
#
# ## Recycle with jitter
#
# `pool_recycle` retires connections by age, and connections made together age together: a pool
# filled at start-up reconnects all at once, and every request of that moment waits for a connect.
# The hardened pool draws each connection's lifetime from `wait_timeout × 0.9 × [0.9, 1]` (its
# `margin` and `jitter`). Eight connections, made together, all checked out every 0.1 s, with a
# session `wait_timeout` of 6 s (with mysqlclient, whose connects are cheap, so that one pool's
# reconnects do not delay the others' checks):

# %%
replaced = lab_scenarios.replacements(
    lab,
    {
        "pool_recycle=5.4": lab_scenarios.Fix("pool_recycle=5.4", {"pool_recycle": 5.4}),
        "hardened pool": lab_scenarios.HARDENED,
        "hardened pool, jitter=0.3": lab_scenarios.Fix(
            "hardened pool, jitter=0.3", hardening=helpers.hardened.Hardening(jitter=0.3)
        ),
    },
    driver="mysqldb",
    wait_timeout=6,
)
plots.replacements(replaced, wait_timeout=6)

# %%
busy = replaced[replaced["replaced"] > 0]
spread = busy.groupby("fix", sort=False).agg(
    rounds=("t", "size"),
    first=("t", "min"),
    last=("t", "max"),
    most_in_one_round=("replaced", "max"),
    slowest_round_ms=("round_ms", "max"),
)
record(
    "connections replaced in one checkout round, at most",
    most_in_one_round=spread["most_in_one_round"].to_dict(),
    rounds=spread["rounds"].to_dict(),
    spread_seconds=(spread["last"] - spread["first"]).round(2).to_dict(),
)
spread

# %% [markdown]
# `pool_recycle` replaced all eight in one round (or two, when a round happens to fall among the
# eight connects): with PyMySQL's defaults that round's requests
# would wait for eight connects with a TLS context each (measured above). The hardened pool spread them
# over its jitter window: a wider `jitter` spreads them further, at the price of connections
# retired earlier.
# Against the default `wait_timeout` of 8 hours, the defaults (`margin` and `jitter` 0.1) spread
# the reconnects over 43 minutes (28 800 s × 0.9 × 0.1).
#
# ## A connection held too long
#
# With `Hardening(leak_after=...)` the pool remembers the stack of each checkout (as file, line and
# function: the second bar above, against the first, in a notebook's deep stack; so it is off by
# default) and one watcher thread logs a connection held longer than
# that, with the stack, SQLAlchemy's frames left out. Here a "nightly export" holds its connection
# 2 s with `leak_after=1`:

# %%
long_held, log = lab_scenarios.long_checkout_report(lab, leak_after=1.0, hold=2.0)
record(
    "the long checkout report",
    held_seconds=float(long_held["held_seconds"].iloc[0]),
    returned=bool(long_held["returned"].iloc[0]),
    names_the_code="_export_nightly_report" in long_held["stack"].iloc[0],
    warnings=len(log),
)
long_held[["connection_id", "held_seconds", "returned", "where"]]

# %%
print(long_held["stack"].iloc[0])

# %% [markdown]
# The warning was logged at 1 s, while the connection was still out; the table, read after the
# export finished, says it came back after 2 s. In an application, the same lines reach its log.
#
# ## In production
# - `watch = harden(engine)` instead of `pool_pre_ping=True`: it catches what pre-ping catches at
#   checkout, without a round trip for a connection that is in use.
# - Behind a load balancer that *drops* idle flows silently, no peek can see it: set `ping_after`
#   below the device's idle limit and give the driver a read timeout (`12_network_faults`).
# - Nothing at checkout saves a request whose connection dies while it holds it: release
#   connections during long work (`04_long_work`), and use `leak_after` to find who holds them.
# - With PyMySQL, set `ssl_disabled` (or pass one `SSLContext`) wherever connections are
#   recycled or replaced often.

# %% [markdown]
# ## What's next, and references
#
# **Next:** `14_matrix`.
#
# - [SQLAlchemy: pool events](https://docs.sqlalchemy.org/en/20/core/events.html#connection-pool-events)
#   and [custom disconnect handling](https://docs.sqlalchemy.org/en/20/core/pooling.html#disconnect-handling-pessimistic)
# - [HikariCP: configuration](https://github.com/brettwooldridge/HikariCP#gear-configuration-knobs-baby)
#   (`maxLifetime` with variance, `leakDetectionThreshold`, `aliveBypassWindowMs`)
# - [go-sql-driver/mysql: connection check](https://github.com/go-sql-driver/mysql/blob/master/conncheck.go)
# - [PyMySQL: `ssl_disabled`](https://pymysql.readthedocs.io/en/latest/modules/connections.html)
