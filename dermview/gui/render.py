"""Display colouring for the views: numpy in, RGBA ``uint8`` out (no Qt, no analysis).

These functions only turn masks and probabilities into colours for drawing. All image
analysis (preprocessing, segmentation, mask edits) lives in the core packages.
Arrays follow the project convention: masks ``bool (H, W)``, probabilities ``float32 (H, W)``
in [0, 1], RGBA results ``uint8 (H, W, 4)`` with straight (non-premultiplied) alpha.
"""

from __future__ import annotations

import numpy as np

Colour = tuple[int, int, int]

LESION = (255, 214, 0)  # yellow: working mask
REFERENCE = (0, 200, 255)  # cyan: ground-truth outline
FRAME = (255, 60, 60)  # red: detected frame
HAIR = (60, 255, 90)  # green: detected hair


def boundary(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` that touch a background pixel (4-neighbourhood), ``bool (H, W)``.

    Image borders count as background, so a mask touching the border is closed there.
    """
    m = np.asarray(mask, dtype=bool)
    interior = m.copy()
    interior[1:, :] &= m[:-1, :]
    interior[:-1, :] &= m[1:, :]
    interior[:, 1:] &= m[:, :-1]
    interior[:, :-1] &= m[:, 1:]
    interior[0, :] = False
    interior[-1, :] = False
    interior[:, 0] = False
    interior[:, -1] = False
    return m & ~interior


def mask_rgba(mask: np.ndarray, colour: Colour, alpha: int, outline: bool,
              out: np.ndarray | None = None) -> np.ndarray:
    """Colour a mask: filled (``alpha`` inside, outline opaque) or outline only.

    Args:
        mask: ``bool (H, W)``.
        colour: RGB 0-255.
        alpha: fill opacity 0-255 (ignored for ``outline=True``).
        outline: draw only the boundary (opaque).
        out: optional ``uint8 (H, W, 4)`` to write into (may be a view into a larger buffer).

    Returns:
        ``uint8 (H, W, 4)`` RGBA.
    """
    h, w = mask.shape
    if out is None:
        out = np.empty((h, w, 4), np.uint8)
    edge = boundary(mask)
    out[..., :3] = colour
    if outline:
        out[..., 3] = np.where(edge, 255, 0).astype(np.uint8)
    else:
        a = np.where(mask, np.uint8(alpha), np.uint8(0))
        a[edge] = 255
        out[..., 3] = a
    return out


def mask_rgba_region(mask: np.ndarray, top: int, left: int, bottom: int, right: int,
                     colour: Colour, alpha: int, outline: bool) -> np.ndarray:
    """:func:`mask_rgba` of ``mask[top:bottom, left:right]`` only, ``uint8 (h, w, 4)``.

    The boundary test looks one pixel beyond the region, so the result equals the same
    window of ``mask_rgba(mask, ...)`` (an edited rectangle can be recoloured alone).
    """
    h, w = mask.shape
    t, l_ = max(top - 1, 0), max(left - 1, 0)
    b, r = min(bottom + 1, h), min(right + 1, w)
    tmp = mask_rgba(mask[t:b, l_:r], colour, alpha, outline)
    return tmp[top - t:top - t + (bottom - top), left - l_:left - l_ + (right - left)]


def heatmap_rgba(prob: np.ndarray, alpha: int = 170) -> np.ndarray:
    """Colour a probability map (0 → transparent blue, 1 → opaque red), ``uint8 (H, W, 4)``."""
    p = np.clip(np.nan_to_num(np.asarray(prob, np.float32)), 0.0, 1.0)
    out = np.empty(p.shape + (4,), np.uint8)
    # A short "turbo-like" ramp: blue → cyan → yellow → red.
    out[..., 0] = np.clip(255 * (2.0 * p - 0.4), 0, 255).astype(np.uint8)
    out[..., 1] = np.clip(255 * (1.0 - np.abs(2.0 * p - 1.0) * 1.2), 0, 255).astype(np.uint8)
    out[..., 2] = np.clip(255 * (1.2 - 2.0 * p), 0, 255).astype(np.uint8)
    out[..., 3] = np.clip(p * 2.0, 0.0, 1.0) * alpha
    return out


def proxy_size(shape: tuple[int, ...], max_side: int) -> tuple[int, int]:
    """``(H, W)`` of a downscaled copy whose long side is at most ``max_side`` pixels."""
    h, w = shape[:2]
    scale = min(1.0, max_side / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


def downscale(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """Area-averaged copy of an RGB image with long side ≤ ``max_side`` (same array if small)."""
    import cv2

    h, w = proxy_size(rgb.shape, max_side)
    if (h, w) == rgb.shape[:2]:
        return rgb
    return cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
