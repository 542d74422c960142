"""A simulated new clinic for the fine-tuning benchmark: one fixed "other dermatoscope" look
(colour cast, tone curve, lower contrast, stronger saturation, softer optics, a vignette)
applied identically to every image of a source, as one device would.

The data has no unseen source large enough for N = 25 labels + a scored rest (the only large
validation source, ISIC 2017, is the distribution the shipped model was trained on), so the
benchmark also measures adaptation to this controlled shift. It is a proxy for a real clinic,
reported as such.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

#: per-channel gain (R, G, B), gamma, contrast, saturation, blur sigma in px at 256 px,
#: vignette: brightness lost at the corners.
LOOK = {"gain": (1.12, 0.92, 0.70), "gamma": 1.45, "contrast": 0.75, "saturation": 1.35,
        "blur_sigma_256": 1.0, "vignette": 0.35}
#: A second device, never used to choose the recipe (a check that it is not tuned to ``LOOK``):
#: cool cast, brighter tone curve, more contrast, paler colours, sharper optics, no vignette.
LOOK_B = {"gain": (0.82, 0.97, 1.15), "gamma": 0.75, "contrast": 1.2, "saturation": 0.7,
          "blur_sigma_256": 0.5, "vignette": 0.0}
LOOKS = {"a": LOOK, "b": LOOK_B}


def clinic_look(rgb: np.ndarray, look: dict | None = None) -> np.ndarray:
    """The clinic's look of an RGB ``uint8`` ``(H, W, 3)`` image (same shape and dtype)."""
    lk = LOOK if look is None else look
    h, w = rgb.shape[:2]
    x = rgb.astype(np.float32) / 255.0
    x = (x - 0.5) * lk["contrast"] + 0.5
    x = np.clip(x * np.asarray(lk["gain"], np.float32), 0, 1) ** lk["gamma"]
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * lk["saturation"]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((yy - h / 2) / (h / 2)) ** 2 + ((xx - w / 2) / (w / 2)) ** 2
    x *= (1.0 - lk["vignette"] * np.clip(r2 / 2.0, 0, 1))[..., None]
    out = np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)
    sigma = lk["blur_sigma_256"] * max(h, w) / 256.0
    return cv2.GaussianBlur(out, (0, 0), sigma) if sigma > 0 else out


def clinic_pairs(pairs: list, out_dir: Path, look: dict | None = None) -> list:
    """Copies of ``pairs`` whose images have the clinic's look (``look``, default
    :data:`LOOK`; PNG in ``out_dir``, one folder per look; masks as they are). Returns new
    :class:`training.data.Pair` objects in the same order."""
    from dataclasses import replace

    from dermview.io import load_image

    out_dir.mkdir(parents=True, exist_ok=True)
    new = []
    for p in pairs:
        dst = out_dir / f"{p.image.stem}.png"
        if not dst.exists():
            img = clinic_look(load_image(p.image), look)
            cv2.imwrite(str(dst), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        new.append(replace(p, image=dst))
    return new
