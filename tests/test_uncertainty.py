"""Tests of walkshed.assessment.uncertainty: each figure across population methods and staffing
norms equals a separate full assessment with that method's residents or that norm."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from conftest import street_grid

from walkshed.assessment import assess
from walkshed.assessment.uncertainty import compare, range_text
from walkshed.network import WalkNetwork

UTM = pyproj.CRS.from_epsg(32643)
X0, Y0 = 654_000.0, 4_790_000.0


def _grid(n: int = 12, spacing: float = 120.0) -> WalkNetwork:
    return street_grid(n, spacing, (X0, Y0))


def _demand(rng: np.random.Generator, n: int, total: float) -> gpd.GeoDataFrame:
    xy = rng.uniform([X0 - 50, Y0 - 50], [X0 + 1400, Y0 + 1400], size=(n, 2))
    w = rng.gamma(1.0, size=n)
    return gpd.GeoDataFrame({"population": total * w / w.sum(), "zone": "z", "method": "m"},
                            geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=UTM)


@pytest.fixture(scope="module")
def case() -> dict:
    rng = np.random.default_rng(12)
    net = _grid()
    police = gpd.GeoDataFrame(
        {"name": ["A", "B", "C", "D"], "status": ["open", "open", "planned", "candidate"]},
        geometry=gpd.points_from_xy([X0 + 100, X0 + 1200, X0 + 700, X0 + 300],
                                    [Y0 + 130, Y0 + 1100, Y0 + 600, Y0 + 1300]),
        crs=UTM, index=["a", "b", "c", "d"])
    districts = gpd.GeoDataFrame(
        {"name": ["west", "east"]},
        geometry=[shapely.box(X0 - 100, Y0 - 100, X0 + 660, Y0 + 1500),
                  shapely.box(X0 + 660, Y0 - 100, X0 + 1500, Y0 + 1500)], crs=UTM)
    demands = {"one": _demand(rng, 400, 10_000), "two": _demand(rng, 900, 10_000),
               "three": _demand(rng, 50, 10_000)}
    return {"net": net, "police": police, "districts": districts, "demands": demands}


def test_each_method_equals_a_separate_assessment(case: dict) -> None:
    net, police, districts = case["net"], case["police"], case["districts"]
    opts = {"thresholds_m": [300.0, 600.0], "main_threshold": 600.0}
    base = assess(net, case["demands"]["one"], police, districts=districts, **opts)
    unc = compare(net, base, police, case["demands"], scenario_method="one",
                  not_applicable={"raster": "none given"}, districts=districts)
    assert unc["threshold"] == base.settings.threshold_labels[1]
    assert [m["method"] for m in unc["methods"]] == ["one", "two", "three"]
    shares = []
    for m in unc["methods"]:
        alone = assess(net, case["demands"][m["method"]], police, districts=districts, **opts)
        cov = alone.coverage
        for row, mine in zip(cov.itertuples(), m["coverage"], strict=True):
            assert mine["share_open"] == pytest.approx(row.share_open, rel=1e-12, abs=0)
            assert mine["share_with_planned"] == pytest.approx(row.share_with_planned,
                                                               rel=1e-12, abs=0)
        assert m["residents"] == pytest.approx(alone.residents, rel=1e-12)
        lab = alone.settings.threshold_labels[1]
        t = alone.districts.set_index("district")
        for d in m["districts"]:
            assert d["share_open"] == pytest.approx(t.loc[d["district"], f"share_{lab}_open"],
                                                    rel=1e-12)
        shares.append(cov.iloc[1]["share_open"])
    assert len(set(np.round(shares, 6))) == 3  # the methods differ: the range means something
    s = unc["share_open"]
    assert (s["value"], s["low"], s["high"]) == pytest.approx(
        (shares[0], min(shares), max(shares)), rel=1e-12)
    assert s["text"] == range_text(shares[0], min(shares), max(shares))
    assert unc["not_applicable"] == [{"method": "raster", "reason": "none given"}]


def test_each_norm_equals_a_separate_assessment(case: dict) -> None:
    net, police = case["net"], case["police"]
    # catchments within walking reach (median walk within the largest threshold): the
    # staffing rule gives catchments not served on foot no figure
    base = assess(net, case["demands"]["two"], police, thresholds_m=[600.0, 1500.0],
                  residents_per_inspector=2500)
    unc = compare(net, base, police, {"two": case["demands"]["two"]}, scenario_method="two",
                  norms=[1000, 3000, 7000])
    got = {r["residents_per_inspector"]: r for r in unc["norms"]}
    assert sorted(got) == [1000, 2500, 3000, 7000]  # the run's own norm is always there
    assert [r["used"] for r in unc["norms"]] == [False, True, False, False]
    for norm, row in got.items():
        alone = assess(net, case["demands"]["two"], police, thresholds_m=[600.0, 1500.0],
                       residents_per_inspector=norm)
        c = alone.catchments
        today = c[(c["scenario"] == "open") & c["precinct"].isin(police.index)]
        assert row["inspectors_needed"] == int(today["inspectors_needed"].sum())
    need = [got[n]["inspectors_needed"] for n in sorted(got)]
    assert need == sorted(need, reverse=True) and need[0] > need[-1]
    assert unc["norms_text"].startswith(f"{got[2500]['inspectors_needed']:,} (")


def test_no_open_precinct_and_one_method(case: dict) -> None:
    net = case["net"]
    police = case["police"].assign(status=["planned", "planned", "candidate", "candidate"])
    base = assess(net, case["demands"]["one"], police, thresholds_m=[600.0])
    unc = compare(net, base, police, {"one": case["demands"]["one"]}, scenario_method="one")
    m = unc["methods"][0]
    assert m["share_open"] == 0.0
    assert m["share_with_planned"] == pytest.approx(base.coverage.iloc[0]["share_with_planned"])
    assert unc["share_open"]["low"] == unc["share_open"]["high"] == 0.0
    assert all(r["inspectors_needed"] == 0 for r in unc["norms"])


def test_range_text() -> None:
    assert range_text(0.07, 0.041, 0.161) == "7.0 % (4.1–16.1 % across methods)"
    assert range_text(0.5, 0.5, 0.5, what="x") == "50.0 % (50.0–50.0 % x)"


@pytest.mark.slow
def test_almaty_run_states_the_ranges(shared_data: Path, monkeypatch: pytest.MonkeyPatch,
                                      tmp_path: Path) -> None:
    from walkshed.pipeline import load_study, run
    from walkshed.report import run_report

    monkeypatch.setenv("WALKSHED_TEST_DATA", str(shared_data))
    study, _ = load_study(Path(__file__).parent / "data" / "almaty_2012.toml")
    study.make_map = False
    result = run(study, tmp_path / "out", outputs=frozenset({"tables"}))
    unc = json.loads((tmp_path / "out" / "summary.json").read_text())["uncertainty"]
    names = [m["method"] for m in unc["methods"]]
    assert names[0] == "district totals, by the rule" == unc["scenario_method"]
    assert {"buildings", "streets", "area", "buildings, city total"} <= set(names)
    assert {m["method"] for m in unc["not_applicable"]} == {"raster"}
    opts = study.assess_options
    for m in unc["methods"]:
        demand = (study.demand if m["method"] == unc["scenario_method"]
                  else study.demand_alternatives[m["method"]])
        # every method keeps the city's total, and its figure is a full run's
        assert m["residents"] == pytest.approx(2_165_759, rel=1e-12)
        alone = assess(study.network, demand, study.precincts, districts=study.districts,
                       **opts)
        main = alone.coverage.set_index("threshold").loc[unc["threshold"]]
        assert m["share_open"] == pytest.approx(main["share_open"], rel=1e-12)
        assert m["share_with_planned"] == pytest.approx(main["share_with_planned"], rel=1e-12)
    shares = [m["share_open"] for m in unc["methods"]]
    assert unc["share_open"]["low"] == min(shares) < max(shares) == unc["share_open"]["high"]
    text = run_report(result)
    assert unc["share_open"]["text"] in text and unc["norms_text"] in text
    assert "Auezov: 358,000 by buildings:" in text and "held at the density limits" in text
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    auezov = next(r for r in summary["population_methods"] if r["zone"] == "Auezov")
    assert auezov["max_per_point"] <= 2000 + 1e-9 and auezov["capped"] >= 1
