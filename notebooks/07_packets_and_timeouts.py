# %% [markdown]
# # 07 · Packets and timeouts
#
# **The question.** Three more ways to read "server has gone away" that have nothing to do with
# idling: a value too large for the server, a client that stops waiting, and a client that stops
# reading.

# %% [markdown]
# **Before you start:** `01_reproduce`.
# **Docker:** not needed (a private `mariadbd` serves where no engine answers). **Time to run:** about 25 s, measured in the lab's browser tests.

# %% tags=["parameters"]
drivers = None  # both drivers; ["pymysql"] runs one

# %%
import pandas as pd

import helpers
from helpers import plots
from helpers.record import code, nested, outcomes, record
from helpers.scenarios import packets

lab = helpers.start_lab()
rows = helpers.run_all(lab, ["max_allowed_packet", "read_timeout", "net_write_timeout"], drivers=drivers)
summary = helpers.summarize(rows)
plots.outcome_grid(summary, title="A 2 MiB value, a 2 s query with read_timeout=1, a reader that pauses")


# %%
record("each fix, per driver", outcomes=outcomes(helpers.summarize(rows)))

# %%
summary[["scenario", "driver", "fix", "ok", "error_code", "error_message", "seconds"]]

# %% [markdown]
# ## `max_allowed_packet`
#
# The server refuses any packet larger than `max_allowed_packet` (1 MiB here) and closes the
# connection: the client sees **2006**, exactly like an idle timeout. The server's error log tells
# them apart:

# %%
pd.DataFrame({"error log": lab.error_log(2, contains="max_allowed_packet")})

# %% [markdown]
# How close to the limit can a value get? It depends on the driver: PyMySQL sends `bytes` as a hex
# literal (`X'78…'`, two characters per byte), mysqlclient sends them escaped, about one byte per
# byte.

# %%
packets.packet_headroom(lab)

# %% [markdown]
# Fixes: raise `max_allowed_packet` on the server (the session value is read-only and copies the
# global at connect), or split the data: one row per chunk. (`CONCAT()` to grow a value in place is
# no way around it: a function's result is capped by the same limit.)
#
# ## `read_timeout`: the client stops waiting
#
# A client `read_timeout` (`connect_args={"read_timeout": 1}`, both drivers) shorter than a query
# ends the connection after 1 s with **2013**; the server may still be running the query. It is a
# guard against a server that stops answering (see the docker notebooks' paused container) but it
# must be longer than the slowest legitimate query.
#
# ## A server that stops answering
#
# `read_timeout` matters most when the server neither answers nor closes: a frozen container
# (`docker pause`), a stopped process, a VM stalled by its host, a network path that silently drops
# packets. Nothing closes the connection, so no `wait_timeout`, pool setting or pre-ping explains
# the wait. The lab freezes its server for 3 s (the container with `docker pause`, or the local
# server with `SIGSTOP`) while one query waits without a `read_timeout` and one with 1 s.

# %%
frozen = helpers.run("paused_server", lab, drivers=drivers)
plots.timeline(frozen)

# %%
while_frozen = frozen[frozen["step"] == "query while frozen"]
record(
    "the query sent while the server was frozen: its code and how long it waited",
    frozen=nested(
        while_frozen, ["driver", "fix"], lambda r: {"code": code(r.error_code), "waited": round(r.latency, 2)}
    ),
)
frozen[["driver", "fix", "step", "outcome", "error_code", "message", "latency"]]

# %% [markdown]
# Without a `read_timeout` the query just waits: it is still waiting when the server thaws, and
# then it completes, 3 s late. Had the server stayed frozen, it would have waited forever (or for
# the kernel's TCP retransmission limit, about 15 minutes, if the network dropped packets).
# With `read_timeout=1` it fails with 2013 after 1.0 s: a fast, visible failure instead of a hung
# worker.
#
# ## `net_write_timeout`: the client stops reading
#
# With `stream_results=True` the server sends rows as the client reads them. A client that pauses
# longer than the server's `net_write_timeout` (1 s here) while the socket buffers are full is cut
# off: **2013** at its next read. Buffering the whole result, or a longer session
# `net_write_timeout` for that job, avoids it.
#
# ## In production
# - 2006 right after sending something large: `max_allowed_packet` (check the error log).
# - 2013 after exactly `read_timeout` seconds: the client's own timeout, not the server.
# - Requests that hang with no error at all: a server that stopped answering; set a `read_timeout`.
# - 2013 in the middle of streaming a large result: `net_write_timeout`; raise it for that session.

# %% [markdown]
# ## What's next, and references
#
# **Next:** `08_web_apps`.
#
# - [MySQL manual: MySQL server has gone away](https://dev.mysql.com/doc/refman/8.0/en/gone-away.html)
# - [MariaDB: `max_allowed_packet`](https://mariadb.com/kb/en/server-system-variables/#max_allowed_packet)
# - [MariaDB: `net_write_timeout`](https://mariadb.com/kb/en/server-system-variables/#net_write_timeout)
# - [PyMySQL: connections](https://pymysql.readthedocs.io/en/latest/modules/connections.html)
# - [mysqlclient user guide](https://mysqlclient.readthedocs.io/user_guide.html)
# - [docker pause](https://docs.docker.com/reference/cli/docker/container/pause/)
