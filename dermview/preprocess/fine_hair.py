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


def ridge_strength(lum: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Dark-line (ridge) strength of a smoothed lightness ``lum`` (uint8 ``(h, w)``) relative to
    ``background`` (uint8, the local lightness): uint8 ``(h, w)`` in units of 0.25 % of it.

    From the 3×3 Sobel Hessian (dxx, dyy, dxy) with eigenvalues l1 >= l2: ``l1 - |l2|``, which
    is ``min(trace, sqrt((dxx - dyy)² + 4·dxy²))``: large across a dark line (l1 > 0, l2 ≈ 0),
    near zero on a dot or blob (l1 ≈ l2), on an edge and on flat skin; negative (saturated to
    0) on a bright line. A second, 5×5 scale was measured and dropped: little F1 on the
    synthetic hair, and on real lesions (IMD206, IMD027) it joined pigment network into hair.
    """
    dxx = cv2.Sobel(lum, cv2.CV_32F, 2, 0, ksize=3)
    dyy = cv2.Sobel(lum, cv2.CV_32F, 0, 2, ksize=3)
    dxy = cv2.Sobel(lum, cv2.CV_32F, 1, 1, ksize=3)
    r = cv2.min(cv2.add(dxx, dyy), cv2.magnitude(cv2.subtract(dxx, dyy), cv2.multiply(dxy, 2.0)))
    return cv2.divide(r, cv2.add(background, 8, dtype=cv2.CV_32F), scale=400.0, dtype=cv2.CV_8U)


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
    component here.
    """
    ridge = ridge_strength(lum, background)
    seeds = cv2.bitwise_and(_at_least(ridge, 4 * s.fine_t_high), seed_ok)
    cv2.bitwise_and(seeds, _at_least(depth, s.fine_min_depth), dst=seeds)
    return _thin_long(seeds, s.fine_max_half_width / k, s.fine_min_length / k, s.fine_min_elongation)
