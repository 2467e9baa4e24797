"""On-disk cache of a run's assessment (with its comparison of population methods and norms).

Like the network cache: an entry's name is the SHA-256 of everything the assessment depends on
-- the network's content, every column and geometry of the residents, the precincts and the
districts, the other methods' residents, the assessment's options, every plain value of
:mod:`walkshed.settings`, a format number and walkshed's version --, written atomically; an
entry that cannot be read back whole is computed again, never trusted. The stored form is
:mod:`walkshed._stored`'s: no pickle, and sentences only from walkshed's catalogue.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .. import settings
from .result import Assessment, AssessmentSettings

__all__ = ["assessment_key", "read_assessment", "store_assessment"]

log = logging.getLogger(__name__)

#: Bumped when what is stored (or how the assessment computes it) changes.
_FORMAT = 1
_FRAMES = ("coverage", "districts", "catchments", "opening_order", "uncovered_areas",
           "uncovered_cells", "demand")
#: The coordinate system of the frames with geometries (as :func:`assess` makes them).
_CRS = {"uncovered_areas": "EPSG:4326", "uncovered_cells": "EPSG:4326"}
_VALUES = ("residents", "unreachable_residents", "precinct_counts", "notes", "uncertainty")


#: Settings that change how a run goes, never what it finds.
_HOW_NOT_WHAT = frozenset({"use_cache", "cache_dir", "cache_results_kept", "workers",
                           "progress"})


def _settings_snapshot() -> dict[str, Any]:
    """Every plain value of :mod:`walkshed.settings` (what the steps may read as defaults)
    but those of :data:`_HOW_NOT_WHAT`."""
    out: dict[str, Any] = {}
    for name in sorted(vars(settings)):
        value = getattr(settings, name)
        if not name.startswith("_") and name not in _HOW_NOT_WHAT and isinstance(
                value, (bool, int, float, str, tuple, list, type(None))):
            out[name] = value
    return out


def assessment_key(
    network: Any,
    demand: pd.DataFrame,
    precincts: pd.DataFrame,
    districts: pd.DataFrame | None,
    options: Mapping[str, Any],
    alternatives: Mapping[str, pd.DataFrame],
    scenario_method: str | None,
    not_applicable: Mapping[str, str],
    *,
    alternatives_digest: str | None = None,
) -> str | None:
    """The cache key of an assessment and its comparison; None when an input cannot be hashed
    (such a run is simply not cached). ``alternatives_digest``, when given, names the other
    methods' residents and the methods that do not apply (their own cache key) in place of
    ``alternatives`` and ``not_applicable``."""
    from .._stored import code_digest, frame_digest
    from ..siting.cache import digest, network_digest

    try:
        frames = [frame_digest(demand), frame_digest(precincts), frame_digest(districts)]
        others: list[Any] = [[str(name), frame_digest(f)] for name, f in sorted(
            alternatives.items(), key=lambda kv: str(kv[0])) if f is not demand]
        if alternatives_digest is not None:
            others = [["cache entry", alternatives_digest]]
        return digest("assessment", _FORMAT, code_digest(),
                      network_digest(network), frames,
                      others, [str(k) for k, f in alternatives.items() if f is demand],
                      json.dumps(dict(options), sort_keys=True, default=repr),
                      scenario_method, sorted((str(k), str(v)) for k, v in
                                              not_applicable.items()),
                      json.dumps(_settings_snapshot(), default=repr))
    except TypeError as exc:
        log.info("assessment not cached: %s", exc)
        return None


def read_assessment(key: str, expected: AssessmentSettings, *, use: bool | None = None,
                    demand: pd.DataFrame | None = None) -> Assessment | None:
    """The assessment stored under ``key`` (with ``expected`` as its settings), or None.

    Read back, it must say what an assessment says (its summary and ``to_dict`` are made) and,
    when ``demand`` (the residents assessed) is given, hold their residents point for point
    (conservation of population); an entry that does not is computed again (and replaced).
    """
    from .._stored import decoded, frame_of, known_msgids
    from ..siting.cache import _read_npz, entry_path

    if not (settings.use_cache if use is None else use):
        return None
    entry = entry_path("assessment", key)
    data = _read_npz(entry)
    if data is None:
        return None
    try:
        head = json.loads(str(data["head"]))
        if head["settings"] != repr(expected):
            raise ValueError("other settings")
        known = known_msgids()
        frames: dict[str, Any] = {name: frame_of(data, f"{name}_", crs=_CRS.get(name))
                                  if head["frames"][name] else None for name in _FRAMES}
        values = {name: decoded(head["values"][name], known) for name in _VALUES}
        values["notes"] = tuple(values["notes"])
        values["residents"] = float(values["residents"])
        values["unreachable_residents"] = float(values["unreachable_residents"])
        values["precinct_counts"] = {str(k): int(v)
                                     for k, v in dict(values["precinct_counts"]).items()}
        found = Assessment(settings=expected, **frames, **values)
        if demand is not None:
            want = demand["population"].to_numpy(dtype=float)
            got = found.demand["population"].to_numpy(dtype=float)
            if got.shape != want.shape or not np.array_equal(got, want):
                raise ValueError("not the residents assessed")
            if not np.isclose(found.residents, float(want.sum()), rtol=1e-9, atol=1e-6):
                raise ValueError("residents do not add up")
        found.to_dict()
        found.summary()
    except Exception as exc:  # any entry not as written is computed again, never trusted
        log.warning("assessment cache entry %s unreadable (%s); assessing again", entry, exc)
        return None
    log.info("assessment from cache %s", entry)
    return found


def store_assessment(key: str, a: Assessment, *, use: bool | None = None) -> None:
    """Keep ``a`` under ``key`` (nothing when it holds what the cache cannot keep exactly)."""
    from .._stored import encoded, frame_arrays, known_msgids
    from ..siting.cache import _write_npz, entry_path

    if not (settings.use_cache if use is None else use):
        return
    known = known_msgids()
    try:
        arrays: dict[str, np.ndarray] = {}
        present = {}
        for name in _FRAMES:
            frame = getattr(a, name)
            present[name] = frame is not None
            if frame is not None:
                arrays.update(frame_arrays(frame, f"{name}_"))
        head = {"settings": repr(a.settings), "frames": present,
                "values": {name: encoded(getattr(a, name), known) for name in _VALUES}}
        arrays["head"] = np.asarray(json.dumps(head))
    except TypeError as exc:
        log.info("assessment not cached: %s", exc)
        return
    _write_npz(entry_path("assessment", key), arrays)

