"""The population methods' names and fixed reasons, in the run's language.

The names (``buildings, city total``) are keys of the method comparison and of
``summary.json``, so they stay English strings in the data; the report and the map say them
with :func:`say` from the catalogue's ``population|<name>`` messages (a name or reason the
catalogue does not have, such as an input error's text, is shown as it is).
"""

from __future__ import annotations

from typing import Any

__all__ = ["WORDS", "say"]


def N_(text: str) -> str:
    """``text`` as it is; marks a message id for extraction."""
    return text


#: The words :func:`say` knows (their message ids, ``population|`` and the English).
WORDS = (
    N_("population|buildings"),
    N_("population|streets"),
    N_("population|area"),
    N_("population|raster"),
    N_("population|dropped"),
    N_("population|buildings, city total"),
    N_("population|buildings, density"),
    N_("population|district totals, by the rule"),
    N_("population|no buildings given"),
    N_("population|no population raster in the scenario"),
    N_("population|does not overlap the network's area"),
)


def say(text: Any, t: Any) -> str:
    """``text`` (a method's name or a fixed reason) in the language of the translator ``t``;
    as it is when the catalogue does not have it."""
    key = f"population|{text}"
    said = t.gettext(key)
    return str(text) if said == key else said
