"""Filling masked pixels: push-pull fill, PDE diffusion inpainting, DullRazor bilinear repair.

All functions take an image ``(H, W, C)`` (any real dtype, values kept as float32 internally)
and a bool mask ``(H, W)`` of the pixels to replace; they return a float32 image of the same
shape in which only masked pixels changed.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Line orientations (row step, col step) used by the bilinear repair: -, |, \ and /.
_LINE_STEPS = ((0, 1), (1, 0), (1, 1), (1, -1))


def pushpull_fill(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Fill ``mask`` pixels with a smooth extrapolation of the unmasked ones (push-pull).

    The valid pixels are averaged down an image pyramid (normalised convolution) until every
    coarse cell has data, then the pyramid is interpolated back up; unmasked pixels are kept
    exactly. Cost O(H·W). Returns float32 ``(H, W, C)``.
    """
    img = np.asarray(image, dtype=np.float32)
    squeeze = img.ndim == 2
    if squeeze:
        img = img[:, :, None]
    valid = (~mask).astype(np.float32)
    out = img.copy()
    if not mask.any():
        return out[:, :, 0] if squeeze else out
    if not valid.any():
        return out[:, :, 0] if squeeze else out
    num = img * valid[:, :, None]
    levels: list[tuple[np.ndarray, np.ndarray]] = [(num, valid)]
    while True:
        n, w = levels[-1]
        h_, w_ = w.shape
        if (w > 1e-6).all() or (h_ <= 1 and w_ <= 1):
            break
        nh, nw = max(1, (h_ + 1) // 2), max(1, (w_ + 1) // 2)
        n2 = cv2.resize(n, (nw, nh), interpolation=cv2.INTER_AREA)
        w2 = cv2.resize(w, (nw, nh), interpolation=cv2.INTER_AREA)
        if n2.ndim == 2:
            n2 = n2[:, :, None]
        levels.append((n2, w2))
    n, w = levels[-1]
    est = n / np.maximum(w, 1e-6)[:, :, None]
    if not (w > 1e-6).all():  # a 1x1 level without data cannot happen (valid.any()), be safe
        est[w <= 1e-6] = img[~mask].mean(axis=0)
    for n, w in reversed(levels[:-1]):
        up = cv2.resize(est, (w.shape[1], w.shape[0]), interpolation=cv2.INTER_LINEAR)
        if up.ndim == 2:
            up = up[:, :, None]
        alpha = np.clip(w, 0.0, 1.0)[:, :, None]
        est = alpha * (n / np.maximum(w, 1e-6)[:, :, None]) + (1.0 - alpha) * up
    out[mask] = est[mask]
    return out[:, :, 0] if squeeze else out


def inpaint_pde(
    image: np.ndarray,
    mask: np.ndarray,
    max_iter: int = 300,
    tol: float = 0.05,
    omega: float = 1.8,
) -> tuple[np.ndarray, int]:
    """Diffusion (Laplace / heat-equation steady state) inpainting of ``mask`` pixels.

    Starts from :func:`pushpull_fill` and iterates red-black successive over-relaxation of
    the discrete Laplace equation on the masked pixels only (vectorised over those pixels),
    with the unmasked pixels as Dirichlet boundary. Stops when the largest update of a sweep is
    below ``tol`` (grey levels) or after ``max_iter`` sweeps.

    Returns ``(float32 image (H, W, C), sweeps used)``.
    """
    img = pushpull_fill(image, mask)
    if not mask.any() or mask.all():
        return img, 0
    squeeze = img.ndim == 2
    if squeeze:
        img = img[:, :, None]
    h, w, c = img.shape
    pad = cv2.copyMakeBorder(img, 1, 1, 1, 1, cv2.BORDER_REPLICATE)
    if pad.ndim == 2:
        pad = pad[:, :, None]
    flat = pad.reshape(-1, c)
    wp = w + 2
    rows, cols = np.nonzero(mask)
    idx = (rows + 1) * wp + (cols + 1)
    # Replicated border pixels mirror their inner neighbour: map padding neighbours of masked
    # pixels back to the inner pixel so they do not act as a frozen boundary.
    groups = []
    for parity in (0, 1):
        sel = ((rows + cols) & 1) == parity
        p = idx[sel]
        r, cc = rows[sel], cols[sel]
        up = np.where(r > 0, p - wp, p)
        dn = np.where(r < h - 1, p + wp, p)
        lf = np.where(cc > 0, p - 1, p)
        rt = np.where(cc < w - 1, p + 1, p)
        groups.append((p, up, dn, lf, rt))
    sweeps = 0
    for sweeps in range(1, max_iter + 1):  # noqa: B007 (value used after loop)
        delta = 0.0
        for p, up, dn, lf, rt in groups:
            if p.size == 0:
                continue
            avg = 0.25 * (flat[up] + flat[dn] + flat[lf] + flat[rt])
            old = flat[p]
            new = old + omega * (avg - old)
            flat[p] = new
            delta = max(delta, float(np.abs(new - old).max()))
        if delta < tol:
            break
    out = pad[1:-1, 1:-1]
    return (out[:, :, 0] if squeeze else np.ascontiguousarray(out)), sweeps


def inpaint_bilinear(image: np.ndarray, mask: np.ndarray, max_dist: int = 24) -> np.ndarray:
    """DullRazor-style repair: each masked pixel is interpolated along a line (eq. 4).

    For each masked pixel and each of 4 line orientations, walk both ways to the nearest
    unmasked pixels ``I1`` (distance ``d1``) and ``I2`` (distance ``d2``); the orientation with
    the shortest crossing ``d1 + d2`` is used and the pixel becomes
    ``I1 * d2 / (d1 + d2) + I2 * d1 / (d1 + d2)``. Pixels with no crossing shorter than
    ``2 * max_dist`` fall back to :func:`pushpull_fill`. Returns float32 ``(H, W, C)``.
    """
    img = np.asarray(image, dtype=np.float32)
    squeeze = img.ndim == 2
    if squeeze:
        img = img[:, :, None]
    out = img.copy()
    if not mask.any():
        return out[:, :, 0] if squeeze else out
    h, w, c = img.shape
    rows, cols = np.nonzero(mask)
    n = rows.size
    best_len = np.full(n, np.inf, dtype=np.float32)
    best_val = np.zeros((n, c), dtype=np.float32)
    for dr, dc in _LINE_STEPS:
        ends = []
        for sign in (1, -1):
            dist = np.zeros(n, dtype=np.int32)
            val = np.zeros((n, c), dtype=np.float32)
            todo = np.arange(n)
            for s in range(1, max_dist + 1):
                rr = rows[todo] + sign * s * dr
                cc = cols[todo] + sign * s * dc
                inside = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
                todo = todo[inside]
                rr, cc = rr[inside], cc[inside]
                free = ~mask[rr, cc]
                hit = todo[free]
                dist[hit] = s
                val[hit] = img[rr[free], cc[free]]
                todo = todo[~free]
                if todo.size == 0:
                    break
            ends.append((dist, val))
        (d1, v1), (d2, v2) = ends
        ok = (d1 > 0) & (d2 > 0)
        length = np.where(ok, (d1 + d2).astype(np.float32), np.inf)
        better = length < best_len
        if better.any():
            a = d2[better].astype(np.float32) / length[better]
            best_val[better] = v1[better] * a[:, None] + v2[better] * (1.0 - a[:, None])
            best_len[better] = length[better]
    done = np.isfinite(best_len)
    out[rows[done], cols[done]] = best_val[done]
    if not done.all():
        rest = np.zeros_like(mask)
        rest[rows[~done], cols[~done]] = True
        out = pushpull_fill(out, rest)
    return out[:, :, 0] if squeeze else out
