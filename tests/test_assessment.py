"""The assessment (walkshed.assessment) against a brute-force computation over networkx distances.

The reference snaps every point itself (nearest edge by brute force over all edge geometries,
offset by shapely's ``line_locate_point``), inserts precincts and residents as nodes on their
edges (the split graph of DESIGN.md), runs networkx's Dijkstra from every precinct, and derives
every table from the full precinct x resident distance matrix with plain loops. Nothing of
walkshed.reach or walkshed.snap is used to build it.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import geopandas as gpd
import h3
import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from walkshed import settings
from walkshed._errors import InputError
from walkshed.assessment import Assessment, assess, h3_resolution_for, weighted_quantile
from walkshed.network import WalkNetwork
from walkshed.precincts import precincts_from_osm

TOL_M = 1e-6
CRS = "EPSG:32643"


# ---------------------------------------------------------------------------------------------
# the independent reference


def brute_snap(net: WalkNetwork, pts: np.ndarray, max_snap_m: float) -> list[Any]:
    """(edge, offset, access) of every point by trying every edge; None beyond max_snap_m."""
    out: list[Any] = []
    geoms = net.edge_geometry
    for p in pts:
        d = shapely.distance(geoms, p)
        e = int(np.argmin(d))
        if d[e] > max_snap_m:
            out.append(None)
            continue
        t = float(shapely.line_locate_point(geoms[e], p))
        out.append((e, min(max(t, 0.0), float(net.edge_length[e])), float(d[e])))
    return out


def reference_distances(
    net: WalkNetwork, fac_pts: np.ndarray, dem_pts: np.ndarray, max_snap_m: float
) -> np.ndarray:
    """``(n_fac, n_dem)`` walking distances on the split graph (inf when unreachable)."""
    g = nx.Graph()

    def link(a: Any, b: Any, w: float) -> None:
        if a == b:
            return
        if g.has_edge(a, b) and g[a][b]["w"] <= w:
            return
        g.add_edge(a, b, w=w)

    g.add_nodes_from(("n", i) for i in range(net.n_nodes))
    on_edge: dict[int, list[tuple[float, Any, float]]] = defaultdict(list)
    for kind, pts in (("f", fac_pts), ("p", dem_pts)):
        for i, s in enumerate(brute_snap(net, pts, max_snap_m)):
            g.add_node((kind, i))
            if s is not None:
                on_edge[s[0]].append((s[1], (kind, i), s[2]))
    for e in range(net.n_edges):
        u, v, length = ("n", int(net.edge_u[e])), ("n", int(net.edge_v[e])), net.edge_length[e]
        items = sorted(on_edge.get(e, []), key=lambda it: it[0])
        prev, prev_t = u, 0.0
        for t, node, access in items:
            on = ("on", *node)
            link(prev, on, t - prev_t)
            link(on, node, access)
            prev, prev_t = on, t
        link(prev, v, float(length) - prev_t)
    out = np.full((len(fac_pts), len(dem_pts)), np.inf)
    for i in range(len(fac_pts)):
        dist = nx.single_source_dijkstra_path_length(g, ("f", i), weight="w")
        for j in range(len(dem_pts)):
            out[i, j] = dist.get(("p", j), np.inf)
    return out


def ref_quantile(d: list[float], w: list[float], q: float) -> float:
    pairs = sorted((a, b) for a, b in zip(d, w, strict=True) if b > 0)
    total = sum(b for _, b in pairs)
    acc = 0.0
    for a, b in pairs:
        acc += b
        if acc >= q * total * (1 - 1e-12):
            return a
    return math.nan


def reference(
    D: np.ndarray,
    pop: np.ndarray,
    status: list[str],
    thresholds_m: list[float],
    main_m: float,
) -> dict[str, Any]:
    """Every figure of the assessment from the distance matrix, by plain loops."""
    n_fac, n_dem = D.shape
    open_ = [j for j in range(n_fac) if status[j] == "open"]
    planned = [j for j in range(n_fac) if status[j] == "planned"]
    out: dict[str, Any] = {}
    for scen, members in (("open", open_), ("open+planned", open_ + planned)):
        dist = np.full(n_dem, np.inf)
        near = np.full(n_dem, -1)
        for k in range(n_dem):
            for j in members:  # ties: the first member (open before planned, table order)
                if D[j, k] < dist[k]:
                    dist[k], near[k] = D[j, k], j
        out[scen] = (dist, near)
        catch = {}
        for j in members:
            sel = [k for k in range(n_dem) if near[k] == j]
            catch[j] = {
                "served": sum(pop[k] for k in sel),
                "within": [sum(pop[k] for k in sel if dist[k] <= m) for m in thresholds_m],
                "median": ref_quantile([dist[k] for k in sel], [pop[k] for k in sel], 0.5),
                "p90": ref_quantile([dist[k] for k in sel], [pop[k] for k in sel], 0.9),
            }
        out[f"catch {scen}"] = catch
        out[f"unassigned {scen}"] = sum(pop[k] for k in range(n_dem) if near[k] < 0)
    covered = [out["open"][0][k] <= main_m for k in range(n_dem)]
    out["gain_alone"] = {
        j: sum(pop[k] for k in range(n_dem) if not covered[k] and D[j, k] <= main_m)
        for j in planned
    }
    out["gain_alone at"] = {
        (j, m): sum(pop[k] for k in range(n_dem) if out["open"][0][k] > m and D[j, k] <= m)
        for j in planned for m in thresholds_m
    }
    order = []
    left = list(planned)
    while left:
        gains = [
            sum(pop[k] for k in range(n_dem) if not covered[k] and D[j, k] <= main_m)
            for j in left
        ]
        best = int(np.argmax(gains))
        j = left.pop(best)
        order.append((j, gains[best]))
        covered = [covered[k] or D[j, k] <= main_m for k in range(n_dem)]
    out["order"] = order
    return out


def check_against_reference(
    a: Assessment,
    D: np.ndarray,
    pop: np.ndarray,
    ids: list[str],
    status: list[str],
) -> dict[str, Any]:
    """Compare every table of ``a`` with the brute-force figures."""
    s = a.settings
    thresholds = list(s.thresholds_m)
    ref = reference(D, pop, status, thresholds, s.main_threshold_m)
    total = float(pop.sum())
    assert a.residents == pytest.approx(total, rel=1e-12)
    # per resident
    d_open, n_open = ref["open"]
    d_plan, n_plan = ref["open+planned"]
    np.testing.assert_allclose(a.demand["walk_open_m"], d_open, atol=TOL_M, rtol=0)
    np.testing.assert_allclose(a.demand["walk_with_planned_m"], d_plan, atol=TOL_M, rtol=0)
    assert list(a.demand["nearest_open"]) == [ids[j] if j >= 0 else None for j in n_open]
    assert list(a.demand["nearest_with_planned"]) == [
        ids[j] if j >= 0 else None for j in n_plan
    ]
    # coverage
    assert len(a.coverage) == len(thresholds)
    for row, m in zip(a.coverage.itertuples(), thresholds, strict=True):
        c_open = sum(pop[k] for k in range(len(pop)) if d_open[k] <= m)
        c_plan = sum(pop[k] for k in range(len(pop)) if d_plan[k] <= m)
        assert row.threshold_m == pytest.approx(m)
        assert row.covered_open == pytest.approx(c_open, rel=1e-9, abs=1e-9)
        assert row.covered_with_planned == pytest.approx(c_plan, rel=1e-9, abs=1e-9)
        assert row.share_open == pytest.approx(c_open / total, rel=1e-9, abs=1e-12)
        assert row.share_with_planned == pytest.approx(c_plan / total, rel=1e-9, abs=1e-12)
        assert row.added == pytest.approx(c_plan - c_open, rel=1e-9, abs=1e-9)
    # catchments
    for scen in ("open", "open+planned"):
        table = a.catchments[a.catchments["scenario"] == scen].set_index("precinct")
        catch = ref[f"catch {scen}"]
        assert {ids[j] for j in catch} <= set(table.index)
        for j, c in catch.items():
            row = table.loc[ids[j]]
            assert row["residents_served"] == pytest.approx(c["served"], rel=1e-9, abs=1e-9)
            for lab, w in zip(s.threshold_labels, c["within"], strict=True):
                assert row[f"within_{lab}"] == pytest.approx(w, rel=1e-9, abs=1e-9)
            for col, key in (("median_walk_m", "median"), ("p90_walk_m", "p90")):
                if math.isnan(c[key]):
                    assert math.isnan(row[col])
                else:
                    assert row[col] == pytest.approx(c[key], abs=TOL_M)
            need = math.ceil(round(c["served"], 6) / s.residents_per_inspector)
            if c["served"] > 0 and not c["median"] <= max(s.thresholds_m):
                need = math.nan  # not served on foot: no workload figure (staffing rule)
            assert row["inspectors_needed"] == need or (math.isnan(need)
                                                        and math.isnan(row["inspectors_needed"]))
            assert bool(row["served_on_foot"]) == (not math.isnan(need))
        lost = ref[f"unassigned {scen}"]
        if lost > 0:
            assert table.loc["(no precinct reachable)", "residents_served"] == pytest.approx(lost)
        assert table["residents_served"].sum() == pytest.approx(total, rel=1e-12)
    # opening order
    order = a.opening_order
    assert list(order["precinct"]) == [ids[j] for j, _ in ref["order"]]
    np.testing.assert_allclose(order["gain"], [g for _, g in ref["order"]], rtol=1e-9, atol=1e-9)
    base = sum(pop[k] for k in range(len(pop)) if d_open[k] <= s.main_threshold_m)
    np.testing.assert_allclose(
        order["cumulative_covered"], base + np.cumsum([g for _, g in ref["order"]]), rtol=1e-9
    )
    for _, row in order.iterrows():
        j = ids.index(row["precinct"])
        assert row["gain_alone"] == pytest.approx(ref["gain_alone"][j], rel=1e-9, abs=1e-9)
        for m, lab in zip(thresholds, s.threshold_labels, strict=True):
            assert row[f"gain_alone_{lab}"] == pytest.approx(ref["gain_alone at"][j, m],
                                                             rel=1e-9, abs=1e-9)
    if len(order):  # everything planned open = the open+planned scenario
        c_plan_main = sum(pop[k] for k in range(len(pop)) if d_plan[k] <= s.main_threshold_m)
        assert order["cumulative_covered"].iloc[-1] == pytest.approx(c_plan_main, rel=1e-9)
    return ref


def reference_areas(
    cell_pop: dict[str, float],
    centre: dict[str, tuple[float, float]],
    neighbours: Callable[[str], Iterable[str]],
    radius: float,
    *,
    max_areas: int | None = None,
) -> list[tuple[str, set[str], float]]:
    """Greedy seeded areas by brute force: every step rescores every free cell.

    A cell's reach is the free cells within ``radius`` of its centre (boundary included)
    connected to it through neighbours inside that disk; the cell with the most residents in
    its reach (ties: the smallest cell id) seeds the next area. Returns (seed, cells, residents)
    per area, in order.
    """
    free = set(cell_pop)
    out: list[tuple[str, set[str], float]] = []
    limit = radius * radius * (1 + 1e-9)
    while free and (max_areas is None or len(out) < max_areas):
        best: tuple[float, str, set[str]] | None = None
        for seed in sorted(free):
            sx, sy = centre[seed]
            reach, stack = {seed}, [seed]
            while stack:
                c = stack.pop()
                for nb in neighbours(c):
                    if nb in free and nb not in reach and (
                        (centre[nb][0] - sx) ** 2 + (centre[nb][1] - sy) ** 2 <= limit
                    ):
                        reach.add(nb)
                        stack.append(nb)
            score = math.fsum(cell_pop[c] for c in reach)
            if best is None or score > best[0]:
                best = (score, seed, reach)
        assert best is not None
        out.append((best[1], best[2], best[0]))
        free -= best[2]
    return out


def h3_centres(cells: Iterable[str], crs: Any) -> dict[str, tuple[float, float]]:
    to_net = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    out = {}
    for c in cells:
        lat, lon = h3.cell_to_latlng(c)
        x, y = to_net.transform(lon, lat)
        out[c] = (float(x), float(y))
    return out


def grid_centres(cells: Iterable[str], size: float) -> dict[str, tuple[float, float]]:
    out = {}
    for c in cells:
        i, j = (int(v) for v in c.split("_"))
        out[c] = ((i + 0.5) * size, (j + 0.5) * size)
    return out


def grid_neighbours(cell: str) -> list[str]:
    i, j = (int(v) for v in cell.split("_"))
    return [f"{i + a}_{j + b}" for a in (-1, 0, 1) for b in (-1, 0, 1) if a or b]


def check_areas(a: Assessment, net: WalkNetwork, *, max_areas: int | None = None) -> None:
    """The areas against the brute-force greedy; contiguity, size bound, conservation."""
    s = a.settings
    # a cell split at a district border is one cell per district: key "<cell>|<district>",
    # neighbours only within the district
    cells = a.uncovered_cells.copy()
    cells["raw"] = cells["cell"]
    cells["cell"] = [c if d is None or d != d else f"{c}|{d}"
                     for c, d in zip(cells["cell"], cells["district"], strict=True)]
    cells = cells.set_index("cell")
    assert cells.index.is_unique
    areas = a.uncovered_areas.set_index("area")
    cell_pop = cells["population"].to_dict()
    raw = cells["raw"].to_dict()
    if s.cells == "h3":
        raw_centre = h3_centres(set(raw.values()), net.crs)

        def raw_nbrs(c: str) -> Iterable[str]:
            return h3.grid_disk(c, 1)
    else:
        assert s.grid_size_m is not None
        raw_centre = grid_centres(set(raw.values()), s.grid_size_m)
        raw_nbrs = grid_neighbours
    centre = {k: raw_centre[r] for k, r in raw.items()}

    def nbrs(c: str) -> Iterable[str]:
        cell, _, district = c.partition("|")
        return [f"{n}|{district}" if district else n for n in raw_nbrs(cell)]

    # every area in one district: its cells' district
    for name, group in cells.groupby("area"):
        assert group["district"].nunique(dropna=False) == 1, name
        d = group["district"].iloc[0]
        assert areas.loc[name, "district"] == d or (d is None and areas.loc[name, "district"]
                                                    is None), name
    radius = s.main_threshold_m
    # the same partition, seeds and order as the brute force
    ref = reference_areas(cell_pop, centre, nbrs, radius, max_areas=max_areas)
    if max_areas is None:
        assert len(areas) == len(ref)
    for k, (seed, members, score) in enumerate(ref, start=1):
        name = f"U{k}"
        assert areas.loc[name, "rank"] == k
        assert areas.loc[name, "seed_cell"] == raw[seed]
        assert set(cells.index[cells["area"] == name]) == members, name
        assert areas.loc[name, "population"] == pytest.approx(score, rel=1e-9)
    # conservation: every cell in exactly one area, the areas sum to the cells
    assert set(cells["area"]) == set(areas.index)
    assert areas["population"].sum() == pytest.approx(cells["population"].sum(), rel=1e-12)
    for name, group in cells.groupby("area"):
        row = areas.loc[name]
        members = set(group.index)
        # contiguity: connected through neighbouring cells of the area
        seed = row["seed_cell"]
        if row["district"] is not None:
            seed = f"{seed}|{row['district']}"
        seen = {seed}
        stack = list(seen)
        while stack:
            c = stack.pop()
            for nb in nbrs(c):
                if nb in members and nb not in seen:
                    seen.add(nb)
                    stack.append(nb)
        assert seen == members, name
        # size bound: every cell centre within the main threshold of the seed's
        sx, sy = raw_centre[row["seed_cell"]]
        far = max(math.hypot(centre[c][0] - sx, centre[c][1] - sy) for c in members)
        assert far <= radius * (1 + 1e-9), name
        assert row["population"] == pytest.approx(group["population"].sum(), rel=1e-9)
        assert row["cells"] == len(group)


def check_uncovered(a: Assessment, net: WalkNetwork, open_pts: np.ndarray, dem_pts: np.ndarray,
                    pop: np.ndarray, d_open: np.ndarray, d_plan: np.ndarray) -> None:
    """Cells and areas: populations, contiguity and separation, ranks."""
    s = a.settings
    r = s.main_threshold_m
    unc = (d_open > r) & (pop > 0)
    cells = a.uncovered_cells
    areas = a.uncovered_areas
    assert cells["population"].sum() == pytest.approx(pop[unc].sum(), rel=1e-9, abs=1e-9)
    assert areas["population"].sum() == pytest.approx(pop[unc].sum(), rel=1e-9, abs=1e-9)
    if not unc.any():
        assert len(areas) == 0
        return
    assert s.cells == "h3" and s.h3_resolution == h3_resolution_for(r)
    ll = gpd.GeoSeries(dem_pts[unc], crs=net.crs).to_crs("EPSG:4326")
    # a cell split at a district border is one cell per district: key (cell, district)
    where = a.demand["district"].to_numpy(dtype=object)[unc]
    by_cell: dict[Any, float] = defaultdict(float)
    plan_cell: dict[Any, float] = defaultdict(float)
    for p, w, covered, dist in zip(ll, pop[unc], d_plan[unc] <= r, where, strict=True):
        c = (h3.latlng_to_cell(p.y, p.x, s.h3_resolution), dist)
        by_cell[c] += w
        plan_cell[c] += w * covered
    got = {(c, None if d is None or d != d else d): row for c, d, row in zip(
        cells["cell"], cells["district"], cells.to_dict(orient="records"), strict=True)}
    assert set(got) == set(by_cell)
    for c, w in by_cell.items():
        assert got[c]["population"] == pytest.approx(w, rel=1e-9)
        assert got[c]["covered_by_planned"] == pytest.approx(plan_cell[c], rel=1e-9, abs=1e-9)
    check_areas(a, net)
    assert list(areas["rank"]) == list(range(1, len(areas) + 1))
    assert (np.diff(areas["population"].to_numpy()) <= 1e-9).all()
    # walking distance from each area's centroid to the nearest open precinct
    cen = gpd.GeoSeries(
        gpd.points_from_xy(areas["centroid_lon"], areas["centroid_lat"]), crs="EPSG:4326"
    ).to_crs(net.crs)
    ref = reference_distances(net, open_pts, np.asarray(cen.values), s.max_snap_m)
    want = ref.min(axis=0) if len(open_pts) else np.full(len(areas), np.inf)
    np.testing.assert_allclose(areas["walk_to_open_m"], want, atol=1e-3, rtol=0)
    # median walk of each area's own residents (by hand: sorted, first to reach half the
    # weight), always beyond the main threshold, unlike the centroid's walk
    per_area: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for p, w, d, dist in zip(ll, pop[unc], d_open[unc], where, strict=True):
        key = (h3.latlng_to_cell(p.y, p.x, s.h3_resolution), dist)
        per_area[got[key]["area"]].append((d, w))
    for _, row in areas.iterrows():
        items = sorted(per_area[row["area"]])
        half = 0.5 * sum(w for _, w in items)
        acc, med = 0.0, math.inf
        for d, w in items:
            acc += w
            if acc >= half - 1e-9 * half:
                med = d
                break
        assert row["median_walk_m"] == pytest.approx(med, rel=1e-12), row["area"]
        assert row["median_walk_m"] > r


# ---------------------------------------------------------------------------------------------
# small hand-made networks


def grid_network(n: int = 5, step: float = 100.0, origin: tuple[float, float] = (500000.0,
                 4790000.0)) -> WalkNetwork:
    """An ``n x n`` street grid with one diagonal, a parallel detour and a detached street."""
    x0, y0 = origin
    xy = [(x0 + i * step, y0 + j * step) for j in range(n) for i in range(n)]
    u: list[int] = []
    v: list[int] = []
    geoms: list[Any] = []

    def add(a: int, b: int, via: tuple[float, float] | None = None) -> None:
        pts = [xy[a]] + ([via] if via else []) + [xy[b]]
        u.append(a)
        v.append(b)
        geoms.append(shapely.LineString(pts))

    for j in range(n):
        for i in range(n):
            k = j * n + i
            if i + 1 < n:
                add(k, k + 1)
            if j + 1 < n:
                add(k, k + n)
    add(0, n + 1)  # a diagonal
    add(1, 2, via=(x0 + 1.5 * step, y0 - 0.4 * step))  # a bent parallel street
    # a detached street far east, not connected to the grid
    a = len(xy)
    xy += [(x0 + (n + 3) * step, y0), (x0 + (n + 3) * step, y0 + step)]
    add(a, a + 1)
    return WalkNetwork(np.arange(len(xy)), np.asarray(xy), np.asarray(u), np.asarray(v),
                       np.asarray(geoms, dtype=object), CRS, source="grid")


def points_gdf(xy: np.ndarray, **cols: Any) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(cols, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=CRS)


def run_case(
    net: WalkNetwork,
    fac_xy: np.ndarray,
    status: list[str],
    dem_xy: np.ndarray,
    pop: np.ndarray,
    *,
    ids: list[str] | None = None,
    **kw: Any,
) -> tuple[Assessment, dict[str, Any], np.ndarray]:
    ids = ids or [f"P{i}" for i in range(len(fac_xy))]
    precincts = points_gdf(fac_xy, name=[f"Precinct {i}" for i in ids], status=status)
    precincts.index = pd.Index(ids)
    demand = points_gdf(dem_xy, population=pop)
    a = assess(net, demand, precincts, **kw)
    fac_pts = shapely.points(fac_xy)
    dem_pts = shapely.points(dem_xy)
    D = reference_distances(net, fac_pts, dem_pts, a.settings.max_snap_m)
    ref = check_against_reference(a, D, pop, ids, status)
    open_pts = fac_pts[[s == "open" for s in status]]
    check_uncovered(a, net, open_pts, dem_pts, pop, ref["open"][0], ref["open+planned"][0])
    return a, ref, D


def test_hand_made_network_matches_brute_force() -> None:
    net = grid_network()
    rng = np.random.default_rng(3)
    x0, y0 = 500000.0, 4790000.0
    dem = np.column_stack([x0 - 50 + rng.random(150) * 800, y0 - 60 + rng.random(150) * 520])
    pop = np.round(rng.random(150) * 40, 2)
    pop[:5] = 0.0  # residents-free points
    fac = np.array([
        [x0 + 13.7, y0 + 4.1],  # open, south-west
        [x0 + 331.2, y0 + 288.9],  # open, north-east
        [x0 + 19.1, y0 + 101.7],  # planned near the first: adds nothing at 200 m? (checked)
        [x0 + 421.5, y0 + 17.3],  # planned, south-east corner
        [x0 + 801.0, y0 + 55.0],  # planned on the detached street
    ])
    a, ref, _ = run_case(net, fac, ["open", "open", "planned", "planned", "planned"], dem, pop,
                         thresholds_m=[120, 200, 350])
    assert a.settings.main_threshold_m == 350.0
    assert a.settings.threshold_labels == ("120m", "200m", "350m")
    far = np.array([s is None for s in brute_snap(net, shapely.points(dem), 500.0)])
    assert a.unreachable_residents == pytest.approx(pop[far].sum())
    # the detached street is reachable only from its own (planned) precinct
    on_detached = np.isfinite(ref["open+planned"][0]) & ~np.isfinite(ref["open"][0])
    assert on_detached.any()
    assert (ref["open+planned"][1][on_detached] == 4).all()
    json.dumps(a.to_dict())


def test_planned_precinct_that_adds_nothing() -> None:
    net = grid_network()
    x0, y0 = 500000.0, 4790000.0
    rng = np.random.default_rng(11)
    dem = np.column_stack([x0 + rng.random(80) * 400, y0 + rng.random(80) * 400])
    pop = rng.random(80) * 10 + 1
    fac = np.array([
        [x0 + 250.0, y0 + 201.0],  # open, 1 m off a street in the centre
        [x0 + 250.0, y0 + 221.0],  # planned, same street spot but 21 m off: always 20 m more
        [x0 + 3.0, y0 + 390.0],  # planned far corner
    ])
    a, _, D = run_case(net, fac, ["open", "planned", "planned"], dem, pop,
                         thresholds_m=[100, 200])
    order = a.opening_order.set_index("precinct")
    assert order.loc["P1", "gain_alone"] == 0.0
    assert order.loc["P1", "gain"] == 0.0
    assert order.loc["P2", "gain_alone"] > 0
    assert list(a.opening_order["precinct"]) == ["P2", "P1"]
    # the brute force agrees: it is 20 m farther than the open one from everybody
    np.testing.assert_allclose(D[1] - D[0], 20.0, atol=1e-6)


def test_two_precincts_at_the_same_place() -> None:
    net = grid_network()
    x0, y0 = 500000.0, 4790000.0
    rng = np.random.default_rng(5)
    dem = np.column_stack([x0 + rng.random(60) * 400, y0 + rng.random(60) * 400])
    pop = rng.random(60) * 10 + 1
    same = [x0 + 111.0, y0 + 97.0]
    fac = np.array([same, [x0 + 350.0, y0 + 330.0], same, same])
    a, _, _ = run_case(net, fac, ["open", "open", "open", "planned"], dem, pop,
                         ids=["A", "B", "A2", "A3"], thresholds_min=[2, 4])
    today = a.catchments[a.catchments["scenario"] == "open"].set_index("precinct")
    assert today.loc["A", "residents_served"] > 0
    assert today.loc["A2", "residents_served"] == 0.0
    assert today.loc["A2", "inspectors_needed"] == 0
    assert math.isnan(today.loc["A2", "median_walk_m"])
    assert today["residents_served"].sum() == pytest.approx(pop.sum())
    # the planned one at the same place adds nothing
    assert a.opening_order.set_index("precinct").loc["A3", "gain_alone"] == 0.0
    assert any("A2" in n and "same place" in n for n in a.notes)
    assert a.coverage["added"].abs().max() == 0.0


def test_no_open_precinct_and_no_planned() -> None:
    net = grid_network()
    x0, y0 = 500000.0, 4790000.0
    dem = np.array([[x0 + 50.0, y0 + 3.0], [x0 + 310.0, y0 + 150.0], [x0 + 5000.0, y0]])
    pop = np.array([10.0, 20.0, 7.0])
    a, _, _ = run_case(net, np.array([[x0 + 60.0, y0 + 2.0]]), ["planned"], dem, pop,
                       thresholds_min=[3])
    assert a.coverage["covered_open"].iloc[0] == 0.0
    assert a.unreachable_residents == 7.0
    assert len(a.catchments[a.catchments["scenario"] == "open"]) == 1  # only the unassigned row
    b, _, _ = run_case(net, np.array([[x0 + 60.0, y0 + 2.0]]), ["open"], dem, pop,
                       thresholds_min=[3])
    assert len(b.opening_order) == 0
    assert list(b.opening_order.columns)[:2] == ["step", "precinct"]


def test_districts_against_point_in_polygon() -> None:
    net = grid_network()
    x0, y0 = 500000.0, 4790000.0
    rng = np.random.default_rng(9)
    dem = np.column_stack([x0 + rng.random(120) * 400, y0 + rng.random(120) * 400])
    pop = rng.random(120) * 10
    fac = np.array([[x0 + 50.0, y0 + 50.0], [x0 + 350.0, y0 + 337.0], [x0 + 300.0, y0 + 40.0],
                    [x0 + 120.0, y0 + 310.0]])
    status = ["open", "open", "planned", "candidate"]
    west = shapely.box(x0 - 10, y0 - 10, x0 + 200, y0 + 410)
    east = shapely.box(x0 + 200, y0 - 10, x0 + 330, y0 + 410)  # x > 330 is in no district
    districts = gpd.GeoDataFrame({"name": ["West", "East"]}, geometry=[west, east], crs=CRS)
    precincts = points_gdf(fac, name=["a", "b", "c", "d"], status=status)
    a = assess(net, points_gdf(dem, population=pop), precincts, districts=districts,
               thresholds_min=[2, 5], residents_per_inspector=100)
    D = reference_distances(net, shapely.points(fac), shapely.points(dem), 500.0)
    d_open = D[[0, 1]].min(axis=0)
    d_plan = D[[0, 1, 2]].min(axis=0)
    t = a.districts.set_index("district")
    assert list(t.index) == ["West", "East", "(outside districts)"]
    for name, poly in (("West", west), ("East", east), ("(outside districts)", None)):
        if poly is None:
            inside = np.array([not (west.intersects(p) or east.intersects(p))
                               for p in shapely.points(dem)])
            fac_in = np.array([not (west.intersects(p) or east.intersects(p))
                               for p in shapely.points(fac)])
        else:
            inside = np.array([poly.intersects(p) for p in shapely.points(dem)])
            if name == "East":
                inside &= ~np.array([west.intersects(p) for p in shapely.points(dem)])
            fac_in = np.array([poly.intersects(p) for p in shapely.points(fac)])
        res = pop[inside].sum()
        assert t.loc[name, "residents"] == pytest.approx(res, rel=1e-12)
        for m, lab in zip(a.settings.thresholds_m, a.settings.threshold_labels, strict=True):
            assert t.loc[name, f"share_{lab}_open"] == pytest.approx(
                pop[inside & (d_open <= m)].sum() / res, rel=1e-9)
            assert t.loc[name, f"share_{lab}_with_planned"] == pytest.approx(
                pop[inside & (d_plan <= m)].sum() / res, rel=1e-9)
        for s in ("open", "planned", "candidate"):
            assert t.loc[name, s] == sum(1 for i in np.flatnonzero(fac_in) if status[i] == s)
        # staffing: the sum of the per-precinct figures of the open precincts standing here
        # (each ceil(served / 100), none when the median walk is beyond 5 min = 375 m)
        near = np.asarray(D[[0, 1]].argmin(axis=0))
        want = 0
        for j in (0, 1):
            if not fac_in[j]:
                continue
            mine = np.flatnonzero(near == j)
            served = pop[mine].sum()
            order = np.argsort(d_open[mine])
            half = np.cumsum(pop[mine][order]) >= served / 2  # population-weighted median
            if served > 0 and d_open[mine][order][np.argmax(half)] <= 375.0:
                want += math.ceil(served / 100)
        assert t.loc[name, "inspectors_needed"] == want
    assert t["residents"].sum() == pytest.approx(pop.sum(), rel=1e-12)
    today = a.catchments[a.catchments["scenario"] == "open"]
    assert t["inspectors_needed"].sum() == today["inspectors_needed"].sum()


def test_grid_cells_and_settings_in_every_output() -> None:
    net = grid_network()
    x0, y0 = 500000.0, 4790000.0
    rng = np.random.default_rng(2)
    dem = np.column_stack([x0 + rng.random(100) * 400, y0 + rng.random(100) * 400])
    pop = rng.random(100) * 10
    precincts = points_gdf(np.array([[x0 + 20.0, y0 + 20.0]]), name=["a"], status=["open"])
    a = assess(net, points_gdf(dem, population=pop), precincts, thresholds_m=[150, 300],
               main_threshold=150, cells="grid", walk_speed_kmh=5.0, residents_per_inspector=250)
    assert a.settings.grid_size_m == 50.0 and a.settings.h3_resolution is None
    assert a.settings.thresholds_min == pytest.approx((150 / (5000 / 60), 300 / (5000 / 60)))
    D = reference_distances(net, shapely.points([[x0 + 20.0, y0 + 20.0]]), shapely.points(dem),
                            500.0)[0]
    unc = (D > 150) & (pop > 0)
    ij = np.floor(dem[unc] / 50.0).astype(int)
    keys = {f"{i}_{j}" for i, j in ij}
    assert set(a.uncovered_cells["cell"]) == keys
    assert a.uncovered_areas["population"].sum() == pytest.approx(pop[unc].sum())
    check_areas(a, net)
    text = a.summary()
    assert "5 km/h" in text and "250 residents per inspector" in text and "150 m" in text
    assert str(a) == text
    html = a._repr_html_()
    assert "250 residents per inspector" in html and "<table" in html
    d = json.loads(json.dumps(a.to_dict()))
    assert d["settings"]["residents_per_inspector"] == 250
    assert d["settings"]["walk_speed_kmh"] == 5.0
    assert d["settings"]["main_threshold_m"] == 150
    assert len(d["coverage"]) == 2 and d["residents"] == pytest.approx(pop.sum())


def random_network(rng: np.random.Generator, n: int = 30) -> WalkNetwork:
    """Random streets: each node joined to its nearest neighbours, some streets bent."""
    x0, y0 = 500000.0, 4790000.0
    xy = np.column_stack([x0 + rng.random(n) * 600, y0 + rng.random(n) * 600])
    pairs = set()
    for i in range(n):
        d = np.hypot(*(xy - xy[i]).T)
        for j in np.argsort(d)[1:1 + int(rng.integers(1, 4))]:
            pairs.add((min(i, int(j)), max(i, int(j))))
    u, v, geoms = [], [], []
    for i, j in sorted(pairs):
        mid = (xy[i] + xy[j]) / 2
        pts = [xy[i], mid + rng.normal(0, 15, 2), xy[j]] if rng.random() < 0.4 else [xy[i], xy[j]]
        u.append(i)
        v.append(j)
        geoms.append(shapely.LineString(pts))
    return WalkNetwork(np.arange(n), xy, np.asarray(u), np.asarray(v),
                       np.asarray(geoms, dtype=object), CRS, source="random")


@pytest.mark.parametrize("seed", range(6))
def test_random_networks_match_brute_force(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    net = random_network(rng)
    x0, y0 = 500000.0, 4790000.0
    k = int(rng.integers(2, 7))
    fac = np.column_stack([x0 + rng.random(k) * 600, y0 + rng.random(k) * 600])
    if seed % 2:
        fac = np.vstack([fac, fac[:1]])  # a second precinct at the place of the first
    status = [str(s) for s in rng.choice(["open", "open", "planned", "candidate"], len(fac))]
    status[0] = "open"
    m = 120
    dem = np.column_stack([x0 - 100 + rng.random(m) * 800, y0 - 100 + rng.random(m) * 800])
    pop = rng.gamma(1.5, 10.0, m)
    pop[rng.random(m) < 0.1] = 0.0
    t = sorted({float(x) for x in rng.choice([1.5, 2.0, 3.0, 4.0, 6.0], 3)})
    run_case(net, fac, status, dem, pop, thresholds_min=t, max_snap_m=120.0)


def test_a_resident_exactly_at_the_threshold_is_covered() -> None:
    net = grid_network()
    x0, y0 = 500000.0, 4790000.0
    dem = np.array([[x0 + 100.0, y0], [x0 + 150.0, y0], [x0 + 150.5, y0]])
    pop = np.array([1.0, 2.0, 4.0])
    a, ref, _ = run_case(net, np.array([[x0, y0]]), ["open"], dem, pop,
                         thresholds_m=[100, 150])
    np.testing.assert_array_equal(ref["open"][0], [100.0, 150.0, 150.5])
    assert list(a.coverage["covered_open"]) == [1.0, 3.0]
    assert a.uncovered_areas["population"].sum() == 4.0
    row = a.catchments.set_index("precinct").loc["P0"].iloc[0]
    assert (row["within_100m"], row["within_150m"]) == (1.0, 3.0)


def test_input_errors() -> None:
    net = grid_network()
    x0, y0 = 500000.0, 4790000.0
    dem = points_gdf(np.array([[x0 + 5.0, y0 + 5.0]]), population=[1.0])
    fac = points_gdf(np.array([[x0, y0]]), name=["a"], status=["open"])
    with pytest.raises(InputError, match="both thresholds_min and thresholds_m"):
        assess(net, dem, fac, thresholds_min=[5], thresholds_m=[300])
    with pytest.raises(InputError, match="positive"):
        assess(net, dem, fac, thresholds_min=[0, 5])
    with pytest.raises(InputError, match="not one of the thresholds"):
        assess(net, dem, fac, thresholds_min=[5, 10], main_threshold=7)
    with pytest.raises(InputError, match="population"):
        assess(net, dem.drop(columns="population"), fac)
    with pytest.raises(InputError, match="negative"):
        assess(net, points_gdf(np.array([[x0, y0]]), population=[-1.0]), fac)
    with pytest.raises(InputError, match="unknown status"):
        assess(net, dem, fac.assign(status=["closed"]))
    with pytest.raises(InputError, match="walk_speed_kmh"):
        assess(net, dem, fac, walk_speed_kmh=0)
    with pytest.raises(InputError, match="residents_per_inspector"):
        assess(net, dem, fac, residents_per_inspector=-3)


def test_weighted_quantile_and_resolution() -> None:
    assert weighted_quantile(np.array([3.0, 1.0, 2.0]), np.array([1.0, 1.0, 1.0]), 0.5) == 2.0
    assert weighted_quantile(np.array([1.0, 2.0]), np.array([0.0, 5.0]), 0.1) == 2.0
    assert math.isnan(weighted_quantile(np.array([1.0]), np.array([0.0]), 0.5))
    assert weighted_quantile(np.array([1.0, 2.0, 3.0, 4.0]), np.ones(4), 0.9) == 4.0
    # the lower quantile: exactly half the weight at or below 2
    assert weighted_quantile(np.array([4.0, 3.0, 2.0, 1.0]), np.ones(4), 0.5) == 2.0
    assert weighted_quantile(np.array([1.0, 2.0, 3.0]), np.array([0.1, 0.2, 0.3]), 0.5) == 2.0
    for r in (200.0, 375.0, 750.0, 1125.0, 3000.0):
        res = h3_resolution_for(r)
        assert h3.average_hexagon_edge_length(res, unit="m") <= r / 3 or res == 11
        if res > 7:
            assert h3.average_hexagon_edge_length(res - 1, unit="m") > r / 3
    assert h3_resolution_for(750.0) == 9


# ---------------------------------------------------------------------------------------------
# Monaco: OSM police, some marked planned, random residents


@pytest.fixture(scope="module")
def monaco(
    shared_data: Path, monaco_network: WalkNetwork
) -> tuple[WalkNetwork, gpd.GeoDataFrame]:
    path = shared_data / "monaco-osm-2020" / "monaco.osm.pbf"
    return monaco_network, precincts_from_osm(path)


@pytest.mark.slow
def test_monaco_matches_brute_force(monaco: Any) -> None:
    net, police = monaco
    police = police.copy()
    police.loc[police.index[[1, 4, 7]], "status"] = "planned"
    police.loc[police.index[6], "status"] = "candidate"
    rng = np.random.default_rng(2020)
    minx, miny, maxx, maxy = net.bounds
    n = 500
    dem_xy = np.column_stack([minx + rng.random(n) * (maxx - minx),
                              miny + rng.random(n) * (maxy - miny)])
    pop = np.round(rng.gamma(2.0, 20.0, n), 1)
    demand = gpd.GeoDataFrame({"population": pop},
                              geometry=gpd.points_from_xy(dem_xy[:, 0], dem_xy[:, 1]),
                              crs=net.crs).to_crs("EPSG:4326")
    midx = (minx + maxx) / 2
    districts = gpd.GeoDataFrame(
        {"name": ["West", "East"]},
        geometry=[shapely.box(minx - 1, miny - 1, midx, maxy + 1),
                  shapely.box(midx, miny - 1, maxx - 300, maxy + 1)],
        crs=net.crs,
    ).to_crs("EPSG:4326")
    a = assess(net, demand, police, thresholds_min=[3, 6, 10], main_threshold=6,
               districts=districts)
    fac_pts = np.asarray(police.to_crs(net.crs).geometry.values)
    # the reference works on the same coordinates the assessment sees
    dem_pts = np.asarray(demand.to_crs(net.crs).geometry.values)
    D = reference_distances(net, fac_pts, dem_pts, settings.max_snap_m)
    ids = list(police.index)
    status = list(police["status"])
    ref = check_against_reference(a, D, pop, ids, status)
    open_pts = fac_pts[[s == "open" for s in status]]
    check_uncovered(a, net, open_pts, dem_pts, pop, ref["open"][0], ref["open+planned"][0])
    assert a.precinct_counts == {"open": 5, "planned": 3, "candidate": 1}
    assert a.unreachable_residents > 0  # random points in the sea
    t = a.districts.set_index("district")
    assert t["residents"].sum() == pytest.approx(pop.sum(), rel=1e-12)
    assert "(outside districts)" in t.index
    assert t[["open", "planned", "candidate"]].to_numpy().sum() == len(police)
    assert len(a.opening_order) == 3
    text = a.summary()
    assert "4.5 km/h" in text and "3,000 residents per inspector" in text


# ---------------------------------------------------------------------------------------------
# Almaty: the test scenario (2012 police, some planned; district populations spread)


@pytest.mark.slow
def test_almaty_scenario_tables_and_totals(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from walkshed.reach import nearest_precinct
    from walkshed.scenario import load_inputs, load_scenario

    monkeypatch.setenv("WALKSHED_TEST_DATA", str(shared_data))
    scen = load_scenario(Path(__file__).parent / "data" / "almaty_2012.toml")
    inputs = load_inputs(scen)
    a = assess(inputs.network, inputs.demand, inputs.precincts, districts=inputs.districts,
               **scen.assess_options())
    total = float(inputs.demand["population"].sum())
    counts = pd.read_csv(Path(__file__).parents[1] / "data" / "kz_district_population.csv")
    almaty = counts[(counts["city"] == "Almaty") & (counts["level"] == "district")]
    assert total == pytest.approx(almaty["population"].sum(), rel=1e-12)
    assert a.residents == pytest.approx(total, rel=1e-12)
    # districts: every district's residents are its official count, the sum is the total
    t = a.districts.set_index("district")
    assert t["residents"].sum() == pytest.approx(total, rel=1e-12)
    official = {"Jetysu": 173972, "Nauryzbai": 220187, "Almaly": 224600, "Auezov": 358000,
                "Alatau": 317700, "Bostandyk": 362200, "Medeu": 242100, "Turksib": 267000}
    for name, value in official.items():
        assert t.loc[name, "residents"] == pytest.approx(value, rel=1e-9)
    assert t[["open", "planned"]].to_numpy().sum() == 40  # outside districts included
    assert t.loc["(outside districts)", "residents"] == 0.0
    assert int(t["planned"].sum()) == 4
    # catchments: per scenario, residents served add up to the total
    for scen_name in ("open", "open+planned"):
        c = a.catchments[a.catchments["scenario"] == scen_name]
        assert c["residents_served"].sum() == pytest.approx(total, rel=1e-12)
        foot = c[c["served_on_foot"]]
        assert (foot["inspectors_needed"] == np.ceil(foot["residents_served"] / 3000 - 1e-9)).all()
        assert c.loc[~c["served_on_foot"], "inspectors_needed"].isna().all()
    assert len(a.catchments[a.catchments["scenario"] == "open"]) >= 36
    # coverage against the public nearest_precinct path
    status = inputs.precincts["status"]
    near = nearest_precinct(inputs.network, inputs.precincts[status == "open"], inputs.demand)
    pop = inputs.demand["population"].to_numpy()
    for row in a.coverage.itertuples():
        want = pop[near["distance_m"].to_numpy() <= row.threshold_m].sum()
        assert row.covered_open == pytest.approx(want, rel=1e-9)
    assert list(a.opening_order["precinct"]) != []
    assert set(a.opening_order["precinct"]) == set(status.index[status == "planned"])
    uncovered = pop[a.demand["walk_open_m"].to_numpy() > 750.0].sum()
    areas = a.uncovered_areas
    assert areas["population"].sum() == pytest.approx(uncovered, rel=1e-12)
    assert a.settings.h3_resolution == 9
    # areas of one precinct's reach: many of them, none near the city's size (the connected
    # uncovered cells were one area of 2.02 million residents)
    assert uncovered > 0.9 * total
    assert len(areas) > 100
    assert areas["population"].iloc[0] < 0.05 * uncovered
    assert areas["cells"].max() <= 19  # a 750 m disk holds at most two rings of 9-cells
    assert set(areas["district"].head(5)) <= set(official)
    # areas lie in one district each: summed by district, they are the district's uncovered
    # residents (from the per-point walks) and never more than its residents
    by_district = areas.groupby("district")["population"].sum()
    far = a.demand[a.demand["walk_open_m"] > 750.0].groupby("district")["population"].sum()
    pd.testing.assert_series_equal(by_district.sort_index(), far.sort_index(), rtol=1e-12,
                                   check_names=False)
    for name, value in by_district.items():
        assert value <= t.loc[name, "residents"] * (1 + 1e-12), name
    # the first areas against the brute force; contiguity and size bound of all of them
    check_areas(a, inputs.network, max_areas=3)
    json.dumps(a.to_dict())
    assert pyproj.CRS(a.uncovered_areas.crs).to_epsg() == 4326


@pytest.mark.slow
def test_assess_scenario_reads_and_assesses(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from walkshed.assessment import assess_scenario

    monkeypatch.setenv("WALKSHED_TEST_DATA", str(shared_data))
    inputs, a = assess_scenario(Path(__file__).parent / "data" / "monaco.toml")
    b = assess(inputs.network, inputs.demand, inputs.precincts, thresholds_m=[250, 500, 750],
               main_threshold=500, residents_per_inspector=2500, cells="grid",
               districts=inputs.districts)
    pd.testing.assert_frame_equal(a.coverage, b.coverage)
    pd.testing.assert_frame_equal(a.catchments, b.catchments)
    assert a.settings == b.settings


# ---------------------------------------------------------------------------------------------
# uncovered areas: greedy seeded regions of one precinct's reach


def test_uncovered_areas_hand_made_partition() -> None:
    """Grid cells of 100 m (threshold 300 m), everybody far from any street, so uncovered.

    Row: ten cells in a line (10 residents each, 50 in the seventh). Every seed from the 4th
    to the 7th cell reaches seven cells (3 either side) and 110 residents: the tie goes to the
    smallest cell id (the 4th), which takes cells 1..7; cells 8..10 are the second area. A
    rule seeding the most populous cell would take cells 4..10 instead.

    Elsewhere: a heavy cell A (100) and a cell B (10) two cells east of it, within A's radius
    but not touching it: two areas. Two diagonal neighbours (5 + 5) are one area, tied with B
    at 10 residents: B's smaller cell id ranks first. A lone cell far away is its own area.
    """
    net = grid_network()
    x0, y0 = 500000.0, 4790000.0 + 5000.0  # 5 km north of the streets: out of snapping reach
    cells: dict[tuple[int, int], float] = {}
    for i in range(10):
        cells[(i, 0)] = 50.0 if i == 6 else 10.0
    cells[(20, 10)] = 100.0  # A
    cells[(22, 10)] = 10.0  # B
    cells[(30, 20)] = cells[(31, 21)] = 5.0  # diagonal neighbours
    cells[(40, 30)] = 7.0
    # two points per cell, the cell's residents split 1:3, off the cell centre
    xy, pop = [], []
    for (i, j), w in cells.items():
        xy += [[x0 + i * 100 + 20, y0 + j * 100 + 30], [x0 + i * 100 + 70, y0 + j * 100 + 80]]
        pop += [w / 4, 3 * w / 4]
    xy.append([500050.0, 4790000.0])  # nobody lives on the streets (but the input is there)
    pop.append(0.0)
    precinct = points_gdf(np.array([[500000.0, 4790000.0]]), name=["a"], status=["open"])
    a = assess(net, points_gdf(np.asarray(xy), population=np.asarray(pop)), precinct,
               thresholds_m=[300], cells="grid")
    assert a.settings.grid_size_m == 100.0

    def key(i: int, j: int) -> str:
        return f"{5000 + i}_{47950 + j}"

    want = [
        ({key(i, 0) for i in range(7)}, key(3, 0), 110.0),
        ({key(20, 10)}, key(20, 10), 100.0),
        ({key(i, 0) for i in range(7, 10)}, key(7, 0), 30.0),
        ({key(22, 10)}, key(22, 10), 10.0),
        ({key(30, 20), key(31, 21)}, key(30, 20), 10.0),
        ({key(40, 30)}, key(40, 30), 7.0),
    ]
    got = a.uncovered_areas
    cell_area = a.uncovered_cells.set_index("cell")["area"]
    assert list(got["area"]) == [f"U{k}" for k in range(1, 7)]
    assert list(got["rank"]) == list(range(1, 7))
    for k, (members, seed, residents) in enumerate(want):
        name = f"U{k + 1}"
        assert set(cell_area.index[cell_area == name]) == members
        assert got["seed_cell"].iloc[k] == seed
        assert got["population"].iloc[k] == residents  # quarters of integers: exact sums
        assert got["cells"].iloc[k] == len(members)
    # conservation, exactly: the areas hold every uncovered resident once
    assert got["population"].sum() == sum(pop) == sum(cells.values())
    assert not np.isfinite(got["walk_to_open_m"]).any()  # nobody can reach a street
    check_areas(a, net)
    assert "6 areas, 267 residents" in a.summary()
    assert "within 300 m (straight line) of its seed cell" in a.summary()


def test_seeded_areas_on_random_cells() -> None:
    """Random H3 and grid cell sets: the fast lazy greedy equals the brute force."""
    net = grid_network()
    rng = np.random.default_rng(17)
    x0, y0 = 500000.0, 4795000.0
    for kind, t in (("grid", [240.0]), ("h3", [400.0]), ("grid", [600.0])):
        n = 400
        # clusters of residents with gaps, integer counts (many ties)
        centres = rng.random((6, 2)) * 3000
        xy = centres[rng.integers(0, 6, n)] + rng.normal(0, 350, (n, 2))
        pop = rng.integers(1, 4, n).astype(float)
        precinct = points_gdf(np.array([[500000.0, 4790000.0]]), name=["a"], status=["open"])
        xy = np.vstack([xy + np.array([x0, y0]), [[500050.0, 4790000.0]]])  # one empty point
        pop = np.append(pop, 0.0)
        a = assess(net, points_gdf(xy, population=pop), precinct, thresholds_m=t,
                   cells=kind)  # type: ignore[arg-type]
        assert len(a.uncovered_areas) > 3
        assert a.uncovered_areas["cells"].max() > 3
        assert a.uncovered_areas["population"].sum() == pop.sum()
        check_areas(a, net)


def test_precinct_serving_nobody_is_noted() -> None:
    """Two open precincts at the ends of a 1 km street, both homes near the west one: the east
    precinct is nearest to no one (200 m and 100 m from West, 800 m and 900 m from East), and
    the assessment says so rather than listing it with zero residents silently."""
    xy = np.array([[0.0, 0.0], [1000.0, 0.0]])
    net = WalkNetwork([1, 2], xy, [0], [1], [shapely.LineString(xy)], "EPSG:32643")
    homes = gpd.GeoDataFrame({"population": [10.0, 20.0]},
                             geometry=gpd.points_from_xy([200, 100], [0, 0]), crs=net.crs)
    police = gpd.GeoDataFrame({"name": ["West", "East"], "status": ["open", "open"]},
                              geometry=gpd.points_from_xy([0, 1000], [0, 0]), crs=net.crs,
                              index=["W", "E"])
    a = assess(net, homes, police, thresholds_m=[300])
    served = a.catchments.set_index(["scenario", "precinct"])["residents_served"]
    assert served[("open", "E")] == 0.0 and served[("open", "W")] == 30.0
    idle = [n for n in a.notes if "serves no resident" in n]
    assert idle == [
        "1 precinct serves no resident (open): no one has it as the nearest precinct on "
        "foot: E",
        "1 precinct serves no resident (open + planned): no one has it as the nearest "
        "precinct on foot: E",
    ]
    # said in Russian where it is shown (the report, the PDF)
    assert idle[0].in_language("ru") == (  # type: ignore[attr-defined]
        "1 УПП не обслуживает ни одного жителя (действующие): ни для кого он не ближайший "
        "пешком: E")


def test_uncovered_areas_split_at_district_borders() -> None:
    """Random residents in two districts whose border (a diagonal) cuts through cells: every
    area lies in one district, a split cell is one cell per district (its polygon clipped to
    the district), the greedy equals the brute force on those cells, and the areas summed by
    district equal each district's uncovered residents (points in polygons, by shapely)."""
    net = grid_network()
    rng = np.random.default_rng(5)
    x0, y0 = 500000.0, 4795000.0
    for kind, t in (("grid", [300.0]), ("h3", [400.0])):
        n = 300
        xy = rng.random((n, 2)) * 1500 + np.array([x0, y0])
        pop = rng.integers(1, 5, n).astype(float)
        west = shapely.Polygon([(x0 - 100, y0 - 100), (x0 + 600, y0 - 100),
                                (x0 + 900, y0 + 1600), (x0 - 100, y0 + 1600)])
        east = shapely.Polygon([(x0 + 600, y0 - 100), (x0 + 1600, y0 - 100),
                                (x0 + 1600, y0 + 1600), (x0 + 900, y0 + 1600)])
        districts = gpd.GeoDataFrame({"name": ["West", "East"]}, geometry=[west, east], crs=CRS)
        precinct = points_gdf(np.array([[500000.0, 4790000.0]]), name=["a"], status=["open"])
        on_street = np.vstack([xy, [[500050.0, 4790000.0]]])  # the network's area: one empty point
        a = assess(net, points_gdf(on_street, population=np.append(pop, 0.0)), precinct,
                   thresholds_m=t, cells=kind, districts=districts)  # type: ignore[arg-type]
        cells, areas = a.uncovered_cells, a.uncovered_areas
        assert cells.duplicated("cell").any(), "the border should split some cells"
        pts = shapely.points(xy)
        for name, poly in (("West", west), ("East", east)):
            inside = pop[shapely.contains(poly, pts)].sum()
            assert areas.loc[areas["district"] == name, "population"].sum() == inside
            assert cells.loc[cells["district"] == name, "population"].sum() == inside
        assert areas["population"].sum() == pop.sum()
        # clipped cells stay inside their district
        ll = districts.to_crs(4326).set_index("name").geometry
        for row in cells.itertuples():
            assert ll[row.district].buffer(1e-9).contains(row.geometry)
        check_areas(a, net)
        if kind == "h3":  # every cell is its hexagon cut by its district (cut or not), and
            # every area the union of its cells: the same polygons as cutting every cell
            import h3

            for row in cells.itertuples():
                hexagon = shapely.Polygon([(b, a) for a, b in h3.cell_to_boundary(row.cell)])
                want = shapely.intersection(hexagon, ll[row.district])
                assert shapely.equals_exact(shapely.normalize(row.geometry),
                                            shapely.normalize(want), tolerance=1e-12)
            for area in areas.itertuples():
                want = shapely.union_all(cells.loc[cells["area"] == area.area, "geometry"]
                                         .to_numpy())
                assert want.symmetric_difference(area.geometry).area < 1e-9 * want.area
                assert area.geometry.area == pytest.approx(want.area, rel=1e-9)


def test_a_cached_assessment_is_the_assessment(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A run of the same inputs reads the assessment and its comparison from the cache: every
    table (types and values, exactly), figure and sentence as computed, without assessing;
    other precincts or options are assessed anew; a tampered entry is assessed again."""
    import dataclasses

    from walkshed import assessment as assessment_pkg
    from walkshed.assessment import cache as acache
    from walkshed.pipeline import Reporter, _assessment, demo_study

    monkeypatch.setattr(settings, "cache_dir", tmp_path)
    study = demo_study(cache=True)
    fresh = _assessment(study, Reporter())
    entries = list(tmp_path.glob("assessment-*.npz"))
    assert len(entries) == 1

    def no_assessing(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("assessed again")

    with monkeypatch.context() as m:
        m.setattr(assessment_pkg, "assess", no_assessing)
        read = _assessment(study, Reporter())
    assert read.settings == fresh.settings
    for f in dataclasses.fields(Assessment):
        got, want = getattr(read, f.name), getattr(fresh, f.name)
        if isinstance(want, pd.DataFrame):
            assert type(got) is type(want), f.name
            pd.testing.assert_frame_equal(got, want, check_exact=True)
            if isinstance(want, gpd.GeoDataFrame):
                assert got.crs == want.crs and got.geometry.name == want.geometry.name
        else:
            assert got == want, f.name
    assert read.uncertainty is not None and read.uncertainty == fresh.uncertainty
    assert [n.in_language("ru") for n in read.notes] == [n.in_language("ru")
                                                        for n in fresh.notes]
    assert read.summary("kk") == fresh.summary("kk")

    # other inputs, other entries
    other = dataclasses.replace(study, precincts=study.precincts.assign(
        status=["planned", *study.precincts["status"].iloc[1:]]))
    wider = dataclasses.replace(study, assess_options={**study.assess_options,
                                                       "main_threshold": 15.0})
    keys = {pipeline_key(s) for s in (study, other, wider)}
    assert len(keys) == 3

    # a tampered entry (a sentence walkshed does not say) is assessed again
    with np.load(entries[0], allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    head = json.loads(str(data["head"]))
    head["values"]["notes"] = [{"$message": ["{n.__class__}", None, None, {"n": 1}]}]
    data["head"] = np.asarray(json.dumps(head))
    with open(entries[0], "wb") as f:
        np.savez(f, **data)
    assert acache.read_assessment(pipeline_key(study), fresh.settings, use=True) is None
    again = _assessment(study, Reporter())
    pd.testing.assert_frame_equal(again.catchments, fresh.catchments, check_exact=True)

    # entries that parse but are not this assessment: computed again, and replaced
    def tampered(edit: Callable[[dict], None]) -> None:
        with np.load(entries[0], allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        edit(data)
        with open(entries[0], "wb") as f:
            np.savez(f, **data)
        key = pipeline_key(study)
        assert acache.read_assessment(key, fresh.settings, use=True,
                                      demand=study.demand) is None
        redone = _assessment(study, Reporter())
        pd.testing.assert_frame_equal(redone.coverage, fresh.coverage, check_exact=True)
        assert acache.read_assessment(key, fresh.settings, use=True,
                                      demand=study.demand) is not None

    def renamed(data: dict) -> None:  # a column the summary needs, renamed
        head = json.loads(str(data["coverage_head"]))
        head["columns"] = ["x" + c for c in head["columns"]]
        data["coverage_head"] = np.asarray(json.dumps(head))

    def scaled(data: dict) -> None:  # residents that are not those assessed
        i = json.loads(str(data["demand_head"]))["columns"].index("population")
        data[f"demand_c{i}"] = data[f"demand_c{i}"] * 2

    def elsewhere(data: dict) -> None:  # cells said to be in another coordinate system
        head = json.loads(str(data["uncovered_cells_head"]))
        head["crs"] = "+proj=longlat +nadgrids=/etc/passwd"
        data["uncovered_cells_head"] = np.asarray(json.dumps(head))

    for edit in (renamed, scaled, elsewhere):
        tampered(edit)


def pipeline_key(study: Any) -> str | None:
    from walkshed.pipeline import _assessment_key

    return _assessment_key(study)


def test_the_cache_key_follows_what_the_settings_change(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    """A setting that changes the figures (the compared norms, the walking speed) changes the
    assessment's cache key; one that changes only how the run goes (processes, progress, the
    cache's folder) does not."""
    from walkshed.pipeline import demo_study

    study = demo_study()
    base = pipeline_key(study)
    assert base is not None
    for name, value in (("workers", 1), ("progress", False), ("cache_dir", Path("/elsewhere"))):
        with monkeypatch.context() as m:
            m.setattr(settings, name, value)
            assert pipeline_key(study) == base, name
    for name, value in (("compared_norms", (1000.0, 3000.0)), ("walk_speed_kmh", 5.0),
                        ("max_snap_m", 400.0)):
        with monkeypatch.context() as m:
            m.setattr(settings, name, value)
            assert pipeline_key(study) != base, name
