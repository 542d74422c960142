"""The default refinement method: the segmenter's own probability map, re-thresholded and bent
by the prompts, cut along the image's colour edges (graph cut, PyMaxflow), and changed only
where the prompt points.

Per image (:func:`prepare`, in the background when the image opens): the log-odds of the
probability map, the contrast weights of the 4-neighbour grid at working size, and the graph
of those weights, built once. Per prompt only the terminal (data) capacities change: the
difference to the last cut's is added and the max-flow resumes from the previous flow and
search trees (Kohli & Torr's dynamic graph cuts; the minimum is the same as a fresh cut's).
Per prompt (:func:`apply`), with ``ℓ = logit p`` (clipped to ±:data:`LOGIT_CLIP`):

1. **threshold field** ``T``: each click moves the threshold near it (Gaussian weight of reach
   :data:`SHIFT_REACH` × the lesion's equivalent radius) just enough that the clicked pixel ends
   :data:`SHIFT_MARGIN` log-odds on the clicked side (at most :data:`SHIFT_MAX`): a click on
   a missed light rim lowers the threshold along that side of the lesion, so the whole rim
   comes in, not only the pixel;
2. **local pull**: each click adds ``± CLICK_GAIN · exp(-(d / σ)²)`` (``d`` = distance to the
   click, ``σ`` from how far the click lies from the other label); a disc of
   :data:`SEED_RADIUS` px around it is fixed to its label; outside the last box is fixed
   background and inside it gets ``+BOX_BIAS``;
3. minimum cut of ``softplus(∓(ℓ - T + pull))`` + ``EDGE_WEIGHT · exp(-|ΔLab|² / 2β)``;
4. only the part of the change that the last click touches is taken over (added parts
   connected to a positive click, removed parts connected to a negative one; a box replaces
   everything), so painted edits elsewhere stay.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import maxflow
import numpy as np

from dermview.interactive.prompts import BoxPrompt, ClickPrompt, Prompt, WorkGrid

CLICK_GAIN = 3.0    #: log-odds added at a click (decays over σ)
SIGMA_FACTOR = 1.5  #: σ = this × the click's distance to the other label (clamped, below)
SIGMA_MIN, SIGMA_MAX = 0.02, 0.25  #: σ bounds as fractions of the working image diagonal
SHIFT_MARGIN = 0.5  #: the threshold moves until the clicked pixel is this far past it (log-odds)
SHIFT_MAX = 5.0     #: the largest threshold move one click makes (log-odds)
SHIFT_REACH = 1.5   #: reach of a threshold move, × the lesion's equivalent radius
EDGE_WEIGHT = 1.0   #: strength of the contrast-sensitive smoothness term
BOX_BIAS = 1.0      #: log-odds added inside a box
SEED_RADIUS = 2     #: px (working size) fixed around a click
LOGIT_CLIP = 9.0    #: |logit p| cap


@dataclass
class Prepared:
    """Per-image state at working size (see the module doc)."""

    grid: WorkGrid
    logit: np.ndarray          # float32 (h, w)
    w_right: np.ndarray        # float32 (h, w) edge weight to the right neighbour
    w_down: np.ndarray         # float32 (h, w) edge weight to the lower neighbour
    graph: maxflow.GraphFloat | None  # the grid graph with those weights (terminal edges:
    #: ``cost``); None = build a fresh graph for every prompt (the slower former behaviour)
    nodes: np.ndarray | None   # int (h, w) node ids of the grid
    #: float64 (2, h, w) terminal capacities (lesion side, background side) now in ``graph``
    cost: np.ndarray | None = None
    #: per click (index, working pixel, sign): (threshold move, its reach σ_T, pull σ)
    clicks: dict[tuple[int, tuple[int, int], bool], tuple[float, float, float]] = field(
        default_factory=dict)


def prepare(rgb: np.ndarray, prob: np.ndarray, reuse_graph: bool = True) -> Prepared:
    """Per-image state. ``rgb`` uint8 ``(H, W, 3)``, ``prob`` float32 ``(H, W)`` in [0, 1];
    ``reuse_graph=False`` builds the graph anew at every prompt (for comparison only)."""
    grid = WorkGrid.for_shape(prob.shape)
    img = np.ascontiguousarray(grid.down(rgb))
    p = np.clip(grid.down(np.asarray(prob, np.float32)), 1e-6, 1 - 1e-6)
    logit = np.clip(np.log(p / (1 - p)), -LOGIT_CLIP, LOGIT_CLIP).astype(np.float32)
    lab = cv2.cvtColor(cv2.GaussianBlur(img, (3, 3), 0), cv2.COLOR_RGB2LAB).astype(np.float32)
    d_right = np.zeros(p.shape, np.float32)
    d_down = np.zeros(p.shape, np.float32)
    d_right[:, :-1] = ((lab[:, 1:] - lab[:, :-1]) ** 2).sum(-1)
    d_down[:-1] = ((lab[1:] - lab[:-1]) ** 2).sum(-1)
    # the mean colour step of the two directions that exist (a 1-px-high or -wide image has
    # one: the mean of an empty slice made beta NaN, and every edge weight with it)
    means = [float(d.mean()) for d in (d_right[:, :-1], d_down[:-1]) if d.size]
    beta = 2.0 * max(sum(means) / len(means) if means else 0.0, 1e-6)
    w_right = (EDGE_WEIGHT * np.exp(-d_right / beta)).astype(np.float32)
    w_down = (EDGE_WEIGHT * np.exp(-d_down / beta)).astype(np.float32)
    graph, nodes = _grid_graph(w_right, w_down) if reuse_graph else (None, None)
    return Prepared(grid, logit, w_right, w_down, graph, nodes)


def _grid_graph(w_right: np.ndarray, w_down: np.ndarray) -> tuple[maxflow.GraphFloat, np.ndarray]:
    """The 4-neighbour grid graph with symmetric edge weights (float32 ``(h, w)``: to the
    right / lower neighbour; the last column / row is unused) and its node ids."""
    h, w = w_right.shape
    g = maxflow.Graph[float](h * w, 2 * h * w)
    ids = np.asarray(g.add_nodes(h * w)).reshape(h, w)
    for a, b, wt in ((ids[:, :-1], ids[:, 1:], w_right[:, :-1]),
                     (ids[:-1], ids[1:], w_down[:-1])):
        wt = np.ascontiguousarray(wt, np.float64).ravel()
        g.add_edges(a.ravel(), b.ravel(), wt, wt)
    return g, ids


def _bump(shape: tuple[int, int], rc: tuple[int, int], sigma: float) -> np.ndarray:
    """float32 ``exp(-(d / σ)²)``, ``d`` the distance to pixel ``rc``."""
    rr = (np.arange(shape[0], dtype=np.float32) - rc[0]) / np.float32(sigma)
    cc = (np.arange(shape[1], dtype=np.float32) - rc[1]) / np.float32(sigma)
    return np.exp(-(rr[:, None] ** 2)) * np.exp(-(cc[None, :] ** 2))


def _disc(shape: tuple[int, int], rc: tuple[int, int], radius: int) -> np.ndarray:
    out = np.zeros(shape, np.uint8)
    cv2.circle(out, (rc[1], rc[0]), radius, 1, -1)
    return out.astype(bool)


def _new_click(prep: Prepared, mask: np.ndarray, thr: np.ndarray, rc: tuple[int, int],
               positive: bool) -> tuple[float, float, float]:
    """(threshold move, its reach, pull σ) of a click made on ``mask`` with field ``thr``."""
    diag = float(np.hypot(*mask.shape))
    other = mask if positive else ~mask
    dist = (cv2.distanceTransform((~other).astype(np.uint8), cv2.DIST_L2, 3)[rc]
            if other.any() else 0.0)  # nothing of the other label yet: the model decides
    sigma = float(np.clip(SIGMA_FACTOR * dist, SIGMA_MIN * diag, SIGMA_MAX * diag))
    gap = float(prep.logit[rc] - thr[rc])  # > 0: the model already says lesion here
    move = min(0.0, gap - SHIFT_MARGIN) if positive else max(0.0, gap + SHIFT_MARGIN)
    move = float(np.clip(move, -SHIFT_MAX, SHIFT_MAX))
    area = max(int(mask.sum()), int(prep.logit.size * 0.01))
    reach = SHIFT_REACH * float(np.sqrt(area / np.pi))
    return move, reach, sigma


def _cut(prep: Prepared, L: np.ndarray, fg_seed: np.ndarray, bg_seed: np.ndarray) -> np.ndarray:
    """bool ``(h, w)`` lesion side of the minimum cut with data term ``softplus(∓L)`` and the
    seeds fixed; reuses ``prep.graph`` (only the change of the terminal capacities is added)."""
    big = 1e6
    cost = np.empty((2, *L.shape))
    np.logaddexp(0, -L, out=cost[0])  # -log p(lesion): paid by a lesion-side node
    np.logaddexp(0, L, out=cost[1])
    cost[0][fg_seed], cost[1][fg_seed] = 0.0, big
    cost[0][bg_seed], cost[1][bg_seed] = big, 0.0
    if prep.graph is None:
        return _fresh_cut(prep, cost)
    g = prep.graph
    if prep.cost is None:
        # source side = lesion: a source-side node pays its sink capacity (the lesion cost)
        g.add_grid_tedges(prep.nodes, cost[1], cost[0])
        g.maxflow()
    else:
        delta = cost - prep.cost
        # adding the same amount to both terminal edges of a node changes no cut
        lift = np.maximum(0.0, -delta.min(0))
        changed = np.any(delta != 0, axis=0)
        if changed.any():  # none: the same cut (maxflow refuses empty arrays: a prompt
            # whose terms changed no capacity, e.g. a not-lesion click outside a box, failed
            # with "Iteration of zero-sized operands is not enabled")
            ids = prep.nodes[changed]
            g.add_grid_tedges(ids, delta[1][changed] + lift[changed],
                              delta[0][changed] + lift[changed])
            g.mark_grid_nodes(ids)
            g.maxflow(reuse_trees=True)
    prep.cost = cost
    return ~g.get_grid_segments(prep.nodes)


def _fresh_cut(prep: Prepared, cost: np.ndarray) -> np.ndarray:
    """The same cut on a graph built for this prompt alone (``reuse_graph=False``)."""
    g = maxflow.Graph[float]()
    ids = g.add_grid_nodes(cost.shape[1:])
    right = np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0]])
    down = np.array([[0, 0, 0], [0, 0, 0], [0, 1, 0]])
    g.add_grid_edges(ids, weights=prep.w_right, structure=right, symmetric=True)
    g.add_grid_edges(ids, weights=prep.w_down, structure=down, symmetric=True)
    g.add_grid_tedges(ids, cost[1], cost[0])
    g.maxflow()
    return ~g.get_grid_segments(ids)


def _touching(region: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """The 8-connected parts of ``region`` that overlap ``seed``."""
    _, labels = cv2.connectedComponents(region.astype(np.uint8), connectivity=8)
    keep = np.unique(labels[seed & region])
    keep = keep[keep > 0]
    return np.isin(labels, keep) if keep.size else np.zeros_like(region)


def _box_terms(grid: WorkGrid, box: BoxPrompt, L: np.ndarray, bg_seed: np.ndarray) -> None:
    (r0, c0) = grid.point(box.row0, box.col0)
    (r1, c1) = grid.point(box.row1 - 1, box.col1 - 1)
    inside = np.zeros(L.shape, bool)
    inside[r0:r1 + 1, c0:c1 + 1] = True
    bg_seed |= ~inside
    L[inside] += BOX_BIAS


def apply(prep: Prepared, mask_full: np.ndarray, prompts: list[Prompt]) -> np.ndarray:
    """The full-resolution mask after the last of ``prompts`` (earlier prompts constrain).

    Args:
        prep: from :func:`prepare`.
        mask_full: bool ``(H, W)`` the mask before the last prompt.
        prompts: every prompt so far, oldest first (full-image coordinates).
    """
    grid = prep.grid
    mask_full = np.asarray(mask_full, bool)
    mask = grid.down(mask_full)
    shape = mask.shape
    thr = np.zeros(shape, np.float32)
    pull = np.zeros(shape, np.float32)
    fg_seed = np.zeros(shape, bool)
    bg_seed = np.zeros(shape, bool)
    for i, p in enumerate(prompts):
        if not isinstance(p, ClickPrompt):
            continue
        rc = grid.point(p.row, p.col)
        key = (i, rc, p.positive)
        if key not in prep.clicks:  # fixed by the mask the click was made on
            prep.clicks[key] = _new_click(prep, mask, thr, rc, p.positive)
        move, reach, sigma = prep.clicks[key]
        if move:
            thr += move * _bump(shape, rc, reach)
        pull += (CLICK_GAIN if p.positive else -CLICK_GAIN) * _bump(shape, rc, sigma)
        (fg_seed if p.positive else bg_seed)[_disc(shape, rc, SEED_RADIUS)] = True
    L = prep.logit - thr + pull
    box = next((p for p in reversed(prompts) if isinstance(p, BoxPrompt)), None)
    if box is not None:
        _box_terms(grid, box, L, bg_seed)
    cut = _cut(prep, L, fg_seed & ~bg_seed, bg_seed)
    last = prompts[-1]
    if isinstance(last, BoxPrompt):
        changed = cut != mask
    else:
        seed = _disc(shape, grid.point(last.row, last.col), SEED_RADIUS)
        region = (cut & ~mask) if last.positive else (mask & ~cut)
        changed = _touching(region, seed) | (seed & (mask != last.positive))
    return grid.paste(mask_full, cut, changed)
