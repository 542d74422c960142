"""Fine-tuning on a user's labels: adaptation curves from the shipped model, and the recipe.

    python benchmarks/bench_finetune.py --data ../shared/data/derm --json docs/results/bench_finetune.json
    python benchmarks/bench_finetune.py --data ../shared/data/derm --grid --json docs/results/bench_finetune_grid.json
    python benchmarks/bench_finetune.py --data ../shared/data/derm --clinic --json docs/results/bench_finetune_clinic.json
    python benchmarks/bench_finetune.py --data ../shared/data/derm --clinic --look b --sizes 25 --json docs/results/bench_finetune_clinic_b.json

Images: the validation split of ``training.data.split_pairs`` (never trained on). The
*target* source (``--source``, default ``isic2017``: the largest unseen source and the one the
shipped model scores lowest on) is shuffled with ``--seed`` and cut into a label pool (the
first 50), a recipe-tuning set (the next ``--tune`` images, used only by ``--grid``) and the
*rest* (scored by the curves). *Other sources*: the validation images of every other source.

``--clinic``: the target source's images (pool, tuning set and rest) are given one fixed
other-dermatoscope look (``benchmarks/_clinic.py``: colour cast, tone curve, contrast,
saturation, blur, vignette), the other sources are left as they are. The data has no unseen
source large enough for 50 labels + a scored rest other than ISIC 2017, the distribution the
shipped model was trained on, so this controlled shift stands in for a new clinic.
``--look b``: a second device (``_clinic.LOOK_B``) that no recipe choice looked at.

Recipe: ``finetune``'s defaults unless ``--layers``, ``--lr``, ``--max-steps``,
``--colour-norm``, ``--bn-adapt``, ``--colour-aug``, ``--l2sp`` say otherwise (the levers
themselves are compared on the tuning set by ``benchmarks/bench_finetune_levers.py``).
``--unlabeled K`` puts K more pool images in the folder without labels (AdaBN sees them).

``--clock cpu`` (default): ``--time-limit`` counts this process's CPU time (one torch thread),
so a run means the same on the shared, loaded machine as on an idle one; ``--clock wall``
counts wall-clock time as the app does. Both times are recorded.

Curves (default): for each N in ``--sizes``, the first N pool images with their expert masks
as labels (no sidecars, so they count as corrected) go through the real ``finetune()`` (hold
out, train, judge, write) under ``--time-limit``; the written model and the shipped one are
scored on the rest and on the other sources with the app's pipeline (preprocessing, threshold
0.5, clean-up, each image at its resolution): Dice, thresholded Jaccard (ISIC), failures
(Jaccard < 0.65), wall time. Floor: N = 25 within 10 min: Dice on the rest +0.02 or more, and
no other-source loss over 0.005. The run's own verdict (its judge on the labels) is recorded
beside the truth (the rest), to check that the judge does not call a worse model better.

Grid (``--grid``): the recipe choice (layers, learning rate, steps): each variant trains on
the first ``--grid-n`` pool labels, scored on the tuning set (not the rest) and the other
sources at checkpoints.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

POOL = 50


def split_target(data: str, source: str, seed: int, tune: int):
    """``(pool, tune, rest, others)`` lists of :class:`training.data.Pair`."""
    from training.data import read_pairs, split_pairs

    _, val = split_pairs(read_pairs(data))
    target = sorted((p for p in val if p.source == source), key=lambda p: p.id)
    order = np.random.default_rng(seed).permutation(len(target))
    target = [target[i] for i in order]
    if len(target) < POOL + tune + 20:
        raise SystemExit(f"{source}: only {len(target)} validation images")
    others = [p for p in val if p.source != source]
    return target[:POOL], target[POOL:POOL + tune], target[POOL + tune:], others


def score(seg, pairs, cache) -> dict:
    from dermview.finetune.engine import score_images, summarise

    t = time.perf_counter()
    rows = score_images(seg, [p.image for p in pairs], [p.mask for p in pairs], cache)
    out = summarise(rows)
    out["seconds"] = round(time.perf_counter() - t, 1)
    out["per_image_dice"] = [round(r["dice"], 4) for r in rows]
    return out


def make_folder(pairs, root: Path, unlabelled=()) -> Path:
    """``root/images/<id>.jpg`` (links) + ``root/images/labels/<id>_segmentation.png``; the
    ``unlabelled`` pairs' images join the folder without a label."""
    img_dir = root / "images"
    (img_dir / "labels").mkdir(parents=True)
    for p in pairs:
        os.symlink(p.image.resolve(), img_dir / p.image.name)
        shutil.copyfile(p.mask, img_dir / "labels" / f"{p.image.stem}_segmentation.png")
    for p in unlabelled:
        os.symlink(p.image.resolve(), img_dir / p.image.name)
    return img_dir


def recipe_overrides(args) -> dict:
    """The ``FinetuneSettings`` fields set on the command line (the rest: finetune's defaults)."""
    out = {k: v for k, v in (("layers", args.layers), ("lr", args.lr)) if v}
    for key in ("bn_adapt", "l2sp", "colour_norm", "max_steps"):
        if getattr(args, key) is not None:
            out[key] = getattr(args, key)
    if args.colour_aug is not None:
        out["colour_aug"] = args.colour_aug == "on"
    return out


def _delta(new: dict, base: dict) -> dict:
    return {k: round(new[k] - base[k], 4) for k in ("dice", "jaccard", "thresholded_jaccard",
                                                   "failures")}


def curves(args, seg, pool, rest, others) -> dict:
    from dermview.finetune import FinetuneSettings, finetune
    from dermview.model.inference import Segmenter

    cache_r: dict = {}
    cache_o: dict = {}
    base = {"rest": score(seg, rest, cache_r), "others": score(seg, others, cache_o)}
    print(f"base: rest Dice {base['rest']['dice']:.4f}  others {base['others']['dice']:.4f}",
          flush=True)
    recipe = recipe_overrides(args)
    runs = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = make_folder(pool[:n], Path(tmp), pool[n:n + args.unlabeled])
            t, c = time.perf_counter(), time.process_time()
            rep = finetune(folder, Path(tmp) / f"ft{n}.pt", base=args.base, device="cpu",
                           settings=replace(FinetuneSettings(), time_limit_min=args.time_limit,
                                            seed=args.seed, clock=args.clock, **recipe))
            seconds, cpu_s = time.perf_counter() - t, time.process_time() - c
            new_seg = Segmenter.load(rep.out, "cpu")
            row = {"n": n, "seconds": round(seconds, 1), "cpu_seconds": round(cpu_s, 1),
                   "clock": args.clock, "improved": rep.improved, "onnx": rep.meta.get("onnx"),
                   "verdict": rep.verdict, "holdout": rep.meta["finetune"]["holdout"]["scheme"],
                   "steps_per_run": rep.meta["training"]["steps_per_run"],
                   "heldout_base": rep.base_scores, "heldout_new": rep.new_scores,
                   "rest": score(new_seg, rest, cache_r), "others": score(new_seg, others, cache_o)}
        row["delta_rest"] = _delta(row["rest"], base["rest"])
        row["delta_others"] = _delta(row["others"], base["others"])
        runs.append(row)
        print(f"N={n}: {seconds:.0f} s ({cpu_s:.0f} CPU s), rest ΔDice {row['delta_rest']['dice']:+.4f}, others "
              f"ΔDice {row['delta_others']['dice']:+.4f}; {rep.verdict}", flush=True)
    floor = next((r for r in runs if r["n"] == 25), None)
    return {"base": base, "runs": runs, "floor": None if floor is None else {
        "n": 25, "seconds": floor["seconds"], "cpu_seconds": floor["cpu_seconds"],
        "clock": args.clock, "rest_gain": floor["delta_rest"]["dice"],
        "others_change": floor["delta_others"]["dice"],
        "met": bool(floor["cpu_seconds" if args.clock == "cpu" else "seconds"] <= 600 and floor["delta_rest"]["dice"] >= 0.02
                    and floor["delta_others"]["dice"] >= -0.005)}}


VARIANTS = {  # name: (layers, lr, steps); checkpoints at a quarter, half and all steps
    "head_lr1e-4": ("head", 1e-4, 200),
    "head_lr3e-4": ("head", 3e-4, 200),
    "head_lr1e-3": ("head", 1e-3, 200),
    "head_lr3e-5": ("head", 3e-5, 120),
    "last_lr1e-4": ("last", 1e-4, 200),
    "last_lr3e-4": ("last", 3e-4, 200),
    "head_lr1e-5": ("head", 1e-5, 120),
    "all_lr3e-5": ("all", 3e-5, 40),
}


def grid(args, seg, pool, tune, others) -> dict:
    """Each variant on the first ``--grid-n`` pool labels, scored on the tuning set."""
    import math

    from dermview.finetune.engine import FinetuneSettings, in_memory_segmenter, network_arrays
    from dermview.finetune.train import freeze_bn, make_views, train_run

    labels = pool[:args.grid_n]
    imgs, masks = network_arrays([p.image for p in labels], seg, [p.mask for p in labels])
    cache_t: dict = {}
    cache_o: dict = {}
    base = {"tune": score(seg, tune, cache_t), "others": score(seg, others, cache_o)}
    print(f"base: tune Dice {base['tune']['dice']:.4f} others {base['others']['dice']:.4f}",
          flush=True)
    out = {"n": args.grid_n, "base": base, "variants": {}, "step_s": {}}
    views = {}
    for layers in ("head", "last", "all"):  # cost of one step of batch 8, the same moment
        from dermview.finetune.train import time_one_step

        v = make_views(seg, imgs[:8], masks[:8], layers, args.seed, per_image=1)
        out["step_s"][layers] = round(time_one_step(seg, v, FinetuneSettings(layers=layers)), 2)
    print(f"seconds per step: {out['step_s']}", flush=True)
    for name in args.variants:
        layers, lr, steps = VARIANTS[name]
        t = time.perf_counter()
        if layers not in views:
            views[layers] = make_views(seg, imgs, masks, layers, args.seed)
        views_s = time.perf_counter() - t
        checks = {steps // 4, steps // 2, steps}
        rows: list = []
        t0 = time.perf_counter()

        def on_step(step, model, name=name, checks=checks, rows=rows, t0=t0):
            if step not in checks:
                return
            train_s = time.perf_counter() - t0 - sum(r["score_s"] for r in rows)
            t = time.perf_counter()
            s = in_memory_segmenter(model, seg.meta, seg.device)
            r = {"step": step, "train_s": round(train_s, 1), "tune": score(s, tune, cache_t),
                 "others": score(s, others, cache_o)}
            r["score_s"] = time.perf_counter() - t
            r["delta_tune"] = _delta(r["tune"], base["tune"])
            r["delta_others"] = _delta(r["others"], base["others"])
            rows.append(r)
            model.train()
            freeze_bn(model)
            print(f"{name} step {step} ({train_s:.0f} s): tune ΔDice {r['delta_tune']['dice']:+.4f}"
                  f" others ΔDice {r['delta_others']['dice']:+.4f}", flush=True)

        settings = FinetuneSettings(layers=layers, lr=lr, max_steps=steps, seed=args.seed)
        v = views[layers]
        train_run(seg, v, list(range(len(v.target))), settings, steps, math.inf, on_step)
        out["variants"][name] = {"layers": layers, "lr": lr, "steps": steps,
                                 "views_s": round(views_s, 1), "views": len(v.target),
                                 "checks": rows}
    return out


def _clinic_look(name: str) -> dict:
    from _clinic import LOOKS

    return {"look": name, **LOOKS[name]}


def _table(res: dict) -> str:
    lines = []
    if "runs" in res:
        b = res["base"]
        lines.append("| model | labels | time s (CPU s) | rest Dice | rest thr. Jaccard | rest failures "
                     "| others Dice | others thr. Jaccard | others failures | verdict (own hold-out) |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|")
        lines.append(f"| shipped | - | - | {b['rest']['dice']:.4f} | "
                     f"{b['rest']['thresholded_jaccard']:.4f} | {b['rest']['failures']}/{b['rest']['n']} | "
                     f"{b['others']['dice']:.4f} | {b['others']['thresholded_jaccard']:.4f} | "
                     f"{b['others']['failures']}/{b['others']['n']} | |")
        for r in res["runs"]:
            lines.append(
                f"| fine-tuned | {r['n']} | {r['seconds']:.0f} ({r.get('cpu_seconds', 0):.0f}) | "
                f"{r['rest']['dice']:.4f} "
                f"({r['delta_rest']['dice']:+.4f}) | {r['rest']['thresholded_jaccard']:.4f} | "
                f"{r['rest']['failures']}/{r['rest']['n']} | {r['others']['dice']:.4f} "
                f"({r['delta_others']['dice']:+.4f}) | {r['others']['thresholded_jaccard']:.4f} | "
                f"{r['others']['failures']}/{r['others']['n']} | "
                f"{'better' if r['improved'] else 'not better'} ({r['holdout']}) |")
    if "variants" in res:
        lines.append("| variant | step | train s | tune ΔDice | tune Δthr. Jaccard | others ΔDice |")
        lines.append("|---|---|---|---|---|---|")
        for name, v in res["variants"].items():
            for c in v["checks"]:
                lines.append(f"| {name} | {c['step']} | {c['train_s']:.0f} | "
                             f"{c['delta_tune']['dice']:+.4f} | "
                             f"{c['delta_tune']['thresholded_jaccard']:+.4f} | "
                             f"{c['delta_others']['dice']:+.4f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--json", default="")
    ap.add_argument("--base", default=None, help="weights to start from (default: shipped)")
    ap.add_argument("--source", default="isic2017")
    ap.add_argument("--sizes", default="10,25,50")
    ap.add_argument("--time-limit", type=float, default=10.0, help="minutes per finetune run")
    ap.add_argument("--tune", type=int, default=40, help="recipe-tuning images of the target")
    ap.add_argument("--grid", action="store_true", help="run the recipe grid instead")
    ap.add_argument("--grid-n", type=int, default=25)
    ap.add_argument("--variants", default="head_lr1e-4,head_lr3e-4")
    ap.add_argument("--limit-others", type=int, default=0, help="(smoke runs) cap other sources")
    ap.add_argument("--limit-rest", type=int, default=0, help="(smoke runs) cap the rest")
    ap.add_argument("--clinic", action="store_true",
                    help="give the target source a simulated other clinic's look (_clinic.py)")
    ap.add_argument("--clinic-cache", default=str(ROOT / ".cache" / "clinic"))
    ap.add_argument("--look", choices=("a", "b"), default="a",
                    help="which simulated device (_clinic.LOOKS; b was never used for the recipe)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="cpu",
                    help="what --time-limit counts: wall-clock or this process's CPU time")
    ap.add_argument("--layers", default="", help="curves: recipe layers (default: finetune's)")
    ap.add_argument("--lr", type=float, default=0.0, help="curves: learning rate (default: finetune's)")
    ap.add_argument("--bn-adapt", type=float, default=None, help="curves: AdaBN share")
    ap.add_argument("--l2sp", type=float, default=None, help="curves: L2-SP weight")
    ap.add_argument("--colour-norm", type=float, default=None,
                    help="curves: per-image colour standardisation share")
    ap.add_argument("--max-steps", type=int, default=None,
                    help="curves: training steps per run at most (0: no gradient training)")
    ap.add_argument("--colour-aug", choices=("on", "off"), default=None,
                    help="curves: colour augmentation of the training views")
    ap.add_argument("--unlabeled", type=int, default=0,
                    help="curves: pool images after the N labelled ones put in the folder "
                         "without labels (seen by AdaBN only)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.variants = args.variants.split(",")

    import cv2
    import torch

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)
    from dermview.finetune import FinetuneSettings
    from dermview.model.inference import Segmenter

    # the grid trains in this process: it needs the torch module
    seg = Segmenter.load(args.base, "cpu", engine="torch" if args.grid else "auto")
    pool, tune, rest, others = split_target(args.data, args.source, args.seed, args.tune)
    if args.clinic:  # the target source as seen by another dermatoscope (benchmarks/_clinic.py)
        from _clinic import LOOKS, clinic_pairs

        cdir = Path(args.clinic_cache) / (args.source + ("" if args.look == "a" else "_b"))
        pool, tune, rest = (clinic_pairs(x, cdir, LOOKS[args.look]) for x in (pool, tune, rest))
    if args.limit_rest:
        rest = rest[:args.limit_rest]
    if args.limit_others:
        others = others[:args.limit_others]
    t0 = time.perf_counter()
    res = grid(args, seg, pool, tune, others) if args.grid else curves(args, seg, pool, rest, others)
    res.update({"command": "python benchmarks/bench_finetune.py " + " ".join(sys.argv[1:]),
                "model": seg.name, "model_sha256": seg.weights_sha256, "source": args.source,
                "clinic": _clinic_look(args.look) if args.clinic else None,
                "sizes": {"pool": len(pool), "tune": len(tune), "rest": len(rest),
                          "others": len(others)},
                "other_sources": sorted({p.source for p in others}),
                "recipe": {**asdict(FinetuneSettings()), **({} if args.grid else {
                    "time_limit_min": args.time_limit, "clock": args.clock,
                    **recipe_overrides(args)})},
                "unlabeled": args.unlabeled,
                "threads": args.threads, "torch": torch.__version__,
                "wall_s": round(time.perf_counter() - t0, 1), "load_avg": os.getloadavg()})
    table = _table(res)
    res["table"] = table
    print(table)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
