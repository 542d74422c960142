"""Colour features of a lesion for the per-colour presence model (:mod:`dermview.analysis.colors`).

Computed from the lightly smoothed CIELAB lesion (:func:`dermview.analysis.lesion.fine_lab`)
and the surrounding skin colour, so that white and red, which the dermoscopy rule defines
against the skin, are judged relative to it. Two groups, no feature depending on a tuned value:

- pixel statistics (:func:`pixel_features`): percentiles of L*, a*, b*, chroma and of their
  differences from the skin, and the log share of the lesion inside simple CIELAB regions
  (lighter than the skin, cooler than it, very dark, redder than it, ...);
- region statistics (:func:`region_features`), which need the lesion's shape: the share and the
  largest connected piece of the lesion's *interior* (over 10 % of the equivalent diameter
  from the border, where the fade into the skin does not count) that is lighter than the
  lesion's median by 5-20 L* or as light as the skin less 5-15 L* (white: regression,
  hypopigmented centres); pixels darker than the lesion's lower quartile by 10-20 L*
  (black: relative to the lesion's own brown); the share whose hue angle is 10-25° redder
  than the skin's (red), and the spread of L* and b*.

Measured on PH2 (``benchmarks/bench_analysis.py``, 5-fold CV): the region group and the
lighter smoothing raised the white F1 most (see the README's analysis section). Pure numpy
(and OpenCV's distance transform and connected components).
"""

from __future__ import annotations

import numpy as np

_QUANTILES = (1, 5, 25, 50, 75, 95, 99)
_CHANNELS = ("L", "a", "b", "dL", "da", "db", "C", "dC")
_LIGHT_STEPS = (5, 10, 15, 20)  # L* above the lesion's median (interior)
_SKIN_STEPS = (-15, -10, -5)  # L* relative to the skin (interior)
_DARK_STEPS = (10, 15, 20)  # L* below the lesion's lower quartile
_HUE_STEPS = (-10, -15, -20, -25)  # hue angle (degrees) relative to the skin's
_INTERIOR = 0.1  # the interior: farther than this fraction of the equivalent diameter from the border


def _pixel_names() -> tuple[str, ...]:
    names = [f"{ch}{q}" for q in _QUANTILES for ch in _CHANNELS]
    for t in (-15, -10, -5, 0, 5):
        names += [f"dL>{t}", f"dL>{t}&dC<0", f"dL>{t}&db<-3"]
    for t in (20, 25, 30, 35):
        names += [f"L<{t}", f"L<{t}&C<15"]
    for t in (-5, 0, 5, 10):
        names += [f"b<{t}", f"b<{t}&L>30"]
    for t in (5, 10, 15):
        names += [f"da>{t}", f"da>{t}&dL>-20", f"a-b>{2 * t}"]
    return (*names, "skin_L", "skin_a", "skin_b")


def _region_names() -> tuple[str, ...]:
    names = []
    for t in _LIGHT_STEPS:
        names += [f"in&L>med+{t}", f"in&L>med+{t}&C<med", f"cc(in&L>med+{t})"]
    names += [f"cc(in&dL>{t})" for t in _SKIN_STEPS]
    for t in _DARK_STEPS:
        names += [f"L<q25-{t}", f"L<q25-{t}&C<20"]
    for t in _HUE_STEPS:
        names += [f"dh<{t}", f"dh<{t}&L>40", f"dh<{t}&dC>0"]
    names += [f"dh{q}" for q in (5, 25, 50)]
    return (*names, "L_std", "b_std")


#: Names of :func:`pixel_features`, then of :func:`region_features`.
PIXEL_FEATURE_NAMES: tuple[str, ...] = _pixel_names()
REGION_FEATURE_NAMES: tuple[str, ...] = _region_names()
#: Feature names, in the order :func:`color_features` returns them.
FEATURE_NAMES: tuple[str, ...] = PIXEL_FEATURE_NAMES + REGION_FEATURE_NAMES


def _log_share(m: np.ndarray, area: float) -> float:
    return float(np.log(np.count_nonzero(m) / area + 0.005))


def pixel_features(lab: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """Pixel statistics of one lesion.

    Args:
        lab: ``(k, 3)`` CIELAB of the lesion pixels (L* 0-100), any float dtype, k ≥ 1.
        skin: ``(3,)`` CIELAB of the surrounding skin.

    Returns:
        ``float64`` ``(len(PIXEL_FEATURE_NAMES),)``: percentiles in CIELAB units, shares as
        ``log(share + 0.005)``.
    """
    x = np.asarray(lab, np.float64).reshape(-1, 3)
    s = np.asarray(skin, np.float64).reshape(3)
    lum, a, b = x[:, 0], x[:, 1], x[:, 2]
    dlum, da, db = lum - s[0], a - s[1], b - s[2]
    chroma = np.hypot(a, b)
    dchroma = chroma - float(np.hypot(s[1], s[2]))
    chans = np.stack([lum, a, b, dlum, da, db, chroma, dchroma])  # (8, k)
    out = list(np.percentile(chans, _QUANTILES, axis=1).ravel())  # quantile-major, as named
    k = float(len(x))
    for t in (-15, -10, -5, 0, 5):
        out += [_log_share(dlum > t, k), _log_share((dlum > t) & (dchroma < 0), k),
                _log_share((dlum > t) & (db < -3), k)]
    for t in (20, 25, 30, 35):
        out += [_log_share(lum < t, k), _log_share((lum < t) & (chroma < 15), k)]
    for t in (-5, 0, 5, 10):
        out += [_log_share(b < t, k), _log_share((b < t) & (lum > 30), k)]
    for t in (5, 10, 15):
        out += [_log_share(da > t, k), _log_share((da > t) & (dlum > -20), k),
                _log_share(a - b > 2 * t, k)]
    out += [float(v) for v in s]
    return np.asarray(out, np.float64)


def _largest_piece(m: np.ndarray, area: float) -> float:
    import cv2

    n, _, stats, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
    return float(np.log((stats[1:, cv2.CC_STAT_AREA].max() if n > 1 else 0) / area + 0.005))


def region_features(lab: np.ndarray, mask: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """Region statistics of one lesion (see the module docstring).

    Args:
        lab: ``float32`` ``(h, w, 3)`` CIELAB image (L* 0-100).
        mask: ``bool`` ``(h, w)`` lesion, not empty.
        skin: ``(3,)`` CIELAB of the surrounding skin.

    Returns:
        ``float64`` ``(len(REGION_FEATURE_NAMES),)``: shares (of the lesion's area) and
        largest pieces as ``log(share + 0.005)``, hue differences in degrees, spreads in L*/b*.
    """
    import cv2

    m = np.asarray(mask, bool)
    s = np.asarray(skin, np.float64).reshape(3)
    area = float(np.count_nonzero(m))
    eq_d = np.sqrt(4 * area / np.pi)
    inner = cv2.distanceTransform(m.astype(np.uint8), cv2.DIST_L2, 3) > _INTERIOR * eq_d
    lum, a, b = (lab[..., i].astype(np.float64) for i in range(3))
    chroma = np.hypot(a, b)
    dhue = np.degrees(np.arctan2(b, a)) - np.degrees(np.arctan2(s[2], s[1]))
    lum_in, chroma_in = lum[m], chroma[m]
    med, q25, c_med = float(np.median(lum_in)), float(np.percentile(lum_in, 25)), float(np.median(chroma_in))
    out: list[float] = []
    for t in _LIGHT_STEPS:
        w = inner & (lum > med + t)
        out += [_log_share(w, area), _log_share(w & (chroma < c_med), area), _largest_piece(w, area)]
    out += [_largest_piece(inner & (lum - s[0] > t), area) for t in _SKIN_STEPS]
    for t in _DARK_STEPS:
        w = m & (lum < q25 - t)
        out += [_log_share(w, area), _log_share(w & (chroma < 20), area)]
    c_skin = float(np.hypot(s[1], s[2]))
    for t in _HUE_STEPS:
        w = m & (dhue < t)
        out += [_log_share(w, area), _log_share(w & (lum > 40), area), _log_share(w & (chroma > c_skin), area)]
    out += [float(v) for v in np.percentile(dhue[m], (5, 25, 50))]
    out += [float(lum_in.std()), float(b[m].std())]
    return np.asarray(out, np.float64)


def color_features(lab: np.ndarray, mask: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """Feature vector of one lesion: :func:`pixel_features` then :func:`region_features`.

    Args:
        lab: ``float32`` ``(h, w, 3)`` CIELAB image (L* 0-100), lightly smoothed.
        mask: ``bool`` ``(h, w)`` lesion, not empty.
        skin: ``(3,)`` CIELAB of the surrounding skin.

    Returns:
        ``float64`` ``(len(FEATURE_NAMES),)``.
    """
    m = np.asarray(mask, bool)
    return np.concatenate([pixel_features(lab[m], skin), region_features(lab, m, skin)])
