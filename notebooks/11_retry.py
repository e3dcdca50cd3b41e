# %% [markdown]
# # 11 · Retry, safely
#
# **The question.** "Just retry on 2006/2013": when is that safe?
#
# **The mechanism.** A retry repeats the work. For a read that changes nothing. For a write it
# depends on whether the first attempt committed, and when the connection drops right after the
# COMMIT was sent, **the client cannot know**: the COMMIT is *in doubt*.
#
# To make that happen on demand the lab puts a small TCP proxy (`helpers.faultproxy`) between the
# driver and the server. It lets the COMMIT through, the server commits, and it cuts the connection
# before the answer comes back. The retries use [tenacity](https://tenacity.readthedocs.io), on
# errors SQLAlchemy marks as disconnects.

# %% [markdown]
# **Before you start:** `01_reproduce`, `06_server_kills`.
# **Docker:** not needed (a private `mariadbd` serves where no engine answers). **Time to run:** under 15 s, measured in the lab's browser tests.

# %% tags=["parameters"]
drivers = None  # both drivers; ["pymysql"] runs one

# %%
import helpers
from helpers import plots
from helpers.record import outcomes, record

lab = helpers.start_lab()
rows = helpers.run("commit_in_doubt", lab, drivers=drivers)
plots.outcome_grid(helpers.summarize(rows), title="The COMMIT's answer is lost")


# %%
record("each fix, per driver", outcomes=outcomes(helpers.summarize(rows)))

# %%
rows[["driver", "fix", "step", "outcome", "error_code", "message"]]

# %% [markdown]
# - **No retry**: the application got 2013 and reports a failure, yet the row *is* there.
# - **Naive retry**: the second attempt succeeds, and now there are **two** rows for one request.
# - **Retry + idempotency key**: the request carries a key (a UUID made once, before the first
#   attempt) stored in a `UNIQUE` column; the retry's `INSERT ... ON DUPLICATE KEY UPDATE id = id`
#   finds the first attempt's row and adds nothing. One row, nothing lost, nothing duplicated.
# - **Reads** retried after a lost answer are harmless.
#
# ## In production
# - Retry reads on disconnects freely (with a limit and a back-off).
# - Retry writes only when they are idempotent: a client-generated key with a unique constraint,
#   or an upsert. Otherwise surface the error and let a human or a reconciliation job decide.
# - Keep the key with the request (idempotency key header, job id) so that retries at any layer
#   (driver, app, client, queue) reuse it.

# %% [markdown]
# ## What's next, and references
#
# **Next:** `12_network_faults`.
#
# - [MySQL manual: Lost connection to MySQL server](https://dev.mysql.com/doc/refman/8.0/en/error-lost-connection.html)
# - [tenacity](https://tenacity.readthedocs.io/)
# - [SQLAlchemy: Session basics, when do I construct a Session](https://docs.sqlalchemy.org/en/20/orm/session_basics.html#when-do-i-construct-a-session-when-do-i-commit-it-and-when-do-i-close-it)
