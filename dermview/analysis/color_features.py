"""Colour features of a lesion for the per-colour presence model (:mod:`dermview.analysis.colors`).

Computed from the (smoothed) CIELAB lesion pixels and the surrounding skin colour, so that
white and red, which the dermoscopy rule defines against the skin, are judged relative to it:
percentiles of L*, a*, b*, chroma and of their differences from the skin, and the log share
of the lesion inside simple CIELAB regions (lighter than the skin, cooler than it, very dark,
redder than it, ...). No feature depends on a tuned value. Pure numpy.
"""

from __future__ import annotations

import numpy as np

_QUANTILES = (1, 5, 25, 50, 75, 95, 99)
_CHANNELS = ("L", "a", "b", "dL", "da", "db", "C", "dC")


def _names() -> tuple[str, ...]:
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


#: Feature names, in the order :func:`color_features` returns them.
FEATURE_NAMES: tuple[str, ...] = _names()


def color_features(lab: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """Feature vector of one lesion.

    Args:
        lab: ``(k, 3)`` CIELAB of the lesion pixels (L* 0-100), any float dtype, k ≥ 1.
        skin: ``(3,)`` CIELAB of the surrounding skin.

    Returns:
        ``float64`` ``(len(FEATURE_NAMES),)``: percentiles in CIELAB units, shares as
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

    def lf(m: np.ndarray) -> float:
        return float(np.log(m.mean() + 0.005))

    for t in (-15, -10, -5, 0, 5):
        out += [lf(dlum > t), lf((dlum > t) & (dchroma < 0)), lf((dlum > t) & (db < -3))]
    for t in (20, 25, 30, 35):
        out += [lf(lum < t), lf((lum < t) & (chroma < 15))]
    for t in (-5, 0, 5, 10):
        out += [lf(b < t), lf((b < t) & (lum > 30))]
    for t in (5, 10, 15):
        out += [lf(da > t), lf((da > t) & (dlum > -20)), lf(a - b > 2 * t)]
    out += [float(v) for v in s]
    return np.asarray(out, np.float64)
