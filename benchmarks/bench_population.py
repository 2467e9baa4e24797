"""Benchmark: one million demand points from a population raster.

Writes synthetic GeoTIFFs in EPSG:4326 over Almaty (so every cell centre is reprojected to UTM):

- ``fine``: ~1.0 million populated 0.0005° cells (~40 x 55 m, WorldPop 100 m class), the rest
  nodata or zero;
- ``coarse``: ~10,000 populated 0.01° cells (~0.8 x 1.1 km, GHSL 1 km class), each split into a
  12 x 12 grid of points (~1.4 million points).

Each build runs in a fresh Python process so that its peak memory (``ru_maxrss``) is its own.
The peer is the plain geopandas way: read the whole band, make a point per populated cell with
``points_from_xy`` and ``GeoSeries.to_crs``, then clip with ``within`` (no windows, no sub-grid).
Target from the issue: under 30 s and 4 GB for a million points.

Run: ``.venv/bin/python benchmarks/bench_population.py``
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

LON0, LAT1 = 76.70, 43.45  # north-west corner, Almaty
UTM = "EPSG:32643"


def write_rasters(folder: Path) -> dict[str, Path]:
    import rasterio
    from affine import Affine

    rng = np.random.default_rng(0)
    out = {}
    # fine: 1100 x 1000 cells, ~9 % nodata or zero
    h, w = 1000, 1100
    data = rng.gamma(2.0, 20.0, (h, w)).astype(np.float32)
    kind = rng.random((h, w))
    data[kind < 0.06] = -99999.0
    data[(kind >= 0.06) & (kind < 0.09)] = 0.0
    path = folder / "fine.tif"
    with rasterio.open(
        path, "w", driver="GTiff", height=h, width=w, count=1, dtype="float32",
        crs="EPSG:4326", transform=Affine(0.0005, 0, LON0, 0, -0.0005, LAT1), nodata=-99999.0,
        tiled=True, blockxsize=256, blockysize=256, compress="deflate",
    ) as dst:
        dst.write(data, 1)
    out["fine"] = path
    # coarse: 100 x 110 cells of 0.01 deg
    h, w = 100, 110
    data = rng.gamma(2.0, 800.0, (h, w)).astype(np.float32)
    path = folder / "coarse.tif"
    with rasterio.open(
        path, "w", driver="GTiff", height=h, width=w, count=1, dtype="float32",
        crs="EPSG:4326", transform=Affine(0.01, 0, LON0, 0, -0.01, LAT1), nodata=-99999.0,
    ) as dst:
        dst.write(data, 1)
    out["coarse"] = path
    return out


def run_walkshed(path: str) -> dict[str, float]:
    from walkshed.population import demand_from_raster

    t = time.perf_counter()
    d = demand_from_raster(path, crs=UTM)
    dt = time.perf_counter() - t
    rep = d.report
    return {
        "seconds": dt,
        "points": len(d.points),
        "total": d.total,
        "expected": float(rep["population_in"].sum()),
        "windows": len(rep),
        "split": int(rep["split"].max()),
    }


def run_peer(path: str) -> dict[str, float]:
    import geopandas as gpd
    import rasterio

    t = time.perf_counter()
    with rasterio.open(path) as src:
        a = src.read(1, masked=True)
        tr = src.transform
        crs = src.crs
    r, c = np.nonzero(~np.ma.getmaskarray(a) & (a.filled(0) > 0))
    x = tr.c + (c + 0.5) * tr.a
    y = tr.f + (r + 0.5) * tr.e
    pts = gpd.GeoDataFrame(
        {"population": a.data[r, c].astype(np.float64)},
        geometry=gpd.points_from_xy(x, y), crs=crs.to_wkt(),
    ).to_crs(UTM)
    dt = time.perf_counter() - t
    return {"seconds": dt, "points": len(pts), "total": float(pts["population"].sum())}


def child(which: str, path: str) -> None:
    import resource

    res = run_walkshed(path) if which == "walkshed" else run_peer(path)
    res["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(res))


def measure(which: str, path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", which, str(path)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_rasters(Path(tmp))
        for name, path in paths.items():
            ours = measure("walkshed", path)
            peer = measure("peer", path)
            ok = abs(ours["total"] - ours["expected"]) <= 1e-9 * ours["expected"]
            print(
                f"{name:6s} walkshed: {ours['points']:>9,.0f} points in {ours['seconds']:5.2f} s, "
                f"peak {ours['peak_mb']:6.0f} MB, {ours['windows']:.0f} windows, "
                f"split {ours['split']:.0f}x{ours['split']:.0f}, total conserved: {ok}"
            )
            print(
                f"{'':6s} peer    : {peer['points']:>9,.0f} points in {peer['seconds']:5.2f} s, "
                f"peak {peer['peak_mb']:6.0f} MB (whole read, one point per cell, no sub-grid)"
            )
            print(
                f"{'':6s} ratio   : time {ours['seconds'] / peer['seconds']:.2f}x, "
                f"memory {ours['peak_mb'] / peer['peak_mb']:.2f}x of the peer; "
                f"target <30 s and <4096 MB: "
                f"{'met' if ours['seconds'] < 30 and ours['peak_mb'] < 4096 else 'MISSED'}"
            )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
