"""PreprocessParams: defaults, validation, JSON round-trip."""

from __future__ import annotations

import dataclasses

import pytest

from dermview.errors import ParameterError
from dermview.preprocess import SE_SHAPES, PreprocessParams


def test_defaults_valid_and_frozen():
    p = PreprocessParams()
    assert p.se_shape in SE_SHAPES and p.se_size % 2 == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.se_size = 5  # type: ignore[misc]


@pytest.mark.parametrize("shape", SE_SHAPES)
@pytest.mark.parametrize("size", [3, 9, 31])
def test_json_round_trip(shape, size):
    p = PreprocessParams(remove_frame=False, frame_threshold=55, remove_hair=True,
                         hair_threshold=3, se_shape=shape, se_size=size, hair_sensitivity=0.8)
    assert PreprocessParams.from_json(p.to_json()) == p
    assert PreprocessParams.from_dict(p.to_dict()) == p


@pytest.mark.parametrize(
    "kwargs",
    [
        {"se_size": 4}, {"se_size": 1}, {"se_size": 33}, {"se_size": 9.0},
        {"se_shape": "disk"}, {"hair_threshold": -1}, {"hair_threshold": 2.5},
        {"frame_threshold": 256}, {"frame_threshold": -1}, {"remove_hair": 1},
        {"hair_sensitivity": -0.1}, {"hair_sensitivity": 1.01}, {"hair_sensitivity": float("nan")},
        {"hair_sensitivity": "0.5"}, {"hair_sensitivity": True},
    ],
)
def test_invalid_values_refused(kwargs):
    with pytest.raises(ParameterError):
        PreprocessParams(**kwargs)


def test_bad_json_refused():
    with pytest.raises(ParameterError):
        PreprocessParams.from_json("{not json")
    with pytest.raises(ParameterError):
        PreprocessParams.from_json("[1, 2]")
    with pytest.raises(ParameterError, match="colour"):
        PreprocessParams.from_json('{"colour": 1}')


def test_hair_sensitivity_serialised():
    p = PreprocessParams(hair_sensitivity=1)
    assert p.hair_sensitivity == 1.0 and isinstance(p.hair_sensitivity, float)
    assert PreprocessParams.from_json(p.to_json()).hair_sensitivity == 1.0
    # Older sidecars / model metadata without the key take the default.
    old = {k: v for k, v in PreprocessParams().to_dict().items() if k != "hair_sensitivity"}
    assert PreprocessParams.from_dict(old) == PreprocessParams()


def test_describe_says_in_words_what_was_done():
    assert PreprocessParams().describe() == (
        "dark frame filled (lightness below 60); hair removed (9-px ellipse closing, "
        "sensitivity 0.5; PDE repair when over 10 hairs, else bilinear)")
    assert PreprocessParams(remove_frame=False, remove_hair=False).describe() == \
        "frame kept; hair kept"
