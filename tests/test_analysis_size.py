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
