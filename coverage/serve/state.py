"""The what-if state: a study loaded once, and per browser tab an edited copy of its precincts.

:class:`Base` holds what every session shares and nobody edits (network, residents, districts,
settings, the start). :class:`Session` holds one planner's precinct table, the two incremental
distance fields (open, and open + planned; :mod:`walkshed.serve.engine`), the undo and redo
history and the threshold shown. Every edit is a list of *changes* ``(slot, before, after)``;
undo applies the befores, redo the afters, each through the same incremental update.
"""

from __future__ import annotations

import itertools
import math
import threading
from dataclasses import dataclass, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse

from .. import _common, settings
from .._common import STATUSES
from .._errors import InputError, input_error
from ..assessment.staffing import catchment_staffing, district_staffing
from ..reach import coverage_matrix
from ..snap import Snapped, points_in_network_crs, snap_geometries
from . import figures
from ._deps import Study
from .engine import NearestField, Sites, _Searcher

__all__ = ["EDIT_STATUSES", "Base", "Precinct", "Session"]

#: Statuses a planner may give a precinct: the assessed ones and ``closed`` (kept on the map to
#: reopen, left out of every figure and of the saved files).
EDIT_STATUSES: tuple[str, ...] = (*STATUSES, "closed")


@dataclass(frozen=True)
class Precinct:
    """One row of a session's precinct table."""

    id: str
    name: str
    status: str
    lon: float
    lat: float


Change = tuple[int, Precinct | None, Precinct | None]


class Base:
    """A study loaded once: the inputs, the settings and the snapped residents.

    Parameters
    ----------
    study
        The loaded study (:func:`walkshed.pipeline.load_study`).
    scenario
        Its scenario (for saving a scenario that reproduces an edited state); ``None`` for a
        study built in code.
    """

    def __init__(self, study: Study, scenario: Any = None) -> None:
        opts = dict(study.assess_options)
        self.study = study
        self.scenario = scenario
        self.network = net = study.network
        self.speed = _common.walk_speed(opts.get("walk_speed_kmh"))
        self.thresholds = _common.thresholds(opts.get("thresholds_min"),
                                             opts.get("thresholds_m"), self.speed)
        t = self.thresholds
        main = opts.get("main_threshold")
        given = t.metres if t.in_metres else t.minutes
        hits: np.ndarray = (np.flatnonzero(np.isclose(given, float(main))) if main is not None
                            else np.empty(0, dtype=np.int64))
        self.main_index = int(hits[0]) if len(hits) else len(t.metres) - 1
        self.norm = float(opts.get("residents_per_inspector")
                          or settings.residents_per_inspector)
        self.max_snap_m = float(opts.get("max_snap_m") or settings.max_snap_m)
        self.cells = str(opts.get("cells") or "h3")
        demand = study.demand
        self.pop = pd.to_numeric(demand["population"]).to_numpy(dtype=float)
        pts = points_in_network_crs(net, demand, "demand")
        self.residents = snap_geometries(net, pts, max_snap_m=self.max_snap_m)
        self.searcher = _Searcher(net)
        # districts, by the rule of assess (a zone named like a district is that district)
        self.district_names: list[str] = []
        self.district_polys: np.ndarray | None = None
        self.res_district = np.full(len(self.pop), None, dtype=object)
        self.groups: list[tuple[str, np.ndarray]] = []
        if study.districts is not None:
            polys = study.districts[["name", study.districts.geometry.name]].to_crs(net.crs)
            self.district_polys = np.asarray(shapely.make_valid(np.asarray(polys.geometry)))
            self.district_names = polys["name"].astype(str).tolist()
            self.res_district = self._demand_districts(demand, pts)
            self.groups = figures.district_groups(self.district_names, self.res_district)
        # the study area: within the snapping distance of the streets' hull
        hull = shapely.convex_hull(shapely.multipoints(net.node_xy))
        self.area = shapely.buffer(hull, self.max_snap_m)
        shapely.prepare(self.area)
        self.start = [self._row(str(i), r) for i, r in study.precincts.iterrows()]
        self.start_sites = self.snap([(p.lon, p.lat) for p in self.start])
        self._located: dict[tuple[float, float], tuple[Snapped, Any]] = {}
        self._template: Session | None = None
        self._lock = threading.Lock()

    @staticmethod
    def _row(pid: str, r: Any) -> Precinct:
        g = r["geometry"]
        name = r.get("name")
        name = str(name) if isinstance(name, str) and name else f"Precinct {pid}"
        return Precinct(pid, name, str(r["status"]).lower(), float(g.x), float(g.y))

    def _demand_districts(self, demand: gpd.GeoDataFrame, pts: np.ndarray) -> np.ndarray:
        names = set(self.district_names)
        if "zone" in demand.columns:
            zone = demand["zone"]
            known = zone.dropna().astype(str).to_numpy(dtype=object)
            if len(known) == len(zone) and set(np.unique(known).tolist()) <= names:
                return known
        assert self.district_polys is not None
        return _common.district_names(pts, self.district_polys, self.district_names)

    @property
    def metres(self) -> np.ndarray:
        return self.thresholds.metres

    @property
    def labels(self) -> list[str]:
        return list(self.thresholds.labels)

    def points(self, lonlat: list[tuple[float, float]]) -> np.ndarray:
        """Shapely points in the network's CRS, projected as assess projects precincts."""
        lon = [p[0] for p in lonlat]
        lat = [p[1] for p in lonlat]
        frame = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
        return points_in_network_crs(self.network, frame, "precincts")

    def snap(self, lonlat: list[tuple[float, float]]) -> Snapped:
        """Snapped positions of lon/lat points."""
        if not lonlat:
            e = np.empty(0, dtype=np.int64)
            return Snapped(e, np.empty(0), np.empty(0), np.empty((0, 2)))
        return snap_geometries(self.network, self.points(lonlat), max_snap_m=self.max_snap_m)

    def locate(self, lon: float, lat: float) -> tuple[Snapped, Any]:
        """The snapped point and its district (kept for the points seen lately)."""
        key = (lon, lat)
        hit = self._located.get(key)
        if hit is None:
            pt = self.points([key])
            snapped = snap_geometries(self.network, pt, max_snap_m=self.max_snap_m)
            district = None
            if self.district_polys is not None:
                district = _common.district_names(pt, self.district_polys,
                                                  self.district_names)[0]
            if len(self._located) > 4096:
                self._located.clear()
            hit = self._located[key] = (snapped, district)
        return hit

    def check_point(self, lon: float, lat: float) -> Snapped:
        """The snapped point, or an InputError when it is outside the study area."""
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise input_error("point", "coordinates must be finite numbers", "Click on the map")
        outside = input_error("point", f"({lat:.5f}, {lon:.5f}) is outside the study area",
                              "Place the precinct within the streets of the network")
        try:
            pt = self.points([(lon, lat)])
        except InputError:
            raise outside from None
        if not shapely.contains_xy(self.area, *shapely.get_coordinates(pt)[0]):
            raise outside
        snapped = self.locate(lon, lat)[0]
        if not snapped.ok[0]:
            raise input_error("point", f"({lat:.5f}, {lon:.5f}) is farther than "
                              f"{self.max_snap_m:g} m from any walkable street",
                              "Place the precinct nearer a street")
        return snapped

    def new_session(self) -> Session:
        """A session at the start (the fields are searched once, then copied)."""
        with self._lock:
            if self._template is None:
                self._template = Session(self)
            return self._template.copy()


class Session:
    """One planner's edited precincts, with figures kept up to date incrementally."""

    def __init__(self, base: Base) -> None:
        self.base = base
        self.lock = threading.RLock()
        self.rows: list[Precinct | None] = list(base.start)
        s = base.start_sites
        self.sites = Sites(s.edge.copy(), s.offset_m.copy(), s.access_m.copy(), s.xy.copy())
        self.fac_district = self._districts_of(np.arange(len(self.rows)))
        self.main_index = base.main_index
        self.undo_stack: list[list[Change]] = []
        self.redo_stack: list[list[Change]] = []
        self.version = 0
        self._rows_cache: dict[int, tuple[Any, sparse.csr_matrix]] = {}
        self._counter = itertools.count(1)
        bound = float(base.metres.max())
        self.open = NearestField(base.network, base.residents, self.sites,
                                 self.members("open"), bound, searcher=base.searcher)
        self.plan = NearestField(base.network, base.residents, self.sites,
                                 self.members("open+planned"), bound, searcher=base.searcher)

    def copy(self) -> Session:
        """An independent session with the same state and an empty history."""
        new = object.__new__(Session)
        new.__dict__.update(self.__dict__)
        new.lock = threading.RLock()
        new.rows = list(self.rows)
        new.sites = Sites(self.sites.edge.copy(), self.sites.offset_m.copy(),
                          self.sites.access_m.copy(), self.sites.xy.copy())
        new.fac_district = self.fac_district.copy()
        new.undo_stack, new.redo_stack = [], []
        new._rows_cache = dict(self._rows_cache)
        new._counter = itertools.count(1)
        for name in ("open", "plan"):
            f = getattr(self, name).copy()
            f.sites = new.sites
            setattr(new, name, f)
        return new

    # -- the table ---------------------------------------------------------------------------

    def _districts_of(self, slots: np.ndarray) -> np.ndarray:
        out = np.full(len(slots), None, dtype=object)
        b = self.base
        if b.district_polys is None or len(slots) == 0:
            return out
        rows = [self.rows[i] for i in slots.tolist()]
        pts = b.points([(r.lon, r.lat) if r else (0.0, 0.0) for r in rows])
        return _common.district_names(pts, b.district_polys, b.district_names)

    def slots(self, *statuses: str) -> np.ndarray:
        """Slots of the present precincts with one of ``statuses`` (all assessed when none)."""
        want = statuses or STATUSES
        return np.asarray([i for i, r in enumerate(self.rows) if r is not None
                           and r.status in want], dtype=np.int64)

    def members(self, scenario: str) -> np.ndarray:
        """Slots of a scenario's precincts in order of preference (open first)."""
        if scenario == "open":
            return self.slots("open")
        return np.concatenate([self.slots("open"), self.slots("planned")])

    def slot_of(self, pid: str) -> int:
        """The slot of precinct ``pid``, or an InputError naming it."""
        for i, r in enumerate(self.rows):
            if r is not None and r.id == pid:
                return i
        raise input_error("precinct", f"no precinct with id '{pid}'",
                          "Use the id of a precinct on the map")

    def frame(self) -> gpd.GeoDataFrame:
        """The assessed precincts (not closed ones) as a precinct table, in table order."""
        rows = [self.rows[i] for i in self.slots().tolist()]
        return gpd.GeoDataFrame(
            {"name": [r.name for r in rows if r], "status": [r.status for r in rows if r],
             "kind": [self.kind_of(r.id) for r in rows if r]},
            index=pd.Index([r.id for r in rows if r], name="precinct", dtype=object),
            geometry=gpd.points_from_xy([r.lon for r in rows if r], [r.lat for r in rows if r]),
            crs="EPSG:4326",
        )

    def kind_of(self, pid: str) -> str:
        """A precinct's kind: as loaded (walkshed.vetting), ``precinct`` for one placed here."""
        base = self.base.study.precincts
        if "kind" in base.columns and pid in base.index:
            return str(base.loc[pid, "kind"])
        return "precinct"

    def new_id(self) -> str:
        """A precinct id not used in this session."""
        taken = {r.id for r in self.rows if r is not None}
        while True:
            pid = f"new-{next(self._counter)}"
            if pid not in taken:
                return pid

    # -- edits -------------------------------------------------------------------------------

    def _set(self, slot: int, row: Precinct | None) -> None:
        if slot == len(self.rows):
            self.rows.append(None)
            for name in ("edge", "offset_m", "access_m"):
                arr = getattr(self.sites, name)
                fill = -1 if name == "edge" else np.nan
                setattr(self.sites, name, np.append(arr, np.asarray([fill], dtype=arr.dtype)))
            self.sites.xy = np.vstack([self.sites.xy, [[np.nan, np.nan]]])
            self.fac_district = np.append(self.fac_district, np.asarray([None], dtype=object))
        old = self.rows[slot]
        self.rows[slot] = row
        if row is not None and (old is None or (old.lon, old.lat) != (row.lon, row.lat)):
            s, district = self.base.locate(row.lon, row.lat)
            self.sites.edge[slot] = s.edge[0]
            self.sites.offset_m[slot] = s.offset_m[0]
            self.sites.access_m[slot] = s.access_m[0]
            self.sites.xy[slot] = s.xy[0]
            self.fac_district[slot] = district
            self._rows_cache.pop(slot, None)

    def _apply(self, changes: list[Change], *, forward: bool) -> list[int]:
        seq = changes if forward else list(reversed(changes))
        for slot, before, after in seq:
            self._set(slot, after if forward else before)
        self.open.sites = self.plan.sites = self.sites
        self.open.update(self.members("open"))
        self.plan.update(self.members("open+planned"))
        self.version += 1
        return [c[0] for c in changes]

    def edit(self, changes: list[Change]) -> list[int]:
        """Apply an edit (a list of changes), record it for undo; the slots touched."""
        with self.lock:
            slots = self._apply(changes, forward=True)
            self.undo_stack.append(changes)
            self.redo_stack.clear()
            return slots

    def undo(self) -> list[int]:
        """Take back the last edit; the slots touched (an InputError when there is none)."""
        with self.lock:
            if not self.undo_stack:
                raise input_error("undo", "nothing to undo", "Make an edit first")
            changes = self.undo_stack.pop()
            self.redo_stack.append(changes)
            return self._apply(changes, forward=False)

    def redo(self) -> list[int]:
        """Make the last undone edit again; the slots touched."""
        with self.lock:
            if not self.redo_stack:
                raise input_error("redo", "nothing to redo", "Undo an edit first")
            changes = self.redo_stack.pop()
            self.undo_stack.append(changes)
            return self._apply(changes, forward=True)

    def add(self, lon: float, lat: float, status: str, name: str | None = None) -> list[int]:
        """Add a precinct at ``(lon, lat)``."""
        self.base.check_point(lon, lat)
        pid = self.new_id()
        row = Precinct(pid, name or f"New precinct {pid.split('-')[-1]}", status, lon, lat)
        return self.edit([(len(self.rows), None, row)])

    def change(self, pid: str, *, lon: float | None = None, lat: float | None = None,
               status: str | None = None, name: str | None = None) -> list[int]:
        """Move a precinct, change its status or rename it."""
        slot = self.slot_of(pid)
        old = self.rows[slot]
        assert old is not None
        new = old
        if lon is not None or lat is not None:
            lon = old.lon if lon is None else lon
            lat = old.lat if lat is None else lat
            self.base.check_point(lon, lat)
            new = replace(new, lon=lon, lat=lat)
        if status is not None:
            new = replace(new, status=status)
        if name is not None:
            new = replace(new, name=name)
        return self.edit([(slot, old, new)])

    def delete(self, pid: str) -> list[int]:
        """Remove a precinct from the table."""
        slot = self.slot_of(pid)
        return self.edit([(slot, self.rows[slot], None)])

    def suggest(self, n: int) -> tuple[list[int], Any]:
        """Add the ``n`` sites the siting engine proposes on the current state, as planned."""
        from ..siting import propose_sites

        res = propose_sites(**self.siting_arguments(n))
        table = res.table if res.table is not None else pd.DataFrame()
        changes: list[Change] = []
        for k, (rank, lon, lat) in enumerate(zip(table["rank"].tolist(), table["lon"].tolist(),
                                                  table["lat"].tolist(), strict=True)):
            row = Precinct(self.new_id(), f"Suggested site {rank}", "planned", float(lon),
                           float(lat))
            changes.append((len(self.rows) + k, None, row))
        if not changes:
            return [], res
        return self.edit(changes), res

    def siting_arguments(self, n: int) -> dict[str, Any]:
        """The arguments of :func:`walkshed.siting.propose_sites` for the current state."""
        b = self.base
        opts = dict(b.study.siting_options)
        minutes = opts.pop("threshold_min", None) or float(b.thresholds.minutes[self.main_index])
        opts["fix"] = "open+planned"
        opts.pop("method", None)
        return dict(network=b.network, demand=b.study.demand, precincts=self.frame(), p=n,
                    threshold_min=float(minutes), walk_speed_kmh=b.speed,
                    max_snap_m=b.max_snap_m, method="greedy", districts=b.study.districts,
                    progress=False, **{k: v for k, v in opts.items() if v is not None})

    def set_threshold(self, index: int) -> None:
        """Show (and order the planned precincts at) threshold ``index``."""
        if not 0 <= index < len(self.base.metres):
            raise input_error("threshold", f"no threshold number {index}",
                              f"Use 0 to {len(self.base.metres) - 1}")
        with self.lock:
            self.main_index = index
            self.version += 1

    # -- figures -----------------------------------------------------------------------------

    def coverage_rows(self) -> list[dict[str, Any]]:
        """The rows of :meth:`coverage`."""
        b = self.base
        return figures.coverage_rows(b.pop, self.open.dist, self.plan.dist,
                                     b.thresholds.minutes, b.metres, b.labels)

    def coverage(self) -> pd.DataFrame:
        """The coverage table (as :attr:`walkshed.assessment.Assessment.coverage`)."""
        return pd.DataFrame(self.coverage_rows())

    def districts(self) -> pd.DataFrame | None:
        """The district table, or None without districts."""
        rows = self.district_rows()
        return None if rows is None else pd.DataFrame(rows)

    def district_rows(self) -> list[dict[str, Any]] | None:
        """The rows of :meth:`districts`."""
        b = self.base
        if b.district_polys is None:
            return None
        slots = self.slots()
        status = np.asarray([r.status for i in slots.tolist() if (r := self.rows[i])],
                            dtype=object)
        rows = figures.district_rows(b.groups, b.pop, self.open.dist, self.plan.dist,
                                     self.fac_district[slots], status, b.metres, b.labels,
                                     b.norm)
        ids = [r.id for i in slots.tolist() if (r := self.rows[i])]
        where = dict(zip(ids, self.fac_district[slots].tolist(), strict=True))
        table = district_staffing(pd.DataFrame(rows), self.catchments(), where)
        return table.to_dict(orient="records")  # type: ignore[return-value]

    def _member_rows(self, scenario: str) -> list[tuple[int, str, str, str]]:
        out = []
        for s in self.members(scenario).tolist():
            r = self.rows[s]
            assert r is not None
            out.append((s, r.id, r.name, r.status))
        return out

    def catchments(self) -> pd.DataFrame:
        """Both scenarios' catchments (as :attr:`walkshed.assess.Assessment.catchments`)."""
        b = self.base
        parts = [figures.catchment_table(scen, self._member_rows(scen), b.pop, f.dist, f.src,
                                         b.metres, b.labels, b.norm)
                 for scen, f in (("open", self.open), ("open+planned", self.plan))]
        return catchment_staffing(pd.concat(parts, ignore_index=True), self.frame(),
                                  float(np.max(b.metres)), b.norm)

    def catchment_of(self, slot: int) -> list[dict[str, Any]]:
        """The catchment rows of one precinct (one per scenario it belongs to)."""
        b = self.base
        r = self.rows[slot]
        out: list[dict[str, Any]] = []
        if r is None:
            return out
        for scen, f in (("open", self.open), ("open+planned", self.plan)):
            if slot in set(self.members(scen).tolist()):
                out.append(figures.catchment_row(scen, r.id, r.name, r.status, f.src == slot,
                                                 b.pop, f.dist, b.metres, b.labels, b.norm))
        if out:
            staffed = catchment_staffing(pd.DataFrame(out), self.frame(),
                                         float(np.max(b.metres)), b.norm)
            out = staffed.to_dict(orient="records")  # type: ignore[assignment]
        return out

    def _reach_row(self, slot: int) -> sparse.csr_matrix:
        b = self.base
        key = (int(self.sites.edge[slot]), float(self.sites.offset_m[slot]),
               float(self.sites.access_m[slot]))
        hit = self._rows_cache.get(slot)
        if hit is None or hit[0] != key:
            mat = coverage_matrix(b.network, self.sites.snapped(np.asarray([slot])),
                                  b.residents, float(b.metres.max()))
            hit = (key, mat)
            self._rows_cache[slot] = hit
        return hit[1]

    def opening_order(self) -> pd.DataFrame:
        """The planned precincts in greedy order at the shown threshold."""
        return figures.order_frame(self.order_rows(), self.base.labels)

    def order_rows(self) -> list[dict[str, Any]]:
        """The rows of :meth:`opening_order`."""
        b = self.base
        planned = self.slots("planned").tolist()
        info = [(r.id, r.name) for r in (self.rows[s] for s in planned) if r is not None]
        if planned:
            mat = sparse.vstack([self._reach_row(s) for s in planned], format="csr")
        else:
            mat = sparse.csr_matrix((0, len(b.pop)))
        return figures.opening_order(mat, info, b.pop, self.open.dist,
                                     float(b.metres[self.main_index]), b.metres, b.labels)

    def assess_options(self) -> dict[str, Any]:
        """The options of a fresh assessment of this state (the shown main threshold)."""
        b = self.base
        t = b.thresholds
        opts = dict(b.study.assess_options)
        opts["main_threshold"] = float((t.metres if t.in_metres else t.minutes)[self.main_index])
        return opts
