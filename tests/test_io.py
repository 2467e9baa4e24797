"""Atomic writers and staged output folders: complete files or none, never half of one."""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
import shapely

from walkshed import io
from walkshed._errors import InputError


def _points(n: int = 3, crs: int = 32635) -> gpd.GeoDataFrame:
    xy = np.column_stack([385000 + 100.0 * np.arange(n), 6672000 + 50.0 * np.arange(n)])
    return gpd.GeoDataFrame(
        {"name": [f"site {i}" for i in range(n)], "gain": np.arange(n, dtype=float) * 1.5},
        geometry=shapely.points(xy),
        crs=crs,
    )


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- atomic_path ------------------------------------------------------------------------------


def test_atomic_path_replaces_only_on_success(tmp_path: Path) -> None:
    dest = tmp_path / "sub" / "a.txt"
    with io.atomic_path(dest) as tmp:
        assert tmp.parent == dest.parent and tmp.suffix == ".txt" and tmp != dest
        tmp.write_text("one")
        assert not dest.exists()
    assert dest.read_text() == "one"
    assert _listing(dest.parent) == ["a.txt"]


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_atomic_path_failure_keeps_old_file_and_leaves_no_temp(
    tmp_path: Path, exc: BaseException
) -> None:
    dest = tmp_path / "a.txt"
    dest.write_text("old")
    with pytest.raises(type(exc)), io.atomic_path(dest) as tmp:
        tmp.write_text("half")
        raise exc
    assert dest.read_text() == "old"
    assert _listing(tmp_path) == ["a.txt"]


def test_atomic_path_nothing_written_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError), io.atomic_path(tmp_path / "a.txt"):
        pass
    assert _listing(tmp_path) == []


# --- JSON --------------------------------------------------------------------------------------


def test_write_json_converts_numpy_and_non_finite(tmp_path: Path) -> None:
    summary = {
        "share": np.float64(0.25),
        "count": np.int32(7),
        "flag": np.bool_(True),
        "far": float("inf"),
        "missing": float("nan"),
        "thresholds": np.array([5.0, 10.0]),
        "path": tmp_path,
        "nested": {"t": (1, 2)},
        "name": "Алматы",
    }
    dest = io.write_json(summary, tmp_path / "summary.json")
    back = json.loads(dest.read_text(encoding="utf-8"))
    assert back == {
        "share": 0.25,
        "count": 7,
        "flag": True,
        "far": None,
        "missing": None,
        "thresholds": [5.0, 10.0],
        "path": str(tmp_path),
        "nested": {"t": [1, 2]},
        "name": "Алматы",
    }
    assert "Алматы" in dest.read_text(encoding="utf-8")  # not \u-escaped


def test_write_json_frame_as_records(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, math.inf]})
    back = json.loads(io.write_json({"t": frame}, tmp_path / "s.json").read_text())
    assert back == {"t": [{"a": 1, "b": 0.5}, {"a": 2, "b": None}]}


def test_write_json_unserialisable_fails_before_touching_disk(tmp_path: Path) -> None:
    dest = tmp_path / "s.json"
    dest.write_text("{}")
    with pytest.raises(TypeError, match="object"):
        io.write_json({"x": object()}, dest)
    assert dest.read_text() == "{}"
    assert _listing(tmp_path) == ["s.json"]


# --- CSV ---------------------------------------------------------------------------------------


def test_write_csv_points_get_lon_lat(tmp_path: Path) -> None:
    gdf = _points()
    back = pd.read_csv(io.write_csv(gdf, tmp_path / "sites.csv"))
    assert list(back.columns) == ["name", "gain", "lon", "lat"]
    tf = pyproj.Transformer.from_crs(32635, 4326, always_xy=True)
    lon, lat = tf.transform(gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy())
    np.testing.assert_allclose(back["lon"], lon, atol=1e-7)
    np.testing.assert_allclose(back["lat"], lat, atol=1e-7)
    assert back["name"].tolist() == gdf["name"].tolist()


def test_write_csv_plain_frame_and_index(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1, 2]}, index=pd.Index(["p1", "p2"], name="precinct"))
    back = pd.read_csv(io.write_csv(frame, tmp_path / "t.csv", index=True))
    assert back.to_dict(orient="list") == {"precinct": ["p1", "p2"], "x": [1, 2]}


def test_write_csv_polygons_drop_geometry(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame({"v": [1]}, geometry=[shapely.box(0, 0, 1, 1)], crs=32635)
    back = pd.read_csv(io.write_csv(gdf, tmp_path / "t.csv"))
    assert list(back.columns) == ["v"]


# --- GeoPackage --------------------------------------------------------------------------------


def test_write_gpkg_round_trip_and_replaces(tmp_path: Path) -> None:
    dest = tmp_path / "sites.gpkg"
    io.write_gpkg(_points(5), dest)
    io.write_gpkg(_points(2), dest)  # replaced, not appended
    back = pyogrio.read_dataframe(dest)
    assert len(back) == 2
    assert back.crs.to_epsg() == 32635
    assert pyogrio.list_layers(dest)[:, 0].tolist() == ["sites"]
    assert shapely.equals(back.geometry.values, _points(2).geometry.values).all()
    assert _listing(tmp_path) == ["sites.gpkg"]


def test_write_gpkg_unsynced_only_while_writing(tmp_path: Path) -> None:
    """GDAL's SQLite skips fsync while a GeoPackage is written (to a temporary file), and
    the process's own setting is back afterwards, after a failure too."""
    key = "OGR_SQLITE_SYNCHRONOUS"
    seen: list[object] = []
    real = pyogrio.write_dataframe

    def spy(df, path, **kw):  # type: ignore[no-untyped-def]
        seen.append(pyogrio.get_gdal_config_option(key))  # pyogrio reads "OFF" as False
        if kw.get("layer") == "fails":
            raise OSError("disk full")
        real(df, path, **kw)

    before = pyogrio.get_gdal_config_option(key)
    try:
        pyogrio.set_gdal_config_options({key: "NORMAL"})
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(pyogrio, "write_dataframe", spy)
            io.write_gpkg({"a": _points(3), "b": _points(2)}, tmp_path / "two.gpkg")
            with pytest.raises(OSError, match="disk full"):
                io.write_gpkg({"c": _points(1), "fails": _points(1)}, tmp_path / "x.gpkg")
        assert seen == [False] * 4
        assert pyogrio.get_gdal_config_option(key) == "NORMAL"
    finally:
        pyogrio.set_gdal_config_options({key: before})
    assert [len(pyogrio.read_dataframe(tmp_path / "two.gpkg", layer=n)) for n in "ab"] == [3, 2]
    assert _listing(tmp_path) == ["two.gpkg"]


def test_write_gpkg_empty_layer(tmp_path: Path) -> None:
    dest = io.write_gpkg(_points().iloc[:0], tmp_path / "none.gpkg", layer="uncovered")
    assert pyogrio.read_info(dest, layer="uncovered")["features"] == 0


def test_write_gpkg_needs_crs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="CRS"):
        io.write_gpkg(_points().set_crs(None, allow_override=True), tmp_path / "x.gpkg")
    assert _listing(tmp_path) == []


def test_write_gpkg_interrupted_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = pyogrio.write_dataframe

    def half_then_interrupt(df, path, **kw):  # type: ignore[no-untyped-def]
        real(df, path, **kw)  # the temp file exists in full ...
        raise KeyboardInterrupt  # ... and then the user presses Ctrl-C

    monkeypatch.setattr(pyogrio, "write_dataframe", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        io.write_gpkg(_points(), tmp_path / "x.gpkg")
    assert _listing(tmp_path) == []


# --- HTML --------------------------------------------------------------------------------------


def test_write_html_text_and_folium(tmp_path: Path) -> None:
    import folium

    assert io.write_html("<p>hi</p>", tmp_path / "a.html").read_text() == "<p>hi</p>"
    m = folium.Map(location=(60.17, 24.94), zoom_start=14, tiles=None)
    text = io.write_html(m, tmp_path / "m.html").read_text()
    assert text.startswith("<!DOCTYPE html>") and "L.map(" in text
    with pytest.raises(TypeError):
        io.write_html(42, tmp_path / "b.html")
    assert _listing(tmp_path) == ["a.html", "m.html"]


# --- read_vector -------------------------------------------------------------------------------


def test_read_vector_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        io.read_vector(tmp_path / "none.geojson", what="district polygons")
    bad = tmp_path / "bad.geojson"
    bad.write_text("not json")
    with pytest.raises(InputError, match=r"bad\.geojson.*cannot be read"):
        io.read_vector(bad)
    shp = tmp_path / "nocrs.shp"
    with pytest.warns(UserWarning, match="crs"):
        pyogrio.write_dataframe(_points().set_crs(None, allow_override=True), shp)
    with pytest.raises(InputError, match="no coordinate reference system"):
        io.read_vector(shp)


def test_read_vector_geojson(tmp_path: Path) -> None:
    src = tmp_path / "p.geojson"
    pyogrio.write_dataframe(_points().to_crs(4326), src, driver="GeoJSON")
    back = io.read_vector(src)
    assert back.crs.to_epsg() == 4326 and len(back) == 3


# --- OutputDir ---------------------------------------------------------------------------------


def test_output_dir_moves_everything_at_the_end(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    with io.OutputDir(dest) as out:
        out.write_json({"a": 1}, "summary.json")
        out.write_csv(pd.DataFrame({"x": [1]}), "t.csv")
        out.write_gpkg(_points(), "sites.gpkg")
        out.write_html("<p/>", "map.html")
        assert not dest.exists()  # nothing visible before the end
        staging = out.staging
    assert _listing(dest) == [io.MANIFEST, "map.html", "sites.gpkg", "summary.json", "t.csv"]
    assert sorted(p.name for p in out.files) == _listing(dest)[1:]
    assert json.loads((dest / io.MANIFEST).read_text()) == _listing(dest)[1:]
    assert not staging.exists()
    assert _listing(tmp_path) == ["out"]


@pytest.mark.parametrize("exc", [RuntimeError("step failed"), KeyboardInterrupt()])
def test_output_dir_failure_leaves_previous_run_untouched(
    tmp_path: Path, exc: BaseException
) -> None:
    dest = tmp_path / "out"
    with io.OutputDir(dest) as out:
        out.write_json({"previous": True}, "summary.json")
    with pytest.raises(type(exc)), io.OutputDir(dest) as out:
        out.write_json({"new": True}, "summary.json")
        out.write_csv(pd.DataFrame({"x": [1]}), "districts.csv")
        raise exc
    assert _listing(dest) == [io.MANIFEST, "summary.json"]
    assert json.loads((dest / "summary.json").read_text()) == {"previous": True}
    assert _listing(tmp_path) == ["out"]  # staging folder removed


def test_output_dir_rejects_bad_names_and_file_destination(tmp_path: Path) -> None:
    with io.OutputDir(tmp_path / "o") as out, pytest.raises(ValueError):
        out.path("../escape.txt")
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(InputError, match="not a folder"), io.OutputDir(f):
        pass
    with pytest.raises(RuntimeError):
        io.OutputDir(tmp_path / "p").path("a.txt")


def test_write_gpkg_several_layers_and_inf_as_null(tmp_path: Path) -> None:
    a = _points(3)
    a["walk_m"] = [1.0, np.inf, 3.0]
    dest = io.write_gpkg({"areas": a, "cells": _points(2).iloc[:0]}, tmp_path / "u.gpkg")
    assert sorted(pyogrio.list_layers(dest)[:, 0].tolist()) == ["areas", "cells"]
    back = pyogrio.read_dataframe(dest, layer="areas")
    assert back["walk_m"].iloc[0] == 1.0 and np.isnan(back["walk_m"].iloc[1])
    assert pyogrio.read_info(dest, layer="cells")["features"] == 0
    assert np.isinf(a["walk_m"].iloc[1])  # the caller's frame is not changed


def test_output_dir_files_get_ordinary_permissions(tmp_path: Path) -> None:
    import os
    import tempfile

    with io.OutputDir(tmp_path / "out") as out:
        # a writer that goes through mkstemp (owner-only, 0o600)
        fd, name = tempfile.mkstemp(dir=out.staging)
        os.close(fd)
        os.replace(name, out.path("map.html"))
        out.write_json({}, "summary.json")
    umask = os.umask(0)
    os.umask(umask)
    for f in (tmp_path / "out").iterdir():  # the list of outputs too
        assert f.stat().st_mode & 0o777 == 0o666 & ~umask, f.name


def test_output_dir_never_writes_over_a_file_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "precincts.csv").write_text("id,lat,lon\n")
    with pytest.raises(InputError, match=r"'precincts\.csv' is already there"), \
            io.OutputDir(tmp_path) as out:
        out.write_csv(pd.DataFrame({"x": [1]}), "precincts.csv")
    assert (tmp_path / "precincts.csv").read_text() == "id,lat,lon\n"
    assert _listing(tmp_path) == ["precincts.csv"]
    # a rerun replaces what an earlier run wrote
    for value in (1, 2):
        with io.OutputDir(tmp_path / "run") as out:
            out.write_json({"v": value}, "summary.json")
    assert json.loads((tmp_path / "run" / "summary.json").read_text()) == {"v": 2}
    # ... but never an input of the run, even one walkshed wrote
    with pytest.raises(InputError, match="is an input of this run"), \
            io.OutputDir(tmp_path / "run", protect=[tmp_path / "run" / "summary.json"]) as out:
        out.write_json({"v": 3}, "summary.json")
    assert json.loads((tmp_path / "run" / "summary.json").read_text()) == {"v": 2}


def test_output_dir_failure_removes_the_folders_it_created(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), io.OutputDir(tmp_path / "a" / "b" / "run") as out:
        out.write_json({}, "summary.json")
        raise KeyboardInterrupt
    assert _listing(tmp_path) == []


def test_output_dir_cleans_the_staging_folder_of_a_killed_run(tmp_path: Path) -> None:
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = tmp_path / f".run.staging-{int(dead.stdout)}-abc"
    stale.mkdir()
    (stale / "summary.json").write_text("{}")
    with io.OutputDir(tmp_path / "run") as out:
        out.write_json({}, "summary.json")
    assert _listing(tmp_path) == ["run"]
