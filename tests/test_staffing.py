"""Staffing: one rounding rule; needed, on staff and gap agree across every output (summary,
CSVs, report and map)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from walkshed.assessment.staffing import RULE, catchment_staffing, district_staffing

DATA = Path(__file__).parent / "data"


def test_catchment_rule_by_hand() -> None:
    catch = pd.DataFrame({
        "scenario": ["open"] * 5,
        "precinct": ["A", "B", "C", "D", "(no precinct reachable)"],
        "name": ["a", "b", "c", "d", "(no precinct reachable)"],
        "status": ["open"] * 4 + [None],
        "residents_served": [6000.0, 6001.0, 9000.0, 0.0, 50.0],
        "median_walk_m": [100.0, 750.0, 751.0, math.nan, math.nan],
    })
    precincts = gpd.GeoDataFrame(
        {"name": list("abcd"), "status": ["open"] * 4, "kind": ["precinct", "station",
                                                                 "unknown", "precinct"],
         "inspectors": [1.0, None, 5.0, 2.0]},
        index=pd.Index(list("ABCD")), geometry=[shapely.Point(0, 0)] * 4, crs="EPSG:4326")
    out = catchment_staffing(catch, precincts, 750.0, 3000.0)
    assert out["served_on_foot"].tolist() == [True, True, False, True, False]
    got = out["inspectors_needed"].tolist()
    assert got[:2] == [2.0, 3.0] and got[3] == 0.0  # 6000 / 3000 = 2, 6001 -> 3 (ceil)
    assert math.isnan(got[2]) and math.isnan(got[4])  # walks far / reaches nobody
    assert out["inspectors_on_staff"].tolist()[0] == 1.0
    gap = out["inspectors_gap"].tolist()
    assert gap[0] == 1.0 and math.isnan(gap[1]) and math.isnan(gap[2]) and gap[3] == -2.0
    assert out["kind"].tolist()[:4] == ["precinct", "station", "unknown", "precinct"]
    d = district_staffing(pd.DataFrame({"district": ["N", "S", "(outside districts)"]}), out,
                          {"A": "N", "B": "N", "C": "S", "D": None})
    assert d["inspectors_needed"].tolist() == [5, 0, 0]
    assert d["inspectors_on_staff"].tolist()[0] == 1.0 and d["inspectors_gap"].tolist()[0] == 1
    assert d["inspectors_on_staff"].tolist()[1:] == [5.0, 2.0]  # staff counted where it is
    assert math.isnan(d["inspectors_gap"].tolist()[1]) and d["inspectors_gap"].tolist()[2] == -2
    assert "rounded up per precinct" in RULE


@pytest.mark.slow
def test_needed_on_staff_and_gap_agree_across_outputs(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from walkshed.pipeline import load_study, run
    from walkshed.report import run_report

    monkeypatch.setenv("WALKSHED_TEST_DATA", str(shared_data))
    police = tmp_path / "staffed.csv"
    police.write_text("id,name,lat,lon,inspectors\nT1,Port Hercule kiosk,43.7345,7.4215,4\n"
                      "T2,,43.7440,7.4300,\nT3,Larvotto post,43.7480,7.4360,1\n",
                      encoding="utf-8")
    text = (DATA / "monaco.toml").read_text(encoding="utf-8")
    text = text.replace('file = "tiny_police.csv"\nstatus = "candidate"\nopen = ["T3"]',
                        f'file = "{police.as_posix()}"\nstatus = "open"')
    zones_file = (DATA / "tiny_zones.geojson").as_posix()
    text = text.replace('file = "tiny_zones.geojson"', f'file = "{zones_file}"')
    scen = tmp_path / "monaco_staffed.toml"
    scen.write_text(text, encoding="utf-8")
    study, _ = load_study(scen)
    result = run(study, tmp_path / "out", outputs=frozenset({"tables", "map"}), offline=True)
    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    pre = pd.read_csv(out / "precincts.csv")
    dis = pd.read_csv(out / "districts.csv")
    norm = 2500.0
    largest = 750.0
    # precincts.csv: one row per precinct, today's figures in the ``..._open`` columns
    today = pre[pre["status"] == "open"][["precinct", "name"] + [
        c for c in pre.columns if c.endswith("_open") and c != "kind_open"]]
    today = today.rename(columns=lambda c: c.removesuffix("_open"))
    assert {"T1", "T2", "T3"} <= set(today["precinct"]) and today["inspectors_needed"].notna().any()
    # per precinct: the rule, computed here from the table's own residents and walks
    for r in today.itertuples():
        if r.residents_served > 0 and not r.median_walk_m <= largest:
            assert math.isnan(r.inspectors_needed) and not r.served_on_foot
        else:
            assert r.inspectors_needed == math.ceil(r.residents_served / norm - 1e-9)
    staff = {"T1": 4.0, "T3": 1.0}
    got_staff = today.set_index("precinct")["inspectors_on_staff"].dropna().to_dict()
    assert got_staff == staff
    for r in today.itertuples():
        if r.precinct in staff and not math.isnan(r.inspectors_needed):
            assert r.inspectors_gap == r.inspectors_needed - staff[r.precinct]
    # districts: the sums of the precincts standing in each (point in polygon, here)
    zones = gpd.read_file(DATA / "tiny_zones.geojson")
    pts = study.precincts.to_crs(4326)
    where = {}
    for pid, geom in zip(pts.index, pts.geometry, strict=True):
        hit = [n for n, poly in zip(zones["name"], zones.geometry, strict=True)
               if poly.covers(geom)]
        where[str(pid)] = hit[0] if hit else "(outside districts)"
    t = dis.set_index("district")
    for name in t.index:
        mine = today[today["precinct"].map(where) == name]
        assert t.loc[name, "inspectors_needed"] == mine["inspectors_needed"].sum()
        if mine["inspectors_on_staff"].notna().any():
            assert t.loc[name, "inspectors_on_staff"] == mine["inspectors_on_staff"].sum()
    # the city: summary.json = precincts.csv = districts.csv, to the unit
    city = summary["staffing"]["open"]
    need = int(today["inspectors_needed"].sum())
    assert city["inspectors_needed"] == need == int(dis["inspectors_needed"].sum())
    assert city["inspectors_on_staff"] == 5 == int(dis["inspectors_on_staff"].sum())
    assert city["inspectors_gap"] == int(today["inspectors_gap"].sum())
    assert city["precincts_with_staff_figures"] == 2
    far = today[~today["served_on_foot"].astype(bool)]
    assert city["residents_not_served_on_foot"] == pytest.approx(far["residents_served"].sum())
    assert need > 0
    # the same figures in the summary's catchments and in the printed report
    cat = pd.DataFrame(summary["catchments"])
    assert np.nansum(cat[cat["scenario"] == "open"]["inspectors_needed"].astype(float)) == need
    # ... and on the map: the panel's city figures, each precinct's and each district's popup
    page = (out / "coverage_map.html").read_text(encoding="utf-8")
    block = re.search(r'<script type="application/json" id="walkshed-data">(.*?)</script>',
                      page, re.S)
    assert block is not None
    data = json.loads(block.group(1))
    panel = next(s for s in data["panel"]["sections"] if s["id"] == "staffing")
    rows = dict((k, v) for k, v in panel["rows"])
    assert rows["Inspectors needed"] == f"{need:,}"
    assert rows["Inspectors on staff"] == "5"
    assert rows["Gap (needed − on staff)"] == f"{city['inspectors_gap']:+,}"
    assert rows["Residents not served on foot"] == f"{city['residents_not_served_on_foot']:,.0f}"
    popups = {mk["icon"]["data"]["precinct"]: dict((k, v) for k, v in mk["popup"]["rows"])
              for layer in data["layers"] if layer["kind"] == "markers"
              for mk in layer["markers"] if "data" in mk.get("icon", {})}
    for r in today.itertuples():
        cells = popups[str(r.precinct)]
        assert cells["Inspectors needed"] == ("none: not served on foot" if not r.served_on_foot
                                              else f"{r.inspectors_needed:,.0f}")
        if r.precinct in staff:
            assert cells["Inspectors on staff"] == f"{staff[r.precinct]:,.0f}"
        if not math.isnan(r.inspectors_gap):
            assert cells["Gap (needed − on staff)"] == f"{r.inspectors_gap:+,.0f}"
        else:
            assert "Gap (needed − on staff)" not in cells
    layer = next(la for la in data["layers"] if la["id"] == "districts")
    shown = {f["properties"]["popup"]["title"]: dict((k, v) for k, v in
                                                     f["properties"]["popup"]["rows"])
             for f in layer["data"]["features"]}
    for name, cells in shown.items():
        assert cells["Inspectors needed"] == f"{t.loc[name, 'inspectors_needed']:,.0f}"
        for col, label, fmt in (("inspectors_on_staff", "Inspectors on staff", "{:,.0f}"),
                                ("inspectors_gap", "Gap (needed − on staff)", "{:+,.0f}")):
            if math.isnan(t.loc[name, col]):
                assert label not in cells
            else:
                assert cells[label] == fmt.format(t.loc[name, col])
    outside = [n for n in t.index if n not in shown]  # "(outside districts)": no polygon
    assert sum(int(c["Inspectors needed"].replace(",", "")) for c in shown.values()) + int(
        t.loc[outside, "inspectors_needed"].sum()) == need
    report = run_report(result)
    assert f"Inspectors today: {need:,} needed by the norm" in report
    assert "5 on staff" in report and "Rule: inspectors needed" in report
