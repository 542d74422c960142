"""Is the classifier's heat map faithful? Deletion / insertion of the lesion crop's pixels in
the map's order, against a random map and an occlusion map, on the validation split.

    OMP_NUM_THREADS=1 python benchmarks/bench_explanations.py --data ../shared/data/derm \\
        --labels ../shared/data/labels/diagnosis.csv --json docs/results/bench_explanations.json \\
        --table docs/results/bench_explanations.md

For each image (every k-th of the labelled validation split, ``--n`` of them; expert masks) the
predicted class's map is taken on the network's lesion crop (``S×S``) by each method:

* ``gradcam``: :func:`dermview.model.gradcam.grad_cam`, the map the app shows (before
  ``gradcam_shown``'s fade to the crop's edge);
* ``gradcam_shown``: the same after :func:`~dermview.model.gradcam.fade_edges`, as pasted on the image;
* ``layercam`` (Jiang et al. 2021): ``ReLU(Σ_k ReLU(∂y/∂A_k) · A_k)`` per location, an
  alternative for position-dependent gradients (the descriptors pool mean and spread);
* ``random``: a random 10×10 map upsampled (the no-information reference);
* ``occlusion`` (the first ``--occlusion-n`` images): the drop of the class probability when
  one cell of a ``--grid``² grid is replaced by the blurred crop (direct, ``grid²`` forwards).

Scores (probability of that class, calibrated temperature, the whole-image crop unchanged):
**deletion** = area under the probability as the top 0, 10, …, 100 % of the crop's pixels in
the map's order are replaced by the blurred crop (Gaussian σ = 10 px; lower = the map found what
the decision rests on), **insertion** = the same starting from the blurred crop and putting
pixels back (higher = better), their difference (the headline: a random map scores about 0),
with a 95 % bootstrap interval of its paired gain over the random map; the share of the map's
mass inside the expert's lesion mask against the lesion's share of the crop; and, for the
gradient maps, the model-randomisation check (Adebayo et al. 2018: Spearman ρ between the map
and that of the model with its last two blocks and classifier re-initialised; low = the map
depends on the weights).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FRACTIONS = np.linspace(0.0, 1.0, 11)
BLUR_SIGMA = 10.0
GRADIENT_METHODS = ("gradcam", "layercam")


def layer_cam(model: Any, x: Any, cls: int) -> np.ndarray:
    """LayerCAM of class ``cls`` on the lesion crop's Grad-CAM layer: float32 ``(h, w)``."""
    import torch

    from dermview.model.gradcam import feature_gradient

    feat, grad, _ = feature_gradient(model, x, cls)
    return torch.relu((torch.relu(grad) * feat).sum(0)).numpy().astype(np.float32)


def _unit(m: np.ndarray, size: int) -> np.ndarray:
    m = cv2.resize(np.asarray(m, np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
    peak = float(m.max())
    return m / peak if peak > 0 else m


def _probs(model: Any, x: np.ndarray, cls: int, temperature: float, batch: int = 16) -> np.ndarray:
    import torch

    out = []
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            out.append(torch.softmax(model(torch.from_numpy(x[i:i + batch])) / temperature, 1)[:, cls].numpy())
    return np.concatenate(out)


def _with_crops(x: np.ndarray, crops: list[np.ndarray], mean: Any, std: Any) -> np.ndarray:
    """The input ``x`` (1, 3·n, S, S) repeated, its lesion-crop channels replaced by ``crops``."""
    from dermview.model.classifier import normalise_array

    out = np.repeat(x, len(crops), 0)
    out[:, :3] = normalise_array(np.stack(crops), mean, std)
    return out


def deletion_insertion(model: Any, x: np.ndarray, crop: np.ndarray, blur: np.ndarray, saliency: np.ndarray,
                       cls: int, temperature: float, mean: Any, std: Any) -> tuple[float, float]:
    """(deletion, insertion) areas of one map (float ``S×S``) on one crop."""
    s = crop.shape[0]
    order = np.argsort(-saliency.ravel(), kind="stable")
    dels, ins = [], []
    for f in FRACTIONS:
        top = np.zeros(s * s, bool)
        top[order[: int(round(f * s * s))]] = True
        top = top.reshape(s, s, 1)
        dels.append(np.where(top, blur, crop))
        ins.append(np.where(top, crop, blur))
    p = _probs(model, _with_crops(x, dels + ins, mean, std), cls, temperature)
    n = len(FRACTIONS)
    return float(np.trapezoid(p[:n], FRACTIONS)), float(np.trapezoid(p[n:], FRACTIONS))


def occlusion_map(model: Any, x: np.ndarray, crop: np.ndarray, blur: np.ndarray, cls: int, temperature: float,
                  mean: Any, std: Any, grid: int) -> np.ndarray:
    """Probability drop per grid cell when that cell is blurred: float32 ``(grid, grid)``."""
    s = crop.shape[0]
    edges = np.linspace(0, s, grid + 1).round().astype(int)
    crops = []
    for i in range(grid):
        for j in range(grid):
            c = crop.copy()
            rs, cs = slice(edges[i], edges[i + 1]), slice(edges[j], edges[j + 1])
            c[rs, cs] = blur[rs, cs]
            crops.append(c)
    p0 = _probs(model, x, cls, temperature)[0]
    p = _probs(model, _with_crops(x, crops, mean, std), cls, temperature)
    return np.maximum(p0 - p, 0.0).reshape(grid, grid).astype(np.float32)


def _boot_ci(d: np.ndarray, n_boot: int, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    means = [float(np.mean(d[rng.integers(0, len(d), len(d))])) for _ in range(n_boot)]
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from dermview.io import load_image, load_mask
    from dermview.model.classifier import CLASSES, Classifier
    from dermview.model.gradcam import fade_edges, grad_cam, randomise_last_layers, rank_correlation
    from training.classifier_data import labelled_split

    torch.set_num_threads(1)
    log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))
    clf = Classifier.load(device="cpu", engine="torch")
    model, t, s = clf.model.eval(), clf.temperature, clf.input_size
    mean, std = clf.meta["mean"], clf.meta["std"]
    randomised = randomise_last_layers(model, 2, args.seed)
    _, _, val, _ = labelled_split(args.data, args.labels, 0.15, 0)
    step = max(1, len(val) // args.n)
    pairs = val[::step][: args.n]
    rng = np.random.default_rng(args.seed)
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for i, pair in enumerate(pairs):
        rgb = load_image(pair.image)
        mask = load_mask(pair.mask, shape=rgb.shape[:2]).astype(bool)
        x, _ = clf.inputs(rgb, mask, flip=False)
        crop, _ = clf.crop(rgb, mask)
        lesion = clf.crop(np.repeat(mask[..., None].astype(np.uint8) * 255, 3, 2), mask)[0][..., 0] > 127
        blur = cv2.GaussianBlur(crop, (0, 0), BLUR_SIGMA)
        xt = torch.from_numpy(x)
        cam, cls = grad_cam(model, xt)
        maps = {"gradcam": cam, "gradcam_shown": fade_edges(cam), "layercam": _unit(layer_cam(model, xt, cls), s),
                "random": _unit(rng.random((10, 10)), s)}
        if i < args.occlusion_n:
            maps["occlusion"] = _unit(occlusion_map(model, x, crop, blur, cls, t, mean, std, args.grid), s)
        row: dict[str, Any] = {"id": pair.id, "class": CLASSES[cls], "lesion_share": float(lesion.mean())}
        for name, m in maps.items():
            d, ins = deletion_insertion(model, x, crop, blur, m, cls, t, mean, std)
            row[name] = {"deletion": d, "insertion": ins,
                         "in_lesion": float(m[lesion].sum() / max(float(m.sum()), 1e-9))}
        row["gradcam"]["randomised_rho"] = rank_correlation(cam, grad_cam(randomised, xt, cls)[0])
        row["layercam"]["randomised_rho"] = rank_correlation(
            maps["layercam"], _unit(layer_cam(randomised, xt, cls), s))
        rows.append(row)
        if (i + 1) % 10 == 0:
            log(f"  {i + 1}/{len(pairs)} images, {time.perf_counter() - t0:.0f} s")
    return summarise(rows, args)


def summarise(rows: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    methods = ("gradcam", "gradcam_shown", "layercam", "random", "occlusion")
    out: dict[str, Any] = {"images": len(rows), "occlusion_images": sum("occlusion" in r for r in rows),
                           "grid": args.grid, "fractions": FRACTIONS.tolist(), "blur_sigma": BLUR_SIGMA,
                           "lesion_share": float(np.mean([r["lesion_share"] for r in rows])), "methods": {}}
    for name in methods:
        rs = [r for r in rows if name in r]
        if not rs:
            continue
        gap = np.array([r[name]["insertion"] - r[name]["deletion"] for r in rs])
        rand = np.array([r["random"]["insertion"] - r["random"]["deletion"] for r in rs])
        m = {"n": len(rs), "deletion": float(np.mean([r[name]["deletion"] for r in rs])),
             "insertion": float(np.mean([r[name]["insertion"] for r in rs])), "insertion_minus_deletion": float(gap.mean()),
             "in_lesion": float(np.mean([r[name]["in_lesion"] for r in rs]))}
        if name != "random":
            m["gain_over_random"] = float((gap - rand).mean())
            m["gain_over_random_ci95"] = _boot_ci(gap - rand, args.n_boot, args.seed)
        if name in GRADIENT_METHODS:
            m["randomised_rho"] = float(np.mean([r[name]["randomised_rho"] for r in rs]))
        out["methods"][name] = m
    if "occlusion" in out["methods"]:  # the gradient maps on the occlusion images only
        occ = [r for r in rows if "occlusion" in r]
        out["on_occlusion_images"] = {
            name: float(np.mean([r[name]["insertion"] - r[name]["deletion"] for r in occ]))
            for name in ("gradcam", "gradcam_shown", "layercam", "random", "occlusion")}
        d = np.array([(r["gradcam"]["insertion"] - r["gradcam"]["deletion"])
                      - (r["occlusion"]["insertion"] - r["occlusion"]["deletion"]) for r in occ])
        out["gradcam_minus_occlusion"] = {"mean": float(d.mean()), "ci95": _boot_ci(d, args.n_boot, args.seed)}
    out["rows"] = rows
    out["command"] = getattr(args, "command", None) or "python benchmarks/bench_explanations.py " + " ".join(sys.argv[1:])
    out["loadavg"] = list(os.getloadavg())
    return out


NAMES = {"gradcam": "Grad-CAM (shipped map)", "gradcam_shown": "Grad-CAM as shown (faded at the crop's edge)",
         "layercam": "LayerCAM", "random": "random map (reference)", "occlusion": "occlusion (reference)"}


def table(res: dict[str, Any]) -> str:
    lines = [f"{res['images']} validation images (expert masks; occlusion on {res['occlusion_images']}, "
             f"{res['grid']}×{res['grid']} cells); lesion = {100 * res['lesion_share']:.0f} % of the crop on average",
             "", "| map | deletion ↓ | insertion ↑ | insertion − deletion | gain over random (95 % CI) | "
             "mass in lesion | randomised-model ρ |", "|---|---|---|---|---|---|---|"]
    for name, m in res["methods"].items():
        ci = m.get("gain_over_random_ci95")
        gain = f"{m['gain_over_random']:+.3f} ({ci[0]:+.3f} to {ci[1]:+.3f})" if ci else ""
        rho = f"{m['randomised_rho']:.2f}" if "randomised_rho" in m else ""
        n = "" if m["n"] == res["images"] else f" (n = {m['n']})"
        lines.append(f"| {NAMES[name]}{n} | {m['deletion']:.3f} | {m['insertion']:.3f} | "
                     f"{m['insertion_minus_deletion']:.3f} | {gain} | {100 * m['in_lesion']:.0f} % | {rho} |")
    if "on_occlusion_images" in res:
        o, d = res["on_occlusion_images"], res["gradcam_minus_occlusion"]
        lines += ["", "On the occlusion images only, insertion − deletion: "
                  + ", ".join(f"{NAMES[k]} {v:.3f}" for k, v in o.items())
                  + f"; Grad-CAM minus occlusion, paired: {d['mean']:+.3f} (95 % CI {d['ci95'][0]:+.3f} to "
                  f"{d['ci95'][1]:+.3f})"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--labels", required=True)
    ap.add_argument("--n", type=int, default=100, help="validation images (every k-th)")
    ap.add_argument("--occlusion-n", type=int, default=30, help="of them, how many get the occlusion map")
    ap.add_argument("--grid", type=int, default=8, help="occlusion grid cells per side")
    ap.add_argument("--n-boot", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--table", type=Path)
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--from-json", type=Path, help="only summarise the per-image rows of this results file again")
    args = ap.parse_args(argv)
    if args.from_json:
        old = json.loads(args.from_json.read_text(encoding="utf-8"))
        args.grid, args.command = old["grid"], old["command"]
        res = summarise(old["rows"], args)
        res["loadavg"] = old.get("loadavg")
    else:
        res = run(args)
    summary = {k: v for k, v in res.items() if k != "rows"}
    print(json.dumps(summary, indent=2))
    print(table(res))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    if args.table:
        args.table.write_text(table(res), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
