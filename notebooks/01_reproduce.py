# %% [markdown]
# # 01 · Reproduce: the first request after a quiet night
#
# **The question.** Why does exactly one request fail after a quiet period, and what do the two
# drivers really say when it does?
#
# **The mechanism.** The server closes any connection that has sent nothing for `wait_timeout`
# seconds. SQLAlchemy's pool keeps connections open between requests, and it does not know the
# server has closed one until it uses it. The next request gets the dead connection and fails.
#
# We set `wait_timeout` to 2 s, so the quiet night lasts 3 seconds.

# %% [markdown]
# **Before you start:** `00_start_here`.
# **Docker:** not needed (a private `mariadbd` serves where no engine answers). **Time to run:** about 15 s, measured in the lab's browser tests.

# %% tags=["parameters"]
drivers = None  # both drivers; ["pymysql"] runs one

# %%
import pandas as pd

import helpers
from helpers import plots
from helpers.record import outcomes, record

lab = helpers.start_lab()
WAIT_TIMEOUT = helpers.scenarios.WAIT_TIMEOUT

# %% [markdown]
# ## Global versus session
#
# `SET GLOBAL wait_timeout = 2` does not touch connections that are already open: each connection
# copies the global value into its *session* value when it connects. (Interactive clients such as
# the `mysql` command line copy `interactive_timeout` instead; notebook topics after these cover it.)
# Below, one connection opened before the change and one after:

# %%
helpers.timeout_scopes(lab)

# %% [markdown]
# So after lowering a timeout, the pool's *old* connections keep the old value: changing it on a
# running server takes effect only as connections are replaced.
#
# ## Watch a pooled connection sleep
#
# A connection runs one query and goes back to the pool. We sample `SHOW PROCESSLIST` (with
# MariaDB's millisecond `TIME_MS`) until its row disappears.

# %%
samples = helpers.watch_idle(lab)
plots.idle_watch(samples, WAIT_TIMEOUT)

# %%
samples.groupby("present").agg(first_seen=("t", "min"), last_seen=("t", "max"), command=("command", "first"))

# %% [markdown]
# The row says `Sleep`, its `Time` grows, and at `wait_timeout` the server closes it (a sample that
# lands in that very instant sees the row as `Killed`: the server's own timeout kill). The pool still
# holds the client side of that connection and believes it is fine.
#
# ## The failure, with both drivers
#
# The `idle` scenario: each driver's engine runs a query, the pool idles for `wait_timeout + 1`
# seconds, a request checks the connection out and queries, then one more request follows.
# Failures are captured as rows, not raised.

# %%
before = lab.status()
rows = helpers.run("idle", lab, drivers=drivers, fixes=["none"])
after = lab.status()
rows[["time", "step", "driver", "connection_id", "outcome", "error_class", "error_code", "message"]]

# %%
plots.timeline(rows, wait_timeout=WAIT_TIMEOUT)


# %%
record("the idle failure", idle=outcomes(helpers.summarize(rows)))

# %% [markdown]
# What to read in it:
# - Both drivers fail **once**, on the first request after the idle period, with **2006**.
# - The texts differ: PyMySQL says `MySQL server has gone away (ConnectionResetError(104, ...))`;
#   mysqlclient, built on MariaDB Connector/C, says `Server has gone away`, without "MySQL".
#   Search your logs for both.
# - The **next checkout succeeds** on a new server connection (a new id): SQLAlchemy saw a disconnect
#   error, invalidated the connection (`invalidated` is true in the rows) and the pool opened a
#   fresh one. This is why the incident looks like "one failed request, then fine".
#
# ## The server's evidence
#
# The server counts each connection it dropped for idling in `Aborted_clients`, and at
# `log_warnings=2` it writes a line in its error log:

# %%
after - before

# %%
pd.DataFrame({"error log": lab.error_log(4, contains="Aborted connection")})


# %%
record(
    "the server's evidence",
    aborted_clients=int((after - before)["Aborted_clients"].iloc[0]),
    timeout_line=any(
        "Got timeout reading" in line for line in lab.error_log(4, contains="Aborted connection")
    ),
)

# %% [markdown]
# `Got timeout reading communication packets` is the server's side of the same event: it waited
# `wait_timeout` for a command and gave up.
#
# ## 2006 or 2013?
#
# The blogs say PyMySQL gives 2006 when *sending* the query fails and 2013 when *reading* the
# answer fails, which is what its code does (`pymysql/connections.py`: `_write_bytes` raises
# `CR_SERVER_GONE_ERROR`, `_read_bytes` raises `CR_SERVER_LOST`). Both happen; which one depends on how the socket was closed. When the server drops
# an idle connection here, the client's write already fails (the socket was reset), so both drivers
# give 2006 every time in this lab. When the server **restarts**, it closes connections in an
# orderly way: the write succeeds, the answer never comes, and both drivers give 2013.

# %%
restart_rows = helpers.run("restart", lab, drivers=drivers, fixes=["none"])
both = pd.concat([rows, restart_rows])
both[both["outcome"] == "error"][["scenario", "driver", "error_class", "error_code", "message"]]


# %%
record("the restart failure", restart=outcomes(helpers.summarize(restart_rows)))

# %% [markdown]
# ## In production
# - One failed request after a quiet period, then nothing: an idle pooled connection outlived the
#   server's `wait_timeout`. Expect 2006 (and 2013 after restarts or network failures).
# - Match on the error **code**, not the text: the drivers word it differently.
# - `Aborted_clients` rising together with the errors, and `Got timeout reading communication packets`
#   in the error log, confirm it from the server side.
# - The fixes: `02_pool_recycle` and `03_pool_pre_ping`.

# %% [markdown]
# ## What's next, and references
#
# **Next:** `02_pool_recycle`.
#
# - [MySQL manual: MySQL server has gone away](https://dev.mysql.com/doc/refman/8.0/en/gone-away.html)
# - [MySQL manual: Lost connection to MySQL server](https://dev.mysql.com/doc/refman/8.0/en/error-lost-connection.html)
# - [MariaDB: `wait_timeout`](https://mariadb.com/kb/en/server-system-variables/#wait_timeout)
# - [PyMySQL: connections](https://pymysql.readthedocs.io/en/latest/modules/connections.html)
# - [mysqlclient user guide](https://mysqlclient.readthedocs.io/user_guide.html)
