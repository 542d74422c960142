"""Black frame / vignette detection and filling.

The frame is the dark region (HSL lightness ``L = (max(R,G,B) + min(R,G,B)) / 2`` below a
threshold) that is connected to the image border: rectangular bands, the circular vignette of
PH2-style dermoscopes, dark corners. A dark lesion in the middle of the image is never frame,
and a dark lesion that reaches the border is kept out by a shape test (a frame hugs the border).
"""

from __future__ import annotations

import cv2
import numpy as np

from dermview.preprocess.inpaint import pushpull_fill

#: A detected "frame" covering more than this fraction of the image is refused (a dark photo).
MAX_FRAME_FRACTION = 0.75
#: Lightness margin (0-255) above the threshold into which the frame may grow by a few pixels,
#: to take in the soft edge of a vignette.
GROW_MARGIN = 30


def lightness(rgb: np.ndarray) -> np.ndarray:
    """HSL lightness ``(max + min) / 2`` of an RGB uint8 ``(H, W, 3)`` image, uint8 ``(H, W)``."""
    mx = rgb.max(axis=2).astype(np.uint16)
    mn = rgb.min(axis=2).astype(np.uint16)
    return ((mx + mn + 1) >> 1).astype(np.uint8)


def _border_labels(labels: np.ndarray) -> np.ndarray:
    edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    found = np.unique(edge)
    return found[found > 0]


def _hugs_border(component: np.ndarray) -> bool:
    """Shape test: a frame piece lies close to the border, a lesion reaching it does not.

    Each frame pixel of a band, corner or circular vignette lies within a few percent of the
    image size of the border *relative to how far the piece reaches*; we require that the
    median distance of its pixels to the image border is small compared to the image size.
    """
    h, w = component.shape
    rows, cols = np.nonzero(component)
    if rows.size == 0:
        return False
    d = np.minimum(np.minimum(rows, h - 1 - rows), np.minimum(cols, w - 1 - cols))
    # Corner pieces: distance to the nearest corner along the border scales like the piece.
    return float(np.median(d)) <= max(2.0, 0.06 * min(h, w)) and float(np.percentile(d, 99)) <= 0.30 * min(h, w)


def detect_frame(rgb: np.ndarray, threshold: int = 40) -> np.ndarray:
    """Bool ``(H, W)`` mask of the dark frame / vignette connected to the image border.

    Args:
        rgb: RGB uint8 ``(H, W, 3)``.
        threshold: lightness (0-255) below which a border-connected pixel may be frame.
    """
    h, w = rgb.shape[:2]
    empty = np.zeros((h, w), dtype=bool)
    if h < 3 or w < 3:
        return empty
    light = lightness(rgb)
    k = 5 if min(h, w) >= 32 else 3
    light = cv2.blur(light, (k, k))
    dark = (light < threshold).astype(np.uint8)
    if not dark.any():
        return empty
    # Remove thin dark things (hair touching the border) before looking at connectivity.
    r = max(1, round(min(h, w) / 100))
    se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    dark = cv2.morphologyEx(dark, cv2.MORPH_OPEN, se)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=8)
    if n <= 1:
        return empty
    min_area = max(4, int(0.0005 * h * w))
    frame = np.zeros((h, w), dtype=bool)
    for lab in _border_labels(labels):
        if stats[lab, cv2.CC_STAT_AREA] < min_area:
            continue
        comp = labels == lab
        if _hugs_border(comp):
            frame |= comp
    if not frame.any():
        return empty
    # Grow a few pixels into the soft edge of the vignette (still dark-ish pixels only).
    soft = light < min(255, threshold + GROW_MARGIN)
    grow_se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    f8 = frame.astype(np.uint8)
    for _ in range(max(2, r + 1)):
        f8 = cv2.dilate(f8, grow_se) & soft.astype(np.uint8)
        f8 |= frame.astype(np.uint8)
    frame = f8.astype(bool)
    if frame.mean() > MAX_FRAME_FRACTION:
        return empty
    return frame


def fill_frame(rgb: np.ndarray, frame_mask: np.ndarray) -> np.ndarray:
    """Return a copy of ``rgb`` (uint8 ``(H, W, 3)``) whose frame pixels hold smooth skin colour.

    The colour is a push-pull extrapolation of the unmasked pixels, so the image keeps its size
    and masks stay aligned with the original.
    """
    if not frame_mask.any() or frame_mask.all():
        return rgb.copy()
    # Do not extrapolate from the darkened ring just inside the frame: take the sources a few
    # pixels further in, then write only the frame pixels.
    h, w = frame_mask.shape
    r = max(1, round(min(h, w) / 100))
    se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    wide = cv2.dilate(frame_mask.astype(np.uint8), se).astype(bool)
    if wide.all():
        wide = frame_mask
    filled = pushpull_fill(rgb, wide)
    out = rgb.copy()
    out[frame_mask] = np.clip(filled[frame_mask] + 0.5, 0, 255).astype(np.uint8)
    return out
