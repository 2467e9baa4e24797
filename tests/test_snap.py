"""Snapping points to their nearest street segment (walkshed.snap), checked by brute force."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from walkshed._errors import InputError
from walkshed.network import WalkNetwork
from walkshed.snap import Snapped, points_in_network_crs, snap_geometries, snap_points

ORIGIN = np.array([630_000.0, 4_790_000.0])  # UTM 43N, Almaty


def small_net() -> WalkNetwork:
    """A square of four streets (100 m) with one bent street across it, in UTM 43N."""
    xy = np.array([(0, 0), (100, 0), (100, 100), (0, 100)], dtype=float) + ORIGIN
    lines = [
        [xy[0], xy[1]],
        [xy[1], xy[2]],
        [xy[2], xy[3]],
        [xy[3], xy[0]],
        [xy[0], ORIGIN + np.array([70.0, 30.0]), xy[2]],
    ]
    return WalkNetwork(
        np.arange(4),
        xy,
        np.array([0, 1, 2, 3, 0]),
        np.array([1, 2, 3, 0, 2]),
        np.asarray([shapely.LineString(c) for c in lines], dtype=object),
        "EPSG:32643",
    )


def brute_force_check(net: WalkNetwork, pts: np.ndarray, snapped: Snapped, limit: float) -> None:
    """The snapped edge is a nearest edge; offset, position and access agree with it."""
    dist = shapely.distance(pts[:, None], net.edge_geometry[None, :])  # (points, edges)
    best = dist.min(axis=1)
    ok = best <= limit
    # the boundary itself may go either way by a float hair
    sure = np.abs(best - limit) > 1e-9
    np.testing.assert_array_equal(snapped.ok[sure], ok[sure])
    idx = np.flatnonzero(snapped.ok)
    np.testing.assert_allclose(snapped.access_m[idx], best[idx], rtol=0, atol=1e-9)
    np.testing.assert_allclose(dist[idx, snapped.edge[idx]], best[idx], rtol=0, atol=1e-9)
    assert np.all(snapped.offset_m[idx] >= 0)
    assert np.all(snapped.offset_m[idx] <= net.edge_length[snapped.edge[idx]])
    on_street = shapely.line_interpolate_point(
        net.edge_geometry[snapped.edge[idx]], snapped.offset_m[idx]
    )
    np.testing.assert_allclose(shapely.get_coordinates(on_street), snapped.xy[idx], atol=1e-6)
    straight = shapely.distance(pts[idx], shapely.points(snapped.xy[idx]))
    np.testing.assert_allclose(straight, snapped.access_m[idx], atol=1e-6)
    miss = np.flatnonzero(~snapped.ok)
    assert np.all(snapped.edge[miss] == -1)
    assert np.all(np.isinf(snapped.access_m[miss]))
    assert np.all(np.isnan(snapped.offset_m[miss]))
    assert np.all(np.isnan(snapped.xy[miss]))


def test_hand_computed_snaps() -> None:
    net = small_net()
    pts = shapely.points(ORIGIN + np.array([(30, -4), (104, 60), (0, 0), (50, 140)]))
    s = snap_geometries(net, pts, max_snap_m=30.0)
    assert s.edge[0] == 0 and s.offset_m[0] == pytest.approx(30) and s.access_m[0] == 4
    assert s.edge[1] == 1 and s.offset_m[1] == pytest.approx(60) and s.access_m[1] == 4
    assert s.access_m[2] == 0 and s.edge[2] in (0, 3, 4)
    assert s.offset_m[2] == pytest.approx(0.0 if s.edge[2] != 3 else 100.0)
    assert s.edge[3] == -1 and np.isinf(s.access_m[3])  # 40 m from the street, limit 30
    brute_force_check(net, pts, s, 30.0)
    assert len(s) == 4
    np.testing.assert_array_equal(s.ok, [True, True, True, False])
    sub = s.subset(s.ok)
    assert len(sub) == 3 and np.array_equal(sub.edge, s.edge[:3])


def test_offset_on_a_bent_street() -> None:
    net = small_net()
    # (70, 30) is the bend: offset is the first leg's length
    s = snap_geometries(net, shapely.points(ORIGIN + np.array([(72, 28)])))
    assert s.edge[0] == 4
    assert s.offset_m[0] == pytest.approx(float(np.hypot(70, 30)), abs=1e-9)
    assert s.access_m[0] == pytest.approx(float(np.hypot(2, 2)), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    coords=st.lists(
        st.tuples(st.floats(-300, 400), st.floats(-300, 400)), min_size=1, max_size=30
    ),
    limit=st.sampled_from([0.5, 25.0, 120.0, 500.0]),
)
def test_random_points_brute_force(coords: list[tuple[float, float]], limit: float) -> None:
    net = small_net()
    pts = shapely.points(ORIGIN + np.asarray(coords))
    brute_force_check(net, pts, snap_geometries(net, pts, max_snap_m=limit), limit)


def test_any_crs_gives_the_same_snap() -> None:
    net = small_net()
    local = gpd.GeoDataFrame(
        geometry=shapely.points(ORIGIN + np.array([(30, -4), (60, 60), (150, 50)])),
        crs="EPSG:32643",
    )
    a = snap_points(net, local)
    b = snap_points(net, local.to_crs("EPSG:4326"))
    c = snap_points(net, local.to_crs("EPSG:3857").geometry)  # a GeoSeries works too
    for other in (b, c):
        np.testing.assert_array_equal(a.edge, other.edge)
        np.testing.assert_allclose(a.offset_m, other.offset_m, atol=1e-6)
        np.testing.assert_allclose(a.access_m, other.access_m, atol=1e-6)


def test_polygons_are_taken_at_a_point_on_their_surface() -> None:
    net = small_net()
    square = shapely.box(*(ORIGIN + np.array([20, -30])), *(ORIGIN + np.array([40, -10])))
    gdf = gpd.GeoDataFrame(geometry=[square], crs="EPSG:32643")
    pts = points_in_network_crs(net, gdf)
    assert square.contains(pts[0])
    s = snap_points(net, gdf)
    assert s.edge[0] == 0
    assert s.access_m[0] == pytest.approx(shapely.distance(pts[0], net.edge_geometry[0]))


def test_default_limit_is_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from walkshed import settings as cfg

    net = small_net()
    pts = shapely.points(ORIGIN + np.array([(50, -60)]))
    assert snap_geometries(net, pts).ok[0]
    monkeypatch.setattr(cfg, "max_snap_m", 50.0)
    assert not snap_geometries(net, pts).ok[0]


def test_other_geometries_are_taken_on_their_surface() -> None:
    net = small_net()
    square = shapely.box(*(ORIGIN + np.array([20, -30])), *(ORIGIN + np.array([40, -10])))
    geoms = np.array([square, shapely.Point(*(ORIGIN + np.array([50.0, 3.0])))], dtype=object)
    s = snap_geometries(net, geoms)
    assert list(s.edge) == [0, 0]
    inner = shapely.point_on_surface(square)
    assert s.access_m[0] == pytest.approx(shapely.distance(inner, net.edge_geometry[0]))
    assert s.access_m[1] == pytest.approx(3.0)
    assert s.offset_m[1] == pytest.approx(50.0)


def test_empty_array_and_empty_network() -> None:
    net = small_net()
    s = snap_geometries(net, np.empty(0, dtype=object))
    assert len(s) == 0 and s.xy.shape == (0, 2)


def street_grid(side: int, seed: int) -> WalkNetwork:
    """A jittered street grid (50 m) with some long bent streets across it, in UTM 43N."""
    rng = np.random.default_rng(seed)
    ij = np.indices((side, side)).reshape(2, -1).T
    xy = ORIGIN + ij * 50.0 + rng.uniform(-10, 10, (side * side, 2))
    idx = np.arange(side * side).reshape(side, side)
    pairs = np.vstack([
        np.column_stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()]),
        np.column_stack([idx[:-1, :].ravel(), idx[1:, :].ravel()]),
    ])
    lines = [shapely.LineString(xy[p]) for p in pairs]
    u, v = list(pairs[:, 0]), list(pairs[:, 1])
    for _ in range(6):  # long streets with a bend, crossing many cells
        a, b = rng.integers(0, side * side, 2)
        if a == b:
            continue
        bend = (xy[a] + xy[b]) / 2 + rng.normal(0, 80, 2)
        lines.append(shapely.LineString([xy[a], bend, xy[b]]))
        u.append(int(a))
        v.append(int(b))
    return WalkNetwork(
        np.arange(side * side), xy, np.array(u), np.array(v),
        np.asarray(lines, dtype=object), "EPSG:32643",
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_grid_brute_force_both_paths(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The k-d tree path and the GEOS fallback both give the brute-force nearest segment."""
    import walkshed.snap as snap_mod

    net = street_grid(25, seed)
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = net.bounds
    pts = shapely.points(
        np.column_stack([rng.uniform(minx - 300, maxx + 300, 1500),
                         rng.uniform(miny - 300, maxy + 300, 1500)])
    )
    fallback: list[int] = []
    real = snap_mod._snap_geos

    def spy(network: WalkNetwork, p: np.ndarray, which: np.ndarray, *args: object) -> None:
        fallback.append(len(which))
        real(network, p, which, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(snap_mod, "_snap_geos", spy)
    for limit in (30.0, 200.0):
        brute_force_check(net, pts, snap_geometries(net, pts, max_snap_m=limit), limit)
    # points among the streets are all proven by the cells; only some outside go to GEOS
    pxy = shapely.get_coordinates(pts)
    outside = ((pxy < [minx, miny]) | (pxy > [maxx, maxy])).any(axis=1)
    assert 0 < sum(fallback) < outside.sum()
    # far from the streets the cells prove nothing: GEOS does
    centre = np.array([(minx + maxx) / 2, (miny + maxy) / 2])
    angle = rng.uniform(0, 2 * np.pi, 200)
    far = shapely.points(centre + np.column_stack([np.cos(angle), np.sin(angle)]) * 4000)
    brute_force_check(net, far, snap_geometries(net, far, max_snap_m=5000.0), 5000.0)
    # and all through GEOS, for the record: the same edges' distances
    geos_edge = np.full(len(pts), -1)
    geos_off = np.full(len(pts), np.nan)
    geos_access = np.full(len(pts), np.inf)
    real(net, pts, np.arange(len(pts)), 200.0, geos_edge, geos_off,
         geos_access, np.full((len(pts), 2), np.nan))
    fast = snap_geometries(net, pts, max_snap_m=200.0)
    np.testing.assert_array_equal(fast.ok, geos_edge >= 0)
    np.testing.assert_allclose(fast.access_m, geos_access, atol=1e-9)
    # where both chose the same edge (ties at crossings may choose another), the same offset
    same = (fast.edge == geos_edge) & fast.ok
    assert same.sum() > 500
    np.testing.assert_allclose(fast.offset_m[same], geos_off[same], atol=1e-6)
    # long streets leave some points unproven by the tree: the fallback ran
    assert sum(fallback) > 0


def test_segment_index_offsets() -> None:
    net = street_grid(6, 0)
    index = net.segment_index
    assert len(index.a) == int((shapely.get_num_coordinates(net.edge_geometry) - 1).sum())
    # a segment's start offset plus its length is the next segment's start, ending at the length
    seg_len = np.hypot(*(index.b - index.a).T)
    for e in range(net.n_edges):
        mine = np.flatnonzero(index.edge == e)
        assert index.start_m[mine[0]] == 0.0
        np.testing.assert_allclose(
            index.start_m[mine[-1]] + seg_len[mine[-1]], net.edge_length[e], atol=1e-9
        )
    # an edge of many segments: offsets are the running sums of the segment lengths
    rng = np.random.default_rng(4)
    zig = ORIGIN + np.cumsum(rng.uniform(1, 30, (41, 2)), axis=0)
    bent = WalkNetwork(
        np.arange(3), np.array([zig[0], zig[-1], ORIGIN]), np.array([0, 1, 0]),
        np.array([1, 2, 1]),
        np.asarray([shapely.LineString(zig), shapely.LineString([zig[-1], ORIGIN]),
                    shapely.LineString([zig[0], zig[20], zig[-1]])], dtype=object),
        "EPSG:32643",
    )
    bi = bent.segment_index
    steps = np.hypot(*np.diff(zig, axis=0).T)
    np.testing.assert_allclose(bi.start_m[bi.edge == 0], np.r_[0, np.cumsum(steps)[:-1]],
                               rtol=0, atol=1e-9)
    assert list(bi.start_m[bi.edge == 1]) == [0.0]
    np.testing.assert_allclose(
        bi.start_m[bi.edge == 2], [0.0, float(np.hypot(*(zig[20] - zig[0])))], atol=1e-9
    )
    # every segment is filed, in as many pieces as its length needs
    pieces = np.bincount(index.cell_segment, minlength=len(index.a))
    assert np.all(pieces >= 1)
    assert np.all(seg_len / pieces <= index.cell_m + 1e-9)
    assert np.all(np.diff(index.cell_key) > 0)
    assert index.cell_start[-1] == len(index.cell_segment)


# ---------------------------------------------------------------------------------------------
# bad input: one clear InputError naming the input and the fix


def _message(exc: pytest.ExceptionInfo[InputError]) -> str:
    return str(exc.value)


def test_points_without_crs() -> None:
    net = small_net()
    gdf = gpd.GeoDataFrame(geometry=shapely.points(ORIGIN + np.array([(1.0, 1.0)])))
    with pytest.raises(InputError) as exc:
        snap_points(net, gdf, what="buildings")
    msg = _message(exc)
    assert msg.startswith("buildings:") and "CRS" in msg and "set_crs" in msg


def test_empty_points() -> None:
    net = small_net()
    gdf = gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
    with pytest.raises(InputError, match=r"^precincts: no points given.*at least one"):
        snap_points(net, gdf, what="precincts")


def test_not_a_geodataframe() -> None:
    with pytest.raises(InputError, match=r"points: expected a GeoDataFrame.*geopandas"):
        snap_points(small_net(), [(1, 2)])  # type: ignore[arg-type]


def test_missing_geometry() -> None:
    net = small_net()
    gdf = gpd.GeoDataFrame(
        geometry=[shapely.Point(*(ORIGIN + 1)), None], crs="EPSG:32643"
    )
    with pytest.raises(InputError, match=r"points: 1 row\(s\) have no geometry.*Drop or fix"):
        snap_points(net, gdf)


def test_lat_lon_swapped_is_named() -> None:
    net = small_net()
    lonlat = gpd.GeoSeries(shapely.points(ORIGIN + 50), crs="EPSG:32643").to_crs("EPSG:4326")
    lon, lat = lonlat.x.to_numpy(), lonlat.y.to_numpy()
    assert snap_points(net, gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326)).ok[0]
    swapped = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lat, lon), crs="EPSG:4326")
    with pytest.raises(InputError) as exc:
        snap_points(net, swapped, what="police.geojson")
    msg = _message(exc)
    assert msg.startswith("police.geojson:") and "swapped" in msg and "points_from_xy" in msg


def test_points_elsewhere_are_not_called_swapped() -> None:
    net = small_net()
    paris = gpd.GeoDataFrame(geometry=gpd.points_from_xy([2.35], [48.85]), crs="EPSG:4326")
    with pytest.raises(InputError) as exc:
        snap_points(net, paris)
    msg = _message(exc)
    assert "within the network's area" in msg and "swapped" not in msg and "CRS" in msg


def test_projected_numbers_labelled_as_lonlat() -> None:
    # metres given the wrong CRS (EPSG:4326): out of the area, with a hint about the CRS
    net = small_net()
    wrong = gpd.GeoDataFrame(geometry=[shapely.Point(60.0, 40.0)], crs="EPSG:4326")
    with pytest.raises(InputError, match="CRS is right"):
        snap_points(net, wrong)


# ---------------------------------------------------------------------------------------------
# Almaty


@pytest.mark.slow
def test_almaty_brute_force(almaty_network: WalkNetwork) -> None:
    net = almaty_network
    rng = np.random.default_rng(11)
    near = net.node_xy[rng.integers(0, net.n_nodes, 250)] + rng.normal(0, 200, (250, 2))
    pts = shapely.points(near)
    s = snap_geometries(net, pts, max_snap_m=150.0)
    assert s.ok.sum() > 100 and (~s.ok).sum() > 0
    brute_force_check(net, pts, s, 150.0)


def test_a_point_set_is_snapped_once_per_shared_network_and_limit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """On a shared network the second snap of the same points returns the first's result (a
    copy) without searching; another limit, other points or another network are searched
    again, and so is everything on a network not shared."""
    import walkshed.snap as snap_mod
    from walkshed.snap import remember_snapped, share_snaps

    net = small_net()
    share_snaps(net)
    rng = np.random.default_rng(7)
    pts = shapely.points(ORIGIN + rng.uniform(-40, 140, (300, 2)))
    searched: list[int] = []
    real = snap_mod._snap_cells

    def spy(network: WalkNetwork, index: object, p: np.ndarray, *args: object) -> np.ndarray:
        searched.append(len(p))
        return real(network, index, p, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(snap_mod, "_snap_cells", spy)
    first = snap_geometries(net, pts, max_snap_m=30.0)
    assert searched
    searched.clear()
    again = snap_geometries(net, pts, max_snap_m=30.0)
    assert not searched  # remembered
    for name in ("edge", "offset_m", "access_m", "xy"):
        np.testing.assert_array_equal(getattr(again, name), getattr(first, name))
    brute_force_check(net, pts, again, 30.0)
    again.edge[:] = 0  # a caller's change to its copy is not remembered
    np.testing.assert_array_equal(snap_geometries(net, pts, max_snap_m=30.0).edge, first.edge)
    assert not searched
    # another limit, a moved point or another (equal) network: searched afresh
    brute_force_check(net, pts, snap_geometries(net, pts, max_snap_m=10.0), 10.0)
    assert searched
    for other_net, other_pts in ((net, np.r_[pts[:-1], shapely.points([ORIGIN + 5.0])]),
                                 (small_net(), pts)):
        searched.clear()
        brute_force_check(other_net, other_pts,
                          snap_geometries(other_net, other_pts, max_snap_m=30.0), 30.0)
        assert searched
    # a network not shared: searched every time
    plain = small_net()
    for _ in range(2):
        searched.clear()
        brute_force_check(plain, pts, snap_geometries(plain, pts, max_snap_m=30.0), 30.0)
        assert searched
    assert plain not in snap_mod._SNAPPED
    # a result handed in (as the demand cache does) is what the next snap returns
    handed = Snapped(first.edge.copy(), first.offset_m + 1.0, first.access_m, first.xy)
    fresh_net = small_net()
    remember_snapped(fresh_net, pts, handed, max_snap_m=30.0)
    searched.clear()
    np.testing.assert_array_equal(snap_geometries(fresh_net, pts, max_snap_m=30.0).offset_m,
                                  first.offset_m + 1.0)
    assert not searched


@pytest.mark.parametrize("seed", [3, 4])
def test_points_proven_out_of_reach_skip_the_geos_search(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """``SegmentIndex.nothing_within`` proves only points that are out of reach (checked by
    brute force), proves the far ones, and those never go to GEOS; the snap is unchanged."""
    import walkshed.snap as snap_mod

    net = street_grid(12, seed)
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = net.bounds
    centre = np.array([(minx + maxx) / 2, (miny + maxy) / 2])
    angle = rng.uniform(0, 2 * np.pi, 3000)
    radius = rng.uniform(0, 1500, 3000)
    xy = centre + np.column_stack([np.cos(angle), np.sin(angle)]) * radius[:, None]
    pts = shapely.points(xy)
    nearest = shapely.distance(pts[:, None], net.edge_geometry[None, :]).min(axis=1)
    index = net.segment_index
    def far(limit: float) -> np.ndarray:
        # beyond the corner of the square looked at (cells of a small grid are not merged)
        return nearest > np.sqrt(2) * (limit + index.cell_m + 1.0) + index.cell_m

    for limit in (50.0, 200.0, 400.0):
        proven = index.nothing_within(xy, limit)
        assert np.all(nearest[proven] > limit)  # never a point within reach
        assert proven[far(limit)].all() and far(limit).sum() > 100  # the far ones, all
    fallback: list[int] = []
    real = snap_mod._snap_geos

    def spy(network: WalkNetwork, p: np.ndarray, which: np.ndarray, *args: object) -> None:
        fallback.extend(which.tolist())
        real(network, p, which, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(snap_mod, "_snap_geos", spy)
    monkeypatch.setattr(snap_mod, "_FEW", 0)  # the proof even for a few points
    snapped = snap_geometries(net, pts, max_snap_m=200.0)
    brute_force_check(net, pts, snapped, 200.0)
    assert fallback and not far(200.0)[fallback].any()
    assert index.nothing_within(np.empty((0, 2)), 10.0).shape == (0,)


def test_nothing_within_on_a_grid_too_large_for_one_table() -> None:
    """Cells merged k x k (here 30 km of 10 m cells): still only points out of reach."""
    from walkshed.network import SegmentIndex

    ends = ORIGIN + np.array([[0.0, 0.0], [300.0, 0.0], [30_000.0, 30_000.0],
                              [30_000.0, 29_700.0]])
    lines = np.asarray([shapely.LineString(ends[:2]), shapely.LineString(ends[2:])])
    index = SegmentIndex.build(lines, cell_m=10.0)
    assert index.shape[0] * index.shape[1] > 4_000_000
    rng = np.random.default_rng(5)
    xy = ORIGIN + rng.uniform(-2_000, 32_000, (20_000, 2))
    nearest = shapely.distance(shapely.points(xy)[:, None], lines[None, :]).min(axis=1)
    for limit in (100.0, 1_000.0):
        proven = index.nothing_within(xy, limit)
        assert np.all(nearest[proven] > limit)
        assert proven[nearest > np.sqrt(2) * (limit + 60.0) + 60.0].all()


def test_the_remembered_point_sets_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """At most ``_KEEP`` sets and ``_KEEP_POINTS`` points per network, oldest forgotten first;
    a set larger than the bound is not remembered."""
    import walkshed.snap as snap_mod

    monkeypatch.setattr(snap_mod, "_KEEP", 3)
    monkeypatch.setattr(snap_mod, "_KEEP_POINTS", 250)
    net = small_net()
    snap_mod.share_snaps(net)
    rng = np.random.default_rng(11)
    sets = [shapely.points(ORIGIN + rng.uniform(0, 100, (n, 2))) for n in (100, 90, 40, 130, 300)]
    for pts in sets:
        snap_geometries(net, pts, max_snap_m=30.0)
    kept = snap_mod._SNAPPED[net]
    # the 130-point set made four sets (the first went) and 260 points (the second went too);
    # the 300-point set is larger than the bound
    assert [k[1] for k in kept] == [40, 130]
