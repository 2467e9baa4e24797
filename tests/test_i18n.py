"""Languages: complete catalogues, compiled catalogues in step with their sources, locale
formats, plural forms, language choice (option, scenario, environment) and the CLI report in
Russian and Kazakh on the demo and Almaty."""

from __future__ import annotations

import io
import json
import re
import shutil
from datetime import date
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from conftest import almaty_layout
from typer.testing import CliRunner

from walkshed import cli, i18n
from walkshed._errors import InputError
from walkshed.i18n import LOCALE_DIR, translator

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()
NBSP = "\xa0"
KAZAKH_LETTERS = set("әғқңөұүһі")


def _fresh_ids() -> set[str | tuple[str, str]]:
    """The message ids in the code today, extracted as babel.cfg and README say."""
    ids: set[str | tuple[str, str]] = set()
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "_n": (1, 2)}
    for _file, _line, msg, _comments, _ctx in extract_from_dir(
        str(REPO / "coverage"), method_map=[("**.py", "python")], keywords=keywords
    ):
        ids.add(msg if isinstance(msg, str) else (msg[0], msg[1]))
    return ids


def _catalog(lang: str):
    with open(LOCALE_DIR / f"{lang}.po", "rb") as f:
        return read_po(f, locale=lang)


def _fields(text: str) -> set[str]:
    return set(re.findall(r"\{(\w*)\}", text))


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_every_message_of_the_code_is_translated(lang: str) -> None:
    fresh = _fresh_ids()
    assert len(fresh) > 80  # the extraction found the report's messages
    cat = _catalog(lang)
    nplurals = cat.num_plurals
    assert nplurals == {"ru": 3, "kk": 2}[lang]
    by_id = {m.id: m for m in cat if m.id}
    missing = [m for m in fresh if m not in by_id]
    assert not missing, f"{lang}: no translation for {missing[:5]} (README: Languages)"
    for mid in fresh:
        m = by_id[mid]
        assert "fuzzy" not in m.flags, mid
        forms = m.string if isinstance(m.string, tuple) else (m.string,)
        assert len(forms) == (nplurals if isinstance(mid, tuple) else 1), mid
        for form in forms:
            assert form and form.strip(), f"{lang}: empty translation of {mid!r}"
            english = mid[0] if isinstance(mid, tuple) else mid
            # the same placeholders, so .format() never fails or drops a figure
            assert _fields(form) == _fields(english), (lang, mid, form)


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_the_committed_mo_is_the_compiled_po(lang: str) -> None:
    fresh = io.BytesIO()
    write_mo(fresh, _catalog(lang))
    assert (LOCALE_DIR / f"{lang}.mo").read_bytes() == fresh.getvalue(), (
        "compile the catalogues with pybabel (README: Languages)")


def test_the_template_lists_the_messages_of_the_code() -> None:
    with open(LOCALE_DIR / "messages.pot", "rb") as f:
        pot = {m.id for m in read_po(f) if m.id}
    assert pot == _fresh_ids()


def test_numbers_percentages_and_dates_per_locale() -> None:
    ru, kk, en = translator("ru"), translator("kk"), translator("en")
    assert ru.number(2165759) == f"2{NBSP}165{NBSP}759"
    assert ru.percent(0.07) == f"7,0{NBSP}%"
    assert ru.number(4.5, 1) == "4,5"
    assert en.number(2165759) == "2,165,759" and en.percent(0.0702) == "7.0%"
    assert kk.number(2165759) == f"2{NBSP}165{NBSP}759"
    assert kk.percent(0.07) == "7,0%"  # CLDR's Kazakh pattern has no space
    assert ru.percent(0.995, 2) == f"99,50{NBSP}%"
    assert ru.date("2026-12-06") == "6 декабря 2026\u202fг."  # CLDR: a narrow no-break space
    assert en.date("2026-12-06") == "December 6, 2026"
    assert "желтоқсан" in kk.date("2026-12-06")


@pytest.mark.parametrize(("n", "form"), [(1, "житель"), (2, "жителя"), (4, "жителя"),
                                         (5, "жителей"), (11, "жителей"), (21, "житель"),
                                         (22, "жителя"), (112, "жителей"), (0, "жителей")])
def test_russian_plural_forms(n: int, form: str) -> None:
    ru = translator("ru")
    assert ru.ngettext("{n} resident", "{n} residents", n).format(n=n) == f"{n} {form}"


def test_kazakh_and_english_plural_forms() -> None:
    kk, en = translator("kk"), translator("en")
    # Kazakh nouns stay singular after a numeral
    assert {kk.ngettext("{n} resident", "{n} residents", n) for n in (1, 2, 5)} == {
        "{n} тұрғын"}
    assert en.ngettext("{n} area", "{n} areas", 1) == "{n} area"
    assert en.ngettext("{n} area", "{n} areas", 2) == "{n} areas"


@pytest.mark.parametrize(("env", "lang"), [
    ({"LANG": "ru_RU.UTF-8"}, "ru"),
    ({"LANG": "kk_KZ.UTF-8"}, "kk"),
    ({"LC_ALL": "kk_KZ.UTF-8", "LANG": "ru_RU.UTF-8"}, "kk"),
    ({"LANG": "de_DE.UTF-8"}, "en"),
    ({"LANG": "C.UTF-8"}, "en"),
    ({"LANGUAGE": "fr:ru"}, "ru"),
    ({}, "en"),
])
def test_language_from_the_environment(env: dict[str, str], lang: str) -> None:
    assert i18n.language_from_environment(env) == lang


def test_chosen_language_wins_over_the_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "ru_RU.UTF-8")
    assert i18n.current_language() == "ru"
    i18n.set_language("kk")
    assert i18n.current_language() == "kk"
    i18n.set_language(None)
    assert i18n.current_language() == "ru"
    with pytest.raises(InputError, match=r"unknown language 'de'.*en, ru or kk"):
        i18n.set_language("de")


def test_unknown_language_is_a_usage_error(tmp_path: Path) -> None:
    res = runner.invoke(cli.app, ["--lang", "de", "inspect", str(tmp_path / "x.osm.pbf")])
    assert res.exit_code == 2
    assert res.stderr.strip() == "walkshed: --lang: unknown language 'de'. Use en, ru or kk."


def _demo(tmp_path: Path, *args: str) -> str:
    res = runner.invoke(cli.app, [*args, "demo", "--out", str(tmp_path / "d"), "--offline"])
    assert res.exit_code == 0, res.output
    return res.stdout


@pytest.mark.slow
def test_demo_report_in_russian_and_kazakh(tmp_path: Path) -> None:
    en = _demo(tmp_path / "en")
    ru = _demo(tmp_path / "ru", "--lang", "ru")
    kk = _demo(tmp_path / "kk", "--lang", "kk")
    summary = json.loads((tmp_path / "ru" / "d" / "summary.json").read_text("utf-8"))
    cov = {r["threshold"]: r for r in summary["coverage"]}
    ten = cov["10min"]
    # the figures of the run, formatted per locale (an independent formatting here)
    def shown(n: str, p: str, text: str) -> bool:  # "n (p)" in the table, p padded
        return re.search(re.escape(n) + r" \( *" + re.escape(p) + r"\)", text) is not None

    assert shown(f"{ten['covered_open']:,.0f}", f"{ten['share_open']:.1%}", en)
    ru_n = f"{ten['covered_open']:,.0f}".replace(",", NBSP)
    ru_p = f"{ten['share_open'] * 100:.1f}".replace(".", ",") + NBSP + "%"
    assert shown(ru_n, ru_p, ru)
    assert "Пешая доступность" in ru and "участкового инспектора" in ru
    assert "Зоны обслуживания сегодня" in ru and "УПП" in ru
    # the staffing block in the language too (inspectors, the rule)
    assert "Участковые инспекторы сегодня: по нормативу" in ru and "Правило:" in ru
    assert "Бүгінгі учаскелік инспекторлар" in kk and "Ереже:" in kk
    assert "жаяу қолжетімділік" in kk.lower() and "учаскелік" in kk
    assert KAZAKH_LETTERS & set(kk)
    # no English sentence of ours is left (siting's solver words and data names aside)
    for text in (ru, kk):
        for phrase in ("Walking coverage", "Residents", "Opening order", "Catchments",
                       "Largest uncovered", "About the data", "Wrote", "residents",
                       "Inspectors today", "Precincts by kind", "Rule:", "contributors"):
            assert phrase not in text, phrase
    # the Russian plural of the areas count
    n_areas = len(summary["uncovered_areas"])
    word = {1: "зона", 2: "зоны", 3: "зоны", 4: "зоны"}.get(n_areas % 10, "зон")
    if 11 <= n_areas % 100 <= 14:
        word = "зон"
    assert f"{n_areas} {word}," in ru


def test_scenario_lang_and_option_precedence(tmp_path: Path) -> None:
    from walkshed.scenario import parse_scenario

    base = '[network]\nfile = "x.osm.pbf"\n[population]\ntype = "buildings"\ntotal = 10\n'
    with pytest.raises(InputError, match=r"line 1.*lang.*unknown value 'fr'"):
        parse_scenario('lang = "fr"\n' + base.replace("x.osm.pbf", str(tmp_path / "x")))


@pytest.mark.slow
def test_scenario_language_is_used_and_option_overrides(tmp_path: Path) -> None:
    scen = REPO / "data" / "demo.toml"
    text = 'lang = "kk"\n' + scen.read_text(encoding="utf-8")
    (tmp_path / "demo.toml").write_text(text, encoding="utf-8")
    for f in ("demo_precincts.csv", "demo_sectors.geojson"):
        shutil.copy(REPO / "data" / f, tmp_path)
    res = runner.invoke(cli.app, ["rank", str(tmp_path / "demo.toml"), "-p", "1",
                                  "--out", str(tmp_path / "o1")])
    assert res.exit_code == 0, res.output
    assert "Жаңа УПП-ларға ұсынылатын орындар" in res.stdout
    res = runner.invoke(cli.app, ["--lang", "ru", "rank", str(tmp_path / "demo.toml"), "-p",
                                  "1", "--out", str(tmp_path / "o2")])
    assert res.exit_code == 0, res.output
    assert "Предлагаемые места новых УПП" in res.stdout


def test_demo_scenario_caveats_in_russian_and_kazakh(tmp_path: Path) -> None:
    """The caveats and sources of data/demo.toml in the report of each language; summary.json
    keeps the English."""
    from walkshed.io import OutputDir
    from walkshed.pipeline import Reporter, load_study, run_study
    from walkshed.report import run_report

    study, _ = load_study(Path(__file__).resolve().parents[1] / "data" / "demo.toml",
                          cache=False)
    with OutputDir(tmp_path / "o") as out:
        res = run_study(study, out, Reporter(), outputs=frozenset({"tables"}), offline=True,
                        lang="en")
    en, ru, kk = (run_report(res, lang) for lang in ("en", "ru", "kk"))
    summary = json.loads((tmp_path / "o" / "summary.json").read_text("utf-8"))
    assert "Caveats and sources:" in en and "Street network per district" in en
    assert any("Street network per district" in c["text"] for c in summary["caveats"])
    assert "Оговорки и источники:" in ru and "Улично-дорожная сеть по районам" in ru
    assert "Ескертпелер мен дереккөздер:" in kk and "Аудандар бойынша көше желісі" in kk
    osm = summary["sources"][0]
    assert osm["source"] == "OpenStreetMap extract Helsinki.osm.pbf"
    day = date.fromisoformat(str(osm["date"])[:10])
    assert re.search(rf"снимок на {day.day} \w+ {day.year}\s?г\.", ru)
    assert re.search(rf"{day.year}\D[^;]* күнгі көшірме", kk)
    # the districts' shares of the network written per locale: "100 %" in Russian
    overlap = next(c for c in summary["caveats"] if c["topic"] == "network")
    for d in overlap["districts"]:
        share = f"{d['area_share_in_network']:.0%}"[:-1]
        assert f"{d['district']} {share}{NBSP}%" in ru and f"{d['district']} {share}%" in kk
    for text in (ru, kk):
        for phrase in ("Caveats", "Street network", "snapshot", "volunteers", "not applicable"):
            assert phrase not in text, phrase


@pytest.mark.slow
def test_almaty_report_in_russian_and_kazakh(shared_data: Path, tmp_path: Path) -> None:
    folder, text = almaty_layout(shared_data, tmp_path)
    text = text.replace("[siting]\n", "[siting]\nnew_sites = 2\n", 1).replace(
        "new_sites = 10\n", "").replace('method = "auto"', 'method = "greedy"')
    (folder / "almaty.toml").write_text(text, encoding="utf-8")
    for lang, phrase in (("ru", "Пешая доступность"), ("kk", "Жаяу қолжетімділік")):
        res = runner.invoke(cli.app, ["--lang", lang, "rank", str(folder / "almaty.toml"),
                                      "--out", str(tmp_path / lang)])
        assert res.exit_code == 0, res.output
        summary = json.loads((tmp_path / lang / "summary.json").read_text("utf-8"))
        residents = f"{summary['residents']:,.0f}".replace(",", NBSP)
        assert residents == f"2{NBSP}165{NBSP}759"  # the official districts' total
        assert residents in res.stdout and phrase in res.stdout
        assert "Residents" not in res.stdout
        if lang == "kk":  # the districts by their Kazakh names (name_kk of the counts table)
            import pandas as pd

            table = pd.read_csv(REPO / "data" / "kz_district_population.csv")
            rows = table[(table["city"] == "Almaty") & (table["level"] == "district")]
            assert sum(n in res.stdout for n in rows["name_kk"]) >= 3
            areas = [ln for ln in res.stdout.splitlines() if re.match(r" +\d+\. U\d+:", ln)]
            assert areas and all(any(n in ln for n in rows["name_kk"]) for ln in areas)


def test_glossary_has_every_term_in_three_languages_with_a_source() -> None:
    import csv

    with open(REPO / "docs" / "glossary.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 10
    for row in rows:
        assert all(row[k].strip() for k in ("en", "ru", "kk", "source")), row
    ru_po = (LOCALE_DIR / "ru.po").read_text("utf-8")
    kk_po = (LOCALE_DIR / "kk.po").read_text("utf-8")
    # the catalogues use the glossary's key terms
    for term in ("УПП", "участков", "инспектор", "Пешая доступность", "зон", "обслуживания"):
        assert term in ru_po, term
    for term in ("учаскелік полиция", "Жаяу қолжетімділік", "қызмет көрсету аймағ"):
        assert term in kk_po, term


def test_the_catalogues_are_package_data() -> None:
    import tomllib

    conf = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    setup = conf["tool"]["setuptools"]
    assert "walkshed.locale" in setup["packages"]
    assert "*.mo" in setup["package-data"]["walkshed.locale"]
    assert {"babel>=2.12", "matplotlib>=3.7"} <= set(conf["project"]["dependencies"])
    for lang in ("ru", "kk"):
        assert (LOCALE_DIR / f"{lang}.mo").is_file()


def test_inspect_in_russian_with_the_option_after_the_command() -> None:
    from walkshed.demo import demo_extract

    res = runner.invoke(cli.app, ["inspect", str(demo_extract()), "--lang", "ru"])
    assert res.exit_code == 0, res.output
    assert "км улиц, доступных пешеходам" in res.stdout
    assert "объектов полиции (amenity=police)" in res.stdout
    assert "walkable street" not in res.stdout


def test_messages_say_themselves_in_each_language() -> None:
    import pickle

    from walkshed.i18n import Figure, message, message_n

    m = message_n("{n} candidate site falls in the exclusion areas.",
                  "{n} candidate sites fall in the exclusion areas.", 5)
    assert m == "5 candidate sites fall in the exclusion areas."  # the English is the string
    assert json.dumps([m]) == '["5 candidate sites fall in the exclusion areas."]'
    assert m.in_language("ru") == "5 мест-кандидатов попадают в зоны исключения."
    assert translator("kk").say(m) == "5 үміткер орын алып тастау аймақтарына түседі."
    assert pickle.loads(pickle.dumps(m)).in_language("ru") == m.in_language("ru")
    assert translator("ru").say("data text") == "data text"
    # fields written per locale, messages inside messages
    share = message("within {gap} of optimal", gap=Figure.percent(0.0123, 2))
    status = message("{method}, {within} (Lagrangian bound)", method=message("greedy"),
                     within=share)
    assert status == "greedy, within 1.23% of optimal (Lagrangian bound)"
    assert status.in_language("ru") == (
        f"жадный алгоритм, не более 1,23{NBSP}% от оптимума (оценка Лагранжа)")
    assert pickle.loads(pickle.dumps(status)).in_language("kk") == status.in_language("kk")
    assert message("{s} s", s=Figure.seconds(7.5)).in_language("ru") == "7,5 s"


def test_siting_status_and_notes_in_russian() -> None:
    import numpy as np

    from walkshed.siting.solvers import solve_mclp

    cover = np.array([[1, 1, 0], [0, 1, 1], [0, 0, 1]], dtype=float)
    res = solve_mclp(cover, np.array([3.0, 2.0, 1.0]), 1, method="greedy")
    assert res.status == "greedy, proven optimal"
    assert translator("ru").say(res.status) == "жадный алгоритм, оптимальность доказана"
    assert translator("kk").say(res.status) == "ашкөз алгоритм, оңтайлылығы дәлелденген"


def test_population_words_in_each_language() -> None:
    from walkshed.population.words import WORDS, say

    for lang in ("ru", "kk"):
        t = translator(lang)
        for key in WORDS:
            english = key.split("|", 1)[1]
            assert say(english, t) not in ("", english, key)
            assert not re.search("[A-Za-z]", say(english, t).replace("population", ""))
        assert say("stats.tif: not readable", t) == "stats.tif: not readable"  # data as it is
    assert say("buildings, city total", translator("en")) == "buildings, city total"
