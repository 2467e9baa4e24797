"""Defaults and the minutes-to-metres conversion (walkshed.settings)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from walkshed import settings
from walkshed._errors import InputError


def test_documented_defaults() -> None:
    assert settings.walk_speed_kmh == 4.5
    assert settings.thresholds_min == (5.0, 10.0, 15.0)
    assert settings.max_snap_m == 500.0
    assert settings.isochrone_buffer_m > 0 and settings.candidate_spacing_m > 0
    assert settings.residents_per_inspector > 0 and settings.default_building_levels >= 1
    assert isinstance(settings.use_cache, bool) and isinstance(settings.progress, bool)


def test_minutes_to_metres_by_hand() -> None:
    assert settings.minutes_to_metres(10, 4.5) == 750.0
    assert settings.minutes_to_metres(15) == 1125.0  # 4.5 km/h by default: 75 m a minute
    assert settings.minutes_to_metres(5, 6.0) == 500.0
    assert settings.minutes_to_metres(0) == 0.0
    assert settings.minutes_to_metres(60, 5.0) == pytest.approx(5000.0)


def test_speed_setting_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "walk_speed_kmh", 3.0)
    assert settings.minutes_to_metres(20) == pytest.approx(1000.0)
    assert settings.minutes_to_metres(20, 6.0) == pytest.approx(2000.0)


@pytest.mark.parametrize("speed", [0.0, -4.5])
def test_speed_must_be_positive(speed: float) -> None:
    with pytest.raises(InputError) as info:
        settings.minutes_to_metres(10, speed)
    # the house message: what, problem, fix
    assert str(info.value) == (
        f"walking speed: must be positive, got {speed} km/h. "
        "Give a speed in km/h above 0 (an adult walks about 4.5)."
    )


@given(
    a=st.floats(0, 600, allow_nan=False),
    b=st.floats(0, 600, allow_nan=False),
    speed=st.floats(0.5, 20, allow_nan=False),
)
def test_conversion_is_linear(a: float, b: float, speed: float) -> None:
    m = settings.minutes_to_metres
    assert m(a + b, speed) == pytest.approx(m(a, speed) + m(b, speed), rel=1e-12, abs=1e-9)
    # back again: metres at speed km/h take metres / (speed * 1000 / 60) minutes
    assert m(a, speed) / (speed * 1000.0 / 60.0) == pytest.approx(a, rel=1e-12, abs=1e-12)


def test_cache_dir_environment_override(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    saved = settings.cache_dir
    monkeypatch.setenv("WALKSHED_CACHE_DIR", str(tmp_path / "elsewhere"))
    try:
        importlib.reload(settings)
        assert Path(settings.cache_dir) == tmp_path / "elsewhere"
        monkeypatch.delenv("WALKSHED_CACHE_DIR")
        importlib.reload(settings)
        assert Path(settings.cache_dir) == Path.home() / ".cache" / "walkshed"
    finally:
        importlib.reload(settings)
        settings.cache_dir = saved
