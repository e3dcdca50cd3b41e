"""The runbook page: the notebook run with papermill, rendered to one self-contained HTML file.

A URL's password never enters the notebook: it goes to the kernel through
``LAB_DOCTOR_PASSWORDS`` (each server's under its own password-less URL, never offered to
another), and only password-less URLs are parameters.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from IPython.display import Markdown

from ..config import REPO_DIR
from ..errors import LabError
from ..serve import KERNELSPEC
from .doctor import Diagnosis
from .server import PASSWORDS_ENV, parse_url, redact, without_password

log = logging.getLogger(__name__)

NOTEBOOK = REPO_DIR / "notebooks" / "runbook.py"


def verdict_markdown(diagnosis: Diagnosis) -> Markdown:
    """The verdict as the page's headline: cause, evidence, fix, lesson."""
    if diagnosis.likely is None:
        return Markdown(f"**{diagnosis.verdict}**")
    top = diagnosis.candidates.iloc[0]
    lines = [
        f"### Likely cause: {top['summary']} (scenario `{top['scenario']}`)",
        f"- **Evidence:** {top['evidence']}",
        f"- **Fix:** {top['fix']}",
        f"- **Lesson that proves it:** {top['notebook']}",
    ]
    if len(diagnosis.candidates) > 1:
        runner_up = diagnosis.candidates["scenario"].iloc[1]
        lines.append(f"- **Next candidate:** `{runner_up}`; to tell them apart: {top['decide']}")
    return Markdown("\n".join(lines))


def render(
    out_dir: str | Path,
    url: str = "",
    error_text: str = "",
    engine_options: str = "",
    sample_seconds: float = 5.0,
    password: str | None = None,
    fleet: Sequence[str] = (),
) -> Path:
    """Run the runbook notebook with these parameters; write ``runbook.ipynb`` and a
    self-contained ``runbook.html`` into ``out_dir``; return the HTML's path. ``fleet``: more
    servers, checked at once on the same page (their passwords reach the kernel only through
    the environment, as the main one's)."""
    import jupytext
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    passwords: dict[str, str] = {}  # bare URL -> its own password: never offered to another server
    if url:
        parsed = parse_url(url)
        url = without_password(parsed).render_as_string(hide_password=False)
        if parsed.password or password:
            passwords[url] = str(parsed.password or password)
    bare: list[str] = []
    for each in fleet:
        parsed = parse_url(each)
        bare.append(without_password(parsed).render_as_string(hide_password=False))
        if parsed.password:
            passwords[bare[-1]] = parsed.password
    source = out / "runbook-input.ipynb"
    nb = jupytext.read(NOTEBOOK)
    nb.metadata["kernelspec"] = KERNELSPEC
    nbformat.write(nb, source)
    executed = out / "runbook.ipynb"
    params: dict[str, Any] = {
        "url": url,
        # papermill writes parameters into the notebook: no URL in them keeps its password
        "error_text": redact(error_text),
        "engine_options": redact(engine_options),
        "sample_seconds": sample_seconds,
        "fleet": bare,
    }
    saved = {PASSWORDS_ENV: os.environ.get(PASSWORDS_ENV)}
    if passwords:  # the kernel inherits them; the notebook never sees them
        os.environ[PASSWORDS_ENV] = json.dumps(passwords)
    try:
        papermill.execute_notebook(
            str(source),
            str(executed),
            parameters=params,
            kernel_name="python3",
            progress_bar=False,
            cwd=str(NOTEBOOK.parent),
        )
    except papermill.PapermillExecutionError as exc:
        raise LabError(f"the runbook stopped: {exc.ename}: {redact(str(exc.evalue))}") from None
    except (OSError, RuntimeError, ValueError) as exc:  # no kernel, a kernel that died
        raise LabError(f"the runbook could not run: {type(exc).__name__}: {redact(str(exc))}") from None
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        source.unlink(missing_ok=True)
    html, _ = HTMLExporter(
        exclude_input_prompt=True, exclude_output_prompt=True, embed_images=True
    ).from_filename(str(executed))
    # The page is static (tables and PNGs): drop the template's remote scripts so it is
    # self-contained, readable in a ticket without a network.
    html = re.sub(r'<script[^>]*\bsrc="https?://[^"]*"[^>]*>\s*</script>', "", html)
    page = out / "runbook.html"
    page.write_text(html)
    log.info("runbook written to %s", page)
    return page
