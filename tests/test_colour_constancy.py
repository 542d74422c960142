"""Colour constancy (shades of grey, grey world) on synthetic colour-cast images."""

from __future__ import annotations

import numpy as np
import pytest

from dermview.model.colour_constancy import (
    METHODS,
    colour_constancy,
    gray_world,
    illuminant,
    shades_of_gray,
)


def _grey_scene(seed: int = 0) -> np.ndarray:
    """A neutral scene: every pixel grey (R = G = B), brightness varying, 20-200."""
    g = np.random.default_rng(seed).integers(20, 200, (48, 64))
    return np.repeat(g[..., None], 3, axis=2).astype(np.uint8)


CAST = np.array([1.0, 0.75, 0.5])  # a warm illuminant: blue at half, green at 3/4


def test_shades_of_gray_removes_a_colour_cast():
    cast = np.rint(_grey_scene() * CAST).astype(np.uint8)
    means = cast.reshape(-1, 3).mean(0)
    assert means[2] / means[0] < 0.55  # the cast is there before the correction
    for out in (shades_of_gray(cast), shades_of_gray(cast, p=6.0), gray_world(cast)):
        assert out.shape == cast.shape and out.dtype == np.uint8
        # the corrected scene is grey again: channels equal up to the cast's rounding
        spread = out.astype(int).max(2) - out.astype(int).min(2)
        assert spread.max() <= 3, spread.max()
        m = out.reshape(-1, 3).mean(0)
        assert m.max() / m.min() < 1.02


def test_neutral_image_is_unchanged_and_input_is_not_modified():
    grey = _grey_scene(1)
    copy = grey.copy()
    assert np.array_equal(shades_of_gray(grey), grey)
    assert np.array_equal(gray_world(grey), grey)
    assert np.array_equal(grey, copy)
    np.testing.assert_allclose(illuminant(grey), np.full(3, 3 ** -0.5))


def test_p_weights_bright_pixels_shades_of_gray_differs_from_grey_world():
    # dark reddish skin with a few bright white highlights: grey world (p = 1) sees the red
    # skin, p = 6 is dominated by the white highlights and leaves the image nearly as it is
    img = np.zeros((40, 40, 3), np.uint8)
    img[:] = (120, 60, 40)
    img[:4, :4] = (250, 250, 250)
    e1, e6 = illuminant(img, 1.0), illuminant(img, 6.0)
    assert e1[0] > e6[0] and e1[2] < e6[2]
    assert abs(int(gray_world(img)[20, 20, 0]) - int(shades_of_gray(img)[20, 20, 0])) > 20


def test_gamma_and_dispatch():
    cast = np.rint(_grey_scene(2) * CAST).astype(np.uint8)
    assert colour_constancy(cast, "none") is cast
    assert np.array_equal(colour_constancy(cast, "shades_of_gray"), shades_of_gray(cast))
    assert np.array_equal(colour_constancy(cast, "gray_world"), gray_world(cast))
    g = colour_constancy(cast, "shades_of_gray_gamma")
    assert np.array_equal(g, shades_of_gray(cast, gamma=2.2))
    assert not np.array_equal(g, shades_of_gray(cast))
    assert set(METHODS) == {"none", "shades_of_gray", "gray_world", "shades_of_gray_gamma"}
    black = np.zeros((4, 4, 3), np.uint8)
    assert np.array_equal(shades_of_gray(black), black)


def test_refusals():
    with pytest.raises(ValueError):
        shades_of_gray(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError):
        shades_of_gray(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError):
        shades_of_gray(np.zeros((4, 4, 3), np.uint8), p=0.5)
    with pytest.raises(ValueError):
        colour_constancy(np.zeros((4, 4, 3), np.uint8), "retinex")
