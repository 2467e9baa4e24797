"""A planner's whole job on Almaty: walkshed's commands end to end beside the osmnx-notebook way.

The scenario is the test scenario ``tests/data/almaty_2012.toml`` (Almaty 2012 OpenStreetMap
extract, the official district populations spread over buildings or streets, about 43,000
demand points, the 2012 police points, four of them planned) with ``[siting] new_sites = 10``
added, written to a temporary folder with absolute paths.

walkshed, each command a fresh process (interpreter start and imports counted, as a planner
waits for them), best of ``--repeat``; on two cores or more a run overlaps independent steps in a
second process (``--one-process`` also times ``WALKSHED_WORKERS=1``):

* ``analyze`` with an empty cache (network, residents, street candidates, coverage matrix,
  walking areas and the siting answer computed) and warm (all read from the cache);
* ``rank -p 10`` and ``rank --target-share 0.5`` warm, with the gap they proved;
* "answer solved": warm inputs, but the siting answer solved again (its cache entries
  removed before each run), as a run asking a new siting question of the same city is.

The osmnx-notebook way of the same assessment, in this process (imports not counted): the PBF
converted to OSM XML with ``osmium cat`` (timed), ``ox.graph_from_xml`` (simplified, as
notebooks do), ``ox.project_graph``, ``ox.distance.nearest_nodes`` for the demand points and
the precincts, ``nx.ego_graph(G, node, radius, distance="length")`` per precinct and per
threshold (5, 10, 15 minutes), and residents counted at the nodes reached. It gets the demand
points ready-made from walkshed (their placement is not timed) and does no siting at all, so
the ratio understates walkshed's lead.

Run: ``.venv/bin/python benchmarks/bench_pipeline.py [--repeat 2] [--skip-notebook]
[--one-process]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, load, need_data_root

WALKSHED = str(Path(sys.executable).with_name("walkshed"))
SPEED = 4.5
THRESHOLDS = (5.0, 10.0, 15.0)


def scenario(folder: Path, data: Path) -> Path:
    """The Almaty test scenario with absolute paths and ten new sites asked for."""
    text = (REPO / "tests" / "data" / "almaty_2012.toml").read_text(encoding="utf-8")
    text = text.replace("${WALKSHED_TEST_DATA}", str(data))
    text = text.replace("../../data/", str(REPO / "data") + "/")
    text += '\n[siting]\nnew_sites = 10\nfix = "open+planned"\nmethod = "auto"\n'
    path = folder / "almaty.toml"
    path.write_text(text, encoding="utf-8")
    return path


def run(args: list[str], cache: Path, workers: int | None = None) -> tuple[float, dict]:
    env = dict(os.environ, WALKSHED_CACHE_DIR=str(cache))
    env.pop("WALKSHED_WORKERS", None)
    if workers is not None:
        env["WALKSHED_WORKERS"] = str(workers)
    t0 = time.perf_counter()
    out = subprocess.run([WALKSHED, *args, "--json"], env=env, capture_output=True, text=True,
                         check=False)
    t = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"walkshed {' '.join(args)} failed:\n{out.stderr}")
    return t, json.loads(out.stdout)


def sites_line(summary: dict) -> str:
    s = summary.get("proposed_sites") or {}
    n = len(s.get("sites", []))
    return (f"{n} sites, {s.get('method')} ({s.get('status')}), gap {s.get('gap', 0):.2%}, "
            f"covered {s.get('covered_share_before', 0):.1%} -> "
            f"{s.get('covered_share_after', 0):.1%}")


def walkshed_runs(toml: Path, work: Path, repeat: int, one_process: bool
                  ) -> dict[str, float]:
    times: dict[str, float] = {}
    modes: list[int | None] = [None, 1] if one_process else [None]

    def show(label: str, best: dict[int | None, float], summary: dict) -> None:
        alone = f"; one process {best[1]:.2f} s" if 1 in best else ""
        print(f"  {label:38s}: {best[None]:6.2f} s{alone}  ({sites_line(summary)}) [{load()}]")
        print(f"     steps: {summary.get('timings_s')}")

    cold: dict[int | None, float] = {}
    for workers in modes:
        for i in range(repeat):
            cache = work / f"cold-cache-{workers}-{i}"  # empty every time
            t, summary = run(["analyze", str(toml), "--out", str(work / f"out-cold-{workers}-{i}")],
                             cache, workers)
            cold[workers] = min(cold.get(workers, t), t)
    times["analyze, empty cache"] = cold[None]
    show("analyze, empty cache", cold, summary)
    warm_cache = work / "cold-cache-None-0"
    # (arguments, whether the siting answer is solved afresh: its cache entries removed first)
    jobs = {
        "analyze, warm cache": (["analyze", str(toml)], False),
        "analyze, answer solved": (["analyze", str(toml)], True),
        "rank -p 10, warm": (["rank", str(toml), "-p", "10"], False),
        "rank -p 10, answer solved": (["rank", str(toml), "-p", "10"], True),
        "rank --target-share 0.5, answer solved": (
            ["rank", str(toml), "--target-share", "0.5"], True),
        "rank --target-share 0.5, warm": (["rank", str(toml), "--target-share", "0.5"], False),
    }
    for label, (args, solve) in jobs.items():
        best: dict[int | None, float] = {}
        for workers in modes:
            for i in range(repeat):
                if solve:
                    for entry in warm_cache.glob("siting-answer-*.npz"):
                        entry.unlink()
                t, summary = run([*args, "--out", str(work / f"out-{len(times)}-{workers}-{i}")],
                                 warm_cache, workers)
                best[workers] = min(best.get(workers, t), t)
        times[label] = best[None]
        show(label, best, summary)
    return times


def notebook_way(toml: Path, data: Path, work: Path) -> tuple[float, dict[float, float]]:
    """The assessment the osmnx way; returns its time and the covered share per threshold."""
    import networkx as nx
    import numpy as np
    import osmnx as ox

    from walkshed import settings
    from walkshed.pipeline import load_study

    settings.cache_dir = work / "notebook-cache"
    study, _ = load_study(toml, cache=True)  # demand points, ready-made (not timed)
    demand = study.demand.to_crs("EPSG:4326")
    police = study.precincts
    police = police[police["status"] == "open"].to_crs("EPSG:4326")
    w = demand["population"].to_numpy(float)
    pbf = data / "almaty-osm-2012" / "almaty.osm.pbf"
    t0 = time.perf_counter()
    t_xml = 0.0
    try:  # PBF -> OSM XML -> osmnx, as in osmnx's own examples
        xml = work / "almaty.osm"
        subprocess.run(["osmium", "cat", str(pbf), "-o", str(xml), "--overwrite"], check=True)
        t_xml = time.perf_counter() - t0
        g = ox.graph_from_xml(xml, simplify=True, retain_all=False)
        how = "osmium cat + ox.graph_from_xml"
    except (ValueError, OSError, subprocess.CalledProcessError) as exc:
        # osmnx rejects a clipped extract (ways whose nodes lie outside it): the pyrosm way
        print(f"     ox.graph_from_xml failed ({exc}); pyrosm's walking network instead")
        import pyrosm

        osm = pyrosm.OSM(str(pbf))
        nodes, edges = osm.get_network(network_type="walking", nodes=True)
        g = osm.to_graph(nodes, edges, graph_type="networkx")
        how = "pyrosm get_network + to_graph"
    g = ox.project_graph(g)
    t_load = time.perf_counter() - t0
    crs = g.graph["crs"]
    dpts = demand.to_crs(crs)
    ppts = police.to_crs(crs)
    dnode = np.asarray(ox.distance.nearest_nodes(g, dpts.geometry.x.to_numpy(),
                                                 dpts.geometry.y.to_numpy()))
    pnode = np.asarray(ox.distance.nearest_nodes(g, ppts.geometry.x.to_numpy(),
                                                 ppts.geometry.y.to_numpy()))
    shares = {}
    for minutes in THRESHOLDS:
        radius = minutes * SPEED * 1000 / 60
        reached: set[int] = set()
        for n in pnode:
            reached |= set(nx.ego_graph(g, int(n), radius=radius, distance="length").nodes)
        hit = np.fromiter((int(n) in reached for n in dnode), bool, len(dnode))
        shares[minutes] = float(w[hit].sum() / w.sum())
    t = time.perf_counter() - t0
    print(f"  osmnx notebook way   : {t:6.2f} s  ({how}: {t_load:.2f} s, of it XML "
          f"{t_xml:.2f} s; nearest nodes + ego graphs "
          f"{t - t_load:.2f} s; {g.number_of_nodes():,} nodes) [{load()}]")
    print("     covered share (node-snapped, no access distance): "
          + ", ".join(f"{m:g} min {s:.1%}" for m, s in shares.items()))
    return t, shares


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--skip-notebook", action="store_true")
    ap.add_argument("--one-process", action="store_true",
                    help="also time each command with WALKSHED_WORKERS=1 (no second process)")
    args = ap.parse_args()
    data = need_data_root()
    if not Path(WALKSHED).exists():
        sys.exit(f"the walkshed command is not at {WALKSHED}")
    with tempfile.TemporaryDirectory(prefix="walkshed-bench-") as tmp:
        work = Path(tmp)
        toml = scenario(work, data)
        print(f"Almaty 2012 scenario ({toml.name}), each walkshed command a fresh process, "
              f"best of {args.repeat}; {os.cpu_count()} cores")
        times = walkshed_runs(toml, work, args.repeat, args.one_process)
        if args.skip_notebook:
            return
        t_nb, _ = notebook_way(toml, data, work)
        print("  (the notebook way: assessment at 5/10/15 min only, no siting, no map)")
        for label in ("analyze, empty cache", "analyze, warm cache"):
            print(f"  ratio osmnx-notebook assessment / walkshed {label}: "
                  f"{t_nb / times[label]:.1f}x")


if __name__ == "__main__":
    main()
