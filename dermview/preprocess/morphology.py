"""Morphology and pooling helpers of the hair detector: oriented line banks, banked
morphology, 2×2 pooling, the trough (valley) test. uint8 images in and out (OpenCV)."""

from __future__ import annotations

import functools

import cv2
import numpy as np

#: Number of orientations of the line bank (180° / 8 = 22.5° apart; 6, 8, 10 and 12 were
#: compared on the synthetic-hair benchmark: 8-10 best, 12 lost recall).
N_ANGLES = 8


def line_kernels(size: int, n_angles: int = N_ANGLES) -> list[np.ndarray]:
    """Bank of ``n_angles`` line structuring elements of length ``size`` (odd), uint8."""
    c = size // 2
    out = []
    for i in range(n_angles):
        a = np.pi * i / n_angles
        k = np.zeros((size, size), np.uint8)
        dx, dy = c * np.cos(a), c * np.sin(a)
        p1 = (int(round(c - dx)), int(round(c - dy)))
        p2 = (int(round(c + dx)), int(round(c + dy)))
        cv2.line(k, p1, p2, 1, 1)
        out.append(k)
    return out


def structuring_element(shape: str, size: int) -> list[np.ndarray]:
    """Structuring element(s) B of ``shape`` and odd ``size``; ``lines`` gives the whole bank."""
    if shape == "lines":
        return line_kernels(size)
    kind = {"ellipse": cv2.MORPH_ELLIPSE, "rect": cv2.MORPH_RECT, "cross": cv2.MORPH_CROSS}[shape]
    return [cv2.getStructuringElement(kind, (size, size))]


@functools.lru_cache(maxsize=64)
def _bank(shape: str, size: int) -> tuple[tuple[np.ndarray, tuple[int, int]], ...]:
    """:func:`structuring_element` bank, cropped (see :func:`_cropped`), cached."""
    return tuple(_cropped(structuring_element(shape, size)))


def _cropped(kernels: list[np.ndarray]) -> list[tuple[np.ndarray, tuple[int, int]]]:
    """Each kernel cut to the bounding box of its nonzero cells, with the anchor (x, y) that
    keeps its original centre: the same morphology, fewer cells to visit."""
    out = []
    for k in kernels:
        c = k.shape[0] // 2
        rows = np.flatnonzero(k.any(axis=1))
        cols = np.flatnonzero(k.any(axis=0))
        r0, c0 = int(rows[0]), int(cols[0])
        out.append((np.ascontiguousarray(k[r0 : rows[-1] + 1, c0 : cols[-1] + 1]), (c - c0, c - r0)))
    return out


def _bank_reduce(img: np.ndarray, kernels, op: int, keep_max: bool) -> np.ndarray:
    """Maximum (or minimum) over the kernel bank (from :func:`_cropped`) of a morphological
    operation, uint8."""
    out = None
    for k, anchor in kernels:
        r = cv2.morphologyEx(img, op, k, anchor=anchor)
        if out is None:
            out = r
        elif keep_max:
            cv2.max(out, r, dst=out)
        else:
            cv2.min(out, r, dst=out)
    return out


def _pool2(img: np.ndarray, op: int) -> np.ndarray:
    """Minimum (``op`` = ``cv2.MORPH_ERODE``) or maximum (``cv2.MORPH_DILATE``) over 2×2 blocks
    of a uint8 ``(H, W)`` or ``(H, W, C)`` image: ``(ceil(H/2), ceil(W/2)[, C])``.

    Row pairs are reduced on row-strided views, column pairs by an in-place 1×2 erosion /
    dilation, then every second column is taken: one half-size temporary. An odd last row /
    column of ``img`` is not read: its cells repeat the ones before.
    """
    h, w = img.shape[:2]
    hh = h // 2
    reduce = cv2.min if op == cv2.MORPH_ERODE else cv2.max
    rows = reduce(img[0 : 2 * hh : 2], img[1 : 2 * hh : 2])
    cv2.morphologyEx(rows, op, _PAIR, dst=rows, anchor=(0, 0))
    return _cover_odd(cv2.resize(rows, (w // 2, hh), interpolation=cv2.INTER_NEAREST), h, w)


_PAIR = np.ones((1, 2), np.uint8)


def half_mean(img: np.ndarray) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)`` → ``(ceil(H/2), ceil(W/2), 3)`` 2×2 means (linear interpolation
    at exactly half size samples between pixel pairs); an odd last row / column of ``img`` is
    not read: its cells repeat the ones before."""
    h, w = img.shape[:2]
    he, we = h - h % 2, w - w % 2
    return _cover_odd(cv2.resize(img[:he, :we], (we // 2, he // 2), interpolation=cv2.INTER_LINEAR), h, w)


def _cover_odd(cells: np.ndarray, h: int, w: int) -> np.ndarray:
    """The cells of the even part of an ``(h, w)`` image, with the last row / column repeated
    when ``h`` / ``w`` is odd: ``(ceil(h/2), ceil(w/2)[, C])``."""
    if h % 2 or w % 2:
        cells = cv2.copyMakeBorder(cells, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
    return cells


@functools.lru_cache(maxsize=8)
def _trough_lut(ratio10: int) -> np.ndarray:
    """LUT (cached; read-only use) ``a -> t`` with ``d > t`` exactly when ``10 * a <= ratio10 * d`` (d in 1-255)."""
    a = np.arange(256)
    if ratio10 <= 0:
        return np.where(a == 0, 0, 255).astype(np.uint8)
    return np.clip(-((-10 * a) // ratio10) - 1, 0, 255).astype(np.uint8)


def _valley(along: np.ndarray, depth1: np.ndarray, ratio10: int) -> np.ndarray:
    """Trough test, uint8 0/255: ``10 * along <= ratio10 * depth1`` (uint8; depth1 >= 1)."""
    return cv2.compare(depth1, cv2.LUT(along, _trough_lut(ratio10)), cv2.CMP_GT)
