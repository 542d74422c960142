"""Hair detection: LUV closing, difference image, trough test, thin-and-long components.

Method (input at the analysis scale of :mod:`dermview.preprocess.pipeline`; detection at
``1/scale`` of it, by default half):

1. Detection copies: the 2×2 mean of the RGB image (dark hair; measured against a 2×2
   minimum on the synthetic-hair benchmark: less noise taken for hair, higher PSNR) and the
   2×2 maximum of its luma (light hair: a thin light hair keeps its contrast).
2. RGB → CIE LUV (OpenCV 8-bit scaling: L 0-255) of the mean copy.
3. Morphological closing of L, U and V with the structuring element B (``ellipse``, ``rect``,
   ``cross`` or ``lines`` = maximum over a bank of oriented line elements; size scaled to the
   detection copy, odd, >= 3).
4. Difference image ``D = (close(L) - L) + 0.5 * ((close(U) - U) + (close(V) - V))``: large
   where a thin structure darker (or less saturated) than its surroundings was closed.
5. Trough (valley) test with 8 oriented lines of :data:`TROUGH_LENGTH` cells: a hair pixel is
   a valley across the hair but *not along it*, so along at least one orientation it stays
   dark (``min_θ dilate_θ(L) - L`` small compared with ``D``, on a slightly smoothed L). Dots,
   globules and the meshes of a pigment network fail this test.
6. Hysteresis thresholds on ``D`` give the hair map CR: seed components are kept only when
   thin (largest inscribed half-width small) and long (extent large), then grown. ``N`` is the
   number of hairs among the kept components (a mesh of crossing hairs counts its length in
   image diagonals; see :func:`_thin_long`).
7. Fine, faint dark hair (1-2 px at 512 px, 10-25 % darker than what lies below; when the
   settings' ``fine`` is on, i.e. hair sensitivity > 0): a ridge filter on the 2×2 *minimum*
   of the luma (a 1-px hair keeps its contrast there), ``l1 - |l2|`` of the 3×3 Sobel Hessian
   (large across a line, small on dots, blobs and edges), relative to the closed lightness
   (so a hair over the lesion counts as much as one on skin), at least ``fine_min_depth``
   below the closing; its components must be thin and *long* (``fine_min_length``, twice
   the bold pass's: length and continuity are the cue a faint hair gives). Candidates
   measured on the fine-hair benchmark and dropped: a line detector (square mean minus the
   darkest of 8 oriented line means, Ricci-Perfetti style; lower F1 and 8 filters), a
   path-style test (closing minus the darkest oriented line dilation; hair pixels scored
   low), ridge orientation coherence (no F1 gain once the depth test was in) and ridge on
   the 2×2 mean (lower recall).
8. Light (white / grey) hair: the same as 6 with openings of the lightness of the max-pooled copy
   (bright thin structures of low chroma), with stricter thresholds.
9. Back at the analysis scale, a pixel under a detected hair stays in the mask when it is
   itself dark (light) enough: its depth below the closed background is at least
   ``edge_fraction`` of the hair's depth nearby (so the mask hugs the hair at full resolution);
   under a fine hair, at least ``fine_edge_rel`` of the background and ``fine_edge_fraction``
   of the cells' depth.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from dermview.preprocess.components import _at_least, _grow, _thin_long
from dermview.preprocess.fine_hair import fine_hair

#: Number of orientations of the line bank (180° / 8 = 22.5° apart; 6, 8, 10 and 12 were
#: compared on the synthetic-hair benchmark: 8-10 best, 12 lost recall).
N_ANGLES = 8
#: Length (detection-scale pixels, odd) of the line elements of the trough test, whatever B:
#: long enough for 8 distinct orientations, short enough to follow a curved hair (7 and 9
#: lost recall on the synthetic-hair benchmark with B = 11).
TROUGH_LENGTH = 5


@dataclass(frozen=True)
class HairSettings:
    """Detection constants: grey levels of 8-bit L (0-255); lengths in analysis-scale pixels
    (divided by ``scale`` for the detection copy)."""

    scale: int = 2  # detection on 2×2 cells (2), or at the analysis scale (1)
    t_high: float = 25.0  # D above this seeds a hair (with the trough test)
    t_low: float = 14.0  # D above this extends a hair (hysteresis)
    trough_ratio: float = 0.4  # min_θ / max response at most this for a valley
    smooth: bool = True  # 3×3 Gaussian on L before the trough test (keeps hair between angles)
    max_half_width: float = 5.0  # largest inscribed radius of a hair component
    min_length: float = 20.0  # extent of a hair component
    min_elongation: float = 4.0  # length / width of short components
    grow: int = 2  # hysteresis growth around kept seeds
    border: int = 4  # no seeds this close to the image edge (JPEG / resize edge lines)
    light: bool = True  # also detect light (white / grey) hair
    light_t_high: float = 16.0
    light_min_length: float = 30.0
    light_max_half_width: float = 4.0
    light_grow: int = 2
    light_max_chroma: float = 40.0  # LUV chroma (sqrt(u*^2 + v*^2) in 8-bit units) of light hair
    edge_fraction: float = 0.3  # full-scale pixel kept when its depth >= this × the hair's
    edge_min: float = 10.0  # ... and at least this (dark hair, grey levels)
    light_edge_min: float = 6.0  # ... (light hair)
    fine: bool = True  # also detect fine, faint dark hair (ridge filter, see fine_hair)
    fine_t_high: float = 4.0  # relative ridge strength (% of the local lightness) of a fine seed
    fine_min_depth: float = 3.0  # a fine seed lies this far (grey levels) below the closing
    fine_min_length: float = 80.0  # extent of a fine-hair component (length is its cue)
    fine_max_half_width: float = 3.0
    fine_min_elongation: float = 4.0  # length / width of a fine-hair component below 3 × length
    fine_edge_rel: float = 0.04  # full-scale pixel of a fine hair: >= this × background darker
    fine_edge_min: float = 3.0  # ... and at least this (grey levels)
    fine_edge_fraction: float = 0.6  # ... and this × the cells' depth nearby

    def __post_init__(self) -> None:
        if self.scale not in (1, 2):
            raise ValueError(f"scale must be 1 or 2, got {self.scale!r}")

    @classmethod
    def for_sensitivity(cls, sensitivity: float) -> HairSettings:
        """Settings for a hair sensitivity in [0, 1] (see
        :attr:`~dermview.preprocess.params.PreprocessParams.hair_sensitivity`): 0 detects bold
        hair only; above 0 the fine-hair pass runs, its seed threshold falling linearly from
        :data:`FINE_T_AT_0` % (just above 0) to :data:`FINE_T_AT_1` % (1) of the local
        lightness."""
        if sensitivity <= 0:
            return cls(fine=False)
        return cls(fine_t_high=FINE_T_AT_0 - (FINE_T_AT_0 - FINE_T_AT_1) * float(sensitivity))


#: Fine-hair seed threshold (relative ridge strength, % of the local lightness) at
#: sensitivity 0+ and 1 (4 % at the default 0.5).
FINE_T_AT_0 = 5.5
FINE_T_AT_1 = 2.5


@dataclass(frozen=True)
class HairMap:
    """Result of :func:`detect_hair`.

    Attributes:
        mask: bool ``(H, W)``, hair pixels at the input (analysis) scale.
        count: N, the number of hairs.
        coarse: bool ``(ceil(H / scale), ceil(W / scale))``, the hair map at the detection
            scale (each cell covers ``scale × scale`` input pixels); repairs run on it.
        scale: the detection scale factor.
        mean: RGB uint8 at the detection scale: the input's ``scale × scale`` means (the input
            itself at scale 1); the source of the repair.
    """

    mask: np.ndarray
    count: int
    coarse: np.ndarray
    scale: int
    mean: np.ndarray


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


def _pool2(img: np.ndarray, op: int) -> np.ndarray:
    """Minimum (``op`` = ``cv2.MORPH_ERODE``) or maximum (``cv2.MORPH_DILATE``) over 2×2 blocks
    of a uint8 ``(H, W)`` or ``(H, W, C)`` image: ``(ceil(H/2), ceil(W/2)[, C])``.

    Row pairs are reduced on row-strided views, column pairs by an in-place 1×2 erosion /
    dilation, then every second column is taken: one half-size temporary. An odd last row /
    column of ``img`` is not read: its cells repeat the ones before.
    """
    h, w = img.shape[:2]
    hh = h // 2
    reduce = cv2.min if op == cv2.MORPH_ERODE else cv2.max
    rows = reduce(img[0 : 2 * hh : 2], img[1 : 2 * hh : 2])
    cv2.morphologyEx(rows, op, _PAIR, dst=rows, anchor=(0, 0))
    return _cover_odd(cv2.resize(rows, (w // 2, hh), interpolation=cv2.INTER_NEAREST), h, w)


_PAIR = np.ones((1, 2), np.uint8)


def half_mean(img: np.ndarray) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)`` → ``(ceil(H/2), ceil(W/2), 3)`` 2×2 means (linear interpolation
    at exactly half size samples between pixel pairs); an odd last row / column of ``img`` is
    not read: its cells repeat the ones before."""
    h, w = img.shape[:2]
    he, we = h - h % 2, w - w % 2
    return _cover_odd(cv2.resize(img[:he, :we], (we // 2, he // 2), interpolation=cv2.INTER_LINEAR), h, w)


def _cover_odd(cells: np.ndarray, h: int, w: int) -> np.ndarray:
    """The cells of the even part of an ``(h, w)`` image, with the last row / column repeated
    when ``h`` / ``w`` is odd: ``(ceil(h/2), ceil(w/2)[, C])``."""
    if h % 2 or w % 2:
        cells = cv2.copyMakeBorder(cells, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
    return cells
_NEAR = np.ones((3, 3), np.uint8)


def _grey_lightness() -> np.ndarray:
    """LUT: 8-bit LUV lightness L of the neutral grey (v, v, v), v = 0-255 (OpenCV's own)."""
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[:, None, None], 3, axis=2)
    return np.ascontiguousarray(cv2.cvtColor(ramp, cv2.COLOR_RGB2Luv)[:, 0, 0])


#: L of the neutral grey of each luma value ("grey lightness": exact for neutral colours, within
#: a few levels of LUV L for skin and hair colours): the lightness of the light-hair cells and
#: of the refinement, where a full-size LUV conversion would cost more than the whole detection.
_GREY_L = _grey_lightness()
_LEVELS = np.arange(256)
#: Per L level l: 1 + the largest luma whose grey has L <= l (luma < this <=> L <= l).
_LUMA_BELOW = np.minimum(np.searchsorted(_GREY_L, _LEVELS, side="right"), 255).astype(np.uint8)
#: Per L level l: the smallest luma whose grey has L >= l, minus 1 (luma > this <=> L >= l).
_LUMA_ABOVE = np.maximum(np.searchsorted(_GREY_L, _LEVELS, side="left") - 1, 0).astype(np.uint8)


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
    """Bool per 8-bit LUV pixel ``(..., 3)``: chroma ``(u - 96)² + (v - 136)²`` <= ``max_chroma²``
    (white / grey: neutral u, v = 96, 136)."""
    uv = luv[..., 1:].astype(np.int32) - np.array([96, 136], np.int32)
    return (uv * uv).sum(axis=-1) <= int(max_chroma**2)


def detect_hair(
    rgb: np.ndarray,
    se_shape: str = "ellipse",
    se_size: int = 9,
    valid: np.ndarray | None = None,
    settings: HairSettings | None = None,
) -> HairMap:
    """Find hair in an RGB uint8 ``(H, W, 3)`` image.

    Args:
        rgb: the image (frame already filled), at analysis scale.
        se_shape, se_size: structuring element B of the closing (odd size in analysis-scale
            pixels; scaled to the detection copy).
        valid: bool ``(H, W)``, where hair may be reported (e.g. not in the frame).
        settings: detection constants.

    All intermediate maps are uint8 (0/255 masks), combined with OpenCV. Dark and light
    hair share each morphological pass: the light-hair lightness rides along inverted
    (255 - L), so its opening is a closing and its erosions are dilations.
    """
    s = settings or HairSettings()
    h, w = rgb.shape[:2]
    k = s.scale if min(h, w) >= 16 else 1
    hk, wk = -(-h // k), -(-w // k)
    if hk < 3 or wk < 3:
        return HairMap(np.zeros((h, w), bool), 0, np.zeros((hk, wk), bool), k, rgb)

    def pooled(img: np.ndarray, op: int) -> np.ndarray:
        return img if k == 1 else _pool2(img, op)

    valid8 = np.full((hk, wk), 255, np.uint8)
    if valid is not None:
        valid8 = pooled(valid.view(np.uint8) * np.uint8(255), cv2.MORPH_ERODE)
    seed_ok = valid8.copy()
    b = min(max(1, round(s.border / k)), (min(hk, wk) - 1) // 2)
    seed_ok[:b] = seed_ok[-b:] = 0
    seed_ok[:, :b] = seed_ok[:, -b:] = 0
    ks = max(3, (-(-se_size // k)) | 1)
    lines = _bank("lines", TROUGH_LENGTH)
    mean = rgb if k == 1 else half_mean(rgb)
    luv = cv2.cvtColor(mean, cv2.COLOR_RGB2Luv)
    lum = cv2.extractChannel(luv, 0)
    lum_s = cv2.GaussianBlur(lum, (3, 3), 0) if s.smooth else lum
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if s.light or s.fine or k > 1 else None
    stack, pair = luv, lum_s
    if s.light:  # L of the light hair, inverted; a thin light hair keeps its contrast
        inv = cv2.bitwise_not(cv2.LUT(pooled(luma, cv2.MORPH_DILATE), _GREY_L))
        stack, pair = cv2.merge([luv, inv]), cv2.merge([lum_s, inv])
    # Difference image: closing minus original (uint8, saturated at 0), of L, U, V (and 255 - L).
    clo = _bank_reduce(stack, _bank(se_shape, ks), cv2.MORPH_CLOSE, keep_max=True)
    diff = cv2.subtract(clo, stack)
    d_l = cv2.extractChannel(diff, 0)
    # U and V add evidence only where L already sees a dark thin structure: closing U or V
    # alone would also "find" the skin between two hairs whose chroma is higher than skin.
    # D >= t_low exactly where D_L >= t_low (D = D_L below it); D >= t_high also needs D_L >= t_low.
    low = _at_least(d_l, s.t_low)
    d_uv = cv2.addWeighted(cv2.extractChannel(diff, 1), 0.5, cv2.extractChannel(diff, 2), 0.5, 0.0)
    high = cv2.bitwise_and(_at_least(cv2.add(d_l, d_uv), s.t_high), low)
    # Trough test: some orientation along which the pixel stays dark (centred line dilation),
    # on a slightly smoothed L so that a thin hair between two bank angles stays connected.
    along2 = cv2.subtract(_bank_reduce(pair, lines, cv2.MORPH_DILATE, keep_max=False), pair)
    along = along2 if along2.ndim == 2 else cv2.extractChannel(along2, 0)
    ratio10 = int(round(10 * s.trough_ratio))
    d_l1 = cv2.max(d_l, 1)
    seeds = cv2.bitwise_and(cv2.bitwise_and(high, _valley(along, d_l1, ratio10)), seed_ok)
    cores, n_dark = _thin_long(seeds, s.max_half_width / k, s.min_length / k, s.min_elongation)
    # Hysteresis growth only into valley-like pixels (a relaxed trough test), so that a hair
    # lying on a lesion does not spread into the pigment network around it.
    allowed = cv2.bitwise_and(cv2.bitwise_and(low, _valley(along, d_l1, 2 * ratio10)), valid8)
    mask = _grow(cores, allowed, max(1, round(s.grow / k))) if n_dark else cores
    n_fine, fine_cells = 0, None
    if s.fine:
        # On the 2×2 minimum of the luma: a 1-px hair keeps its contrast (the mean halves it).
        fine_src = cv2.GaussianBlur(pooled(luma, cv2.MORPH_ERODE), (3, 3), 0)
        fine_cells, n_fine = fine_hair(fine_src, d_l, cv2.extractChannel(clo, 0), seed_ok, s, k)
        if n_fine:  # from here on fine_cells are the cells only the fine pass found
            cv2.bitwise_and(fine_cells, cv2.bitwise_not(mask), dst=fine_cells)
            cv2.bitwise_or(mask, fine_cells, dst=mask)
    n_light, light_limit = 0, None
    if s.light:
        n_light, light_limit = _light_hair(rgb, diff, along2, clo, mask, seed_ok, valid8, s, k)
    # The fine pass finds the thinner bold hairs again: N counts the larger of the two passes.
    n_dark = max(n_dark, n_fine)
    if n_dark + n_light == 0:
        return HairMap(np.zeros((h, w), bool), 0, np.zeros((hk, wk), bool), k, mean)
    coarse = mask > 0
    full = coarse
    if k > 1:
        dark_limit = _dark_limit(cv2.extractChannel(clo, 0), d_l, fine_cells if n_fine else None, s)
        full = _refine(luma, mask, dark_limit, light_limit)
    return HairMap(full, n_dark + n_light, coarse, k, mean)


def _light_hair(rgb: np.ndarray, diff: np.ndarray, along2: np.ndarray, clo: np.ndarray, mask: np.ndarray,
                seed_ok: np.ndarray, valid8: np.ndarray, s: HairSettings, k: int) -> tuple[int, np.ndarray | None]:
    """Light (white / grey) hair from channel 3 of the detection maps (the inverted lightness):
    adds its cells to ``mask`` (uint8, in place); returns (hairs found, per-cell light limit of
    the refinement or None)."""
    ratio10 = int(round(10 * s.trough_ratio))
    bright = cv2.extractChannel(diff, 3)  # L - opening(L)
    along_b = cv2.extractChannel(along2, 1)  # L - max_θ erosion_θ(L)
    lseeds = cv2.bitwise_and(_at_least(bright, s.light_t_high), _valley(along_b, cv2.max(bright, 1), ratio10))
    cv2.bitwise_and(lseeds, cv2.bitwise_not(mask), dst=lseeds)
    cv2.bitwise_and(lseeds, seed_ok, dst=lseeds)
    if not cv2.countNonZero(lseeds):
        return 0, None

    def white_or_grey(r: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Low chroma, on the brightest value of each channel in the cell."""
        luv_cells = cv2.cvtColor(_cell_max(rgb, r, c, k)[:, None, :], cv2.COLOR_RGB2Luv)[:, 0]
        return _low_chroma(luv_cells, s.light_max_chroma)

    lcores, n_light = _thin_long(lseeds, s.light_max_half_width / k, s.light_min_length / k, s.min_elongation,
                                 pixel_test=white_or_grey)
    if not n_light:
        return 0, None
    lallowed = cv2.bitwise_and(_at_least(bright, s.light_t_high / 2), valid8)
    cv2.bitwise_or(mask, _grow(lcores, lallowed, max(1, round(s.light_grow / k))), dst=mask)
    opened = cv2.bitwise_not(cv2.extractChannel(clo, 3))
    return n_light, cv2.add(opened, _edge_need(bright, s.light_edge_min, s.edge_fraction))


def _dark_limit(clo_l: np.ndarray, d_l: np.ndarray, fine_cells: np.ndarray | None, s: HairSettings) -> np.ndarray:
    """Per-cell L (uint8) at or below which a full-scale pixel of a dark hair cell is hair: the
    closing less the needed depth; in the cells only the fine pass found (``fine_cells``), the
    more permissive of that and a share of the background (a faint hair's pixels are a share
    of the background darker, not a depth)."""
    limit = cv2.subtract(clo_l, _edge_need(d_l, s.edge_min, s.edge_fraction))
    if fine_cells is not None:
        need = cv2.max(cv2.multiply(clo_l, s.fine_edge_rel, dtype=cv2.CV_8U), float(s.fine_edge_min))
        cv2.max(need, _edge_need(d_l, 0.0, s.fine_edge_fraction), dst=need)
        cv2.max(limit, cv2.bitwise_and(cv2.subtract(clo_l, need), fine_cells), dst=limit)
    return limit


def _cell_max(rgb: np.ndarray, r: np.ndarray, c: np.ndarray, k: int) -> np.ndarray:
    """Per-channel maximum of ``rgb`` over the k×k cells ``(r, c)`` (cells whose pixels all lie
    inside the image): uint8 ``(N, 3)``."""
    if k == 1:
        return rgb[r, c]
    w = rgb.shape[1]
    flat = rgb.reshape(-1, 3)
    i = 2 * r * w + 2 * c
    return np.maximum(np.maximum(flat[i], flat[i + 1]), np.maximum(flat[i + w], flat[i + w + 1]))


def _edge_need(depth: np.ndarray, minimum: float, fraction: float) -> np.ndarray:
    """uint8 per cell: ``max(minimum, fraction × the largest depth within one cell)``."""
    return cv2.LUT(cv2.dilate(depth, _NEAR), _need_lut(minimum, fraction))


@functools.lru_cache(maxsize=8)
def _need_lut(minimum: float, fraction: float) -> np.ndarray:
    return np.clip(np.maximum(np.round(fraction * np.arange(256)), minimum), 0, 255).astype(np.uint8)


def _refine(
    luma: np.ndarray, cells8: np.ndarray, dark_limit: np.ndarray, light_limit: np.ndarray | None
) -> np.ndarray:
    """Hair mask at the analysis scale from the hair cells (uint8 0/255) of a 2× detection.

    A pixel of a hair cell is hair when its grey lightness (:data:`_GREY_L`; compared as
    ``luma`` uint8 ``(H, W)`` against the limits mapped to luma) is at most the cell's
    ``dark_limit`` (< 255) or at least its ``light_limit`` (> 0; uint8 L per cell). Even and odd rows are
    compared separately against the limits widened to W columns (no full-size upsampling).
    Returns bool ``(H, W)``.
    """
    h, w = luma.shape
    hk = cells8.shape[0]

    def wide(cells: np.ndarray) -> np.ndarray:  # each cell over its two columns
        return cv2.resize(cells, (w, hk), interpolation=cv2.INTER_NEAREST)

    # Hair where luma < below or luma > above; outside hair cells below = 0, above = 255: never.
    below = wide(cv2.bitwise_and(cv2.LUT(dark_limit, _LUMA_BELOW), cells8))
    out = np.empty((h, w), np.uint8)
    if light_limit is None:
        for r in (0, 1):
            cv2.compare(luma[r::2], below[: (h - r + 1) // 2], cv2.CMP_LT, dst=out[r::2])
        return cv2.threshold(out, 0, 1, cv2.THRESH_BINARY, dst=out)[1].view(bool)
    above = wide(cv2.bitwise_or(cv2.LUT(light_limit, _LUMA_ABOVE), cv2.bitwise_not(cells8)))
    for r in (0, 1):
        n = (h - r + 1) // 2
        cv2.inRange(luma[r::2], below[:n], above[:n], dst=out[r::2])
    return cv2.threshold(out, 0, 1, cv2.THRESH_BINARY_INV, dst=out)[1].view(bool)
