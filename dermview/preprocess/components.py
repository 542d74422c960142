"""Connected components of a hair map: the thin-and-long test, hair counting, growth.

Shared by the bold and the fine hair passes of :mod:`dermview.preprocess.hair`; uint8 0/255
masks in and out, statistics over the mask's pixels only (never over the whole image).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np


def _at_least(img: np.ndarray, t: float) -> np.ndarray:
    """uint8 0/255 where ``img`` (uint8) >= ``t``."""
    return cv2.threshold(img, float(np.ceil(t)) - 1, 255, cv2.THRESH_BINARY)[1]


def _points(mask8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) intp of the nonzero pixels of a uint8 mask, row-major order."""
    pts = cv2.findNonZero(mask8)
    if pts is None:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    pts = pts.reshape(-1, 2)
    return pts[:, 1].astype(np.intp), pts[:, 0].astype(np.intp)


def _thin_long(
    seeds: np.ndarray,
    max_half_width: float,
    min_length: float,
    min_elongation: float,
    max_fill: float = 0.3,
    max_thick_share: float = 0.03,
    pixel_test=None,
    rejected: np.ndarray | None = None,
    diagonal: float | None = None,
    tiles: int = 1,
) -> tuple[np.ndarray, int]:
    """Keep the 8-connected components of ``seeds`` (uint8, nonzero = seed) that are thin and
    long; return (uint8 0/255 mask, number of hairs N in them).

    ``pixel_test(rows, cols) -> bool array``, if given, is asked only about the pixels of the
    components kept by shape: failing pixels are dropped, and so is a component left empty.
    ``rejected`` (uint8 like ``seeds``), if given, receives 255 at the pixels of the components
    that are long enough (extent) but failed another test (only pieces of those can pass).
    ``diagonal``: the image diagonal of the hair count below (default: that of ``seeds``; a
    caller passing a crop gives the whole image's). ``tiles`` > 1: ``seeds`` is that many
    maps of equal width side by side, none touching another (one labelling for all of them);
    the count returned is then the largest count of one tile.

    Thin: at most ``max_thick_share`` of its pixels lie deeper than ``max_half_width`` inside
    it (their disc of radius ``int(max_half_width + 1)`` lies in the seeds: an erosion; hair
    crossings are a little thicker). Long: extent
    ``sqrt(12·λ1)`` (λ1 = largest eigenvalue of the pixel-coordinate covariance; the length of
    a straight segment) >= ``min_length``. Short-to-medium components must also be elongated
    (λ1/λ2 >= ``min_elongation``²); very long ones (>= 3 × ``min_length``, e.g. crossing
    hairs) may be less elongated but must stay sparse: pixel count / area of the 2-sigma
    ellipse (4π·sqrt(λ1·λ2)) <= ``max_fill`` (a dense mesh is texture, not hair; two thin
    hairs crossing in a "+" of arms 15 widths long fill about 0.25).
    Per-component statistics are sums over the seed pixels (never over the whole image).

    N: each kept component counts ``max(1, ceil(length / diagonal))`` hairs, where length ≈
    area / width, width = 4 × mean distance-transform value - 2 (a band W px wide has a mean
    distance of about (W + 2) / 4) and diagonal is the image's: a single hair is never longer
    than that, so a mesh of crossing hairs (one component) counts at least as many hairs as
    its total length needs. A component of area at most 1.8 × diagonal counts 1 without a
    distance transform (every distance is >= 0.955, so its width is >= 1.82). Counted before
    growth: on the synthetic-hair benchmark this is closer to the drawn count than counting
    the grown map, whose meshes merge more hairs.
    """
    out = np.zeros(seeds.shape, np.uint8)
    n, labels = cv2.connectedComponents(seeds, connectivity=8, ltype=cv2.CV_32S)
    if n <= 1:
        return out, 0
    rr, cc = _points(seeds)
    # Flat indices: 1-D gathers and scatters (labels, out) are several times cheaper than 2-D
    # fancy indexing with (rr, cc).
    flat = rr * seeds.shape[1] + cc
    lab = labels.reshape(-1)[flat]
    a = np.maximum(np.bincount(lab, minlength=n).astype(np.float64), 1.0)
    # An 8-connected component of A pixels spans at most sqrt(2)·(A - 1) along any direction,
    # so its extent is at most sqrt(3)·sqrt(2)·(A - 1): smaller ones can never be long.
    if not (a[1:] >= 1.0 + min_length / np.sqrt(6.0)).any():
        return out, 0
    r = rr.astype(np.float64)
    c = cc.astype(np.float64)
    mr = np.bincount(lab, r, n) / a
    mc = np.bincount(lab, c, n) / a
    vrr = np.bincount(lab, r * r, n) / a - mr**2
    vcc = np.bincount(lab, c * c, n) / a - mc**2
    vrc = np.bincount(lab, r * c, n) / a - mr * mc
    tr = vrr + vcc
    det = vrr * vcc - vrc**2
    disc = np.sqrt(np.maximum(tr**2 / 4 - det, 0.0))
    l1 = tr / 2 + disc
    l2 = np.maximum(tr / 2 - disc, 1.0 / 12)
    extent = np.sqrt(12 * np.maximum(l1, 0.0))
    elongated = l1 / l2 >= min_elongation**2
    # Share of the component's 2-sigma ellipse that it covers: low for a few crossing hairs,
    # high for a dense mesh (crusts, pigment network).
    fill = a / (4 * np.pi * np.sqrt(np.maximum(l1 * l2, 1e-6)))
    long_enough = extent >= min_length
    long_enough[0] = False
    keep = long_enough & (elongated | ((extent >= 3 * min_length) & (fill <= max_fill)))
    if not keep.any():
        if rejected is not None:
            lr = long_enough[lab]
            rejected[rr[lr], cc[lr]] = 255
        return out, 0
    # Thin: few pixels deeper inside than max_half_width (crossings of hairs are allowed).
    radius = int(max_half_width + 1)
    ball = _ball(radius)
    deep = cv2.erode(seeds, ball)
    if cv2.countNonZero(deep):
        dr, dc = _points(deep)
        keep &= np.bincount(labels[dr, dc], minlength=n) <= max_thick_share * a
    keep[0] = False
    if rejected is not None:
        lr = (long_enough & ~keep)[lab]
        rejected[rr[lr], cc[lr]] = 255
    sel = keep[lab]
    if pixel_test is not None:
        idx = np.flatnonzero(sel)
        sel[idx[~pixel_test(rr[idx], cc[idx])]] = False
        keep &= np.bincount(lab[sel], minlength=n) > 0
    out.reshape(-1)[flat[sel]] = 255
    diag = float(np.hypot(*seeds.shape)) if diagonal is None else float(diagonal)
    per = keep.astype(np.float64)
    big = keep & (a > 1.8 * diag)
    if big.any():
        sel = big[lab]
        # Distance inside each component: the chamfer distance is a path length to the
        # nearest zero, which for a pixel of one component never runs through another
        # (components are 8-separated), so one transform of the whole map serves them all.
        # The transform runs on the box of those components plus one pixel: a pixel's path
        # to its nearest zero leaves its component at a zero next to it, inside that box.
        br, bc = rr[sel], cc[sel]
        y0, x0 = max(0, int(br.min()) - 1), max(0, int(bc.min()) - 1)
        box = seeds[y0 : int(br.max()) + 2, x0 : int(bc.max()) + 2]
        dist = cv2.distanceTransform(box, cv2.DIST_L2, 3)
        depth = np.bincount(lab[sel], dist[br - y0, bc - x0], n)
        width = np.maximum(4.0 * depth / a - 2.0, 1.0)
        per[big] = np.maximum(1, np.ceil(a[big] / width[big] / diag - 1e-9))
    if tiles <= 1:
        return out, int(per.sum())
    tile = np.minimum(mc * tiles // seeds.shape[1], tiles - 1).astype(np.intp)
    return out, int(np.bincount(tile, per, tiles).max())


@functools.lru_cache(maxsize=8)
def _ball(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _grow(seeds: np.ndarray, allowed: np.ndarray, steps: int) -> np.ndarray:
    """``steps`` 8-neighbour growth of ``seeds`` into ``allowed`` (uint8 0/255 both)."""
    se = np.ones((3, 3), np.uint8)
    cur = seeds
    for _ in range(steps):
        cur = cv2.bitwise_or(cv2.bitwise_and(cv2.dilate(cur, se), allowed), cur)
    return cur
