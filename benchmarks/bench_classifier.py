"""Lesion classifier on the validation split: AUCs with bootstrap intervals, balanced accuracy,
calibration, PH2 melanoma-vs-naevus, flip TTA, and CPU latency per image.

    OMP_NUM_THREADS=1 flock /tmp/dermview-timing.lock python benchmarks/bench_classifier.py --data ../shared/data/derm \\
        --labels ../shared/data/labels/diagnosis.csv --json docs/results/bench_classifier.json \\
        --table docs/results/bench_classifier.md

Validation split = the segmenter's (``training.data.split_pairs``, seed 0, 15 %) restricted to
images with a diagnosis; every image goes through :meth:`Classifier.predict`'s path (full image +
expert mask → lesion crop → network → temperature) with the bundled weights unless
``--weights``. The temperature was fitted on this same split, so the "after" ECE is in-sample;
the 2-fold cross-fitted ECE (each half scaled with the temperature fitted on the other) is the
held-out estimate. Latency: median wall-clock and process CPU time per image, one thread, for
the whole ``predict`` (crop included) with ONNX Runtime (the CPU default) and torch, and for the
network alone; on a shared machine the CPU time is the better estimate of an idle core's time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def val_logits(clf: Any, pairs: list, log: Any) -> np.ndarray:
    """``(N, 2, 3)`` logits of each validation image's crop and of its mirror image."""
    import torch

    from dermview.io import load_image, load_mask

    out = []
    for i, p in enumerate(pairs):
        rgb = load_image(p.image)
        mask = load_mask(p.mask, shape=rgb.shape[:2])
        x, _ = clf.inputs(rgb, mask, flip=True)
        with torch.inference_mode():
            out.append(clf.model(torch.from_numpy(x)).double().numpy())
        if (i + 1) % 100 == 0:
            log(f"  {i + 1}/{len(pairs)} images")
    return np.stack(out)


def _timed(fn: Any, repeats: int) -> dict[str, float]:
    wall, cpu = [], []
    fn()
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return {"wall_ms": round(1000 * statistics.median(wall), 2),
            "cpu_ms": round(1000 * statistics.median(cpu), 2)}


def latency(clf: Any, weights: Path, pairs: list, repeats: int) -> dict[str, Any]:
    """Per-image latency (one thread) of ``predict`` and of the bare network (torch, ORT)."""
    import torch

    from dermview.io import load_image, load_mask

    torch.set_num_threads(1)
    images = [load_image(p.image) for p in pairs]
    masks = [load_mask(p.mask, shape=im.shape[:2]) for im, p in zip(images, pairs, strict=True)]
    k = {"i": 0}

    def predict(c: Any) -> Any:
        def f() -> None:
            i = k["i"] = (k["i"] + 1) % len(images)
            c.predict(images[i], masks[i])
        return f

    x = torch.from_numpy(clf.inputs(images[0], masks[0], flip=False)[0])
    with torch.inference_mode():
        out: dict[str, Any] = {"images": len(images), "repeats": repeats, "threads": 1,
                               "tta": clf.meta.get("tta", "none"),
                               "loadavg_before": list(os.getloadavg()),
                               "predict_torch": _timed(predict(clf), repeats),
                               "network_torch": _timed(lambda: clf.model(x), repeats)}
    from dermview.model.classifier import Classifier

    fast = Classifier.load(weights, device="cpu", engine="auto")
    if fast.onnx is not None:
        out["predict_onnxruntime"] = _timed(predict(fast), repeats)
    onnx_meta = clf.meta.get("onnx")
    try:
        import onnxruntime as ort
    except ImportError:
        ort = None
    if onnx_meta and ort is not None:
        from dermview.model.weights import sha256_file

        path = weights.with_name(onnx_meta["file"])
        out["onnx_sha256_ok"] = sha256_file(path) == onnx_meta["sha256"]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        xn = x.numpy()
        out["network_onnxruntime"] = _timed(lambda: sess.run(None, {"input": xn}), repeats)
        with torch.inference_mode():
            ref = clf.model(x).numpy()
        out["onnx_max_abs_logit_diff"] = float(np.abs(sess.run(None, {"input": xn})[0] - ref).max())
    out["loadavg_after"] = list(os.getloadavg())
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    from dermview.model.classifier import DEFAULT_CLASSIFIER, Classifier, softmax
    from training.classifier_data import labelled_split
    from training.classifier_eval import auc_ci, summarise
    from training.classifier_fit import calibrate

    log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))
    weights = Path(args.weights) if args.weights else DEFAULT_CLASSIFIER
    clf = Classifier.load(weights, device="cpu", engine="torch")
    _, _, val, y = labelled_split(args.data, args.labels, args.val_fraction, args.seed)
    log(f"{len(val)} validation images")
    raw = val_logits(clf, val, log)
    t = clf.temperature
    tta = clf.meta.get("tta", "none")
    lg = raw.mean(1) if tta == "hflip" else raw[:, 0]
    probs = softmax(lg, t)
    res: dict[str, Any] = {
        "weights": weights.name, "weights_sha256": clf.meta["sha256"],
        "split": {"val_fraction": args.val_fraction, "seed": args.seed, "n": len(val),
                  "by_source": {s: sum(p.source == s for p in val) for s in sorted({p.source for p in val})}},
        "tta": tta, "temperature": t,
        "val": summarise(probs, y, args.n_boot, args.seed),
        "calibration": calibrate(lg, y, args.seed),  # on these logits: before/after/cross-fit
        "ece_uncalibrated": summarise(softmax(lg), y, 0)["ece"],
        "tta_comparison": {
            name: {"auc_melanoma": summarise(softmax(v, t), y, 0)["auc_melanoma"]["auc"],
                   "auc_seborrheic_keratosis": summarise(softmax(v, t), y, 0)[
                       "auc_seborrheic_keratosis"]["auc"]}
            for name, v in (("none", raw[:, 0]), ("hflip", raw.mean(1)))},
    }
    isic = np.array([p.source.startswith("isic") for p in val])
    res["val_isic_only"] = summarise(probs[isic], y[isic], args.n_boot, args.seed)
    ph2 = np.array([p.source == "ph2" for p in val])
    mel_vs_nev = ph2 & (y != 1)
    res["ph2_melanoma_vs_naevus"] = auc_ci(probs[mel_vs_nev, 0], y[mel_vs_nev] == 0, args.n_boot,
                                           args.seed)
    log("latency ...")
    res["latency"] = latency(clf, weights, val[: args.latency_images], args.repeats)
    return res


def table(res: dict[str, Any]) -> str:
    """Markdown table of the headline numbers."""
    v = res["val"]

    def ci(e: dict[str, Any]) -> str:
        return f"{e['auc']:.3f} ({e['lo']:.3f}-{e['hi']:.3f})"

    lat = res["latency"]
    rows = [
        ("validation images (melanoma / SK / naevus)", f"{v['n']} ({' / '.join(map(str, v['class_counts']))})"),
        ("ROC AUC melanoma vs rest (95 % CI)", ci(v["auc_melanoma"])),
        ("ROC AUC SK vs rest (95 % CI)", ci(v["auc_seborrheic_keratosis"])),
        ("ROC AUC naevus vs rest (95 % CI)", ci(v["auc_nevus"])),
        ("mean of melanoma and SK AUC (ISIC 2017 score)", f"{v['auc_mean_mel_sk']:.3f}"),
        ("balanced accuracy (arg-max)", f"{v['balanced_accuracy']:.3f}"),
        ("specificity at 95 % melanoma sensitivity", f"{v['specificity_at_95_melanoma_sensitivity']:.3f}"),
        ("ECE uncalibrated → temperature-scaled (in-sample)",
         f"{res['ece_uncalibrated']:.3f} → {v['ece']:.3f} (T = {res['temperature']:.2f})"),
        ("ECE with a temperature fitted on the other half (2-fold)",
         f"{res['calibration']['ece_after_crossfit']:.3f}"),
        ("PH2 melanoma vs naevus AUC (val PH2 images)",
         f"{ci(res['ph2_melanoma_vs_naevus'])}, n = {res['ph2_melanoma_vs_naevus']['n']} "
         f"({res['ph2_melanoma_vs_naevus']['n_pos']} melanoma)"),
        *([("latency per image, predict (ONNX Runtime, the CPU default; 1 thread): CPU / wall",
            f"{lat['predict_onnxruntime']['cpu_ms']:.0f} / {lat['predict_onnxruntime']['wall_ms']:.0f} ms")]
          if "predict_onnxruntime" in lat else []),
        ("latency per image, predict (torch, 1 thread): CPU / wall",
         f"{lat['predict_torch']['cpu_ms']:.0f} / {lat['predict_torch']['wall_ms']:.0f} ms"),
        ("network only, torch: CPU / wall",
         f"{lat['network_torch']['cpu_ms']:.0f} / {lat['network_torch']['wall_ms']:.0f} ms"),
    ]
    if "network_onnxruntime" in lat:
        o = lat["network_onnxruntime"]
        rows.append(("network only, ONNX Runtime: CPU / wall", f"{o['cpu_ms']:.0f} / {o['wall_ms']:.0f} ms"))
    tc = res["tta_comparison"]
    rows.append(("flip TTA: AUC mel / SK without → with",
                 f"{tc['none']['auc_melanoma']:.3f} / {tc['none']['auc_seborrheic_keratosis']:.3f} → "
                 f"{tc['hflip']['auc_melanoma']:.3f} / {tc['hflip']['auc_seborrheic_keratosis']:.3f}"))
    out = ["| measure | value |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--labels", required=True)
    ap.add_argument("--weights", default="")
    ap.add_argument("--val-fraction", type=float, default=0.15)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-boot", type=int, default=2000)
    ap.add_argument("--latency-images", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--json", default="")
    ap.add_argument("--table", default="")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    res = run(args)
    res["command"] = "python benchmarks/bench_classifier.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = table(res)
    print(json.dumps({k: res[k] for k in ("val", "latency")}, indent=1, default=float))
    print(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        from training.classifier_eval import json_safe

        Path(args.json).write_text(json.dumps(json_safe(res), indent=1), encoding="utf-8")
    if args.table:
        Path(args.table).write_text(f"Command: `{res['command']}`\n\n" + text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
