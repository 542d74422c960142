"""Frozen-encoder feature levers of the lesion classifier, measured by cross-validation on the
training split (the validation split is reported once per final candidate, never searched).

Step 1 (``extract``): for one input recipe (``--size``, ``--crop`` lesion / tight / whole) the
ImageNet EfficientNet-Lite0 runs once per image and view (0 = the inference crop, 1 = its
mirror, 2 = vertical flip, 3 = transpose) and the spatial mean, standard deviation and maximum
of the outputs of blocks :data:`LEVER_TAPS` and of the 1280-channel head are cached as float16
``(N, 4, D)`` in ``--cache-dir``. ``--colour-constancy`` (:data:`dermview.model.colour_constancy.
METHODS`, default ``none``) corrects each whole image before it is cropped; the cache file
names the method (:func:`cache_path`). Step 2 (``cv``): multinomial logistic regression on
standardised features (class-weighted loss, L2 chosen per recipe from a grid), ``--folds``-fold
stratified cross-validation on the training images, pooled out-of-fold AUCs with bootstrap
intervals, written to ``--json``.

    OMP_NUM_THREADS=1 nice -n 19 python -m training.classifier_levers extract --data DIR \\
        --labels CSV --size 224 --crop lesion
    OMP_NUM_THREADS=1 nice -n 19 python -m training.classifier_levers cv --data DIR \\
        --labels CSV --json docs/results/classifier_levers.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dermview.io import load_image, load_mask
from dermview.model.classifier import lesion_crop, normalise_array, whole_crop
from dermview.model.colour_constancy import METHODS as COLOUR_CONSTANCY
from dermview.model.colour_constancy import colour_constancy
from dermview.model.nets import IMAGENET_MEAN, IMAGENET_STD, efficientnet_lite
from training.classifier_data import labelled_split

#: Blocks of EfficientNet-Lite0 whose outputs are pooled (last block of the 40, 80, 112, 192
#: and 320-channel stages); other encoders: :func:`lever_taps` (the same stages).
LEVER_TAPS = (4, 7, 10, 14, 15)
#: Encoders of ``extract --encoder`` (all ImageNet EfficientNet-Lite, frozen).
ENCODERS = ("lite0", "lite1", "lite2")
#: Crop policies: (margin, min_side) of :func:`dermview.model.classifier.lesion_crop`;
#: ``whole`` = the whole image reflect-padded to a square.
CROPS = {"lesion": (0.2, 0.2), "tight": (0.05, 0.1), "wide": (0.6, 0.3)}
N_VIEWS = 4


def lever_taps(encoder: str = "lite0") -> tuple[int, ...]:
    """Block indices of ``encoder`` pooled by :class:`TapEncoder`: the last block of each
    stage from the third (40-channel in Lite0) on; ``(4, 7, 10, 14, 15)`` for Lite0."""
    outs = [b._block_args.output_filters for b in efficientnet_lite(encoder, False)._blocks]
    ends = [i for i in range(len(outs)) if i == len(outs) - 1 or outs[i] != outs[i + 1]]
    return tuple(ends[2:])


class TapEncoder(nn.Module):
    """EfficientNet-Lite ``encoder`` (frozen, ImageNet) → per tap (:func:`lever_taps`)
    ``[mean, std, max]`` pooled over space, concatenated tap by tap; ``(N, 3, S, S)`` →
    ``(N, 3 · (sum of tap channels + 1280))``."""

    def __init__(self, encoder: str = "lite0") -> None:
        super().__init__()
        self.enc = efficientnet_lite(encoder, True).eval()
        self.taps = lever_taps(encoder)
        self.act = nn.ReLU6()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.enc
        y = self.act(e._bn0(e._conv_stem(x)))
        maps = []
        for i, block in enumerate(e._blocks):
            y = block(y)
            if i in self.taps:
                maps.append(y)
        maps.append(self.act(e._bn1(e._conv_head(y))))
        out = []
        for m in maps:
            out += [m.mean(dim=(2, 3)), (m.var(dim=(2, 3), unbiased=False) + 1e-6).sqrt(),
                    m.amax(dim=(2, 3))]
        return torch.cat(out, dim=1)


def tap_slices(encoder: str = "lite0") -> dict[str, slice]:
    """Column ranges of :class:`TapEncoder` features: ``"<tap>_<stat>"`` → slice; ``<tap>``
    is the Lite0 block index of the same stage (:data:`LEVER_TAPS`) for every encoder."""
    enc = efficientnet_lite(encoder, False)
    chans = [enc._blocks[t]._block_args.output_filters for t in lever_taps(encoder)] + [1280]
    names = [str(t) for t in LEVER_TAPS] + ["head"]
    out, o = {}, 0
    for n, c in zip(names, chans, strict=True):
        for s in ("mean", "std", "max"):
            out[f"{n}_{s}"] = slice(o, o + c)
            o += c
    return out


def onnx_runner(size: int, threads: int = 1, encoder: str = "lite0") -> Any:
    """:class:`TapEncoder` exported to ONNX at ``size`` px, run by ONNX Runtime on the CPU
    (about 3× faster than eager torch on one thread): float32 ``(N, 3, S, S)`` → features."""
    import tempfile
    import warnings

    import onnxruntime as ort

    path = Path(tempfile.mkdtemp()) / f"taps_{encoder}_{size}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(TapEncoder(encoder).eval(), (torch.zeros(1, 3, size, size),), str(path),
                          input_names=["input"], output_names=["z"], opset_version=17,
                          dynamo=False, dynamic_axes={"input": {0: "n"}, "z": {0: "n"}})
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return lambda x: sess.run(None, {"input": x})[0]


def views(crop: np.ndarray) -> list[np.ndarray]:
    """The :data:`N_VIEWS` views of a crop: itself, mirror, vertical flip, transpose."""
    return [crop, crop[:, ::-1], crop[::-1], crop.transpose(1, 0, 2)]


def extract(pairs: Sequence[Any], size: int, crop: str, batch: int = 32,
            log: Any = print, encoder: str = "lite0", colour: str = "none") -> np.ndarray:
    """Features float16 ``(N, N_VIEWS, D)`` of ``pairs`` for one input recipe; ``colour``:
    the colour constancy applied to each whole image first
    (:func:`dermview.model.colour_constancy.colour_constancy`)."""
    run = onnx_runner(size, encoder=encoder)
    out = []
    t0 = time.perf_counter()
    buf: list[np.ndarray] = []

    def flush() -> None:
        out.append(run(normalise_array(np.stack(buf), IMAGENET_MEAN, IMAGENET_STD))
                   .astype(np.float16))
        buf.clear()

    for i, p in enumerate(pairs):
        rgb = colour_constancy(load_image(p.image), colour)
        if crop == "whole":
            c = whole_crop(rgb, size)
        else:
            mask = load_mask(p.mask, shape=rgb.shape[:2]).astype(bool)
            c, _ = lesion_crop(rgb, mask, size, *CROPS[crop])
        buf += [np.ascontiguousarray(v) for v in views(c)]
        if len(buf) >= batch * N_VIEWS:
            flush()
        if (i + 1) % 200 == 0:
            log(f"  {i + 1}/{len(pairs)} ({time.perf_counter() - t0:.0f} s)")
    if buf:
        flush()
    z = np.concatenate(out)
    return z.reshape(len(pairs), N_VIEWS, -1)


#: Cache-name tags of the colour-constancy methods (``none``: no tag, the original names).
COLOUR_TAGS = {"none": "", "shades_of_gray": "_sog6", "gray_world": "_grayworld",
               "shades_of_gray_gamma": "_sog6g22"}


def cache_path(cache_dir: str | Path, size: int, crop: str, split: str,
               encoder: str = "lite0", colour: str = "none") -> Path:
    """``levers_[<encoder>_]<crop>_<size>[<colour tag>]_<split>.npy`` in ``cache_dir``
    (Lite0 and no colour constancy: no tag)."""
    enc = "" if encoder == "lite0" else f"{encoder}_"
    return Path(cache_dir) / f"levers_{enc}{crop}_{size}{COLOUR_TAGS[colour]}_{split}.npy"


def fit_logreg(x: np.ndarray, y: np.ndarray, l2: float, iters: int = 100,
               balance: bool = True, init: tuple[np.ndarray, np.ndarray] | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression (L-BFGS, class-balanced loss unless ``balance`` is
    False, ``l2 · |W|²`` per sample mean) on float64 ``(N, D)`` standardised ``x``, starting
    from ``init`` (default zeros); returns ``(W (D, 3), b (3,))``."""
    xt = torch.from_numpy(np.asarray(x, np.float32))
    yt = torch.from_numpy(y)
    counts = np.bincount(y, minlength=3).astype(np.float32)
    weight = torch.tensor(len(y) / (3 * np.maximum(counts, 1)) if balance
                          else np.ones(3, np.float32))
    if init is None:
        w = torch.zeros(x.shape[1], 3, requires_grad=True)
        b = torch.zeros(3, requires_grad=True)
    else:
        w = torch.tensor(init[0], dtype=torch.float32, requires_grad=True)
        b = torch.tensor(init[1], dtype=torch.float32, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=iters, history_size=20,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-6)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = nn.functional.cross_entropy(xt @ w + b, yt, weight=weight) + l2 * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy().astype(np.float64), b.detach().numpy().astype(np.float64)


def standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and 1/std of ``(N, D)`` features."""
    x = np.asarray(x, np.float64)
    return x.mean(0), 1.0 / (x.std(0) + 1e-6)


def cv_logits(z: np.ndarray, y: np.ndarray, l2: float, folds: int, seed: int,
              train_views: str, test_views: str) -> np.ndarray:
    """Out-of-fold logits ``(N, 3)`` of logistic regression on ``z`` ``(N, V, D)``.

    ``train_views``: ``first`` (view 0), ``mean`` (views averaged) or ``all`` (each view a
    sample); ``test_views``: ``first``, ``flip`` (views 0 and 1 averaged) or ``mean``."""
    from training.classifier_fit import stratified_folds

    fold = stratified_folds(y, folds, seed)
    out = np.zeros((len(y), 3))
    for f in range(folds):
        tr, te = fold != f, fold == f
        xtr, ytr = train_matrix(z[tr], y[tr], train_views)
        mu, inv = standardiser(xtr)
        w, b = fit_logreg((xtr - mu) * inv, ytr, l2)
        out[te] = (test_matrix(z[te], test_views) - mu) * inv @ w + b
    return out


def train_matrix(z: np.ndarray, y: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    z = np.asarray(z, np.float32)
    if mode == "first":
        return z[:, 0], y
    if mode == "mean":
        return z.mean(1), y
    return z.reshape(-1, z.shape[-1]), np.repeat(y, z.shape[1])


def test_matrix(z: np.ndarray, mode: str) -> np.ndarray:
    z = np.asarray(z, np.float32)
    return {"first": z[:, 0], "flip": z[:, :2].mean(1), "mean": z.mean(1)}[mode]


def select(z: np.ndarray, parts: Sequence[str], encoder: str = "lite0") -> np.ndarray:
    """Columns of the named ``"<tap>_<stat>"`` parts (see :func:`tap_slices`)."""
    sl = tap_slices(encoder)
    return np.concatenate([z[..., sl[p]] for p in parts], axis=-1)


#: Feature parts: the shipped descriptor, + max pooling, + the 40-channel block and the head.
PARTS = {
    "ship": [f"{t}_{s}" for s in ("mean", "std") for t in (7, 10, 14, 15)],
    "ship+max": [f"{t}_{s}" for s in ("mean", "std", "max") for t in (7, 10, 14, 15)],
    "all": [f"{t}_{s}" for s in ("mean", "std", "max") for t in (*LEVER_TAPS, "head")],
}

#: Candidates: (name, [(size, crop), ...] concatenated, parts, train views, test views).
CANDIDATES: list[tuple[str, list[tuple[int, str]], str, str, str]] = [
    ("160 lesion, shipped descriptor", [(160, "lesion")], "ship", "first", "first"),
    ("160 lesion, shipped descriptor, 4-view train", [(160, "lesion")], "ship", "all", "first"),
    ("224 lesion, shipped descriptor, 4-view train", [(224, "lesion")], "ship", "all", "first"),
    ("224 lesion, + max, 4-view train", [(224, "lesion")], "ship+max", "all", "first"),
    ("160 lesion + 160 whole, shipped descriptor, 4-view train",
     [(160, "lesion"), (160, "whole")], "ship", "all", "first"),
]
L2S = (0.03, 0.1, 0.3)


def load_features(cache_dir: str | Path, recipes: Sequence[Sequence[Any]], parts: str,
                  split: str) -> np.ndarray | None:
    """Concatenated cached features ``(N, V, D)`` of the recipes
    ``(size, crop[, encoder[, colour constancy]])`` (None when one is missing)."""
    zs = []
    for size, crop, *rest in recipes:
        encoder = rest[0] if rest else "lite0"
        colour = rest[1] if len(rest) > 1 else "none"
        path = cache_path(cache_dir, size, crop, split, encoder, colour)
        if not path.is_file():
            return None
        zs.append(select(np.load(path, mmap_mode="r"), PARTS[parts], encoder))
    return np.concatenate(zs, axis=-1)


def run_cv(args: argparse.Namespace) -> dict[str, Any]:
    """Cross-validate every candidate with cached features; ``--json`` gets the results."""
    from training.classifier_eval import summarise

    y = np.load(Path(args.cache_dir) / "levers_labels_train.npy")
    results = []
    for name, recipes, parts, trv, tev in CANDIDATES:
        if args.only and not any(o in name for o in args.only):
            continue
        z = load_features(args.cache_dir, recipes, parts, "train")
        if z is None:
            print(f"skip (no features): {name}", flush=True)
            continue
        t0 = time.perf_counter()
        per_l2 = []
        for l2 in L2S:
            lg = cv_logits(z, y, l2, args.folds, args.seed, trv, tev)
            m = summarise(_softmax(lg), y, n_boot=0)
            per_l2.append({"l2": l2, "auc_melanoma": m["auc_melanoma"]["auc"],
                           "auc_seborrheic_keratosis": m["auc_seborrheic_keratosis"]["auc"],
                           "auc_mean_mel_sk": m["auc_mean_mel_sk"]})
        best = max(per_l2, key=lambda r: r["auc_mean_mel_sk"])
        lg = cv_logits(z, y, best["l2"], args.folds, args.seed, trv, tev)
        m = summarise(_softmax(lg), y, n_boot=1000, seed=args.seed)
        res = {"name": name, "recipes": recipes, "parts": parts, "train_views": trv,
               "test_views": tev, "n_features": int(z.shape[-1]), "l2": best["l2"],
               "per_l2": per_l2, "cv_auc_melanoma": m["auc_melanoma"],
               "cv_auc_seborrheic_keratosis": m["auc_seborrheic_keratosis"],
               "cv_auc_mean_mel_sk": m["auc_mean_mel_sk"], "seconds": time.perf_counter() - t0}
        results.append(res)
        print(f"{name}: l2 {best['l2']:g} cv mel {m['auc_melanoma']['auc']:.4f} sk "
              f"{m['auc_seborrheic_keratosis']['auc']:.4f} ({res['seconds']:.0f} s)", flush=True)
    out = {"folds": args.folds, "seed": args.seed, "score": "pooled out-of-fold AUCs on the "
           "training split (L2 per candidate chosen by the same CV)", "results": results,
           "loadavg": list(__import__("os").getloadavg())}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")
    return out


def fit_candidate(args: argparse.Namespace) -> dict[str, Any]:
    """Train the final head of candidate ``--candidate`` (its CV-chosen L2 from ``--cv-json``)
    on all training images, check the cached features against the shipped torch encoder, and
    write weights + metadata + ONNX through :func:`training.train_classifier.finish` (the
    temperature and the one validation report come from the cached validation views 0 and 1)."""
    from dermview.io import load_image as _load
    from dermview.model.classifier_net import STATS, LesionEncoder, LesionHead, LiteClassifier
    from training.train_classifier import finish

    t0 = time.perf_counter()
    cv = json.loads(Path(args.cv_json).read_text(encoding="utf-8"))
    res = next(r for r in cv["results"] if r["name"] == args.candidate)
    if "members" in res:  # a result of training.classifier_levers_more
        res = more_as_levers(res, cv)
    balance = res.get("balance", "loss")
    recipes = [tuple(r) for r in res["recipes"]]
    size = recipes[0][0]
    crop = recipes[0][1]
    names = [c for _, c in recipes]
    if crop not in CROPS or any(s_ != size for s_, _ in recipes) or \
            any(c != "whole" for c in names[1:]):
        raise SystemExit("fit: a lesion crop first, then whole images, all at one size")
    parts = PARTS[res["parts"]]
    taps = tuple(sorted({int(p.split("_")[0]) for p in parts if p[0].isdigit()}))
    stats = tuple(st for st in STATS if any(p.endswith("_" + st) for p in parts))
    use_head = any(p.startswith("head_") for p in parts)
    y_tr = np.load(Path(args.cache_dir) / "levers_labels_train.npy")
    y_va = np.load(Path(args.cache_dir) / "levers_labels_val.npy")
    z_tr = load_features(args.cache_dir, recipes, res["parts"], "train")
    z_va = load_features(args.cache_dir, recipes, res["parts"], "val")
    xtr, ytr = train_matrix(z_tr, y_tr, res["train_views"])
    mu, inv = standardiser(xtr)
    # one logistic regression per member (group of recipes); their logits are averaged, which
    # is one linear layer on all the columns
    width = z_tr.shape[-1] // len(recipes)
    groups = res.get("groups", [list(range(len(recipes)))])
    w, b = np.zeros((z_tr.shape[-1], 3)), np.zeros(3)
    for g in groups:
        cols = np.concatenate([np.arange(k * width, (k + 1) * width) for k in g])
        wg, bg = fit_logreg((xtr[:, cols] - mu[cols]) * inv[cols], ytr, res["l2"],
                            balance=balance == "loss")
        w[cols] += wg / len(groups)
        b += bg / len(groups)
    head = LesionHead(w.shape[0])
    with torch.no_grad():
        head.shift.copy_(torch.from_numpy(mu).float())
        head.scale.copy_(torch.from_numpy(inv).float())
        head.fc.weight.copy_(torch.from_numpy(w.T).float())
        head.fc.bias.copy_(torch.from_numpy(b).float())
    encoder = LesionEncoder(pretrained=True, taps=taps, head=use_head, stats=stats)
    model = LiteClassifier(encoder, head.eval(), len(recipes)).eval()
    # the cached (ONNX, float16) descriptors must be the shipped encoder's
    _, _, val_p, _ = labelled_split(args.data, args.labels)
    crops = []
    for p in val_p[:8]:
        rgb = _load(p.image)
        c, _ = lesion_crop(rgb, load_mask(p.mask, shape=rgb.shape[:2]).astype(bool), size,
                           *CROPS[crop])
        crops.append([c] + [whole_crop(rgb, size) for _ in names[1:]])
    with torch.no_grad():
        ref = np.concatenate([encoder(torch.from_numpy(normalise_array(
            np.stack([c[k] for c in crops]), IMAGENET_MEAN, IMAGENET_STD))).numpy()
            for k in range(len(recipes))], axis=1)
    err = float(np.abs(ref - z_va[:8, 0].astype(np.float32)).max() / (np.abs(ref).max() + 1e-9))
    if err > 5e-3:
        raise SystemExit(f"cached features differ from the encoder's (relative {err:.2e})")
    raw = np.stack([(test_matrix(z_va[:, [v]], "first") - mu) * inv @ w + b for v in (0, 1)],
                   axis=1)
    fa = argparse.Namespace(out=args.out, tta="hflip" if res["test_views"] == "flip" else "none",
                            seed=args.seed, dropout=0.0, size=size, views=N_VIEWS, lr=0.0,
                            batch_size=0, val_fraction=0.15, no_onnx=False,
                            name=f"lesion-classifier-{size}px", save_weights=args.save_weights,
                            margin=CROPS[crop][0], min_side=CROPS[crop][1],
                            crops=["lesion"] + names[1:],
                            command="python -m training.classifier_levers "
                            + __import__("shlex").join(__import__("sys").argv[1:]))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    info = {"train_images": len(y_tr), "val_images": len(y_va), "world_size": 1,
            "device": "cpu", "recipe": "levers", "candidate": res,
            "cv": {"folds": cv["folds"], "score": cv["score"], "file": args.cv_json},
            "chosen": {"candidate": res["name"], "l2": res["l2"], "balance": balance},
            "feature_check_rel_err": err,
            "train_minutes_total": (time.perf_counter() - t0) / 60}
    summary = finish(fa, model, raw, y_va, [], info)
    print(json.dumps({k: summary[k] for k in ("calibration",)}), flush=True)
    v = summary["val"]
    print(f"val mel {v['auc_melanoma']['auc']:.4f} sk {v['auc_seborrheic_keratosis']['auc']:.4f}",
          flush=True)
    return summary


def more_as_levers(res: dict[str, Any], cv: dict[str, Any]) -> dict[str, Any]:
    """A ``classifier_levers_more`` result as a ``cv`` result of this module (``recipes``,
    ``parts``, views, ``balance``): one logistic regression on Lite0 blocks of one part set."""
    flat = [b for m in res["members"] for b in m]
    blocks = [cv["blocks"][b] for b in flat]
    opts = res.get("options", {})
    if len(set(flat)) != len(flat) or any(b is None for b in blocks) or opts.get("pca") or \
            opts.get("cue_gain") or len({b["parts"] for b in blocks}) != 1 or \
            any(b["recipe"][2] != "lite0" for b in blocks):
        raise SystemExit(f"fit: {res['name']!r} is not logistic regression on Lite0 features "
                         "of one part set (not shippable by this step)")
    if any(len(b["recipe"]) > 3 and b["recipe"][3] != "none" for b in blocks):
        raise SystemExit(f"fit: {res['name']!r} needs colour constancy, which the shipped "
                         "classifier does not apply (not shippable by this step)")
    groups, k = [], 0
    for m in res["members"]:
        groups.append(list(range(k, k + len(m))))
        k += len(m)
    return {**res, "recipes": [b["recipe"][:2] for b in blocks], "parts": blocks[0]["parts"],
            "train_views": "all", "test_views": "first", "groups": groups,
            "balance": opts.get("balance", "loss")}


def _softmax(lg: np.ndarray) -> np.ndarray:
    e = np.exp(lg - lg.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m training.classifier_levers", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=["extract", "cv", "fit"])
    ap.add_argument("--candidate", default="", help="fit: the candidate's name")
    ap.add_argument("--cv-json", default="docs/results/classifier_levers.json")
    ap.add_argument("--out", default="runs/clf_levers")
    ap.add_argument("--save-weights", default="")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default="")
    ap.add_argument("--only", nargs="*", default=[], help="candidates whose name contains one")
    ap.add_argument("--data", required=True)
    ap.add_argument("--labels", required=True)
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--crop", default="lesion", choices=[*CROPS, "whole"])
    ap.add_argument("--encoder", default="lite0", choices=ENCODERS)
    ap.add_argument("--colour-constancy", default="none", choices=COLOUR_CONSTANCY,
                    help="extract: correct each image's colour first (default none)")
    ap.add_argument("--cache-dir", default=".cache/classifier")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.step == "cv":
        run_cv(args)
        return
    if args.step == "fit":
        fit_candidate(args)
        return
    train_p, y_tr, val_p, y_va = labelled_split(args.data, args.labels)
    for split, pairs in (("train", train_p), ("val", val_p)):
        path = cache_path(args.cache_dir, args.size, args.crop, split, args.encoder,
                          args.colour_constancy)
        if path.is_file():
            continue
        t0 = time.perf_counter()
        z = extract(pairs, args.size, args.crop, encoder=args.encoder,
                    colour=args.colour_constancy)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, z)
        print(f"{split}: {z.shape} in {time.perf_counter() - t0:.0f} s -> {path}", flush=True)
    np.save(Path(args.cache_dir) / "levers_labels_train.npy", y_tr)
    np.save(Path(args.cache_dir) / "levers_labels_val.npy", y_va)
    print(json.dumps({"size": args.size, "crop": args.crop, "encoder": args.encoder,
                      "colour_constancy": args.colour_constancy}))


if __name__ == "__main__":
    main()
