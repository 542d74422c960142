"""Benchmark mask editing on a large mask against naive whole-image versions (same process).

Measures, on an H×W mask (default 3000×4000, i.e. a 4000×3000 image):
  * brush: time per mouse-move segment of a 200-point stroke (about 10 px per segment) and of
    one 300-px segment (a fast flick), for several radii, with ``paint_stroke`` (dirty
    rectangle only) vs a naive version drawing each segment into a full-size buffer with
    ``cv2.line``/``cv2.circle`` and OR-ing it into the mask;
  * stroke undo: ``Stroke`` start (snapshot) and ``finish`` (patch);
  * lasso: ``paint_polygon`` with 200 vertices vs ``cv2.fillPoly`` into a full-size buffer;
  * whole-mask operations (fill holes, keep largest, grow, shrink, smooth) vs the same OpenCV
    call over the whole image, and ``diff_patch`` vs ``np.argwhere`` of the difference;
  * autosave: ``RecoveryStore.save`` and ``save_label`` of the mask (to a temp folder).

Also the cost and effect of ``MaskPatch.compact`` (undo memory). Prints a table and JSON;
``--json PATH`` also writes the JSON. Times are medians in ms.

    python benchmarks/bench_editing.py --json bench_editing.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from dermview import editing, masks
from dermview.labels import LabelMeta, save_label
from dermview.recovery import RecoveryStore


def timeit(fn, repeat: int) -> float:
    """Median wall time of ``fn()`` in ms over ``repeat`` runs (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def lesion_mask(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A lesion-like mask: a large irregular blob with holes and specks (bool (H, W))."""
    h, w = shape
    rng = np.random.default_rng(seed)
    m = np.zeros(shape, np.uint8)
    cv2.ellipse(m, (w // 2, h // 2), (int(w * 0.3), int(h * 0.25)), 20, 0, 360, 1, -1)
    small = (rng.random((h // 50 + 1, w // 50 + 1)) > 0.5).astype(np.float32)
    noise = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC) > 0.8
    mask = m.astype(bool) ^ (noise & m.astype(bool))
    specks = rng.integers(0, [h, w], size=(200, 2))
    mask[specks[:, 0], specks[:, 1]] = True
    return mask


def stroke_path(shape: tuple[int, int], n: int = 200, seed: int = 1) -> np.ndarray:
    """A wavy 200-point stroke across the mask (row, col), about 10 px between points."""
    h, w = shape
    t = np.linspace(0, 1, n)
    rows = h * 0.5 + h * 0.2 * np.sin(2 * math.pi * 2 * t)
    cols = w * 0.25 + w * 0.5 * t
    return np.stack([rows, cols], axis=1)


def naive_segment(mask: np.ndarray, a, b, radius: float, value: bool) -> None:
    """Whole-image brush: draw the segment into a full-size buffer, then combine."""
    buf = np.zeros(mask.shape, np.uint8)
    r = int(round(radius))
    pa = (int(round(a[1])), int(round(a[0])))
    pb = (int(round(b[1])), int(round(b[0])))
    cv2.line(buf, pa, pb, 1, thickness=2 * r + 1)
    cv2.circle(buf, pa, r, 1, -1)
    cv2.circle(buf, pb, r, 1, -1)
    if value:
        mask |= buf.view(bool)
    else:
        mask &= ~buf.view(bool)


def bench_brush(shape, radii, repeat):
    path = stroke_path(shape)
    rows = []
    for radius in radii:
        def ours(radius=radius):
            m = np.zeros(shape, bool)
            for a, b in zip(path[:-1], path[1:], strict=True):
                editing.paint_stroke(m, np.stack([a, b]), radius, True)

        def naive(radius=radius):
            m = np.zeros(shape, bool)
            for a, b in zip(path[:-1], path[1:], strict=True):
                naive_segment(m, a, b, radius, True)

        # Subtract the shared np.zeros allocation so the numbers are per segment only.
        alloc = timeit(lambda: np.zeros(shape, bool), repeat)
        nseg = len(path) - 1
        t_ours = max(timeit(ours, repeat) - alloc, 0.0) / nseg
        t_naive = max(timeit(naive, max(1, repeat // 3)) - alloc, 0.0) / nseg
        rows.append({"name": f"brush segment r={radius}", "ms": t_ours, "naive_ms": t_naive})
    # A fast flick: one 300-px diagonal segment per mouse event.
    for radius in radii:
        a = np.array([shape[0] * 0.3 + 0.3, shape[1] * 0.3 + 0.7])
        b = a + 300 / math.sqrt(2)
        m = np.zeros(shape, bool)
        seg = np.stack([a, b])
        rows.append({
            "name": f"brush 300-px segment r={radius}",
            "ms": timeit(lambda m=m, seg=seg, r=radius: editing.paint_stroke(m, seg, r, True),
                         repeat * 5),
            "naive_ms": timeit(lambda m=m, a=a, b=b, r=radius: naive_segment(m, a, b, r, True),
                               repeat),
        })
    return rows


def bench_stroke_session(shape, repeat):
    mask = lesion_mask(shape)
    path = stroke_path(shape)

    def start():
        editing.Stroke(mask, 20, True)

    def full():
        m = mask.copy()
        s = editing.Stroke(m, 20, True)
        for p in path:
            s.add(p)
        s.finish()

    t_start = timeit(start, repeat)
    m = mask.copy()
    s = editing.Stroke(m, 20, True)
    for p in path:
        s.add(p)
    t_finish = timeit(s.finish, repeat)
    # Naive undo: full copies before/after and a whole-image argwhere bounding box.
    def naive_finish():
        diff = np.argwhere(mask != m)
        r0, c0 = diff.min(axis=0)
        r1, c1 = diff.max(axis=0) + 1
        return mask[r0:r1, c0:c1].copy(), m[r0:r1, c0:c1].copy()

    return [
        {"name": "stroke start (snapshot)", "ms": t_start, "naive_ms": None},
        {"name": "stroke finish (undo patch)", "ms": t_finish,
         "naive_ms": timeit(naive_finish, max(1, repeat // 3))},
    ]


def bench_polygon(shape, repeat):
    h, w = shape
    t = np.linspace(0, 2 * math.pi, 200, endpoint=False)
    rad = 0.2 * min(h, w) * (1 + 0.2 * np.sin(5 * t))
    verts = np.stack([h / 2 + rad * np.sin(t), w / 2 + rad * np.cos(t)], axis=1)
    mask = np.zeros(shape, bool)

    def ours():
        editing.paint_polygon(mask, verts, True)

    def naive():
        buf = np.zeros(shape, np.uint8)
        cv2.fillPoly(buf, [np.rint(verts[:, ::-1]).astype(np.int32)], 1)
        np.logical_or(mask, buf.view(bool), out=mask)

    return [{"name": "lasso 200 vertices", "ms": timeit(ours, repeat),
             "naive_ms": timeit(naive, repeat)}]


def bench_ops(shape, repeat):
    mask = lesion_mask(shape)
    u8 = mask.view(np.uint8)

    def disk(px):
        r = np.arange(-px, px + 1)
        return (r[:, None] ** 2 + r[None] ** 2 <= px * px).astype(np.uint8)

    def naive_fill():
        pad = np.pad(u8, 1)
        ff = np.zeros((pad.shape[0] + 2, pad.shape[1] + 2), np.uint8)
        cv2.floodFill(pad, ff, (0, 0), 2, flags=4)
        return pad[1:-1, 1:-1] != 2

    def naive_largest():
        n, lab, st, _ = cv2.connectedComponentsWithStats(u8, connectivity=8)
        return lab == 1 + int(np.argmax(st[1:, cv2.CC_STAT_AREA]))

    def naive_smooth():
        return cv2.GaussianBlur(u8 * np.uint8(255), (19, 19), 3, sigmaY=3,
                                borderType=cv2.BORDER_REPLICATE) > 127

    grown = masks.grow(mask, 2)

    def naive_diff():
        diff = np.argwhere(mask != grown)
        r0, c0 = diff.min(axis=0)
        r1, c1 = diff.max(axis=0) + 1
        return mask[r0:r1, c0:c1].copy(), grown[r0:r1, c0:c1].copy()

    cases = [
        ("fill holes", lambda: masks.fill_holes(mask), naive_fill),
        ("keep largest", lambda: masks.keep_largest(mask), naive_largest),
        ("grow 1 px", lambda: masks.grow(mask, 1), lambda: cv2.dilate(u8, disk(1)) > 0),
        ("shrink 1 px", lambda: masks.shrink(mask, 1), lambda: cv2.erode(u8, disk(1)) > 0),
        ("smooth r=3", lambda: masks.smooth(mask, 3), naive_smooth),
        ("diff_patch (whole-mask op)", lambda: editing.diff_patch(mask, grown), naive_diff),
    ]
    rows = [{"name": n, "ms": timeit(a, repeat), "naive_ms": timeit(b, repeat)}
            for n, a, b in cases]
    # Undo memory: compacting a whole-mask patch, and undoing from the compact form.
    patch = editing.diff_patch(mask, grown)
    raw_bytes = patch.nbytes
    rows.append({"name": "compact whole-mask patch",
                 "ms": timeit(lambda: editing.diff_patch(mask, grown).compact(), repeat)
                 - timeit(lambda: editing.diff_patch(mask, grown), repeat),
                 "naive_ms": None})
    patch.compact()
    work = grown.copy()
    rows.append({"name": "undo from compact patch", "ms": timeit(lambda: patch.revert(work),
                                                                 repeat), "naive_ms": None})
    rows.append({"name": "patch size raw -> compact (KiB)", "ms": raw_bytes / 1024,
                 "naive_ms": None, "compact_kib": patch.nbytes / 1024})
    return rows


def bench_files(shape, repeat):
    mask = lesion_mask(shape)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        store = RecoveryStore(Path(tmp) / "recovery")
        image = Path(tmp) / "image.jpg"
        rows.append({"name": "recovery autosave", "ms": timeit(
            lambda: store.save(image, mask, {"edit_operations": 1}), repeat), "naive_ms": None})
        entry = store.entry_for(image)
        rows.append({"name": "recovery load", "ms": timeit(lambda: store.load(entry), repeat),
                     "naive_ms": None})
        meta = LabelMeta(image_sha256="0" * 64, image_size=(shape[1], shape[0]))
        rows.append({"name": "save_label (PNG+JSON+backup)", "ms": timeit(
            lambda: save_label(image, mask, meta), max(1, repeat // 2)), "naive_ms": None})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--height", type=int, default=3000)
    ap.add_argument("--width", type=int, default=4000)
    ap.add_argument("--repeat", type=int, default=7, help="timed runs per case (median)")
    ap.add_argument("--radii", type=float, nargs="+", default=[5, 20, 50])
    ap.add_argument("--json", type=Path, help="also write the JSON here")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    shape = (args.height, args.width)

    rows = (bench_brush(shape, args.radii, args.repeat) + bench_stroke_session(shape, args.repeat)
            + bench_polygon(shape, args.repeat) + bench_ops(shape, args.repeat)
            + bench_files(shape, args.repeat))
    for r in rows:
        r["speedup"] = (r["naive_ms"] / r["ms"]) if r["naive_ms"] and r["ms"] > 0 else None
    result = {
        "benchmark": "editing",
        "mask_shape_hw": list(shape),
        "repeat": args.repeat,
        "cv2_threads": 1,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "cases": rows,
    }
    print(f"mask {shape[1]}×{shape[0]} (W×H), median of {args.repeat}, times in ms")
    print(f"{'case':34s} {'dermview':>10s} {'naive':>10s} {'speed-up':>9s}")
    for r in rows:
        naive = f"{r['naive_ms']:10.3f}" if r["naive_ms"] is not None else f"{'-':>10s}"
        sp = f"{r['speedup']:8.1f}×" if r["speedup"] else f"{'-':>9s}"
        if "compact_kib" in r:
            print(f"{r['name']:34s} {r['ms']:10.0f} -> {r['compact_kib']:.0f} KiB")
            continue
        print(f"{r['name']:34s} {r['ms']:10.3f} {naive} {sp}")
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
