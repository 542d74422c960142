"""Hair detection: LUV closing, difference image, trough test, thin-and-long components.

Method (all at one analysis scale, see :mod:`dermview.preprocess.pipeline`):

1. RGB → CIE LUV (OpenCV 8-bit scaling: L 0-255).
2. Morphological closing of L, U and V with the structuring element B (``ellipse``, ``rect``,
   ``cross`` or ``lines`` = maximum over a bank of oriented line elements), by default on a
   2× min-pooled copy with B halved (rounded up), interpolated back to full size.
3. Difference image ``D = (close(L) - L) + 0.5 * ((close(U) - U) + (close(V) - V))``: large
   where a thin structure darker (or less saturated) than its surroundings was closed.
4. Trough (valley) test with the oriented line bank: a hair pixel is a valley across the hair
   but *not along it*, so at least one line orientation does not close it
   (``min_θ close_θ(L) - L`` small compared with ``D``). Dots, globules and the meshes of a
   pigment network are closed in every orientation and fail this test.
5. Hysteresis thresholds on ``D`` give the hair map CR; its connected components are kept only
   when thin (largest inscribed half-width small) and long (bounding-box diagonal large).
   ``N`` is the number of kept components.
6. Light (white / grey) hair: the same with openings of L (bright thin structures of low
   chroma), with stricter thresholds.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

#: Number of orientations of the line bank (180° / 8 = 22.5° apart; 6, 8, 10 and 12 were
#: compared on the synthetic-hair benchmark: 8-10 best, 12 lost recall).
N_ANGLES = 8


@dataclass(frozen=True)
class HairSettings:
    """Detection constants, in grey levels (L of 8-bit LUV, 0-255) and analysis-scale pixels."""

    t_high: float = 25.0  # D above this seeds a hair (with the trough test)
    t_low: float = 14.0  # D above this extends a hair (hysteresis)
    trough_ratio: float = 0.4  # min_θ / max response at most this for a valley
    trough_sigma: float = 1.0  # Gaussian smoothing (px) of L before the trough test
    max_half_width: float = 4.5  # largest inscribed radius of a hair component (px)
    min_length: float = 20.0  # extent of a hair component (px)
    min_elongation: float = 4.0  # length / width of short components
    along_factor: int = 1  # the trough test uses lines of along_factor * size px (<= 41)
    grow: int = 2  # pixels of hysteresis growth around kept seeds
    rim: int = 0  # final unconditional dilation (px): the anti-aliased edge of the hair
    border: int = 3  # no seeds this close to the image edge (JPEG / resize edge lines)
    light: bool = True  # also detect light (white / grey) hair
    light_t_high: float = 16.0
    light_min_length: float = 30.0
    light_max_half_width: float = 4.0
    light_grow: int = 1
    light_max_chroma: float = 40.0  # LUV chroma (sqrt(u*^2 + v*^2) in 8-bit units) of light hair
    # The closing (dark) and opening (light) are taken at 1/bank_scale size with B scaled to
    # match and brought back by linear interpolation; differences stay at full size.
    bank_scale: int = 2


def line_kernels(size: int, n_angles: int = N_ANGLES) -> list[np.ndarray]:
    """Bank of ``n_angles`` line structuring elements of length ``size`` (odd), uint8."""
    c = size // 2
    out = []
    for i in range(n_angles):
        a = np.pi * i / n_angles
        k = np.zeros((size, size), np.uint8)
        dx, dy = c * np.cos(a), c * np.sin(a)
        p1 = (int(round(c - dx)), int(round(c - dy)))
        p2 = (int(round(c + dx)), int(round(c + dy)))
        cv2.line(k, p1, p2, 1, 1)
        out.append(k)
    return out


def structuring_element(shape: str, size: int) -> list[np.ndarray]:
    """Structuring element(s) B of ``shape`` and odd ``size``; ``lines`` gives the whole bank."""
    if shape == "lines":
        return line_kernels(size)
    kind = {"ellipse": cv2.MORPH_ELLIPSE, "rect": cv2.MORPH_RECT, "cross": cv2.MORPH_CROSS}[shape]
    return [cv2.getStructuringElement(kind, (size, size))]


@functools.lru_cache(maxsize=64)
def _bank(shape: str, size: int) -> tuple[tuple[np.ndarray, tuple[int, int]], ...]:
    """:func:`structuring_element` bank, cropped (see :func:`_cropped`), cached."""
    return tuple(_cropped(structuring_element(shape, size)))


def _cropped(kernels: list[np.ndarray]) -> list[tuple[np.ndarray, tuple[int, int]]]:
    """Each kernel cut to the bounding box of its nonzero cells, with the anchor (x, y) that
    keeps its original centre: the same morphology, fewer cells to visit."""
    out = []
    for k in kernels:
        c = k.shape[0] // 2
        rows = np.flatnonzero(k.any(axis=1))
        cols = np.flatnonzero(k.any(axis=0))
        r0, c0 = int(rows[0]), int(cols[0])
        out.append((np.ascontiguousarray(k[r0 : rows[-1] + 1, c0 : cols[-1] + 1]), (c - c0, c - r0)))
    return out


def _bank_reduce(img: np.ndarray, kernels, op: int, keep_max: bool) -> np.ndarray:
    """Maximum (or minimum) over the kernel bank (from :func:`_cropped`) of a morphological
    operation, uint8."""
    out = None
    for k, anchor in kernels:
        r = cv2.morphologyEx(img, op, k, anchor=anchor)
        if out is None:
            out = r
        elif keep_max:
            cv2.max(out, r, dst=out)
        else:
            cv2.min(out, r, dst=out)
    return out


def _pool(img: np.ndarray, k: int, op: int) -> np.ndarray:
    """Minimum (``op`` = erode) or maximum (dilate) over k×k blocks: ``ceil(H/k) × ceil(W/k)``.

    Min-pooling keeps a thin dark line at full contrast (area averaging would halve it) and
    moves edges only towards the bright side, so the background interpolated back from a
    closing of the pooled copy never lies above a dark region next to a sharp edge.
    """
    return np.ascontiguousarray(cv2.morphologyEx(img, op, np.ones((k, k), np.uint8), anchor=(0, 0))[::k, ::k])


#: 1×3 matrix of :func:`cv2.transform`: half of U plus half of V.
_UV_HALF = np.array([[0.0, 0.5, 0.5]], np.float32)


def _at_least(img: np.ndarray, t: float) -> np.ndarray:
    """uint8 0/255 where ``img`` (uint8) >= ``t``."""
    return cv2.threshold(img, float(np.ceil(t)) - 1, 255, cv2.THRESH_BINARY)[1]


def _trough_lut(ratio10: int) -> np.ndarray:
    """LUT ``a -> t`` with ``d > t`` exactly when ``10 * a <= ratio10 * d`` (d in 1-255)."""
    a = np.arange(256)
    if ratio10 <= 0:
        return np.where(a == 0, 0, 255).astype(np.uint8)
    return np.clip(-((-10 * a) // ratio10) - 1, 0, 255).astype(np.uint8)


def _valley(along: np.ndarray, depth1: np.ndarray, ratio10: int) -> np.ndarray:
    """Trough test, uint8 0/255: ``10 * along <= ratio10 * depth1`` (uint8; depth1 >= 1)."""
    return cv2.compare(depth1, cv2.LUT(along, _trough_lut(ratio10)), cv2.CMP_GT)


def _low_chroma(luv: np.ndarray, max_chroma: float) -> np.ndarray:
    """uint8 0/255 per 8-bit LUV pixel ``(..., 3)``: 255 where the chroma
    ``(u - 96)² + (v - 136)²`` is <= ``max_chroma²`` (white / grey: neutral u, v = 96, 136)."""
    uv = luv[..., 1:].astype(np.int32) - np.array([96, 136], np.int32)
    return np.where((uv * uv).sum(axis=-1) <= int(max_chroma**2), 255, 0).astype(np.uint8)


def _points(mask8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) intp of the nonzero pixels of a uint8 mask, row-major order."""
    pts = cv2.findNonZero(mask8)
    if pts is None:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    pts = pts.reshape(-1, 2)
    return pts[:, 1].astype(np.intp), pts[:, 0].astype(np.intp)


def _depth(shape: tuple[int, int], r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Distance transform (L2, 3×3 chamfer) of the mask of pixels ``(r, c)``, at those pixels.

    Computed on their bounding box plus a one-pixel margin only: the chamfer distance is a
    path length, so pixels outside a component's box never change its values.
    """
    r0, r1 = max(0, int(r.min()) - 1), min(shape[0], int(r.max()) + 2)
    c0, c1 = max(0, int(c.min()) - 1), min(shape[1], int(c.max()) + 2)
    box = np.zeros((r1 - r0, c1 - c0), np.uint8)
    box[r - r0, c - c0] = 1
    return cv2.distanceTransform(box, cv2.DIST_L2, 3)[r - r0, c - c0]


def _thin_long(
    seeds: np.ndarray,
    max_half_width: float,
    min_length: float,
    min_elongation: float,
    max_fill: float = 0.2,
    max_thick_share: float = 0.03,
) -> tuple[np.ndarray, int]:
    """Keep the 8-connected components of ``seeds`` (uint8, nonzero = seed) that are thin and
    long; return (uint8 0/255 mask, N).

    Thin: at most ``max_thick_share`` of its pixels lie deeper than ``max_half_width`` inside
    it (distance transform; hair crossings are a little thicker). Long: extent
    ``sqrt(12·λ1)`` (λ1 = largest eigenvalue of the pixel-coordinate covariance; the length of
    a straight segment) >= ``min_length``. Short-to-medium components must also be elongated
    (λ1/λ2 >= ``min_elongation``²); very long ones (>= 3 × ``min_length``, e.g. crossing
    hairs) may be less elongated but must stay sparse: pixel count / area of the 2-sigma
    ellipse (4π·sqrt(λ1·λ2)) <= ``max_fill`` (a dense mesh is texture, not hair).
    Per-component statistics are sums over the seed pixels (never over the whole image).
    """
    out = np.zeros(seeds.shape, np.uint8)
    n, labels = cv2.connectedComponents(seeds, connectivity=8, ltype=cv2.CV_32S)
    if n <= 1:
        return out, 0
    rr, cc = _points(seeds)
    lab = labels[rr, cc]
    r = rr.astype(np.float64)
    c = cc.astype(np.float64)
    a = np.maximum(np.bincount(lab, minlength=n).astype(np.float64), 1.0)
    mr = np.bincount(lab, r, n) / a
    mc = np.bincount(lab, c, n) / a
    vrr = np.bincount(lab, r * r, n) / a - mr**2
    vcc = np.bincount(lab, c * c, n) / a - mc**2
    vrc = np.bincount(lab, r * c, n) / a - mr * mc
    tr = vrr + vcc
    det = vrr * vcc - vrc**2
    disc = np.sqrt(np.maximum(tr**2 / 4 - det, 0.0))
    l1 = tr / 2 + disc
    l2 = np.maximum(tr / 2 - disc, 1.0 / 12)
    extent = np.sqrt(12 * np.maximum(l1, 0.0))
    elongated = l1 / l2 >= min_elongation**2
    # Share of the component's 2-sigma ellipse that it covers: low for a few crossing hairs,
    # high for a dense mesh (crusts, pigment network).
    fill = a / (4 * np.pi * np.sqrt(np.maximum(l1 * l2, 1e-6)))
    keep = (extent >= min_length) & (elongated | ((extent >= 3 * min_length) & (fill <= max_fill)))
    keep[0] = False
    if not keep.any():
        return out, 0
    # Thin: few pixels deeper inside than max_half_width (crossings of hairs are allowed).
    sel = keep[lab]
    rr, cc, lab = rr[sel], cc[sel], lab[sel]
    deep = _depth(seeds.shape, rr, cc) > max_half_width + 0.5
    thick = np.bincount(lab[deep], minlength=n)
    keep &= thick <= max_thick_share * a
    keep[0] = False
    sel = keep[lab]
    out[rr[sel], cc[sel]] = 255
    return out, int(keep.sum())


def _grow(seeds: np.ndarray, allowed: np.ndarray, steps: int) -> np.ndarray:
    """``steps`` 8-neighbour growth of ``seeds`` into ``allowed`` (uint8 0/255 both)."""
    se = np.ones((3, 3), np.uint8)
    cur = seeds
    for _ in range(steps):
        cur = cv2.bitwise_or(cv2.bitwise_and(cv2.dilate(cur, se), allowed), cur)
    return cur


def detect_hair(
    rgb: np.ndarray,
    se_shape: str = "lines",
    se_size: int = 11,
    valid: np.ndarray | None = None,
    settings: HairSettings | None = None,
) -> tuple[np.ndarray, int]:
    """Find hair in an RGB uint8 ``(H, W, 3)`` image.

    Args:
        rgb: the image (frame already filled), at analysis scale.
        se_shape, se_size: structuring element B of the closing (odd size in pixels).
        valid: bool ``(H, W)``, where hair may be reported (e.g. not in the frame).
        settings: detection constants.

    Returns:
        ``(hair_mask bool (H, W), N)``, N = number of hair components found.

    All intermediate maps are uint8 (0/255 masks), combined with OpenCV.
    """
    s = settings or HairSettings()
    h, w = rgb.shape[:2]
    if h < 3 or w < 3:
        return np.zeros((h, w), bool), 0
    valid8 = np.full((h, w), 255, np.uint8) if valid is None else valid.view(np.uint8) * np.uint8(255)
    seed_ok = valid8.copy()
    b = min(s.border, (min(h, w) - 1) // 2)
    if b > 0:
        seed_ok[:b] = seed_ok[-b:] = 0
        seed_ok[:, :b] = seed_ok[:, -b:] = 0
    luv = cv2.cvtColor(rgb, cv2.COLOR_RGB2Luv)
    lum = cv2.extractChannel(luv, 0)
    lines = _bank("lines", min(41, s.along_factor * se_size))
    # Background without thin structures: the closing (dark hair) and the opening (light hair)
    # over B, taken on a min- (max-) pooled 1/bank_scale copy (B scaled: ceil(size / scale),
    # odd, >= 3) and interpolated back; the differences stay at full size. Hair is at most a
    # few pixels wide, so the background is smooth at that scale; pooling keeps thin hair at
    # full contrast. Measured against full size in the README (faster, no loss on the
    # synthetic-hair benchmark, fewer lesion pixels flagged).
    k = max(1, int(s.bank_scale))
    ks = se_size if k == 1 else max(3, ((se_size + k - 1) // k) | 1)
    luv_s = luv if k == 1 else _pool(luv, k, cv2.MORPH_ERODE)

    def full(img: np.ndarray) -> np.ndarray:  # pooled copy -> full size, pixel centres aligned
        if k == 1:
            return img
        up = cv2.resize(img, (img.shape[1] * k, img.shape[0] * k), interpolation=cv2.INTER_LINEAR)
        return np.ascontiguousarray(up[:h, :w])

    # Difference image: closing minus original (uint8, saturated at 0).
    clo = full(_bank_reduce(luv_s, _bank(se_shape, ks), cv2.MORPH_CLOSE, keep_max=True))
    diff = cv2.subtract(clo, luv)
    d_l = cv2.extractChannel(diff, 0)
    # U and V add evidence only where L already sees a dark thin structure: closing U or V
    # alone would also "find" the skin between two hairs whose chroma is higher than skin.
    dmap = d_l.copy()
    d_uv = cv2.transform(diff, _UV_HALF)  # round(0.5 * d_u + 0.5 * d_v)
    cv2.add(d_l, d_uv, dst=dmap, mask=_at_least(d_l, s.t_low))
    # Trough test: some orientation along which the pixel stays dark (centred line dilation),
    # on a slightly smoothed L so that a 1-2 px hair between two bank angles stays connected.
    lum_s = cv2.GaussianBlur(lum, (5, 5), s.trough_sigma) if s.trough_sigma > 0 else lum
    along = cv2.subtract(_bank_reduce(lum_s, lines, cv2.MORPH_DILATE, keep_max=False), lum_s)
    ratio10 = int(round(10 * s.trough_ratio))
    d_l1 = cv2.max(d_l, 1)
    seeds = cv2.bitwise_and(cv2.bitwise_and(_at_least(dmap, s.t_high), _valley(along, d_l1, ratio10)), seed_ok)
    cores, n_dark = _thin_long(seeds, s.max_half_width, s.min_length, s.min_elongation)
    # Hysteresis growth only into valley-like pixels (a relaxed trough test), so that a hair
    # lying on a lesion does not spread into the pigment network around it.
    allowed = cv2.bitwise_and(cv2.bitwise_and(_at_least(dmap, s.t_low), _valley(along, d_l1, 2 * ratio10)), valid8)
    mask = _grow(cores, allowed, s.grow) if n_dark else cores
    n_light = 0
    if s.light:
        lum_small = lum if k == 1 else _pool(lum, k, cv2.MORPH_DILATE)
        opened = full(_bank_reduce(lum_small, _bank("lines", ks), cv2.MORPH_OPEN, keep_max=False))
        top = _bank_reduce(lum, lines, cv2.MORPH_ERODE, keep_max=True)
        bright = cv2.subtract(lum, opened)
        along_b = cv2.subtract(lum, top)
        lseeds = cv2.bitwise_and(_at_least(bright, s.light_t_high), _valley(along_b, cv2.max(bright, 1), ratio10))
        cv2.bitwise_and(lseeds, cv2.bitwise_not(mask), dst=lseeds)
        cv2.bitwise_and(lseeds, seed_ok, dst=lseeds)
        if cv2.countNonZero(lseeds):
            # Light hair is white or grey: low chroma (tested at the seed pixels only).
            r, c = _points(lseeds)
            lseeds[r, c] = _low_chroma(luv[r, c], s.light_max_chroma)
            lcores, n_light = _thin_long(
                lseeds, s.light_max_half_width, s.light_min_length, s.min_elongation
            )
            if n_light:
                lallowed = cv2.bitwise_and(_at_least(bright, s.light_t_high / 2), valid8)
                cv2.bitwise_or(mask, _grow(lcores, lallowed, s.light_grow), dst=mask)
    if n_dark + n_light == 0:
        return mask > 0, 0
    if s.rim > 0:
        se = cv2.getStructuringElement(cv2.MORPH_CROSS, (2 * s.rim + 1, 2 * s.rim + 1))
        mask = cv2.bitwise_and(cv2.dilate(mask, se), valid8)
    hair = mask > 0
    return hair, count_hairs(hair)


def count_hairs(mask: np.ndarray) -> int:
    """Number of hairs N in a hair mask (bool ``(H, W)``).

    Counted after growth, so that fragments of one hair joined by the hysteresis count once.
    Each connected component counts ``max(1, ceil(length / diagonal))`` hairs, where length ≈
    area / width (width = 4 × mean distance-transform value) and diagonal is the image's: a
    single hair is never longer than that, so a mesh of crossing hairs (one component) counts
    at least as many hairs as its total length needs.
    """
    m8 = mask.view(np.uint8) if mask.dtype == bool else (mask != 0).view(np.uint8)
    n, labels = cv2.connectedComponents(m8, connectivity=8, ltype=cv2.CV_32S)
    if n <= 1:
        return 0
    r, c = _points(m8)
    lab = labels[r, c]
    area = np.bincount(lab, minlength=n).astype(np.float64)
    width = np.maximum(4.0 * np.bincount(lab, _depth(mask.shape, r, c), n) / np.maximum(area, 1.0), 1.0)
    length = area / width
    diag = float(np.hypot(*mask.shape))
    per = np.maximum(1, np.ceil(length / diag - 1e-9))
    return int(per[1:].sum())
