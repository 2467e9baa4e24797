"""``walkshed serve``: the what-if web app (an ASGI server and its bundled page).

A planner clicks to add a precinct, drags one to move it, changes a status, undoes, asks the
siting engine for the next site, and sees the figures change at once: the study is loaded
once and every edit updates the walking distances incrementally and exactly
(:mod:`walkshed.serve.engine`), so the figures always equal a fresh
:func:`walkshed.assess.assess` of the same precincts.
"""

from __future__ import annotations

from .state import EDIT_STATUSES, Base, Precinct, Session

__all__ = ["EDIT_STATUSES", "Base", "Precinct", "Session"]
