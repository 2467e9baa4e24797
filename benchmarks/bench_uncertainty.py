"""The comparison across population methods on Almaty: one search reused against one full
assessment per method.

Data: the Almaty 2012 extract, its 40 police points (4 planned) and the 8 districts with their
official populations, as in ``tests/data/almaty_2012.toml``; the residents placed by the
scenario's rule and by the four other methods (buildings, streets, area grid, buildings scaled
to the city total), within the density limits.

walkshed: :func:`walkshed.assessment.uncertainty.compare` (the precinct distances to every street
node searched once, each method's points snapped and read). Peer: a full
:func:`walkshed.assessment.assess` per method, which the comparison's figures equal. Also timed:
placing the residents by the other methods (``load_demand_alternatives``), the other part the
comparison adds to an ``analyze`` run.

Run: ``.venv/bin/python benchmarks/bench_uncertainty.py``
"""

from __future__ import annotations

import os
import time

from _common import REPO, need_data_root

SCENARIO = REPO / "tests" / "data" / "almaty_2012.toml"


def main() -> None:
    os.environ.setdefault("WALKSHED_TEST_DATA", str(need_data_root()))
    from walkshed import scenario as sc
    from walkshed.assessment import assess
    from walkshed.assessment.uncertainty import compare

    scen = sc.load_scenario(SCENARIO)
    net = sc.load_network_for(scen)
    demand = sc.load_demand(scen, net)
    police = sc.load_precincts(scen, net)
    districts = sc.load_districts(scen)
    opts = scen.assess_options()
    t = time.perf_counter()
    demands, _ = sc.load_demand_alternatives(scen, net, demand)
    place = time.perf_counter() - t
    base = assess(net, demand, police, districts=districts, **opts)
    best_cmp = best_peer = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        compare(net, base, police, demands, scenario_method=sc.own_method(scen),
                districts=districts)
        best_cmp = min(best_cmp, time.perf_counter() - t)
        t = time.perf_counter()
        for d in demands.values():
            assess(net, d, police, districts=districts, **opts)
        best_peer = min(best_peer, time.perf_counter() - t)
    print(f"{len(demands)} methods, {sum(len(d) for d in demands.values()):,} demand points")
    print(f"placing residents by the other methods: {place:.2f} s")
    print(f"compare (one search reused): {best_cmp:.2f} s; one assess per method: "
          f"{best_peer:.2f} s; speed-up {best_peer / best_cmp:.1f}x")


if __name__ == "__main__":
    main()
