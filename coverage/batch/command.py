"""``walkshed batch``: run a batch file and print the national picture (the CLI's side)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

__all__ = ["batch_command"]


def batch_command(opts: Any, path: Path, *, scheduler: str | None, workers: int | None,
                  out: Path | None, offline: bool) -> int:
    """Run ``path`` and print progress (stderr) and the national summary (stdout).

    Parameters
    ----------
    opts
        The CLI's global options (``quiet``, ``json``, ``no_cache``).
    path
        The batch file.
    scheduler, workers
        A running scheduler's address, or the LocalCluster's size.
    out
        The batch folder; default the batch's ``[output] dir``, else ``out/<name>``.
    offline
        Self-contained maps.

    Returns
    -------
    int
        The exit code: 0 when every city has results, 2 when a city failed on its input,
        1 when one failed otherwise.
    """
    import json

    from .._errors import input_error
    from ..io import to_jsonable
    from .config import load_batch
    from .run import CityOutcome, run_batch

    if workers is not None and workers < 1:
        raise input_error("--workers", f"must be at least 1, got {workers}",
                          "Give the number of worker processes")
    config = load_batch(path)

    def progress(o: CityOutcome, i: int, n: int) -> None:
        if opts.quiet:
            return
        what = (f"failed: {o.error}" if o.status == "failed" else
                "finished before, skipped" if o.status == "skipped" else
                f"done in {o.seconds:.1f} s")
        sys.stderr.write(f"walkshed: [{i}/{n}] {o.name}: {what}\n")
        sys.stderr.flush()

    result = run_batch(config, out=out, scheduler=scheduler, workers=workers,
                       offline=offline, use_cache=False if opts.no_cache else None,
                       progress=progress)
    table, totals = result.national, result.totals
    main = totals.get("main_threshold", "")
    if opts.json:
        print(json.dumps(to_jsonable({"totals": totals, "cities": table}), indent=2,
                         ensure_ascii=False))
    elif not opts.quiet:
        res = totals["residents"]
        cov = totals.get(f"covered_open_{main}", 0.0)
        lines = [f"{config.name}: {totals['cities_with_results']} of {totals['cities']} "
                 f"cities with results",
                 f"  residents {res:,.0f}; within {main} of an open precinct "
                 f"{cov:,.0f} ({cov / res if res else 0:.1%}); beyond {res - cov:,.0f}",
                 f"  inspectors needed by the norm {totals.get('inspectors_needed', 0):,.0f}"]
        if totals.get("cities_with_staff_figures"):
            lines.append(f"  gap against staff on hand ({totals['cities_with_staff_figures']} "
                         f"cities): {totals['inspectors_gap']:,.0f}")
        if "new_sites" in totals:
            lines.append(f"  new sites for the target share: {totals['new_sites']:,.0f}")
        lines += [f"  failed: {o.name}: {o.error}" for o in result.failed]
        lines.append(f"Wrote {', '.join(p.name for p in result.files)} to {result.folder}/")
        print("\n".join(lines))
    if not result.failed:
        return 0
    return 2 if all(o.input_error for o in result.failed) else 1
