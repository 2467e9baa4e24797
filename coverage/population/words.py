"""The population methods' names and fixed reasons, in the run's language.

The names (``buildings, city total``) are keys of the method comparison and of
``summary.json``, so they stay English strings in the data; the report and the map say them
with :func:`say` from the catalogue's ``population|<name>`` messages (a name or reason the
catalogue does not have, such as an input error's text, is shown as it is).
"""

from __future__ import annotations

from typing import Any

__all__ = ["WORDS", "say"]


def _(text: str) -> str:
    """``text`` as it is; marks a message id for extraction (babel.cfg's ``_``)."""
    return text


#: The words :func:`say` knows (their message ids, ``population|`` and the English).
WORDS = (
    _("population|buildings"),
    _("population|streets"),
    _("population|area"),
    _("population|raster"),
    _("population|dropped"),
    _("population|buildings, city total"),
    _("population|buildings, density"),
    _("population|district totals, by the rule"),
    _("population|no buildings given"),
    _("population|no population raster in the scenario"),
    _("population|does not overlap the network's area"),
)


def say(text: Any, t: Any) -> str:
    """``text`` (a method's name or a fixed reason) in the language of the translator ``t``;
    as it is when the catalogue does not have it."""
    key = f"population|{text}"
    said = t.gettext(key)
    return str(text) if said == key else said
