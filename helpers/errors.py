"""The one exception the lab raises on purpose: a short message a person can act on."""

from __future__ import annotations


class LabError(RuntimeError):
    """The lab cannot do what was asked; ``str()`` says why and what to run."""
