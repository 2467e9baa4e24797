"""A city's part of a national OpenStreetMap extract: its area, and the clipped file.

Clipping keeps every node inside the area, every way with at least one node inside (whole,
with all its nodes, so streets crossing the edge are not cut) and the multipolygon relations
with a member inside: osmium-tool's ``complete_ways`` strategy. With osmium-tool installed
(``osmium`` on the PATH) it does the work, called with an argument list; otherwise pyosmium
reads the file twice in Python (slower on a national extract, same result).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Literal

import numpy as np
import osmium
import shapely

from .._errors import input_error
from ..io import atomic_path
from .config import Area

__all__ = ["area_geometry", "clip_extract", "relation_geometry"]

Tool = Literal["auto", "osmium-tool", "pyosmium"]


def relation_geometry(extract: Path, relation_id: int) -> Any:
    """The (multi)polygon of an OSM boundary relation, assembled from ``extract``.

    Parameters
    ----------
    extract
        An OSM file holding the relation and its member ways.
    relation_id
        The relation's id.

    Returns
    -------
    shapely.Geometry
        EPSG:4326.
    """
    wkb = osmium.geom.WKBFactory()
    found_relation = False
    fp: Any = osmium.FileProcessor(str(extract)).with_areas(osmium.filter.IdFilter([relation_id]))
    obj: Any
    for obj in fp:
        if obj.is_relation() and obj.id == relation_id:
            found_relation = True
        if obj.is_area() and not obj.from_way() and obj.orig_id() == relation_id:
            try:
                return shapely.from_wkb(bytes.fromhex(wkb.create_multipolygon(obj)))
            except RuntimeError as exc:
                raise input_error(f"relation {relation_id} in '{extract}'",
                                  f"its outline cannot be built ({exc})",
                                  "Give the city a bbox or a boundary file instead") from exc
    problem = ("its outline is not closed in this extract (member ways missing)"
               if found_relation else "is not in the extract")
    raise input_error(f"relation {relation_id}", f"{problem} ('{extract}')",
                      "Check the id on openstreetmap.org, or give a bbox or boundary file")


def area_geometry(area: Area, extract: Path) -> Any:
    """The area of a city as a (multi)polygon in EPSG:4326."""
    if area.kind == "bbox":
        assert isinstance(area.value, tuple)
        w, s, e, n = area.value
        return shapely.box(w, s, e, n)
    if area.kind == "relation":
        assert isinstance(area.value, int)
        return relation_geometry(extract, area.value)
    from ..io import read_vector

    assert isinstance(area.value, Path)
    gdf = read_vector(area.value, what="boundary file")
    if gdf.crs is None:
        raise input_error(f"boundary file '{area.value}'", "has no CRS",
                          "Save it with its coordinate reference system")
    geom = shapely.union_all(gdf.to_crs(4326).geometry.to_numpy())
    if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise input_error(f"boundary file '{area.value}'", "holds no polygon",
                          "Give the city's outline as a polygon")
    return geom


def clip_extract(source: Path, dest: Path, area: Any, *,
                 tool: Tool = "auto") -> Path:
    """Write the part of ``source`` inside ``area`` to ``dest`` (atomically).

    Parameters
    ----------
    source
        The OSM extract (.osm.pbf, .osm).
    dest
        The clipped file (.osm.pbf).
    area
        A (multi)polygon in EPSG:4326.
    tool
        ``osmium-tool`` (the ``osmium`` program), ``pyosmium``, or ``auto`` (the program when
        it is installed).

    Returns
    -------
    pathlib.Path
        ``dest``.
    """
    exe = shutil.which("osmium") if tool in ("auto", "osmium-tool") else None
    if tool == "osmium-tool" and exe is None:
        raise input_error("clipping", "osmium-tool is not installed",
                          "Install it (apt install osmium-tool) or use tool='pyosmium'")
    with atomic_path(dest) as tmp:
        if exe is not None:
            _clip_osmium_tool(exe, source, tmp, area)
        else:
            _clip_pyosmium(source, tmp, area)
    return dest


def _clip_osmium_tool(exe: str, source: Path, dest: Path, area: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        poly = Path(tmp) / "area.geojson"
        poly.write_text(json.dumps({"type": "Feature", "properties": {},
                                    "geometry": shapely.geometry.mapping(area)}))
        args = [exe, "extract", "--polygon", str(poly), "--strategy", "complete_ways",
                "--overwrite", "--no-progress", "--output", str(dest), "--output-format",
                "pbf", str(source)]
        done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise input_error(f"extract '{source}'", "osmium extract failed "
                          f"({' '.join(done.stderr.split())[:300]})",
                          "Check that the file is an OSM extract")


def _clip_pyosmium(source: Path, dest: Path, area: Any) -> None:
    w, s, e, n = area.bounds
    ids_l: list[int] = []
    xs: list[float] = []
    ys: list[float] = []
    node: Any
    for node in osmium.FileProcessor(str(source), osmium.osm.NODE):
        loc = node.location
        if loc.valid():
            x, y = loc.lon, loc.lat
            if w <= x <= e and s <= y <= n:
                ids_l.append(node.id)
                xs.append(x)
                ys.append(y)
    shapely.prepare(area)
    inside = shapely.intersects_xy(area, np.asarray(xs), np.asarray(ys))
    tracker = osmium.IdTracker()
    for i in np.asarray(ids_l, dtype=np.int64)[inside]:
        tracker.add_node(int(i))
    ways: set[int] = set()
    relations: list[int] = []
    # a file lists nodes, then ways, then relations: each way is seen before its relations
    obj: Any
    for obj in osmium.FileProcessor(str(source), osmium.osm.WAY | osmium.osm.RELATION):
        if obj.is_way() and tracker.contains_any_references(obj):
            ways.add(obj.id)
        elif (obj.is_relation() and obj.tags.get("type") == "multipolygon"
              and any(m.type == "w" and m.ref in ways for m in obj.members)):
            relations.append(obj.id)
    for wid in ways:
        tracker.add_way(wid)
    for rid in relations:
        tracker.add_relation(rid)
    tracker.complete_backward_references(str(source), relation_depth=0)
    with osmium.SimpleWriter(str(dest)) as writer:
        for obj in osmium.FileProcessor(str(source)).with_filter(tracker.id_filter()):
            writer.add(obj)
