"""Writing results: CSV tables, JSON summaries, GeoPackages and HTML maps, always atomically.

Every writer first writes a temporary file in the destination folder and then renames it over
the destination (``os.replace``, atomic on one file system), so a reader never sees a
half-written file and a failure or Ctrl-C leaves the previous file (or nothing) in place.
:class:`OutputDir` goes one step further for a whole run: outputs are staged in a hidden folder
beside the destination and moved into place only when the run finishes.
"""

from __future__ import annotations

import contextlib
import glob
import json
import math
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._errors import input_error

__all__ = [
    "OutputDir",
    "atomic_path",
    "read_vector",
    "to_jsonable",
    "write_csv",
    "write_gpkg",
    "write_html",
    "write_json",
    "written_by_walkshed",
]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``path`` that replaces it when the block ends without error.

    Parameters
    ----------
    path
        The destination file. Its folder is created if needed.

    Yields
    ------
    pathlib.Path
        Where to write. It keeps the destination's suffix (some writers choose the format by
        it). On any exception, including ``KeyboardInterrupt``, it is removed and the
        destination is left untouched.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_path(out) as tmp:
    ...     _ = tmp.write_text("done")
    >>> out.read_text()
    'done'
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.stem}.", suffix=dest.suffix)
    os.close(fd)
    tmp = Path(name)
    # some writers (GDAL) refuse to overwrite or append to an existing empty file
    tmp.unlink()
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to {tmp} for {dest}")
        os.replace(tmp, dest)
    except BaseException:
        _remove_with_sidecars(tmp)
        raise


def _remove_with_sidecars(tmp: Path) -> None:
    """Remove a temporary file and what SQLite/GDAL may leave beside it (-journal, -wal)."""
    for p in (tmp, *(tmp.with_name(tmp.name + s) for s in ("-journal", "-wal", "-shm"))):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


# ---------------------------------------------------------------------------------------------
# JSON


def to_jsonable(obj: Any) -> Any:
    """Plain JSON types for a summary: numpy scalars and arrays, paths, dates, frames.

    Non-finite floats (``inf`` for "unreachable", ``nan``) become ``None`` (``null``), since
    JSON has no such numbers.

    Examples
    --------
    >>> to_jsonable({"share": np.float64(0.5), "far": float("inf"), "n": np.int64(3)})
    {'share': 0.5, 'far': None, 'n': 3}
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, pd.DataFrame):
        frame = obj.drop(columns="geometry") if "geometry" in obj.columns else obj
        return [to_jsonable(r) for r in frame.to_dict(orient="records")]
    if isinstance(obj, pd.Series):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, shapely.Geometry):
        return shapely.to_wkt(obj, rounding_precision=7)
    if obj is pd.NA or obj is pd.NaT:
        return None
    raise TypeError(f"cannot write a {type(obj).__name__} to a JSON summary")


def write_json(obj: Any, path: str | os.PathLike[str], *, indent: int = 2) -> Path:
    """Write ``obj`` as UTF-8 JSON, atomically (see :func:`to_jsonable` for the conversions).

    Parameters
    ----------
    obj
        A mapping or list of plain values, numpy scalars, frames, paths or dates.
    path
        Destination file.
    indent
        JSON indentation.

    Returns
    -------
    pathlib.Path
        The destination.
    """
    # convert before opening anything, so an unserialisable value fails without touching disk
    text = json.dumps(to_jsonable(obj), indent=indent, ensure_ascii=False, allow_nan=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return Path(path)


# ---------------------------------------------------------------------------------------------
# tables and layers


def _table(frame: pd.DataFrame) -> pd.DataFrame:
    """A plain table for CSV: point geometry becomes ``lon``/``lat`` (WGS 84), other
    geometry is dropped."""
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame.columns:
        return frame
    geom_col = frame.geometry.name
    out = pd.DataFrame(frame.drop(columns=geom_col))
    geom = frame.geometry
    if len(frame) and geom.crs is not None and bool(geom.geom_type.eq("Point").all()):
        ll = geom.to_crs(4326)
        if "lon" not in out.columns and "lat" not in out.columns:
            out["lon"] = ll.x.round(7).to_numpy()
            out["lat"] = ll.y.round(7).to_numpy()
    return out


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str], *, index: bool = False,
              encoding: str = "utf-8") -> Path:
    """Write a table as UTF-8 CSV, atomically.

    A GeoDataFrame of points gets ``lon`` and ``lat`` columns (WGS 84) instead of its geometry;
    other geometry is left out (write it with :func:`write_gpkg`).

    Parameters
    ----------
    frame
        The table.
    path
        Destination file.
    index
        Whether to write the index as the first column.
    encoding
        ``"utf-8"``, or ``"utf-8-sig"`` for a byte-order mark (Excel then recognises UTF-8).

    Returns
    -------
    pathlib.Path
        The destination.
    """
    table = _table(frame)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=index, encoding=encoding)
    return Path(path)


def write_gpkg(
    frame: gpd.GeoDataFrame | Mapping[str, gpd.GeoDataFrame],
    path: str | os.PathLike[str],
    *,
    layer: str | None = None,
) -> Path:
    """Write a GeoDataFrame (or several, as layers) as a GeoPackage, atomically, with pyogrio.

    Parameters
    ----------
    frame
        The layer, or a mapping of layer name to layer. Each needs a CRS; an empty frame
        writes an empty layer. Infinite floats (``inf`` = unreachable) are written as NULL.
    path
        Destination file (``.gpkg``); an existing file is replaced, not appended to.
    layer
        Layer name of a single frame; default the file's stem.

    Returns
    -------
    pathlib.Path
        The destination.
    """
    import pyogrio

    dest = Path(path)
    layers = dict(frame) if isinstance(frame, Mapping) else {layer or dest.stem: frame}
    prepared = {name: _gpkg_layer(f) for name, f in layers.items()}
    with atomic_path(dest) as tmp, _sqlite_unsynced():
        for name, out in prepared.items():
            # an empty layer has no geometry to infer its type from
            kw: dict[str, Any] = {"geometry_type": "Unknown"} if len(out) == 0 else {}
            pyogrio.write_dataframe(out, tmp, layer=name, driver="GPKG", **kw)
    return dest


_SQLITE_LOCK = threading.Lock()
_sqlite_users = 0
_sqlite_before: Any = None


@contextlib.contextmanager
def _sqlite_unsynced() -> Iterator[None]:
    """GDAL's SQLite writes without ``fsync`` (``OGR_SQLITE_SYNCHRONOUS=OFF``) while any
    thread is in the block; the setting the process had is restored after the last one.

    A GeoPackage is written to a temporary file that replaces the destination only once it
    is complete (:func:`atomic_path`), so waiting for the disk after every layer's
    transaction buys nothing: on Almaty it was most of the time spent writing the layers.
    """
    import pyogrio

    global _sqlite_users, _sqlite_before
    key = "OGR_SQLITE_SYNCHRONOUS"
    with _SQLITE_LOCK:
        if _sqlite_users == 0:
            _sqlite_before = pyogrio.get_gdal_config_option(key)
            pyogrio.set_gdal_config_options({key: "OFF"})
        _sqlite_users += 1
    try:
        yield
    finally:
        with _SQLITE_LOCK:
            _sqlite_users -= 1
            if _sqlite_users == 0:
                pyogrio.set_gdal_config_options({key: _sqlite_before})


def _gpkg_layer(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if not isinstance(frame, gpd.GeoDataFrame):
        raise TypeError("write_gpkg needs a GeoDataFrame")
    if frame.crs is None:
        raise ValueError("write_gpkg: the layer has no CRS; set one with .set_crs()")
    out = frame
    # GeoPackage columns need string names
    if not all(isinstance(c, str) for c in out.columns):
        out = out.rename(columns={c: str(c) for c in out.columns})
    floats = [c for c in out.columns if c != out.geometry.name
              and pd.api.types.is_float_dtype(out[c])]
    if floats and not np.isfinite(out[floats].to_numpy(float)).all():
        out = out.copy()
        out[floats] = out[floats].replace([np.inf, -np.inf], np.nan)
    return out


def write_html(page: Any, path: str | os.PathLike[str]) -> Path:
    """Write an HTML page (a string, or a folium ``Map``/``Figure``), atomically.

    Parameters
    ----------
    page
        The HTML text, or any object with ``get_root().render()`` (folium).
    path
        Destination file.

    Returns
    -------
    pathlib.Path
        The destination.
    """
    if isinstance(page, str):
        text = page
    elif hasattr(page, "get_root"):
        text = page.get_root().render()
    else:
        raise TypeError(f"write_html needs HTML text or a folium map, not {type(page).__name__}")
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def read_vector(path: str | os.PathLike[str], *, what: str = "file") -> gpd.GeoDataFrame:
    """Read a GeoJSON, GeoPackage or Shapefile layer with pyogrio, with clear errors.

    Parameters
    ----------
    path
        The file.
    what
        What the file is, for error messages (e.g. ``"district polygons"``).

    Returns
    -------
    geopandas.GeoDataFrame
    """
    import pyogrio

    p = Path(path)
    if not p.is_file():
        raise input_error(f"{what} '{p}'", "file not found", "Check the path")
    try:
        gdf = pyogrio.read_dataframe(p)
    except Exception as exc:  # GDAL's errors name its driver internals, not the user's file
        raise input_error(
            f"{what} '{p}'",
            f"cannot be read as a vector layer ({exc})",
            "Give a GeoJSON, GeoPackage or Shapefile",
        ) from exc
    if gdf.crs is None:
        raise input_error(
            f"{what} '{p}'", "has no coordinate reference system",
            "Save it with a CRS (GeoJSON is always EPSG:4326 longitude/latitude)",
        )
    return gdf


# ---------------------------------------------------------------------------------------------
# a whole run


def _default_file_mode() -> int:
    """``0o666`` less the process umask: the mode ``open()`` gives a new file."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


#: The hidden file in an output folder that lists the files walkshed wrote there, so a rerun may
#: replace them and nothing else.
MANIFEST = ".walkshed-outputs.json"

_STAGING = ".staging-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def written_by_walkshed(folder: str | os.PathLike[str]) -> set[str]:
    """The names of the files walkshed runs wrote in ``folder`` (its ``.walkshed-outputs.json``).

    Parameters
    ----------
    folder
        An output folder.

    Returns
    -------
    set of str
        File names; empty when the folder has no list.
    """
    return _read_manifest(Path(folder))


def _read_manifest(folder: Path) -> set[str]:
    try:
        names = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return {n for n in names if isinstance(n, str)} if isinstance(names, list) else set()


class OutputDir:
    """Stage every output of a run and move them into ``path`` only when the run succeeds.

    Used as a context manager: write files to ``out.path("summary.json")`` (or through the
    ``write_*`` shortcuts); they land in a hidden staging folder beside ``path``. When the block
    ends without an exception the files are moved into ``path``, each by an atomic rename; on
    an exception (including ``KeyboardInterrupt``) the staging folder is deleted, so are the
    parent folders the run created, and ``path`` is left exactly as it was.

    A run never writes over a file it did not create: the folder keeps a list of the files
    walkshed wrote there (``.walkshed-outputs.json``), and an output whose name is taken by any
    other file (an input, say, with ``--out .``) or by one of ``protect`` is refused with an
    :class:`~walkshed.InputError` before anything is moved. A staging folder left by a killed
    run into the same place is deleted.

    Parameters
    ----------
    path
        The output folder (created if needed).
    protect
        Files the run reads: never written over, even when walkshed wrote them once.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> dest = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> with OutputDir(dest) as out:
    ...     _ = out.write_json({"covered_share": 0.8}, "summary.json")
    >>> sorted(p.name for p in dest.iterdir())
    ['.walkshed-outputs.json', 'summary.json']
    """

    def __init__(self, path: str | os.PathLike[str],
                 protect: Iterable[str | os.PathLike[str]] = ()) -> None:
        self.final = Path(path)
        self._stage: Path | None = None
        self._created: list[Path] = []
        self._ours: set[str] = set()
        self._protect = {_resolved(Path(p)) for p in protect}
        self.written: list[Path] = []
        self.files: list[Path] = []

    def _label(self) -> str:
        return f"output folder '{self.final}'"

    def __enter__(self) -> OutputDir:
        if str(self.final).strip() == "":
            self.final = Path(".")
        if self.final.exists() and not self.final.is_dir():
            raise input_error(self._label(), "exists and is not a folder",
                              "Choose another --out")
        # beside the destination (inside it for '.', whose parent may not be ours to write)
        absolute = self.final.absolute()
        parent = absolute.parent if self.final.name else absolute
        missing = []
        p = parent
        while not p.exists() and p != p.parent:
            missing.append(p)
            p = p.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self._created = missing  # deepest first
            self._clean_stale(parent)
            # beside the destination, so the final moves are renames on one file system
            self._stage = Path(tempfile.mkdtemp(
                dir=parent, prefix=f".{self._name()}{_STAGING}{os.getpid()}-"))
        except OSError as exc:
            self._remove_created()
            raise input_error(
                self._label(), f"cannot be created ({exc.strerror})",
                "Choose a folder you can write to with --out",
            ) from exc
        self._ours = _read_manifest(self.final)
        return self

    def _name(self) -> str:
        return self.final.absolute().name or "out"

    def _clean_stale(self, parent: Path) -> None:
        """Delete staging folders of runs into the same place whose process is gone."""
        prefix = f".{self._name()}{_STAGING}"
        for old in parent.glob(f"{glob.escape(prefix)}*"):
            pid = old.name[len(prefix):].split("-", 1)[0]
            if old.is_dir() and pid.isdigit() and not _pid_alive(int(pid)):
                shutil.rmtree(old, ignore_errors=True)

    def _remove_created(self) -> None:
        for d in self._created:  # deepest first; only if still empty
            with contextlib.suppress(OSError):
                d.rmdir()
        self._created = []

    @property
    def staging(self) -> Path:
        """The staging folder (only inside the ``with`` block)."""
        if self._stage is None:
            raise RuntimeError("OutputDir is used outside its with-block")
        return self._stage

    def _check_free(self, name: str) -> None:
        """Refuse an output name taken by a file this folder's runs did not write."""
        dest = self.final / name
        if _resolved(dest) in self._protect:
            raise input_error(self._label(), f"its '{name}' is an input of this run",
                              "Choose another output folder with --out (or [output] dir)")
        if (dest.exists() or dest.is_symlink()) and name not in self._ours:
            raise input_error(
                self._label(),
                f"'{name}' is already there and walkshed did not write it (an input, or a "
                "file of an older version)",
                "Choose a new or empty output folder with --out (or [output] dir), or delete "
                "that file")

    def path(self, name: str) -> Path:
        """Where to write the output ``name`` (a file name, no folders) during the run."""
        if Path(name).name != name or name in ("", ".", "..", MANIFEST):
            raise ValueError(f"output name must be a plain file name, got {name!r}")
        self._check_free(name)
        p = self.staging / name
        if p not in self.written:
            self.written.append(p)
        return p

    def write_json(self, obj: Any, name: str) -> Path:
        """Stage a JSON file (:func:`write_json`)."""
        return write_json(obj, self.path(name))

    def write_csv(self, frame: pd.DataFrame, name: str, *, index: bool = False,
                  encoding: str = "utf-8") -> Path:
        """Stage a CSV file (:func:`write_csv`)."""
        return write_csv(frame, self.path(name), index=index, encoding=encoding)

    def write_gpkg(
        self,
        frame: gpd.GeoDataFrame | Mapping[str, gpd.GeoDataFrame],
        name: str,
        *,
        layer: str | None = None,
    ) -> Path:
        """Stage a GeoPackage (:func:`write_gpkg`)."""
        return write_gpkg(frame, self.path(name), layer=layer)

    def write_html(self, page: Any, name: str) -> Path:
        """Stage an HTML page (:func:`write_html`)."""
        return write_html(page, self.path(name))

    def commit(self) -> list[Path]:
        """Move the staged files into the output folder; returns their final paths."""
        staged = [p for p in self.written if p.exists()]
        for p in staged:  # a file may have appeared during the run
            self._check_free(p.name)
        made_final = not self.final.exists()
        self.final.mkdir(parents=True, exist_ok=True)
        if made_final:
            self._created.insert(0, self.final)
        mode = _default_file_mode()
        # the list first: a run stopped while moving still owns what it moved
        ours = sorted(self._ours | {p.name for p in staged})
        manifest = self.staging / MANIFEST
        manifest.write_text(json.dumps(ours, ensure_ascii=False), encoding="utf-8")
        manifest.chmod(mode)
        os.replace(manifest, self.final / MANIFEST)
        moved = []
        for p in staged:
            # writers built on tempfile.mkstemp leave owner-only files: give outputs the
            # permissions of an ordinary new file, so colleagues and web servers can read them
            p.chmod(mode)
            dest = self.final / p.name
            os.replace(p, dest)
            moved.append(dest)
        self._created = []
        return moved

    def discard(self) -> None:
        """Delete the staging folder and everything in it."""
        if self._stage is not None:
            shutil.rmtree(self._stage, ignore_errors=True)
            self._stage = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self.files = self.commit()
        finally:
            self.discard()
            self._remove_created()


def _resolved(p: Path) -> Path:
    try:
        return p.resolve()
    except (OSError, RuntimeError):
        return p.absolute()
