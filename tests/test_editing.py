"""Tests for dermview.editing: strokes, polygons, morphology, patches."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dermview.editing import (
    MaskPatch,
    Stroke,
    diff_patch,
    paint_polygon,
    paint_stroke,
    patch_for,
    polygon_rect,
    stroke_rect,
)
from dermview.masks import (
    Rect,
    boundary,
    fill_holes,
    grow,
    keep_largest,
    mask_bbox,
    shrink,
    smooth,
)


def brute_capsules(shape, points, radius):
    """Reference: every pixel centre within ``radius`` of the polyline (slow, whole image)."""
    rr, cc = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    out = np.zeros(shape, bool)
    pts = np.asarray(points, float)
    if len(pts) == 1:
        pts = np.repeat(pts, 2, axis=0)
    for a, b in zip(pts[:-1], pts[1:], strict=True):
        d = b - a
        l2 = float(d @ d)
        if l2 == 0:
            t = np.zeros(shape)
        else:
            t = np.clip(((rr - a[0]) * d[0] + (cc - a[1]) * d[1]) / l2, 0, 1)
        dist2 = (rr - a[0] - t * d[0]) ** 2 + (cc - a[1] - t * d[1]) ** 2
        out |= dist2 <= radius * radius
    return out


# ---------------------------------------------------------------------------------- Rect


def test_rect_basics():
    a = Rect(2, 5, 3, 9)
    assert not a.empty and a.height == 3 and a.width == 6 and a.area == 18
    assert Rect(4, 4, 0, 3).empty and Rect(0, 3, 5, 2).empty
    assert a.union(Rect(0, 3, 8, 12)) == Rect(0, 5, 3, 12)
    assert a.union(Rect.empty_rect()) == a and Rect.empty_rect().union(a) == a
    assert Rect(-4, 20, -1, 7).clip((10, 5)) == Rect(0, 10, 0, 5)
    arr = np.arange(100).reshape(10, 10)
    assert arr[a.slices].shape == (3, 6)
    assert arr[a.slices][0, 0] == 23


# ---------------------------------------------------------------------------------- strokes


@pytest.mark.parametrize("radius", [1, 2, 5, 13, 50])
def test_single_point_is_cv2_circle(radius):
    mask = np.zeros((120, 130), bool)
    rect = paint_stroke(mask, np.array([[60.0, 61.0]]), radius, True)
    ref = np.zeros((120, 130), np.uint8)
    cv2.circle(ref, (61, 60), radius, 1, thickness=-1)  # (x, y) = (col, row)
    np.testing.assert_array_equal(mask, ref.astype(bool))
    assert rect == mask_bbox(mask)


@pytest.mark.parametrize("radius", [1, 4, 9])
def test_horizontal_and_vertical_segments_match_cv2_circles(radius):
    # An axis-aligned segment between integer points is the union of cv2 discs at each
    # integer point along it.
    for p, q in [((30, 10), (30, 70)), ((8, 40), (75, 40))]:
        mask = np.zeros((90, 90), bool)
        paint_stroke(mask, np.array([p, q], float), radius, True)
        ref = np.zeros((90, 90), np.uint8)
        n = max(abs(q[0] - p[0]), abs(q[1] - p[1]))
        for k in range(n + 1):
            r = p[0] + (q[0] - p[0]) * k // n
            c = p[1] + (q[1] - p[1]) * k // n
            cv2.circle(ref, (c, r), radius, 1, thickness=-1)
        np.testing.assert_array_equal(mask, ref.astype(bool))


def test_polyline_matches_exact_distance_reference():
    rng = np.random.default_rng(3)
    for _ in range(20):
        shape = (70, 90)
        pts = rng.uniform(-10, 95, size=(int(rng.integers(1, 6)), 2))
        radius = float(rng.uniform(0.5, 12))
        mask = np.zeros(shape, bool)
        rect = paint_stroke(mask, pts, radius, True)
        ref = brute_capsules(shape, pts, radius)
        np.testing.assert_array_equal(mask, ref)
        if ref.any():
            bb = mask_bbox(ref)
            # The dirty rectangle bounds the change.
            assert rect.r0 <= bb.r0 and rect.r1 >= bb.r1 and rect.c0 <= bb.c0 and rect.c1 >= bb.c1
        assert rect == rect.clip(shape)
        assert stroke_rect(shape, pts, radius).union(rect) == stroke_rect(shape, pts, radius)


def test_eraser_and_pixels_outside_rect_untouched():
    rng = np.random.default_rng(0)
    mask = rng.random((200, 300)) > 0.5
    before = mask.copy()
    rect = paint_stroke(mask, np.array([[50.5, 60.2], [120.0, 180.7]]), 7.5, False)
    outside = np.ones(mask.shape, bool)
    outside[rect.slices] = False
    np.testing.assert_array_equal(mask[outside], before[outside])
    erased = brute_capsules(mask.shape, [[50.5, 60.2], [120.0, 180.7]], 7.5)
    assert not mask[erased].any()
    np.testing.assert_array_equal(mask[~erased], before[~erased])


def test_stroke_off_mask_and_clipped_at_border():
    mask = np.zeros((50, 50), bool)
    assert paint_stroke(mask, np.array([[-100.0, -100.0], [-80.0, 200.0]]), 5, True).empty
    assert not mask.any()
    rect = paint_stroke(mask, np.array([[0.0, 0.0]]), 3, True)
    assert rect == Rect(0, 4, 0, 4)
    np.testing.assert_array_equal(mask, brute_capsules((50, 50), [[0, 0]], 3))


def test_stroke_rejects_bad_input():
    with pytest.raises(TypeError):
        paint_stroke(np.zeros((5, 5), np.uint8), np.array([[1.0, 1.0]]), 1, True)
    with pytest.raises(ValueError):
        paint_stroke(np.zeros((5, 5), bool), np.array([[1.0, 1.0]]), -1, True)
    with pytest.raises(ValueError):
        paint_stroke(np.zeros((5, 5), bool), np.array([[1.0, np.nan]]), 1, True)


def test_stroke_session_is_one_patch():
    rng = np.random.default_rng(1)
    mask = rng.random((150, 160)) > 0.7
    original = mask.copy()
    pts = [(10.0, 10.0), (40.0, 70.0), (41.0, 71.0), (100.0, 20.0)]
    stroke = Stroke(mask, 6.0, True)
    rects = [stroke.add(p) for p in pts]
    assert rects[0] == stroke_rect(mask.shape, np.array([pts[0]]), 6.0)
    expected = original | brute_capsules(mask.shape, pts, 6.0)
    np.testing.assert_array_equal(mask, expected)
    patch = stroke.finish()
    assert patch is not None
    assert patch.rect == mask_bbox(original != expected)
    patch.revert(mask)
    np.testing.assert_array_equal(mask, original)
    patch.apply(mask)
    np.testing.assert_array_equal(mask, expected)


def test_stroke_without_change_gives_no_patch():
    mask = np.ones((40, 40), bool)
    stroke = Stroke(mask, 4.0, True)
    stroke.add((20.0, 20.0))
    stroke.add((25.0, 30.0))
    assert stroke.finish() is None


# ---------------------------------------------------------------------------------- polygon


def test_polygon_fill_rectangle_and_triangle():
    mask = np.zeros((60, 60), bool)
    rect = paint_polygon(mask, np.array([[10, 5], [10, 40], [30, 40], [30, 5]], float), True)
    expected = np.zeros((60, 60), bool)
    expected[10:31, 5:41] = True
    np.testing.assert_array_equal(mask, expected)
    assert rect == Rect(10, 31, 5, 41)

    tri = np.array([[5.0, 5.0], [5.0, 50.0], [50.0, 5.0]])
    mask2 = np.zeros((60, 60), bool)
    paint_polygon(mask2, tri, True)
    rr, cc = np.mgrid[:60, :60]
    inside = (rr >= 5) & (cc >= 5) & (rr + cc <= 55)
    strict_inside = (rr > 5) & (cc > 5) & (rr + cc < 55)
    assert mask2[strict_inside].all()  # every pixel strictly inside is filled
    assert not mask2[~inside].any()  # nothing outside the closed triangle
    assert polygon_rect((60, 60), tri) == Rect(5, 51, 5, 51)


def test_polygon_subtract_and_clip():
    mask = np.ones((40, 40), bool)
    rect = paint_polygon(mask, np.array([[-10, -10], [-10, 20], [20, 20], [20, -10]], float),
                         False)
    assert rect == Rect(0, 21, 0, 21)
    expected = np.ones((40, 40), bool)
    expected[:21, :21] = False
    np.testing.assert_array_equal(mask, expected)


def test_degenerate_polygon_paints_nothing():
    mask = np.zeros((20, 20), bool)
    assert paint_polygon(mask, np.array([[3.0, 3.0], [10.0, 10.0], [3.0, 3.0]]), True).empty
    assert not mask.any()


# ---------------------------------------------------------------------------------- morphology


def ring(shape=(80, 80), center=(40, 40), r_out=20, r_in=10):
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    d2 = (rr - center[0]) ** 2 + (cc - center[1]) ** 2
    return (d2 <= r_out**2) & (d2 > r_in**2), d2 <= r_out**2


def test_fill_holes_ring_and_open_c():
    ring_mask, disc = ring()
    np.testing.assert_array_equal(fill_holes(ring_mask), disc)
    # A "C" open to the outside has no hole.
    c_shape = ring_mask.copy()
    c_shape[36:45, 40:] = False
    np.testing.assert_array_equal(fill_holes(c_shape), c_shape)
    # A background region touching the image border is not a hole.
    edge = np.zeros((30, 30), bool)
    edge[:, 10] = True
    edge[10, :10] = True
    np.testing.assert_array_equal(fill_holes(edge), edge)
    # Diagonal gaps do not leak (background is 4-connected).
    box = np.zeros((12, 12), bool)
    box[2:9, 2:9] = True
    box[3:8, 3:8] = False
    box[2, 2] = False  # corner missing: hole still closed for 4-connectivity
    filled = fill_holes(box)
    assert filled[3:8, 3:8].all()
    assert not fill_holes(np.zeros((5, 5), bool)).any()


def test_keep_largest():
    mask = np.zeros((50, 50), bool)
    mask[2:6, 2:6] = True  # 16
    mask[20:30, 20:30] = True  # 100
    mask[40:45, 1:4] = True  # 15
    # Diagonal neighbour belongs to the big one (8-connectivity).
    mask[30, 30] = True
    out = keep_largest(mask)
    expected = np.zeros_like(mask)
    expected[20:30, 20:30] = True
    expected[30, 30] = True
    np.testing.assert_array_equal(out, expected)
    assert not keep_largest(np.zeros((4, 4), bool)).any()
    single = np.zeros((4, 4), bool)
    single[1, 1] = True
    np.testing.assert_array_equal(keep_largest(single), single)


def test_keep_largest_with_more_than_65535_regions():
    dots = np.zeros((600, 600), bool)
    dots[::2, ::2] = True  # 90000 isolated pixels: too many for 16-bit labels
    block = np.zeros_like(dots)
    block[100:110, 200:230] = True
    out = keep_largest(dots | block)
    # The block plus the dots 8-adjacent to it.
    touching = cv2.dilate(block.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool) & dots
    np.testing.assert_array_equal(out, block | touching)
    assert out.sum() == 300 + 16 + 5  # row 110 (cols 200..230) and col 230 (rows 100..108)


def test_grow_and_shrink_known_shapes():
    mask = np.zeros((11, 11), bool)
    mask[5, 5] = True
    g1 = grow(mask, 1)
    cross = np.zeros_like(mask)
    cross[4:7, 5] = True
    cross[5, 4:7] = True
    np.testing.assert_array_equal(g1, cross)
    g3 = grow(mask, 3)
    rr, cc = np.mgrid[:11, :11]
    np.testing.assert_array_equal(g3, (rr - 5) ** 2 + (cc - 5) ** 2 <= 9)
    np.testing.assert_array_equal(shrink(g3, 3), mask)
    sq = np.zeros((20, 20), bool)
    sq[5:15, 5:15] = True
    inner = np.zeros_like(sq)
    inner[6:14, 6:14] = True
    np.testing.assert_array_equal(shrink(sq, 1), inner)
    # Lesion touching the image edge is not eroded from the edge.
    edge = np.zeros((10, 10), bool)
    edge[:, :4] = True
    expected = np.zeros_like(edge)
    expected[:, :3] = True
    np.testing.assert_array_equal(shrink(edge, 1), expected)
    np.testing.assert_array_equal(grow(mask, 0), mask)
    with pytest.raises(ValueError):
        grow(mask, -1)


def _full_fill_holes(mask):
    pad = np.pad(mask.astype(np.uint8), 1)
    ff = np.zeros((pad.shape[0] + 2, pad.shape[1] + 2), np.uint8)
    cv2.floodFill(pad, ff, (0, 0), 2, flags=4)
    return pad[1:-1, 1:-1] != 2


def _full_keep_largest(mask):
    n, lab, st, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return mask.copy()
    return lab == 1 + int(np.argmax(st[1:, cv2.CC_STAT_AREA]))


@pytest.mark.parametrize("layout", ["large lesion", "small lesion"])
def test_ops_equal_full_image_versions(layout):
    # Working on the lesion box (small lesion) or on the whole mask (large lesion) must give
    # the same result as the whole-image OpenCV operation.
    rng = np.random.default_rng(7)
    mask = np.zeros((120, 140), bool)
    if layout == "large lesion":
        mask[30:90, 40:100] = rng.random((60, 60)) > 0.35
        mask[0:10, 130:140] = True  # touches the border
    else:
        mask[50:75, 60:80] = rng.random((25, 20)) > 0.3
        mask[60:64, 66:70] = False  # a hole
    for px in (1, 2, 5):
        k = ((np.arange(-px, px + 1)[:, None] ** 2 + np.arange(-px, px + 1)[None] ** 2)
             <= px * px).astype(np.uint8)
        np.testing.assert_array_equal(grow(mask, px), cv2.dilate(mask.view(np.uint8), k) > 0)
        np.testing.assert_array_equal(shrink(mask, px), cv2.erode(mask.view(np.uint8), k) > 0)
    for radius in (1, 3, 4.5):
        half = int(np.ceil(3 * radius))
        full = cv2.GaussianBlur(mask.astype(np.uint8) * 255, (2 * half + 1, 2 * half + 1),
                                radius, sigmaY=radius, borderType=cv2.BORDER_REPLICATE) > 127
        np.testing.assert_array_equal(smooth(mask, radius), full)
    np.testing.assert_array_equal(fill_holes(mask), _full_fill_holes(mask))
    np.testing.assert_array_equal(keep_largest(mask), _full_keep_largest(mask))


def test_smooth_removes_jaggies_keeps_big_shape():
    _, disc = ring(r_out=25)
    noisy = disc.copy()
    noisy[16:18, 40] = False  # nick in the boundary
    noisy[60:62, 10:12] = True  # speck
    sm = smooth(noisy, 3)
    assert not sm[60:62, 10:12].any()
    assert sm[16:18, 40].all()
    assert abs(int(sm.sum()) - int(disc.sum())) < 0.03 * disc.sum()
    np.testing.assert_array_equal(smooth(disc, 0), disc)


def test_ops_do_not_modify_input():
    ring_mask, _ = ring()
    copy = ring_mask.copy()
    for fn in (fill_holes, keep_largest, grow, shrink, smooth):
        fn(ring_mask)
        np.testing.assert_array_equal(ring_mask, copy)


# ---------------------------------------------------------------------------------- patches


@pytest.mark.parametrize("width", [64, 61])  # multiple of 8 (fast path) and not
def test_diff_patch_round_trip(width):
    rng = np.random.default_rng(5)
    old = rng.random((50, width)) > 0.5
    new = old.copy()
    new[12:20, 7:30] = ~new[12:20, 7:30]
    new[33, 40] = ~new[33, 40]
    patch = diff_patch(old, new)
    assert isinstance(patch, MaskPatch)
    assert patch.rect == Rect(12, 34, 7, 41)
    assert patch.nbytes == 2 * 22 * 34
    work = old.copy()
    patch.apply(work)
    np.testing.assert_array_equal(work, new)
    patch.revert(work)
    np.testing.assert_array_equal(work, old)
    assert diff_patch(old, old.copy()) is None
    # within= gives the same rectangle when it holds the change.
    assert diff_patch(old, new, within=Rect(0, 50, 0, width)).rect == patch.rect
    assert diff_patch(old, new, within=Rect(10, 40, 5, 45)).rect == patch.rect
    # Compacted patches behave the same.
    raw_before, raw_after = patch.before.copy(), patch.after.copy()
    changed = patch.changed_pixels
    assert patch.compact() is patch and patch.compacted
    np.testing.assert_array_equal(patch.before, raw_before)
    np.testing.assert_array_equal(patch.after, raw_after)
    assert patch.changed_pixels == changed == int((raw_before != raw_after).sum())
    patch.apply(work)
    np.testing.assert_array_equal(work, new)
    patch.revert(work)
    np.testing.assert_array_equal(work, old)
    patch.compact()  # idempotent
    np.testing.assert_array_equal(patch.after, raw_after)


def test_compact_patch_is_small_for_large_masks():
    old = np.zeros((3000, 4000), bool)
    old[500:2500, 800:3200] = True
    new = grow(old, 1)
    patch = diff_patch(old, new)
    raw = patch.nbytes
    assert raw == 2 * 2002 * 2402
    patch.compact()
    assert patch.nbytes * 100 < raw
    work = new.copy()
    patch.revert(work)
    np.testing.assert_array_equal(work, old)


def test_mask_patch_checks_shapes():
    with pytest.raises(ValueError):
        MaskPatch(Rect(0, 2, 0, 3), np.zeros((2, 2), bool), np.zeros((2, 3), bool))
    with pytest.raises(TypeError):
        MaskPatch(Rect(0, 2, 0, 2), np.zeros((2, 2), np.uint8), np.zeros((2, 2), bool))


def test_patch_for_snapshot_then_inplace_edit():
    mask = np.zeros((100, 100), bool)
    pts = np.array([[20.0, 20.0], [60.0, 70.0]])
    rect = stroke_rect(mask.shape, pts, 8)
    before = patch_for(mask, rect)
    dirty = paint_stroke(mask, pts, 8, True)
    assert rect.union(dirty) == rect
    patch = MaskPatch(rect, before, patch_for(mask, rect))
    patch.revert(mask)
    assert not mask.any()
    patch.apply(mask)
    np.testing.assert_array_equal(mask, brute_capsules((100, 100), pts, 8))
    assert patch.changed_pixels == int(mask.sum())


def test_diff_patch_shape_mismatch():
    with pytest.raises(ValueError):
        diff_patch(np.zeros((3, 3), bool), np.zeros((3, 4), bool))


# ---------------------------------------------------------------------------------- properties

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# Mouse positions at 1/64 px (avoids underflow artefacts such as 1e-300 in the reference).
coord = st.integers(-20 * 64, 80 * 64).map(lambda v: v / 64)


@given(
    pts=st.lists(st.tuples(coord, coord), min_size=1, max_size=6),
    radius=st.integers(4, 40 * 16).map(lambda v: v / 16),  # r = 0 is all ties
    value=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_property_stroke_exact_and_bounded(pts, radius, value, seed):
    shape = (50, 61)
    mask = np.random.default_rng(seed).random(shape) > 0.5
    before = mask.copy()
    rect = paint_stroke(mask, np.array(pts), radius, value)
    hit = brute_capsules(shape, pts, radius)
    expected = before.copy()
    expected[hit] = value
    np.testing.assert_array_equal(mask, expected)
    outside = np.ones(shape, bool)
    outside[rect.slices] = False
    assert not hit[outside].any()
    assert rect == rect.clip(shape)
    patch = diff_patch(before, mask)
    if patch is None:
        np.testing.assert_array_equal(before, mask)
    else:
        assert patch.rect.union(rect) == rect
        patch.revert(mask)
        np.testing.assert_array_equal(mask, before)


@given(
    verts=st.lists(st.tuples(coord, coord), min_size=3, max_size=8),
    value=st.booleans(),
)
def test_property_polygon_stays_in_rect(verts, value):
    shape = (50, 61)
    mask = np.full(shape, not value)
    rect = paint_polygon(mask, np.array(verts), value)
    changed = mask == value
    outside = np.ones(shape, bool)
    outside[rect.slices] = False
    assert not changed[outside].any()


def test_boundary_of_a_square():
    m = np.zeros((8, 8), bool)
    m[2:6, 2:6] = True
    b = boundary(m)
    assert b.sum() == 12  # the 4×4 square's rim
    assert not b[3:5, 3:5].any()
    full = np.ones((5, 5), bool)
    assert boundary(full).sum() == 16  # image border counts as background
