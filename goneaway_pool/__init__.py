"""The parts of the Gone-Away Lab an application uses on its own: a hardened pool and a
keep-alive job, on SQLAlchemy's pool events.

This package imports the standard library and SQLAlchemy, nothing else (pandas only inside the
report methods that return DataFrames, ``PoolWatch.retired()`` and the like). Install it without
the lab (``pip install gone-away-lab``: SQLAlchemy and PyMySQL), or copy its modules:

>>> from goneaway_pool import Hardening, harden
>>> watch = harden(engine, Hardening(leak_after=30))

``helpers`` (the lab) re-exports both modules as ``helpers.hardened`` and ``helpers.keepalive``.
"""

from __future__ import annotations

from .hardened import Hardening, PoolWatch, harden
from .keepalive import KeepAlive

__all__ = ["Hardening", "KeepAlive", "PoolWatch", "harden"]
