"""Shared fixtures: where the real data lives, and small networks built by hand."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path | None:
    env = os.environ.get("WALKSHED_TEST_DATA")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if cand.is_dir():
            return cand
    return None


SHARED_DATA = _shared_data_dir()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real test data (``../shared/data`` or ``$WALKSHED_TEST_DATA``)."""
    if SHARED_DATA is None:
        pytest.skip("real test data not found at ../shared/data (set WALKSHED_TEST_DATA)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test session caches networks in its own folder, never in the user's home."""
    from walkshed import settings

    monkeypatch.setattr(
        settings, "cache_dir", tmp_path_factory.getbasetemp() / "walkshed-cache"
    )
