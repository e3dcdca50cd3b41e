# %% [markdown]
# # 14 · Every cause, every fix, on one page
#
# **The question.** For an incident: which fix covers which cause? Every scenario of lessons
# 01–12 and 16, with each of its fixes and both drivers, run now against the lab.
#
# A green cell ran clean; a red one shows the error code (or `None` for an error with no driver
# code: a stuck Session, an exhausted pool, a duplicated row) and how many steps failed.

# %% [markdown]
# **Before you start:** lessons 01–12.
# **Docker:** not needed (a private `mariadbd` serves where no engine answers). **Time to run:** about three minutes (every scenario, both drivers; the cluster, the network namespaces and the TLS server where this machine has them: 167 s, measured in JupyterLab on the lab's test machine).

# %% tags=["parameters"]
scenarios = None  # every registered scenario; a list of names runs fewer
drivers = None  # both drivers; ["pymysql"] runs one

# %%
import helpers
from helpers import plots
from helpers.record import record

lab = helpers.start_lab()
rows = helpers.run_all(lab, scenarios, drivers=drivers)
summary = helpers.summarize(rows)
plots.outcome_grid(summary, title="Scenario × fix × driver, from real runs")


# %%
record("every cell", cells=len(summary), all_as_expected=bool(summary["as_expected"].all()))

# %% [markdown]
# Where a cell's color is not the one its fix promises (`as_expected` False), the lab has found
# something new: look at that scenario's rows.

# %%
summary[~summary["as_expected"]]

# %%
summary.groupby("scenario").agg(fixes=("fix", "nunique"), failing=("ok", lambda ok: int((~ok).sum())))

# %% [markdown]
# ## The runbook, in short
#
# | symptom | likely cause | fix |
# |---|---|---|
# | one failure after a quiet period, then fine | idle past `wait_timeout` (01) | `pool_pre_ping`, `pool_recycle` < `wait_timeout` (02, 03) |
# | failure in the middle of a request | long work holding a connection (04), `idle_transaction_timeout`, KILL (06) | release the connection during work, per-session `wait_timeout` |
# | the CLI shows another timeout | `interactive_timeout` (05) | read the session value from the app |
# | 2006 right after a large write | `max_allowed_packet` (07) | raise it, or chunk |
# | 2013 after exactly N seconds | client `read_timeout` (07) | longer than the slowest query |
# | requests hang, no error at all | server frozen or unreachable (07) | a `read_timeout` |
# | every request of a worker fails after one error | Session not removed (08) | `remove()` at teardown, Session per request |
# | `QueuePool limit ... reached` | sessions never closed (08) | close them; watch `pool.checkedout()` |
# | random protocol errors in workers | fork (10) | `gc.freeze()` before the fork + `engine.dispose(close=False)` in the child |
# | duplicates after retries | retry of a COMMIT in doubt (11) | idempotency keys |
# | a hang, then 2013 `(timed out)`; the server counted no abort then | a load balancer or NAT silently dropped the idle flow (12) | `pool_recycle` below the device's idle limit, and a `read_timeout` |
# | 2006 `Connection reset by peer` after a quiet spell shorter than `wait_timeout` | a device reset the idle flow (12) | `pool_pre_ping`, or `pool_recycle` below its limit |

# %% [markdown]
# ## What's next, and references
#
# **Next:** `15_drivers`, then the runbook (`runbook`) and the playground (`playground`).
#
# - [SQLAlchemy: Dealing with Disconnects](https://docs.sqlalchemy.org/en/20/core/pooling.html#dealing-with-disconnects)
# - [MySQL manual: MySQL server has gone away](https://dev.mysql.com/doc/refman/8.0/en/gone-away.html)
# - [MySQL manual: Lost connection to MySQL server](https://dev.mysql.com/doc/refman/8.0/en/error-lost-connection.html)
