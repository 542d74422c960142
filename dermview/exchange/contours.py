"""Mask ↔ polygon conversion shared by the COCO and labelme writers (polygons are lossy:
holes are dropped). labelme's outlines follow pixel centres (labelme fills the polygon with
its outline); COCO's follow pixel corners (pycocotools fills a polygon's inside only)."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw

__all__ = ["mask_polygons", "corner_polygons", "fill_polygon"]


def mask_polygons(mask: np.ndarray, min_points: int = 3) -> list[np.ndarray]:
    """Outer outlines of a mask's regions, each ``(N, 2)`` float ``(x, y)`` pixel coordinates
    (N ≥ ``min_points``; regions too small for a polygon are left out)."""
    contours, _ = cv2.findContours(np.ascontiguousarray(mask, dtype=np.uint8),
                                   cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1, 2).astype(np.float64) for c in contours if len(c) >= min_points]


def corner_polygons(mask: np.ndarray) -> list[np.ndarray]:
    """Outer outlines of a mask's regions through the outer corners of its pixels, each
    ``(N, 2)`` float ``(x, y)``, for a reader that fills the inside of a polygon whose
    vertices are pixel corners (pycocotools' ``frPyObjects``: a region along a straight edge
    or a single pixel comes back whole; an outline through pixel centres lost half a pixel all
    round, a row and a column of a rectangle)."""
    m = np.ascontiguousarray(mask, dtype=bool)
    corners = np.zeros((m.shape[0] + 1, m.shape[1] + 1), np.uint8)
    for dy in (0, 1):  # a corner is set when one of the four pixels around it is
        for dx in (0, 1):
            corners[dy:dy + m.shape[0], dx:dx + m.shape[1]] |= m
    contours, _ = cv2.findContours(corners, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1, 2).astype(np.float64) for c in contours if len(c) >= 3]


def fill_polygon(shape: tuple[int, int], points: list[list[float]]) -> np.ndarray:
    """``bool`` ``(H, W)`` with the polygon ``[[x, y], ...]`` filled, outline included (as
    labelme rasterises it: Pillow's ``ImageDraw.polygon``)."""
    img = Image.new("L", (shape[1], shape[0]), 0)
    ImageDraw.Draw(img).polygon([tuple(map(float, p)) for p in points], outline=1, fill=1)
    return np.asarray(img, dtype=bool)
