"""Precinct vetting: what each police point is, and which of them count as precincts.

OpenStreetMap's ``amenity=police`` mixes precinct posts and police stations with traffic posts,
checkpoints and speed traps. Every precinct gets a **kind** (``precinct``, ``station``,
``traffic``, ``checkpoint``, ``other`` or ``unknown``) and the **reason** for it, from rules
that are data: ``walkshed/data/police_kinds.toml`` (OSM ``police=*`` values, an ``attention``
traffic rule, names in Russian, Kazakh and English, Cyrillic and Latin). A precinct file of the
planner's own may give the kind in a ``kind`` column instead.

:func:`select_kinds` then keeps the kinds that count (default :data:`DEFAULT_KINDS`: precincts,
stations and, with a warning, unknown points) and says what was found and what was left out.
"""

from __future__ import annotations

import logging
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from ._errors import input_error
from .i18n import Figure
from .i18n import message as _
from .i18n import message_n as _n

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_KINDS",
    "KINDS",
    "KindRule",
    "KindRules",
    "Vetting",
    "classify",
    "load_kind_rules",
    "merge_vettings",
    "select_kinds",
    "simplify",
]

#: Every kind a precinct can have, in the order they are reported.
KINDS: tuple[str, ...] = ("precinct", "station", "traffic", "checkpoint", "other", "unknown")

#: The ``why`` of the shipped rules (``data/police_kinds.toml``) as messages of the catalogues,
#: so a reason reads in the run's language (a test keeps this list and the file in step).
SHIPPED_WHYS: tuple[str, ...] = (
    _("OSM tag police=traffic_police (traffic police)"),
    _("OSM tag police=checkpoint"),
    _("OSM tag police=station (a police station)"),
    _("OSM tag police=precinct / community_police (a precinct post)"),
    _("OSM tag police=* names a facility residents do not visit"),
    _("name of the traffic (road) police"),
    _("name of a post, checkpoint or ambush"),
    _("tagged with the traffic rule enforced there (a speed trap or traffic post)"),
    _("name of a precinct (district inspectors' post)"),
    _("name of a police station or department"),
    _("name of a police service residents do not visit for a district inspector"),
    _("the name says police but not which kind"),
)

#: The kinds that count as precincts unless the scenario says otherwise (``kinds = [...]``).
DEFAULT_KINDS: tuple[str, ...] = ("precinct", "station", "unknown")

# Kazakh letters read as their Russian look-alikes (both cases), after accents are dropped
_KAZAKH = str.maketrans("өӨүҮұҰәӘіІқҚғҒңҢһҺ", "оОуУуУаАиИкКгГнНхХ")


def simplify(text: str) -> str:
    """``text`` as the rules compare it: accents dropped, Kazakh letters as Russian ones.

    Examples
    --------
    >>> simplify("Полиция бөлімі Ёлки Bólimi")
    'Полиция болими Елки Bolimi'
    """
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", plain).translate(_KAZAKH)


@dataclass(frozen=True)
class KindRule:
    """One rule: when a value of one of ``tags`` matches, the point is ``kind``."""

    kind: str
    why: str
    tags: tuple[str, ...]
    values: frozenset[str] = frozenset()
    regex: re.Pattern[str] | None = None
    any: bool = False

    def match(self, tags: Mapping[str, str]) -> str | None:
        """The ``key=value`` that matched, or None."""
        for key in self.tags:
            value = tags.get(key)
            if value is None or not str(value).strip():
                continue
            value = str(value).strip()
            text = simplify(value)
            if (
                self.any
                or text.casefold() in self.values
                or (self.regex is not None and self.regex.search(text))
            ):
                return f"{key}={value!r}"
        return None


@dataclass(frozen=True)
class KindRules:
    """The ordered rules of a rules file; the first that matches decides."""

    rules: tuple[KindRule, ...]
    source: str
    name_tags: tuple[str, ...] = ()

    def classify(self, tags: Mapping[str, str]) -> tuple[str, str]:
        """``(kind, reason)`` for a point with these OSM tags (or name columns)."""
        for rule in self.rules:
            hit = rule.match(tags)
            if hit is not None:
                return rule.kind, _("{why}: {hit}", why=Figure.word(rule.why), hit=hit)
        named = [k for k in self.name_tags if str(tags.get(k) or "").strip()]
        if named:
            k = named[0]
            return "unknown", _("no rule matches the name {tag}",
                                tag=f"{k}={str(tags[k]).strip()!r}")
        return "unknown", _("no name and no tag that tells its kind")


def _word_regex(word: str) -> str:
    return r"(?<!\w)" + re.escape(simplify(word)) + r"(?!\w)"


def _rules_from(data: dict[str, Any], source: str) -> KindRules:
    def bad(problem: str) -> Exception:
        return input_error(f"precinct kind rules '{source}'", problem,
                           "Fix the rule (see the comments at the top of the shipped "
                           "walkshed/data/police_kinds.toml)")

    name_tags = data.get("name_tags", ["name"])
    if not isinstance(name_tags, list) or not all(isinstance(t, str) for t in name_tags):
        raise bad("name_tags must be a list of tag names")
    raw = data.get("rule", [])
    if not isinstance(raw, list) or not raw:
        raise bad("has no [[rule]] tables")
    rules = []
    for i, r in enumerate(raw, start=1):
        if not isinstance(r, dict):
            raise bad(f"rule {i} is not a table")
        unknown = sorted(set(r) - {"kind", "why", "tags", "values", "words", "patterns", "any"})
        if unknown:
            raise bad(f"rule {i} has unknown key(s) {', '.join(unknown)}")
        kind = r.get("kind")
        if kind not in KINDS:
            raise bad(f"rule {i} has kind {kind!r}; kinds are {', '.join(KINDS)}")
        tags = r.get("tags", name_tags)
        lists = {k: r.get(k, []) for k in ("tags", "values", "words", "patterns")}
        lists["tags"] = tags
        for k, v in lists.items():
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise bad(f"rule {i}: {k} must be a list of text")
        alternatives = [_word_regex(w) for w in lists["words"]]
        for p in lists["patterns"]:
            try:
                re.compile(p)
            except re.error as exc:
                raise bad(f"rule {i}: pattern {p!r} is not a regular expression ({exc})"
                          ) from exc
            alternatives.append(f"(?:{simplify(p)})")
        any_value = bool(r.get("any", False))
        if not (alternatives or lists["values"] or any_value):
            raise bad(f"rule {i} matches nothing (give values, words, patterns or any = true)")
        rules.append(KindRule(
            kind=kind,
            why=str(r.get("why") or f"rule {i}"),
            tags=tuple(tags),
            values=frozenset(simplify(v).casefold() for v in lists["values"]),
            regex=re.compile("|".join(alternatives), re.IGNORECASE) if alternatives else None,
            any=any_value,
        ))
    return KindRules(rules=tuple(rules), source=source, name_tags=tuple(name_tags))


@lru_cache(maxsize=8)
def _load(path: str | None) -> KindRules:
    if path is None:
        text = resources.files("walkshed").joinpath("data/police_kinds.toml").read_text(
            encoding="utf-8")
        source = "walkshed/data/police_kinds.toml"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise input_error(f"precinct kind rules '{path}'", f"cannot be read ({exc})",
                              "Give a UTF-8 TOML file like walkshed/data/police_kinds.toml"
                              ) from exc
        source = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise input_error(f"precinct kind rules '{source}'", f"is not valid TOML ({exc})",
                          "Fix the syntax at that line") from exc
    return _rules_from(data, source)


def load_kind_rules(path: str | Path | None = None) -> KindRules:
    """The precinct kind rules: the shipped ``police_kinds.toml``, or a file of your own.

    Parameters
    ----------
    path
        A rules file in the shipped file's format; default the shipped rules.

    Returns
    -------
    KindRules
    """
    return _load(None if path is None else str(path))


def classify(tags: Mapping[str, str], rules: KindRules | None = None) -> tuple[str, str]:
    """The kind of a police point from its OSM tags, and the reason.

    Parameters
    ----------
    tags
        The point's OSM tags (``name``, ``police``, ``attention``, ...).
    rules
        Default :func:`load_kind_rules`.

    Returns
    -------
    (str, str)
        The kind (one of :data:`KINDS`) and the rule that decided, in words.

    Examples
    --------
    >>> classify({"amenity": "police", "name": "участок полиции №26"})[0]
    'precinct'
    >>> classify({"amenity": "police", "attention": "Обгон запрещен"})[0]
    'traffic'
    >>> classify({"amenity": "police"})
    ('unknown', 'no name and no tag that tells its kind')
    """
    return (rules or load_kind_rules()).classify(tags)


def check_kinds(kinds: Iterable[str], what: str) -> tuple[str, ...]:
    """``kinds`` lower-cased and checked against :data:`KINDS`."""
    out = tuple(str(k).strip().lower() for k in kinds)
    bad = [k for k in out if k not in KINDS]
    if bad:
        raise input_error(what, f"unknown kind(s) {', '.join(map(repr, bad))}",
                          f"Use some of: {', '.join(KINDS)}")
    return out


@dataclass(frozen=True)
class Vetting:
    """What the vetting found: counts per kind, what counts, what was left out.

    Attributes
    ----------
    found
        Precincts of each kind (every kind listed, zeros included).
    counted_kinds
        The kinds that count.
    left_out
        One row per precinct left out: ``precinct``, ``name``, ``kind``, ``kind_reason``.
    unknown_counted
        The same for the precincts of unknown kind that count (a warning each run).
    """

    found: dict[str, int]
    counted_kinds: tuple[str, ...]
    left_out: pd.DataFrame
    unknown_counted: pd.DataFrame = field(default_factory=pd.DataFrame)

    def notes(self) -> list[str]:
        """Plain-language lines for the report."""
        found = Figure.join([_("{n} {kind}", n=Figure.number(n),
                               kind=Figure.precinct_kind(k))
                             for k, n in self.found.items() if n], ", ")
        kinds = Figure.join([Figure.precinct_kind(k) for k in self.counted_kinds], ", ")
        lines: list[str] = [
            _("Police points by kind: {found}; counted as precincts: {kinds}.", found=found,
              kinds=kinds) if any(self.found.values()) else
            _("Police points by kind: none; counted as precincts: {kinds}.", kinds=kinds)]
        if len(self.left_out):
            names = "; ".join(f"{r.name} ({r.precinct}, {r.kind})"
                              for r in self.left_out.head(12).itertuples())
            more = len(self.left_out) - 12
            lines.append(_n("Left out {n} point that is not a precinct: {names}.",
                            "Left out {n} points that are not precincts: {names}.",
                            len(self.left_out), names=names) if more <= 0 else
                         _n("Left out {n} point that is not a precinct: {names} and {more} more.",
                            "Left out {n} points that are not precincts: {names} and {more} more.",
                            len(self.left_out), names=names, more=Figure.number(more)))
        if len(self.unknown_counted):
            lines.append(_n("{n} point of unknown kind is counted as a precinct; check it (or "
                            "set kinds = [...] in [[precincts]]).",
                            "{n} points of unknown kind are counted as precincts; check them (or "
                            "set kinds = [...] in [[precincts]]).", len(self.unknown_counted)))
        return lines

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``summary.json``'s ``precinct_kinds``)."""
        def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
            return [{str(k): (None if pd.isna(v) else str(v)) for k, v in r.items()}
                    for r in frame.to_dict(orient="records")]

        return {
            "found": dict(self.found),
            "counted_kinds": list(self.counted_kinds),
            "left_out": rows(self.left_out),
            "unknown_counted": rows(self.unknown_counted),
        }


def select_kinds(
    precincts: gpd.GeoDataFrame,
    kinds: Sequence[str] | None = None,
    *,
    what: str = "precincts",
) -> tuple[gpd.GeoDataFrame, Vetting]:
    """Keep the precincts whose kind counts; say what was found and left out.

    Parameters
    ----------
    precincts
        Precincts with a ``kind`` column (as :func:`walkshed.precincts.read_precincts` gives);
        without one, every row is ``unknown``.
    kinds
        The kinds that count; default :data:`DEFAULT_KINDS`.
    what
        Name of the input for error messages.

    Returns
    -------
    (geopandas.GeoDataFrame, Vetting)
        The precincts kept (same columns) and the account of the vetting.
    """
    use = DEFAULT_KINDS if kinds is None else check_kinds(kinds, what)
    kind = (precincts["kind"].astype(str) if "kind" in precincts.columns
            else pd.Series("unknown", index=precincts.index))
    reason = (precincts["kind_reason"].astype(str) if "kind_reason" in precincts.columns
              else pd.Series("", index=precincts.index))
    names = (precincts["name"].astype(str) if "name" in precincts.columns
             else pd.Series([str(i) for i in precincts.index], index=precincts.index))
    table = pd.DataFrame({"precinct": [str(i) for i in precincts.index],
                          "name": names.to_numpy(), "kind": kind.to_numpy(),
                          "kind_reason": reason.to_numpy()})
    keep = kind.isin(use).to_numpy()
    found = {k: int((kind == k).sum()) for k in KINDS}
    unknown = table[keep & (kind == "unknown").to_numpy()].reset_index(drop=True)
    vet = Vetting(found=found, counted_kinds=tuple(use),
                  left_out=table[~keep].reset_index(drop=True), unknown_counted=unknown)
    if len(unknown):
        log.info("%d precinct(s) of unknown kind counted: %s", len(unknown),
                    ", ".join(unknown["precinct"].head(8)))
    return precincts[keep], vet


def merge_vettings(vettings: Sequence[Vetting]) -> Vetting:
    """One account of several precinct files' vettings (counts summed, rows joined).

    The counted kinds are those counted in any file, in :data:`KINDS` order.
    """
    if len(vettings) == 1:
        return vettings[0]
    found = {k: sum(v.found.get(k, 0) for v in vettings) for k in KINDS}
    counted = tuple(k for k in KINDS if any(k in v.counted_kinds for v in vettings))

    def join(frames: list[pd.DataFrame]) -> pd.DataFrame:
        frames = [f for f in frames if len(f)]
        if not frames:
            return pd.DataFrame(columns=["precinct", "name", "kind", "kind_reason"])
        return pd.concat(frames, ignore_index=True)

    return Vetting(found=found, counted_kinds=counted,
                   left_out=join([v.left_out for v in vettings]),
                   unknown_counted=join([v.unknown_counted for v in vettings]))
