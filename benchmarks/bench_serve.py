"""walkshed serve: time per edit, in the server and in the browser, and a loopback load run.

Data: the Almaty 2012 scenario (``tests/data/almaty_2012.toml``: 40 police points, 4 planned,
official district populations spread over the streets and buildings; ../shared/data or
$WALKSHED_TEST_DATA), and a generated street grid of about 500,000 nodes (the generator of
``bench_reach.py``) with random residents and precincts.

Measured:

- **server time per edit** (add, move, delete): the edit through the incremental state and
  the JSON figures the endpoint returns, p50 / p95, beside the peer: a full re-assessment
  (:func:`walkshed.assessment.assess`) of the same precincts per edit, as the ratio. Targets:
  Almaty p50 / p95 <= 30 ms, the 500k-node city p95 <= 300 ms.
- **browser round trip** on Almaty: a click on the map in Chromium to the updated figure on
  the page (``performance.now()`` around fetch and render), p95; target <= 150 ms.
- **load**: 20 clients at once x 100 edits each over loopback HTTP against one uvicorn
  server; no errors, every client's saved precincts equal to its own edits (no state mixed),
  and the process's resident memory after the first and the second half of the edits.

Run: ``.venv/bin/python benchmarks/bench_serve.py [--quick] [--no-browser] [--no-large]``
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import sys
import threading
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, need_data_root

from walkshed.serve import Base, Session
from walkshed.serve._deps import Study, assess, load_study
from walkshed.serve.app import _delta, create_app

CHROMIUM = Path("/usr/bin/chromium")


def pct(ms: list[float]) -> str:
    a = np.asarray(ms)
    return f"p50 {np.percentile(a, 50):8.1f} ms  p95 {np.percentile(a, 95):8.1f} ms  (n={len(a)})"


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def random_points(base: Base, rng: np.random.Generator, n: int) -> list[tuple[float, float]]:
    """``n`` lon/lat points the server accepts (inside the area, near a street)."""
    lon0, lat0, lon1, lat1 = base.study.precincts.total_bounds
    out: list[tuple[float, float]] = []
    while len(out) < n:
        lon, lat = float(rng.uniform(lon0, lon1)), float(rng.uniform(lat0, lat1))
        try:
            base.check_point(lon, lat)
        except Exception:
            continue
        out.append((lon, lat))
    return out


def edit_times(base: Base, n: int, seed: int = 0) -> tuple[dict[str, list[float]], Session]:
    """Server time (ms) of ``n`` adds, moves and deletes on one session."""
    rng = np.random.default_rng(seed)
    s = base.new_session()
    start = s.coverage_rows()
    pts = random_points(base, rng, 2 * n)
    times: dict[str, list[float]] = {"add": [], "move": [], "delete": []}
    added: list[str] = []
    for i in range(n):
        status = "planned" if i % 3 == 0 else "open"
        t0 = time.perf_counter()
        slots = s.add(*pts[i], status)
        _delta(s, slots, t0, start)
        times["add"].append((time.perf_counter() - t0) * 1000)
        r = s.rows[slots[0]]
        assert r is not None
        added.append(r.id)
    for i, pid in enumerate(added):
        t0 = time.perf_counter()
        slots = s.change(pid, lon=pts[n + i][0], lat=pts[n + i][1])
        _delta(s, slots, t0, start)
        times["move"].append((time.perf_counter() - t0) * 1000)
    for pid in added:
        t0 = time.perf_counter()
        slots = s.delete(pid)
        _delta(s, slots, t0, start)
        times["delete"].append((time.perf_counter() - t0) * 1000)
    return times, s


def peer_times(base: Base, session: Session, n: int) -> list[float]:
    """A full assessment of the session's precincts, ``n`` times (ms)."""
    out = []
    frame, opts = session.frame(), session.assess_options()
    for _ in range(n):
        t0 = time.perf_counter()
        assess(base.network, base.study.demand, frame, districts=base.study.districts, **opts)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def report_edits(title: str, base: Base, n: int, n_peer: int) -> None:
    print(f"\n{title}")
    times, s = edit_times(base, n)
    everything = [t for v in times.values() for t in v]
    for k, v in times.items():
        print(f"  server, {k:<8s} {pct(v)}")
    print(f"  server, all      {pct(everything)}")
    peer = peer_times(base, s, n_peer)
    ratio = np.median(peer) / np.median(everything)
    print(f"  peer: full re-assessment per edit  median {np.median(peer):9.1f} ms  "
          f"-> incremental edit is {ratio:,.0f}x faster (median)")


# -- a real server and clients ------------------------------------------------------------


class Server:
    """uvicorn in a thread on a free loopback port."""

    def __init__(self, base: Base) -> None:
        import uvicorn

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.app = create_app(base)
        self.srv = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port,
                                                 log_level="error", access_log=False))
        self.th = threading.Thread(target=self.srv.run, daemon=True)
        self.th.start()
        while not self.srv.started:
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        self.srv.should_exit = True
        self.th.join(timeout=10)


def browser_round_trip(base: Base, server: Server, n: int) -> None:
    from playwright.sync_api import sync_playwright

    rng = np.random.default_rng(3)
    pts = random_points(base, rng, n)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = b.new_page(viewport={"width": 1400, "height": 900})
        page.goto(server.url)
        page.wait_for_function("() => window.walkshed.ready", timeout=60_000)
        box = page.locator("#map").bounding_box()
        missed = 0
        for lon, lat in pts:
            done = page.evaluate("window.walkshed.timings.length")
            xy = page.evaluate(f"(() => {{ const p = window.walkshed.map.latLngToContainerPoint("
                               f"[{lat}, {lon}]); return [p.x, p.y]; }})()")
            page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])
            try:  # a click on a marker selects it instead of adding one
                page.wait_for_function(f"() => window.walkshed.timings.length > {done}",
                                       timeout=5_000)
            except Exception:
                missed += 1
            page.wait_for_timeout(30)
        if missed:
            print(f"  ({missed} click(s) hit a marker or were refused)")
        timings = page.evaluate("window.walkshed.timings")
        b.close()
    ms = [t["ms"] for t in timings if t["what"] == "add"]
    print(f"  browser, click to updated figure   {pct(ms)}")


def load_run(base: Base, server: Server, clients: int, edits: int) -> None:
    import httpx2 as httpx

    pts = random_points(base, np.random.default_rng(5), 400)
    errors: list[str] = []
    mixed: list[str] = []
    rss: dict[str, float] = {"before": rss_mib()}
    half = threading.Barrier(clients + 1)
    server_ms: list[float] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        rng = np.random.default_rng(100 + k)
        with httpx.Client(base_url=server.url, timeout=60) as c:
            sid = c.post("/api/session").json()["session"]
            h = {"X-Walkshed-Session": sid}
            mine: dict[str, tuple[str, float, float]] = {}
            history: list[dict[str, tuple[str, float, float]]] = []
            for i in range(edits):
                if i == edits // 2:
                    half.wait()
                op = rng.integers(4) if mine else 0
                before = dict(mine)
                if op == 0:
                    lon, lat = pts[int(rng.integers(len(pts)))]
                    r = c.post("/api/add", json={"lon": lon, "lat": lat, "status": "planned"},
                               headers=h)
                elif op == 1:
                    pid = sorted(mine)[int(rng.integers(len(mine)))]
                    lon, lat = pts[int(rng.integers(len(pts)))]
                    r = c.post("/api/move", json={"id": pid, "lon": lon, "lat": lat}, headers=h)
                elif op == 2:
                    pid = sorted(mine)[int(rng.integers(len(mine)))]
                    r = c.post("/api/delete", json={"id": pid}, headers=h)
                else:
                    r = c.post("/api/undo", headers=h)
                if r.status_code != 200:
                    errors.append(f"client {k}: {r.status_code} {r.text[:100]}")
                    continue
                d = r.json()
                with lock:
                    server_ms.append(d["server_ms"])
                if op == 3:
                    mine = history.pop()
                else:
                    history.append(before)
                    for p in d["precincts"]:
                        if p["present"]:
                            mine[p["id"]] = (p["status"], p["lon"], p["lat"])
                        else:
                            mine = {q: v for q, v in mine.items() if q != pid}
            saved = pd.read_csv(io.StringIO(c.get("/api/save/precincts.csv", headers=h).text))
            new = saved[saved["id"].astype(str).str.startswith("new-")]
            got = {str(r.id): (r.status, float(r.lon), float(r.lat)) for r in new.itertuples()}
            if got != mine:
                mixed.append(f"client {k}: saved {len(got)} new precincts, made {len(mine)}")

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    half.wait()
    rss["half"] = rss_mib()
    for t in threads:
        t.join()
    took = time.perf_counter() - t0
    rss["end"] = rss_mib()
    total = clients * edits
    print(f"  load: {clients} clients x {edits} edits = {total} edits in {took:.1f} s "
          f"({total / took:,.0f} edits/s); errors {len(errors)}; states mixed {len(mixed)}")
    print(f"  load: server time per edit under load {pct(server_ms)}")
    print(f"  load: resident memory {rss['before']:.0f} MiB before, {rss['half']:.0f} MiB after "
          f"half the edits, {rss['end']:.0f} MiB at the end")
    for e in (errors + mixed)[:5]:
        print("   ", e)


# -- the generated city -------------------------------------------------------------------


def generated_study(side: int, n_res: int, n_open: int, n_planned: int) -> Study:
    from bench_reach import generated_network

    net = generated_network(side)
    rng = np.random.default_rng(1)
    lo, hi = net.node_xy.min(axis=0), net.node_xy.max(axis=0)
    res = gpd.GeoDataFrame({"population": rng.uniform(1, 40, n_res)},
                           geometry=shapely.points(rng.uniform(lo, hi, (n_res, 2))),
                           crs=net.crs)
    k = n_open + n_planned
    fac = gpd.GeoSeries(shapely.points(rng.uniform(lo, hi, (k, 2))), crs=net.crs).to_crs(4326)
    precincts = gpd.GeoDataFrame(
        {"name": [f"P{i}" for i in range(k)],
         "status": ["open"] * n_open + ["planned"] * n_planned},
        index=pd.Index([f"P{i}" for i in range(k)], name="precinct"), geometry=fac.values,
        crs="EPSG:4326")
    return Study(name=f"generated {side}x{side}", network=net, demand=res,
                 precincts=precincts,
                 assess_options={"thresholds_min": (5.0, 10.0, 15.0), "main_threshold": 10.0,
                                 "cells": "grid"})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer edits, a smaller city")
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--no-large", action="store_true")
    args = ap.parse_args(argv)
    os.environ.setdefault("WALKSHED_TEST_DATA", str(need_data_root()))
    n = 15 if args.quick else 40
    t0 = time.perf_counter()
    study, scen = load_study(REPO / "tests" / "data" / "almaty_2012.toml")
    base = Base(study, scen)
    print(f"Almaty 2012: {study.network.n_nodes:,} nodes, {len(study.demand):,} demand points, "
          f"{len(study.precincts)} precincts (loaded in {time.perf_counter() - t0:.1f} s)")
    report_edits("Almaty: per edit", base, n, 3)
    server = Server(base)
    try:
        if not args.no_browser and CHROMIUM.exists():
            browser_round_trip(base, server, 20 if args.quick else 40)
        load_run(base, server, 20, 30 if args.quick else 100)
    finally:
        server.stop()
    if not args.no_large:
        side = 300 if args.quick else 707
        t0 = time.perf_counter()
        big = Base(generated_study(side, 200_000, 150, 10))
        print(f"\nGenerated city: {big.network.n_nodes:,} nodes, {big.network.n_edges:,} edges, "
              f"200,000 residents, 160 precincts (built in {time.perf_counter() - t0:.1f} s)")
        report_edits("Generated city: per edit", big, 10 if args.quick else 20, 1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
