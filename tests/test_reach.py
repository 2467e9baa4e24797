"""Walking distances (walkshed.reach) against networkx Dijkstra on the split graph.

The reference inserts every snapped facility and point as a node on its edge (the edge cut at
the offsets, in order), hangs the point off that node by its access distance, and runs
networkx's Dijkstra. Nothing of walkshed.reach is used to build it.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from walkshed._errors import InputError
from walkshed._osm import WayRuns
from walkshed.network import WalkNetwork, network_from_ways, to_networkx
from walkshed.reach import coverage_matrix, nearest_facility, nearest_precinct, node_distances
from walkshed.snap import Snapped, snap_geometries, snap_points

TOL = 1e-6


# ---------------------------------------------------------------------------------------------
# the independent reference


def split_graph(net: WalkNetwork, groups: dict[str, Snapped]) -> nx.MultiGraph:
    """The network with every snapped point inserted on its edge and hung off by its access.

    Point ``i`` of group ``g`` is the node ``(g, i)``; its place on the street is ``("on", g,
    i)``. Several points on one edge cut it in order of their offsets.
    """
    g = to_networkx(net)
    on_edge: dict[int, list[tuple[float, tuple[str, int], float]]] = defaultdict(list)
    for name, snapped in groups.items():
        for i in np.flatnonzero(snapped.edge >= 0):
            on_edge[int(snapped.edge[i])].append(
                (float(snapped.offset_m[i]), (name, int(i)), float(snapped.access_m[i]))
            )
    for e, items in on_edge.items():
        u, v, length = int(net.edge_u[e]), int(net.edge_v[e]), float(net.edge_length[e])
        g.remove_edge(u, v, key=e)
        items.sort(key=lambda item: item[0])
        prev: Any = u
        prev_t = 0.0
        for t, node, access in items:
            assert 0.0 <= t <= length
            on = ("on", *node)
            g.add_edge(prev, on, length=t - prev_t)
            g.add_edge(on, node, length=access)
            prev, prev_t = on, t
        g.add_edge(prev, v, length=length - prev_t)
    return g


def reference_matrix(
    g: nx.MultiGraph, n_fac: int, n_pts: int, *, cutoff: float | None = None
) -> np.ndarray:
    """``(n_fac, n_pts)`` split-graph distances from facility ``("f", i)`` to point ``("p", j)``."""
    out = np.full((n_fac, n_pts), np.inf)
    for i in range(n_fac):
        if ("f", i) not in g:
            continue
        dist = nx.single_source_dijkstra_path_length(g, ("f", i), cutoff=cutoff, weight="length")
        for j in range(n_pts):
            out[i, j] = dist.get(("p", j), np.inf)
    return out


def reference_nearest(g: nx.MultiGraph, fac: Snapped, n_pts: int) -> tuple[np.ndarray, dict]:
    """Nearest-facility distance of every point by one ``nx.multi_source_dijkstra``."""
    sources = [("f", int(i)) for i in np.flatnonzero(fac.ok)]
    nearest = np.full(n_pts, np.inf)
    if not sources:
        return nearest, {}
    dist, _paths = nx.multi_source_dijkstra(g, sources, weight="length")
    for j in range(n_pts):
        nearest[j] = dist.get(("p", j), np.inf)
    return nearest, dist


def check_nearest(
    net: WalkNetwork,
    fac: Snapped,
    pts: Snapped,
    res: Any,
    *,
    max_distance_m: float | None = None,
) -> None:
    """Assert that ``res`` (a NearestResult) matches the split-graph reference."""
    g = split_graph(net, {"f": fac, "p": pts})
    nearest, _ = reference_nearest(g, fac, len(pts))
    expected = nearest.copy()
    if max_distance_m is not None:
        expected[expected > max_distance_m] = np.inf
        # a float hair either side of the bound may go either way
        near_bound = np.abs(nearest - max_distance_m) <= TOL
    else:
        near_bound = np.zeros(len(pts), dtype=bool)
    finite = np.isfinite(expected) & ~near_bound
    assert np.array_equal(np.isfinite(res.distance_m) | near_bound, finite | near_bound)
    np.testing.assert_allclose(res.distance_m[finite], expected[finite], rtol=0, atol=TOL)
    assert np.all(res.facility[~np.isfinite(res.distance_m)] == -1)
    reached = np.flatnonzero(np.isfinite(res.distance_m))
    assert np.all(res.facility[reached] >= 0)
    # the reported facility achieves the distance (ties between facilities allowed)
    for f in np.unique(res.facility[reached]):
        mine = reached[res.facility[reached] == f]
        dist = nx.single_source_dijkstra_path_length(g, ("f", int(f)), weight="length")
        got = np.array([dist.get(("p", int(j)), np.inf) for j in mine])
        np.testing.assert_allclose(got, res.distance_m[mine], rtol=0, atol=TOL)
    np.testing.assert_array_equal(res.access_m, pts.access_m)


def check_coverage(
    net: WalkNetwork, sites: Snapped, demand: Snapped, radius: float, cov: Any
) -> None:
    """Assert that a coverage matrix holds exactly the pairs within ``radius``."""
    g = split_graph(net, {"f": sites, "p": demand})
    ref = reference_matrix(g, len(sites), len(demand), cutoff=radius + 1.0)
    assert cov.shape == (len(sites), len(demand))
    got = np.full(cov.shape, np.inf)
    coo = cov.tocoo()
    got[coo.row, coo.col] = coo.data
    assert len(coo.data) == len(set(zip(coo.row.tolist(), coo.col.tolist(), strict=True)))
    ambiguous = np.abs(ref - radius) <= TOL
    inside = (ref <= radius) & ~ambiguous
    outside = (ref > radius) & ~ambiguous
    assert np.all(np.isfinite(got[inside])), "a pair within the radius is missing"
    np.testing.assert_allclose(got[inside], ref[inside], rtol=0, atol=TOL)
    assert not np.any(np.isfinite(got[outside])), "a pair beyond the radius is stored"
    stored = np.isfinite(got) & ~ambiguous
    np.testing.assert_allclose(got[stored], ref[stored], rtol=0, atol=TOL)


# ---------------------------------------------------------------------------------------------
# hand-built networks


def make_net(
    xy: list[tuple[float, float]],
    edges: list[tuple[int, int, list[tuple[float, float]]]],
) -> WalkNetwork:
    """A WalkNetwork in UTM 43N from node coordinates (metres from an origin) and edges with
    optional interior vertices."""
    origin = np.array([630_000.0, 4_790_000.0])
    node_xy = np.asarray(xy, dtype=float) + origin
    geoms = []
    for u, v, inner in edges:
        coords = [node_xy[u], *(np.asarray(p) + origin for p in inner), node_xy[v]]
        geoms.append(shapely.LineString(coords))
    return WalkNetwork(
        np.arange(len(xy)),
        node_xy,
        np.array([e[0] for e in edges]),
        np.array([e[1] for e in edges]),
        np.asarray(geoms, dtype=object),
        "EPSG:32643",
    )


def at(net: WalkNetwork, local: list[tuple[float, float]]) -> np.ndarray:
    """Shapely points at coordinates relative to the hand-built networks' origin."""
    origin = np.array([630_000.0, 4_790_000.0])
    return shapely.points(np.asarray(local, dtype=float) + origin)


def test_path_hand_computed() -> None:
    # 0 --100-- 1 --100-- 2, facility 10 m beside the middle of 0-1
    net = make_net([(0, 0), (100, 0), (200, 0)], [(0, 1, []), (1, 2, [])])
    fac = snap_geometries(net, at(net, [(50, 10)]))
    pts = snap_geometries(net, at(net, [(150, -5), (80, 3), (200, 0), (20, 0)]))
    res = nearest_facility(net, fac, pts)
    np.testing.assert_allclose(res.distance_m, [10 + 100 + 5, 10 + 30 + 3, 160, 40])
    np.testing.assert_array_equal(res.facility, [0, 0, 0, 0])
    check_nearest(net, fac, pts, res)


def test_two_points_on_one_edge_reach_each_other_directly() -> None:
    # a long edge 0-1 (1000 m); the facility and the point sit 40 m apart on it
    net = make_net([(0, 0), (1000, 0), (500, 500)], [(0, 1, []), (1, 2, []), (2, 0, [])])
    fac = snap_geometries(net, at(net, [(480, 2)]))
    pts = snap_geometries(net, at(net, [(520, -3), (470, 1)]))
    res = nearest_facility(net, fac, pts)
    np.testing.assert_allclose(res.distance_m, [2 + 40 + 3, 2 + 10 + 1])
    check_nearest(net, fac, pts, res)


def test_points_exactly_at_nodes_and_at_facility() -> None:
    net = make_net([(0, 0), (100, 0), (100, 100)], [(0, 1, []), (1, 2, [])])
    fac = snap_geometries(net, at(net, [(100, 0)]))
    pts = snap_geometries(net, at(net, [(0, 0), (100, 0), (100, 100)]))
    res = nearest_facility(net, fac, pts)
    np.testing.assert_allclose(res.distance_m, [100, 0, 100], atol=1e-9)
    check_nearest(net, fac, pts, res)


def test_self_loop_and_parallel_edges() -> None:
    # node 0 carries a loop of 400 m; 0-1 has a straight edge (100 m) and a bent one (~141 m)
    net = make_net(
        [(0, 0), (100, 0)],
        [
            (0, 0, [(0, 100), (-100, 100), (-100, 0)]),
            (0, 1, []),
            (0, 1, [(50, 50)]),
        ],
    )
    assert net.adjacency[0, 1] == pytest.approx(100.0)
    fac = snap_geometries(net, at(net, [(50, 52)]))  # on the bent edge
    pts = snap_geometries(net, at(net, [(-100, 30), (-30, 100), (60, -1)]))
    assert fac.edge[0] == 2
    assert list(pts.edge) == [0, 0, 1]
    res = nearest_facility(net, fac, pts)
    check_nearest(net, fac, pts, res)
    # the facility snaps to the bend (50, 50), 2 m away: 2 + 50*sqrt(2) to either node
    to_node = 2.0 + 50.0 * np.sqrt(2.0)
    np.testing.assert_allclose(
        res.distance_m, [to_node + 130.0, to_node + 130.0, to_node + 40.0 + 1.0], atol=1e-9
    )


def test_beyond_max_snap_is_unreachable() -> None:
    net = make_net([(0, 0), (100, 0)], [(0, 1, [])])
    fac = snap_geometries(net, at(net, [(50, 0), (50, 800)]))
    pts = snap_geometries(net, at(net, [(10, 20), (10, 700)]), max_snap_m=500)
    assert list(fac.edge) == [0, -1]
    res = nearest_facility(net, fac, pts)
    assert res.distance_m[0] == pytest.approx(60.0)
    assert res.distance_m[1] == np.inf
    assert res.facility[1] == -1
    assert res.access_m[1] == np.inf
    check_nearest(net, fac, pts, res)


def test_max_distance_bound() -> None:
    net = make_net([(0, 0), (100, 0), (300, 0)], [(0, 1, []), (1, 2, [])])
    fac = snap_geometries(net, at(net, [(0, 0)]))
    pts = snap_geometries(net, at(net, [(90, 0), (110, 0), (250, 0)]))
    res = nearest_facility(net, fac, pts, max_distance_m=100.0)
    np.testing.assert_allclose(res.distance_m, [90, np.inf, np.inf])
    np.testing.assert_array_equal(res.facility, [0, -1, -1])
    check_nearest(net, fac, pts, res, max_distance_m=100.0)


def test_disconnected_pieces_are_unreachable() -> None:
    net = make_net([(0, 0), (100, 0), (0, 300), (100, 300)], [(0, 1, []), (2, 3, [])])
    fac = snap_geometries(net, at(net, [(10, 0)]))
    pts = snap_geometries(net, at(net, [(50, 0), (50, 300)]))
    res = nearest_facility(net, fac, pts)
    assert res.distance_m[0] == pytest.approx(40.0)
    assert res.distance_m[1] == np.inf
    assert res.facility[1] == -1
    dist, src = node_distances(net, fac)
    np.testing.assert_allclose(dist, [10, 90, np.inf, np.inf])
    np.testing.assert_array_equal(src, [0, 0, -1, -1])


def test_no_facility_snapped() -> None:
    net = make_net([(0, 0), (100, 0)], [(0, 1, [])])
    fac = snap_geometries(net, at(net, [(0, 900)]))
    pts = snap_geometries(net, at(net, [(50, 0)]))
    res = nearest_facility(net, fac, pts)
    assert res.distance_m[0] == np.inf and res.facility[0] == -1
    cov = coverage_matrix(net, fac, pts, 1000.0)
    assert cov.nnz == 0


def lonlat_ways(
    paths: list[list[tuple[int, float, float]]],
) -> WayRuns:
    """WayRuns from ways given as lists of (node ref, lon, lat)."""
    refs, lon, lat, starts = [], [], [], []
    for path in paths:
        starts.append(len(refs))
        for ref, x, y in path:
            refs.append(ref)
            lon.append(x)
            lat.append(y)
    starts.append(len(refs))
    return WayRuns(
        node_ref=np.asarray(refs, dtype=np.int64),
        lon=np.asarray(lon),
        lat=np.asarray(lat),
        run_start=np.asarray(starts, dtype=np.int64),
        way_id=np.arange(len(paths), dtype=np.int64) + 100,
        highway=np.asarray(["residential"] * len(paths), dtype=object),
    )


def test_precinct_on_a_dropped_piece() -> None:
    # main square of streets, and a short street 3 km away that keep_largest drops
    d = 0.002
    main = [
        [(1, 76.90, 43.20), (2, 76.90 + d, 43.20)],
        [(2, 76.90 + d, 43.20), (3, 76.90 + d, 43.20 + d)],
        [(3, 76.90 + d, 43.20 + d), (4, 76.90, 43.20 + d)],
        [(4, 76.90, 43.20 + d), (1, 76.90, 43.20)],
    ]
    far = [[(8, 76.94, 43.20), (9, 76.94 + d, 43.20)]]
    full = network_from_ways(lonlat_ways(main + far), keep_largest=False)
    net = network_from_ways(lonlat_ways(main + far), keep_largest=True)
    assert full.n_edges == 5 and net.n_edges == 4
    assert net.dropped.components == 1 and net.dropped.edges == 1 and net.dropped.nodes == 2
    lost = full.edge_length[full.edge_osmid == 104].sum()
    assert net.dropped.length_m == pytest.approx(lost)
    assert net.dropped.length_share == pytest.approx(lost / full.total_length_m)
    precincts = gpd.GeoDataFrame(
        {"name": ["main", "dropped"]},
        geometry=gpd.points_from_xy([76.90 + d / 2, 76.94 + d / 2], [43.20, 43.20]),
        crs="EPSG:4326",
        index=["A", "B"],
    )
    points = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy([76.90 + d, 76.94], [43.20 + d / 2, 43.20]), crs="EPSG:4326"
    )
    out = nearest_precinct(net, precincts, points)
    # the dropped precinct is > 500 m from every kept street: it cannot be reached
    assert out["precinct"].tolist()[0] == "A"
    assert out["precinct"].tolist()[1] is None
    assert out["distance_m"].iloc[1] == np.inf
    assert out["access_m"].iloc[1] == np.inf
    fac = snap_points(net, precincts)
    pts = snap_points(net, points)
    assert list(fac.edge >= 0) == [True, False]
    check_nearest(net, fac, pts, nearest_facility(net, fac, pts))


def test_nearest_precinct_bad_inputs_name_the_input() -> None:
    net = make_net([(0, 0), (100, 0)], [(0, 1, [])])
    good = gpd.GeoDataFrame(
        {"name": ["a"]}, geometry=list(at(net, [(10, 5)])), crs="EPSG:32643", index=["P1"]
    )
    pts = gpd.GeoDataFrame(geometry=list(at(net, [(50, 5)])), crs="EPSG:32643")
    out = nearest_precinct(net, good, pts)
    assert out["precinct"].tolist() == ["P1"] and out["distance_m"].iloc[0] == pytest.approx(50)
    with pytest.raises(InputError, match=r"^precincts: no points given.*at least one"):
        nearest_precinct(net, good.iloc[:0], pts)
    with pytest.raises(InputError, match=r"^points: no points given"):
        nearest_precinct(net, good, pts.iloc[:0])
    no_crs = gpd.GeoDataFrame(geometry=list(at(net, [(50, 5)])))
    with pytest.raises(InputError, match=r"^points: has no coordinate reference system.*set_crs"):
        nearest_precinct(net, good, no_crs)
    lonlat = pts.to_crs("EPSG:4326")
    swapped = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(lonlat.geometry.y, lonlat.geometry.x), crs="EPSG:4326"
    )
    with pytest.raises(InputError, match=r"^precincts: .*Latitude and longitude look swapped"):
        nearest_precinct(net, swapped.set_index(pd.Index(["P1"])), pts)


# ---------------------------------------------------------------------------------------------
# hypothesis: random small street networks


@st.composite
def random_case(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(2, 9))
    cells = draw(
        st.lists(
            st.tuples(st.integers(0, 12), st.integers(0, 12)),
            min_size=n,
            max_size=n,
            unique=True,
        )
    )
    lon0, lat0, dlon, dlat = 76.90, 43.20, 0.0006, 0.00045  # ~50 m cells
    nodes = [(ref + 1, lon0 + cx * dlon, lat0 + cy * dlat) for ref, (cx, cy) in enumerate(cells)]
    m = draw(st.integers(1, 14))
    ways = []
    next_ref = 1000
    for _ in range(m):
        a = draw(st.integers(0, n - 1))
        b = draw(st.integers(0, n - 1))
        k = draw(st.integers(0, 2))
        if a == b:
            k = max(k, 2)  # a loop needs a real shape
        inner = []
        for _ in range(k):
            fx = draw(st.floats(-0.5, 12.5))
            fy = draw(st.floats(-0.5, 12.5))
            inner.append((next_ref, lon0 + fx * dlon, lat0 + fy * dlat))
            next_ref += 1
        ways.append([nodes[a], *inner, nodes[b]])
    keep_largest = draw(st.booleans())
    n_fac = draw(st.integers(1, 4))
    n_pts = draw(st.integers(1, 10))
    frac = st.tuples(st.floats(-0.3, 1.3), st.floats(-0.3, 1.3))
    how = st.sampled_from(["free", "node", "edge", "edge", "far"])
    fac_spec = [(draw(how), draw(frac), draw(st.integers(0, 10**6))) for _ in range(n_fac)]
    pt_spec = [(draw(how), draw(frac), draw(st.integers(0, 10**6))) for _ in range(n_pts)]
    return {
        "ways": ways,
        "keep_largest": keep_largest,
        "fac": fac_spec,
        "pts": pt_spec,
        "max_snap_m": draw(st.sampled_from([None, 40.0])),
        "max_distance_m": draw(st.sampled_from([None, 80.0, 300.0])),
        "radius": draw(st.sampled_from([0.0, 60.0, 250.0, 2000.0])),
    }


def place(net: WalkNetwork, spec: list[tuple[str, tuple[float, float], int]]) -> np.ndarray:
    """Shapely points in the network CRS: free, exactly at a node, exactly on an edge, far."""
    minx, miny, maxx, maxy = net.bounds
    out = []
    for how, (fx, fy), k in spec:
        if how == "node":
            out.append(shapely.Point(net.node_xy[k % net.n_nodes]))
        elif how == "edge":
            geom = net.edge_geometry[k % net.n_edges]
            t = min(max(fx, 0.0), 1.0)
            out.append(shapely.line_interpolate_point(geom, t, normalized=True))
        elif how == "far":
            out.append(shapely.Point(maxx + 2000.0 + fx, maxy + 2000.0 + fy))
        else:
            x = minx - 30 + fx * (maxx - minx + 60)
            y = miny - 30 + fy * (maxy - miny + 60)
            out.append(shapely.Point(x, y))
    return np.asarray(out, dtype=object)


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=random_case())
def test_random_networks_match_networkx(case: dict[str, Any]) -> None:
    try:
        net = network_from_ways(lonlat_ways(case["ways"]), keep_largest=case["keep_largest"])
    except InputError:
        # only when every way is a loop of zero length: no street at all
        assert all(len({(x, y) for _, x, y in way}) == 1 for way in case["ways"])
        return
    fac_pts = place(net, case["fac"])
    pt_pts = place(net, case["pts"])
    # two points on one edge, and a point on a facility's edge, every time
    pt_pts = np.concatenate([pt_pts, fac_pts[:1], pt_pts[:1]])
    fac = snap_geometries(net, fac_pts, max_snap_m=case["max_snap_m"])
    pts = snap_geometries(net, pt_pts, max_snap_m=case["max_snap_m"])
    res = nearest_facility(net, fac, pts, max_distance_m=case["max_distance_m"])
    check_nearest(net, fac, pts, res, max_distance_m=case["max_distance_m"])

    # node distances: the nearest facility of every node on the same split graph
    g = split_graph(net, {"f": fac})
    sources = [("f", int(i)) for i in np.flatnonzero(fac.ok)]
    dist, src = node_distances(net, fac)
    ref = (
        nx.multi_source_dijkstra_path_length(g, sources, weight="length") if sources else {}
    )
    expected = np.array([ref.get(i, np.inf) for i in range(net.n_nodes)])
    np.testing.assert_allclose(dist, expected, rtol=0, atol=TOL)
    assert np.all((src >= 0) == np.isfinite(expected))

    # coverage matrix: exactly the pairs within the radius, with their distances
    radius = case["radius"]
    cov = coverage_matrix(net, fac, pts, radius, chunk=2)
    check_coverage(net, fac, pts, radius, cov)
    # consistent with the nearest facility: the closest stored site is the nearest one
    free = nearest_facility(net, fac, pts)
    for j in range(len(pts)):
        col = cov[:, j].toarray().ravel()
        stored = cov[:, j].nnz > 0
        if free.distance_m[j] < radius - TOL:
            assert stored
            assert cov[:, j].tocoo().data.min() == pytest.approx(free.distance_m[j], abs=TOL)
        elif free.distance_m[j] > radius + TOL:
            assert not stored, col


# ---------------------------------------------------------------------------------------------
# Almaty 2012: 40 police points and random points


@pytest.fixture(scope="module")
def almaty(
    shared_data: Path, almaty_network: WalkNetwork
) -> tuple[WalkNetwork, gpd.GeoDataFrame]:
    folder = shared_data / "almaty-osm-2012"
    net = almaty_network
    police = pyogrio.read_dataframe(
        folder / "almaty_police_2012.geojson", columns=["osm_type", "osm_id"]
    )
    police.index = [f"{t}/{i}" for t, i in zip(police["osm_type"], police["osm_id"], strict=True)]
    return net, police


def almaty_points(net: WalkNetwork, police_xy: np.ndarray, seed: int = 7) -> np.ndarray:
    """Random points in the network's box, near random nodes, at nodes, beside the police."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = net.bounds
    uniform = np.column_stack([rng.uniform(minx, maxx, 900), rng.uniform(miny, maxy, 900)])
    near = net.node_xy[rng.integers(0, net.n_nodes, 700)] + rng.normal(0, 60, (700, 2))
    exact = net.node_xy[rng.integers(0, net.n_nodes, 50)]
    beside = police_xy + rng.normal(0, 15, police_xy.shape)
    return shapely.points(np.vstack([uniform, near, exact, beside]))


@pytest.mark.slow
def test_almaty_nearest_precinct_matches_networkx(almaty: Any) -> None:
    net, police = almaty
    assert len(police) == 40
    police_xy = shapely.get_coordinates(police.to_crs(net.crs).geometry.values)
    points = gpd.GeoDataFrame(
        {"k": np.arange(1690)}, geometry=almaty_points(net, police_xy), crs=net.crs
    ).to_crs("EPSG:4326")
    points.index = points.index + 10_000
    out = nearest_precinct(net, police, points)
    assert list(out.columns) == ["distance_m", "precinct", "access_m"]
    assert out.index.equals(points.index)
    fac = snap_points(net, police)
    pts = snap_points(net, points)
    assert int(pts.ok.sum()) >= 1000
    assert (~pts.ok).sum() > 0  # some random points are beyond max_snap_m
    # the points beside the police share their edges
    assert np.isin(pts.edge[-40:], fac.edge).sum() >= 20
    res = nearest_facility(net, fac, pts)
    check_nearest(net, fac, pts, res)
    np.testing.assert_allclose(out["distance_m"].to_numpy(), res.distance_m, rtol=0, atol=0)
    labels = np.asarray(police.index, dtype=object)
    expected_label = [labels[f] if f >= 0 else None for f in res.facility]
    assert out["precinct"].tolist() == expected_label
    # bounded at 15 minutes' walk: the same numbers where within, inf beyond
    bound = 1125.0
    out_b = nearest_precinct(net, police, points, max_distance_m=bound)
    within = out["distance_m"].to_numpy() <= bound
    np.testing.assert_allclose(
        out_b["distance_m"].to_numpy()[within], out["distance_m"].to_numpy()[within], atol=TOL
    )
    assert np.all(np.isinf(out_b["distance_m"].to_numpy()[~within]))
    assert out_b["precinct"][~within].isna().all()


@pytest.mark.slow
def test_almaty_coverage_matrix_matches_networkx(almaty: Any) -> None:
    net, police = almaty
    rng = np.random.default_rng(3)
    police_xy = shapely.get_coordinates(police.to_crs(net.crs).geometry.values)
    # sites: the police and points on random streets; demand: points around them
    on_street = shapely.line_interpolate_point(
        net.edge_geometry[rng.integers(0, net.n_edges, 40)], rng.uniform(0, 1, 40), normalized=True
    )
    sites = snap_geometries(net, np.concatenate([shapely.points(police_xy), on_street]))
    centre = np.vstack([police_xy, shapely.get_coordinates(on_street)])
    demand_xy = centre[rng.integers(0, len(centre), 1200)] + rng.normal(0, 500, (1200, 2))
    demand = snap_geometries(net, shapely.points(demand_xy))
    radius = 1125.0
    cov = coverage_matrix(net, sites, demand, radius, chunk=16)
    assert cov.nnz > 500
    check_coverage(net, sites, demand, radius, cov)
    near = nearest_facility(net, sites, demand)
    got = cov.tocsc()
    for j in range(len(demand)):
        col = got[:, j]
        if near.distance_m[j] < radius - TOL:
            assert col.data.min() == pytest.approx(near.distance_m[j], abs=TOL)
        elif near.distance_m[j] > radius + TOL:
            assert col.nnz == 0
