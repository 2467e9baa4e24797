"""The ASGI app: a JSON API over :class:`walkshed.serve.state.Session` and the bundled page.

Every browser tab (every page load) gets its own session, named by the ``X-Walkshed-Session``
header, with its own precincts and edit history; tabs never share or mix state. Requests are
typed (pydantic models with limits), bodies are capped at :data:`MAX_BODY_BYTES`, and every
refusal is a 4xx with ``{"error": "<what, problem, fix>"}``; an unexpected failure is a 500
with a one-line message (the traceback goes to the server log only). Nothing the browser sends
is a path, a file or scenario text.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from importlib import resources
from typing import Annotated, Any, Literal

import numpy as np
import shapely
from fastapi import FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._errors import InputError, input_error
from ..io import to_jsonable
from . import export
from .state import Base, Session

__all__ = ["MAX_BODY_BYTES", "MAX_SESSIONS", "create_app"]

log = logging.getLogger("walkshed.serve")

#: Largest request body accepted (bytes); edits are a few hundred bytes.
MAX_BODY_BYTES = 16_384
#: Sessions kept at once; the least recently used one is dropped beyond this.
MAX_SESSIONS = 64
#: Largest number of sites one "suggest" may add.
MAX_SUGGEST = 10

Status = Literal["open", "planned", "candidate", "closed"]
Lon = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Id = Annotated[str, Field(min_length=1, max_length=200)]
Name = Annotated[str, Field(min_length=1, max_length=120)]


SessionHeader = Annotated[str | None, Header(alias="X-Walkshed-Session", max_length=64)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class AddRequest(_Model):
    """Add a precinct at a point."""

    lon: Lon
    lat: Lat
    status: Status = "planned"
    name: Name | None = None


class MoveRequest(_Model):
    """Move a precinct."""

    id: Id
    lon: Lon
    lat: Lat


class StatusRequest(_Model):
    """Change a precinct's status."""

    id: Id
    status: Status


class IdRequest(_Model):
    """Name one precinct."""

    id: Id


class SuggestRequest(_Model):
    """Ask the siting engine for ``n`` new sites."""

    n: Annotated[int, Field(ge=1, le=MAX_SUGGEST)] = 1


class ThresholdRequest(_Model):
    """Show threshold number ``index``."""

    index: Annotated[int, Field(ge=0, le=50)]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class _BodyLimit:
    """Refuse request bodies larger than ``limit`` bytes (declared or streamed)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: MutableMapping[str, Any],
                       receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
                       send: Callable[[MutableMapping[str, Any]], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        too_big = _error(413, f"request body: larger than {self.limit} bytes; send one edit "
                         "at a time")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await too_big(scope, receive, send)
            return
        # read the whole (small) body first: a stream longer than the limit is refused
        # before any of it is parsed
        body = b""
        more = True
        while more:
            msg = await receive()
            if msg["type"] != "http.request":
                break
            body += msg.get("body", b"")
            more = bool(msg.get("more_body", False))
            if len(body) > self.limit:
                await too_big(scope, receive, send)
                return
        sent = False

        async def replay() -> MutableMapping[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class _Sessions:
    """The sessions by id, least recently used dropped beyond :data:`MAX_SESSIONS`."""

    def __init__(self, base: Base, limit: int = MAX_SESSIONS) -> None:
        self.base = base
        self.limit = limit
        self.items: OrderedDict[str, Session] = OrderedDict()
        self.lock = threading.Lock()

    def create(self) -> tuple[str, Session]:
        sid = secrets.token_urlsafe(18)
        session = self.base.new_session()
        with self.lock:
            self.items[sid] = session
            while len(self.items) > self.limit:
                self.items.popitem(last=False)
        return sid, session

    def get(self, sid: str | None) -> Session:
        with self.lock:
            s = self.items.get(sid or "")
            if s is None:
                raise _Unknown
            self.items.move_to_end(sid or "")
            return s


class _Unknown(Exception):
    pass


def _precinct_json(session: Session, slot: int) -> dict[str, Any]:
    r = session.rows[slot]
    if r is None:
        return {"slot": slot, "present": False}
    return {"slot": slot, "present": True, "id": r.id, "name": r.name, "status": r.status,
            "lon": r.lon, "lat": r.lat}


def _figures(session: Session, start: list[dict[str, Any]]) -> dict[str, Any]:
    cov = session.coverage_rows()
    for row, first in zip(cov, start, strict=True):
        row["change_open"] = row["share_open"] - first["share_open"]
        row["change_with_planned"] = row["share_with_planned"] - first["share_with_planned"]
    return {"coverage": cov, "opening_order": session.order_rows(),
            "districts": session.district_rows(), "main_index": session.main_index}


def _delta(session: Session, slots: list[int], t0: float, start: list[dict[str, Any]]
           ) -> dict[str, Any]:
    body = {
        "version": session.version,
        "figures": _figures(session, start),
        "precincts": [_precinct_json(session, s) for s in dict.fromkeys(slots)],
        "edited": [{"id": r.id, "catchment": session.catchment_of(s)}
                   for s in dict.fromkeys(slots) if (r := session.rows[s]) is not None],
        "can_undo": bool(session.undo_stack),
        "can_redo": bool(session.redo_stack),
    }
    body["server_ms"] = round((time.perf_counter() - t0) * 1000, 3)
    return to_jsonable(body)


def _lonlat(geoms: np.ndarray, crs: Any) -> np.ndarray:
    import pyproj

    tf = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    out = shapely.transform(geoms, lambda xy: np.column_stack(tf.transform(xy[:, 0], xy[:, 1])))
    return np.asarray(shapely.set_precision(out, 1e-6))


def _geojson(geoms: np.ndarray, props: list[dict[str, Any]]) -> dict[str, Any]:
    import json

    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": to_jsonable(p),
         "geometry": json.loads(shapely.to_geojson(g))}
        for g, p in zip(geoms, props, strict=True) if g is not None and not g.is_empty]}


def _streets(base: Base, limit: int = 150_000) -> dict[str, Any]:
    """The streets as one GeoJSON MultiLineString (none beyond ``limit`` edges)."""
    net = base.network
    if net.n_edges > limit:
        return {"type": "FeatureCollection", "features": []}
    lines = _lonlat(np.asarray([shapely.multilinestrings(net.edge_geometry)]), net.crs)
    return _geojson(lines, [{}])


def create_app(base: Base, *, token: str | None = None) -> FastAPI:
    """The web app of one loaded study.

    Parameters
    ----------
    base
        The loaded study (:class:`walkshed.serve.state.Base`).
    token
        When given, every request must carry it (header ``X-Walkshed-Token``, or ``?token=``
        for the page itself).

    Returns
    -------
    fastapi.FastAPI
    """
    app = FastAPI(title="walkshed serve", docs_url=None, redoc_url=None, openapi_url=None)
    sessions = _Sessions(base)
    app.state.sessions = sessions  # for tests and benchmarks in the same process
    start_session = base.new_session()
    start_cov = start_session.coverage_rows()
    static = resources.files("walkshed.serve") / "static"
    leaflet_js, leaflet_css = _leaflet()
    page = (static / "index.html").read_text(encoding="utf-8")
    files = {
        "leaflet.js": (leaflet_js, "text/javascript"),
        "leaflet.css": (leaflet_css, "text/css"),
        "app.js": ((static / "app.js").read_text(encoding="utf-8"), "text/javascript"),
        "app.css": ((static / "app.css").read_text(encoding="utf-8"), "text/css"),
    }
    streets_cache: dict[str, Any] = {}
    headers = {
        "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
        "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]
                    ) -> Response:
        if token is not None and not request.url.path.startswith("/static/"):
            given = request.headers.get("x-walkshed-token") or request.query_params.get(
                "token", "")
            if not hmac.compare_digest(given.encode(), token.encode()):
                return _error(403, "token: missing or wrong; open the address the server "
                              "printed (it carries ?token=...)")
        response = await call_next(request)
        for k, v in headers.items():
            response.headers.setdefault(k, v)
        return response

    @app.exception_handler(InputError)
    async def on_input_error(request: Request, exc: InputError) -> JSONResponse:
        return _error(422, " ".join(str(exc).split()))

    @app.exception_handler(_Unknown)
    async def on_unknown(request: Request, exc: _Unknown) -> JSONResponse:
        return _error(404, "session: unknown or expired (X-Walkshed-Session); reload the page")

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = exc.errors()
        parts = []
        for e in errs[:3]:
            where = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
            parts.append(f"{where}: {e.get('msg', 'invalid')}")
        return _error(422, "request: " + "; ".join(parts))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, f"{request.url.path}: {exc.detail}")

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s", request.url.path)
        return _error(500, f"internal error ({type(exc).__name__}); the server log has the "
                      "details")

    def full_state(sid: str, s: Session) -> dict[str, Any]:
        b = s.base
        net = b.network
        lo = net.node_xy.min(axis=0)
        hi = net.node_xy.max(axis=0)
        box = _lonlat(np.asarray([shapely.box(lo[0], lo[1], hi[0], hi[1])]), net.crs)[0]
        x0, y0, x1, y1 = shapely.bounds(box).tolist()
        return to_jsonable({
            "session": sid,
            "study": b.study.name,
            "attribution": b.study.attribution,
            "bounds": [[y0, x0], [y1, x1]],
            "thresholds": [{"index": i, "label": lab, "metres": float(m)}
                           for i, (lab, m) in enumerate(zip(b.labels, b.metres, strict=True))],
            "statuses": ["open", "planned", "candidate", "closed"],
            "residents": float(b.pop.sum()),
            "norm": b.norm,
            "start": start_cov,
            "version": s.version,
            "figures": _figures(s, start_cov),
            "precincts": [_precinct_json(s, i) for i in range(len(s.rows))
                          if s.rows[i] is not None],
            "can_undo": bool(s.undo_stack),
            "can_redo": bool(s.redo_stack),
            "can_save_scenario": getattr(b.scenario, "path", None) is not None,
        })

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/static/{name}")
    def static_file(name: str) -> Response:
        hit = files.get(name)
        if hit is None:
            raise StarletteHTTPException(404, "no such file")
        return Response(hit[0], media_type=hit[1])

    @app.post("/api/session")
    def new_session() -> dict[str, Any]:
        sid, s = sessions.create()
        return full_state(sid, s)

    @app.get("/api/state")
    def state(x_walkshed_session: SessionHeader = None) -> dict[str, Any]:
        s = sessions.get(x_walkshed_session)
        with s.lock:
            return full_state(x_walkshed_session or "", s)

    @app.get("/api/streets")
    def streets() -> dict[str, Any]:
        if "s" not in streets_cache:
            streets_cache["s"] = _streets(base)
        return streets_cache["s"]

    @app.get("/api/districts")
    def districts() -> dict[str, Any]:
        d = base.study.districts
        if d is None:
            return {"type": "FeatureCollection", "features": []}
        g = d.to_crs(base.network.crs)
        geoms = _lonlat(np.asarray(g.geometry.values), base.network.crs)
        return _geojson(geoms, [{"name": str(n)} for n in d["name"]])

    def edit(sid: str | None, fn: Callable[[Session], list[int]]) -> dict[str, Any]:
        s = sessions.get(sid)
        t0 = time.perf_counter()
        with s.lock:
            slots = fn(s)
            return _delta(s, slots, t0, start_cov)

    @app.post("/api/add")
    def add(req: AddRequest, x_walkshed_session: SessionHeader = None) -> dict[str, Any]:
        return edit(x_walkshed_session, lambda s: s.add(req.lon, req.lat, req.status, req.name))

    @app.post("/api/move")
    def move(req: MoveRequest, x_walkshed_session: SessionHeader = None) -> dict[str, Any]:
        return edit(x_walkshed_session, lambda s: s.change(req.id, lon=req.lon, lat=req.lat))

    @app.post("/api/status")
    def status(req: StatusRequest, x_walkshed_session: SessionHeader = None) -> dict[str, Any]:
        return edit(x_walkshed_session, lambda s: s.change(req.id, status=req.status))

    @app.post("/api/delete")
    def delete(req: IdRequest, x_walkshed_session: SessionHeader = None) -> dict[str, Any]:
        return edit(x_walkshed_session, lambda s: s.delete(req.id))

    @app.post("/api/undo")
    def undo(x_walkshed_session: SessionHeader = None) -> dict[str, Any]:
        return edit(x_walkshed_session, lambda s: s.undo())

    @app.post("/api/redo")
    def redo(x_walkshed_session: SessionHeader = None) -> dict[str, Any]:
        return edit(x_walkshed_session, lambda s: s.redo())

    @app.post("/api/suggest")
    def suggest(req: SuggestRequest, x_walkshed_session: SessionHeader = None
                ) -> dict[str, Any]:
        return edit(x_walkshed_session, lambda s: s.suggest(req.n)[0])

    @app.post("/api/threshold")
    def threshold(req: ThresholdRequest, x_walkshed_session: SessionHeader = None
                  ) -> dict[str, Any]:
        def fn(s: Session) -> list[int]:
            s.set_threshold(req.index)
            return []
        return edit(x_walkshed_session, fn)

    @app.get("/api/area")
    def area(id: Annotated[str, Query(min_length=1, max_length=200)],
             x_walkshed_session: SessionHeader = None) -> dict[str, Any]:
        from ..isochrones import walking_areas

        s = sessions.get(x_walkshed_session)
        with s.lock:
            slot = s.slot_of(id)
            frame = s.frame()
            one = frame.loc[[id]] if id in frame.index else None
        if one is None:
            raise input_error("precinct", f"'{id}' is closed and has no walking area",
                              "Reopen it first")
        b = s.base
        areas = walking_areas(b.network, one, thresholds_m=list(b.metres),
                              walk_speed_kmh=b.speed, max_snap_m=b.max_snap_m)
        geoms = _lonlat(np.asarray(areas.geometry.values), b.network.crs)
        return {"id": id, "slot": slot, "areas": _geojson(
            geoms, [{"threshold": lab, "index": i} for i, lab in enumerate(b.labels)])}

    @app.get("/api/uncovered")
    def uncovered(x_walkshed_session: SessionHeader = None) -> dict[str, Any]:
        from ._deps import assess

        s = sessions.get(x_walkshed_session)
        with s.lock:
            frame, opts = s.frame(), s.assess_options()
        b = s.base
        a = assess(b.network, b.study.demand, frame, districts=b.study.districts, **opts)
        areas = a.uncovered_areas.head(50)
        geoms = np.asarray(shapely.set_precision(np.asarray(areas.geometry.values), 1e-6))
        props = areas.drop(columns="geometry").to_dict(orient="records")
        return {"threshold": a.settings.threshold_labels[s.main_index],
                "count": len(a.uncovered_areas),
                "residents": float(a.uncovered_areas["population"].sum()),
                "areas": _geojson(geoms, props)}

    @app.get("/api/save/precincts.csv")
    def save_csv(x_walkshed_session: SessionHeader = None) -> Response:
        s = sessions.get(x_walkshed_session)
        with s.lock:
            text = export.precincts_csv(s)
        return Response(text, media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": 'attachment; filename="precincts.csv"'})

    @app.get("/api/save/precincts.geojson")
    def save_geojson(x_walkshed_session: SessionHeader = None) -> Response:
        import json

        s = sessions.get(x_walkshed_session)
        with s.lock:
            text = json.dumps(export.precincts_geojson(s), ensure_ascii=False)
        return Response(text, media_type="application/geo+json", headers={
            "Content-Disposition": 'attachment; filename="precincts.geojson"'})

    @app.get("/api/save/scenario.toml")
    def save_toml(x_walkshed_session: SessionHeader = None) -> Response:
        s = sessions.get(x_walkshed_session)
        with s.lock:
            text = export.scenario_toml(s)
        return Response(text, media_type="application/toml; charset=utf-8", headers={
            "Content-Disposition": 'attachment; filename="scenario.toml"'})

    app.add_middleware(_BodyLimit, limit=MAX_BODY_BYTES)
    return app


def _leaflet() -> tuple[str, str]:
    from ..maps._page import _leaflet_offline

    js, css = _leaflet_offline()
    return js.replace("<\\/script", "</script"), css
