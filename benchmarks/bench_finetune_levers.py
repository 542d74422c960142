"""Fine-tuning levers, one at a time, scored on the recipe-tuning set (never on the rest).

    python benchmarks/bench_finetune_levers.py --data /work/shared/data/derm --clinic --n 25 --json docs/results/bench_finetune_levers.json

The split is ``bench_finetune.split_target`` (ISIC 2017 validation, seed 0; with ``--clinic``
the target source has the simulated clinic's look, ``benchmarks/_clinic.py``): the first
``--n`` pool images are the labels, the next ``--unlabeled`` pool images the folder's
unlabelled images, the ``--tune`` images are scored (the *rest* is left for
``bench_finetune.py``), and so are the other sources' validation images. Every variant starts
from the shipped model; scores with the app's pipeline (preprocessing, threshold, clean-up, at
each image's resolution). Levers (:data:`VARIANTS`): batch-norm statistics re-estimated on the
folder's images (AdaBN, labelled only or with the unlabelled ones; a share ``bn`` of them),
colour augmentation on or off, which layers train, learning rate, steps, L2-SP towards the
base weights, the decision threshold, per-image colour standardisation in front of the
network (``cn``: :class:`dermview.model.blocks.ColourStandardise`). CPU seconds of each variant's training (one thread).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

#: name: settings. ``bn``: AdaBN share (0 = off), ``bn_from``: "labelled" or "folder"
#: (labelled + unlabelled), ``steps``: 0 = no training (checkpoints at half and all steps),
#: ``thr``: decision threshold(s) scored, ``cn``: per-image colour standardisation share,
#: ``bn_scope``: AdaBN on part of the network only.
VARIANTS: dict[str, dict] = {
    "base": {},
    "base_thr": {"thr": (0.4, 0.6)},
    "adabn": {"bn": 1.0, "bn_from": "labelled"},
    "adabn_folder": {"bn": 1.0, "bn_from": "folder"},
    "adabn_half": {"bn": 0.5, "bn_from": "folder"},
    "adabn_folder_thr": {"bn": 1.0, "bn_from": "folder", "thr": (0.4, 0.6)},
    "adabn_quarter": {"bn": 0.25, "bn_from": "folder"},
    "adabn_enc_half": {"bn": 0.5, "bn_from": "folder", "bn_scope": "encoder"},
    "adabn_enc_full": {"bn": 1.0, "bn_from": "folder", "bn_scope": "encoder"},
    "adabn_stem_full": {"bn": 1.0, "bn_from": "folder", "bn_scope": "stem"},
    "adabn_stem_half": {"bn": 0.5, "bn_from": "folder", "bn_scope": "stem"},
    "adabn_half_head_1e-4_geo": {"bn": 0.5, "bn_from": "folder", "layers": "head", "lr": 1e-4,
                                 "steps": 120, "colour": False},
    "cn_half": {"cn": 0.5},
    "cn_075": {"cn": 0.75},
    "cn_full": {"cn": 1.0},
    "cn_half_adabn_quarter": {"cn": 0.5, "bn": 0.25, "bn_from": "folder"},
    "cn_half_head_1e-4_geo": {"cn": 0.5, "layers": "head", "lr": 1e-4, "steps": 60,
                              "colour": False},
    "last_1e-4_geo": {"layers": "last", "lr": 1e-4, "steps": 120, "colour": False},
    "all_3e-5_geo": {"layers": "all", "lr": 3e-5, "steps": 40, "colour": False},
    "head_3e-4_geo": {"layers": "head", "lr": 3e-4, "steps": 120, "colour": False},
    "head_1e-4_geo_l2sp": {"layers": "head", "lr": 1e-4, "steps": 120, "colour": False,
                           "l2sp": 1e-2},
    "head_1e-4": {"layers": "head", "lr": 1e-4, "steps": 120},
    "head_1e-4_geo": {"layers": "head", "lr": 1e-4, "steps": 120, "colour": False},
    "adabn_head_1e-4_geo": {"bn": 1.0, "bn_from": "folder", "layers": "head", "lr": 1e-4,
                            "steps": 120, "colour": False},
    "adabn_head_3e-5_geo": {"bn": 1.0, "bn_from": "folder", "layers": "head", "lr": 3e-5,
                            "steps": 120, "colour": False},
    "adabn_head_3e-4_geo": {"bn": 1.0, "bn_from": "folder", "layers": "head", "lr": 3e-4,
                            "steps": 120, "colour": False},
    "adabn_head_1e-4_colour": {"bn": 1.0, "bn_from": "folder", "layers": "head", "lr": 1e-4,
                               "steps": 120, "colour": True},
    "adabn_head_1e-4_geo_l2sp": {"bn": 1.0, "bn_from": "folder", "layers": "head", "lr": 1e-4,
                                 "steps": 120, "colour": False, "l2sp": 1e-2},
    "adabn_last_1e-4_geo": {"bn": 1.0, "bn_from": "folder", "layers": "last", "lr": 1e-4,
                            "steps": 120, "colour": False},
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--json", default="")
    ap.add_argument("--source", default="isic2017")
    ap.add_argument("--clinic", action="store_true")
    ap.add_argument("--clinic-cache", default=str(ROOT / ".cache" / "clinic"))
    ap.add_argument("--n", type=int, default=25)
    ap.add_argument("--unlabeled", type=int, default=25)
    ap.add_argument("--tune", type=int, default=40)
    ap.add_argument("--limit-others", type=int, default=0)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    from bench_finetune import _delta, score, split_target

    from dermview.finetune.engine import FinetuneSettings, in_memory_segmenter, network_arrays
    from dermview.finetune.train import (
        adapt_bn,
        copy_model,
        freeze_bn,
        make_views,
        normalise,
        start_model,
        train_run,
    )
    from dermview.model.inference import Segmenter

    seg = Segmenter.load(None, "cpu", engine="torch")
    pool, tune, _, others = split_target(args.data, args.source, args.seed, args.tune)
    if args.clinic:
        from _clinic import clinic_pairs

        cdir = Path(args.clinic_cache) / args.source
        pool, tune = clinic_pairs(pool, cdir), clinic_pairs(tune, cdir)
    if args.limit_others:
        others = others[:args.limit_others]
    labelled, unlabelled = pool[:args.n], pool[args.n:args.n + args.unlabeled]
    imgs, masks = network_arrays([p.image for p in labelled], seg, [p.mask for p in labelled])
    un_imgs, _ = network_arrays([p.image for p in unlabelled], seg, [p.mask for p in unlabelled])
    inputs = {"labelled": normalise(seg, imgs),
              "folder": torch.cat([normalise(seg, imgs), normalise(seg, un_imgs)])}
    cache_t: dict = {}
    cache_o: dict = {}
    load0 = os.getloadavg()
    t_all = time.perf_counter()

    def scored(s: Segmenter, thr: float | None = None) -> dict:
        if thr is not None:
            s = in_memory_segmenter(s.model, {**s.meta, "threshold": thr}, s.device)
        r = {"tune": score(s, tune, cache_t), "others": score(s, others, cache_o)}
        return r

    base = scored(seg)
    print(f"base: tune Dice {base['tune']['dice']:.4f} others {base['others']['dice']:.4f}",
          flush=True)
    out: dict = {"base": base, "variants": {}}
    views_cache: dict = {}
    for name in args.variants.split(","):
        v = VARIANTS[name]
        c0, w0 = time.process_time(), time.perf_counter()
        start = seg
        if v.get("bn_scope"):
            model = adapt_bn(copy_model(seg), inputs[v["bn_from"]], v["bn"],
                             scope=v["bn_scope"])
            start = in_memory_segmenter(model, seg.meta, seg.device, "adabn")
        elif v.get("bn") or v.get("cn"):
            start = start_model(seg, v.get("cn", 0.0), v.get("bn", 0.0),
                                inputs[v.get("bn_from", "folder")])
        bn_s = time.process_time() - c0
        rows = []

        def add(s: Segmenter, step: int, train_cpu: float, rows=rows, v=v, name=name) -> None:
            for thr in (None, *v.get("thr", ())):
                r = scored(s, thr)
                r.update({"step": step, "threshold": thr or seg.threshold,
                          "train_cpu_s": round(train_cpu, 1),
                          "delta_tune": _delta(r["tune"], base["tune"]),
                          "delta_others": _delta(r["others"], base["others"])})
                rows.append(r)
                print(f"{name} step {step} thr {r['threshold']}: tune ΔDice "
                      f"{r['delta_tune']['dice']:+.4f} others ΔDice "
                      f"{r['delta_others']['dice']:+.4f} ({train_cpu:.0f} CPU s)", flush=True)

        if not v.get("steps"):
            add(start, 0, bn_s)
        else:
            key = (v.get("bn", 0), v.get("bn_from"), v.get("cn", 0), v["layers"],
                   v.get("colour", True))
            if key not in views_cache:
                views_cache[key] = make_views(start, imgs, masks, v["layers"], args.seed,
                                              colour=v.get("colour", True))
            views = views_cache[key]
            settings = FinetuneSettings(layers=v["layers"], lr=v["lr"], max_steps=v["steps"],
                                        seed=args.seed, l2sp=v.get("l2sp", 0.0))
            checks = {v["steps"] // 2, v["steps"]}
            spent = [0.0]
            t_train = [time.process_time()]

            def on_step(step, model, checks=checks, spent=spent, t_train=t_train, start=start,
                        bn_s=bn_s):
                if step not in checks:
                    return
                spent[0] += time.process_time() - t_train[0]
                add(in_memory_segmenter(model, start.meta, start.device), step, spent[0] + bn_s)
                model.train()
                freeze_bn(model)
                t_train[0] = time.process_time()

            train_run(start, views, list(range(len(views.target))), settings, v["steps"],
                      float("inf"), on_step)
        out["variants"][name] = {"settings": v, "checks": rows,
                                 "wall_s": round(time.perf_counter() - w0, 1),
                                 "cpu_s": round(time.process_time() - c0, 1)}
    out.update({"command": "python benchmarks/bench_finetune_levers.py " + " ".join(sys.argv[1:]),
                "model": seg.name, "source": args.source, "clinic": args.clinic,
                "sizes": {"labelled": len(labelled), "unlabelled": len(unlabelled),
                          "tune": len(tune), "others": len(others)},
                "threads": 1, "wall_s": round(time.perf_counter() - t_all, 1),
                "load_avg_start": load0, "load_avg_end": os.getloadavg()})
    lines = ["| variant | step | thr | train CPU s | tune ΔDice | tune Δthr. Jaccard | "
             "tune Δfailures | others ΔDice |", "|---|---|---|---|---|---|---|---|"]
    for name, v in out["variants"].items():
        for c in v["checks"]:
            lines.append(f"| {name} | {c['step']} | {c['threshold']} | {c['train_cpu_s']:.0f} | "
                         f"{c['delta_tune']['dice']:+.4f} | "
                         f"{c['delta_tune']['thresholded_jaccard']:+.4f} | "
                         f"{c['delta_tune']['failures']:+d} | {c['delta_others']['dice']:+.4f} |")
    out["table"] = "\n".join(lines)
    print(out["table"])
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
