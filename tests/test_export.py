"""Excel- and GIS-ready outputs: the workbook equals the CSVs, the GeoPackage's layers are all
in EPSG:4326 with the tables' figures, the CSVs are rounded and carry a byte-order mark."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyogrio
import pytest

from walkshed.export import column_kind, header, precinct_table, tidy
from walkshed.pipeline import demo_study, run


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    out = tmp_path_factory.mktemp("export") / "demo"
    result = run(demo_study(cache=False), out, p=2, offline=True)
    return out, result


def test_tidy_rounds_by_kind() -> None:
    frame = pd.DataFrame({
        "residents": [317699.99999999994, 0.5, np.nan],
        "share_5min_open": [1 / 3, 0.123456, 1.0],
        "median_walk_m": [758.39, np.inf, 1.5],
        "lon": [24.943340805913934, 1.0, 2.0],
        "name": ["a", "b", "c"],
    })
    t = tidy(frame)
    assert t["residents"].tolist()[:2] == [317700, 0]  # half to even
    assert t["residents"].isna().iloc[2]
    assert t["share_5min_open"].tolist() == [0.3333, 0.1235, 1.0]
    assert t["median_walk_m"].tolist()[0] == 758 and pd.isna(t["median_walk_m"].iloc[1])
    assert t["lon"].iloc[0] == 24.9433408
    assert t["name"].tolist() == ["a", "b", "c"]
    assert column_kind("within_10min_with_planned") == "people"
    assert header("residents_served_open") == "Residents served (people) (open)"


def test_csvs_have_a_bom_and_no_long_fractions(demo_out: tuple[Path, Any]) -> None:
    out, _ = demo_out
    for name in ("precincts.csv", "districts.csv", "opening_order.csv", "proposed_sites.csv"):
        raw = (out / name).read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf"), name
        text = raw.decode("utf-8-sig")
        # no float noise: at most 7 decimals (coordinates), people whole
        assert not re.search(r"\.\d{8,}", text), name
        table = pd.read_csv(out / name, encoding="utf-8-sig")
        for col in table.columns:
            if column_kind(col) == "people" and table[col].notna().all():
                assert pd.api.types.is_integer_dtype(table[col]), (name, col)
            if column_kind(col) == "share":
                assert (table[col].dropna() == table[col].dropna().round(4)).all(), (name, col)


def test_precinct_table_one_row_per_precinct(demo_out: tuple[Path, Any]) -> None:
    """One row per precinct, each scenario's figures side by side equal the long table's."""
    _, result = demo_out
    study = demo_study(cache=False)
    a = result.assessment
    wide = precinct_table(a.catchments, study.precincts, study.districts)
    assert wide["precinct"].is_unique and len(wide) == len(study.precincts)
    assert wide.crs.to_epsg() == 4326
    for scen, suffix in (("open", "_open"), ("open+planned", "_with_planned")):
        long = a.catchments[a.catchments["scenario"] == scen].set_index("precinct")
        got = wide.set_index("precinct")[f"residents_served{suffix}"].dropna()
        assert got.to_dict() == pytest.approx(long["residents_served"].to_dict())
    # the district by point in polygon, independently
    polys = study.districts.to_crs(4326)
    for row in wide.itertuples():
        inside = [n for n, g in zip(polys["name"], polys.geometry, strict=True)
                  if g.covers(row.geometry)]
        assert row.district == (inside[0] if inside else None)


def test_workbook_equals_the_csvs(demo_out: tuple[Path, Any]) -> None:
    from openpyxl import load_workbook

    out, _ = demo_out
    wb = load_workbook(out / "walkshed.xlsx")
    assert set(wb.sheetnames) >= {"precincts", "districts", "opening_order", "proposed_sites",
                                  "uncovered_areas"}
    for sheet in ("precincts", "districts", "opening_order", "proposed_sites"):
        csv = pd.read_csv(out / f"{sheet}.csv", encoding="utf-8-sig")
        ws = wb[sheet]
        rows = list(ws.iter_rows(values_only=True))
        assert list(rows[0]) == [header(c) for c in csv.columns], sheet
        assert len(rows) - 1 == len(csv)
        for j, col in enumerate(csv.columns):
            got = [r[j] for r in rows[1:]]
            want = csv[col].tolist()
            for g, w in zip(got, want, strict=True):
                if isinstance(w, float) and np.isnan(w):
                    assert g is None, (sheet, col)
                elif isinstance(w, (int, float, np.integer, np.floating)):
                    assert g == pytest.approx(w, abs=1e-9), (sheet, col)
                else:
                    assert g == w, (sheet, col)
            kind = column_kind(col)
            fmt = ws.cell(row=2, column=j + 1).number_format
            if kind == "share":
                assert fmt.endswith("%"), (sheet, col)
            if kind == "people" and len(csv):
                assert all(g is None or isinstance(g, int) for g in got), (sheet, col)


def test_geopackage_layers_in_4326_with_the_tables_figures(demo_out: tuple[Path, Any]) -> None:
    out, _ = demo_out
    path = out / "walkshed.gpkg"
    layers = set(pyogrio.list_layers(path)[:, 0])
    assert layers == {"walking_areas", "walking_areas_open", "walking_areas_with_planned",
                      "precincts", "catchments_open", "catchments_with_planned", "districts",
                      "uncovered_areas", "uncovered_cells", "proposed_sites"}
    for layer in layers:
        info = pyogrio.read_info(path, layer=layer)
        assert info["crs"] == "EPSG:4326", layer
    for name in ("precincts", "districts", "proposed_sites"):
        csv = pd.read_csv(out / f"{name}.csv", encoding="utf-8-sig")
        gdf = pyogrio.read_dataframe(path, layer=name)
        table = pd.DataFrame(gdf.drop(columns="geometry"))
        assert list(table.columns) == list(csv.columns), name
        for col in csv.columns:
            if pd.api.types.is_numeric_dtype(csv[col]):
                np.testing.assert_allclose(table[col].to_numpy(float), csv[col].to_numpy(float),
                                           atol=1e-9, err_msg=f"{name}.{col}")
            else:  # text, and flags with blanks (GeoPackage keeps those as text)
                as_text = lambda s: ["" if pd.isna(v) else str(v) for v in s]  # noqa: E731
                assert as_text(table[col]) == as_text(csv[col]), f"{name}.{col}"
    # points where the CSV says
    pts = pyogrio.read_dataframe(path, layer="precincts")
    np.testing.assert_allclose(pts.geometry.x, pts["lon"], atol=1e-7)
    # the walking areas: one per precinct and threshold; dissolved ones per threshold
    walk = pyogrio.read_dataframe(path, layer="walking_areas")
    assert len(walk) == len(pts) * 3
    merged = pyogrio.read_dataframe(path, layer="walking_areas_open")
    assert merged["threshold_min"].tolist() == [5.0, 10.0, 15.0]
    # the uncovered areas' figures equal uncovered_areas.gpkg
    a1 = pyogrio.read_dataframe(path, layer="uncovered_areas")
    a2 = pyogrio.read_dataframe(out / "uncovered_areas.gpkg", layer="uncovered_areas")
    assert a1["population"].tolist() == a2["population"].tolist()


def test_catchment_polygons_tile_the_residents(demo_out: tuple[Path, Any]) -> None:
    """Catchments: no two overlap; each inhabited H3 cell goes to the precinct most of its
    residents walk to (recounted here from the per-point nearest precinct); the figures are
    the precincts table's."""
    import h3
    import shapely

    out, result = demo_out
    a = result.assessment
    study = demo_study(cache=False)
    csv = pd.read_csv(out / "precincts.csv", encoding="utf-8-sig").set_index("precinct")
    for suffix, col in (("open", "nearest_open"), ("with_planned", "nearest_with_planned")):
        gdf = pyogrio.read_dataframe(out / "walkshed.gpkg", layer=f"catchments_{suffix}")
        geoms = list(gdf.geometry)
        for i in range(len(geoms)):
            for j in range(i + 1, len(geoms)):
                assert shapely.intersection(geoms[i], geoms[j]).area < 1e-12
        for row in gdf.itertuples():
            assert row.residents_served == csv.loc[row.precinct, f"residents_served_{suffix}"]
        # the owner of every inhabited cell, by brute force
        ll = study.demand.geometry.to_crs(4326)
        res = a.settings.h3_resolution
        tally: dict[str, dict[str, float]] = {}
        for x, y, w, who in zip(ll.x, ll.y, study.demand["population"], a.demand[col],
                                strict=True):
            if w > 0 and who is not None:
                cell = h3.latlng_to_cell(y, x, res)
                tally.setdefault(cell, {}).setdefault(who, 0.0)
                tally[cell][who] += w
        for cell, by in tally.items():
            owner = sorted(by.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
            lat, lon = h3.cell_to_latlng(cell)
            hit = gdf[gdf.geometry.covers(shapely.Point(lon, lat))]
            assert hit["precinct"].tolist() == [owner], cell


def test_catchment_polygons_are_the_cells_merged() -> None:
    """Each catchment is exactly the coverage union of its cells' hexagons, each built as a
    polygon from ``h3.cell_to_boundary`` of the point's cell in EPSG:4326 (the reference);
    the cells are binned anew when the residents move."""
    import geopandas as gpd
    import h3
    import shapely

    from walkshed.export import catchment_polygons

    rng = np.random.default_rng(5)
    xy = np.column_stack([385000 + rng.random(400) * 3000, 6672000 + rng.random(400) * 3000])
    demand = gpd.GeoDataFrame({"population": rng.integers(0, 9, 400).astype(float)},
                              geometry=shapely.points(xy), crs=32635)
    nearest = pd.Series(np.where(xy[:, 0] < 386500, "a", "b"), index=demand.index,
                        dtype=object)
    nearest.iloc[::17] = None

    def reference(d: gpd.GeoDataFrame) -> dict[str, Any]:
        ll = d.geometry.to_crs(4326)
        cells: dict[str, dict[str, float]] = {}
        for x, y, w, who in zip(ll.x, ll.y, d["population"], nearest, strict=True):
            if w > 0 and who is not None:
                by = cells.setdefault(h3.latlng_to_cell(y, x, 9), {})
                by[who] = by.get(who, 0.0) + w
        owners: dict[str, list[str]] = {}
        for cell in sorted(cells):
            who = sorted(cells[cell].items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
            owners.setdefault(who, []).append(cell)
        return {who: (len(cs), shapely.coverage_union_all(
            [shapely.Polygon([(b, a) for a, b in h3.cell_to_boundary(c)]) for c in cs]))
            for who, cs in owners.items()}

    for d in (demand, demand.set_geometry(demand.geometry.translate(700.0, 0.0))):
        got = catchment_polygons(d, nearest, resolution=9)
        want = reference(d)
        assert got["precinct"].tolist() == sorted(want)
        for row in got.itertuples():
            assert row.cells == want[row.precinct][0]
            assert shapely.equals_exact(row.geometry, want[row.precinct][1], tolerance=0)


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_workbook_headers_in_the_language(tmp_path: Path, lang: str) -> None:
    from openpyxl import load_workbook

    from walkshed.export import HEADERS, write_workbook
    from walkshed.i18n import translator

    t = translator(lang)
    table = pd.DataFrame({"precinct": ["a"], "residents_served_open": [12],
                          "within_10min_open": [10], "share_7.5min_with_planned": [0.5],
                          "gain_alone_10min": [3], "lon": [76.9], "lat": [43.2]})
    write_workbook({"precincts": table}, tmp_path / "w.xlsx", lang=lang)
    heads = list(next(load_workbook(tmp_path / "w.xlsx")["precincts"].iter_rows(
        values_only=True)))
    assert heads == [header(c, t) for c in table.columns]
    assert heads[2] == {"ru": "В пределах 10 мин (чел.) (действующие)",
                        "kk": "10 мин ішінде (адам) (жұмыс істейтін)"}[lang]
    assert heads[3].startswith({"ru": "Доля охвата, 7,5 мин (%)",
                                "kk": "Қамту үлесі, 7,5 мин (%)"}[lang])
    # no English left in any header (coordinates' names and WGS 84 aside)
    every = [header(c, t) for c in [*HEADERS, *table.columns]]
    assert set(re.findall(r"[A-Za-z]+", " ".join(every))) <= {"WGS", "x", "y"}
    # the CSVs' and the sheets' names stay the machine-readable ones
    assert load_workbook(tmp_path / "w.xlsx").sheetnames == ["precincts"]
