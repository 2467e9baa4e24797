"""Many cities in one batch, each city's analysis one task on Dask distributed.

``walkshed batch BATCH.toml`` reads a list of cities (:mod:`walkshed.batch.config`), clips each
city's streets from a national extract or takes its own file (:mod:`walkshed.batch.clip`),
turns every city into an ordinary scenario and runs it with the same code as
``walkshed analyze``, one Dask task per city (:mod:`walkshed.batch.run`), and writes the
national tables, workbook and index map (:mod:`walkshed.batch.national`). A single city too
large for one machine can have its coverage matrix built in tiles of candidates as Dask tasks
(:mod:`walkshed.batch.matrix`).
"""

from __future__ import annotations

from .config import BatchConfig, CityEntry, load_batch, parse_batch
from .run import BatchResult, CityOutcome, run_batch

__all__ = [
    "BatchConfig",
    "BatchResult",
    "CityEntry",
    "CityOutcome",
    "load_batch",
    "parse_batch",
    "run_batch",
]
