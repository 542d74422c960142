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
   the bold pass's: length and continuity are the cue a faint hair gives); seeds failing
   that test are tried again split into 4 overlapping ridge-orientation bins (a faint hair
   crossing a lesion joins its pigment-network seeds into one blob; one orientation of it is
   the hair again); no seed lies within :data:`FINE_LIGHT_GAP` cells of a light hair (item 8,
   run before this one: the ridge filter's side lobes on its dark flanks). Candidates
   measured on the fine-hair benchmark and dropped: a line detector (square mean minus the
   darkest of 8 oriented line means, Ricci-Perfetti style; lower F1 and 8 filters), a
   path-style test (closing minus the darkest oriented line dilation; hair pixels scored
   low), ridge orientation coherence (no F1 gain once the depth test was in), ridge on
   the 2×2 mean (lower recall), oriented line means (9-13 cells, 12 angles) of the ridge map
   as seed evidence (the seeds widen across the hair: lower fine and bold F1, more lesion
   pixels flagged) and hysteresis growth of the kept fine hairs into weaker ridge cells
   (recall bought with as much precision: no F1 gain).
8. Light (white / grey) hair: the same as 6 with openings of the lightness of the max-pooled copy
   (bright thin structures of low chroma), with stricter thresholds.
9. Back at the analysis scale, a pixel under a detected hair stays in the mask when it is
   itself dark (light) enough: its depth below the closed background is at least
   ``edge_fraction`` of the hair's depth nearby (so the mask hugs the hair at full resolution);
   under a fine hair, at least ``fine_edge_rel`` of the background and ``fine_edge_fraction``
   of the cells' depth.

This module holds the settings and steps 1-6; the rest lives beside it, one job each:
:mod:`~dermview.preprocess.morphology` (line banks, banked morphology, 2×2 pooling, the trough
test), :mod:`~dermview.preprocess.components` (thin-and-long components, counting, growth),
:mod:`~dermview.preprocess.fine_hair` (7), :mod:`~dermview.preprocess.light_hair` (8) and
:mod:`~dermview.preprocess.refine` (9).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from dermview.preprocess.components import _at_least, _grow, _thin_long
from dermview.preprocess.fine_hair import fine_hair
from dermview.preprocess.light_hair import light_hair
from dermview.preprocess.morphology import _bank, _bank_reduce, _pool2, _valley, half_mean
from dermview.preprocess.refine import _GREY_L, _dark_limit, _refine

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
        lightness; above :data:`FINE_LENGTH_FROM` the length a fine hair must have falls too,
        linearly from ``fine_min_length`` to :data:`FINE_LENGTH_AT_1` px (1): short, faint
        hairs (IMD002's, 60-70 px at 512 px) are found only when asked for."""
        if sensitivity <= 0:
            return cls(fine=False)
        s = float(sensitivity)
        above = max(0.0, s - FINE_LENGTH_FROM) / (1.0 - FINE_LENGTH_FROM)
        return cls(fine_t_high=FINE_T_AT_0 - (FINE_T_AT_0 - FINE_T_AT_1) * s,
                   fine_min_length=cls.fine_min_length - (cls.fine_min_length - FINE_LENGTH_AT_1) * above)


#: No fine-hair seed within this many detection cells of a light hair: beside a bright line the
#: ridge filter answers on both flanks (its side lobes), and those dark flanks passed as fine
#: hair. Measured on the development cache of the synthetic-hair benchmark: 1 and 2 cells
#: raise the bold regime's PSNR by +0.22 / +0.24 dB (bold precision 0.847 -> 0.860 / 0.865),
#: fine F1 -0.001 / -0.002, lesion safety unchanged; 3 cells gain nothing more.
FINE_LIGHT_GAP = 2
_LIGHT_GAP_SE = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * FINE_LIGHT_GAP + 1, 2 * FINE_LIGHT_GAP + 1))

#: Fine-hair seed threshold (relative ridge strength, % of the local lightness) at
#: sensitivity 0+ and 1 (4 % at the default 0.5).
FINE_T_AT_0 = 5.5
FINE_T_AT_1 = 2.5
#: Sensitivity above which the fine-hair length test relaxes, and the length (analysis-scale
#: px) it asks for at sensitivity 1: the seed threshold alone barely changed what was found
#: (fine F1 0.750 at 0.5, 0.753 at 1), so a user who saw short faint hairs left had no control
#: that found them.
FINE_LENGTH_FROM = 0.5
FINE_LENGTH_AT_1 = 60.0


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
        fine: bool like ``coarse``, the cells only the fine-hair pass found (None: none).
    """

    mask: np.ndarray
    count: int
    coarse: np.ndarray
    scale: int
    mean: np.ndarray
    fine: np.ndarray | None = None


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
    diffs = cv2.split(diff)  # one pass for all channels (D_L, D_U, D_V[, bright])
    d_l = diffs[0]
    clo_l = cv2.extractChannel(clo, 0)
    # U and V add evidence only where L already sees a dark thin structure: closing U or V
    # alone would also "find" the skin between two hairs whose chroma is higher than skin.
    # D >= t_low exactly where D_L >= t_low (D = D_L below it); D >= t_high also needs D_L >= t_low.
    low = _at_least(d_l, s.t_low)
    d_uv = cv2.addWeighted(diffs[1], 0.5, diffs[2], 0.5, 0.0)
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
    n_light, light_limit = 0, None
    fine_ok = seed_ok
    if s.light:
        dark = mask.copy() if s.fine else mask
        n_light, light_limit = light_hair(rgb, diffs, along2, clo, mask, seed_ok, valid8, s, k)
        if n_light and s.fine:  # no fine seeds on the dark flanks of a light hair (FINE_LIGHT_GAP)
            near = cv2.dilate(cv2.subtract(mask, dark), _LIGHT_GAP_SE)
            fine_ok = cv2.bitwise_and(seed_ok, cv2.bitwise_not(near))
    n_fine, fine_cells = 0, None
    if s.fine:
        # On the 2×2 minimum of the luma: a 1-px hair keeps its contrast (the mean halves it).
        fine_src = cv2.GaussianBlur(pooled(luma, cv2.MORPH_ERODE), (3, 3), 0)
        fine_cells, n_fine = fine_hair(fine_src, d_l, clo_l, fine_ok, s, k)
        if n_fine:  # from here on fine_cells are the cells only the fine pass found
            cv2.bitwise_and(fine_cells, cv2.bitwise_not(mask), dst=fine_cells)
            cv2.bitwise_or(mask, fine_cells, dst=mask)
    # The fine pass finds the thinner bold hairs again: N counts the larger of the two passes.
    n_dark = max(n_dark, n_fine)
    if n_dark + n_light == 0:
        return HairMap(np.zeros((h, w), bool), 0, np.zeros((hk, wk), bool), k, mean)
    coarse = mask > 0
    full = coarse
    if k > 1:
        dark_limit = _dark_limit(clo_l, d_l, fine_cells if n_fine else None, s)
        full = _refine(luma, mask, dark_limit, light_limit)
    return HairMap(full, n_dark + n_light, coarse, k, mean, fine_cells > 0 if n_fine else None)
