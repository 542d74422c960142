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

#: Fill sources are taken at least this fraction of the short side away from the frame (the
#: ring just inside a vignette is still darkened).
SOURCE_MARGIN = 0.05
#: A detected "frame" covering more than this fraction of the image is refused (a dark photo).
MAX_FRAME_FRACTION = 0.75
#: Lightness margin (0-255) above the threshold into which the frame may grow by a few pixels,
#: to take in the soft edge of a vignette.
GROW_MARGIN = 30


def lightness(rgb: np.ndarray) -> np.ndarray:
    """HSL lightness ``(max + min) / 2`` of an RGB uint8 ``(H, W, 3)`` image, uint8 ``(H, W)``."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]  # strided views: no split copies
    mx = np.maximum(np.maximum(r, g), b)
    mn = np.minimum(np.minimum(r, g), b)
    return cv2.addWeighted(mx, 0.5, mn, 0.5, 0.0)


#: Longest side (px) of the coarse copy on which frame components are found.
COARSE_SIZE = 128


def _hugs_border(rows: np.ndarray, cols: np.ndarray, h: int, w: int) -> bool:
    """Shape test: a frame piece lies close to the border, a lesion reaching it does not.

    The median distance of the piece's pixels to the image border must be small (<= 6 % of
    the short side) and nearly all (99 %) of them within 30 % of the short side.
    """
    d = np.minimum(np.minimum(rows, h - 1 - rows), np.minimum(cols, w - 1 - cols))
    return float(np.median(d)) <= max(2.0, 0.06 * min(h, w)) and float(
        np.percentile(d, 99)
    ) <= 0.30 * min(h, w)


def detect_frame(rgb: np.ndarray, threshold: int = 60) -> np.ndarray:
    """Bool ``(H, W)`` mask of the dark frame / vignette connected to the image border.

    Components are found on a coarse copy (longest side :data:`COARSE_SIZE`): dark pixels
    (3×3-smoothed lightness < ``threshold``), opened to drop thin dark things (hair) touching
    the border, connected to the border, large enough (>= 0.05 % of the image) and hugging the
    border (see :func:`_hugs_border`). The coarse mask is brought back to full size and its
    edge re-decided per pixel: inside a band of a few pixels, a pixel is frame when its
    lightness is below ``threshold + GROW_MARGIN`` (the soft edge of a vignette).

    Args:
        rgb: RGB uint8 ``(H, W, 3)``.
        threshold: lightness (0-255) below which a border-connected pixel may be frame.
    """
    h, w = rgb.shape[:2]
    empty = np.zeros((h, w), dtype=bool)
    if h < 3 or w < 3:
        return empty
    light = lightness(rgb)
    edge_min = min(int(light[0].min()), int(light[-1].min()), int(light[:, 0].min()), int(light[:, -1].min()))
    if edge_min >= threshold + GROW_MARGIN:
        return empty  # nothing dark on the border: no frame (the common case, fast)
    s = min(1.0, COARSE_SIZE / max(h, w))
    ch, cw = max(3, round(h * s)), max(3, round(w * s))
    small = cv2.resize(light, (cw, ch), interpolation=cv2.INTER_AREA) if s < 1 else light
    small = cv2.blur(small, (3, 3))
    dark = (small < threshold).view(np.uint8)
    if not dark.any():
        return empty
    if min(ch, cw) >= 16:
        se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        dark = cv2.morphologyEx(dark, cv2.MORPH_OPEN, se)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=8)
    if n <= 1:
        return empty
    edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    min_area = max(2, int(0.0005 * ch * cw))
    coarse = np.zeros((ch, cw), np.uint8)
    for lab in np.unique(edge[edge > 0]):
        if stats[lab, cv2.CC_STAT_AREA] < min_area:
            continue
        rows, cols = np.nonzero(labels == lab)
        if _hugs_border(rows, cols, ch, cw):
            coarse[rows, cols] = 255
    if not coarse.any():
        return empty
    # Back to full size; re-decide a band (2 coarse pixels each way) around the coarse edge
    # from the full-size lightness. The band is eroded / dilated on the coarse mask (cheap).
    se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    inner, outer = cv2.erode(coarse, se), cv2.dilate(coarse, se)
    if s < 1:
        inner = cv2.resize(inner, (w, h), interpolation=cv2.INTER_LINEAR)
        outer = cv2.resize(outer, (w, h), interpolation=cv2.INTER_LINEAR)
    inner = inner >= 128
    outer = outer >= 128
    soft = cv2.blur(light, (3, 3)) < min(255, threshold + GROW_MARGIN)
    frame = inner | (outer & soft)
    if frame.mean() > MAX_FRAME_FRACTION:
        return empty
    return frame


def fill_frame(rgb: np.ndarray, frame_mask: np.ndarray) -> np.ndarray:
    """Return a copy of ``rgb`` (uint8 ``(H, W, 3)``) whose frame pixels hold smooth skin colour.

    The colour is a push-pull extrapolation, on a coarse copy (longest side
    :data:`COARSE_SIZE`), of the lighter half of the pixels at least :data:`SOURCE_MARGIN` ×
    short side away from the frame (neither the darkened ring just inside a vignette nor a
    lesion reaching the frame is used as source). The image keeps its size, so masks stay
    aligned with the original; only frame pixels change.
    """
    if not frame_mask.any() or frame_mask.all():
        return rgb.copy()
    h, w = frame_mask.shape
    s = min(1.0, COARSE_SIZE / max(h, w))
    ch, cw = max(1, round(h * s)), max(1, round(w * s))
    if s < 1:
        small = cv2.resize(rgb, (cw, ch), interpolation=cv2.INTER_AREA)
        hole8 = (cv2.resize(frame_mask.view(np.uint8), (cw, ch), interpolation=cv2.INTER_AREA) > 0).view(np.uint8)
    else:
        small, hole8 = rgb, frame_mask.view(np.uint8).copy()
    r = max(1, round(SOURCE_MARGIN * min(ch, cw)))
    hole = cv2.dilate(hole8, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))) > 0
    light = lightness(small)
    rest = light[~hole]
    if rest.size:
        lighter_skin = hole | (light < np.median(rest))
        if not lighter_skin.all():
            hole = lighter_skin
    if hole.all():
        hole = hole8 > 0
        if hole.all():
            return rgb.copy()
    filled = np.clip(pushpull_fill(small, hole) + 0.5, 0, 255).astype(np.uint8)
    if s < 1:
        filled = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR)
    out = rgb.copy()
    cv2.copyTo(filled, frame_mask.view(np.uint8), out)
    return out
