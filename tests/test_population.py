"""Demand points (walkshed.population): conservation, hand computations, bad input, Almaty.

Expected values are computed here from first principles (cell centres from the geotransform,
footprint x levels, clipped street lengths, grid counts), never by calling the code under test.
"""

from __future__ import annotations

import itertools
import logging
import math
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
import rasterio
import shapely
from affine import Affine
from conftest import street_grid
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasterio.io import MemoryFile

from walkshed._buildings import NON_RESIDENTIAL, is_residential, parse_levels, read_buildings
from walkshed._errors import InputError
from walkshed.network import WalkNetwork, to_networkx
from walkshed.population import (
    Demand,
    _row_bands,
    cap_and_spread,
    choose_method,
    demand_from_buildings,
    demand_from_raster,
    demand_from_zones,
    density_cells,
    study_area,
)
from walkshed.reach import nearest_precinct
from walkshed.settings import minutes_to_metres
from walkshed.snap import snap_points

REPO = Path(__file__).resolve().parents[1]
UTM = pyproj.CRS.from_epsg(32643)  # Almaty's UTM zone
X0, Y0 = 654_000.0, 4_790_000.0  # a point in Almaty, in UTM 43N


def grid_network(n: int = 11, spacing: float = 100.0) -> WalkNetwork:
    """A square street grid of ``n x n`` nodes, ``spacing`` apart, lower-left at (X0, Y0)."""
    return street_grid(n, spacing, (X0, Y0))


@pytest.fixture(scope="module")
def net() -> WalkNetwork:
    return grid_network()


def write_tif(
    path: str | Path,
    data: np.ndarray,
    transform: Affine,
    crs: Any,
    nodata: float | None,
) -> None:
    profile: dict[str, Any] = {
        "driver": "GTiff", "height": data.shape[0], "width": data.shape[1], "count": 1,
        "dtype": str(data.dtype), "transform": transform, "nodata": nodata,
    }
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)


def to_lonlat(x: float, y: float) -> tuple[float, float]:
    lon, lat = pyproj.Transformer.from_crs(UTM, "EPSG:4326", always_xy=True).transform(x, y)
    return float(lon), float(lat)


def sorted_rows(a: np.ndarray) -> np.ndarray:
    return a[np.lexsort(a.T[::-1])]


def check_contract(d: Demand, crs: Any) -> None:
    pts = d.points
    assert isinstance(pts, gpd.GeoDataFrame)
    assert {"geometry", "population", "zone", "method"} <= set(pts.columns)
    assert pyproj.CRS.from_user_input(pts.crs) == pyproj.CRS.from_user_input(crs)
    assert (pts.geom_type == "Point").all()
    assert (pts["population"] >= 0).all()
    assert np.isfinite(pts["population"]).all()


# ---------------------------------------------------------------------------------------------
# raster: a real GeoTIFF in another CRS than the network, against a hand computation


def test_raster_lonlat_with_nodata_matches_hand_computation(tmp_path: Path, net: Any) -> None:
    # 0.001 deg of longitude ~ 81 m, 0.0008 deg of latitude ~ 89 m: cells stay single points
    lon0, lat1 = to_lonlat(X0 - 150, Y0 + 1150)
    dx, dy = 0.001, 0.0008
    h, w = 18, 17
    rng = np.random.default_rng(1)
    data = rng.uniform(0, 50, (h, w)).astype(np.float32)
    data[2, 3] = data[5, 5] = data[10, 1] = -9999.0  # nodata
    data[4, 4] = -3.0  # negative: ignored
    data[6, 6] = 0.0  # empty
    data[7, 7] = np.nan  # NaN: ignored
    transform = Affine(dx, 0, lon0, 0, -dy, lat1)
    path = tmp_path / "pop_4326.tif"
    write_tif(path, data, transform, "EPSG:4326", -9999.0)
    area = shapely.box(X0 + 120, Y0 + 80, X0 + 870, Y0 + 930)

    d = demand_from_raster(path, net, area=area, window_cells=20)  # several windows
    check_contract(d, UTM)

    # by hand: centre of cell (r, c) is (lon0 + (c + .5) dx, lat1 - (r + .5) dy)
    tf = pyproj.Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
    expected = []
    for r in range(h):
        for c in range(w):
            v = float(data[r, c])
            if not (math.isfinite(v) and v > 0 and v != -9999.0):
                continue
            x, y = tf.transform(lon0 + (c + 0.5) * dx, lat1 - (r + 0.5) * dy)
            if area.contains(shapely.Point(x, y)):
                expected.append((x, y, v))
    exp = sorted_rows(np.asarray(expected))
    got = sorted_rows(
        np.column_stack([d.points.geometry.x, d.points.geometry.y, d.points["population"]])
    )
    assert 40 < len(exp) < h * w
    assert got.shape == exp.shape
    np.testing.assert_allclose(got[:, :2], exp[:, :2], atol=1e-6)
    np.testing.assert_allclose(got[:, 2], exp[:, 2], rtol=1e-6)  # float32 cell values
    assert d.points["method"].eq("raster").all() and d.points["zone"].isna().all()
    # per window: what was read in the area is what came out
    rep = d.report
    assert len(rep) > 3
    np.testing.assert_allclose(rep["population_out"], rep["population_in"], rtol=1e-12)
    assert rep["cells_negative"].sum() == 1
    assert rep["cells_populated"].sum() == len(exp)
    assert rep["height"].sum() <= h
    assert math.isclose(d.total, float(exp[:, 2].sum()), rel_tol=1e-9)


def test_raster_default_area_is_the_network_hull(tmp_path: Path, net: Any) -> None:
    # a raster much larger than the network: only cells near the network are read and kept
    lon0, lat1 = to_lonlat(X0 - 3000, Y0 + 4000)
    dx = dy = 0.0008
    data = np.ones((90, 90), dtype=np.float32)
    path = tmp_path / "big.tif"
    write_tif(path, data, Affine(dx, 0, lon0, 0, -dy, lat1), "EPSG:4326", None)
    d = demand_from_raster(path, net)
    hull = study_area(net)
    tf = pyproj.Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
    cc, rr = np.meshgrid(np.arange(90) + 0.5, np.arange(90) + 0.5)
    x, y = tf.transform(lon0 + cc.ravel() * dx, lat1 - rr.ravel() * dy)
    n_inside = int(shapely.contains_xy(hull, x, y).sum())
    assert len(d.points) == n_inside
    assert d.total == pytest.approx(n_inside)
    assert d.report["width"].max() < 90  # read by window, not whole
    np.testing.assert_allclose(d.report["area_covered"], 1.0)


def test_raster_partly_over_the_area_is_reported(
    tmp_path: Path, net: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # a UTM raster covering the left half of a 1 km x 1 km study area
    path = tmp_path / "half.tif"
    write_tif(path, np.ones((10, 5), dtype=np.float32), Affine(100, 0, X0, 0, -100, Y0 + 1000),
              UTM, None)
    area = shapely.box(X0, Y0, X0 + 1000, Y0 + 1000)
    with caplog.at_level(logging.WARNING, logger="walkshed.population"):
        d = demand_from_raster(path, net, area=area)
    assert d.report["area_covered"].iloc[0] == pytest.approx(0.5)
    assert "covers only 50.0%" in caplog.text
    assert d.total == 50


def test_raster_large_cells_split_into_subgrid(tmp_path: Path, net: Any) -> None:
    # Web Mercator cells of 250 "metres" are ~182 m on the ground at 43 N: k = 2 per side
    to3857 = pyproj.Transformer.from_crs(UTM, "EPSG:3857", always_xy=True)
    mx, my = to3857.transform(X0, Y0 + 1000)
    size = 250.0
    data = np.array([[4.0, 8.0, -1.0], [0.0, 12.0, 2.5]], dtype=np.float64)
    path = tmp_path / "pop_3857.tif"
    write_tif(path, data, Affine(size, 0, mx, 0, -size, my), "EPSG:3857", -1.0)
    d = demand_from_raster(path, crs=UTM, max_cell_m=100.0)
    assert set(d.report["split"]) == {2}
    back = pyproj.Transformer.from_crs("EPSG:3857", UTM, always_xy=True)
    expected = []
    for r in range(2):
        for c in range(3):
            v = data[r, c]
            if v <= 0:
                continue
            for fr in (0.25, 0.75):
                for fc in (0.25, 0.75):
                    x, y = back.transform(mx + (c + fc) * size, my - (r + fr) * size)
                    expected.append((x, y, v / 4))
    exp = sorted_rows(np.asarray(expected))
    got = sorted_rows(
        np.column_stack([d.points.geometry.x, d.points.geometry.y, d.points["population"]])
    )
    np.testing.assert_allclose(got, exp, atol=1e-6)
    assert d.total == pytest.approx(4 + 8 + 12 + 2.5, rel=1e-12)


def _random_raster(draw: st.DrawFn) -> dict[str, Any]:
    h = draw(st.integers(1, 12))
    w = draw(st.integers(1, 12))
    kinds = draw(
        st.lists(st.sampled_from(["pop", "pop", "pop", "nodata", "neg", "zero", "nan"]),
                 min_size=h * w, max_size=h * w)
    )
    vals = draw(st.lists(st.floats(0.001, 1e4), min_size=h * w, max_size=h * w))
    a = np.array(vals, dtype=np.float64)
    k = np.array(kinds)
    a[k == "nodata"] = -9999.0
    a[k == "neg"] = -5.0
    a[k == "zero"] = 0.0
    a[k == "nan"] = np.nan
    return {
        "data": a.reshape(h, w),
        "crs": draw(st.sampled_from(["EPSG:4326", "EPSG:3857", "EPSG:32643"])),
        "window_cells": draw(st.integers(1, 60)),
        "max_cell_m": draw(st.sampled_from([30.0, 100.0, 1e6])),
        "area": draw(st.one_of(
            st.none(),
            st.tuples(st.floats(-200, 600), st.floats(-600, 200), st.floats(1, 700),
                      st.floats(1, 700)),
        )),
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.composite(_random_raster)())
def test_raster_conservation_property(case: dict[str, Any]) -> None:
    data = case["data"]
    crs = case["crs"]
    if crs == "EPSG:4326":
        lon, lat = to_lonlat(X0, Y0)
        transform = Affine(0.0005, 0, lon, 0, -0.0005, lat)
    else:
        x, y = pyproj.Transformer.from_crs(UTM, crs, always_xy=True).transform(X0, Y0)
        transform = Affine(60.0, 0, x, 0, -60.0, y)
    valid = np.isfinite(data) & (data > 0) & (data != -9999.0)
    area = None
    if case["area"] is not None:
        ax, ay, aw, ah = case["area"]
        area = shapely.box(X0 + ax, Y0 + ay, X0 + ax + aw, Y0 + ay + ah)
        # by hand: which cell centres fall in the area
        rr, cc = np.nonzero(valid)
        px = transform.c + (cc + 0.5) * transform.a
        py = transform.f + (rr + 0.5) * transform.e
        ux, uy = pyproj.Transformer.from_crs(crs, UTM, always_xy=True).transform(px, py)
        keep = np.zeros_like(valid)
        keep[rr, cc] = shapely.contains_xy(area, ux, uy)
        valid = keep
    with MemoryFile() as mem:
        with mem.open(driver="GTiff", height=data.shape[0], width=data.shape[1], count=1,
                      dtype="float64", transform=transform, crs=crs, nodata=-9999.0) as dst:
            dst.write(data, 1)
        if not valid.any():
            with pytest.raises(InputError, match=r"nodata|inside the study area|overlap"):
                demand_from_raster(mem.name, crs=UTM, area=area)
            return
        d = demand_from_raster(
            mem.name, crs=UTM, window_cells=case["window_cells"], max_cell_m=case["max_cell_m"],
            area=area,
        )
    expected = float(data[valid].sum())
    assert d.total == pytest.approx(expected, rel=1e-12)
    rep = d.report
    np.testing.assert_allclose(rep["population_out"], rep["population_in"], rtol=1e-12)
    assert int(rep["cells_populated"].sum()) == int(valid.sum())
    assert len(d.points) == int((rep["cells_populated"] * rep["split"] ** 2).sum())
    if area is None:
        negative = np.isfinite(data) & (data < 0) & (data != -9999.0)
        assert int(rep["cells_negative"].sum()) == int(negative.sum())
    else:
        inside = d.points.geometry.values
        assert shapely.contains(area.buffer(max(case["max_cell_m"], 100.0)), inside).all()


def test_study_area_is_the_padded_hull(net: Any) -> None:
    # the 1 km square grid widened by 500 m: square + four 1000 x 500 sides + a 500 m circle
    expected = 1000.0**2 + 4 * 1000 * 500 + math.pi * 500**2
    assert study_area(net).area == pytest.approx(expected, rel=5e-3)
    assert study_area(net, pad_m=0).area == pytest.approx(1e6)


@given(st.integers(0, 5000), st.integers(1, 3000), st.integers(1, 2000), st.integers(1, 512))
def test_row_bands_tile_the_rows(row0: int, height: int, rows: int, block: int) -> None:
    bands = list(_row_bands(row0, height, rows, block))
    starts = [r for r, _ in bands]
    assert starts[0] == row0
    assert all(h > 0 for _, h in bands)
    assert all(a + h == b for (a, h), (b, _) in itertools.pairwise(bands))
    assert bands[-1][0] + bands[-1][1] == row0 + height
    assert max(h for _, h in bands) <= max(rows, 1)
    if rows >= block:  # later bands start on block boundaries: no block is decoded twice
        assert all(r % block == 0 for r in starts[1:])


def test_raster_bad_input(tmp_path: Path, net: Any) -> None:
    lon, lat = to_lonlat(X0, Y0 + 1000)
    t = Affine(0.001, 0, lon, 0, -0.0008, lat)
    nodata = tmp_path / "nodata.tif"
    write_tif(nodata, np.full((5, 5), -9999.0, dtype=np.float32), t, "EPSG:4326", -9999.0)
    with pytest.raises(InputError, match="nodata"):
        demand_from_raster(nodata, net)
    far = tmp_path / "far.tif"  # a tile of another continent
    write_tif(far, np.ones((5, 5), dtype=np.float32), Affine(0.001, 0, 2.0, 0, -0.001, 48.0),
              "EPSG:4326", None)
    with pytest.raises(InputError, match="does not overlap"):
        demand_from_raster(far, net)
    nocrs = tmp_path / "nocrs.tif"
    write_tif(nocrs, np.ones((5, 5), dtype=np.float32), t, None, None)
    with pytest.raises(InputError, match="no coordinate reference system"):
        demand_from_raster(nocrs, net)
    junk = tmp_path / "junk.tif"
    junk.write_text("not a raster")
    with pytest.raises(InputError, match="cannot be opened"):
        demand_from_raster(junk, net)
    with pytest.raises(InputError, match="cannot be opened"):
        demand_from_raster(tmp_path / "missing.tif", net)
    ok = tmp_path / "ok.tif"
    write_tif(ok, np.ones((5, 5), dtype=np.float32), t, "EPSG:4326", None)
    with pytest.raises(InputError, match="neither a network nor a crs"):
        demand_from_raster(ok)
    with pytest.raises(InputError, match="band 2"):
        demand_from_raster(ok, net, band=2)


# ---------------------------------------------------------------------------------------------
# zones: hand computations for each method


def zones_frame(polys: list[shapely.Geometry], counts: list[Any], names: list[str],
                crs: Any = UTM) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"name": names, "population": counts}, geometry=polys, crs=crs)


def building_frame(rows: list[tuple[float, float, float, float, str, Any]]) -> gpd.GeoDataFrame:
    """Buildings as (x, y, width, height, type, levels) boxes in UTM, lower-left at x, y."""
    return gpd.GeoDataFrame(
        {"building": [r[4] for r in rows], "levels": [r[5] for r in rows]},
        geometry=[shapely.box(r[0], r[1], r[0] + r[2], r[1] + r[3]) for r in rows],
        crs=UTM,
    )


def test_zone_streets_by_clipped_length(net: Any) -> None:
    # zone covers x in [X0+50, X0+250], y in [Y0+0, Y0+100]: inside are the horizontal streets
    # y=Y0 and y=Y0+100 from x=50 to 250 (200 m each) and the vertical streets x=100, 200 from
    # y=0 to 100 (100 m each): 600 m of street
    zone = shapely.box(X0 + 50, Y0 - 1e-9, X0 + 250, Y0 + 100 + 1e-9)
    d = demand_from_zones(zones_frame([zone], [600.0], ["A"]), net, method="streets",
                          street_spacing_m=50.0)
    check_contract(d, UTM)
    assert d.report.loc[0, "street_km"] == pytest.approx(0.6, abs=1e-9)
    # 1 resident per metre: each point carries the street length it stands for (<= 50 m)
    pop = d.points["population"].to_numpy()
    assert pop.max() <= 50 + 1e-9
    assert d.total == pytest.approx(600.0, rel=1e-12)
    # every point lies on a street inside the zone
    assert np.all(shapely.contains_xy(zone.buffer(1e-6), d.points.geometry.x, d.points.geometry.y))
    _, dist = net.edge_tree.query_nearest(
        np.asarray(d.points.geometry.values, dtype=object), return_distance=True
    )
    assert dist.max() < 1e-6
    assert (d.points["method"] == "streets").all() and (d.points["zone"] == "A").all()


def test_zone_area_grid(net: Any) -> None:
    zone = shapely.box(X0 + 100, Y0 + 100, X0 + 600, Y0 + 300)  # 5 x 2 cells of 100 m
    d = demand_from_zones(zones_frame([zone], [1000], ["G"]), net, method="area",
                          grid_spacing_m=100.0)
    assert len(d.points) == 10
    np.testing.assert_allclose(d.points["population"], 100.0)
    xs = sorted(set(np.round(d.points.geometry.x - X0, 6)))
    assert xs == [150.0, 250.0, 350.0, 450.0, 550.0]
    # a zone smaller than a grid cell still gets its residents, at a point inside it
    tiny = shapely.box(X0 + 410, Y0 + 410, X0 + 420, Y0 + 420)
    d2 = demand_from_zones(zones_frame([tiny], [7], ["t"]), net, method="area")
    assert len(d2.points) == 1 and d2.total == 7
    assert tiny.contains(d2.points.geometry.iloc[0])


def test_zone_buildings_by_floor_area(net: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # weights alone: plain building=yes counted whatever the typed ones, no density limits
    from walkshed import settings

    monkeypatch.setattr(settings, "typed_residential_share", 1.01)
    monkeypatch.setattr(settings, "max_residents_per_m2_floor", math.inf)
    zone = shapely.box(X0, Y0, X0 + 500, Y0 + 500)
    b = building_frame([
        (X0 + 10, Y0 + 10, 20, 10, "yes", None),  # 200 m² x 2 (default) = 400
        (X0 + 60, Y0 + 10, 10, 10, "apartments", "9"),  # 100 x 9 = 900
        (X0 + 100, Y0 + 100, 30, 10, "house", 1),  # 300 x 1 = 300
        (X0 + 200, Y0 + 200, 40, 40, "garages", 1),  # excluded
        (X0 + 300, Y0 + 300, 40, 40, "school", 3),  # excluded
        (X0 + 900, Y0 + 900, 10, 10, "yes", 5),  # outside the zone
    ])
    d = demand_from_zones(zones_frame([zone], [1600.0], ["B"]), net, buildings=b,
                          method="buildings")
    pop = sorted(d.points["population"].round(9))
    assert pop == pytest.approx([300.0, 400.0, 900.0])
    assert d.report.loc[0, "floor_m2"] == pytest.approx(1600.0)
    assert d.report.loc[0, "buildings"] == 3
    assert d.report.loc[0, "levels_tagged"] == 2
    # a different default level count changes the untagged building only: 200 x 4 = 800
    d4 = demand_from_zones(zones_frame([zone], [2000.0], ["B"]), net, buildings=b,
                           method="buildings", default_levels=4)
    assert sorted(d4.points["population"].round(9)) == pytest.approx([300.0, 800.0, 900.0])


def test_auto_rule_picks_per_zone_and_reports_why(net: Any) -> None:
    dense = shapely.box(X0, Y0, X0 + 300, Y0 + 300)  # 90,000 m², buildings cover 10 %
    sparse = shapely.box(X0 + 500, Y0, X0 + 1000, Y0 + 1000)  # one building: streets
    empty = shapely.box(X0 + 1200, Y0 + 1200, X0 + 1300, Y0 + 1300)  # no street inside: area
    rows = [(X0 + 5 + 30 * i, Y0 + 5 + 30 * j, 15, 20, "yes", None)
            for i in range(10) for j in range(6)]  # 60 x 300 m² = 18,000... too much, trim
    rows = rows[:30]  # 30 x 300 = 9,000 m² = 10 %
    rows.append((X0 + 600, Y0 + 600, 10, 10, "yes", None))
    b = building_frame(rows)
    z = zones_frame([dense, sparse, empty], [300, 500, 10], ["dense", "sparse", "empty"])
    d = demand_from_zones(z, net, buildings=b)
    rep = d.report.set_index("zone")
    assert rep.loc["dense", "method"] == "buildings"
    assert rep.loc["dense", "footprint_share"] == pytest.approx(0.1)
    assert "10.0%" in rep.loc["dense", "reason"]
    assert rep.loc["sparse", "method"] == "streets"
    assert "< 5.0%" in rep.loc["sparse", "reason"]
    assert rep.loc["empty", "method"] == "area"
    assert rep.loc["empty", "network_overlap"] == pytest.approx(1.0)  # within max_snap_m
    by_zone = d.points.groupby("zone")["population"].sum()
    assert by_zone.to_dict() == pytest.approx({"dense": 300, "sparse": 500, "empty": 10})
    assert d.points.groupby("zone")["method"].first().to_dict() == rep["method"].to_dict()
    # the rule on its own
    assert choose_method(footprint_share=0.05, n_buildings=10, street_m=0, min_footprint_share=0.05,
                         min_buildings=10, min_street_m=100)[0] == "buildings"
    assert choose_method(footprint_share=0.9, n_buildings=9, street_m=100,
                         min_footprint_share=0.05, min_buildings=10,
                         min_street_m=100)[0] == "streets"
    # without buildings the rule says so
    d2 = demand_from_zones(z, net)
    assert d2.report.set_index("zone").loc["dense", "method"] == "streets"
    assert d2.report["reason"].str.startswith("no buildings given").all()


def test_zone_with_zero_count_and_other_crs(net: Any) -> None:
    zone_utm = shapely.box(X0 + 100, Y0 + 100, X0 + 400, Y0 + 400)
    z = zones_frame([zone_utm, zone_utm.buffer(-50)], [0, 12.5], ["zero", "inner"])
    z = z.to_crs("EPSG:4326")
    z["population"] = ["0", "12.5"]  # numbers as text are read as numbers
    d = demand_from_zones(z, net, method="streets")
    assert (d.points["zone"] == "inner").all()
    assert d.total == pytest.approx(12.5)
    rep = d.report.set_index("zone")
    assert rep.loc["zero", "points"] == 0 and rep.loc["zero", "population_out"] == 0


@st.composite
def _random_zones(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 5))
    polys, counts = [], []
    for _ in range(n):
        x = draw(st.floats(-200, 1100))
        y = draw(st.floats(-200, 1100))
        w = draw(st.floats(5, 600))
        h = draw(st.floats(5, 600))
        angle = draw(st.floats(0, 90))
        box = shapely.box(X0 + x, Y0 + y, X0 + x + w, Y0 + y + h)
        polys.append(shapely.affinity.rotate(box, angle))
        counts.append(draw(st.one_of(st.integers(0, 10**6), st.floats(0, 1e6))))
    nb = draw(st.integers(0, 40))
    rows = [
        (X0 + draw(st.floats(-100, 1000)), Y0 + draw(st.floats(-100, 1000)),
         draw(st.floats(2, 60)), draw(st.floats(2, 60)),
         draw(st.sampled_from(["yes", "house", "apartments", "garage", "retail"])),
         draw(st.one_of(st.none(), st.integers(1, 20))))
        for _ in range(nb)
    ]
    return {
        "polys": polys,
        "counts": counts,
        "buildings": building_frame(rows) if rows else None,
        "threshold": draw(st.sampled_from([0.0, 0.01, 0.05, 1.0])),
        "spacing": draw(st.sampled_from([7.0, 50.0, 130.0])),
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=_random_zones())
def test_zone_conservation_property(case: dict[str, Any]) -> None:
    net = grid_network()
    names = [f"z{i}" for i in range(len(case["polys"]))]
    z = zones_frame(case["polys"], case["counts"], names)
    d = demand_from_zones(
        z, net, buildings=case["buildings"], min_footprint_share=case["threshold"],
        min_buildings=1, street_spacing_m=case["spacing"], grid_spacing_m=case["spacing"] * 3,
        outside="drop",
    )
    check_contract(d, UTM)
    served = study_area(net)
    rep = d.report.set_index("zone")
    by_zone = d.points.groupby("zone")["population"].sum()
    for name, poly, count in zip(names, case["polys"], case["counts"], strict=True):
        method = rep.loc[name, "method"]
        if poly.intersection(served).area <= 0:
            assert method == "dropped"
            continue
        got = float(by_zone.get(name, 0.0))
        assert got == pytest.approx(float(count), rel=1e-12, abs=1e-9)
        assert rep.loc[name, "population_out"] == pytest.approx(float(count), rel=1e-12)
        mine = d.points[d.points["zone"] == name]
        if len(mine) and method in ("buildings", "area"):
            # buildings and grid points lie inside their zone
            assert shapely.contains_xy(poly.buffer(1e-6), mine.geometry.x, mine.geometry.y).all()
        if method == "streets":
            assert shapely.intersects(poly.buffer(1e-6), mine.geometry.values).all()


def test_zone_bad_input(net: Any, caplog: pytest.LogCaptureFixture) -> None:
    zone = shapely.box(X0 + 100, Y0 + 100, X0 + 400, Y0 + 400)
    z = zones_frame([zone, zone], [10, 20], ["a", "b"])
    with pytest.raises(InputError, match="no count column 'people'"):
        demand_from_zones(z, net, population="people")
    bad = z.assign(population=["10", "lots"])
    with pytest.raises(InputError, match=r"not numbers \(b='lots'\)"):
        demand_from_zones(bad, net)
    with pytest.raises(InputError, match="missing or not numbers"):
        demand_from_zones(z.assign(population=[10, None]), net)
    with pytest.raises(InputError, match=r"negative count\(s\) \(b=-20\)"):
        demand_from_zones(z.assign(population=[10, -20]), net)
    with pytest.raises(InputError, match="no coordinate reference system"):
        demand_from_zones(gpd.GeoDataFrame(z.drop(columns="geometry"), geometry=[zone, zone]),
                          net)
    with pytest.raises(InputError, match="not polygons"):
        demand_from_zones(z.set_geometry([shapely.Point(X0, Y0), zone]), net)
    with pytest.raises(InputError, match=r"zone names repeat \(a\)"):
        demand_from_zones(z.assign(name=["a", "a"]), net)
    by_index = demand_from_zones(z.assign(name=["a", "a"]), net, name=None, method="area")
    assert set(by_index.points["zone"]) == {"0", "1"}
    with pytest.raises(InputError, match="empty table"):
        demand_from_zones(z.iloc[:0], net)
    far = shapely.box(X0 + 50_000, Y0, X0 + 51_000, Y0 + 1000)
    zf = zones_frame([zone, far], [10, 20], ["near", "far"])
    with pytest.raises(InputError, match=r"do not overlap the network's area \(far\)"):
        demand_from_zones(zf, net)
    with caplog.at_level(logging.WARNING, logger="walkshed.population"):
        d = demand_from_zones(zf, net, outside="drop")
    assert d.report.set_index("zone").loc["far", "method"] == "dropped"
    assert d.total == pytest.approx(10)
    assert "far" in caplog.text
    # partly outside: kept, warned, overlap reported
    half = shapely.box(X0 + 500, Y0 + 500, X0 + 500 + 2 * 1500, Y0 + 600)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="walkshed.population"):
        d = demand_from_zones(zones_frame([half], [100], ["half"]), net, method="area")
    overlap = d.report.loc[0, "network_overlap"]
    assert 0.1 < overlap < 0.9
    assert overlap == pytest.approx(half.intersection(study_area(net)).area / half.area)
    assert "half" in caplog.text and d.total == pytest.approx(100)
    with pytest.raises(InputError, match="no buildings were given"):
        demand_from_zones(z, net, method="buildings")
    with pytest.raises(InputError, match="no residential building inside"):
        demand_from_zones(z, net, method="buildings",
                          buildings=building_frame([(X0 + 150, Y0 + 150, 9, 9, "garage", 1)]))
    with pytest.raises(InputError, match="unknown method"):
        demand_from_zones(z, net, method="magic")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# buildings only


def test_buildings_only_total_and_density(net: Any) -> None:
    b = building_frame([
        (X0 + 10, Y0 + 10, 20, 10, "yes", None),  # 200 x 2 = 400
        (X0 + 60, Y0 + 10, 10, 10, "residential", "4"),  # 100 x 4 = 400
        (X0 + 90, Y0 + 90, 10, 20, "warehouse", 1),  # excluded
        (X0 + 50_000, Y0, 10, 10, "yes", 1),  # outside the network's area
    ]).to_crs("EPSG:4326")
    d = demand_from_buildings(b, net, total=1000, density_limits=False)
    check_contract(d, UTM)
    assert sorted(d.points["population"]) == pytest.approx([500.0, 500.0])
    # within the limits: 200 m² x 9 (untagged) / 15 = 120 and 400 / 15 = 26.7 residents; the
    # rest on the streets, the total kept
    lim = demand_from_buildings(b, net, total=1000)
    on_b = lim.points[lim.points["method"] == "buildings"]["population"]
    assert sorted(on_b) == pytest.approx([400 / 15, 120.0])
    assert lim.total == pytest.approx(1000.0, rel=1e-12)
    assert lim.report.iloc[0]["overflow"] == pytest.approx(1000 - 120 - 400 / 15)
    assert "spread over the streets" in lim.report.iloc[0]["reason"]
    rep = d.report.iloc[0]
    assert (rep["buildings"], rep["outside_area"], rep["nonresidential"]) == (2, 1, 1)
    d2 = demand_from_buildings(b, net, persons_per_m2=0.02)
    assert d2.total == pytest.approx(0.02 * 800)
    d3 = demand_from_buildings(b, crs=UTM, persons_per_m2=0.02)  # no clipping without area
    assert d3.total == pytest.approx(0.02 * (800 + 100))
    with pytest.raises(InputError, match="exactly one"):
        demand_from_buildings(b, net)
    with pytest.raises(InputError, match="exactly one"):
        demand_from_buildings(b, net, total=5, persons_per_m2=0.1)
    with pytest.raises(InputError, match="> 0 and <= 1,000,000,000 residents, got -5"):
        demand_from_buildings(b, net, total=-5)
    with pytest.raises(InputError, match="no residential building"):
        demand_from_buildings(b.iloc[2:3], net, total=5)


def test_levels_and_types() -> None:
    assert parse_levels("5") == 5.0
    assert parse_levels("4,5") == 4.5
    assert parse_levels("5;9") == 9.0
    assert parse_levels("3-5") == 4.0
    assert math.isnan(parse_levels("0"))
    assert math.isnan(parse_levels("many"))
    assert math.isnan(parse_levels(None))
    assert parse_levels(3) == 3.0
    assert is_residential("yes") and is_residential("apartments") and is_residential("House")
    assert not any(is_residential(k) for k in ("garages", "commercial", "church", "no", None))
    assert {"commercial", "industrial", "retail", "warehouse", "church", "school", "garage",
            "garages", "shed"} <= NON_RESIDENTIAL


def test_read_buildings_from_osm_xml(tmp_path: Path) -> None:
    # a way footprint with levels, a multipolygon relation with a hole, and a non-building
    nodes = {
        1: (76.9000, 43.2500), 2: (76.9010, 43.2500), 3: (76.9010, 43.2510),
        4: (76.9000, 43.2510), 11: (76.9100, 43.2500), 12: (76.9120, 43.2500),
        13: (76.9120, 43.2520), 14: (76.9100, 43.2520), 21: (76.9105, 43.2505),
        22: (76.9115, 43.2505), 23: (76.9115, 43.2515), 24: (76.9105, 43.2515),
    }
    xml = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    xml += [f'<node id="{i}" version="1" lat="{lat}" lon="{lon}"/>'
            for i, (lon, lat) in nodes.items()]
    xml += ['<way id="100" version="1">'] + [f'<nd ref="{r}"/>' for r in (1, 2, 3, 4, 1)]
    xml += ['<tag k="building" v="apartments"/>', '<tag k="building:levels" v="9"/>', "</way>"]
    xml += ['<way id="101" version="1">'] + [f'<nd ref="{r}"/>' for r in (11, 12, 13, 14, 11)]
    xml += ["</way>"]
    xml += ['<way id="102" version="1">'] + [f'<nd ref="{r}"/>' for r in (21, 22, 23, 24, 21)]
    xml += ["</way>"]
    xml += ['<way id="103" version="1">'] + [f'<nd ref="{r}"/>' for r in (1, 2, 3, 1)]
    xml += ['<tag k="landuse" v="grass"/>', "</way>"]
    xml += ['<relation id="200" version="1">', '<member type="way" ref="101" role="outer"/>',
            '<member type="way" ref="102" role="inner"/>', '<tag k="type" v="multipolygon"/>',
            '<tag k="building" v="yes"/>', "</relation>", "</osm>"]
    path = tmp_path / "b.osm"
    path.write_text("\n".join(xml))
    b = read_buildings(path).sort_values("osm_id").reset_index(drop=True)
    assert b["osm_type"].tolist() == ["way", "relation"]
    assert b["osm_id"].tolist() == [100, 200]
    assert b["building"].tolist() == ["apartments", "yes"]
    assert b["levels"].iloc[0] == 9.0 and math.isnan(b["levels"].iloc[1])
    area = b.to_crs(UTM).area.to_numpy()
    tf = pyproj.Transformer.from_crs("EPSG:4326", UTM, always_xy=True)

    def ring_area(ids: list[int]) -> float:
        return shapely.Polygon([tf.transform(*nodes[i]) for i in ids]).area

    assert area[0] == pytest.approx(ring_area([1, 2, 3, 4]), rel=1e-9)
    assert area[1] == pytest.approx(
        ring_area([11, 12, 13, 14]) - ring_area([21, 22, 23, 24]), rel=1e-9
    )
    with pytest.raises(InputError, match="not found"):
        read_buildings(tmp_path / "nothing.osm.pbf")


# ---------------------------------------------------------------------------------------------
# Almaty: official district totals over the 2012 extract, distance to the 40 police points


def _almaty_districts(shared_data: Path) -> gpd.GeoDataFrame:
    table = pd.read_csv(REPO / "data" / "kz_district_population.csv")
    table = table[(table["city"] == "Almaty") & (table["level"] == "district")]
    by_variant = {
        v.strip().lower(): row.population
        for row in table.itertuples() for v in str(row.name_variants).split("|")
    }
    d = pyogrio.read_dataframe(shared_data / "almaty-districts" / "almaty_districts.geojson",
                               columns=["name"])
    d["population"] = d["name"].str.lower().map(by_variant)
    assert d["population"].notna().all(), "every district matched by name"
    assert len(d) == 8
    assert d["population"].sum() == table["population"].sum() == 2_165_759
    return d


def _police(shared_data: Path) -> gpd.GeoDataFrame:
    police = pyogrio.read_dataframe(
        shared_data / "almaty-osm-2012" / "almaty_police_2012.geojson",
        columns=["osm_type", "osm_id"],
    )
    police.index = [f"{t}/{i}" for t, i in zip(police["osm_type"], police["osm_id"], strict=True)]
    police["name"] = police.index
    police["status"] = "open"
    return police


def _independent_distances(net: WalkNetwork, police: gpd.GeoDataFrame,
                           points: gpd.GeoDataFrame) -> np.ndarray:
    """Walking distance to the nearest police point with networkx on the network graph:
    one multi-source Dijkstra from police nodes hung on their edge ends, then each point's
    best way in over either end of its edge (or straight along a shared edge)."""
    fac = snap_points(net, police)
    pts = snap_points(net, points)
    g = to_networkx(net)
    sources = []
    for i in np.flatnonzero(fac.ok):
        e = int(fac.edge[i])
        node = ("police", int(i))
        g.add_edge(node, int(net.edge_u[e]), length=fac.access_m[i] + fac.offset_m[i])
        g.add_edge(node, int(net.edge_v[e]),
                   length=fac.access_m[i] + net.edge_length[e] - fac.offset_m[i])
        sources.append(node)
    dist = nx.multi_source_dijkstra_path_length(g, sources, weight="length")
    d_node = np.array([dist.get(k, np.inf) for k in range(net.n_nodes)])
    out = np.full(len(points), np.inf)
    ok = np.flatnonzero(pts.ok)
    e = pts.edge[ok]
    t = pts.offset_m[ok]
    via = np.minimum(d_node[net.edge_u[e]] + t, d_node[net.edge_v[e]] + net.edge_length[e] - t)
    out[ok] = via + pts.access_m[ok]
    for i in np.flatnonzero(fac.ok):
        same = ok[pts.edge[ok] == fac.edge[i]]
        direct = fac.access_m[i] + np.abs(pts.offset_m[same] - fac.offset_m[i]) + pts.access_m[same]
        out[same] = np.minimum(out[same], direct)
    return out


@pytest.mark.slow
def test_almaty_districts_coverage(shared_data: Path, almaty_network: WalkNetwork) -> None:
    pbf = shared_data / "almaty-osm-2012" / "almaty.osm.pbf"
    net = almaty_network
    districts = _almaty_districts(shared_data)
    buildings = read_buildings(pbf)
    assert len(buildings) == 8201  # SOURCE.md: 8,201 building=* features
    demand = demand_from_zones(districts, net, buildings=buildings)
    rep = demand.report.set_index("zone")
    check_contract(demand, net.crs)
    # conservation per district, exactly to float rounding
    by_zone = demand.points.groupby("zone")["population"].sum()
    for name, count in zip(districts["name"], districts["population"], strict=True):
        assert by_zone[name] == pytest.approx(count, rel=1e-12)
        assert rep.loc[name, "population_out"] == pytest.approx(count, rel=1e-12)
    assert demand.total == pytest.approx(2_165_759, rel=1e-12)
    # buildings only where the 2012 map has them (SOURCE.md: Almaly, Auezov, Bostandyk)
    assert set(rep.index[rep["method"] == "buildings"]) <= {"Almaly", "Auezov", "Bostandyk"}
    assert rep.loc["Nauryzbai", "method"] == "streets"

    police = _police(shared_data)
    assert len(police) == 40
    near = nearest_precinct(net, police, demand.points)
    dist = near["distance_m"].to_numpy()
    pop = demand.points["population"].to_numpy()
    zone = demand.points["zone"].to_numpy()
    thresholds = (5, 10, 15)
    shares = pd.DataFrame(index=rep.index)
    for m in thresholds:
        covered = np.where(dist <= minutes_to_metres(m, 4.5), pop, 0.0)
        shares[f"{m} min"] = pd.Series(covered).groupby(zone).sum() / by_zone
    # independent recomputation: networkx distances, numpy sums per district
    ref = _independent_distances(net, police, demand.points)
    finite = np.isfinite(ref)
    np.testing.assert_array_equal(finite, np.isfinite(dist))
    np.testing.assert_allclose(dist[finite], ref[finite], atol=1e-6)
    codes, uniq = pd.factorize(zone)
    for m in thresholds:
        lim = m * 75.0  # 4.5 km/h = 75 m per minute
        num = np.bincount(codes, weights=pop * (ref <= lim), minlength=len(uniq))
        den = np.bincount(codes, weights=pop, minlength=len(uniq))
        expect = pd.Series(num / den, index=uniq)
        for name in uniq:
            assert shares.loc[name, f"{m} min"] == pytest.approx(expect[name], abs=1e-12)
    assert ((shares >= 0) & (shares <= 1)).all().all()
    assert (shares["5 min"] <= shares["10 min"]).all()
    assert (shares["10 min"] <= shares["15 min"]).all()
    total = {m: float((pop * (dist <= minutes_to_metres(m, 4.5))).sum() / pop.sum())
             for m in thresholds}

    out = rep[["population_in", "method", "points", "footprint_share", "street_km"]].join(shares)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print("\nAlmaty 2012 streets, official district totals, 40 police points (4.5 km/h)")
        print(out.to_string(float_format=lambda v: f"{v:.3f}"))
        print("city:", {f"{m} min": round(s, 4) for m, s in total.items()})
        for name, row in rep.iterrows():
            print(f"  {name}: {row['method']} because {row['reason']}")


def test_district_table_is_consistent() -> None:
    table = pd.read_csv(REPO / "data" / "kz_district_population.csv")
    assert set(table["city"]) == {"Almaty", "Astana", "Shymkent"}
    assert (table["population"] > 0).all()
    assert table["source_url"].str.startswith("https://").all()
    assert table["reference_date"].notna().all()
    d = table[table["level"] == "district"].groupby("city")["population"].agg(["sum", "count"])
    assert d.loc["Almaty"].tolist() == [2_165_759, 8]
    assert d.loc["Astana"].tolist() == [1_565_810, 6]
    assert d.loc["Shymkent"].tolist() == [1_204_290, 5]
    readme = (REPO / "data" / "README.md").read_text()
    for name in table["district"].dropna():
        assert name in readme


def test_no_python_warnings_from_raster_path(tmp_path: Path, net: Any) -> None:
    # rasterio's own affine warnings must not surface from our code path
    lon, lat = to_lonlat(X0 + 100, Y0 + 900)
    path = tmp_path / "w.tif"
    write_tif(path, np.ones((4, 4), dtype=np.float32),
              Affine(0.001, 0, lon, 0, -0.0008, lat), "EPSG:4326", None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = demand_from_raster(path, net)
    assert d.total == pytest.approx(16)


# ---------------------------------------------------------------------------------------------
# plausible densities: cap and spread within the zone


def _water_level(w: np.ndarray, cap: np.ndarray, total: float) -> np.ndarray:
    """Independent answer for point caps alone: min(cap, lam * w) summing to ``total``, lam by
    bisection (the closed form of water-filling)."""
    if total >= cap.sum():
        return cap.copy()
    lo, hi = 0.0, 1.0
    while np.minimum(cap, hi * w).sum() < total:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if np.minimum(cap, mid * w).sum() < total else (lo, mid)
    return np.minimum(cap, hi * w)


@st.composite
def _capped_zones(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(1, 40))
    k = draw(st.integers(1, 4))
    w = np.asarray(draw(st.lists(st.floats(0.01, 1e4), min_size=n, max_size=n)))
    zone = np.asarray(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    cap = np.asarray(draw(st.lists(st.floats(0.0, 5e3) | st.just(math.inf),
                                   min_size=n, max_size=n)))
    totals = np.asarray(draw(st.lists(st.floats(0.0, 2e4), min_size=k, max_size=k)))
    cell = np.asarray(draw(st.lists(st.integers(0, 5), min_size=n, max_size=n)))
    cell_cap = draw(st.floats(1.0, 1e4) | st.just(math.inf))
    return {"w": w, "zone": zone, "cap": cap, "totals": totals, "cell": cell,
            "cell_cap": cell_cap}


@settings(max_examples=300, deadline=None)
@given(_capped_zones())
def test_cap_and_spread_conserves_and_respects_the_limits(case: dict[str, Any]) -> None:
    w, zone, cap, totals = case["w"], case["zone"], case["cap"], case["totals"]
    cell, cell_cap = case["cell"], case["cell_cap"]
    s = cap_and_spread(w, zone, totals, point_cap=cap, cell=cell, cell_cap=cell_cap)
    k = len(totals)
    placed = np.bincount(zone, weights=s.population, minlength=k)
    # each zone's total: placed + what it could not hold, exactly to float rounding
    assert placed + s.unplaced == pytest.approx(totals, rel=1e-9, abs=1e-6)
    assert (s.population >= 0).all()
    assert (s.population <= cap * (1 + 1e-9) + 1e-9).all()
    cells = pd.Series(s.population).groupby(cell).sum()
    assert (cells <= cell_cap * (1 + 1e-9) + 1e-9).all()
    # a zone leaves residents unplaced only when every one of its points is held at a limit
    for z in np.flatnonzero(s.unplaced > 1e-9):
        assert s.capped[zone == z].all()


@settings(max_examples=200, deadline=None)
@given(_capped_zones())
def test_cap_and_spread_point_caps_equal_water_filling(case: dict[str, Any]) -> None:
    w, zone, cap, totals = case["w"], case["zone"], case["cap"], case["totals"]
    s = cap_and_spread(w, zone, totals, point_cap=cap)
    for z in range(len(totals)):
        mine = zone == z
        if not mine.any():
            assert s.unplaced[z] == totals[z]
            continue
        want = _water_level(w[mine], cap[mine], float(totals[z]))
        assert s.population[mine] == pytest.approx(want, rel=1e-7, abs=1e-6)
        assert s.unplaced[z] == pytest.approx(max(totals[z] - cap[mine].sum(), 0.0),
                                              rel=1e-9, abs=1e-6)
    # without limits: proportional to weight
    plain = cap_and_spread(w, zone, totals)
    wsum = np.bincount(zone, weights=w, minlength=len(totals))
    assert plain.population == pytest.approx(totals[zone] * w / wsum[zone], rel=1e-12)
    assert not plain.capped.any()


def test_cap_and_spread_cells_across_zones() -> None:
    # zone 0: 100 on two points of cell 0 (cap 50) and one of cell 1 shared with zone 1 (10)
    s = cap_and_spread(np.array([8.0, 1.0, 1.0, 1.0]), np.array([0, 0, 0, 1]),
                       np.array([100.0, 10.0]), point_cap=np.full(4, 60.0),
                       cell=np.array([0, 0, 1, 1]), cell_cap=50.0)
    assert s.population[:2].sum() == pytest.approx(50.0)
    assert s.population[2:].sum() == pytest.approx(50.0)
    # 110 residents, room for 100: 10 unplaced, split as the zones' shares of cell 1 left them
    assert s.unplaced.sum() == pytest.approx(10.0)
    assert s.population.sum() + s.unplaced.sum() == pytest.approx(110.0)


def test_density_cells_group_points_by_square() -> None:
    xy = np.array([[0.0, 0.0], [299.0, 10.0], [300.0, 0.0], [-1.0, 0.0]])
    c = density_cells(xy, 300.0)
    assert c[0] == c[1] and len({c[0], c[2], c[3]}) == 3


@given(st.lists(st.tuples(st.floats(-5e6, 5e6), st.floats(-5e6, 5e6)), min_size=1,
                max_size=60), st.sampled_from([1.0, 7.5, 300.0]))
def test_density_cell_ids_are_those_of_the_unique_rows(pts: list[tuple[float, float]],
                                                       size: float) -> None:
    """The ids equal np.unique's over the rows of cell indices (the reference), clustered or
    spread over a country."""
    xy = np.asarray(pts, dtype=float)
    xy = np.vstack([xy, xy[:3] + 0.25])  # neighbours in the same cells
    ij = np.floor(xy / size).astype(np.int64)
    _, want = np.unique(ij, axis=0, return_inverse=True)
    np.testing.assert_array_equal(density_cells(xy, size), np.asarray(want).ravel())


def test_zone_big_building_capped_and_spread(net: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from walkshed import settings as ws

    monkeypatch.setattr(ws, "max_residents_per_building", 500.0)
    zone = shapely.box(X0, Y0, X0 + 600, Y0 + 600)
    rows = [(X0 + 10, Y0 + 10, 200, 200, "yes", 2)]  # 80,000 m² of floor
    rows += [(X0 + 300 + 30 * i, Y0 + 300, 20, 20, "yes", 9) for i in range(8)]  # 3,600 each
    b = building_frame(rows)
    zones = zones_frame([zone], [3000.0], ["Z"])
    before = demand_from_zones(zones, net, buildings=b, method="buildings",
                               density_limits=False)
    assert before.points["population"].max() == pytest.approx(3000 * 80_000 / 108_800)
    d = demand_from_zones(zones, net, buildings=b, method="buildings")
    pop = d.points["population"].to_numpy()
    assert d.total == pytest.approx(3000.0, rel=1e-12)
    assert pop.max() <= 500 + 1e-9
    # 3,600 m² / 15 = 240 per small building: 8 x 240 + 500 = 2,420 < 3,000: the zone is full,
    # 580 go to its streets, and the reason says so
    r = d.report.iloc[0]
    assert r["overflow"] == pytest.approx(580.0)
    assert (d.points["method"] == "streets").any()
    assert "spread over its streets" in r["reason"]
    assert r["capped"] == 9 and r["population_out"] == pytest.approx(3000.0)
    small = d.points[d.points["method"] == "buildings"]["population"].to_numpy()
    assert sorted(small)[:8] == pytest.approx([240.0] * 8)


def test_zone_building_yes_needs_the_zone_evidence(net: Any) -> None:
    typed_zone = shapely.box(X0, Y0, X0 + 500, Y0 + 500)
    yes_zone = shapely.box(X0 + 500, Y0, X0 + 1000, Y0 + 500)
    b = building_frame([
        (X0 + 10, Y0 + 10, 30, 30, "apartments", 5),  # typed: 900 of 1,000 m² footprint
        (X0 + 100, Y0 + 100, 10, 10, "yes", 5),
        (X0 + 510, Y0 + 10, 30, 30, "yes", 5),  # untyped zone: yes are the homes
        (X0 + 600, Y0 + 100, 10, 10, "house", 5),
    ])
    d = demand_from_zones(zones_frame([typed_zone, yes_zone], [100.0, 100.0], ["T", "Y"]),
                          net, buildings=b, method="buildings")
    rep = d.report.set_index("zone")
    assert rep.loc["T", "buildings"] == 1 and rep.loc["Y", "buildings"] == 2
    assert "1 plain building=yes left out" in rep.loc["T", "reason"]
    assert "1 plain building=yes counted as homes" in rep.loc["Y", "reason"]
    assert d.points.groupby("zone")["population"].sum().to_dict() == pytest.approx(
        {"T": 100.0, "Y": 100.0})


@pytest.mark.slow
def test_almaty_auezov_plausible(shared_data: Path, almaty_network: WalkNetwork) -> None:
    from walkshed import settings as ws

    pbf = shared_data / "almaty-osm-2012" / "almaty.osm.pbf"
    districts = _almaty_districts(shared_data)
    buildings = read_buildings(pbf)
    raw = demand_from_zones(districts, almaty_network, buildings=buildings,
                            density_limits=False)
    d = demand_from_zones(districts, almaty_network, buildings=buildings)
    # the case: Auezov's largest point, a building=yes of 76,800 m² of floor
    auezov = raw.points[raw.points["zone"] == "Auezov"]
    assert auezov["population"].max() == pytest.approx(15_303, abs=1)
    for dem in (raw, d):
        by_zone = dem.points.groupby("zone")["population"].sum()
        for name, count in zip(districts["name"], districts["population"], strict=True):
            assert by_zone[name] == pytest.approx(count, rel=1e-12)
    pts = d.points
    bld = pts["method"] == "buildings"
    assert pts.loc[bld, "population"].max() <= ws.max_residents_per_building * (1 + 1e-9)
    # per m² of floor (levels tagged, else the untagged maximum), computed here afresh
    homes = buildings[buildings["building"].map(is_residential)].to_crs(almaty_network.crs)
    homes = homes[homes.area > 0]
    rp = gpd.GeoDataFrame(geometry=homes.representative_point(), crs=homes.crs)
    rp["floor"] = homes.area * homes["levels"].fillna(ws.max_levels_untagged)
    joined = gpd.sjoin_nearest(pts[bld], rp, max_distance=0.01)
    assert len(joined) >= bld.sum()
    assert (joined["population"] <= joined["floor"] * ws.max_residents_per_m2_floor
            * (1 + 1e-9) + 1e-6).all()
    # per cell, from the coordinates
    xy = shapely.get_coordinates(pts.geometry.values)
    ij = np.floor(xy / ws.density_cell_m).astype(int)
    per_cell = pts["population"].groupby([ij[:, 0], ij[:, 1]]).sum()
    assert per_cell.max() <= ws.max_residents_per_km2 * (ws.density_cell_m / 1000) ** 2 + 1e-6
    rep = d.report.set_index("zone")
    assert rep.loc["Auezov", "capped"] >= 1
    assert "held at the density limits" in rep.loc["Auezov", "reason"]
    assert "plain building=yes counted as homes" in rep.loc["Auezov", "reason"]


def _clip_every_edge(network: WalkNetwork, poly: Any) -> list[np.ndarray]:
    """The reference for the street pieces: every touching edge clipped by GEOS."""
    cand = network.edge_tree.query(poly, predicate="intersects")
    parts = shapely.get_parts(shapely.intersection(network.edge_geometry[cand], poly))
    lines = parts[shapely.get_type_id(parts) == shapely.GeometryType.LINESTRING]
    return [shapely.get_coordinates(g) for g in lines[shapely.length(lines) > 0]]


def test_street_pieces_equal_clipping_every_edge(
        shared_data: Path, almaty_network: WalkNetwork, monkeypatch: pytest.MonkeyPatch) -> None:
    """Edges inside a zone are taken whole, the others clipped: the same pieces, vertex for
    vertex and in the same order, as clipping every edge; a loop, a repeated vertex and a
    self-crossing street inside the zone too. A zone asked for again is not clipped again."""
    from walkshed.population import zones as zones_mod
    from walkshed.population.zones import _street_pieces

    districts = gpd.read_file(shared_data / "almaty-districts" / "almaty_districts.geojson")
    polys = districts.to_crs(almaty_network.crs).geometry.values
    clipped: list[int] = []
    real = zones_mod._clip_streets

    def counted(*args: Any) -> np.ndarray:
        clipped.append(1)
        return real(*args)

    monkeypatch.setattr(zones_mod, "_clip_streets", counted)
    with zones_mod.clipping_once():
        for poly in polys:
            got = [shapely.get_coordinates(g)
                   for g in _street_pieces(almaty_network, almaty_network.edge_tree, poly)]
            want = _clip_every_edge(almaty_network, poly)
            assert len(got) == len(want) > 300
            for a, b in zip(got, want, strict=True):
                np.testing.assert_array_equal(a, b)
        assert len(clipped) == len(polys)
        again = _street_pieces(almaty_network, almaty_network.edge_tree,
                               shapely.from_wkb(shapely.to_wkb(polys[0])))  # an equal zone
        assert len(clipped) == len(polys)  # not clipped again
    _street_pieces(almaty_network, almaty_network.edge_tree, polys[0])
    assert len(clipped) == len(polys) + 1  # outside it: clipped every time
    want = _clip_every_edge(almaty_network, polys[0])
    assert len(again) == len(want)
    for g, b in zip(again, want, strict=True):
        np.testing.assert_array_equal(shapely.get_coordinates(g), b)
    o = np.array([630_000.0, 4_790_000.0])
    lines = [[(0, 0), (10, 0), (10, 10), (0, 10), (0, 0)],  # a loop
             [(20, 0), (21, 1), (21, 1), (22, 0)],  # a repeated vertex
             [(30, 0), (40, 0), (35, 0), (50, 0)],  # doubles back on itself
             [(0, 60), (60, 60)],  # plain
             [(-50, 30), (90, 30)]]  # crosses the border
    geoms = np.asarray([shapely.LineString(np.asarray(c, float) + o) for c in lines])
    ends = shapely.get_coordinates(shapely.boundary(geoms[[1, 2, 3, 4]]))
    xy = np.vstack([o, ends])
    u = np.array([0, 1, 3, 5, 7])
    v = np.array([0, 2, 4, 6, 8])
    toy = WalkNetwork(np.arange(len(xy)), xy, u, v, geoms, "EPSG:32643")
    zone = shapely.box(*(o - 5), *(o + 80))
    got = [shapely.get_coordinates(g) for g in _street_pieces(toy, toy.edge_tree, zone)]
    want = _clip_every_edge(toy, zone)
    assert len(got) == len(want) >= 5
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)
