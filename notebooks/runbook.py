# %% [markdown]
# # Runbook · from an error to its cause, on one page
#
# **For the on-call engineer.** Paste the error, point at the server, give the application's engine
# settings, and run all cells. You get the likely cause, the evidence, the fix and the lesson that
# proves it. Nothing is written to the server, and its password is never shown.
#
# From the shell: `python -m helpers runbook URL --error-file traceback.txt --out incident/` renders
# this page to a self-contained HTML file for the ticket (or run it with papermill and `-p`). Put the
# password in `LAB_DOCTOR_PASSWORD` rather than in the URL when you run papermill yourself: papermill
# writes its parameters into the notebook.

# %% tags=["parameters"]
url = ""  # mysql://user:password@host:port/db; empty: the lab's own server
error_text = ""  # the traceback or log lines
engine_options = ""  # create_engine kwargs, a Flask-SQLAlchemy config, or a URL with query arguments
sample_seconds = 5.0  # how long to watch the server's counters
fleet = []  # more servers to check at once (URLs without passwords: LAB_DOCTOR_PASSWORDS has them)

# %%
import helpers
from helpers import plots, runbook

error_log = None
if not url:  # the lab: its admin account (a throwaway), and its error log from the backend
    lab = helpers.start_lab()
    url, error_log = lab.admin_url(), lab.error_log
diagnosis = runbook.diagnose(url, error_text, engine_options or None, sample_seconds, error_log=error_log)
report = diagnosis.report
print("server:", report.target, "·", report.version)

# %% [markdown]
# ## The verdict

# %%
runbook.verdict_markdown(diagnosis)

# %% [markdown]
# ## What the server shows
# Left: every sleeping connection's idle time against `wait_timeout`; the red ones will be dropped
# unless they are used soon. Right: the counters over the sampling window; a rising `Aborted_clients`
# means connections are being dropped without a goodbye (01_reproduce).

# %%
plots.server_window(report.sleeping, report.samples, report.wait_timeout)

# %%
report.sleeping_by_client()

# %% [markdown]
# ## Candidates and findings
# A candidate is a scenario the lab reproduces (`reproduced`), or a cause the runbook knows that the
# lab does not reproduce yet, with its fix from a primary source; `cause_class` says whether it is a
# disconnect at all. `decide` is the question that tells it from the next one. Findings check the
# settings and the server; `notebook` is the lesson that proves each.

# %%
diagnosis.candidates[["rank", "scenario", "cause_class", "reproduced", "score", "evidence", "decide"]].head(5)

# %%
diagnosis.findings

# %% [markdown]
# ## The fleet
# With more servers (`python -m helpers runbook URL URL ...`), each is checked at once, read-only, within
# the sampling window plus 5 s: one row per server and finding, and what differs between them (a
# `wait_timeout` that differs between replicas is a finding of its own). A server that does not
# answer costs its own row.

# %%
if fleet:
    fleet_report = runbook.check_fleet(
        [url, *fleet] if url not in fleet else fleet, sample_seconds, engine_options or None
    )
    shown = fleet_report.table
else:
    shown = "one server: no fleet to compare"
shown

# %% [markdown]
# **Takeaway.** The rank-1 cause is the place to start, not a proof: answer its `decide` question,
# then run its scenario in the lab (`python -m helpers scenarios --only NAME`) to watch it happen.
