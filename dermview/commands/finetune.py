"""``dermview finetune``: a new model from the labels saved for a folder of images."""

from __future__ import annotations

import argparse
import shlex
import sys

NAME = "finetune"
HELP = ("Fine-tune the segmentation model on the labels saved for a folder of images; "
        "writes NEW.pt + NEW.json and reports base vs new on held-out labels.")


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.5 <= value <= 24 * 60:
        raise argparse.ArgumentTypeError(f"must be 0.5-1440 minutes, got {value:g}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image_dir", metavar="IMAGE_DIR", help="folder of the labelled images")
    parser.add_argument("--labels", metavar="DIR", default=None,
                        help="labels folder (default: IMAGE_DIR/labels, where the app saves)")
    parser.add_argument("--base", metavar="WEIGHTS", default=None,
                        help="model to start from, .pt with its .json (default: bundled model)")
    parser.add_argument("--out", required=True, metavar="NEW.pt",
                        help="new weights file (its metadata goes to NEW.json beside it)")
    parser.add_argument("--time-limit", type=_minutes, default=10.0, metavar="MIN",
                        help="wall-clock limit of the whole run in minutes (default 10)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="training device (default: auto = GPU if available, else CPU)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace NEW.pt / NEW.json if they exist")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from dermview.finetune import FinetuneSettings, finetune

    bar = tqdm(total=0, desc="finetune", unit="step", file=sys.stderr, disable=None,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {n}/{total} [{elapsed}<{remaining}]")

    def progress(done: int, total: int, phase: str) -> None:
        if bar.total != total:
            bar.total = total
        bar.set_description_str(f"finetune: {phase}", refresh=False)
        bar.update(done - bar.n)

    try:
        report = finetune(args.image_dir, args.out, labels_dir=args.labels, base=args.base,
                          settings=FinetuneSettings(time_limit_min=args.time_limit),
                          device=args.device, overwrite=args.overwrite, progress=progress,
                          command="dermview finetune " + shlex.join(sys.argv[2:]))
    finally:
        bar.close()
    ft = report.meta["finetune"]
    print(f"Wrote {report.out} (+ .json) in {report.seconds / 60:.1f} min: "
          f"{len(ft['labels'])} labels, {ft['holdout']['scheme']} scoring on "
          f"{report.new_scores['n']} held-out corrected labels.")
    print(report.verdict)
    return 0 if report.improved else 1
