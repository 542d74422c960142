"""Synthetic hair for benchmarks: curved, anti-aliased hairs of known position on clean images.

Each hair is a cubic Bézier curve drawn at 4× resolution and area-downsampled, giving a soft
coverage ``alpha`` in [0, 1]; hairs are composited one after the other. The truth mask is
``1 - Π(1 - alpha_i) >= TRUTH_ALPHA``. Two regimes (sizes in pixels of a 512-px image):

* ``bold`` (:func:`add_hair`): 1-60 hairs, 1-5 px wide, dark (grey 15-70, opaque) or light
  (white / grey); 0.15-0.9 image diagonals long.
* ``fine`` (:func:`add_fine_hair`): 5-40 thin, faint hairs, 1-2 px wide, each 10-25 % darker
  than the skin (or lesion) under it (a multiplicative shade of a light-brown tint), long
  (0.35-1.0 diagonal) and curved; a share of them is centred on the lesion when a lesion mask
  is given, so they cross it.
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


def _curve_alpha(canvas: np.ndarray, centre: np.ndarray, length: float, ang: float, bend: np.ndarray,
                 width: float, shape: tuple[int, int]) -> np.ndarray:
    """Coverage float32 ``shape`` of one Bézier hair (``bend``: control-point offsets off the
    chord, in pixels), drawn on the supersampled ``canvas``."""
    h, w = shape
    d = np.array([np.cos(ang), np.sin(ang)]) * length / 2
    normal = np.array([-d[1], d[0]]) / max(np.linalg.norm(d), 1e-6)
    p = np.stack([centre - d, centre - d / 3 + normal * bend[0], centre + d / 3 + normal * bend[1], centre + d])
    pts = np.round(_bezier(p, 96) * _SS).astype(np.int32)
    canvas[:] = 0
    cv2.polylines(canvas, [pts], False, 1.0, max(1, int(round(width * _SS))), cv2.LINE_AA)
    return cv2.resize(canvas, (w, h), interpolation=cv2.INTER_AREA)


def add_hair(
    clean: np.ndarray,
    rng: np.random.Generator,
    count: int | None = None,
    light_fraction: float = 0.2,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Draw bold hair on an RGB uint8 ``(H, W, 3)`` image.

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
        bend = rng.normal(0, 0.15, 2) * length  # curvature: control points off the chord
        alpha = _curve_alpha(canvas, centre, length, ang, bend, width, (h, w))
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


def add_fine_hair(
    clean: np.ndarray,
    rng: np.random.Generator,
    lesion: np.ndarray | None = None,
    count: int | None = None,
    on_lesion: float = 0.4,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Draw fine, faint hair on an RGB uint8 ``(H, W, 3)`` image.

    Each hair multiplies the pixels under it by ``1 - alpha · darkness · tint`` (darkness
    10-25 %, tint a light-brown weighting of the channels: blue darkened a little more than
    red), so it is 10-25 % darker than whatever lies below it, skin or lesion.

    Args:
        clean: the hair-free image.
        rng: random generator (all randomness comes from it).
        lesion: bool ``(H, W)``, optional: a share ``on_lesion`` of the hairs is centred on a
            random lesion pixel.
        count: number of hairs; default uniform 5-40.

    Returns:
        ``(hairy RGB uint8, truth bool (H, W), info dict: count, widths, darkness)``.
    """
    h, w = clean.shape[:2]
    if count is None:
        count = int(rng.integers(5, 41))
    img = clean.astype(np.float32)
    keep = np.ones((h, w), np.float32)
    canvas = np.zeros((h * _SS, w * _SS), np.float32)
    diag = float(np.hypot(h, w))
    scale = max(h, w) / 512.0
    lr, lc = np.nonzero(lesion) if lesion is not None else (np.zeros(0, int), np.zeros(0, int))
    widths, darks = [], []
    for _ in range(count):
        width = float(rng.uniform(1.0, 2.0)) * scale
        length = float(rng.uniform(0.35, 1.0)) * diag
        if lr.size and rng.random() < on_lesion:
            i = int(rng.integers(lr.size))
            centre = np.array([lc[i], lr[i]], float)
        else:
            centre = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        ang = rng.uniform(0, np.pi)
        bend = rng.normal(0, 0.2, 2) * length
        alpha = _curve_alpha(canvas, centre, length, ang, bend, width, (h, w))
        dark = float(rng.uniform(0.10, 0.25))
        tint = np.array([0.85, 1.0, 1.1], np.float32) * rng.uniform(0.95, 1.05)
        img *= 1 - (alpha * dark)[:, :, None] * tint
        keep *= 1 - alpha
        widths.append(width)
        darks.append(dark)
    hairy = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    truth = (1 - keep) >= TRUTH_ALPHA
    return hairy, truth, {"count": count, "widths": widths, "darkness": darks}


def add_frame(clean: np.ndarray, rng: np.random.Generator, dark: float | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Draw a PH2-style circular vignette on a frame-free RGB uint8 ``(H, W, 3)`` image.

    Outside a circle (centre within ±5 % of the image centre, radius 0.8-0.95 of the half
    diagonal) the image fades to a dark level (5-25, with noise of σ 3) across a soft ring
    4-10 % of the short side wide: ``out = clean · g + dark · (1 - g)``, ``g`` a smoothstep of
    the distance to the centre.

    Returns ``(framed RGB uint8, affected bool (H, W): g < 0.98, info dict)``.
    """
    h, w = clean.shape[:2]
    cy = h / 2 + rng.uniform(-0.05, 0.05) * h
    cx = w / 2 + rng.uniform(-0.05, 0.05) * w
    radius = rng.uniform(0.8, 0.95) * np.hypot(h, w) / 2
    width = rng.uniform(0.04, 0.10) * min(h, w)
    level = float(rng.uniform(5, 25)) if dark is None else dark
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = np.clip((np.hypot(yy - cy, xx - cx) - (radius - width)) / width, 0.0, 1.0)
    g = 1.0 - t * t * (3.0 - 2.0 * t)
    noise = rng.normal(0.0, 3.0, (h, w, 1)).astype(np.float32)
    out = clean.astype(np.float32) * g[:, :, None] + (level + noise) * (1.0 - g[:, :, None])
    framed = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    return framed, g < 0.98, {"radius": float(radius), "ring": float(width), "dark": level}
