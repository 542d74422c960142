"""The Lesion panel's overlays as premultiplied ARGB32 buffers (numpy + OpenCV, thread-safe):
the principal axes and the longest diameter, and the named colour regions."""

from __future__ import annotations

from typing import Any

import numpy as np

AXES_COLOUR = (255, 220, 0, 255)  # yellow, opaque (RGBA)
DIAMETER_COLOUR = (0, 220, 255, 255)  # cyan
OVERLAY_SIDE = 2048  # long side of the colour-region buffer (stretched over the image)
AXES_SIDE = 1024  # long side of the axes buffer, up-scaled for small images
AXES_THICKNESS = 3  # px of the axes buffer: ~2 screen px with the image fitted to the view


def axes_overlay(shape: tuple[int, int], analysis: Any, side: int = AXES_SIDE) -> np.ndarray:
    """Premultiplied ARGB32 buffer with the principal axes (yellow) and the longest diameter
    (cyan) drawn as lines (numpy + OpenCV, thread-safe). The buffer's long side is ``side``
    whatever the image's size (small images are drawn up-scaled), so the lines are equally
    thin on a 256-px and a 4000-px image."""
    import cv2

    from dermview.gui import render

    f = side / max(shape[:2])
    h, w = max(1, round(shape[0] * f)), max(1, round(shape[1] * f))
    rgba = np.zeros((h, w, 4), np.uint8)
    s = analysis.size
    for seg, colour in ((s.axes.major_segment, AXES_COLOUR), (s.axes.minor_segment, AXES_COLOUR),
                        (s.diameter_segment, DIAMETER_COLOUR)):
        (r0, c0), (r1, c1) = seg
        cv2.line(rgba, (round((c0 + 0.5) * f - 0.5), round((r0 + 0.5) * f - 0.5)),
                 (round((c1 + 0.5) * f - 0.5), round((r1 + 0.5) * f - 0.5)), colour,
                 AXES_THICKNESS, cv2.LINE_AA)
    return render.premultiply(rgba)



def colors_overlay(labels: np.ndarray, max_side: int = OVERLAY_SIDE, opacity: int = 210) -> np.ndarray:
    """Premultiplied ARGB32 buffer painting each named lesion pixel in its colour's swatch."""
    import cv2

    from dermview.gui import render
    from dermview.report import COLOR_SWATCHES

    h, w = render.proxy_size(labels.shape, max_side)
    small = labels if (h, w) == labels.shape else cv2.resize(labels, (w, h),
                                                             interpolation=cv2.INTER_NEAREST)
    lut = np.zeros((len(COLOR_SWATCHES) + 1, 4), np.uint8)
    lut[1:, :3] = COLOR_SWATCHES
    lut[1:, 3] = opacity
    return render.premultiply(lut[small])
