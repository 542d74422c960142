"""Mask editing without Qt: brush strokes, lasso polygons, morphology, undo patches.

Masks are ``bool`` arrays ``(H, W)``; coordinates are ``(row, col)`` in pixels, where pixel
``(r, c)`` has its centre at ``(r, c)``. In-place operations touch only the rectangle they can
change and return it (the *dirty rectangle*) so a GUI redraws and records just that region;
on a 4000×3000 mask one brush segment costs tens of microseconds.

Whole-mask operations (:func:`fill_holes`, :func:`keep_largest`, :func:`grow`, :func:`shrink`,
:func:`smooth`) return a new mask and work on the bounding box of the lesion plus the margin
the operation needs, which gives the same result as running them over the whole image.
Undo/redo is done with :class:`MaskPatch` (the region before and after a change), built by
:func:`diff_patch` or by a :class:`Stroke`.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = [
    "Rect",
    "MaskPatch",
    "Stroke",
    "paint_stroke",
    "paint_polygon",
    "stroke_rect",
    "polygon_rect",
    "fill_holes",
    "keep_largest",
    "grow",
    "shrink",
    "smooth",
    "diff_patch",
    "patch_for",
    "mask_bbox",
]


@dataclass(frozen=True)
class Rect:
    """Half-open pixel rectangle: rows ``r0 <= r < r1``, columns ``c0 <= c < c1``."""

    r0: int
    r1: int
    c0: int
    c1: int

    @classmethod
    def full(cls, shape: tuple[int, ...]) -> Rect:
        """The rectangle covering a whole array of ``shape`` ``(H, W, ...)``."""
        return cls(0, int(shape[0]), 0, int(shape[1]))

    @classmethod
    def empty_rect(cls) -> Rect:
        """A canonical empty rectangle (neutral element of :meth:`union`)."""
        return cls(0, 0, 0, 0)

    @property
    def empty(self) -> bool:
        """True when the rectangle holds no pixel."""
        return self.r1 <= self.r0 or self.c1 <= self.c0

    @property
    def height(self) -> int:
        return max(0, self.r1 - self.r0)

    @property
    def width(self) -> int:
        return max(0, self.c1 - self.c0)

    @property
    def area(self) -> int:
        """Number of pixels."""
        return self.height * self.width

    @property
    def slices(self) -> tuple[slice, slice]:
        """``(rows, cols)`` slices: ``mask[rect.slices]`` is the region."""
        return slice(self.r0, self.r1), slice(self.c0, self.c1)

    def union(self, other: Rect) -> Rect:
        """Smallest rectangle holding both (an empty operand is ignored)."""
        if self.empty:
            return other
        if other.empty:
            return self
        return Rect(min(self.r0, other.r0), max(self.r1, other.r1),
                    min(self.c0, other.c0), max(self.c1, other.c1))

    def intersect(self, other: Rect) -> Rect:
        """Overlap of both rectangles (the canonical empty rectangle when they do not meet)."""
        out = Rect(max(self.r0, other.r0), min(self.r1, other.r1),
                   max(self.c0, other.c0), min(self.c1, other.c1))
        return Rect(0, 0, 0, 0) if out.empty else out

    def clip(self, shape: tuple[int, ...]) -> Rect:
        """This rectangle clipped to an array of ``shape`` ``(H, W, ...)``."""
        return self.intersect(Rect.full(shape))

    def expand(self, margin: int) -> Rect:
        """Grown by ``margin`` pixels on every side (not clipped)."""
        return Rect(self.r0 - margin, self.r1 + margin, self.c0 - margin, self.c1 + margin)


_EMPTY = Rect(0, 0, 0, 0)


def _check_mask(mask: np.ndarray) -> None:
    if not isinstance(mask, np.ndarray) or mask.dtype != bool or mask.ndim != 2:
        raise TypeError(
            f"mask must be a bool (H, W) numpy array, got "
            f"{getattr(mask, 'dtype', type(mask))} {getattr(mask, 'shape', '')}"
        )


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
    out = _EMPTY
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
    _check_mask(mask)
    pts = _points(points_rc)
    if radius < 0 or not math.isfinite(radius):
        raise ValueError(f"radius must be a finite number >= 0, got {radius}")
    value = bool(value)
    dirty = _EMPTY
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
        return _EMPTY
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
    _check_mask(mask)
    pts = _points(vertices_rc)
    if len(np.unique(pts, axis=0)) < 3:
        return _EMPTY
    rect = polygon_rect(mask.shape, pts)
    if rect.empty:
        return _EMPTY
    local = pts - np.array([rect.r0, rect.c0], dtype=np.float64)
    # OpenCV wants (x, y) = (col, row) integer points; the shift keeps sub-pixel precision.
    xy = np.rint(local[:, ::-1] * (1 << _SHIFT)).astype(np.int32).reshape(-1, 1, 2)
    buf = np.zeros((rect.height, rect.width), dtype=np.uint8)
    cv2.fillPoly(buf, [xy], 1, lineType=cv2.LINE_8, shift=_SHIFT)
    region = mask[rect.slices]
    region[buf.view(bool)] = bool(value)
    return rect


# --------------------------------------------------------------------------------------------
# Whole-mask operations


def mask_bbox(mask: np.ndarray) -> Rect:
    """Bounding box of the ``True`` pixels (empty rectangle for an empty mask)."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return _EMPTY
    r0, r1 = int(rows[0]), int(rows[-1]) + 1
    cols = np.flatnonzero(mask[r0:r1].any(axis=0))
    return Rect(r0, r1, int(cols[0]), int(cols[-1]) + 1)


def _disk(radius: int) -> np.ndarray:
    """Disk structuring element: offsets with ``dr² + dc² <= radius²`` (uint8)."""
    r = np.arange(-radius, radius + 1)
    return (r[:, None] ** 2 + r[None, :] ** 2 <= radius * radius).astype(np.uint8)


def _apply_in_box(mask: np.ndarray, margin: int, fn) -> np.ndarray:
    """Run ``fn(crop) -> new bool crop`` on the lesion bounding box + ``margin``.

    ``fn`` must give the same answer on the crop as on the whole mask (outside the box the
    mask is all background). When the box covers most of the image the whole mask is passed
    directly, which saves two copies.
    """
    _check_mask(mask)
    box = mask_bbox(mask)
    if box.empty:
        return np.zeros_like(mask)
    box = box.expand(margin).clip(mask.shape)
    if box.area * 2 > mask.size:
        return fn(np.ascontiguousarray(mask))
    out = np.zeros_like(mask)
    out[box.slices] = fn(np.ascontiguousarray(mask[box.slices]))
    return out


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill holes: background regions (4-connected) that do not reach the image border.

    Returns a new ``bool`` ``(H, W)`` mask.
    """

    def op(crop: np.ndarray) -> np.ndarray:
        padded = cv2.copyMakeBorder(crop.view(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT,
                                    value=0)
        ff_mask = np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), dtype=np.uint8)
        cv2.floodFill(padded, ff_mask, (0, 0), 2, flags=4)
        return padded[1:-1, 1:-1] != 2

    # Outside the lesion box everything is background connected to the border, so the crop
    # padded with background gives the full-image answer.
    return _apply_in_box(mask, 0, op)


def keep_largest(mask: np.ndarray) -> np.ndarray:
    """Keep only the largest 8-connected region (ties: the first in raster order).

    Returns a new ``bool`` ``(H, W)`` mask (all ``False`` for an empty mask).
    """

    def op(crop: np.ndarray) -> np.ndarray:
        u8 = crop.view(np.uint8)
        try:  # 16-bit labels are several times faster; fall back when there are too many
            n, labels, stats, _ = cv2.connectedComponentsWithStats(u8, connectivity=8,
                                                                   ltype=cv2.CV_16U)
        except cv2.error:
            n, labels, stats, _ = cv2.connectedComponentsWithStats(u8, connectivity=8,
                                                                   ltype=cv2.CV_32S)
        if n <= 2:
            return crop.copy()
        best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        x, y, w, h = (int(v) for v in stats[best, :4])
        out = np.zeros(crop.shape, dtype=bool)
        out[y:y + h, x:x + w] = labels[y:y + h, x:x + w] == best
        return out

    return _apply_in_box(mask, 0, op)


def _check_px(px: int, what: str) -> int:
    if int(px) != px or px < 0:
        raise ValueError(f"{what} must be a whole number of pixels >= 0, got {px}")
    return int(px)


def _morph(mask: np.ndarray, px: int, op) -> np.ndarray:
    _check_mask(mask)
    px = _check_px(px, "px")
    if px == 0:
        return mask.copy()
    # A whole-image OpenCV call on the uint8 view is faster than cropping (SIMD, ~1 ms for
    # 12 MP); the result holds 0/1, so it is viewed back as bool without a copy.
    return op(mask.view(np.uint8), _disk(px)).view(bool)


def grow(mask: np.ndarray, px: int = 1) -> np.ndarray:
    """Dilate by a disk of radius ``px`` pixels (``px=1``: the 4 direct neighbours).

    Returns a new ``bool`` ``(H, W)`` mask.
    """
    return _morph(mask, px, cv2.dilate)


def shrink(mask: np.ndarray, px: int = 1) -> np.ndarray:
    """Erode by a disk of radius ``px`` pixels; the image edge does not erode the lesion.

    Returns a new ``bool`` ``(H, W)`` mask.
    """
    # OpenCV's default erode border is +inf: a lesion touching the image edge is kept there.
    return _morph(mask, px, cv2.erode)


def smooth(mask: np.ndarray, radius: float = 3) -> np.ndarray:
    """Smooth the boundary: Gaussian blur (sigma = ``radius`` px) of the mask, threshold 1/2.

    The blur runs on 0/255 ``uint8`` (OpenCV fixed point; a pixel is kept when the blurred
    value is >= 128) over a ``3 * radius`` kernel half-width. Removes jaggies and details
    smaller than about ``radius``; keeps the area roughly unchanged. ``radius=0`` returns a
    copy. Returns a new ``bool`` ``(H, W)`` mask.
    """
    _check_mask(mask)
    if radius < 0 or not math.isfinite(radius):
        raise ValueError(f"radius must be a finite number >= 0, got {radius}")
    if radius == 0:
        return mask.copy()
    half = int(math.ceil(3 * radius))
    ksize = 2 * half + 1

    def op(crop: np.ndarray) -> np.ndarray:
        u8 = crop.view(np.uint8) * np.uint8(255)
        blurred = cv2.GaussianBlur(u8, (ksize, ksize), sigmaX=float(radius),
                                   sigmaY=float(radius), borderType=cv2.BORDER_REPLICATE)
        return blurred > 127

    # Margin > half the kernel: outside the crop the mask is 0 and so is the blur.
    return _apply_in_box(mask, half + 1, op)


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
            return _EMPTY
        r0, r1 = int(rows[0]), int(rows[-1]) + 1
    else:
        rows = np.flatnonzero((old != new).any(axis=1))
        if rows.size == 0:
            return _EMPTY
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
    _check_mask(old)
    _check_mask(new)
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
    _dirty: Rect = field(init=False, default=_EMPTY)

    def __post_init__(self) -> None:
        _check_mask(self.mask)
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
