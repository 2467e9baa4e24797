"""Setup shared by the benchmark scripts: where the repository and the real data are.

The scripts run as ``.venv/bin/python benchmarks/bench_X.py``, so this folder is on
``sys.path`` and they import this module as ``_common``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: The repository root.
REPO = Path(__file__).resolve().parents[1]

#: The data set the benchmarks time on.
ALMATY = "almaty-osm-2012"


def data_root(required: str = ALMATY) -> Path | None:
    """The shared data folder ($WALKSHED_TEST_DATA, else ../shared/data beside the repository),
    or ``None`` when it has no ``required`` sub-folder."""
    env = os.environ.get("WALKSHED_TEST_DATA")
    folder = Path(env) if env else REPO.parent / "shared" / "data"
    return folder if (folder / required).is_dir() else None


def need_data_root(required: str = ALMATY) -> Path:
    """:func:`data_root`, or exit with a message saying where it was looked for."""
    folder = data_root(required)
    if folder is None:
        env = os.environ.get("WALKSHED_TEST_DATA")
        where = Path(env) if env else REPO.parent / "shared" / "data"
        sys.exit(f"Almaty data not found under {where} (set WALKSHED_TEST_DATA)")
    return folder


def load() -> str:
    """The machine's load average now (1, 5, 15 minutes), to print beside each figure."""
    return "load " + " ".join(f"{v:.1f}" for v in os.getloadavg())
