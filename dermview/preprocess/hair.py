"""Hair detection: LUV closing, difference image, trough test, thin-and-long components.

Method (all at one analysis scale, see :mod:`dermview.preprocess.pipeline`):

1. RGB → CIE LUV (OpenCV 8-bit scaling: L 0-255).
2. Morphological closing of L, U and V with the structuring element B (``ellipse``, ``rect``,
   ``cross`` or ``lines`` = maximum over a bank of oriented line elements).
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

from dataclasses import dataclass

import cv2
import numpy as np

#: Number of orientations of the line bank (180° / 12 = 15° apart).
N_ANGLES = 12


@dataclass(frozen=True)
class HairSettings:
    """Detection constants, in grey levels (L of 8-bit LUV, 0-255) and analysis-scale pixels."""

    t_high: float = 25.0  # D above this seeds a hair (with the trough test)
    t_low: float = 10.0  # D above this extends a hair (hysteresis)
    trough_ratio: float = 0.4  # min_θ / max response at most this for a valley
    max_half_width: float = 4.5  # largest inscribed radius of a hair component (px)
    min_length: float = 20.0  # extent of a hair component (px)
    min_elongation: float = 4.0  # length / width of short components
    along_factor: int = 1  # the trough test uses lines of along_factor * size px (<= 41)
    grow: int = 2  # pixels of hysteresis growth around kept seeds
    light: bool = True  # also detect light (white / grey) hair
    light_t_high: float = 28.0
    light_min_length: float = 30.0
    light_max_chroma: float = 40.0  # LUV chroma (sqrt(u*^2 + v*^2) in 8-bit units) of light hair


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


def _closing_max_min(img: np.ndarray, kernels: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    hi = lo = None
    for k in kernels:
        c = cv2.morphologyEx(img, cv2.MORPH_CLOSE, k, borderType=cv2.BORDER_REPLICATE)
        hi = c if hi is None else np.maximum(hi, c)
        lo = c if lo is None else np.minimum(lo, c)
    return hi, lo


def _dilation_min(img: np.ndarray, kernels: list[np.ndarray]) -> np.ndarray:
    """Minimum over the bank of the centred line dilations (max along each line)."""
    lo = None
    for k in kernels:
        d = cv2.dilate(img, k, borderType=cv2.BORDER_REPLICATE)
        lo = d if lo is None else np.minimum(lo, d)
    return lo


def _erosion_max(img: np.ndarray, kernels: list[np.ndarray]) -> np.ndarray:
    """Maximum over the bank of the centred line erosions (min along each line)."""
    hi = None
    for k in kernels:
        e = cv2.erode(img, k, borderType=cv2.BORDER_REPLICATE)
        hi = e if hi is None else np.maximum(hi, e)
    return hi


def _opening_min_max(img: np.ndarray, kernels: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    lo = hi = None
    for k in kernels:
        o = cv2.morphologyEx(img, cv2.MORPH_OPEN, k, borderType=cv2.BORDER_REPLICATE)
        lo = o if lo is None else np.minimum(lo, o)
        hi = o if hi is None else np.maximum(hi, o)
    return lo, hi


def _thin_long(
    seeds: np.ndarray, max_half_width: float, min_length: float, min_elongation: float
) -> tuple[np.ndarray, int]:
    """Keep the 8-connected components of ``seeds`` that are thin and long; return (mask, N).

    Thin: largest inscribed radius (distance transform) <= ``max_half_width``. Long: extent
    (max of bounding-box diagonal and sqrt(12·λ1) of the pixel covariance) >= ``min_length``.
    Short-to-medium components must also be elongated (λ1/λ2 >= ``min_elongation``²); very
    long ones (>= 3 × ``min_length``, e.g. crossing hairs) only need to be thin.
    """
    n, labels, stats, _ = cv2.connectedComponentsWithStats(seeds.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros_like(seeds, dtype=bool), 0
    w = stats[:, cv2.CC_STAT_WIDTH].astype(np.float64)
    h = stats[:, cv2.CC_STAT_HEIGHT].astype(np.float64)
    area = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
    diag = np.hypot(w, h)
    rows, cols = np.nonzero(labels)
    lab = labels[rows, cols]
    dist = cv2.distanceTransform(seeds.astype(np.uint8), cv2.DIST_L2, 3)
    half = np.zeros(n, np.float32)
    np.maximum.at(half, lab, dist[rows, cols])
    r = rows.astype(np.float64)
    c = cols.astype(np.float64)
    a = np.maximum(area, 1.0)
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
    extent = np.maximum(diag, np.sqrt(12 * np.maximum(l1, 0.0)))
    elongated = l1 / l2 >= min_elongation**2
    keep = (extent >= min_length) & (half <= max_half_width + 0.5)
    keep &= elongated | (extent >= 3 * min_length)
    keep[0] = False
    return keep[labels], int(keep.sum())


def _grow(seeds: np.ndarray, allowed: np.ndarray, steps: int) -> np.ndarray:
    se = np.ones((3, 3), np.uint8)
    cur = seeds.astype(np.uint8)
    allowed8 = allowed.astype(np.uint8)
    for _ in range(steps):
        cur = (cv2.dilate(cur, se) & allowed8) | cur
    return cur.astype(bool)


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
    """
    s = settings or HairSettings()
    h, w = rgb.shape[:2]
    if h < 3 or w < 3:
        return np.zeros((h, w), bool), 0
    luv = cv2.cvtColor(rgb, cv2.COLOR_RGB2Luv)
    bank = structuring_element(se_shape, se_size)
    if se_shape == "lines":
        clo_hi, _ = _closing_max_min(luv, bank)
    else:
        clo_hi = cv2.morphologyEx(luv, cv2.MORPH_CLOSE, bank[0], borderType=cv2.BORDER_REPLICATE)
    diff = clo_hi.astype(np.int16) - luv
    d_l = diff[:, :, 0].astype(np.float32)
    # U and V add evidence only where L already sees a dark thin structure: closing U or V
    # alone would also "find" the skin between two hairs whose chroma is higher than skin.
    dmap = d_l + 0.5 * (diff[:, :, 1] + diff[:, :, 2]).astype(np.float32) * (d_l >= s.t_low)
    lines = line_kernels(min(41, s.along_factor * se_size))
    along_lo = _dilation_min(luv[:, :, 0], lines)
    along = along_lo.astype(np.float32) - luv[:, :, 0]
    trough = along <= s.trough_ratio * np.maximum(d_l, 1.0)
    seeds = (dmap >= s.t_high) & trough
    if valid is not None:
        seeds &= valid
    cores, n_dark = _thin_long(seeds, s.max_half_width, s.min_length, s.min_elongation)
    allowed = dmap >= s.t_low
    if valid is not None:
        allowed &= valid
    mask = _grow(cores, allowed, s.grow)
    n_light = 0
    if s.light:
        lum = luv[:, :, 0]
        op_lo, _ = _opening_min_max(lum, bank if se_shape == "lines" else line_kernels(se_size))
        op_hi = _erosion_max(lum, lines)
        bright = lum.astype(np.float32) - op_lo
        along_b = lum.astype(np.float32) - op_hi
        chroma = np.hypot(luv[:, :, 1].astype(np.float32) - 96.0, luv[:, :, 2].astype(np.float32) - 136.0)
        lseeds = (bright >= s.light_t_high) & (along_b <= s.trough_ratio * np.maximum(bright, 1.0))
        lseeds &= chroma <= s.light_max_chroma
        lseeds &= ~mask
        if valid is not None:
            lseeds &= valid
        lcores, n_light = _thin_long(
            lseeds, s.max_half_width, s.light_min_length, s.min_elongation
        )
        lallowed = bright >= s.light_t_high / 2
        if valid is not None:
            lallowed &= valid
        mask |= _grow(lcores, lallowed, s.grow)
    if n_dark + n_light == 0:
        return mask, 0
    # Count after growth, so that fragments of one hair joined by the hysteresis count once.
    n_comp = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)[0] - 1
    return mask, int(n_comp)
