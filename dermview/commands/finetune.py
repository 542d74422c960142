"""``dermview finetune``: a new model from the labels saved for a folder of images."""

from __future__ import annotations

import argparse
import json
import shlex
import sys

NAME = "finetune"
HELP = ("Fine-tune the segmentation model on the labels saved for a folder of images; "
        "writes NEW.pt + NEW.json and reports base vs new on held-out labels.")
EPILOG = ("Exit status: 0 when the new model scored better than the base on the held-out labels; "
          "1 when it did not (it is written all the same and marked not better in NEW.json, to be "
          "looked at or deleted; the app's Improve dialog does not offer it); 2 on an error (no model "
          "is left half-written).")


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.5 <= value <= 24 * 60:
        raise argparse.ArgumentTypeError(f"must be 0.5-1440 minutes, got {value:g}")
    return value


def _steps(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more steps, got {value}")
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
    parser.add_argument("--max-steps", type=_steps, default=None, metavar="N",
                        help="train the pyramid + decoder (encoder frozen) for at most N "
                             "steps per run (fewer when the time "
                             "limit says so); default 0: the new model is the base with "
                             "per-image colour standardisation, no gradient training (measured "
                             "best, see the README)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace NEW.pt / NEW.json if they exist")
    parser.add_argument("--progress-json", action="store_true",
                        help="report progress and the result as JSON lines on stdout "
                             "(for the desktop app) instead of a progress bar")


def _settings(cls: type, args: argparse.Namespace):
    extra = {"max_steps": args.max_steps, "min_steps": min(5, args.max_steps)} \
        if args.max_steps is not None else {}
    return cls(time_limit_min=args.time_limit, **extra)


def _json_line(obj: dict) -> None:
    print(json.dumps(obj, default=str), flush=True)


def run(args: argparse.Namespace) -> int:
    from dermview.finetune import unavailable

    why = unavailable()
    if why is not None:  # the packaged app: one line, not an ImportError's traceback
        print(f"dermview finetune: {why}", file=sys.stderr)
        return 2
    from tqdm import tqdm

    from dermview.finetune import FinetuneSettings, finetune

    bar = tqdm(total=0, desc="finetune", unit="step", file=sys.stderr,
               disable=True if args.progress_json else None,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {n}/{total} [{elapsed}<{remaining}]")

    phases: list[str] = []

    def progress(done: int, total: int, phase: str) -> None:
        if args.progress_json:
            _json_line({"event": "progress", "done": done, "total": total, "phase": phase})
            return
        if bar.disable:  # stderr is a log file, not a terminal: one line per phase
            if not phases or phases[-1] != phase:
                phases.append(phase)
                count = f" ({done}/{total})" if total else ""  # no count yet: not "(0/0)"
                print(f"finetune: {phase}{count}", file=sys.stderr, flush=True)
            return
        if bar.total != total:
            bar.total = total
        bar.set_description_str(f"finetune: {phase}", refresh=False)
        bar.update(done - bar.n)

    try:
        report = finetune(args.image_dir, args.out, labels_dir=args.labels, base=args.base,
                          settings=_settings(FinetuneSettings, args),
                          device=args.device, overwrite=args.overwrite, progress=progress,
                          command="dermview finetune " + shlex.join(sys.argv[2:]))
    finally:
        bar.close()
    ft = report.meta["finetune"]
    if args.progress_json:
        _json_line({"event": "done", "out": str(report.out), "improved": report.improved,
                    "verdict": report.verdict, "base": report.base_scores,
                    "new": report.new_scores, "labels": len(ft["labels"]),
                    "scheme": ft["holdout"]["scheme"], "seconds": round(report.seconds, 1)})
        return 0 if report.improved else 1
    onnx = report.meta.get("onnx") or {}
    beside = ", ".join([report.out.with_suffix(".json").name]
                       + ([str(onnx["file"])] if onnx.get("file") else []))
    print(f"Wrote {report.out} (+ {beside}) in {report.seconds / 60:.1f} min: "
          f"{len(ft['labels'])} labels; scored on {report.new_scores['n']} held-out corrected or imported labels "
          f"({ft['holdout']['scheme']}).")
    print(report.verdict)
    return 0 if report.improved else 1
