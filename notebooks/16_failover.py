# %% [markdown]
# # 16 · Failover: a replicated cluster behind HAProxy
#
# **The question.** Idle timeouts are handled: `pool_pre_ping` is on. Then a cluster node fails
# over, and every request fails until the process restarts. Why does the pool not notice?
#
# **The mechanism.** A pool keeps its connections to the node it first reached. When that node
# **dies**, its connections are dead and `pool_pre_ping` finds them. But a node can also stay alive
# and refuse: a Galera node that **lost the quorum** answers `1047 WSREP has not yet prepared node
# for application use`, and a writer **demoted** in a switchover answers
# `1290 ... --read-only option`. The socket is fine, so the ping passes, and SQLAlchemy's MySQL
# dialects do not count 1047 or 1290 as a disconnect (its `is_disconnect` lists 1927, 2006, 2013,
# 2014, 2045, 2055, 4031). And two writers on two nodes that change one row make Galera roll one
# back with `1213` at COMMIT.
#
# **What is real here.** Three MariaDB Galera nodes (Debian's `galera-4`) on 127.0.0.1, each a
# server of its own, and a real HAProxy in front: a `writer` listener (node1, then node2 as a
# backup) whose health check asks each node's state (Synced, ready, not read-only, as Galera's
# `clustercheck` does), the same with `on-marked-down shutdown-sessions`, and `writer_tcp`,
# checked only by a TCP connect, as many configurations in the field are.

# %% [markdown]
# **Before you start:** `03_pool_pre_ping`, `11_retry`, `12_network_faults` (HAProxy).
# **Needs:** root, with `galera-4`, `rsync` and `haproxy` installed (`make setup`); Docker is not
# needed. **Time to run:** about 60 s (each scenario starts the cluster: about 4 s).

# %% tags=["parameters"]
drivers = None  # both drivers; ["pymysql"] runs one

# %%
import pandas as pd

import helpers
from helpers import plots
from helpers.record import code, nested, outcomes, record

lab = helpers.start_lab()
frames = [
    helpers.run(name, lab, drivers=drivers)
    for name in ("node_loss", "non_primary", "writer_switchover", "certification_conflict")
]
rows = pd.concat(frames, ignore_index=True)
views = [view for frame in frames for view in frame.attrs["views"]]
summary = helpers.summarize(rows)
plots.outcome_grid(summary, title="Failover: each fix, per driver")

# %%
record("each failover, each fix, per driver", outcomes=outcomes(summary))

# %% [markdown]
# ## The node dies (`node_loss`)
#
# Node1 is killed with `SIGKILL`. The query running on it at that moment gets `2013`: nothing
# saves it (the row "a query in flight"). The pooled connections are dead too: without a check
# the next request fails once; `pool_pre_ping` and the hardened pool find the dead connection at
# checkout, and the new one goes through HAProxy to node2.

# %%
first = helpers.scenarios.first_errors(rows)
record(
    "the first error of each trial",
    codes=nested(first, ["scenario", "driver", "fix"], lambda r: code(r.error_code)),
    invalidated=nested(first, ["scenario", "driver", "fix"], "invalidated"),
)
first[["scenario", "driver", "fix", "step", "error_code", "message", "invalidated"]]

# %% [markdown]
# ## The node stays up and refuses (`non_primary`, `writer_switchover`)
#
# - **Behind a TCP check** (`writer_tcp`) the node outside the quorum still passes HAProxy's check,
#   so every new connection lands on it as well: every request fails with 1047, `pool_pre_ping`
#   or not, and `invalidated` stays False.
# - **Behind a check by node state** HAProxy takes node1 out within a second. The pool's connection
#   is still on it; the request fails once. SQLAlchemy did not invalidate it, but its rollback on
#   return failed with 1047 too, and the pool threw it away: that is why the next request works.
# - **After a switchover** the demoted node answers `ROLLBACK`, so nothing throws the connection
#   away: every write fails with 1290 until the process restarts.
# - **What works**: counting 1047 and 1290 as a disconnect (`goneaway_pool.failover.treat_as_disconnect`,
#   a `handle_error` listener: one request fails, invalidated, the next lands on node2), HAProxy's
#   `on-marked-down shutdown-sessions` with `pool_pre_ping` (no request fails), or a `pool_recycle`
#   that replaces the connection.

# %%
cluster = pd.DataFrame([v for v in views if v["view"] == "cluster"])
record("what the cluster and HAProxy showed", views=views)
cluster

# %% [markdown]
# ## Two writers, one row (`certification_conflict`)
#
# The trial updates a row through node1; before its COMMIT, node2 commits an update of the same
# row. Galera's certification lets the first to commit win: the trial's COMMIT fails with `1213
# Deadlock found`, and its update is rolled back (the row holds only node2's `+10`). Unlike
# lesson 11's lost COMMIT, whose outcome is unknown, nothing was committed, so retrying the whole
# transaction is safe: the retried trial's row holds `+10 +1`, once.

# %%
row_values = pd.DataFrame([v for v in views if v["view"] == "row"])
record("the row after each trial", rows=nested(row_values, ["driver", "fix"], "v"))
row_values

# %% [markdown]
# **Takeaway.** `pool_pre_ping` sees a dead node, not a node that refuses. Behind a cluster:
# health-check node state (not a TCP connect) with `on-marked-down shutdown-sessions`, count 1047
# and 1290 as disconnects in a `handle_error` listener, recycle connections, and retry a whole
# transaction on 1213. `python -m helpers doctor URL URL URL --haproxy-socket PATH` reads every
# node's `wsrep_%` status and HAProxy's view in one table.
