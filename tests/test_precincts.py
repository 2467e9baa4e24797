"""Reading and checking precincts (walkshed.precincts)."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from walkshed._errors import InputError
from walkshed._osm import read_tagged_points
from walkshed.network import WalkNetwork
from walkshed.precincts import (
    STATUSES,
    default_name,
    precincts_from_osm,
    read_precincts,
    validate_precincts,
)

CRS = "EPSG:32643"  # UTM 43N: Almaty


def small_network() -> WalkNetwork:
    """Two streets in Almaty (UTM 43N), 200 m each, meeting at a corner."""
    x0, y0 = 650000.0, 4790000.0
    xy = np.array([[x0, y0], [x0 + 200, y0], [x0 + 200, y0 + 200]])
    geoms = np.array([shapely.LineString(xy[[0, 1]]), shapely.LineString(xy[[1, 2]])])
    return WalkNetwork(np.arange(3), xy, np.array([0, 1]), np.array([1, 2]), geoms, CRS)


def lonlat(net: WalkNetwork, xy: list[tuple[float, float]]) -> np.ndarray:
    pts = gpd.GeoSeries(gpd.points_from_xy(*np.asarray(xy).T), crs=net.crs).to_crs("EPSG:4326")
    return shapely.get_coordinates(np.asarray(pts.values))


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_detected_columns(tmp_path: Path) -> None:
    f = write(tmp_path / "police.csv",
              "Precinct_ID,Name,Latitude,LNG,Status\n"
              "7,North,43.25,76.95,Planned\n"
              "8,,43.26,76.96,\n"
              "9,South,43.24,76.94, candidate \n")
    p = read_precincts(f)
    assert list(p.index) == ["7", "8", "9"]
    assert p.index.name == "precinct"
    assert list(p["name"]) == ["North", default_name("8"), "South"]
    assert list(p["status"]) == ["planned", "open", "candidate"]
    assert p.crs.to_epsg() == 4326
    np.testing.assert_allclose(shapely.get_coordinates(np.asarray(p.geometry.values)),
                               [[76.95, 43.25], [76.96, 43.26], [76.94, 43.24]])


@pytest.mark.parametrize(("lat", "lon"), [("lat", "lon"), ("y", "x"), ("LATITUDE", "Longitude"),
                                          ("Lat", "lng")])
def test_csv_coordinate_names(tmp_path: Path, lat: str, lon: str) -> None:
    f = write(tmp_path / "p.csv", f"{lat};{lon}\n43.2;76.9\n43.3;77.0\n")  # ';' is sniffed
    p = read_precincts(f)
    assert list(p.index) == ["p-1", "p-2"]  # row numbers when there is no id column
    np.testing.assert_allclose(p.geometry.x, [76.9, 77.0])
    np.testing.assert_allclose(p.geometry.y, [43.2, 43.3])


def test_csv_given_columns_and_default_status(tmp_path: Path) -> None:
    f = write(tmp_path / "p.csv", "code_no,title,phi,lam,state_now\nA1,One,43.2,76.9,x\n")
    p = read_precincts(f, id_column="code_no", name_column="title", lat_column="phi",
                       lon_column="lam", status_column=None, default_status="planned")
    assert list(p.index) == ["A1"] and p.loc["A1", "name"] == "One"
    assert p.loc["A1", "status"] == "planned"
    with pytest.raises(InputError, match="no latitude column 'nope'"):
        read_precincts(f, lat_column="nope", lon_column="lam")
    with pytest.raises(InputError, match="no latitude/longitude columns"):
        read_precincts(write(tmp_path / "q.csv", "a,b\n1,2\n"))
    with pytest.raises(InputError, match="not degrees"):
        read_precincts(write(tmp_path / "r.csv", "lat,lon\n4790000,650000\n"))
    with pytest.raises(InputError, match="no numeric"):
        read_precincts(write(tmp_path / "s.csv", "lat,lon\n43.2,\n"))


def test_unknown_status_lists_the_allowed_ones(tmp_path: Path) -> None:
    f = write(tmp_path / "p.csv", "id,lat,lon,status\n1,43.2,76.9,closed\n2,43.2,76.9,open\n")
    with pytest.raises(InputError, match=r"1: 'closed'.*open, planned, candidate"):
        read_precincts(f)
    with pytest.raises(InputError, match="open, planned, candidate"):
        read_precincts(f, status_column=None, default_status="working")
    assert STATUSES == ("open", "planned", "candidate")


def test_duplicate_ids(tmp_path: Path) -> None:
    f = write(tmp_path / "p.csv", "id,lat,lon\n5,43.2,76.9\n5,43.3,76.9\n6,43.3,76.8\n")
    with pytest.raises(InputError, match=r"duplicate precinct id.*5"):
        read_precincts(f)


def test_empty_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_precincts(tmp_path / "nope.geojson")
    with pytest.raises(InputError, match="empty"):
        read_precincts(write(tmp_path / "empty.geojson", ""))
    with pytest.raises(InputError, match="no precincts"):
        read_precincts(write(tmp_path / "none.geojson",
                             '{"type": "FeatureCollection", "features": []}'))
    with pytest.raises(InputError, match="no precincts"):
        read_precincts(write(tmp_path / "header.csv", "lat,lon\n"))
    with pytest.raises(InputError, match="cannot be read"):
        read_precincts(write(tmp_path / "junk.geojson", "{not json"))
    with pytest.raises(InputError, match="is not a file"):
        read_precincts(tmp_path)


def test_unknown_crs(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.Point(650000, 4790000)])
    with pytest.raises(InputError, match="no coordinate reference system"):
        read_precincts(gdf)
    projected = write(tmp_path / "utm.geojson", '{"type": "FeatureCollection", "features": ['
                      '{"type": "Feature", "properties": {}, "geometry": {"type": "Point", '
                      '"coordinates": [650000, 4790000]}}]}')
    with pytest.raises(InputError, match="not longitude/latitude"):
        read_precincts(projected)
    path = tmp_path / "nocrs.gpkg"
    with pytest.warns(UserWarning, match="crs"):
        pyogrio.write_dataframe(gdf, path)
    with pytest.raises(InputError, match="no coordinate reference system"):
        read_precincts(path)


def test_geopackage_projected_and_polygons(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame(
        {"id": ["K1", "K2"], "name": ["Station", "Post"], "status": ["OPEN", "planned"]},
        geometry=[shapely.box(650000, 4790000, 650020, 4790010), shapely.Point(650100, 4790050)],
        crs=CRS,
    )
    path = tmp_path / "p.gpkg"
    pyogrio.write_dataframe(gdf, path)
    p = read_precincts(path)
    assert list(p.index) == ["K1", "K2"] and list(p["status"]) == ["open", "planned"]
    back = p.to_crs(CRS)
    assert back.geometry.iloc[0].within(gdf.geometry.iloc[0])  # a point on the building
    assert back.geometry.iloc[1].distance(gdf.geometry.iloc[1]) < 1e-6


def test_geodataframe_missing_geometry() -> None:
    gdf = gpd.GeoDataFrame({"name": ["a", "b"]}, geometry=[shapely.Point(76.9, 43.2), None],
                           crs="EPSG:4326")
    with pytest.raises(InputError, match=r"1 row.*no location"):
        read_precincts(gdf)


def test_validate_against_network() -> None:
    net = small_network()
    ll = lonlat(net, [(650050, 4790010), (650210, 4790150), (653000, 4790000)])
    p = gpd.GeoDataFrame({"name": ["a", "b", "far"], "status": ["open"] * 3},
                         geometry=gpd.points_from_xy(ll[:, 0], ll[:, 1]), crs="EPSG:4326",
                         index=pd.Index(["a", "b", "far"]))
    with pytest.raises(InputError, match=r"1 precinct\(s\) lie outside.*far"):
        validate_precincts(p, net)
    kept = validate_precincts(p, net, drop_outside=True)
    assert list(kept.index) == ["a", "b"]
    assert validate_precincts(p, net, max_snap_m=3000).index.tolist() == ["a", "b", "far"]
    with pytest.raises(InputError, match="duplicate"):
        validate_precincts(pd.concat([p.iloc[:1], p.iloc[:1]]), net)
    with pytest.raises(InputError, match="unknown status"):
        validate_precincts(p.assign(status="closed"), net)
    with pytest.raises(InputError, match="no 'status' column"):
        validate_precincts(p.drop(columns="status"), net)
    with pytest.raises(InputError, match="coordinate reference system"):
        validate_precincts(p.set_crs(None, allow_override=True), net)


def test_osm_police_in_monaco(shared_data: Path) -> None:
    path = shared_data / "monaco-osm-2020" / "monaco.osm.pbf"
    p = precincts_from_osm(path)
    raw = read_tagged_points(path, "amenity", "police")
    assert len(p) == len(raw) == 9
    assert set(p.index) == {f"{f.osm_type}/{f.osm_id}" for f in raw}
    assert (p["status"] == "open").all()
    names = set(p["name"])
    assert {"Commissariat de la Condamine", "Poste de Police de Fontvieille",
            "Sûreté Publique de Monaco"} <= names
    assert sum(n.startswith("Precinct node/") for n in names) == 4  # the unnamed ones
    assert read_precincts(path, default_status="planned")["status"].eq("planned").all()
    with pytest.raises(InputError, match="unknown status"):
        precincts_from_osm(path, status="shut")


def test_almaty_2012_geojson_matches_the_extract(shared_data: Path) -> None:
    folder = shared_data / "almaty-osm-2012"
    p = read_precincts(folder / "almaty_police_2012.geojson")  # no warning on its 'name'
    osm = precincts_from_osm(folder / "almaty.osm.pbf")
    assert len(p) == 40 and p.index.is_unique
    assert set(p.index) == set(osm.index)  # ids "node/<id>" from osm_type + osm_id
    a = np.asarray(shapely.get_coordinates(np.asarray(p.geometry.values)))
    b = np.asarray(shapely.get_coordinates(np.asarray(osm.loc[p.index].geometry.values)))
    np.testing.assert_allclose(a, b, atol=1e-6)
    raw = json.loads((folder / "almaty_police_2012.geojson").read_text(encoding="utf-8")
                     .replace("NaN", "null"))
    named = {f"{f['properties']['osm_type']}/{f['properties']['osm_id']}":
             f["properties"]["name"] for f in raw["features"]}
    for pid, name in named.items():
        assert p.loc[pid, "name"] == (name if name else default_name(pid))
    assert (p["name"].str.len() > 0).all()
    assert sum(n is None for n in named.values()) > 20  # most are unnamed
