"""The planners' languages: English, Russian and Kazakh.

Messages are gettext catalogues managed with Babel (``coverage/locale/messages.pot`` and
``<lang>.po``, compiled ``<lang>.mo`` files shipped in the wheel); numbers,
percentages and dates are formatted by Babel with the locale's CLDR rules (Russian
``2 165 759`` and ``7,0 %``, with no-break spaces).

The language of a run is, in order: the ``--lang`` option, the scenario's ``lang``, the user's
locale (``LC_ALL``, ``LC_MESSAGES``, ``LANG``, ``LANGUAGE``), English.

Examples
--------
>>> from walkshed.i18n import translator
>>> t = translator("ru")
>>> t.number(2165759) == "2\\xa0165\\xa0759"
True
>>> t.percent(0.07)
'7,0\\xa0%'
"""

from __future__ import annotations

import functools
import gettext
import math
import os
from datetime import date, datetime
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal, format_percent

__all__ = [
    "DOMAIN",
    "LANGUAGES",
    "LOCALE_DIR",
    "Figure",
    "Message",
    "Translator",
    "check_language",
    "current_language",
    "language_from_environment",
    "message",
    "message_n",
    "set_language",
    "translator",
]

#: The languages walkshed speaks (ISO 639-1).
LANGUAGES = ("en", "ru", "kk")
#: The gettext domain of walkshed's catalogues (the project name in them).
DOMAIN = "walkshed"
#: Where the compiled catalogues are (inside the installed package).
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

_chosen: str | None = None


def check_language(lang: str, what: str = "--lang") -> str:
    """``lang`` lower-cased if walkshed speaks it, else an :class:`InputError` naming ``what``."""
    from ._errors import input_error

    code = str(lang).strip().lower()
    if code not in LANGUAGES:
        raise input_error(what, f"unknown language '{lang}'", "Use en, ru or kk")
    return code


def language_from_environment(environ: dict[str, str] | None = None) -> str:
    """The first of ``LC_ALL``, ``LC_MESSAGES``, ``LANG``, ``LANGUAGE`` naming a language
    walkshed speaks (``ru_RU.UTF-8`` -> ``ru``); English when none does."""
    env = os.environ if environ is None else environ
    for var in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        value = env.get(var, "")
        for part in value.split(":"):  # LANGUAGE may list several
            code = part.split(".")[0].split("@")[0].split("_")[0].lower()
            if code in LANGUAGES:
                return code
        if value and var != "LANGUAGE" and value not in ("C", "POSIX"):
            return "en"  # the user chose a locale walkshed does not speak
    return "en"


def set_language(lang: str | None) -> None:
    """Make ``lang`` the language of what follows (None: back to the user's locale)."""
    global _chosen
    _chosen = None if lang is None else check_language(lang)


def current_language() -> str:
    """The language chosen with :func:`set_language`, else the user's locale's, else ``en``."""
    return _chosen or language_from_environment()


class Translator:
    """Messages, numbers, percentages and dates in one language.

    Parameters
    ----------
    lang
        ``en``, ``ru`` or ``kk``.
    """

    def __init__(self, lang: str) -> None:
        self.lang = check_language(lang)
        self.locale = Locale.parse(self.lang)
        if self.lang == "en":
            self._t: gettext.NullTranslations = gettext.NullTranslations()
        else:
            with open(LOCALE_DIR / f"{self.lang}.mo", "rb") as f:
                self._t = gettext.GNUTranslations(f)

    def gettext(self, message: str) -> str:
        """``message`` in this language."""
        return self._t.gettext(message)

    def ngettext(self, singular: str, plural: str, n: Any) -> str:
        """The form of ``singular`` / ``plural`` for the count ``n`` (plural rules of the
        language: Russian has three forms)."""
        return self._t.ngettext(singular, plural, round(float(n)))

    def number(self, value: Any, digits: int = 0) -> str:
        """``value`` with the locale's grouping and decimal sign, ``digits`` decimals."""
        fmt = "#,##0" + ("." + "0" * digits if digits > 0 else "")
        return format_decimal(float(value), format=fmt, locale=self.locale)

    def percent(self, share: Any, digits: int = 1) -> str:
        """The share ``share`` (0.07) as a percentage with ``digits`` decimals (``7,0 %``)."""
        pattern = self.locale.percent_formats[None].pattern
        body = "#,##0" + ("." + "0" * digits if digits > 0 else "")
        return format_percent(float(share), format=pattern.replace("#,##0", body, 1),
                              locale=self.locale)

    def say(self, text: Any) -> str:
        """``text`` in this language when it is a :class:`Message`, else as it is (data)."""
        return text.in_language(self.lang) if isinstance(text, Message) else str(text)

    def attribution(self, text: Any) -> str:
        """A data attribution with OpenStreetMap's credit in this language (licence names
        stay): ``© OpenStreetMap contributors, ODbL 1.0`` -> ``© участники OpenStreetMap, …``."""
        credit = "© OpenStreetMap contributors"
        return str(text).replace(credit, self.gettext(credit))

    def date(self, when: date | datetime | str) -> str:
        """A date in the locale's long form (``6 December 2026``, ``6 декабря 2026 г.``)."""
        if isinstance(when, str):
            when = datetime.fromisoformat(when)
        return format_date(when, format="long", locale=self.locale)


@functools.cache
def _translator(lang: str) -> Translator:
    return Translator(lang)


def translator(lang: str | None = None) -> Translator:
    """The :class:`Translator` of ``lang`` (default :func:`current_language`)."""
    return _translator(check_language(lang) if lang else current_language())


class Message(str):
    """A sentence of walkshed that can be said in each language.

    The string itself is the English (what ``summary.json`` keeps and what code compares);
    :meth:`in_language` says it in another language. Made by :func:`message` /
    :func:`message_n` where the text is written (a note of the assessment, a solver's status)
    and translated where it is shown (the report, the PDF, the map).
    """

    msgid: str
    plural: str | None
    count: Any
    fields: dict[str, Any]

    def __new__(cls, msgid: str, plural: str | None = None, count: Any = None,
                **fields: Any) -> Message:
        self = super().__new__(cls, _say(translator("en"), msgid, plural, count, fields))
        self.msgid, self.plural, self.count, self.fields = msgid, plural, count, fields
        return self

    def in_language(self, lang: str | None = None) -> str:
        """This sentence in ``lang`` (default :func:`current_language`)."""
        return _say(translator(lang), self.msgid, self.plural, self.count, self.fields)

    def __reduce__(self) -> Any:  # pickles (the cache, processes) keep the message
        return (_rebuild, (self.msgid, self.plural, self.count, self.fields))


def _rebuild(msgid: str, plural: str | None, count: Any, fields: dict[str, Any]) -> Message:
    return Message(msgid, plural, count, **fields)


def _say(t: Translator, msgid: str, plural: str | None, count: Any,
         fields: dict[str, Any]) -> str:
    template = t.gettext(msgid) if plural is None else t.ngettext(msgid, plural, count)
    values = {k: t.say(v) if isinstance(v, Message) else v(t) if isinstance(v, Figure) else v
              for k, v in fields.items()}
    if plural is not None:
        values.setdefault("n", t.number(count))
    return template.format(**values)


def message(msgid: str, **fields: Any) -> Message:
    """A :class:`Message`; bind it to ``_`` where a module writes messages for later
    (``_("{n} sites fall in the exclusion areas.", n=...)``). A field may be a
    :class:`Figure` (``Figure.percent(share)``), written per locale, or a Message."""
    return Message(msgid, **fields)


def message_n(singular: str, plural: str, count: Any, **fields: Any) -> Message:
    """A :class:`Message` with plural forms for ``count`` (``{n}`` is ``count`` written per
    locale unless given); bind it to ``_n``."""
    return Message(singular, plural, count, **fields)


class Figure:
    """A number a :class:`Message` writes per locale: ``Figure.number(1234)``,
    ``Figure.percent(0.07, 2)``, ``Figure.seconds(7.5)``; ``Figure.word(text)`` is a text of
    the data said from the catalogue when it has it (else as it is). Picklable."""

    def __init__(self, kind: str, value: Any, digits: int = 0) -> None:
        self.kind, self.value, self.digits = kind, value, digits

    @classmethod
    def number(cls, value: Any, digits: int = 0) -> Figure:
        """``value`` with ``digits`` decimals."""
        return cls("number", float(value), digits)

    @classmethod
    def percent(cls, share: Any, digits: int = 1) -> Figure:
        """``share`` as a percentage."""
        return cls("percent", float(share), digits)

    @classmethod
    def seconds(cls, value: float) -> Figure:
        """Seconds with three significant digits at most (``7.5``, ``120``)."""
        v = float(value)
        digits = max(0, 2 - math.floor(math.log10(v))) if v > 0 else 0
        v = round(v, digits)
        return cls("number", v, next(d for d in range(digits + 1) if round(v, d) == v))

    @classmethod
    def day(cls, when: str) -> Figure:
        """A date (ISO ``YYYY-MM-DD``) in the locale's long form."""
        return cls("day", str(when)[:10])

    @classmethod
    def join(cls, parts: Any, sep: str = "; ") -> Figure:
        """Texts (Messages said in the language, others as they are) joined by ``sep``."""
        return cls("join:" + sep, list(parts))

    @classmethod
    def precinct_kind(cls, kind: str) -> Figure:
        """A precinct kind (``station``) in the map's words of the language."""
        return cls("kind", str(kind))

    @classmethod
    def word(cls, text: str) -> Figure:
        """A text of the data (a rule's ``why``), translated when the catalogue has it."""
        return cls("word", str(text))

    def __call__(self, t: Translator) -> str:
        if self.kind == "word":
            return t.gettext(self.value)
        if self.kind == "kind":
            said = t.gettext(f"precinct kind|{self.value}")
            return self.value if said == f"precinct kind|{self.value}" else said
        if self.kind == "day":
            return t.date(self.value)
        if self.kind.startswith("join"):
            sep = self.kind.partition(":")[2]
            return sep.join(p(t) if isinstance(p, Figure) else t.say(p) for p in self.value)
        if self.kind == "percent":
            return t.percent(self.value, self.digits)
        return t.number(self.value, self.digits)
