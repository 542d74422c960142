"""Black frame / vignette detection and filling.

The frame is the dark region (HSL lightness ``L = (max(R,G,B) + min(R,G,B)) / 2`` below a
threshold) that is connected to the image border: rectangular bands, the circular vignette of
PH2-style dermoscopes, dark corners. A dark lesion in the middle of the image is never frame,
and a dark lesion that reaches the border is kept out by a shape test (a frame hugs the border).
White strips along the image edge (a scanner's edge columns) are frame too.

The fill (:func:`fill_frame`) blends: a smooth skin estimate plus the skin's own grain mirrored
in, a feathered edge, and the grey vignette ring outside the mask lifted towards the skin.
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
    """Bool ``(H, W)`` mask of the dark frame / vignette connected to the image border, and of
    white strips along the image edges (:func:`_white_strips`).

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
    if h < 3 or w < 3:
        return np.zeros((h, w), dtype=bool)
    light = lightness(rgb)
    strips = _white_strips(light)
    frame = _dark_frame(light, threshold)
    if strips is None:
        return frame
    # The strip and the few dark columns / rows next to it (its shadow: an edge line).
    frame |= cv2.dilate(strips.view(np.uint8), np.ones((2 * MAX_STRIP + 1, 2 * MAX_STRIP + 1), np.uint8)).view(bool)
    return frame if frame.mean() <= MAX_FRAME_FRACTION else np.zeros((h, w), dtype=bool)


#: Rows / columns at the image edge that are nearly all white (PH2's scanner edge: a few
#: columns of 255 next to the vignette) are frame too, up to this many deep.
MAX_STRIP = 4
#: Lightness from which an edge pixel is white, and the share of a row / column that must be.
STRIP_LIGHT, STRIP_SHARE = 230, 0.9


def _white_strips(light: np.ndarray) -> np.ndarray | None:
    """Bool ``(H, W)`` mask of the white strips along the image edges (None when there is none;
    :func:`detect_frame` widens it by :data:`MAX_STRIP` px):
    from each edge inwards, the rows / columns (at most :data:`MAX_STRIP`) of which at least
    :data:`STRIP_SHARE` of the pixels have lightness >= :data:`STRIP_LIGHT`."""
    h, w = light.shape
    out = None
    n = min(MAX_STRIP, (min(h, w) - 1) // 2)
    for axis in (0, 1):
        for step in (1, -1):
            for i in range(n):
                idx = i if step == 1 else -1 - i
                line = light[idx] if axis == 0 else light[:, idx]
                if np.count_nonzero(line >= STRIP_LIGHT) < STRIP_SHARE * line.size:
                    break
                if out is None:
                    out = np.zeros((h, w), bool)
                if axis == 0:
                    out[idx] = True
                else:
                    out[:, idx] = True
    return out


def _dark_frame(light: np.ndarray, threshold: int) -> np.ndarray:
    """The dark part of :func:`detect_frame`, from the HSL lightness (uint8 ``(H, W)``)."""
    h, w = light.shape
    empty = np.zeros((h, w), dtype=bool)
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


#: Width of the soft edge between fill and image, as a fraction of the short side (each way).
FEATHER = 0.012
#: Width of the ring just outside the frame whose low frequencies are lifted towards the fill
#: (the grey vignette edge), as a fraction of the short side.
RING = 0.15
#: Source lightness band (percentiles of the pixels away from the frame): no lesion, no
#: specular highlight or bright edge strip is taken as skin.
SOURCE_PERCENTILES = (30.0, 90.0)
#: Largest texture amplitude (grey levels, per channel) carried into the frame.
TEXTURE_LIMIT = 20.0
#: Coarse-grid factor of the ring's low frequencies outside the frame (:func:`_low_pass_outside`),
#: the plain low-pass's: then the ring changes only where the frame is brighter than the skin
#: beside it (a white strip), and the bundled segmenter, trained on the former fill, sees the
#: same input elsewhere. Factor 4 also took the last seam away (framed PH2 images with a dip
#: over 8 grey levels beside the right frame edge: 5 before, 0 with 4, 1 with 8) but changed
#: the masks of 118 of the 150 PH2 images (Dice with the experts' outlines by up to 0.03; with
#: 8: 0.002 at most).
LIFT_FACTOR = 8


def _skin_estimate(rgb: np.ndarray, frame_mask: np.ndarray) -> np.ndarray | None:
    """Smooth skin colour over the whole image, float32 ``(H, W, 3)``: a push-pull
    extrapolation, on a coarse copy (longest side :data:`COARSE_SIZE`), of the pixels at least
    :data:`SOURCE_MARGIN` × short side away from the frame whose lightness lies within
    :data:`SOURCE_PERCENTILES` of those pixels. ``None`` when no source is left."""
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
    hole[[0, -1]] = True  # image edges: JPEG / scanner strips
    hole[:, [0, -1]] = True
    light = lightness(small)
    rest = light[~hole]
    if rest.size:
        lo, hi = np.percentile(rest, SOURCE_PERCENTILES)
        band = hole | (light < lo) | (light > hi)
        if not band.all():
            hole = band
    if hole.all():
        hole = hole8 > 0
        if hole.all():
            return None
    est = pushpull_fill(small, hole)
    return cv2.resize(est, (w, h), interpolation=cv2.INTER_LINEAR) if s < 1 else est


def _smoothstep(x: np.ndarray) -> np.ndarray:
    """``3t² - 2t³`` of ``t = clip(x, 0, 1)``, float32."""
    t = np.clip(x, 0.0, 1.0).astype(np.float32)
    return t * t * (3.0 - 2.0 * t)


def _low_pass(rgb: np.ndarray, factor: int) -> np.ndarray:
    """uint8 ``(H, W, 3)``: ``rgb`` area-averaged down by ``factor`` and linearly back up."""
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _low_pass_outside(rgb: np.ndarray, frame8: np.ndarray, factor: int) -> np.ndarray:
    """uint8 ``(H, W, 3)``: like :func:`_low_pass`, averaging only the pixels outside the frame
    (``frame8`` uint8, 255 = frame; a normalised average on the coarse grid, carried into
    the cells with no such pixel by :func:`~dermview.preprocess.inpaint.pushpull_fill`). The black vignette and the white scanner strip
    beside it pulled the ring's low frequencies off the skin's: a light strip read as light
    skin, so the grey ring next to it was not lifted (a dark seam along PH2's right edge)."""
    h, w = rgb.shape[:2]
    size = (max(1, w // factor), max(1, h // factor))
    keep8 = cv2.bitwise_not(frame8)
    num = cv2.resize(cv2.bitwise_and(rgb, rgb, mask=keep8), size, interpolation=cv2.INTER_AREA)
    den = cv2.resize(keep8, size, interpolation=cv2.INTER_AREA).astype(np.float32)[..., None]
    small = num.astype(np.float32) * 255.0 / np.maximum(den, 1.0)
    small = pushpull_fill(small, den[..., 0] == 0)  # cells of frame only: the outside carried on
    return cv2.resize(np.clip(small + 0.5, 0, 255).astype(np.uint8), (w, h),
                      interpolation=cv2.INTER_LINEAR)


def _mirror(inside: np.ndarray, fr: np.ndarray, fc: np.ndarray, margin: float):
    """For the frame pixels ``(fr, fc)``, the point mirrored across the frame edge past a
    ``margin`` (px) of darkened ring: ``(rows, cols, ok)``. ``inside``: float32 ``(H, W)``
    distance of each pixel to the nearest non-frame pixel (0 outside the frame); the edge lies
    down its gradient (central differences at the given pixels only). ``ok`` is False where
    the mirrored point is itself frame."""
    h, w = inside.shape
    d = inside[fr, fc]
    gr = inside[np.minimum(fr + 1, h - 1), fc] - inside[np.maximum(fr - 1, 0), fc]
    gc = inside[fr, np.minimum(fc + 1, w - 1)] - inside[fr, np.maximum(fc - 1, 0)]
    norm = np.maximum(np.hypot(gr, gc), 1e-6)
    reach = 2.0 * d + margin
    mr = np.clip(np.rint(fr - gr / norm * reach), 0, h - 1).astype(np.intp)
    mc = np.clip(np.rint(fc - gc / norm * reach), 0, w - 1).astype(np.intp)
    return mr, mc, inside[mr, mc] == 0


def fill_frame(rgb: np.ndarray, frame_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fill the frame of ``rgb`` (uint8 ``(H, W, 3)``) with skin that blends into the image.

    Returns ``(image uint8 (H, W, 3), changed bool (H, W))``: the frame pixels and a band
    around them. Inside the frame: the smooth skin estimate (:func:`_skin_estimate`: the
    skin's colour gradient carried in) plus the skin's own texture (the image minus its
    8×-low-pass) at the point mirrored across the frame edge (:func:`_mirror`). The edge is
    feathered over ±:data:`FEATHER` × short side (no stair-steps), and in a ring of
    :data:`RING` × short side outside it the image's low frequencies are lifted towards the
    estimate where they are darker (the grey vignette edge), its texture kept; those low
    frequencies are the darker of the plain 8× low-pass and the :data:`LIFT_FACTOR`× one of the
    pixels outside the frame (:func:`_low_pass_outside`), so that a bright frame part (PH2's
    white edge strip) does not hide the ring's grey. Work is done on
    the changed pixels only. The image keeps its size, so masks stay aligned with the original.
    """
    out = rgb.copy()
    none = np.zeros(frame_mask.shape, bool)
    if not frame_mask.any() or frame_mask.all():
        return out, none
    est = _skin_estimate(rgb, frame_mask)
    if est is None:
        return out, none
    side = min(frame_mask.shape)
    feather = max(1.0, FEATHER * side)
    ring = max(feather, RING * side)
    frame8 = frame_mask.view(np.uint8) * np.uint8(255)
    outside = cv2.distanceTransform(cv2.bitwise_not(frame8), cv2.DIST_L2, 3)
    inside = cv2.distanceTransform(frame8, cv2.DIST_L2, 3)
    changed = outside < ring
    pts = cv2.findNonZero(changed.view(np.uint8)).reshape(-1, 2)
    cr, cc = pts[:, 1].astype(np.intp), pts[:, 0].astype(np.intp)
    img = rgb[cr, cc].astype(np.float32)
    e = est[cr, cc]
    d_in, d_out = inside[cr, cc], outside[cr, cc]
    fill = e.copy()
    low = _low_pass(rgb, 8)
    low_ring = _low_pass_outside(rgb, frame8, LIFT_FACTOR)
    infr = d_in > 0
    mr, mc, ok = _mirror(inside, cr[infr], cc[infr], ring)
    tex = np.zeros((int(infr.sum()), 3), np.float32)
    tex[ok] = rgb[mr[ok], mc[ok]].astype(np.float32) - low[mr[ok], mc[ok]]
    np.clip(tex, -TEXTURE_LIMIT, TEXTURE_LIMIT, out=tex)  # skin grain, not a hair or a highlight
    fill[infr] += tex
    # Ring: lift the low-passed image up to the estimate (never darken), fading out with distance.
    lift = np.maximum(e - np.minimum(low[cr, cc], low_ring[cr, cc]), 0.0) * (1.0 - _smoothstep(d_out / ring))[:, None]
    alpha = _smoothstep((d_in - d_out + feather) / (2 * feather))[:, None]
    out[cr, cc] = np.clip(alpha * fill + (1.0 - alpha) * (img + lift) + 0.5, 0, 255).astype(np.uint8)
    return out, changed
