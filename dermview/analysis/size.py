"""Size of a lesion: area, perimeter, diameters, principal axes (scikit-image ``regionprops``).

Coordinates are (row, col) in pixels of the mask given. Lengths are in px; the ``*_mm``
properties convert them when a scale (mm per pixel) is known and are ``None`` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dermview.errors import MaskError

Point = tuple[float, float]  # (row, col), px
Segment = tuple[Point, Point]


@dataclass(frozen=True)
class Axes:
    """The lesion's principal axes through its centroid (the axes asymmetry is judged about).

    Attributes:
        centroid: (row, col) in px.
        major: unit vector (d_row, d_col) of the longer principal axis; ``minor`` is
            perpendicular to it.
        major_segment, minor_segment: where each axis crosses the lesion's extent (the
            outermost pixel corners projected on it), as two (row, col) end points, px.
    """

    centroid: Point
    major: Point
    minor: Point
    major_segment: Segment
    minor_segment: Segment


@dataclass(frozen=True)
class Size:
    """Measurements in px (``mm_per_px`` None = scale unknown).

    Attributes:
        area_px: lesion pixels.
        perimeter_px: boundary length (scikit-image ``perimeter``, 4-connected estimate).
        diameter_px: longest diameter, the maximum Feret (caliper) diameter.
        width_px: the lesion's extent perpendicular to the longest diameter.
        equivalent_diameter_px: diameter of the disc of the same area.
        convex_area_px: area of the convex hull of the pixels (their outer corners), px².
        diameter_segment: the end points of the longest diameter, (row, col) px.
        width_segment: a segment of length ``width_px`` perpendicular to it, through the lesion.
        axes: the principal axes (:class:`Axes`).
        mm_per_px: the scale, or ``None``.
    """

    area_px: int
    perimeter_px: float
    diameter_px: float
    width_px: float
    equivalent_diameter_px: float
    convex_area_px: float
    diameter_segment: Segment
    width_segment: Segment
    axes: Axes
    mm_per_px: float | None = None

    def _mm(self, px: float) -> float | None:
        return None if self.mm_per_px is None else px * self.mm_per_px

    @property
    def area_mm2(self) -> float | None:
        return None if self.mm_per_px is None else self.area_px * self.mm_per_px ** 2

    @property
    def perimeter_mm(self) -> float | None:
        return self._mm(self.perimeter_px)

    @property
    def diameter_mm(self) -> float | None:
        return self._mm(self.diameter_px)

    @property
    def width_mm(self) -> float | None:
        return self._mm(self.width_px)

    @property
    def equivalent_diameter_mm(self) -> float | None:
        return self._mm(self.equivalent_diameter_px)


def region(mask: np.ndarray):
    """The ``regionprops`` of the whole mask as one region (any number of pieces).

    Raises:
        MaskError: the mask is not 2-D or holds no lesion pixel.
    """
    from skimage.measure import regionprops

    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise MaskError(f"The lesion mask must be a 2-D image, got shape {mask.shape}")
    if not mask.any():
        raise MaskError("The lesion mask is empty: there is no lesion to analyse")
    return regionprops(mask.astype(np.uint8))[0]


def centroid_inertia(props) -> tuple[Point, np.ndarray]:
    """The region's centroid (row, col) and its inertia tensor (2, 2), as ``regionprops``'
    ``centroid`` and ``inertia_tensor`` give them, from OpenCV's moments of its image (on a
    24-MP mask those properties took a quarter of a second: the pixels' coordinates, then
    third-order central moments). The centroid is the same number (sums of whole numbers,
    one division); the tensor agrees to rounding (about 1e-12 of its size)."""
    import cv2

    m = cv2.moments(props.image.astype(np.uint8), binaryImage=True)
    n = m["m00"]
    r0, c0 = props.bbox[:2]
    # (n·r0 + Σ rows) / n: the coordinates' mean, rounded once as numpy rounds it
    centroid = ((n * r0 + m["m01"]) / n, (n * c0 + m["m10"]) / n)
    # OpenCV's x is the column: its mu02 is regionprops' mu[2, 0] (rows), mu20 its mu[0, 2]
    tensor = np.array([[m["mu20"] / n, -m["mu11"] / n], [-m["mu11"] / n, m["mu02"] / n]])
    return centroid, tensor


def perimeter_4(image: np.ndarray) -> float:
    """``skimage.measure.perimeter(image, 4)`` (the ``regionprops`` perimeter) with OpenCV's
    erosion and filter: the same whole-number histogram, so the same number, several times
    faster on a large mask."""
    import cv2

    img = np.ascontiguousarray(image, dtype=np.uint8)
    cross = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)
    eroded = cv2.erode(img, cross, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    border = cv2.subtract(img, eroded)
    kernel = np.array([[10, 2, 10], [2, 1, 2], [10, 2, 10]], np.float32)
    codes = cv2.filter2D(border, cv2.CV_8U, kernel, borderType=cv2.BORDER_CONSTANT)
    weights = np.zeros(50, dtype=np.float64)
    weights[[5, 7, 15, 17, 25, 27]] = 1
    weights[[21, 33]] = np.sqrt(2)
    weights[[13, 23]] = (1 + np.sqrt(2)) / 2
    return float(np.bincount(codes.ravel(), minlength=50)[:50] @ weights)


def principal_axes(props, hull: np.ndarray | None = None) -> Axes:
    """Principal axes of a region (eigenvectors of its inertia tensor) clipped to its extent
    (the outermost projections, taken over ``hull`` points (N, 2) when given, else over
    every pixel)."""
    (cr, cc), tensor = centroid_inertia(props)
    vals, vecs = np.linalg.eigh(tensor)
    major = vecs[:, int(np.argmin(vals))]  # the least inertia: the long direction
    if major[0] < 0 or (major[0] == 0 and major[1] < 0):
        major = -major
    minor = np.array([-major[1], major[0]])
    pts = (props.coords if hull is None else hull).astype(np.float64) - (cr, cc)
    c = np.array([cr, cc])

    def seg(d: np.ndarray) -> Segment:
        p = pts @ d
        a, b = c + d * p.min(), c + d * p.max()
        return (float(a[0]), float(a[1])), (float(b[0]), float(b[1]))

    return Axes((float(cr), float(cc)), (float(major[0]), float(major[1])),
                (float(minor[0]), float(minor[1])), seg(major), seg(minor))


def scaled_axes(axes: Axes, scale: float, offset: tuple[float, float]) -> Axes:
    """The same axes in another pixel grid: ``(row, col) * scale - offset``."""
    def move(p: Point) -> Point:
        return (p[0] * scale - offset[0], p[1] * scale - offset[1])

    return Axes(move(axes.centroid), axes.major, axes.minor,
                (move(axes.major_segment[0]), move(axes.major_segment[1])),
                (move(axes.minor_segment[0]), move(axes.minor_segment[1])))


def _hull_points(props) -> np.ndarray:
    """Corners of the lesion's pixels on its convex hull, (row, col) float, shape (N, 2)."""
    import cv2

    r0, c0 = props.bbox[:2]
    img = props.image.astype(np.uint8)
    # pixel corners: a pixel at (r, c) covers [r-0.5, r+0.5] x [c-0.5, c+0.5]
    contours, _ = cv2.findContours(img, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    pts = np.concatenate([c.reshape(-1, 2) for c in contours]).astype(np.float32)  # (x, y)
    hull = cv2.convexHull(pts).reshape(-1, 2)
    offs = np.array([[-0.5, -0.5], [-0.5, 0.5], [0.5, -0.5], [0.5, 0.5]], np.float32)
    corners = (hull[:, None, :] + offs[None]).reshape(-1, 2)
    hull = cv2.convexHull(corners).reshape(-1, 2)
    return np.stack([hull[:, 1] + r0, hull[:, 0] + c0], axis=1).astype(np.float64)


def _feret(hull: np.ndarray) -> tuple[float, Segment, float, Segment]:
    """Longest diameter of a convex polygon ``(N, 2)`` and its extent perpendicular to it,
    with their segments."""
    d = np.linalg.norm(hull[:, None, :] - hull[None, :, :], axis=2)
    i, j = np.unravel_index(int(np.argmax(d)), d.shape)
    a, b = hull[i], hull[j]
    length = float(d[i, j])
    u = (b - a) / length if length > 0 else np.array([1.0, 0.0])
    n = np.array([-u[1], u[0]])
    proj = (hull - a) @ n
    lo, hi = float(proj.min()), float(proj.max())
    mid = (a + b) / 2  # the width segment crosses the middle of the diameter
    w_a, w_b = mid + n * lo, mid + n * hi
    seg_d = (float(a[0]), float(a[1])), (float(b[0]), float(b[1]))
    seg_w = (float(w_a[0]), float(w_a[1])), (float(w_b[0]), float(w_b[1]))
    return length, seg_d, hi - lo, seg_w


def measure_size(mask: np.ndarray, mm_per_px: float | None = None, props=None) -> Size:
    """Size of the lesion in ``mask`` (``bool`` ``(H, W)``); see :class:`Size`.

    The longest diameter is the maximum Feret (caliper) diameter over the pixels' outer
    corners (a square of n×n pixels measures n·√2); its end points come with it, which
    scikit-image's ``feret_diameter_max`` does not return.
    """
    import cv2

    props = region(mask) if props is None else props
    hull = _hull_points(props)
    diameter, seg_d, width, seg_w = _feret(hull)
    convex_area = float(cv2.contourArea(hull[:, ::-1].astype(np.float32)))
    return Size(
        area_px=int(props.area), perimeter_px=perimeter_4(props.image), diameter_px=diameter,
        width_px=width, equivalent_diameter_px=float(props.equivalent_diameter_area),
        convex_area_px=convex_area,
        diameter_segment=seg_d, width_segment=seg_w, axes=principal_axes(props, hull),
        mm_per_px=mm_per_px,
    )
