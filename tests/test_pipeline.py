"""The pipeline's on-disk demand-point cache (load_study)."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture
def monaco_toml(shared_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    from walkshed import settings

    monkeypatch.setenv("WALKSHED_TEST_DATA", str(shared_data))
    monkeypatch.setattr(settings, "cache_dir", tmp_path / "cache")  # this test's own entries
    for name in ("monaco.toml", "tiny_police.csv", "tiny_zones.geojson"):
        (tmp_path / name).write_bytes((DATA / name).read_bytes())
    return tmp_path / "monaco.toml"


def _same(a, b) -> None:
    assert list(a.columns) == list(b.columns)
    assert a.crs == b.crs
    np.testing.assert_array_equal(a["population"].to_numpy(), b["population"].to_numpy())
    for c in a.columns:
        if c not in ("population", a.geometry.name):
            assert a[c].isna().tolist() == b[c].isna().tolist()
            assert a[c].astype(str).tolist() == b[c].astype(str).tolist()
    np.testing.assert_array_equal(np.asarray(a.geometry.x), np.asarray(b.geometry.x))
    np.testing.assert_array_equal(np.asarray(a.geometry.y), np.asarray(b.geometry.y))


def test_demand_cache_hit_equals_a_fresh_build_and_replays_warnings(
    monaco_toml: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    from walkshed import scenario as sc
    from walkshed.pipeline import load_study

    real = sc.load_population

    def noisy(scen, network):
        logging.getLogger("walkshed.population.zones").warning("zone X: partly outside")
        return real(scen, network)

    monkeypatch.setattr(sc, "load_population", noisy)
    fresh, _ = load_study(monaco_toml, cache=False)
    with caplog.at_level(logging.WARNING, logger="walkshed"):
        first, _ = load_study(monaco_toml, cache=True)
    assert "zone X: partly outside" in caplog.text

    def fail(scen, network):
        raise AssertionError("demand placed again although cached")

    monkeypatch.setattr(sc, "load_population", fail)
    monkeypatch.setattr(sc, "load_demand_alternatives", fail)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="walkshed"):
        second, _ = load_study(monaco_toml, cache=True)
    assert "zone X: partly outside" in caplog.text  # replayed from the cache
    _same(fresh.demand, first.demand)
    _same(fresh.demand, second.demand)
    assert fresh.population_report is not None and second.population_report is not None
    pd.testing.assert_frame_equal(fresh.population_report.reset_index(drop=True),
                                  second.population_report, check_dtype=False)
    assert list(second.demand_alternatives) == list(fresh.demand_alternatives)
    for name, frame in fresh.demand_alternatives.items():
        _same(frame, second.demand_alternatives[name])
    assert second.demand_not_applicable == fresh.demand_not_applicable
    assert second.demand["population"].sum() == pytest.approx(38000)


def test_a_warning_every_population_method_repeats_is_said_once(
    monaco_toml: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    from walkshed import scenario as sc
    from walkshed.pipeline import load_study

    real_own, real_alts = sc.load_population, sc.load_demand_alternatives
    zones = logging.getLogger("walkshed.population.zones")

    def own(scen, network):
        zones.warning("zone X: only %.1f%% of its area lies within the network's area", 95.8)
        return real_own(scen, network)

    def alts(scen, network, demand):
        for _ in range(3):  # once per other method, as demand_from_zones says it
            zones.warning("zone X: only %.1f%% of its area lies within the network's area", 95.8)
        zones.warning("zone Y: something only the other methods meet")
        return real_alts(scen, network, demand)

    monkeypatch.setattr(sc, "load_population", own)
    monkeypatch.setattr(sc, "load_demand_alternatives", alts)
    for cache in (False, True, True):  # no cache, then cold, then warm (replayed)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="walkshed"):
            load_study(monaco_toml, cache=cache)
        said = [r.getMessage() for r in caplog.records]
        assert said.count("zone X: only 95.8% of its area lies within the network's area") == 1
        assert said.count("zone Y: something only the other methods meet") == 1
    # the filter is gone after the run: a later warning is said again
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="walkshed"):
        zones.warning("zone Y: something only the other methods meet")
    assert len(caplog.records) == 1


def test_snapped_residents_come_from_the_cache_and_give_the_same_figures(
    monaco_toml: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A warm load hands every method's snapped points to the assessment and the comparison
    (no point set is searched again but the precincts), with the same figures as a run that
    snaps afresh; an entry that does not fit its points is not trusted."""
    import walkshed.snap as snap_mod
    from walkshed import settings
    from walkshed.assessment import assess
    from walkshed.pipeline import _with_uncertainty, load_study

    def figures(cache: bool) -> tuple[object, object, int]:
        study, _ = load_study(monaco_toml, cache=cache)
        a = assess(study.network, study.demand, study.precincts, districts=study.districts,
                   **study.assess_options)
        a = _with_uncertainty(study, a)
        return a.demand, a.uncertainty, len(study.precincts)

    fresh_demand, fresh_unc, n_precincts = figures(False)
    figures(True)  # cold: fills the cache
    entries = sorted(Path(settings.cache_dir).glob("snapped-*.npz"))
    assert len(entries) >= 2  # the scenario's own points and the other methods'
    searched: list[int] = []
    real = snap_mod._snap_cells

    def spy(network, index, p, *args):
        searched.append(len(p))
        return real(network, index, p, *args)

    monkeypatch.setattr(snap_mod, "_snap_cells", spy)
    warm_demand, warm_unc, _ = figures(True)
    assert searched and max(searched) <= n_precincts  # only the precincts were searched
    pd.testing.assert_frame_equal(fresh_demand, warm_demand)
    assert warm_unc == fresh_unc
    # entries that do not fit (cut short) are snapped again, with the same figures
    for entry in entries:
        with np.load(entry) as z:
            arrays = {k: z[k] for k in z.files}
        arrays = {k: (v[:-1] if v.ndim else v) for k, v in arrays.items()}
        with entry.open("wb") as f:
            np.savez(f, **arrays)
    searched.clear()
    again_demand, again_unc, _ = figures(True)
    assert max(searched) > n_precincts
    pd.testing.assert_frame_equal(fresh_demand, again_demand)
    assert again_unc == fresh_unc


def test_demand_cache_misses_when_an_input_changes(monaco_toml: Path) -> None:
    from walkshed.pipeline import load_study

    first, _ = load_study(monaco_toml, cache=True)
    assert first.demand["population"].sum() == pytest.approx(38000)
    text = monaco_toml.read_text(encoding="utf-8").replace("total = 38000", "total = 50000")
    monaco_toml.write_text(text, encoding="utf-8")
    second, _ = load_study(monaco_toml, cache=True)
    assert second.demand["population"].sum() == pytest.approx(50000)


def test_a_broken_demand_cache_entry_is_rebuilt(monaco_toml: Path) -> None:
    from walkshed import settings
    from walkshed.pipeline import load_study

    first, _ = load_study(monaco_toml, cache=True)
    entries = list(Path(settings.cache_dir).glob("demand-*.npz"))
    assert entries
    for e in entries:
        e.write_bytes(b"not a cache entry")
    again, _ = load_study(monaco_toml, cache=True)
    _same(first.demand, again.demand)


def test_scenario_quotas_reach_the_siting_and_are_honoured(monaco_toml: Path) -> None:
    from walkshed.pipeline import load_study
    from walkshed.siting import propose_sites

    def sites(text: str):
        monaco_toml.write_text(base + text, encoding="utf-8")
        study, _ = load_study(monaco_toml, cache=True)
        opts = dict(study.siting_options)
        opts.pop("threshold_min")
        res = propose_sites(study.network, study.demand, study.precincts, p=3,
                            districts=study.districts, method="exact", threshold_min=10, **opts)
        return study, res

    base = monaco_toml.read_text(encoding="utf-8")
    study, free = sites("")
    assert "quotas" not in study.siting_options
    # the scenario's extract names the sites' streets and addresses
    assert Path(study.siting_options["osm_file"]).name == "monaco.osm.pbf"
    assert (free.table["street"] != "").any() and (free.table["address"] != "").any()
    free_counts = free.table["district"].value_counts()
    most = str(free_counts.index[0])  # the district the free answer favours
    other = "East" if most == "West" else "West"
    study, res = sites(f'district_at_most = 3\n[siting.quotas]\n{most} = {{ at_most = 1 }}\n'
                       f'{other} = {{ at_least = 2 }}\n')
    assert study.siting_options["quotas"] == {most: (None, 1), other: (2, 3)}
    counts = res.table["district"].value_counts()
    assert counts.get(most, 0) <= 1 and counts.get(other, 0) >= 2
    assert len(res.table) == 3
    assert res.objective <= free.objective + 1e-9


@pytest.mark.slow
def test_a_warm_run_writes_what_a_cold_run_writes(monaco_toml: Path, tmp_path: Path) -> None:
    """``analyze`` with an empty cache, then again reading the network, demand points,
    candidates and coverage matrix from it: the same summary (its timings and date aside),
    the same tables and sites."""
    import json

    from typer.testing import CliRunner

    from walkshed import cli, settings

    runner = CliRunner()
    cache = Path(settings.cache_dir)
    assert not cache.exists() or not any(cache.iterdir())  # the first run is cold
    outs = [tmp_path / "cold", tmp_path / "warm", tmp_path / "reassessed"]
    others = "Placing residents by the other methods (for the comparison)"
    for out in outs:
        if out.name == "reassessed":  # inputs warm, the assessment computed again
            for entry in cache.glob("assessment-*.npz"):
                entry.unlink()
        res = runner.invoke(cli.app, ["analyze", str(monaco_toml), "--out", str(out),
                                      "--json"])
        assert res.exit_code == 0, res.output
        steps = json.loads((out / "summary.json").read_text("utf-8"))["timings_s"]
        # the other methods' residents are read only when compared: not when the
        # assessment with its comparison comes from the cache
        assert (others in steps) == (out.name != "warm"), (out.name, steps)
        if out.name == "warm":
            # the assessment, the walking areas (with their unions) and the siting answer:
            # one entry each, the warm run found the cold run's (the same inputs, the same key)
            for kind in ("demand-alternatives", "assessment", "walking-areas",
                         "siting-answer"):
                assert len(list(cache.glob(f"{kind}-*.npz"))) == 1, kind

    def summary(out: Path) -> dict:
        s = json.loads((out / "summary.json").read_text("utf-8"))
        for key in ("timings_s", "created"):
            s.pop(key, None)
        for key in ("command", "started", "seconds"):  # the run's own: folder, clock
            s.get("run", {}).pop(key, None)
        return s

    cold, warm, reassessed = (summary(out) for out in outs)
    assert cold == warm == reassessed
    assert cold["proposed_sites"]["sites"]  # siting ran, and gave the same sites
    tables = sorted(p.name for p in outs[0].glob("*.csv"))
    assert "precincts.csv" in tables and "proposed_sites.csv" in tables
    for out in outs[1:]:
        assert tables == sorted(p.name for p in out.glob("*.csv"))
        for name in tables:
            assert (outs[0] / name).read_bytes() == (out / name).read_bytes(), name
    # the walking areas and their unions, vertex for vertex, in the GeoPackage
    import pyogrio
    import shapely

    layers = [n for n, _ in pyogrio.list_layers(outs[0] / "walkshed.gpkg")]
    assert {"walking_areas", "walking_areas_open", "walking_areas_with_planned"} <= set(layers)
    for layer in layers:
        a, *others = (pyogrio.read_dataframe(out / "walkshed.gpkg", layer=layer) for out in outs)
        for b in others:
            assert a.drop(columns="geometry").equals(b.drop(columns="geometry")), layer
            assert all(shapely.equals_exact(x, y, tolerance=0)
                       for x, y in zip(a.geometry, b.geometry, strict=True)), layer
    if shutil.which("pdftotext"):  # the report says the same
        texts = [subprocess.run(["pdftotext", "-layout", str(out / "report.pdf"), "-"],
                                capture_output=True, text=True, check=True).stdout
                 for out in outs]
        assert "Proposed" in texts[0] and texts[0] == texts[1] == texts[2]


_SPY = """
import sys
from walkshed import _background, cli, settings
settings.workers = int(sys.argv[1])
init = _background.Background.__init__
def spy(self, *args, **kwargs):
    init(self, *args, **kwargs)
    print("forked", self.label, self.forked, file=sys.stderr, flush=True)
_background.Background.__init__ = spy
sys.argv = ["walkshed", *sys.argv[2:]]
cli.main()
"""


@pytest.mark.slow
def test_one_process_and_two_write_the_same(monaco_toml: Path, tmp_path: Path) -> None:
    """The other methods' residents, siting beside the assessment and the report beside the
    map and tables (second processes) write what one process writes; an error raised in a
    second process stops the run as usual. Each run is a fresh process, as a planner's is."""
    import json
    import os
    import subprocess
    import sys

    from walkshed import settings

    if not hasattr(os, "fork"):
        pytest.skip("the platform has no fork")
    env = {**os.environ, "WALKSHED_CACHE_DIR": str(settings.cache_dir)}

    def walkshed(workers: int, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", _SPY, str(workers), *args], env=env,
                              capture_output=True, text=True, timeout=600)

    outs = {}
    for workers, cache in ((1, "one"), (2, "two")):  # each fills its own empty cache
        env["WALKSHED_CACHE_DIR"] = str(tmp_path / cache)
        out = outs[workers] = tmp_path / f"workers-{workers}"
        res = walkshed(workers, "analyze", str(monaco_toml), "--out", str(out))
        assert res.returncode == 0, res.stderr
        forked = [ln.split()[-1] for ln in res.stderr.splitlines() if ln.startswith("forked")]
        # one process: the siting and the report run here; two: the other methods' residents
        # (placed for the first time), the siting and the report in second processes
        assert forked == (["False"] * 2 if workers == 1 else ["True"] * 3), res.stderr

    def summary(out: Path) -> dict:
        s = json.loads((out / "summary.json").read_text("utf-8"))
        for key in ("timings_s", "created"):
            s.pop(key, None)
        for key in ("command", "started", "seconds"):
            s.get("run", {}).pop(key, None)
        return s

    assert summary(outs[1]) == summary(outs[2])
    names = sorted(p.name for p in outs[1].iterdir())
    assert "report.pdf" in names and "proposed_sites.csv" in names
    assert names == sorted(p.name for p in outs[2].iterdir())
    for name in names:
        if name.endswith(".csv"):
            assert (outs[1] / name).read_bytes() == (outs[2] / name).read_bytes(), name
    assert (outs[2] / "report.pdf").stat().st_size > 10_000
    timings = json.loads((outs[2] / "summary.json").read_text("utf-8"))["timings_s"]
    assert {"Printing the report", "Proposing new sites (10 min)",
            "Placing residents by the other methods (for the comparison)"} <= set(timings)

    # an error raised in the second process: exit 2, one line, nothing written
    bad = tmp_path / "bad"
    res = walkshed(2, "rank", str(monaco_toml), "-p", "100000", "--out", str(bad))
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if not ln.startswith("forked")]
    assert len(lines) == 1 and "candidate sites" in lines[0], res.stderr
    assert not bad.exists()


_BACKGROUND = """
import logging, sys
from pathlib import Path
import numpy as np
from walkshed import _background, settings
from walkshed.pipeline import load_study

toml, cache = Path(sys.argv[1]), Path(sys.argv[2])
settings.workers, settings.cache_dir = 2, cache
said = []
handler = logging.Handler(logging.WARNING)
handler.emit = lambda r: said.append(r.getMessage())
logging.getLogger("walkshed").addHandler(handler)
here, _ = load_study(toml, cache=True)
assert here.pending_alternatives is None
for entry in cache.glob("demand-alternatives*"):
    entry.unlink()  # the second process places them again
said.clear()
assert _background.can_fork()
there, _ = load_study(toml, cache=True, background=True)
assert there.pending_alternatives is not None and there.demand_alternatives == {}
there.settle()
assert there.pending_alternatives is None
assert sorted(there.demand_alternatives) == sorted(here.demand_alternatives)
for name, a in here.demand_alternatives.items():
    b = there.demand_alternatives[name]
    assert list(a.columns) == list(b.columns) and a.crs == b.crs, name
    np.testing.assert_array_equal(a["population"].to_numpy(), b["population"].to_numpy())
    np.testing.assert_array_equal(np.asarray(a.geometry.x), np.asarray(b.geometry.x))
    np.testing.assert_array_equal(np.asarray(a.geometry.y), np.asarray(b.geometry.y))
assert there.demand_not_applicable == here.demand_not_applicable
assert any(cache.glob("demand-alternatives*"))  # placed into the cache
assert len(said) == len(set(said)), said  # each warning once
# without the cache there is nowhere to place them: placed here
off, _ = load_study(toml, cache=False, background=True)
assert off.pending_alternatives is None and off.demand_alternatives
print("ok")
"""


def test_other_methods_placed_in_a_second_process_are_the_same(monaco_toml: Path) -> None:
    """``load_study(background=True)``: the other methods' residents come through the cache
    from a second process, the same frames and warnings (each said once) as placed here. In
    a fresh process, as a planner's run is (a test process may run other threads, and then
    nothing is forked)."""
    import os
    import subprocess
    import sys

    from walkshed import settings

    if not hasattr(os, "fork"):
        pytest.skip("the platform has no fork")
    res = subprocess.run([sys.executable, "-c", _BACKGROUND, str(monaco_toml),
                          str(settings.cache_dir)], capture_output=True, text=True,
                         timeout=600, env={**os.environ, "PYTHONWARNINGS": "error"})
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


def test_pending_alternatives_placed_here_when_the_second_process_fails() -> None:
    """A failed or stopped second process: the residents are placed in this process (which
    raises any error as a run without the second process would), never silently left out."""
    import copy

    from walkshed import settings
    from walkshed._background import Background
    from walkshed.pipeline import Reporter, _Pending

    def boom(timings: dict) -> None:
        raise MemoryError("out of memory in the second process")

    old, settings.workers = settings.workers, 1
    try:
        failed = _Pending(Background(boom), lambda: ({"streets": "frame"}, {}))
        assert failed.result(Reporter()) == ({"streets": "frame"}, {})
        stopped = _Pending(Background(boom), lambda: ({"grid": "frame"}, {"raster": "none"}))
        stopped.close()  # e.g. by a run that failed before comparing
        assert copy.deepcopy(stopped) is stopped
        assert stopped.result(Reporter()) == ({"grid": "frame"}, {"raster": "none"})
    finally:
        settings.workers = old
