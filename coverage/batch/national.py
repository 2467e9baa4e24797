"""The national picture: one table row per city, national totals, ranking, workbook, map.

Everything here is read back from each city's ``summary.json`` (so a rerun that skipped
finished cities gives the same national outputs as a fresh run) and written atomically into
the batch folder: ``national.csv``, ``national.xlsx`` (sheets ``cities``, ``ranking``,
``totals``, ``failed``), ``national.json`` and ``index.html`` (one outline and marker per city,
coloured by the share covered today at the main threshold, linking to the city's map).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..io import OutputDir, to_jsonable

if TYPE_CHECKING:
    from .config import BatchConfig
    from .run import CityOutcome

__all__ = ["city_row", "national_table", "national_totals", "write_national"]


def _label(minutes: float) -> str:
    return f"{minutes:g}min"


def city_row(summary: dict[str, Any]) -> dict[str, Any]:
    """The national table's row of one city, from its ``summary.json``.

    Parameters
    ----------
    summary
        A finished city's summary.

    Returns
    -------
    dict
        ``residents``; per threshold ``covered_open_<t>``, ``share_open_<t>``,
        ``share_with_planned_<t>``; ``beyond_open`` (residents beyond the main threshold from
        every open precinct) and ``beyond_with_planned``; ``precincts_<status>`` and, when the
        precincts carry a ``kind``, ``kind_<kind>``; ``inspectors_needed`` (the norm applied to
        every open precinct's catchment, and to residents no precinct reaches),
        ``inspectors_on_staff``, ``inspectors_gap``; ``new_sites`` and ``target_met``
        (the fewest new sites for the batch's target share).
    """
    st = summary["settings"]
    main = float(st["main_threshold_min"])
    row: dict[str, Any] = {"residents": float(summary["residents"])}
    for c in summary["coverage"]:
        t = _label(float(c["threshold_min"]))
        row[f"covered_open_{t}"] = c["covered_open"]
        row[f"share_open_{t}"] = c["share_open"]
        row[f"covered_with_planned_{t}"] = c["covered_with_planned"]
        row[f"share_with_planned_{t}"] = c["share_with_planned"]
    m = _label(main)
    row["beyond_open"] = row["residents"] - row[f"covered_open_{m}"]
    row["beyond_with_planned"] = row["residents"] - row[f"covered_with_planned_{m}"]
    for status, n in summary.get("precinct_counts", {}).items():
        row[f"precincts_{status}"] = int(n)
    catch = pd.DataFrame(summary.get("catchments") or [])
    if "kind" in catch.columns:
        kinds = catch.drop_duplicates("precinct")["kind"].dropna().astype(str)
        for kind, n in kinds.value_counts().sort_index().items():
            row[f"kind_{kind}"] = int(n)
    need = 0
    staffing = (summary.get("staffing") or {}).get("open")
    if staffing is not None:  # the run's own total (one rounding rule, far catchments apart)
        need = int(staffing["inspectors_needed"])
    elif len(catch):
        today = catch[catch["scenario"] == "open"]
        norm = float(st["residents_per_inspector"])
        for r in today.itertuples():
            v = getattr(r, "inspectors_needed", None)
            if v is None or (isinstance(v, float) and math.isnan(v)):
                v = math.ceil(float(r.residents_served) / norm)  # type: ignore[arg-type]
            need += int(v)
    row["inspectors_needed"] = need
    staff = (summary.get("batch") or {}).get("inspectors_on_staff")
    row["inspectors_on_staff"] = staff
    row["inspectors_gap"] = None if staff is None else need - int(staff)
    sites = summary.get("proposed_sites")
    if sites:
        row["new_sites"] = len(sites.get("sites") or [])
        row["target_share"] = sites.get("target_share")
        row["target_met"] = sites.get("target_met")
        row["share_after_new_sites"] = sites.get("covered_share_after")
    return row


def _summary(folder: Path) -> dict[str, Any] | None:
    try:
        s = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return s if isinstance(s, dict) else None


def national_table(outcomes: list[CityOutcome]) -> pd.DataFrame:
    """One row per city (finished, skipped as finished, or failed with its error).

    Parameters
    ----------
    outcomes
        The batch's outcomes, in the batch file's order.

    Returns
    -------
    pandas.DataFrame
        ``city``, ``folder``, ``status``, ``error``, ``map`` (the city's map, relative to the
        batch folder) and the columns of :func:`city_row`.
    """
    rows = []
    for o in outcomes:
        base: dict[str, Any] = {"city": o.name, "folder": o.folder.name, "status": o.status,
                                "error": o.error}
        s = _summary(o.folder) if o.status != "failed" else None
        if s is not None:
            base.update(city_row(s))
            if "coverage_map.html" in s.get("outputs", []):
                base["map"] = f"{o.folder.name}/coverage_map.html"
        rows.append(base)
    return pd.DataFrame(rows)


def national_totals(table: pd.DataFrame, main_label: str) -> dict[str, Any]:
    """Sums over the cities with results; shares are of the national residents."""
    ok = table[table["status"] != "failed"] if len(table) else table
    res = float(ok["residents"].sum()) if "residents" in ok else 0.0
    out: dict[str, Any] = {"cities": len(table), "cities_with_results": len(ok),
                           "cities_failed": int((table["status"] == "failed").sum())
                           if len(table) else 0, "residents": res}
    for col in ok.columns:
        if col.startswith(("covered_", "beyond_", "precincts_", "kind_", "inspectors_",
                           "new_sites")):
            out[col] = float(pd.to_numeric(ok[col], errors="coerce").sum())
    for col in [c for c in ok.columns if c.startswith("covered_")]:
        out[col.replace("covered_", "share_", 1)] = out[col] / res if res else None
    staffed = ok["inspectors_on_staff"].notna() if "inspectors_on_staff" in ok else None
    if staffed is not None:
        out["inspectors_gap"] = float(
            (ok.loc[staffed, "inspectors_needed"] - ok.loc[staffed, "inspectors_on_staff"]
             .astype(float)).sum())
        out["cities_with_staff_figures"] = int(staffed.sum())
    out["main_threshold"] = main_label
    return out


def _ranking(table: pd.DataFrame) -> pd.DataFrame:
    ok = table[table["status"] != "failed"]
    if "beyond_open" not in ok:
        return pd.DataFrame(columns=["rank", "city", "beyond_open"])
    cols = [c for c in ("city", "residents", "beyond_open", "beyond_with_planned",
                        "new_sites", "inspectors_gap") if c in ok]
    rank = ok.sort_values(["beyond_open", "city"], ascending=[False, True])[cols]
    rank.insert(0, "rank", range(1, len(rank) + 1))
    return rank.reset_index(drop=True)


def _write_xlsx(sheets: dict[str, pd.DataFrame], path: Path) -> None:
    """A workbook; text is always stored as text (a name starting with '=' is no formula)."""
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.remove(wb.active)
    for title, frame in sheets.items():
        ws = wb.create_sheet(title)
        ws.append([str(c) for c in frame.columns])
        for values in frame.itertuples(index=False):
            ws.append([None if v is None or (isinstance(v, float) and not math.isfinite(v))
                       else v for v in values])
        for row in ws.iter_rows(min_row=1):
            for cell in row:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
        for i, col in enumerate(frame.columns, start=1):
            ws.column_dimensions[get_column_letter(i)].width = max(10, min(40, len(str(col)) + 2))
        ws.freeze_panes = "B2"
    wb.save(path)


def write_national(config: BatchConfig, folder: Path, outcomes: list[CityOutcome], *,
                   offline: bool = False) -> tuple[pd.DataFrame, dict[str, Any], list[Path]]:
    """Write the national outputs into the batch folder (atomically, all or none).

    Parameters
    ----------
    config
        The batch.
    folder
        The batch folder (the cities' folders are inside).
    outcomes
        The outcomes of every city.
    offline
        An index map with no web tiles.

    Returns
    -------
    (pandas.DataFrame, dict, list of pathlib.Path)
        The national table, the national totals and the files written.
    """
    from .index_map import index_page

    table = national_table(outcomes)
    main = _main_label(outcomes)
    totals = national_totals(table, main)
    ranking = _ranking(table)
    failed = table.loc[table["status"] == "failed", ["city", "folder", "error"]]
    with OutputDir(folder) as out:
        out.write_csv(table, "national.csv")
        _write_xlsx({"cities": table, "ranking": ranking,
                     "totals": pd.DataFrame([totals]), "failed": failed},
                    out.path("national.xlsx"))
        out.write_json({"batch": config.name, "totals": totals, "ranking": ranking,
                        "cities": table}, "national.json")
        out.write_html(index_page(config.name, table, outlines=_outlines(outcomes),
                                  totals=to_jsonable(totals), offline=offline), "index.html")
    return table, totals, out.files


def _main_label(outcomes: list[CityOutcome]) -> str:
    for o in outcomes:
        s = _summary(o.folder) if o.status != "failed" else None
        if s is not None:
            return _label(float(s["settings"]["main_threshold_min"]))
    return ""


def _outlines(outcomes: list[CityOutcome]) -> dict[str, Any]:
    out = {}
    for o in outcomes:
        s = _summary(o.folder) if o.status != "failed" else None
        if s is not None and (s.get("batch") or {}).get("outline"):
            out[o.folder.name] = s["batch"]["outline"]
    return out
