"""Display colouring for the views: numpy in, pixel buffers out (no Qt, no analysis).

These functions only turn masks and probabilities into colours for drawing; all image
analysis (preprocessing, segmentation, mask edits) lives in the core packages. They are
thread-safe, so the workers colour large results off the GUI thread.

Conventions: masks ``bool (H, W)``; probabilities ``float32 (H, W)`` in [0, 1]; alpha maps
``uint8 (H, W)``; colour buffers ``uint8 (H, W, 4)`` in Qt's premultiplied ARGB32 memory order
(B, G, R, A on little-endian machines), ready for ``QImage.Format_ARGB32_Premultiplied``.
"""

from __future__ import annotations

import sys

import numpy as np

from dermview.masks import boundary

Colour = tuple[int, int, int]

LESION = (255, 214, 0)  # yellow: working mask
REFERENCE = (0, 200, 255)  # cyan: ground-truth outline
FRAME = (255, 60, 60)  # red: detected frame
EXTRA = (255, 0, 200)  # magenta: in the mask, not in the reference (false positive)
MISSED = (0, 120, 255)  # blue: in the reference, not in the mask (false negative)
HAIR = (60, 255, 90)  # green: detected hair

#: Long side (px) of overlays that need no pixel accuracy (heat map, frame and hair maps).
OVERLAY_SIDE = 2048
#: Long side (px) above which the preprocessed image is shown downscaled.
DISPLAY_SIDE = 4096


def mask_alpha(mask: np.ndarray, fill: int) -> np.ndarray:
    """Opacity map of a filled mask overlay: ``fill`` inside, 255 on the boundary, 0 outside.
    ``uint8 (H, W)``. (Outline mode draws :func:`outline_tiles` instead: a line of fixed
    screen width, visible at every zoom.)"""
    a = mask.view(np.uint8) * np.uint8(fill)
    a[boundary(mask)] = 255
    return a


def mask_alpha_region(mask: np.ndarray, top: int, left: int, bottom: int, right: int,
                      fill: int) -> np.ndarray:
    """:func:`mask_alpha` of ``mask[top:bottom, left:right]`` only.

    The boundary test looks one pixel beyond the region, so the result equals the same window
    of ``mask_alpha(mask, ...)`` (an edited rectangle can be recoloured alone).
    """
    h, w = mask.shape
    t, l_ = max(top - 1, 0), max(left - 1, 0)
    b, r = min(bottom + 1, h), min(right + 1, w)
    a = mask_alpha(np.ascontiguousarray(mask[t:b, l_:r]), fill)
    return a[top - t:top - t + (bottom - top), left - l_:left - l_ + (right - left)]


Polyline = tuple[np.ndarray, np.ndarray, np.ndarray]


#: Side (image px) of the square tiles in which outlines are traced and drawn: an edit
#: re-traces and repaints only the tiles it touched, and a repaint strokes only the tiles in
#: view (tracing and stroking the whole outline of a 12-MP mask took over 20 ms).
OUTLINE_TILE = 512


def outline_tiles(mask: np.ndarray, tile: int = OUTLINE_TILE,
                  region: tuple[int, int, int, int] | None = None) -> dict[tuple[int, int], Polyline]:
    """The outlines of a bool ``(H, W)`` mask (outer borders and holes) through the centres of
    its boundary pixels, per square tile of side ``tile``: ``{(tile row, tile col): (x, y,
    connect)}`` for the tiles that meet ``region`` ``(top, left, bottom, right)`` (default: all).
    ``x``, ``y``: float64 ``(N,)`` view coordinates (x = column + 0.5, y = row + 0.5);
    ``connect``: uint8 ``(N,)``, 1 where a point joins the next one (the order of
    :func:`pyqtgraph.arrayToQPath`); empty arrays for a tile without outline.

    Each tile is traced on its crop plus the one-pixel ring of its neighbours (so a boundary
    pixel is judged on all its neighbours); the segments between two ring pixels (the crop's
    own edge, or outline the neighbour draws) are left out, and the segments that cross into
    the ring join the neighbour's outline. Drawn together the tiles give the whole mask's
    outline, each tile on its own a part of it."""
    h, w = mask.shape
    top, left, bottom, right = region if region is not None else (0, 0, h, w)
    m8 = np.ascontiguousarray(mask).view(np.uint8)
    out: dict[tuple[int, int], Polyline] = {}
    for ti in range(max(0, top) // tile, (min(bottom, h) - 1) // tile + 1):
        for tj in range(max(0, left) // tile, (min(right, w) - 1) // tile + 1):
            r0, c0 = ti * tile, tj * tile
            r1, c1 = min(r0 + tile, h), min(c0 + tile, w)
            y0, x0 = max(r0 - 1, 0), max(c0 - 1, 0)
            crop = m8[y0 : min(r1 + 1, h), x0 : min(c1 + 1, w)]
            out[ti, tj] = _traced(crop, (r0 > 0, c1 < w, r1 < h, c0 > 0), x0, y0)
    return out


def _traced(crop: np.ndarray, ring: tuple[bool, bool, bool, bool], x0: int, y0: int) -> Polyline:
    """The contours of a uint8 ``crop`` at ``(x0, y0)`` as one :data:`Polyline`, without the
    segments that lie in its outer ring on the sides that ``ring`` (top, right, bottom, left)
    marks as neighbours' pixels."""
    import cv2

    contours, _ = cv2.findContours(crop, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        empty = np.zeros(0, np.float64)
        return empty, empty.copy(), np.zeros(0, np.uint8)
    closed = [np.concatenate([c[:, 0], c[:1, 0]]) for c in contours]
    xy = np.concatenate(closed)
    connect = np.ones(len(xy), np.uint8)
    connect[np.cumsum([len(c) for c in closed]) - 1] = 0
    ch, cw = crop.shape
    x, y = xy[:, 0], xy[:, 1]
    # A segment is the neighbours' (or the crop's edge) when it runs along one side of the
    # ring, or is the one diagonal step between two sides at a corner of it.
    drop = np.zeros(len(xy) - 1, bool)
    on_ring = np.zeros(len(xy), bool)
    for side, hit in zip(ring, (y == 0, x == cw - 1, y == ch - 1, x == 0), strict=True):
        if side:
            drop |= hit[:-1] & hit[1:]
            on_ring |= hit
    corner = on_ring[:-1] & on_ring[1:] & (np.abs(np.diff(x)) <= 1) & (np.abs(np.diff(y)) <= 1)
    connect[:-1][drop | corner] = 0
    return xy[:, 0] + (x0 + 0.5), xy[:, 1] + (y0 + 0.5), connect


def _lut(colour: Colour) -> np.ndarray:
    """``uint32 (256,)``: premultiplied ARGB32 pixel of ``colour`` at each alpha."""
    a = np.arange(256, dtype=np.uint32)
    r, g, b = ((np.uint32(c) * a + 127) // 255 for c in colour)
    px = (a << 24) | (r << 16) | (g << 8) | b
    return px if sys.byteorder == "little" else px.byteswap()


_LUTS: dict[Colour, np.ndarray] = {}


def colourise(alpha: np.ndarray, colour: Colour, out: np.ndarray | None = None) -> np.ndarray:
    """Premultiplied ARGB32 buffer ``uint8 (H, W, 4)`` of one colour with opacity ``alpha``."""
    lut = _LUTS.get(colour)
    if lut is None:
        lut = _LUTS[colour] = _lut(colour)
    h, w = alpha.shape
    if out is None:
        out = np.empty((h, w, 4), np.uint8)
    # mode="clip" (a uint8 alpha never leaves the 256-entry table): "raise" copies through a
    # temporary buffer, which made this take twice as long on a 24-MP mask
    np.take(lut, alpha, out=out.view(np.uint32).reshape(h, w), mode="clip")
    return out


def premultiply(rgba: np.ndarray) -> np.ndarray:
    """Straight-alpha RGBA ``uint8 (H, W, 4)`` → premultiplied ARGB32 buffer."""
    a = rgba[..., 3:4].astype(np.uint16)
    out = np.empty(rgba.shape, np.uint8)
    out[..., 0:3] = ((rgba[..., 2::-1].astype(np.uint16) * a + 127) // 255).astype(np.uint8)
    out[..., 3] = rgba[..., 3]
    return out


def proxy_size(shape: tuple[int, ...], max_side: int) -> tuple[int, int]:
    """``(H, W)`` of a downscaled copy whose long side is at most ``max_side`` pixels."""
    h, w = shape[:2]
    scale = min(1.0, max_side / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


def downscale(img: np.ndarray, max_side: int) -> np.ndarray:
    """Area-averaged copy with long side ≤ ``max_side`` (the same array if already small).
    Works for RGB ``uint8``, grey ``uint8`` and ``float32`` maps."""
    import cv2

    h, w = proxy_size(img.shape, max_side)
    if (h, w) == img.shape[:2]:
        return img
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)


def map_overlay(mask: np.ndarray, colour: Colour, opacity: int,
                max_side: int = OVERLAY_SIDE) -> np.ndarray:
    """Premultiplied buffer of a detection map (frame, hair) at ≤ ``max_side`` px."""
    small = downscale(mask.view(np.uint8) * np.uint8(opacity), max_side)
    return colourise(np.ascontiguousarray(small), colour)


def heatmap(prob: np.ndarray, opacity: int = 170, max_side: int = OVERLAY_SIDE) -> np.ndarray:
    """Premultiplied buffer of a probability map at ≤ ``max_side`` px: 0 → transparent blue,
    0.5 → yellow, 1 → red."""
    p = downscale(np.clip(np.nan_to_num(np.asarray(prob, np.float32)), 0.0, 1.0), max_side)
    rgba = np.empty(p.shape + (4,), np.uint8)
    rgba[..., 0] = np.clip(255 * (2.0 * p - 0.4), 0, 255)
    rgba[..., 1] = np.clip(255 * (1.0 - np.abs(2.0 * p - 1.0) * 1.2), 0, 255)
    rgba[..., 2] = np.clip(255 * (1.2 - 2.0 * p), 0, 255)
    rgba[..., 3] = np.clip(p * 2.0, 0.0, 1.0) * opacity
    return premultiply(rgba)


def heatmap_legend(width: int, height: int, background: tuple[int, int, int] = (40, 40, 44)
                   ) -> np.ndarray:
    """RGB ``uint8`` ``(height, width, 3)`` strip of :func:`heatmap`'s colours from 0 (left) to
    1 (right), composited over ``background`` as the overlay is over the image."""
    ramp = np.repeat(np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :], height, axis=0)
    argb = heatmap(ramp, max_side=max(width, height))  # premultiplied B, G, R, A
    bg = np.asarray(background, np.float32)[::-1]  # as B, G, R
    alpha = argb[..., 3:4].astype(np.float32) / 255.0
    bgr = argb[..., :3].astype(np.float32) + bg * (1.0 - alpha)
    return np.ascontiguousarray(np.clip(bgr, 0, 255).astype(np.uint8)[..., ::-1])


def differences(mask: np.ndarray, reference: np.ndarray, opacity: int = 150,
                max_side: int = OVERLAY_SIDE) -> np.ndarray:
    """Premultiplied buffer at ≤ ``max_side`` px of where ``mask`` and ``reference`` disagree:
    :data:`EXTRA` (mask only) and :data:`MISSED` (reference only)."""
    extra = downscale((mask & ~reference).view(np.uint8) * np.uint8(opacity), max_side)
    missed = downscale((reference & ~mask).view(np.uint8) * np.uint8(opacity), max_side)
    out = colourise(np.ascontiguousarray(extra), EXTRA)
    blue = colourise(np.ascontiguousarray(missed), MISSED)
    sel = missed > extra
    out[sel] = blue[sel]
    return out
