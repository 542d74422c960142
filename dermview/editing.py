"""Mask editing without Qt: brush strokes, lasso polygons, undo patches.

Masks are ``bool`` arrays ``(H, W)``; coordinates are ``(row, col)`` in pixels, where pixel
``(r, c)`` has its centre at ``(r, c)``. In-place operations touch only the rectangle they can
change and return it (the *dirty rectangle*, a :class:`dermview.masks.Rect`) so a GUI redraws
and records just that region; on a 4000×3000 mask one brush segment costs tens of
microseconds. Whole-mask operations (fill holes, largest region, grow, shrink, smooth) live in
:mod:`dermview.masks`.

Undo/redo is done with :class:`MaskPatch` (the region before and after a change), built by
:func:`diff_patch` or by a :class:`Stroke`.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field

import cv2
import numpy as np

from dermview.masks import EMPTY_RECT, Rect, check_mask

__all__ = [
    "MaskPatch",
    "Stroke",
    "paint_stroke",
    "paint_polygon",
    "stroke_rect",
    "polygon_rect",
    "diff_patch",
    "patch_for",
]


def _points(points_rc: np.ndarray) -> np.ndarray:
    pts = np.asarray(points_rc, dtype=np.float64)
    if pts.ndim == 1 and pts.shape[0] == 2:
        pts = pts[None, :]
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points must have shape (K, 2) as (row, col), got {pts.shape}")
    if not np.all(np.isfinite(pts)):
        raise ValueError("points must be finite")
    return pts


# --------------------------------------------------------------------------------------------
# Brush strokes


def _segment_rect(a: np.ndarray, b: np.ndarray, radius: float, shape: tuple[int, int]) -> Rect:
    """Pixels whose centre may lie within ``radius`` of segment ``a``-``b`` (clipped)."""
    r0 = math.ceil(min(a[0], b[0]) - radius)
    r1 = math.floor(max(a[0], b[0]) + radius) + 1
    c0 = math.ceil(min(a[1], b[1]) - radius)
    c1 = math.floor(max(a[1], b[1]) + radius) + 1
    return Rect(r0, r1, c0, c1).clip(shape)


def _capsule(a: np.ndarray, b: np.ndarray, radius: float, rect: Rect) -> np.ndarray:
    """Boolean ``rect``-sized array: pixel centres within ``radius`` of segment ``a``-``b``.

    Inside = within ``radius`` of ``a``, or of ``b``, or of the segment's interior (projection
    on the segment in ``[0, L]`` and perpendicular distance ``<= radius``). Written with
    separable (row, col) terms so each full-size step is one broadcast pass.
    """
    rows = np.arange(rect.r0, rect.r1, dtype=np.float64)[:, None]
    cols = np.arange(rect.c0, rect.c1, dtype=np.float64)[None, :]
    r2 = float(radius) * float(radius)
    ra, ca = rows - a[0], cols - a[1]
    hit = (ra * ra) + (ca * ca) <= r2
    dr, dc = float(b[0] - a[0]), float(b[1] - a[1])
    length = math.hypot(dr, dc)
    if length == 0.0:
        return hit
    rb, cb = rows - b[0], cols - b[1]
    hit |= (rb * rb) + (cb * cb) <= r2
    ur, uc = dr / length, dc / length
    band = np.abs(ra * uc - ca * ur) <= radius
    proj = ra * ur + ca * uc
    band &= proj >= 0.0
    band &= proj <= length
    hit |= band
    return hit


def _pieces(a: np.ndarray, b: np.ndarray, radius: float):
    """Split a long segment so each piece's bounding box stays close to its capsule."""
    length = math.hypot(float(b[0] - a[0]), float(b[1] - a[1]))
    n = max(1, math.ceil(length / max(4.0 * radius, 32.0)))
    if n == 1:
        return [(a, b)]
    pts = a + np.linspace(0.0, 1.0, n + 1)[:, None] * (b - a)
    pts[-1] = b
    return list(zip(pts[:-1], pts[1:], strict=True))


def stroke_rect(shape: tuple[int, ...], points_rc: np.ndarray, radius: float) -> Rect:
    """Rectangle that :func:`paint_stroke` with these arguments may change (clipped to shape)."""
    pts = _points(points_rc)
    hw = (int(shape[0]), int(shape[1]))
    out = EMPTY_RECT
    if len(pts) == 0 or radius < 0:
        return out
    if len(pts) == 1:
        return _segment_rect(pts[0], pts[0], radius, hw)
    lo = pts.min(axis=0)
    hi = pts.max(axis=0)
    return _segment_rect(lo, hi, radius, hw)


def paint_stroke(mask: np.ndarray, points_rc: np.ndarray, radius: float, value: bool) -> Rect:
    """Paint a brush stroke into ``mask`` in place.

    The stroke is the union of capsules (segments with round caps) between consecutive points;
    a single point paints a disc. Pixel ``(r, c)`` is painted when the Euclidean distance from
    its centre to the stroke is ``<= radius`` (for an integer centre and radius this is exactly
    the disc ``cv2.circle(..., thickness=-1)`` draws). Only the bounding box of each segment is
    touched (long segments are split so the box stays close to the capsule).

    Args:
        mask: ``bool`` ``(H, W)``, modified in place.
        points_rc: ``(K, 2)`` float ``(row, col)`` pixel coordinates; may lie outside the mask.
        radius: brush radius in pixels, ``>= 0`` (0 paints only pixels the path passes through
            exactly).
        value: ``True`` to add lesion (brush), ``False`` to remove it (eraser).

    Returns:
        The dirty rectangle (clipped; empty when the stroke misses the mask).
    """
    check_mask(mask)
    pts = _points(points_rc)
    if radius < 0 or not math.isfinite(radius):
        raise ValueError(f"radius must be a finite number >= 0, got {radius}")
    value = bool(value)
    dirty = EMPTY_RECT
    if len(pts) == 0:
        return dirty
    shape = mask.shape
    ends = pts if len(pts) > 1 else np.repeat(pts, 2, axis=0)
    segments = zip(ends[:-1], ends[1:], strict=True)
    for a0, b0 in segments:
        for a, b in _pieces(a0, b0, radius):
            rect = _segment_rect(a, b, radius, shape)
            if rect.empty:
                continue
            hit = _capsule(a, b, radius, rect)
            region = mask[rect.slices]
            region[hit] = value
            dirty = dirty.union(rect)
    return dirty


# --------------------------------------------------------------------------------------------
# Polygons (lasso)

_SHIFT = 8  # sub-pixel bits for cv2.fillPoly


def polygon_rect(shape: tuple[int, ...], vertices_rc: np.ndarray) -> Rect:
    """Rectangle that :func:`paint_polygon` with these vertices may change (clipped)."""
    pts = _points(vertices_rc)
    if len(pts) == 0:
        return EMPTY_RECT
    lo = np.floor(pts.min(axis=0)).astype(int)
    hi = np.ceil(pts.max(axis=0)).astype(int)
    return Rect(int(lo[0]), int(hi[0]) + 1, int(lo[1]), int(hi[1]) + 1).clip(shape)


def paint_polygon(mask: np.ndarray, vertices_rc: np.ndarray, value: bool) -> Rect:
    """Fill a closed polygon (lasso) into ``mask`` in place.

    Pixels are those ``cv2.fillPoly`` covers for the vertices at 1/256-pixel precision
    (boundary pixels included); a self-intersecting lasso is filled by OpenCV's scan-line rule.
    Fewer than 3 distinct vertices paint nothing.

    Args:
        mask: ``bool`` ``(H, W)``, modified in place.
        vertices_rc: ``(K, 2)`` ``(row, col)`` vertices, implicitly closed; may lie outside.
        value: ``True`` adds lesion, ``False`` subtracts it.

    Returns:
        The dirty rectangle (clipped; empty when nothing could change).
    """
    check_mask(mask)
    pts = _points(vertices_rc)
    if len(np.unique(pts, axis=0)) < 3:
        return EMPTY_RECT
    rect = polygon_rect(mask.shape, pts)
    if rect.empty:
        return EMPTY_RECT
    local = pts - np.array([rect.r0, rect.c0], dtype=np.float64)
    # OpenCV wants (x, y) = (col, row) integer points; the shift keeps sub-pixel precision.
    xy = np.rint(local[:, ::-1] * (1 << _SHIFT)).astype(np.int32).reshape(-1, 1, 2)
    buf = np.zeros((rect.height, rect.width), dtype=np.uint8)
    cv2.fillPoly(buf, [xy], 1, lineType=cv2.LINE_8, shift=_SHIFT)
    region = mask[rect.slices]
    region[buf.view(bool)] = bool(value)
    return rect


# --------------------------------------------------------------------------------------------
# Undo patches


def _pack(arr: np.ndarray) -> bytes:
    return zlib.compress(np.packbits(arr, axis=None).tobytes(), 1)


def _unpack(data: bytes, shape: tuple[int, int]) -> np.ndarray:
    bits = np.frombuffer(zlib.decompress(data), dtype=np.uint8)
    return np.unpackbits(bits, count=shape[0] * shape[1]).reshape(shape).view(bool)


class MaskPatch:
    """One undoable change: the region ``rect`` of the mask before and after it.

    ``MaskPatch(rect, before, after)`` takes ``bool`` arrays of the rectangle's shape (kept by
    reference, not copied). :meth:`compact` stores them bit-packed and zlib-compressed
    (typically 100-300× smaller; a few ms per megapixel) so a long undo history of whole-mask
    operations on large images stays small; ``before``/``after`` are then decompressed on
    access. A GUI can compact a patch once it is no longer the newest undo step.
    """

    __slots__ = ("rect", "_before", "_after", "_packed", "_changed")

    def __init__(self, rect: Rect, before: np.ndarray, after: np.ndarray) -> None:
        before = np.asarray(before)
        after = np.asarray(after)
        shape = (rect.height, rect.width)
        if before.shape != shape or after.shape != shape:
            raise ValueError(
                f"patch arrays must have the rectangle's shape {shape}, got {before.shape} "
                f"and {after.shape}"
            )
        if before.dtype != bool or after.dtype != bool:
            raise TypeError("patch arrays must be bool")
        self.rect = rect
        self._before: np.ndarray | bytes = before
        self._after: np.ndarray | bytes = after
        self._packed = False
        self._changed: int | None = None

    def __repr__(self) -> str:
        state = "compact" if self._packed else "raw"
        return f"MaskPatch({self.rect}, {state}, {self.nbytes} bytes)"

    @property
    def before(self) -> np.ndarray:
        """The region before the change, ``bool`` ``(rect.height, rect.width)``."""
        if self._packed:
            return _unpack(self._before, (self.rect.height, self.rect.width))  # type: ignore[arg-type]
        return self._before  # type: ignore[return-value]

    @property
    def after(self) -> np.ndarray:
        """The region after the change, ``bool`` ``(rect.height, rect.width)``."""
        if self._packed:
            return _unpack(self._after, (self.rect.height, self.rect.width))  # type: ignore[arg-type]
        return self._after  # type: ignore[return-value]

    @property
    def compacted(self) -> bool:
        """True once :meth:`compact` has packed the arrays."""
        return self._packed

    def apply(self, mask: np.ndarray) -> Rect:
        """Redo: write ``after`` into ``mask``; returns the dirty rectangle."""
        mask[self.rect.slices] = self.after
        return self.rect

    def revert(self, mask: np.ndarray) -> Rect:
        """Undo: write ``before`` into ``mask``; returns the dirty rectangle."""
        mask[self.rect.slices] = self.before
        return self.rect

    @property
    def nbytes(self) -> int:
        """Memory held by the patch data, in bytes."""
        if self._packed:
            return len(self._before) + len(self._after)  # type: ignore[arg-type]
        return int(self._before.nbytes + self._after.nbytes)  # type: ignore[union-attr]

    @property
    def changed_pixels(self) -> int:
        """Number of pixels whose value differs between before and after (cached)."""
        if self._changed is None:
            self._changed = int(np.count_nonzero(self.before != self.after))
        return self._changed

    def compact(self) -> MaskPatch:
        """Store the arrays bit-packed and compressed (idempotent); returns ``self``."""
        if not self._packed:
            self.changed_pixels  # noqa: B018 - cache it while the arrays are at hand
            self._before = _pack(self._before)  # type: ignore[arg-type]
            self._after = _pack(self._after)  # type: ignore[arg-type]
            self._packed = True
        return self


def patch_for(mask: np.ndarray, rect: Rect) -> np.ndarray:
    """Copy of ``mask[rect]`` (take it *before* an in-place edit to build a :class:`MaskPatch`)."""
    return mask[rect.clip(mask.shape).slices].copy()


def _change_bbox(old: np.ndarray, new: np.ndarray) -> Rect:
    h, w = old.shape
    if w % 8 == 0 and old.flags.c_contiguous and new.flags.c_contiguous:
        # Compare 8 pixels at a time.
        diff = old.view(np.uint64) != new.view(np.uint64)
        rows = np.flatnonzero(diff.any(axis=1))
        if rows.size == 0:
            return EMPTY_RECT
        r0, r1 = int(rows[0]), int(rows[-1]) + 1
    else:
        rows = np.flatnonzero((old != new).any(axis=1))
        if rows.size == 0:
            return EMPTY_RECT
        r0, r1 = int(rows[0]), int(rows[-1]) + 1
    cols = np.flatnonzero((old[r0:r1] != new[r0:r1]).any(axis=0))
    return Rect(r0, r1, int(cols[0]), int(cols[-1]) + 1)


def diff_patch(old: np.ndarray, new: np.ndarray, within: Rect | None = None) -> MaskPatch | None:
    """Patch turning ``old`` into ``new`` over the bounding box of their difference.

    Args:
        old, new: ``bool`` ``(H, W)`` masks of the same shape (not modified; the patch holds
            copies).
        within: optional rectangle known to contain every change (faster for local edits).

    Returns:
        The :class:`MaskPatch`, or ``None`` when the masks are equal.
    """
    check_mask(old)
    check_mask(new)
    if old.shape != new.shape:
        raise ValueError(f"masks differ in shape: {old.shape} vs {new.shape}")
    if within is not None:
        box = within.clip(old.shape)
        if box.empty:
            return None
        local = _change_bbox(np.ascontiguousarray(old[box.slices]),
                             np.ascontiguousarray(new[box.slices]))
        rect = Rect(local.r0 + box.r0, local.r1 + box.r0, local.c0 + box.c0, local.c1 + box.c0)
        if local.empty:
            return None
    else:
        rect = _change_bbox(old, new)
        if rect.empty:
            return None
    return MaskPatch(rect, old[rect.slices].copy(), new[rect.slices].copy())


@dataclass
class Stroke:
    """A brush or eraser stroke built from mouse moves; one stroke is one undo step.

    ``Stroke(mask, radius, value)`` snapshots the mask (one copy, on mouse press);
    :meth:`add` paints the segment from the previous point (a disc for the first one) and
    returns the dirty rectangle to redraw; :meth:`finish` returns the :class:`MaskPatch` of the
    whole stroke (``None`` when nothing changed).
    """

    mask: np.ndarray
    radius: float
    value: bool
    _start: np.ndarray = field(init=False, repr=False)
    _last: np.ndarray | None = field(init=False, default=None, repr=False)
    _dirty: Rect = field(init=False, default=EMPTY_RECT)

    def __post_init__(self) -> None:
        check_mask(self.mask)
        self._start = self.mask.copy()

    @property
    def dirty(self) -> Rect:
        """Union of the rectangles painted so far."""
        return self._dirty

    def add(self, point_rc) -> Rect:
        """Extend the stroke to ``point_rc`` ``(row, col)``; returns the rectangle painted."""
        p = _points(point_rc)[0]
        pts = p[None, :] if self._last is None else np.stack([self._last, p])
        self._last = p
        rect = paint_stroke(self.mask, pts, self.radius, self.value)
        self._dirty = self._dirty.union(rect)
        return rect

    def finish(self) -> MaskPatch | None:
        """The undo patch for the whole stroke (tight box of the pixels that changed)."""
        return diff_patch(self._start, self.mask, within=self._dirty)
