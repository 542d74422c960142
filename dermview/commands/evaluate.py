"""``dermview evaluate``: score predicted masks against ground-truth masks, paired by name."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dermview.paths import LABEL_SUFFIX
from dermview.prob_maps import PROB_SUFFIX
from dermview.wording import counted

NAME = "evaluate"
HELP = ("Compare predicted masks with ground-truth masks (paired by file name): Dice, Jaccard, "
        "thresholded Jaccard, accuracy, sensitivity, specificity, boundary error.")

#: File types read as masks.
MASK_SUFFIXES = (".png", ".bmp", ".tif", ".tiff")
LABEL_TAG = LABEL_SUFFIX


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pred_dir", metavar="PRED_DIR",
                        help="folder of predicted masks: <stem>_segmentation.png (a folder "
                             "holding any such file: only those count), else <stem>.png")
    parser.add_argument("gt_dir", metavar="GT_DIR",
                        help="folder of ground-truth masks <stem>_segmentation.png (other files, "
                             "e.g. the images, are ignored)")
    parser.add_argument("--json", metavar="FILE", default=None,
                        help="write macro averages, per-image scores and problems as JSON")
    parser.add_argument("--csv", metavar="FILE", default=None,
                        help="write one row of scores per image as CSV")


def index_masks(folder: Path, role: str) -> dict[str, Path]:
    """Map image stem → mask file in ``folder``.

    A folder holding any ``<stem>_segmentation.<png|bmp|tif>`` file is read as a label folder:
    only those files count (so images stored beside them are ignored). Otherwise every mask
    file ``<stem>.<png|bmp|tif>`` counts, except probability maps ``<stem>_prob.png``.
    """
    from dermview.errors import DermviewError

    if not folder.is_dir():
        raise DermviewError(f"The {role} folder {folder} does not exist or is not a folder")
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and p.suffix.lower() in MASK_SUFFIXES
                   and not p.name.startswith("."))
    labelled = {p.stem[: -len(LABEL_TAG)]: p for p in files if p.stem.endswith(LABEL_TAG)}
    if labelled:
        return labelled
    return {p.stem: p for p in files if not p.stem.endswith(PROB_SUFFIX)}


def _names(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... and {len(items) - limit} more" if len(items) > limit else "")


def _have(items: list, noun: str) -> str:
    """``"1 prediction has"`` / ``"3 predictions have"``."""
    return f"{counted(len(items), noun)} {'has' if len(items) == 1 else 'have'}"


def run(args: argparse.Namespace) -> int:
    import csv
    import io

    import numpy as np

    from dermview.errors import DermviewError
    from dermview.io import atomic_write_bytes, load_mask, save_json
    from dermview.metrics import LOWER_IS_BETTER, METRIC_NAMES, evaluate_masks, macro_average

    pred_dir, gt_dir = Path(args.pred_dir), Path(args.gt_dir)
    preds = index_masks(pred_dir, "prediction")
    gts = index_masks(gt_dir, "ground-truth")
    stems = sorted(set(preds) & set(gts))
    missing_pred = sorted(set(gts) - set(preds))
    missing_gt = sorted(set(preds) - set(gts))
    if not stems:
        raise DermviewError(
            f"No prediction in {pred_dir} ({counted(len(preds), 'mask file')}) matches a ground-truth "
            f"mask in {gt_dir} ({len(gts)}) by name; expected <stem>_segmentation.png in both"
        )

    def warn(text: str) -> None:
        print(f"dermview evaluate: {text}", file=sys.stderr)

    rows: list[dict] = []
    failed: list[dict[str, str]] = []
    for stem in stems:
        try:
            gt = load_mask(gts[stem])
            pred = load_mask(preds[stem])
            if pred.shape != gt.shape:
                raise DermviewError(
                    f"prediction {preds[stem].name} is {pred.shape[1]}×{pred.shape[0]} px but "
                    f"ground truth {gts[stem].name} is {gt.shape[1]}×{gt.shape[0]} px"
                )
            scores = evaluate_masks(pred, gt)
        except DermviewError as exc:
            warn(f"skipped {stem}: {exc}")
            failed.append({"id": stem, "error": str(exc)})
            continue
        rows.append({"id": stem, "prediction": preds[stem].name, "ground_truth": gts[stem].name,
                     **scores})

    if missing_pred:
        warn(f"{_have(missing_pred, 'ground-truth mask')} no prediction (not scored): "
             f"{_names(missing_pred)}")
    if missing_gt:
        warn(f"{_have(missing_gt, 'prediction')} no ground truth (ignored): {_names(missing_gt)}")

    mean = macro_average([{k: r[k] for k in METRIC_NAMES} for r in rows])
    print(f"Evaluated {counted(len(rows), 'image pair')} ({pred_dir} vs {gt_dir})"
          + (f"; {len(failed)} failed" if failed else ""))
    if rows:
        # "worst": the lowest score, the largest boundary distance, and on which image
        print(f"{'metric':<22}{'mean':>9}{'median':>9}{'worst':>9}  worst image")
        for k in METRIC_NAMES:
            vals = np.array([r[k] for r in rows], dtype=np.float64)
            i = int(np.argmax(vals) if k in LOWER_IS_BETTER else np.argmin(vals))
            print(f"{k:<22}{mean[k]:>9.4f}{np.median(vals):>9.4f}{vals[i]:>9.4f}  {rows[i]['id']}")

    if args.csv:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=["id", "prediction", "ground_truth",
                                                 *METRIC_NAMES], lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in r.items()})
        atomic_write_bytes(args.csv, buf.getvalue().encode("utf-8"))
    if args.json:
        save_json(args.json, {
            "pred_dir": str(pred_dir), "gt_dir": str(gt_dir),
            "n_images": len(rows), "mean": mean, "per_image": rows,
            "missing_prediction": missing_pred, "missing_ground_truth": missing_gt,
            "failed": failed,
        })
    return 1 if (failed or missing_pred or not rows) else 0
