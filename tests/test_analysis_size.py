"""Size measurements on synthetic shapes whose values are known analytically."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dermview.analysis.size import measure_size
from dermview.errors import MaskError


def disc(h: int, w: int, r: float, centre: tuple[float, float] | None = None) -> np.ndarray:
    cy, cx = centre or ((h - 1) / 2, (w - 1) / 2)
    yy, xx = np.mgrid[:h, :w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def ellipse(h: int, w: int, a: float, b: float, angle_deg: float) -> np.ndarray:
    """Ellipse with semi-axes a (along angle, measured from the column axis towards +row) and b."""
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    y, x = yy - (h - 1) / 2, xx - (w - 1) / 2
    t = math.radians(angle_deg)
    u = x * math.cos(t) + y * math.sin(t)
    v = -x * math.sin(t) + y * math.cos(t)
    return (u / a) ** 2 + (v / b) ** 2 <= 1


def test_disc_area_diameters_and_perimeter():
    r = 60
    s = measure_size(disc(201, 201, r))
    assert s.area_px == pytest.approx(math.pi * r * r, rel=0.01)
    assert s.equivalent_diameter_px == pytest.approx(2 * r, rel=0.01)
    # outer pixel corners: the digital disc spans 2r + 1 px
    assert s.diameter_px == pytest.approx(2 * r + 1, abs=1.0)
    assert s.width_px == pytest.approx(2 * r + 1, abs=1.5)
    assert s.perimeter_px == pytest.approx(2 * math.pi * r, rel=0.05)
    assert s.axes.centroid == pytest.approx((100, 100), abs=1e-6)


def test_rectangle_diagonal_is_the_longest_diameter():
    m = np.zeros((100, 200), bool)
    m[30:70, 50:150] = True  # 40 rows x 100 cols
    s = measure_size(m)
    diag = math.hypot(40, 100)
    assert s.area_px == 4000
    assert s.diameter_px == pytest.approx(diag, abs=1e-6)
    assert s.width_px == pytest.approx(2 * 40 * 100 / diag, abs=1e-6)
    (r0, c0), (r1, c1) = s.diameter_segment
    assert math.hypot(r1 - r0, c1 - c0) == pytest.approx(s.diameter_px)
    (r0, c0), (r1, c1) = s.width_segment
    assert math.hypot(r1 - r0, c1 - c0) == pytest.approx(s.width_px)
    assert s.convex_area_px == pytest.approx(4000)
    # principal axes: the major along the columns, the minor along the rows
    assert abs(s.axes.major[1]) == pytest.approx(1, abs=1e-9)
    assert abs(s.axes.minor[0]) == pytest.approx(1, abs=1e-9)
    (a, b) = s.axes.major_segment
    assert math.dist(a, b) == pytest.approx(100, abs=1e-6)  # pixel edges 49.5..149.5


@pytest.mark.parametrize("angle", [0, 30, 75, 120])
def test_rotated_ellipse_principal_axis_direction(angle):
    s = measure_size(ellipse(301, 301, 100, 40, angle))
    dr, dc = s.axes.major
    got = math.degrees(math.atan2(dr, dc)) % 180
    assert min(abs(got - angle), 180 - abs(got - angle)) < 1.0
    assert s.diameter_px == pytest.approx(200, abs=2.5)
    assert s.width_px == pytest.approx(80, abs=2.5)
    assert s.area_px == pytest.approx(math.pi * 100 * 40, rel=0.01)


def test_mm_conversion_and_unknown_scale():
    m = disc(101, 101, 30)
    px = measure_size(m)
    assert px.diameter_mm is None and px.area_mm2 is None and px.perimeter_mm is None
    mm = measure_size(m, mm_per_px=0.02)
    assert mm.diameter_mm == pytest.approx(px.diameter_px * 0.02)
    assert mm.area_mm2 == pytest.approx(px.area_px * 0.0004)
    assert mm.width_mm == pytest.approx(px.width_px * 0.02)
    assert mm.equivalent_diameter_mm == pytest.approx(px.equivalent_diameter_px * 0.02)


def test_single_pixel_and_two_pieces():
    m = np.zeros((10, 10), bool)
    m[4, 4] = True
    s = measure_size(m)
    assert s.area_px == 1 and s.diameter_px == pytest.approx(math.sqrt(2))
    m[4, 8] = True  # two pieces measured together: corners (3.5, 3.5) .. (4.5, 8.5)
    assert measure_size(m).diameter_px == pytest.approx(math.hypot(1, 5))


def test_empty_and_bad_masks_refused():
    with pytest.raises(MaskError, match="empty"):
        measure_size(np.zeros((5, 5), bool))
    with pytest.raises(MaskError, match="2-D"):
        measure_size(np.ones((5, 5, 3), bool))


def _old_axes(props, hull):
    """principal_axes as it was: regionprops' centroid and inertia tensor."""
    cr, cc = props.centroid
    vals, vecs = np.linalg.eigh(np.asarray(props.inertia_tensor, dtype=np.float64))
    major = vecs[:, int(np.argmin(vals))]
    if major[0] < 0 or (major[0] == 0 and major[1] < 0):
        major = -major
    minor = np.array([-major[1], major[0]])
    pts = hull - (cr, cc)
    c = np.array([cr, cc])
    ends = [(c + d * (pts @ d).min(), c + d * (pts @ d).max()) for d in (major, minor)]
    return (cr, cc), vals, major, ends


def _random_masks(n: int):
    import cv2

    rng = np.random.default_rng(7)
    for k in range(n):
        h, w = (int(v) for v in rng.integers(3, 260, 2))
        m = rng.random((h, w)) < rng.uniform(0.05, 0.95)
        if k % 3:  # blobs with several pieces and holes, as lesions are
            m = cv2.GaussianBlur(m.astype(np.float32), (0, 0), float(rng.uniform(1, 8))) > 0.5
        if m.any():
            yield m


def test_moments_and_perimeter_from_opencv_equal_regionprops_on_random_masks():
    """The Lesion panel's size and axes, computed from OpenCV's moments and filters (a
    24-MP mask's save waited a second for regionprops on the GUI thread), are the numbers
    regionprops gives: the same centroid and perimeter, the same axes to rounding."""
    from dermview.analysis.size import (
        _hull_points,
        centroid_inertia,
        perimeter_4,
        principal_axes,
        region,
    )

    for m in _random_masks(60):
        props = region(m)
        centroid, tensor = centroid_inertia(props)
        assert centroid == props.centroid
        assert np.allclose(tensor, props.inertia_tensor, rtol=1e-10, atol=1e-9)
        assert perimeter_4(props.image) == props.perimeter
        s = measure_size(m)
        assert s.perimeter_px == props.perimeter and s.area_px == int(m.sum())
        hull = _hull_points(props)
        (cr, cc), vals, major, ends = _old_axes(props, hull)
        axes = principal_axes(props, hull)
        assert axes.centroid == (cr, cc)
        if vals[1] - vals[0] > 1e-6 * max(vals[1], 1e-9):  # a direction to speak of
            assert np.allclose(axes.major, major, rtol=0, atol=1e-9)
            got = [axes.major_segment, axes.minor_segment]
            assert np.allclose(np.array(got, float), np.array(ends, float), rtol=0, atol=1e-6)
