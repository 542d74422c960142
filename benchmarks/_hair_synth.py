"""Synthetic hair for benchmarks: curved, anti-aliased hairs of known position on clean images.

Each hair is a cubic Bézier curve drawn at 4× resolution and area-downsampled, giving a soft
coverage ``alpha`` in [0, 1]; hairs are composited one after the other with their own colour
and opacity. The truth mask is ``1 - Π(1 - alpha_i) >= TRUTH_ALPHA``.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Coverage from which a pixel counts as hair in the truth mask.
TRUTH_ALPHA = 0.3
_SS = 4  # supersampling factor


def _bezier(p: np.ndarray, n: int = 64) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)[:, None]
    return ((1 - t) ** 3) * p[0] + 3 * ((1 - t) ** 2) * t * p[1] + 3 * (1 - t) * t**2 * p[2] + t**3 * p[3]


def add_hair(
    clean: np.ndarray,
    rng: np.random.Generator,
    count: int | None = None,
    light_fraction: float = 0.2,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Draw hair on an RGB uint8 ``(H, W, 3)`` image.

    Args:
        clean: the hair-free image.
        rng: random generator (all randomness comes from it).
        count: number of hairs; default log-uniform 1-60.
        light_fraction: probability that a hair is light (white / grey) instead of dark.

    Returns:
        ``(hairy RGB uint8, truth bool (H, W), info dict: count, widths, light)``.
    """
    h, w = clean.shape[:2]
    if count is None:
        count = int(round(np.exp(rng.uniform(0.0, np.log(60.0)))))
    img = clean.astype(np.float32)
    keep = np.ones((h, w), np.float32)  # Π(1 - alpha_i)
    canvas = np.zeros((h * _SS, w * _SS), np.float32)
    diag = float(np.hypot(h, w))
    widths, lights = [], []
    skin_l = float(np.median(clean.reshape(-1, 3), axis=0).mean())
    for _ in range(count):
        width = float(rng.uniform(1.0, 5.0))
        length = float(rng.uniform(0.15, 0.9)) * diag
        centre = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        ang = rng.uniform(0, np.pi)
        d = np.array([np.cos(ang), np.sin(ang)]) * length / 2
        normal = np.array([-d[1], d[0]]) / max(np.linalg.norm(d), 1e-6)
        bend = rng.normal(0, 0.15, 2) * length  # curvature: control points off the chord
        p = np.stack([centre - d, centre - d / 3 + normal * bend[0],
                      centre + d / 3 + normal * bend[1], centre + d])
        pts = np.round(_bezier(p) * _SS).astype(np.int32)
        canvas[:] = 0
        cv2.polylines(canvas, [pts], False, 1.0, max(1, int(round(width * _SS))), cv2.LINE_AA)
        alpha = cv2.resize(canvas, (w, h), interpolation=cv2.INTER_AREA)
        light = bool(rng.random() < light_fraction)
        if light:
            grey = rng.uniform(min(max(200.0, skin_l + 30), 245.0), 252.0)
            colour = np.array([grey, grey, grey * rng.uniform(0.95, 1.0)], np.float32)
            opacity = rng.uniform(0.6, 0.9)
        else:
            base = rng.uniform(15, 70)
            colour = np.array([base * rng.uniform(1.0, 1.4), base * rng.uniform(0.8, 1.1), base * rng.uniform(0.6, 0.9)], np.float32)
            opacity = rng.uniform(0.75, 1.0)
        a = alpha * opacity
        img = img * (1 - a[:, :, None]) + colour * a[:, :, None]
        keep *= 1 - alpha
        widths.append(width)
        lights.append(light)
    hairy = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    truth = (1 - keep) >= TRUTH_ALPHA
    return hairy, truth, {"count": count, "widths": widths, "light": lights}
