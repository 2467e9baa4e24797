"""Walking-area polygons: reached pieces checked against networkx on the split graph."""

from __future__ import annotations

import math

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from shapely import ops

from walkshed._errors import InputError
from walkshed.isochrones import (
    _QUAD_SEGS,
    dissolve_walking_areas,
    line_substrings,
    reached_segments,
    walking_areas,
)
from walkshed.network import WalkNetwork
from walkshed.reach import nearest_facility
from walkshed.snap import snap_geometries, snap_points

CRS = "EPSG:32643"
#: the polygon is the buffer drawn with chords; points nearer than this share of the width are
#: certainly inside it
INNER = math.cos(math.pi / (4 * _QUAD_SEGS))


def _grid_network() -> WalkNetwork:
    """A 4 x 4 grid of 100 m blocks, one bent street, one dead end and a parallel edge."""
    xy = [(x * 100.0, y * 100.0) for y in range(4) for x in range(4)]
    xy.append((150.0, 380.0))  # 16: a dead end off node 13
    lines: list[tuple[int, int, list[tuple[float, float]]]] = []
    for y in range(4):
        for x in range(4):
            i = y * 4 + x
            if x < 3:
                lines.append((i, i + 1, [xy[i], xy[i + 1]]))
            if y < 3:
                lines.append((i, i + 4, [xy[i], xy[i + 4]]))
    # a bent street from 5 to 10 (diagonal of a block, with a kink)
    lines.append((5, 10, [xy[5], (130.0, 190.0), xy[10]]))
    # a parallel, longer edge between 0 and 1
    lines.append((0, 1, [xy[0], (50.0, -40.0), xy[1]]))
    lines.append((13, 16, [xy[13], xy[16]]))
    u = np.array([a for a, _, _ in lines])
    v = np.array([b for _, b, _ in lines])
    geom = np.array([shapely.LineString(c) for _, _, c in lines], dtype=object)
    return WalkNetwork(np.arange(len(xy)), np.array(xy), u, v, geom, CRS, source="grid")


def _precincts(points: list[tuple[float, float]], status: list[str] | None = None):
    return gpd.GeoDataFrame(
        {
            "name": [f"P{i}" for i in range(len(points))],
            "status": status or ["open"] * len(points),
        },
        geometry=[shapely.Point(p) for p in points],
        crs=CRS,
        index=[f"p{i}" for i in range(len(points))],
    )


def _split_graph_distances(
    net: WalkNetwork, point: shapely.Point
) -> tuple[dict, int, float, float]:
    """networkx distances from a precinct inserted on its edge (the split graph)."""
    snapped = snap_geometries(net, np.array([point], dtype=object))
    e = int(snapped.edge[0])
    t = float(snapped.offset_m[0])
    a = float(snapped.access_m[0])
    g = nx.MultiGraph()
    for k, (u, v, w) in enumerate(zip(net.edge_u, net.edge_v, net.edge_length, strict=True)):
        if k != e:
            g.add_edge(int(u), int(v), length=float(w))
    g.add_edge("s", "mid", length=a)
    g.add_edge("mid", int(net.edge_u[e]), length=t)
    g.add_edge("mid", int(net.edge_v[e]), length=float(net.edge_length[e]) - t)
    dist = nx.single_source_dijkstra_path_length(g, "s", weight="length")
    return dist, e, t, a


def _expected_intervals(
    net: WalkNetwork, dist: dict, e_src: int, t_src: float, a_src: float, threshold: float
) -> dict[int, list[tuple[float, float]]]:
    """Reached intervals along every edge, from the split-graph distances."""
    out: dict[int, list[tuple[float, float]]] = {}
    for k in range(net.n_edges):
        length = float(net.edge_length[k])
        du = dist.get(int(net.edge_u[k]), math.inf)
        dv = dist.get(int(net.edge_v[k]), math.inf)
        iv = []
        if threshold - du > 0:
            iv.append((0.0, min(length, threshold - du)))
        if threshold - dv > 0:
            iv.append((max(0.0, length - (threshold - dv)), length))
        if k == e_src and threshold - a_src > 0:
            r = threshold - a_src
            iv.append((max(0.0, t_src - r), min(length, t_src + r)))
        merged = _merge(iv)
        if merged:
            out[k] = merged
    return out


def _merge(iv: list[tuple[float, float]], tol: float = 1e-7) -> list[tuple[float, float]]:
    iv = sorted(x for x in iv if x[1] > x[0] + tol)
    out: list[list[float]] = []
    for a, b in iv:
        if out and a <= out[-1][1] + tol:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def test_line_substrings_match_shapely_substring() -> None:
    rng = np.random.default_rng(0)
    lines = []
    starts = []
    ends = []
    for _ in range(200):
        coords = np.cumsum(rng.normal(size=(int(rng.integers(2, 7)), 2)) * 30, axis=0)
        line = shapely.LineString(coords)
        a, b = np.sort(rng.uniform(0, line.length, 2))
        lines.append(line)
        starts.append(a)
        ends.append(b)
    got = line_substrings(np.array(lines, dtype=object), np.array(starts), np.array(ends))
    for line, a, b, g in zip(lines, starts, ends, got, strict=True):
        want = ops.substring(line, a, b)
        assert g.length == pytest.approx(b - a, abs=1e-9)
        assert shapely.hausdorff_distance(g, want) < 1e-9
        assert shapely.equals_exact(g.boundary, want.boundary, tolerance=1e-9)


def test_line_substrings_cut_at_a_vertex() -> None:
    line = shapely.LineString([(0, 0), (10, 0), (10, 10)])
    got = line_substrings(np.array([line, line]), np.array([0.0, 10.0]), np.array([10.0, 20.0]))
    assert got[0].equals(shapely.LineString([(0, 0), (10, 0)]))
    assert got[1].equals(shapely.LineString([(10, 0), (10, 10)]))


@pytest.mark.parametrize("threshold", [35.0, 120.0, 187.5, 260.0])
@pytest.mark.parametrize("where", [(130.0, 12.0), (5.0, 205.0), (262.0, 300.0)])
def test_reached_pieces_equal_split_graph_dijkstra(
    threshold: float, where: tuple[float, float]
) -> None:
    net = _grid_network()
    pts = _precincts([where])
    segs = reached_segments(net, pts, thresholds_m=[threshold])
    dist, e, t, a = _split_graph_distances(net, shapely.Point(where))
    want = _expected_intervals(net, dist, e, t, a, threshold)
    on_edges = segs[segs["edge"] >= 0]
    got: dict[int, list[tuple[float, float]]] = {}
    for k, part in on_edges.groupby("edge"):
        line = net.edge_geometry[int(k)]
        iv = []
        for g in part.geometry:
            ends = shapely.line_locate_point(line, shapely.points(np.asarray(g.coords)[[0, -1]]))
            # every piece follows its edge exactly
            assert shapely.hausdorff_distance(g, ops.substring(line, *sorted(ends))) < 1e-6
            iv.append((float(min(ends)), float(max(ends))))
        got[int(k)] = _merge(iv)
    assert set(got) == set(want)
    for k in want:
        assert len(got[k]) == len(want[k]), k
        for (ga, gb), (wa, wb) in zip(got[k], want[k], strict=True):
            # the cut position is the remaining distance, to 1e-6 m
            assert ga == pytest.approx(wa, abs=1e-6)
            assert gb == pytest.approx(wb, abs=1e-6)
    access = segs[segs["edge"] < 0]
    assert len(access) == (1 if 0 < a < threshold else 0)
    if len(access):
        assert access.geometry.iloc[0].length == pytest.approx(a, abs=1e-9)


def test_walking_areas_contain_reached_pieces_and_exclude_far_streets() -> None:
    net = _grid_network()
    pts = _precincts([(130.0, 12.0), (262.0, 300.0)])
    thresholds = [60.0, 150.0, 240.0]
    buffer_m = 20.0
    areas = walking_areas(net, pts, thresholds_m=thresholds, buffer_m=buffer_m)
    segs = reached_segments(net, pts, thresholds_m=thresholds)
    assert len(areas) == 6
    assert list(areas["threshold_m"]) == thresholds * 2
    street_pts = shapely.line_interpolate_point(
        np.repeat(net.edge_geometry, 41), np.tile(np.linspace(0, 1, 41), net.n_edges),
        normalized=True,
    )
    snapped = snap_geometries(net, street_pts)
    for _, row in areas.iterrows():
        mine = segs[
            (segs["precinct"] == row["precinct"]) & (segs["threshold_m"] == row["threshold_m"])
        ]
        poly = row.geometry
        # every reached piece lies inside its polygon
        assert shapely.covers(poly.buffer(1e-6), np.asarray(mine.geometry.values)).all()
        reached = shapely.union_all(np.asarray(mine.geometry.values))
        gap = shapely.distance(street_pts, reached)
        inside = shapely.covers(poly, street_pts)
        # the polygon is the reached streets widened by the buffer, no more, no less
        assert not inside[gap > buffer_m + 1e-6].any()
        assert inside[gap < buffer_m * INNER - 1e-6].all()
        # points on the street network beyond the threshold and beyond the buffer are outside
        pos = int(np.flatnonzero(pts.index == row["precinct"])[0])
        res = nearest_facility(
            net, snap_geometries(net, np.array([pts.geometry.iloc[pos]], dtype=object)), snapped
        )
        far = (res.distance_m > row["threshold_m"] + 1e-6) & (gap > buffer_m + 1e-6)
        assert far.any()
        assert not inside[far].any()
        # and streets within the threshold are inside
        assert inside[res.distance_m < row["threshold_m"] - 1e-6].all()


def test_holes_are_kept() -> None:
    net = _grid_network()
    # from the centre every block around is reached whole: blocks wider than 2 x buffer leave holes
    areas = walking_areas(net, _precincts([(100.0, 150.0)]), thresholds_m=[400.0], buffer_m=20.0)
    poly = areas.geometry.iloc[0]
    assert poly.geom_type == "Polygon"
    assert len(poly.interiors) >= 4
    assert not poly.covers(shapely.Point(250.0, 250.0))  # middle of a block


def test_concave_variant_contains_reached_pieces() -> None:
    net = _grid_network()
    pts = _precincts([(130.0, 12.0)])
    areas = walking_areas(net, pts, thresholds_m=[150.0, 300.0], method="concave", buffer_m=15.0)
    segs = reached_segments(net, pts, thresholds_m=[150.0, 300.0])
    buffered = walking_areas(net, pts, thresholds_m=[150.0, 300.0], buffer_m=15.0)
    for (_, row), b in zip(areas.iterrows(), buffered.geometry, strict=True):
        mine = segs[segs["threshold_m"] == row["threshold_m"]]
        assert shapely.covers(row.geometry.buffer(1e-6), np.asarray(mine.geometry.values)).all()
        assert row.geometry.area >= b.area - 1e-6  # a hull fills in at least as much


def test_thresholds_in_minutes_and_speed() -> None:
    net = _grid_network()
    pts = _precincts([(130.0, 12.0)])
    by_min = walking_areas(net, pts, thresholds_min=[2, 1], walk_speed_kmh=6.0)
    assert list(by_min["threshold_min"]) == [1.0, 2.0]
    assert list(by_min["threshold_m"]) == [100.0, 200.0]
    by_m = walking_areas(net, pts, thresholds_m=[100.0, 200.0])
    same = shapely.equals(np.asarray(by_min.geometry.values), np.asarray(by_m.geometry.values))
    assert same.all()


def test_unsnapped_precinct_has_an_empty_area_and_dissolve() -> None:
    net = _grid_network()
    pts = _precincts([(130.0, 12.0), (900.0, 900.0), (262.0, 300.0)], ["open", "open", "planned"])
    areas = walking_areas(net, pts, thresholds_m=[100.0, 200.0], max_snap_m=50.0)
    far = areas[areas["precinct"] == "p1"]
    assert far.geometry.is_empty.all()
    assert not areas[areas["precinct"] != "p1"].geometry.is_empty.any()
    assert set(areas["status"]) == {"open", "planned"}
    open_only = dissolve_walking_areas(areas, statuses=["open"])
    both = dissolve_walking_areas(areas, statuses=("open", "planned"))
    assert list(open_only["threshold_m"]) == [100.0, 200.0]
    assert list(open_only["precincts"]) == [1, 1]  # the unsnapped one has no area
    for t, g_open, g_both in zip(
        open_only["threshold_m"], open_only.geometry, both.geometry, strict=True
    ):
        p0 = areas[(areas["precinct"] == "p0") & (areas["threshold_m"] == t)].geometry.iloc[0]
        p2 = areas[(areas["precinct"] == "p2") & (areas["threshold_m"] == t)].geometry.iloc[0]
        assert g_open.symmetric_difference(p0).area < 1e-6
        assert g_both.symmetric_difference(p0.union(p2)).area < 1e-6


def test_dissolve_remembers_unions_by_content() -> None:
    """The map, the GeoPackage and the report merge the same areas: the second merge is the
    first's union (the same object), equal to a fresh ``union_all``; other polygons (moved by
    a millimetre, or in another CRS) are merged anew; the GeoPackage's areas merged in metres
    and then put in EPSG:4326 cover what merging them in degrees does."""
    from walkshed import isochrones

    net = _grid_network()
    pts = _precincts([(130.0, 12.0), (262.0, 300.0), (400.0, 110.0)],
                     ["open", "planned", "open"])
    areas = walking_areas(net, pts, thresholds_m=[100.0, 200.0]).set_crs(32635,
                                                                          allow_override=True)
    isochrones._UNIONS.clear()
    first = dissolve_walking_areas(areas, statuses=("open",))
    again = dissolve_walking_areas(areas.copy(), statuses=("open",))
    assert all(a is b for a, b in zip(first.geometry, again.geometry, strict=True))
    for t, g in zip(first["threshold_m"], first.geometry, strict=True):
        part = areas[(areas["status"] == "open") & (areas["threshold_m"] == t)].geometry
        assert shapely.equals_exact(g, shapely.union_all(part.to_numpy()), tolerance=0)
    moved = areas.copy()
    moved["geometry"] = moved.geometry.translate(0.001, 0.0)
    shifted = dissolve_walking_areas(moved, statuses=("open",))
    assert not any(a is b for a, b in zip(first.geometry, shifted.geometry, strict=True))
    assert shifted.geometry.area.to_numpy() == pytest.approx(first.geometry.area.to_numpy())
    in_degrees = dissolve_walking_areas(areas.to_crs(4326), statuses=("open",))
    metres_then_degrees = first.to_crs(4326)
    for a, b in zip(in_degrees.geometry, metres_then_degrees.geometry, strict=True):
        assert a.symmetric_difference(b).area < 1e-6 * a.area
    assert len(isochrones._UNIONS) <= isochrones._UNIONS_KEPT


def test_cached_walking_areas_read_back_what_was_drawn(tmp_path, monkeypatch) -> None:
    """A second run reads the areas and their unions from the cache: the same polygons (vertex
    for vertex) and frame as :func:`walking_areas` draws, and :func:`dissolve_walking_areas`
    finds the unions, equal to a fresh ``union_all``; other precincts (a status changed, one
    moved) are drawn anew; a damaged entry is drawn again, not trusted."""
    import pandas as pd

    from walkshed import isochrones, settings

    monkeypatch.setattr(settings, "cache_dir", tmp_path)
    net = _grid_network()
    pts = _precincts([(130.0, 12.0), (262.0, 300.0), (400.0, 110.0)],
                     ["open", "planned", "open"])
    kw = {"thresholds_m": [100.0, 200.0], "walk_speed_kmh": 4.5, "cache": True}
    fresh = walking_areas(net, pts, thresholds_m=[100.0, 200.0], walk_speed_kmh=4.5)
    drawn = isochrones.cached_walking_areas(net, pts, **kw)
    assert len(list(tmp_path.glob("walking-areas-*.npz"))) == 1

    def no_drawing(*args, **kwargs):
        raise AssertionError("drawn again")

    isochrones._UNIONS.clear()
    monkeypatch.setattr(isochrones, "walking_areas", no_drawing)
    monkeypatch.setattr(isochrones.shapely, "union_all", no_drawing)
    read = isochrones.cached_walking_areas(net, pts, **kw)
    for got in (drawn, read):
        pd.testing.assert_frame_equal(pd.DataFrame(got.drop(columns="geometry")),
                                      pd.DataFrame(fresh.drop(columns="geometry")))
        assert got.crs == fresh.crs
        assert all(shapely.equals_exact(a, b, tolerance=0)
                   for a, b in zip(got.geometry, fresh.geometry, strict=True))
    merged = {st: dissolve_walking_areas(read, statuses=st)  # remembered: no union_all
              for st in (("open",), ("open", "planned"))}
    monkeypatch.undo()
    monkeypatch.setattr(settings, "cache_dir", tmp_path)
    for st, got in merged.items():
        for t, g in zip(got["threshold_m"], got.geometry, strict=True):
            part = fresh[fresh["status"].isin(st) & (fresh["threshold_m"] == t)].geometry
            assert shapely.equals_exact(g, shapely.union_all(part.to_numpy()), tolerance=0)
    # another status, another position: other entries
    changed = pts.copy()
    changed["status"] = ["open", "open", "open"]
    isochrones.cached_walking_areas(net, changed, **kw)
    moved = pts.copy()
    moved["geometry"] = moved.geometry.translate(1.0, 0.0)
    isochrones.cached_walking_areas(net, moved, **kw)
    assert len(list(tmp_path.glob("walking-areas-*.npz"))) == 3
    # a damaged entry: drawn again, the same areas
    for entry in tmp_path.glob("walking-areas-*.npz"):
        with np.load(entry, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        data["areas_wkb"] = data["areas_wkb"][::-1].copy()
        with open(entry, "wb") as f:
            np.savez(f, **data)
    again = isochrones.cached_walking_areas(net, pts, **kw)
    assert all(shapely.equals_exact(a, b, tolerance=0)
               for a, b in zip(again.geometry, fresh.geometry, strict=True))
    # and repaired: the next run reads it without drawing
    monkeypatch.setattr(isochrones, "walking_areas", no_drawing)
    repaired = isochrones.cached_walking_areas(net, pts, **kw)
    assert all(shapely.equals_exact(a, b, tolerance=0)
               for a, b in zip(repaired.geometry, fresh.geometry, strict=True))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"buffer_m": -1.0}, "buffer_m"),
        ({"method": "convex"}, "method"),
        ({"thresholds_m": [0.0]}, "thresholds"),
        ({"walk_speed_kmh": 0.0}, "walk_speed_kmh"),
    ],
)
def test_bad_options_are_input_errors(kwargs: dict, match: str) -> None:
    net = _grid_network()
    with pytest.raises(InputError, match=match):
        walking_areas(net, _precincts([(130.0, 12.0)]), **kwargs)


def test_monaco_areas_agree_with_reach(  # type: ignore[no-untyped-def]
    shared_data, monaco_network: WalkNetwork
) -> None:
    from walkshed._osm import read_tagged_points

    pbf = shared_data / "monaco-osm-2020" / "monaco.osm.pbf"
    net = monaco_network
    feats = read_tagged_points(pbf, "amenity", "police")
    pts = gpd.GeoDataFrame(
        {"name": [f.tags.get("name", "") for f in feats], "status": "open"},
        geometry=[shapely.Point(f.lon, f.lat) for f in feats],
        crs="EPSG:4326",
        index=[f"{f.osm_type}/{f.osm_id}" for f in feats],
    )
    threshold = 375.0  # 5 minutes at 4.5 km/h
    areas = walking_areas(net, pts, thresholds_m=[threshold])
    segs = reached_segments(net, pts, thresholds_m=[threshold])
    fac = snap_points(net, pts)
    street_pts = shapely.line_interpolate_point(
        np.repeat(net.edge_geometry, 5), np.tile(np.linspace(0.1, 0.9, 5), net.n_edges),
        normalized=True,
    )
    snapped = snap_geometries(net, street_pts)
    for pos, (_, row) in enumerate(areas.iterrows()):
        mine = segs[segs["precinct"] == row["precinct"]]
        assert shapely.covers(row.geometry.buffer(1e-6), np.asarray(mine.geometry.values)).all()
        res = nearest_facility(net, fac.subset(np.array([pos])), snapped)
        within = res.distance_m <= threshold - 1e-6
        # every street point within the threshold lies on a reached piece
        reached = shapely.union_all(np.asarray(mine.geometry.values))
        assert (shapely.distance(street_pts[within], reached) < 1e-6).all()
        beyond = (res.distance_m > threshold + 1e-6)
        gap = shapely.distance(street_pts, reached)
        assert not shapely.covers(row.geometry, street_pts[beyond & (gap > 40.0 + 1e-6)]).any()
