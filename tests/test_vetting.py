"""Precinct vetting: kinds from the shipped rules, Almaty's police points, the selection."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from walkshed._errors import InputError
from walkshed.precincts import precincts_from_osm, read_precincts
from walkshed.vetting import (
    DEFAULT_KINDS,
    KINDS,
    classify,
    load_kind_rules,
    merge_vettings,
    select_kinds,
    simplify,
)

# Almaty 2012: every amenity=police point, by the kind the shipped rules give it
ALMATY_TRAFFIC_ATTENTION = [  # tagged attention=<traffic rule>: speed traps, traffic posts
    479712128, 479712129, 479712130, 479712131, 479712132, 479712133, 480727771, 480727777,
    480730133, 484396919, 484396929, 486036313, 486036319, 490872776, 495953850, 498666049,
    504884948, 506921020, 525163580, 525163581, 710438134,
]
ALMATY_TRAFFIC_NAMES = {292210128: "ОблГАИ", 636782424: "УДП ДВД", 636782427: "Дорожная полиция"}
ALMATY_CHECKPOINT = {479712142: "Засада"}
ALMATY_PRECINCT = {697451375: "участок полиции №51", 715733035: "участок полиции №26",
                   1626585345: "ОПП N69"}
ALMATY_STATION = {1444321759: "РУВД Алмалинского района"}
ALMATY_UNKNOWN = [442563888, 487055437, 498670307, 498670308, 506153415, 506153416, 641792902,
                  1369679474, 1456446943, 1456928259]
ALMATY_MILITSIYA_WAY = 37356063  # "Милиция": says police, not which kind


def _node(i: int) -> str:
    return f"node/{i}"


@pytest.fixture(scope="module")
def almaty_police(shared_data: Path) -> gpd.GeoDataFrame:
    return precincts_from_osm(shared_data / "almaty-osm-2012" / "almaty.osm.pbf")


def test_almaty_every_police_point_gets_a_kind(almaty_police: gpd.GeoDataFrame) -> None:
    p = almaty_police
    assert len(p) == 40
    assert set(p["kind"]) <= set(KINDS)
    assert p["kind_reason"].str.len().gt(10).all()
    want: dict[str, str] = {}
    want |= {_node(i): "traffic" for i in ALMATY_TRAFFIC_ATTENTION}
    want |= {_node(i): "traffic" for i in ALMATY_TRAFFIC_NAMES}
    want |= {_node(i): "checkpoint" for i in ALMATY_CHECKPOINT}
    want |= {_node(i): "precinct" for i in ALMATY_PRECINCT}
    want |= {_node(i): "station" for i in ALMATY_STATION}
    want |= {_node(i): "unknown" for i in ALMATY_UNKNOWN}
    want[f"way/{ALMATY_MILITSIYA_WAY}"] = "unknown"
    assert len(want) == 40
    assert p["kind"].to_dict() == want
    for i in ALMATY_TRAFFIC_ATTENTION:
        assert "attention=" in p.loc[_node(i), "kind_reason"]
    for i, word in {**ALMATY_TRAFFIC_NAMES, **ALMATY_CHECKPOINT, **ALMATY_PRECINCT,
                    **ALMATY_STATION}.items():
        assert word in p.loc[_node(i), "name"]
        assert "name=" in p.loc[_node(i), "kind_reason"]


def test_almaty_default_selection(almaty_police: gpd.GeoDataFrame) -> None:
    kept, vet = select_kinds(almaty_police)
    left = set(vet.left_out["precinct"])
    assert left == ({_node(i) for i in ALMATY_TRAFFIC_ATTENTION}
                    | {_node(i) for i in ALMATY_TRAFFIC_NAMES}
                    | {_node(i) for i in ALMATY_CHECKPOINT})
    counted = {_node(i) for i in (*ALMATY_PRECINCT, *ALMATY_STATION)}
    assert counted <= set(kept.index)
    assert set(kept.index) == set(almaty_police.index) - left
    assert len(vet.unknown_counted) == 11
    assert vet.found == {"precinct": 3, "station": 1, "traffic": 24, "checkpoint": 1,
                         "other": 0, "unknown": 11}
    d = vet.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert {r["precinct"] for r in d["left_out"]} == left
    assert any("Засада" in line for line in vet.notes())
    # the scenario chooses: precincts and stations only
    kept2, vet2 = select_kinds(almaty_police, ["precinct", "station"])
    assert set(kept2.index) == counted
    assert len(vet2.left_out) == 36


def test_almaty_geojson_gets_the_same_kinds(shared_data: Path,
                                            almaty_police: gpd.GeoDataFrame) -> None:
    # the derived file keeps the OSM tags in a 'tags' property: the same rules apply
    f = read_precincts(shared_data / "almaty-osm-2012" / "almaty_police_2012.geojson")
    assert f["kind"].to_dict() == almaty_police["kind"].to_dict()


@pytest.mark.parametrize(("tags", "kind", "says"), [
    # OSM police=* values
    ({"police": "traffic_police"}, "traffic", "police=traffic_police"),
    ({"police": "checkpoint", "name": "участок полиции №3"}, "checkpoint", "police="),
    ({"police": "station"}, "station", "police="),
    ({"police": "barracks"}, "other", "police="),
    ({"police": "detention", "name": "ИВС"}, "other", "police="),
    # attention=<traffic rule>, with or without a generic name
    ({"attention": "Обгон запрещен"}, "traffic", "attention="),
    ({"attention": "Проезд на красный свет", "name": "Police"}, "traffic", "attention="),
    # Russian names
    ({"name": "Участковый пункт полиции №12"}, "precinct", "name="),
    ({"name": "УПП №7"}, "precinct", "name="),
    ({"name": "Опорный пункт полиции"}, "precinct", "name="),
    ({"name": "ОПП N69"}, "precinct", "name="),
    ({"name": "ОП-5 УВД Ауэзовского района"}, "station", "name="),
    ({"name": "РУВД Алмалинского района"}, "station", "name="),
    ({"name": "ДП Алатауского района"}, "station", "name="),
    ({"name": "Отдел полиции Медеуского района"}, "station", "name="),
    ({"name": "ОблГАИ"}, "traffic", "name="),
    ({"name": "ГАИ"}, "traffic", "name="),
    ({"name": "УДП ДВД Алматинской области"}, "traffic", "name="),  # УДП before ДВД
    ({"name": "Дорожная полиция Карасайского р-она"}, "traffic", "name="),
    ({"name": "Засада"}, "checkpoint", "name="),
    ({"name": "Пост полиции на въезде"}, "checkpoint", "name="),
    ({"name": "Изолятор временного содержания"}, "other", "name="),
    # Kazakh, in Kazakh letters and with Russian look-alikes
    ({"name": "Учаскелік полиция пункті №4"}, "precinct", "name="),
    ({"name": "Медеу ауданының полиция бөлімі"}, "station", "name="),
    ({"name": "Медеу ауданынын полиция болими"}, "station", "name="),
    ({"name:kk": "Жол полициясы"}, "traffic", "name:kk="),
    ({"name": "Бақылау-өткізу бекеті"}, "checkpoint", "name="),
    # Latin spellings (Russian and Kazakh transliterations, English)
    ({"name": "Uchastkovyi punkt politsii 12"}, "precinct", "name="),
    ({"name": "Uchaskelik polisiya punkti"}, "precinct", "name="),
    ({"name": "Polisiya bólimi"}, "station", "name="),
    ({"name": "RUVD Almalinskogo raiona"}, "station", "name="),
    ({"name:en": "Medeu District Police Department"}, "station", "name:en="),
    ({"name:en": "Traffic Police"}, "traffic", "name:en="),
    ({"name": "GAI"}, "traffic", "name="),
    ({"name": "Zasada"}, "checkpoint", "name="),
    ({"name:en": "Police precinct 26"}, "precinct", "name:en="),
    # other tags than the name
    ({"operator": "Дорожная полиция"}, "traffic", "operator="),
    # nothing tells
    ({"name": "Милиция"}, "unknown", "says police"),
    ({"name": "Polis"}, "unknown", "says police"),
    ({"name": "Кафе Ромашка"}, "unknown", "no rule matches"),
    ({}, "unknown", "no name and no tag"),
])
def test_each_rule(tags: dict[str, str], kind: str, says: str) -> None:
    got, why = classify({"amenity": "police", **tags})
    assert got == kind, why
    assert says in why


def test_words_are_whole_words() -> None:
    # ОП is a word of its own, not the start of "Оптика"; "пост" not inside "постройка"
    assert classify({"name": "Оптика"})[0] == "unknown"
    assert classify({"name": "постройка"})[0] == "unknown"
    assert simplify("Ёлка й ӘӨҮ") == "Елка и АОУ"


def test_rules_from_a_file_of_your_own(tmp_path: Path) -> None:
    f = tmp_path / "kinds.toml"
    f.write_text('[[rule]]\nkind = "precinct"\nwords = ["Kiosk"]\nwhy = "a kiosk"\n',
                 encoding="utf-8")
    rules = load_kind_rules(f)
    assert rules.classify({"name": "Port Hercule kiosk"}) == ("precinct", "a kiosk: "
                                                              "name='Port Hercule kiosk'")
    assert classify({"name": "Kiosk"}, rules)[0] == "precinct"


@pytest.mark.parametrize(("text", "words"), [
    ('[[rule]]\nkind = "speedtrap"\nwords = ["x"]\n', "kind 'speedtrap'"),
    ('[[rule]]\nkind = "traffic"\npatterns = ["(unclosed"]\n', "not a regular expression"),
    ('[[rule]]\nkind = "traffic"\nword = ["x"]\n', "unknown key(s) word"),
    ('[[rule]]\nkind = "traffic"\n', "matches nothing"),
    ('name_tags = "name"\n[[rule]]\nkind = "traffic"\nany = true\n', "name_tags"),
    ('[[rule]\n', "not valid TOML"),
    ('x = 1\n', "no [[rule]]"),
])
def test_bad_rules_files(tmp_path: Path, text: str, words: str) -> None:
    f = tmp_path / f"bad{abs(hash(text))}.toml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match="precinct kind rules") as e:
        load_kind_rules(f)
    assert words in str(e.value)


def _table(**cols: list[object]) -> gpd.GeoDataFrame:
    n = len(next(iter(cols.values())))
    return gpd.GeoDataFrame(cols, geometry=[shapely.Point(76.9 + i / 100, 43.2)
                                            for i in range(n)], crs="EPSG:4326")


def test_a_planners_kind_column_wins_and_is_checked(tmp_path: Path) -> None:
    p = read_precincts(_table(name=["ГАИ", "Участок 3", "Kiosk"],
                              kind=["Precinct", None, ""]))
    assert p["kind"].tolist() == ["precinct", "precinct", "unknown"]
    assert "given in the file's 'kind' column" in p["kind_reason"].iloc[0]
    assert "name=" in p["kind_reason"].iloc[1]
    with pytest.raises(InputError, match=r"unknown kind in column 'kind'.*speedtrap"):
        read_precincts(_table(name=["a"], kind=["speedtrap"]))
    # a CSV with OSM tag columns and a tags column of JSON
    csv = tmp_path / "police.csv"
    csv.write_text('id,name,lat,lon,police,tags\nA,,43.2,76.9,traffic_police,\n'
                   'B,,43.2,76.91,,"{""attention"": ""Обгон запрещен""}"\n'
                   'C,Участок,43.2,76.92,,\n', encoding="utf-8")
    q = read_precincts(csv)
    assert q["kind"].tolist() == ["traffic", "traffic", "precinct"]


def test_inspectors_on_staff_column() -> None:
    p = read_precincts(_table(name=["a", "b", "c"], inspectors=[3, None, 0]))
    assert p["inspectors"].tolist()[0] == 3.0 and p["inspectors"].isna().tolist()[1]
    assert p["inspectors"].tolist()[2] == 0.0
    for bad in (-1, 2.5):
        with pytest.raises(InputError, match="whole numbers of inspectors"):
            read_precincts(_table(name=["a"], inspectors=[bad]))
    assert "inspectors" not in read_precincts(_table(name=["a"])).columns


def test_select_kinds_checks_and_merges() -> None:
    p = read_precincts(_table(name=["ГАИ", "Участок 3", "x"]))
    with pytest.raises(InputError, match="unknown kind"):
        select_kinds(p, ["speedtrap"])
    a = select_kinds(p)[1]
    b = select_kinds(p, ["traffic"])[1]
    both = merge_vettings([a, b])
    assert both.found["traffic"] == 2 and both.found["precinct"] == 2
    assert both.counted_kinds == ("precinct", "station", "traffic", "unknown")
    assert len(both.left_out) == len(a.left_out) + len(b.left_out) == 1 + 2
    assert DEFAULT_KINDS == ("precinct", "station", "unknown")


def test_the_shipped_reasons_are_messages_of_the_catalogues() -> None:
    import tomllib
    from importlib import resources

    from walkshed import vetting
    from walkshed.i18n import translator

    text = resources.files("walkshed").joinpath("data/police_kinds.toml").read_text("utf-8")
    whys = [r["why"] for r in tomllib.loads(text)["rule"]]
    assert set(whys) == set(vetting.SHIPPED_WHYS)  # add a new rule's why to SHIPPED_WHYS
    kind, reason = vetting.classify({"amenity": "police", "police": "station"})
    assert kind == "station"
    assert reason == "OSM tag police=station (a police station): police='station'"
    assert translator("ru").say(reason) == (
        "тег OSM police=station (отдел полиции): police='station'")
    assert translator("kk").say(vetting.classify({})[1]) == (
        "атауы жоқ және түрін көрсететін тег жоқ")
