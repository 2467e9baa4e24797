"""Saving an edited state: the precincts (CSV, GeoJSON) and a scenario that reproduces it.

The scenario is the one the server was started with, its ``[[precincts]]`` replaced by the
saved CSV (``precincts.csv`` beside it), its paths made absolute (the file is downloaded
elsewhere) and its main threshold the one shown. ``walkshed analyze`` on it gives the
figures of the state.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pandas as pd

from .state import Session

__all__ = ["PRECINCTS_FILE", "precincts_csv", "precincts_geojson", "scenario_toml"]

#: The name the scenario gives the saved precinct table.
PRECINCTS_FILE = "precincts.csv"

# keys holding paths, by table ("" = top level); paths are made absolute
_PATH_KEYS = {"network": ("file",), "population": ("file", "buildings", "counts"),
              "districts": ("file",), "siting": ("candidates",)}
_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _rows(session: Session) -> list[Any]:
    return [session.rows[i] for i in session.slots().tolist()]


def precincts_csv(session: Session) -> str:
    """The assessed precincts as CSV (``id, name, status, kind, lat, lon``), in table order."""
    rows = _rows(session)
    frame = pd.DataFrame({
        "id": [r.id for r in rows], "name": [r.name for r in rows],
        "status": [r.status for r in rows], "kind": [session.kind_of(r.id) for r in rows],
        "lat": [r.lat for r in rows], "lon": [r.lon for r in rows],
    })
    buf = io.StringIO()
    frame.to_csv(buf, index=False, lineterminator="\n")  # floats written to round-trip
    return buf.getvalue()


def precincts_geojson(session: Session) -> dict[str, Any]:
    """The assessed precincts as a GeoJSON FeatureCollection (EPSG:4326)."""
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": r.id,
             "properties": {"id": r.id, "name": r.name, "status": r.status,
                            "kind": session.kind_of(r.id)},
             "geometry": {"type": "Point", "coordinates": [r.lon, r.lat]}}
            for r in _rows(session)
        ],
    }


def _absolute(value: str, base: Path) -> str:
    p = Path(os.path.expanduser(os.path.expandvars(value)))
    return str(p if p.is_absolute() else (base / p).resolve())


def scenario_toml(session: Session) -> str:
    """A scenario file reproducing the session's state with ``precincts.csv`` beside it.

    Raises
    ------
    walkshed.InputError
        When the server was started without a scenario file.
    """
    from .._errors import input_error
    from ..vetting import KINDS

    scen = session.base.scenario
    path = getattr(scen, "path", None)
    if path is None:
        raise input_error("save", "this study was not loaded from a scenario file",
                          "Save the precincts (CSV or GeoJSON) instead")
    path = Path(path)
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    base = path.resolve().parent
    for table, keys in _PATH_KEYS.items():
        t = data.get(table)
        if isinstance(t, dict):
            for k in keys:
                v = t.get(k)
                if isinstance(v, str) and not (table == "siting"
                                               and v.strip().lower() in ("network", "planned")):
                    t[k] = _absolute(v, base)
    out = data.get("output")
    if isinstance(out, dict):
        out.pop("dir", None)  # the outputs go to out/<file name>, not over the original's
    # every kind counts: the saved table is the one the planner kept (already vetted)
    data["precincts"] = [{"file": PRECINCTS_FILE, "kinds": list(KINDS)}]
    data["name"] = f"{data.get('name', path.stem)} (edited in walkshed serve)"
    t = session.base.thresholds
    main = float((t.metres if t.in_metres else t.minutes)[session.main_index])
    data["main_threshold"] = int(main) if main.is_integer() else main
    header = (f"# Written by walkshed serve from {path.name}: the edited precincts are in "
              f"{PRECINCTS_FILE} beside this file.\n")
    return header + dumps(data)


def _key(k: str) -> str:
    return k if _BARE.match(k) else json.dumps(k, ensure_ascii=False)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def dumps(data: dict[str, Any]) -> str:
    """A TOML document of plain values (tables and arrays of tables one level deep)."""
    lines: list[str] = []
    tables, arrays = {}, {}
    for k, v in data.items():
        if isinstance(v, dict):
            tables[k] = v
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            arrays[k] = v
        else:
            lines.append(f"{_key(k)} = {_value(v)}")
    for k, t in tables.items():
        lines += ["", f"[{_key(k)}]"] + [f"{_key(a)} = {_value(b)}" for a, b in t.items()]
    for k, items in arrays.items():
        for t in items:
            lines += ["", f"[[{_key(k)}]]"] + [f"{_key(a)} = {_value(b)}" for a, b in t.items()]
    return "\n".join(lines) + "\n"
