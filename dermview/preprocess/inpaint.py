"""Filling masked pixels: push-pull fill, PDE diffusion inpainting, DullRazor bilinear repair.

All functions take an image ``(H, W, C)`` (any real dtype, values kept as float32 internally)
and a bool mask ``(H, W)`` of the pixels to replace; they return a float32 image of the same
shape in which only masked pixels changed.
"""

from __future__ import annotations

import functools

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


#: Neighbour weights of the 9-point (Mehrstellen) discrete Laplacian: a Jacobi sweep with it
#: damps the checkerboard mode (factor -1/3), which the 5-point average leaves at -1.
_LAPLACE_AVG = np.array([[1, 4, 1], [4, 0, 4], [1, 4, 1]], np.float32) / 20.0


def inpaint_pde(
    image: np.ndarray,
    mask: np.ndarray,
    max_iter: int = 60,
    tol: float = 0.1,
    check_every: int = 4,
) -> tuple[np.ndarray, int]:
    """Diffusion (Laplace / heat-equation steady state) inpainting of ``mask`` pixels.

    Starts from :func:`inpaint_bilinear` (already close to the solution for thin masks) and
    iterates the explicit heat equation (Jacobi sweeps of the 9-point Laplacian: each masked
    pixel becomes the weighted mean of its 8 neighbours; unmasked pixels are the fixed
    boundary, the image edge is mirrored), vectorised with OpenCV over the mask's bounding box. Every ``check_every``
    sweeps, it stops when the mean absolute change of the masked pixels in the last sweep is
    below ``tol`` grey levels (per channel), and after ``max_iter`` sweeps at most.

    Returns ``(float32 image (H, W, C), sweeps used)``.
    """
    img = inpaint_bilinear(image, mask)
    if not mask.any() or mask.all():
        return img, 0
    squeeze = img.ndim == 2
    if squeeze:
        img = img[:, :, None]
    c = img.shape[2]
    # Work on the bounding box of the mask (plus one pixel of boundary).
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    r0, r1 = max(0, rows[0] - 1), min(mask.shape[0], rows[-1] + 2)
    c0, c1 = max(0, cols[0] - 1), min(mask.shape[1], cols[-1] + 2)
    sub = np.ascontiguousarray(img[r0:r1, c0:c1])
    m8 = np.ascontiguousarray(mask[r0:r1, c0:c1]).view(np.uint8)
    sweeps = 0
    for sweeps in range(1, max_iter + 1):  # noqa: B007 (value used after loop)
        avg = cv2.filter2D(sub, -1, _LAPLACE_AVG, borderType=cv2.BORDER_REFLECT_101)
        if avg.ndim == 2:
            avg = avg[:, :, None]
        if sweeps % check_every == 0 or sweeps == max_iter:
            delta = max(cv2.mean(cv2.absdiff(avg, sub), mask=m8)[:c])
            cv2.copyTo(avg, m8, sub)
            if delta < tol:
                break
        else:
            cv2.copyTo(avg, m8, sub)
    img[r0:r1, c0:c1] = sub.reshape(img[r0:r1, c0:c1].shape)
    return (img[:, :, 0] if squeeze else img), sweeps


@functools.lru_cache(maxsize=8)
def _line_orders(h: int, w: int) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]:
    """For each orientation of :data:`_LINE_STEPS`: (order, line id, position) of all pixels.

    ``order`` lists the flat pixel indices line after line, each line in walking order;
    ``line`` and ``pos`` give, in that order, the line id and the position along the line.
    Cached per image shape.
    """
    rr, cc = np.mgrid[0:h, 0:w]
    out = []
    for dr, dc in _LINE_STEPS:
        if (dr, dc) == (0, 1):
            line, pos = rr, cc
        elif (dr, dc) == (1, 0):
            line, pos = cc, rr
        elif (dr, dc) == (1, 1):
            line, pos = cc - rr, rr
        else:
            line, pos = cc + rr, rr
        order = np.lexsort((pos.ravel(), line.ravel())).astype(np.int32)
        out.append((order, line.ravel()[order].astype(np.int32), pos.ravel()[order].astype(np.int32)))
    return tuple(out)


@functools.lru_cache(maxsize=4)
def _arange(n: int) -> np.ndarray:
    a = np.arange(n, dtype=np.int32)
    a.flags.writeable = False
    return a


def inpaint_bilinear(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """DullRazor-style repair: each masked pixel is interpolated along a line (eq. 4).

    For each masked pixel and each of 4 line orientations (-, |, \\, /), the nearest unmasked
    pixels ``I1`` (``d1`` steps back) and ``I2`` (``d2`` steps on) along the line are found;
    the orientation with the shortest crossing ``d1 + d2`` is used and the pixel becomes
    ``I1 * d2 / (d1 + d2) + I2 * d1 / (d1 + d2)``. Vectorised with running maxima along the
    lines (O(H·W) per orientation). Pixels with no crossing in any orientation fall back to
    :func:`pushpull_fill`. Returns float32 ``(H, W, C)``.
    """
    img = np.asarray(image, dtype=np.float32)
    squeeze = img.ndim == 2
    if squeeze:
        img = img[:, :, None]
    out = img.copy()
    if not mask.any():
        return out[:, :, 0] if squeeze else out
    h, w, c = img.shape
    flat_mask = mask.ravel()
    targets = np.flatnonzero(flat_mask)
    n = targets.size
    best_len = np.full(n, np.iinfo(np.int32).max, np.int64)
    best_i1 = np.zeros(n, np.int64)
    best_i2 = np.zeros(n, np.int64)
    best_d1 = np.zeros(n, np.int64)
    big = h * w
    rank = np.zeros(big, np.int64)
    rank[targets] = np.arange(n)
    for order, line, pos in _line_orders(h, w):
        m = flat_mask[order]
        k = _arange(order.size)
        prev = np.where(m, np.int32(-1), k)
        np.maximum.accumulate(prev, out=prev)
        nxt = np.where(m, np.int32(big), k)[::-1]
        np.minimum.accumulate(nxt, out=nxt)
        nxt = nxt[::-1]
        # rank of each masked pixel in this order
        where_m = np.flatnonzero(m)
        p, q = prev[where_m], nxt[where_m]
        pc, qc = np.clip(p, 0, big - 1), np.clip(q, 0, big - 1)
        ln = line[where_m]
        ok = (p >= 0) & (q < big) & (line[pc] == ln) & (line[qc] == ln)
        d1 = pos[where_m] - pos[pc]
        d2 = pos[qc] - pos[where_m]
        length = np.where(ok, d1 + d2, np.iinfo(np.int32).max)
        # map back to the order of ``targets`` (flat index order)
        tgt = order[where_m]
        slot = rank[tgt]
        better = length < best_len[slot]
        sb = slot[better]
        best_len[sb] = length[better]
        best_i1[sb] = order[pc[better]]
        best_i2[sb] = order[qc[better]]
        best_d1[sb] = d1[better]
    done = best_len < np.iinfo(np.int32).max
    flat_img = img.reshape(-1, c)
    flat_out = out.reshape(-1, c)
    t, i1, i2 = targets[done], best_i1[done], best_i2[done]
    length = best_len[done].astype(np.float32)
    a = ((length - best_d1[done]) / length)[:, None]  # weight of I1 = d2 / (d1 + d2)
    flat_out[t] = flat_img[i1] * a + flat_img[i2] * (1.0 - a)
    if not done.all():
        rest = np.zeros(h * w, bool)
        rest[targets[~done]] = True
        out = pushpull_fill(out, rest.reshape(h, w))
    return out[:, :, 0] if squeeze else out
