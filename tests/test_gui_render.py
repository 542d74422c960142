"""Display colouring (dermview.gui.render): Qt-free numpy functions."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dermview.gui import render


def _random_mask(seed: int, shape=(37, 53)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random(shape) < 0.5


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), r0=st.integers(0, 36), c0=st.integers(0, 52),
       h=st.integers(1, 37), w=st.integers(1, 53))
def test_region_equals_window_of_full(seed, r0, c0, h, w):
    mask = _random_mask(seed)
    r1, c1 = min(r0 + h, 37), min(c0 + w, 53)
    full = render.mask_alpha(mask, 110)
    part = render.mask_alpha_region(mask, r0, c0, r1, c1, 110)
    np.testing.assert_array_equal(part, full[r0:r1, c0:c1])


def test_outline_runs_through_boundary_pixel_centres():
    mask = np.zeros((10, 12), bool)
    mask[2:8, 3:10] = True  # a 6 x 7 box with a 2 x 3 hole
    mask[4:6, 5:8] = False
    pieces = render.outline_tiles(mask)
    assert list(pieces) == [(0, 0)]  # one tile
    x, y, connect = pieces[0, 0]
    assert x.dtype == y.dtype == np.float64 and connect.dtype == np.uint8
    assert int((connect == 0).sum()) == 2  # two closed contours: border and hole
    ends = np.flatnonzero(connect == 0)
    starts = np.concatenate([[0], ends[:-1] + 1])
    for a, b in zip(starts, ends, strict=True):
        assert (x[a], y[a]) == (x[b], y[b])  # each contour closes on its first point
    rows, cols = (y - 0.5).astype(int), (x - 0.5).astype(int)
    assert np.array_equal(rows, y - 0.5) and np.array_equal(cols, x - 0.5)  # pixel centres
    from dermview.masks import boundary

    assert boundary(mask)[rows, cols].all()  # on the mask's boundary pixels
    assert (x.min(), x.max(), y.min(), y.max()) == (3.5, 9.5, 2.5, 7.5)  # the box's corner pixels
    assert {(3.5, 2.5), (9.5, 2.5), (9.5, 7.5), (3.5, 7.5)} <= set(zip(x.tolist(), y.tolist(), strict=True))
    assert all(len(a) == 0 for a in render.outline_tiles(np.zeros((5, 5), bool))[0, 0])


def _drawn(pieces, shape) -> np.ndarray:
    """The pixels the joined segments of outline pieces pass through (uint8 0/1)."""
    import cv2

    img = np.zeros(shape, np.uint8)
    for x, y, connect in pieces:
        pts = np.column_stack([x - 0.5, y - 0.5]).astype(int)
        for i in np.flatnonzero(connect):
            cv2.line(img, (int(pts[i, 0]), int(pts[i, 1])), (int(pts[i + 1, 0]), int(pts[i + 1, 1])), 1, 1)
    return img


@pytest.mark.parametrize("tile", [3, 8, 17, 33])
def test_outline_tiles_together_draw_the_whole_outline(tile):
    import cv2

    from dermview.masks import boundary

    rng = np.random.default_rng(tile)
    for _ in range(25):
        noise = rng.random((70, 90)).astype(np.float32)
        mask = cv2.GaussianBlur(noise, (0, 0), rng.uniform(0.7, 4.0)) > rng.uniform(0.45, 0.55)
        whole = _drawn(render.outline_tiles(mask, tile=1000).values(), mask.shape)
        assert np.array_equal(whole.view(bool), boundary(mask))
        # no piece of a tile's crop edge, no gap where the outline crosses from tile to tile
        np.testing.assert_array_equal(_drawn(render.outline_tiles(mask, tile=tile).values(), mask.shape), whole)


def test_outline_tiles_of_a_region_are_the_tiles_it_meets():
    mask = np.zeros((40, 50), bool)
    mask[5:30, 5:45] = True
    assert set(render.outline_tiles(mask, tile=16, region=(10, 20, 20, 33))) == {(0, 1), (0, 2), (1, 1), (1, 2)}
    assert len(render.outline_tiles(mask, tile=16)) == 3 * 4


def test_colourise_is_premultiplied_argb():
    alpha = np.array([[0, 128, 255]], np.uint8)
    out = render.colourise(alpha, (255, 100, 0))
    b, g, r, a = (out[..., i] for i in range(4)) if sys.byteorder == "little" else \
        (out[..., 3 - i] for i in range(4))
    np.testing.assert_array_equal(a[0], [0, 128, 255])
    np.testing.assert_array_equal(r[0], [0, 128, 255])
    np.testing.assert_array_equal(g[0], [0, 50, 100])
    np.testing.assert_array_equal(b[0], [0, 0, 0])


def test_premultiply_matches_colourise():
    alpha = np.arange(256, dtype=np.uint8).reshape(16, 16)
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 10, 200, 90, alpha
    np.testing.assert_array_equal(render.premultiply(rgba), render.colourise(alpha, (10, 200, 90)))


def test_downscaled_overlays_keep_the_long_side_limit():
    mask = np.zeros((3000, 4000), bool)
    mask[1000:2000, 1000:3000] = True
    out = render.map_overlay(mask, render.HAIR, 200, max_side=1024)
    assert out.shape == (768, 1024, 4)
    assert out[384, 512, 3] == 200 and out[10, 10, 3] == 0
    prob = np.linspace(0, 1, 3000 * 4000, dtype=np.float32).reshape(3000, 4000)
    heat = render.heatmap(prob, max_side=512)
    assert heat.shape == (384, 512, 4)
    assert heat[0, 0, 3] == 0 and heat[-1, -1, 3] > 150


def test_differences_colours_extra_and_missed():
    mask = np.zeros((10, 10), bool)
    ref = np.zeros((10, 10), bool)
    mask[0:5, :] = True
    ref[3:10, :] = True
    out = render.differences(mask, ref, opacity=150)
    extra = render.colourise(np.full((1, 1), 150, np.uint8), render.EXTRA)[0, 0]
    missed = render.colourise(np.full((1, 1), 150, np.uint8), render.MISSED)[0, 0]
    np.testing.assert_array_equal(out[1, 1], extra)  # mask only
    np.testing.assert_array_equal(out[8, 8], missed)  # reference only
    assert out[4, 4, 3] == 0  # both agree


def test_heatmap_legend_runs_from_the_background_to_red():
    from dermview.gui.render import heatmap_legend

    strip = heatmap_legend(100, 8, background=(40, 40, 44))
    assert strip.shape == (8, 100, 3) and strip.dtype == np.uint8
    assert tuple(strip[0, 0]) == (40, 40, 44)  # 0: transparent, the background shows
    r, g, b = (int(v) for v in strip[0, -1])
    assert r > 150 and g < 80 and b < 80  # 1: red
    r, g, b = (int(v) for v in strip[0, 50])
    assert r > 100 and g > 100 and b < 100  # 0.5: yellow
