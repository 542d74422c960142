"""Fine, faint dark hair: a ridge (line) filter plus the thin-and-long component test.

The second pass of :func:`dermview.preprocess.hair.detect_hair` (item 7 of its method), run
when the hair sensitivity is above 0: 1-2 px hairs at 512 px, 10-25 % darker than what lies
below them, which the closing's depth thresholds miss.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from dermview.preprocess.components import _at_least, _thin_long

if TYPE_CHECKING:
    from dermview.preprocess.hair import HairSettings


def ridge_strength(lum: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Dark-line (ridge) strength of a smoothed lightness ``lum`` (uint8 ``(h, w)``) relative to
    ``background`` (uint8, the local lightness): uint8 ``(h, w)`` in units of 0.25 % of it; and
    the pair ``(dxx - dyy, 2·dxy)`` (float32 ``(h, w)`` both) from which :func:`ridge_phase`
    gives the Hessian's orientation where it is needed.

    From the 3×3 Sobel Hessian (dxx, dyy, dxy) with eigenvalues l1 >= l2: ``l1 - |l2|``, which
    is ``min(trace, sqrt((dxx - dyy)² + 4·dxy²))``: large across a dark line (l1 > 0, l2 ≈ 0),
    near zero on a dot or blob (l1 ≈ l2), on an edge and on flat skin; negative (saturated to
    0) on a bright line. A second, 5×5 scale was measured and dropped: little F1 on the
    synthetic hair, and on real lesions (IMD206, IMD027) it joined pigment network into hair.
    """
    dxx = cv2.Sobel(lum, cv2.CV_32F, 2, 0, ksize=3)
    dyy = cv2.Sobel(lum, cv2.CV_32F, 0, 2, ksize=3)
    dxy2 = cv2.Sobel(lum, cv2.CV_32F, 1, 1, ksize=3, scale=2.0)
    dd = cv2.subtract(dxx, dyy)
    r = cv2.min(cv2.add(dxx, dyy, dst=dxx), cv2.magnitude(dd, dxy2, dyy))
    strength = cv2.divide(r, cv2.add(background, 8, dtype=cv2.CV_32F), scale=400.0, dtype=cv2.CV_8U)
    return strength, (dd, dxy2)


def ridge_phase(dd: np.ndarray, dxy2: np.ndarray) -> np.ndarray:
    """The Hessian's doubled orientation ``2θ = atan2(2·dxy, dxx - dyy)`` from the pair of
    :func:`ridge_strength` (float32 arrays of one shape, or crops of them): float32 degrees
    0-360 (a line at angle φ has 2θ = 2φ + 180 mod 360)."""
    return cv2.phase(dd, dxy2, angleInDegrees=True)


#: Orientation bins of the second component test: centres of 2θ (degrees; θ = 0°, 45°, 90°,
#: 135°) and half-width (90° of 2θ: θ within ±45° of a centre, so each seed falls in two bins).
#: Measured on the development cache of the synthetic-hair benchmark: half-widths of 22.5° and
#: 37.5° of θ found less; 60° and 67.5° took lesion texture (lesion pixels flagged 0.16 →
#: 0.18-0.21 %) for little F1; a further pass with 8 bins of ±22.5° found nothing more.
ORIENTATION_BINS = (0.0, 90.0, 180.0, 270.0)
ORIENTATION_HALF_WIDTH = 90.0


def _oriented_rescue(rest: np.ndarray, phase: np.ndarray, args: tuple[float, float, float]) -> tuple[np.ndarray, int]:
    """The thin-and-long test again on the seeds ``rest`` (uint8 0/255) of the long components
    that failed it, split by ridge orientation ``phase`` (2θ, degrees): a faint hair crossing a
    lesion joins the pigment network's seeds into one blob, whose pieces of one orientation are
    the hair again (the network's meshes turn in every direction and fall apart). Returns
    (uint8 0/255 cells, the most hairs found in one bin)."""
    # Only the box of the seeds (plus the thin test's erosion reach, so that the crop's edge
    # is read as the empty image around them) is visited; the count keeps the image diagonal.
    # The 4 bins' crops lie side by side in one map (a zero column between them), so that one
    # labelling and one set of component statistics serve all of them.
    cells = np.zeros_like(rest)
    x, y, bw, bh = cv2.boundingRect(rest)
    pad = int(args[0] + 1)
    box = (slice(max(0, y - pad), y + bh + pad), slice(max(0, x - pad), x + bw + pad))
    seeds, ang = rest[box], phase[box]
    ch, cw = seeds.shape
    nb = len(ORIENTATION_BINS)
    tiled = np.zeros((ch, nb * (cw + 1)), np.uint8)
    for i, centre in enumerate(ORIENTATION_BINS):
        d = cv2.absdiff(ang, centre)
        cv2.min(d, cv2.absdiff(d, 360.0), dst=d)  # circular distance of 2θ to the centre
        part = tiled[:, i * (cw + 1) : i * (cw + 1) + cw]
        cv2.bitwise_and(seeds, cv2.compare(d, ORIENTATION_HALF_WIDTH, cv2.CMP_LT), dst=part)
    found, best = _thin_long(tiled, *args, diagonal=float(np.hypot(*rest.shape)), tiles=nb)
    if best:
        out = cells[box]
        for i in range(nb):
            np.bitwise_or(out, found[:, i * (cw + 1) : i * (cw + 1) + cw], out=out)
    return cells, best


def fine_hair(
    lum: np.ndarray, depth: np.ndarray, background: np.ndarray, seed_ok: np.ndarray, s: HairSettings, k: int
) -> tuple[np.ndarray, int]:
    """Fine, faint dark hair at the detection scale: (uint8 0/255 cells, number of hairs).

    ``lum``: smoothed lightness (uint8) of the detection copy; ``depth``: closing minus
    lightness and ``background``: the closing (uint8 both). Seeds are cells whose ridge
    strength (:func:`ridge_strength`) reaches ``fine_t_high`` % of the background and that lie at least
    ``fine_min_depth`` below the closing (not the flank of a light hair); components are kept
    when thin and long (extent ``fine_min_length``: length and continuity are what a thin,
    faint hair shows). Independent of the bold pass: a hair it found in part stays one long
    component here. The seeds that fail the test are tried again split by ridge orientation
    (:func:`_oriented_rescue`): fine F1 +0.022 on the synthetic-hair benchmark (development
    cache), bold F1 and lesion safety unchanged.
    """
    ridge, hessian = ridge_strength(lum, background)
    seeds = cv2.bitwise_and(_at_least(ridge, 4 * s.fine_t_high), seed_ok)
    cv2.bitwise_and(seeds, _at_least(depth, s.fine_min_depth), dst=seeds)
    args = (s.fine_max_half_width / k, s.fine_min_length / k, s.fine_min_elongation)
    rest = np.zeros_like(seeds)  # long components that failed: only their pieces can pass
    cells, n = _thin_long(seeds, *args, rejected=rest)
    if not cv2.countNonZero(rest):
        return cells, n
    rescued, n_rescued = _oriented_rescue(rest, ridge_phase(*hessian), args)
    return cv2.bitwise_or(cells, rescued), n + n_rescued
