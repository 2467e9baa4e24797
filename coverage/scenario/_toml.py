"""Reading a scenario's TOML: typed access to each table's keys, errors naming key and line."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._common import out_of_range
from .._errors import InputError, input_error

__all__ = ["Source", "Table", "type_name"]


_MISSING = object()
_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


def read_text(path: Path, what: str, missing_fix: str) -> str:
    """The UTF-8 text of a TOML file, or one InputError naming ``what`` and the fix."""
    if not path.is_file():
        raise input_error(what, "file not found", missing_fix)
    try:
        # utf-8-sig: a byte-order mark (Windows Notepad writes one) is not part of the text
        return path.read_text(encoding="utf-8-sig")
    except PermissionError as exc:
        raise input_error(what, "permission denied",
                          "Make the file readable for you (chmod u+r)") from exc
    except OSError as exc:
        raise input_error(what, f"cannot be read ({exc.strerror or exc})",
                          "Check the path and the disk") from exc
    except UnicodeDecodeError as exc:
        raise input_error(what, f"is not UTF-8 text (byte {exc.start})",
                          "Save it as UTF-8 text") from exc


class Source:
    """The scenario text, to find the line of a key within its table."""

    def __init__(self, text: str, path: Path | None) -> None:
        self.text = text
        self.path = path
        self.label = f"scenario '{path}'" if path is not None else "scenario"
        self.base = path.parent if path is not None else Path.cwd()

    def line_of(self, table: str, key: str | None, occurrence: int = 0) -> int | None:
        """1-based line of ``key`` in ``table`` (``""`` = top level; ``occurrence`` = which
        ``[[table]]`` block); the table header's line when ``key`` is None or not found."""
        current = ""
        seen: dict[str, int] = {}
        header_line: int | None = None
        want = re.compile(r"^\s*(\"?)" + re.escape(key) + r"\1\s*=") if key else None
        for i, raw in enumerate(self.text.splitlines(), start=1):
            m = _HEADER.match(raw)
            if m:
                current = m.group(2).strip()
                if m.group(1) == "[[":
                    seen[current] = seen.get(current, -1) + 1
                if current == table and seen.get(current, 0) == occurrence:
                    header_line = i
                continue
            in_table = current == table and seen.get(current, 0) == occurrence
            if in_table and want is not None and want.match(raw):
                return i
        return header_line

    def error(
        self, table: str, key: str | None, problem: str, fix: str, occurrence: int = 0
    ) -> InputError:
        line = self.line_of(table, key, occurrence)
        if line is None and "." in table:  # an inline table: the line of its key
            parent, child = table.rsplit(".", 1)
            line = self.line_of(parent, child, occurrence)
        if line is None and key:  # a whole (misspelt) table: the line of its header
            line = self.line_of(".".join(p for p in (table, key) if p), None)
        full = ".".join(p for p in (table, key) if p)
        where = f"{self.label}, line {line}" if line else self.label
        what = f"{where}: key '{full}'" if full else where
        return input_error(what, problem, fix)


def type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


class Table:
    """One table of the scenario: typed access to its keys, and a check for unknown ones."""

    def __init__(self, src: Source, data: Mapping[str, Any], name: str, occurrence: int = 0):
        self.src = src
        self.data = dict(data)
        self.name = name
        self.occurrence = occurrence
        self.used: set[str] = set()

    def error(self, key: str | None, problem: str, fix: str) -> InputError:
        return self.src.error(self.name, key, problem, fix, self.occurrence)

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, required: bool) -> Any:
        self.used.add(key)
        if key not in self.data:
            if required:
                raise self.error(key, "is missing", f"Add {key} = ... to [{self.name}]"
                                 if self.name else f"Add {key} = ... at the top of the file")
            return _MISSING
        return self.data[key]

    def text(self, key: str, default: Any = None, *, required: bool = False,
             choices: tuple[str, ...] | None = None) -> Any:
        v = self.raw(key, required)
        if v is _MISSING:
            return default
        if not isinstance(v, str):
            raise self.error(key, f"expected text, got {type_name(v)} ({v!r})",
                             f'Write it in quotes, e.g. {key} = "..."')
        if choices is not None and v.strip().lower() not in choices:
            raise self.error(key, f"unknown value '{v}'", f"Use one of: {', '.join(choices)}")
        return v.strip().lower() if choices is not None else v

    def number(self, key: str, default: Any = None, *, required: bool = False,
               positive: bool = True, integer: bool = False, at_most: float | None = None) -> Any:
        v = self.raw(key, required)
        if v is _MISSING:
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (
            integer and not isinstance(v, int)
        ):
            kind = "a whole number" if integer else "a number"
            raise self.error(key, f"expected {kind}, got {type_name(v)} ({v!r})",
                             f"Write {kind} without quotes, e.g. {key} = {3 if integer else 4.5}")
        problem = out_of_range(key, v)
        if problem is not None:
            raise self.error(key, problem, "Give a value within that range")
        if not math.isfinite(v) or (positive and v <= 0) or (not positive and v < 0):
            raise self.error(key, f"must be {'positive' if positive else '>= 0'}, got {v}",
                             "Give a sensible value")
        if at_most is not None and v > at_most:
            raise self.error(key, f"must be at most {at_most:g}, got {v}", "Give a smaller value")
        return int(v) if integer else float(v)

    def boolean(self, key: str, default: bool) -> bool:
        v = self.raw(key, False)
        if v is _MISSING:
            return default
        if not isinstance(v, bool):
            raise self.error(key, f"expected true or false, got {type_name(v)} ({v!r})",
                             f"Write {key} = true or {key} = false (no quotes)")
        return v

    def numbers(self, key: str) -> tuple[float, ...] | None:
        v = self.raw(key, False)
        if v is _MISSING:
            return None
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = [v]
        if not isinstance(v, list) or not v or any(
            isinstance(x, bool) or not isinstance(x, (int, float)) for x in v
        ):
            raise self.error(key, f"expected a list of numbers, got {v!r}",
                             f"Write e.g. {key} = [5, 10, 15]")
        for x in v:
            problem = out_of_range(key, x)
            if problem is not None:
                raise self.error(key, problem, "Give values within that range")
        if any(not math.isfinite(x) or x <= 0 for x in v):
            raise self.error(key, f"must be positive numbers, got {v}", "Remove zero or "
                             "negative values")
        return tuple(sorted({float(x) for x in v}))

    def texts(self, key: str) -> tuple[str, ...]:
        v = self.raw(key, False)
        if v is _MISSING:
            return ()
        if isinstance(v, (str, int)) and not isinstance(v, bool):
            v = [v]
        if not isinstance(v, list) or any(
            isinstance(x, bool) or not isinstance(x, (str, int)) for x in v
        ):
            raise self.error(key, f"expected a list of ids, got {v!r}",
                             f'Write e.g. {key} = ["node/123", "P7"]')
        return tuple(str(x) for x in v)

    def path(self, key: str, *, required: bool = False, must_exist: bool = True) -> Path | None:
        v = self.text(key, required=required)
        if v is None:
            return None
        expanded = os.path.expanduser(os.path.expandvars(v))
        if "$" in expanded:
            raise self.error(key, f"the path '{v}' uses an environment variable that is not set",
                             "Set the variable, or write the path out")
        p = Path(expanded)
        if not p.is_absolute():
            p = self.src.base / p
        if must_exist and not p.exists():
            raise self.error(key, f"file not found: {p}",
                             "Check the path (relative paths start at the scenario file's "
                             "folder)")
        return p

    def table(self, key: str, *, required: bool = False) -> Table | None:
        v = self.raw(key, False)
        if v is _MISSING:
            if required:
                examples = {"network": 'file = "city.osm.pbf"',
                            "population": 'type = "buildings" and total = 100000'}
                what = f"{self.src.label}: section [{key}]"
                raise input_error(what, "is missing" + (" (the file is empty)" if
                                                        not self.src.text.strip() else ""),
                                  f"Add a [{key}] section with "
                                  f"{examples.get(key, 'its keys')} (see data/demo.toml)")
            return None
        if not isinstance(v, dict):
            raise self.error(key, f"expected a table, got {type_name(v)}",
                             f"Write it as a [{key}] section")
        name = f"{self.name}.{key}" if self.name else key
        return Table(self.src, v, name)

    def done(self) -> None:
        unknown = [k for k in self.data if k not in self.used]
        if unknown:
            known = ", ".join(sorted(self.used))
            raise self.error(unknown[0], "unknown key",
                             f"Check the spelling; keys allowed here: {known}")
