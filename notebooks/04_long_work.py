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

# %%
import helpers
from helpers import plots

lab = helpers.start_lab()
rows = helpers.run("long_work", lab)
summary = helpers.summarize(rows)
plots.outcome_grid(summary, title="Query, 3 s of other work on the same connection, query")

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
plots.timeline(rows[rows["step"] != "keep-alive"], wait_timeout=2)

# %%
rows[rows["outcome"] == "error"][["driver", "fix", "step", "error_code", "message"]]

# %% [markdown]
# ## In production
# - Do not hold a Session across slow non-database work: commit or close, work, then open a new one.
# - Jobs that must hold a connection (batch scripts, migrations) can raise their own session
#   `wait_timeout` (`connect` event or `connect_args={"init_command": "SET SESSION wait_timeout=..."}`)
#   without changing the server for everyone.
# - A 2013 in the middle of a request, with pre-ping on, points here (or to `read_timeout`, `07`).
