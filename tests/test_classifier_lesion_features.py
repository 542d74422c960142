"""Hand-crafted lesion cues of the classifier levers (synthetic lesions)."""

from __future__ import annotations

import numpy as np

from training.classifier_lesion_features import NAMES, lesion_cues


def _disc(h: int, w: int, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2


def test_cues_of_a_round_lesion_and_of_an_elongated_one_at_the_edge():
    h, w = 120, 160
    rgb = np.full((h, w, 3), (200, 160, 140), np.uint8)
    disc = _disc(h, w, 60, 80, 25)
    rgb[disc] = (110, 70, 50)
    v = dict(zip(NAMES, lesion_cues(rgb, disc), strict=True))
    assert len(v) == len(NAMES) and all(np.isfinite(list(v.values())))
    assert abs(v["area_frac"] - disc.sum() / (h * w)) < 1e-9
    assert abs(v["diameter_frac"] - 50 / 160) < 0.03
    assert v["width_over_diameter"] > 0.9 and v["touches_edge"] == 0
    assert v["lesion_L"] < v["skin_L"]  # the lesion is darker than its skin

    ell = ((np.mgrid[:h, :w][0] - 60) / 15.0) ** 2 + ((np.mgrid[:h, :w][1] - 20) / 60.0) ** 2 <= 1
    rgb2 = np.full((h, w, 3), (200, 160, 140), np.uint8)
    rgb2[ell] = (110, 70, 50)
    e = dict(zip(NAMES, lesion_cues(rgb2, ell), strict=True))
    assert e["width_over_diameter"] < 0.6 and e["touches_edge"] == 1
