# %% [markdown]
# # Playground · any setting against any cause, live
#
# Pick a cause, the drivers (all six; a driver a cause does not run with says why), the cause's
# own timings, and one of its fixes or your own engine options; press **Run**. Three modes:
# **one setting**; **A/B**, two settings run one after the other and shown side by side on one
# time axis, with a one-line comparison; and **sweep one number** (`pool_recycle`, `ping_after`,
# TCP keepalive's first probe, or one of the cause's timings such as `wait_timeout` or a device's idle
# limit) over up to 12 values, which marks where the setting stops holding. **copy link** shows a
# URL that opens this page with the same settings (it runs only when you press Run). The scenario
# runs against the lab's real MariaDB; runs against one lab are serialized, and a run started from
# another tab waits and says so. Every run stays in the history (export it as CSV).

# %%
import os

from helpers.playground import Playground

Playground(query=os.environ.get("QUERY_STRING"))  # Voilà passes the page's URL query
