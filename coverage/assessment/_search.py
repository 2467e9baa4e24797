"""Walking distances to the nearest precinct of a set, each place searched once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..network import WalkNetwork
from ..reach import nearest_facility
from ..snap import Snapped
from .result import AssessmentSettings


def _unique_places(snapped: Snapped, members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Among facilities ``members`` (by preference), keep the first at each snapped place.

    Returns the kept facility positions and, for every member, the kept facility standing at
    its place (``-1`` for members that were not snapped).
    """
    ok_mask = snapped.ok[members]
    ok = members[ok_mask]
    key = pd.DataFrame(
        {"e": snapped.edge[ok], "t": snapped.offset_m[ok], "a": snapped.access_m[ok]}
    )
    # sort=False numbers the groups in order of first appearance, as `kept` is ordered
    grp = key.groupby(["e", "t", "a"], sort=False).ngroup().to_numpy()
    kept = ok[~key.duplicated(keep="first").to_numpy()]
    rep_of = np.full(len(members), -1, dtype=np.int64)
    rep_of[ok_mask] = kept[grp]
    return kept, rep_of


def _nearest(
    network: WalkNetwork, fac: Snapped, members: np.ndarray, dem: Snapped
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Distance and nearest facility (a position in ``fac``) for every demand point.

    Co-located facilities are searched once; the first in ``members`` order serves the
    residents. Returns also the (duplicate, kept) pairs of co-located facilities.
    """
    if len(members) == 0:
        return np.full(len(dem), np.inf), np.full(len(dem), -1, dtype=np.int64), []
    kept, rep_of = _unique_places(fac, members)
    res = nearest_facility(network, fac.subset(kept), dem)
    nearest = np.where(res.facility >= 0, kept[np.maximum(res.facility, 0)], -1)
    pairs = [
        (int(m), int(r)) for m, r in zip(members, rep_of, strict=True) if r >= 0 and r != m
    ]
    return res.distance_m, nearest, pairs


@dataclass(frozen=True)
class _Context:
    """What every table of one assessment is computed from (built once by :func:`assess`)."""

    network: WalkNetwork
    cfg: AssessmentSettings
    pop: np.ndarray  # residents per demand point
    ids: np.ndarray  # precinct ids, as strings
    names: np.ndarray
    status: np.ndarray
    fac: Snapped  # precincts, snapped
    dem: Snapped  # demand points, snapped
    d_open: np.ndarray  # walk to the nearest open precinct, per demand point
    n_open: np.ndarray  # position of that precinct (-1: none reachable)
    d_plan: np.ndarray  # the same with the planned precincts
    n_plan: np.ndarray
    is_open: np.ndarray  # positions of the open precincts

    @property
    def total(self) -> float:
        return float(self.pop.sum())

    @property
    def metres(self) -> np.ndarray:
        return np.asarray(self.cfg.thresholds_m, dtype=float)

    @property
    def minutes(self) -> np.ndarray:
        return np.asarray(self.cfg.thresholds_min, dtype=float)

    @property
    def labels(self) -> list[str]:
        return list(self.cfg.threshold_labels)
