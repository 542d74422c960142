"""Run a set of training configurations in parallel and tabulate their validation results.

Usage::

    python -m training.experiments --data DIR --out runs/exp --sets table1,ablation,models \\
        --epochs 15 --parallel 9 [-- extra training.train arguments]

Sets (all ``dermsegnet`` at batch 8, lr 1e-3, ASPP rates 3,3,6, weighted Dice loss unless
the set changes it):

- ``table1``: the method's Table 1 grid, batch size 4/8 × learning rate 0.01/0.05;
- ``ablation``: the reference run, ASPP rates 3,6,9, and the Dice + BCE loss;
- ``models``: the pretrained-encoder variant (``litesegnet``) and the U-Net baseline.

Writes ``OUT/results.json`` and ``OUT/results.md`` (best validation Dice per run, per source).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

SETS: dict[str, dict[str, list[str]]] = {
    "table1": {f"grid_b{b}_lr{lr}": ["--batch-size", str(b), "--lr", lr]
               for b in (4, 8) for lr in ("0.01", "0.05")},
    "ablation": {
        "ref_b8_lr1e-3_r336_dice": [],
        "rates_369": ["--aspp-rates", "3,6,9"],
        "loss_dice_bce": ["--loss", "dice_bce"],
    },
    "models": {
        "litesegnet_pretrained": ["--arch", "litesegnet"],
        "unet": ["--arch", "unet"],
    },
}


def collect(out: Path, names: Sequence[str]) -> list[dict]:
    """Read each run's ``summary.json`` into one row (missing runs are marked failed)."""
    rows = []
    for name in names:
        f = out / name / "summary.json"
        if not f.is_file():
            rows.append({"run": name, "status": "failed"})
            continue
        s = json.loads(f.read_text())
        best = s.get("best") or {}
        rows.append({"run": name, "status": "ok", "arch": s["args"]["arch"],
                     "batch": s["args"]["batch_size"], "lr": s["args"]["lr"],
                     "rates": s["args"]["aspp_rates"], "loss": s["args"]["loss"],
                     "epochs_run": s["epochs_run"], "best_epoch": s["best_epoch"],
                     "val_dice": s["best_val_dice"], "val_jaccard": best.get("val_jaccard"),
                     "per_source": {k: v["dice"] for k, v in best.get("per_source", {}).items()},
                     "minutes": s["train_minutes"], "params": s["params"]})
    return rows


def to_markdown(rows: Sequence[dict]) -> str:
    sources = sorted({k for r in rows for k in r.get("per_source", {})})
    head = ["run", "arch", "batch", "lr", "rates", "loss", "epochs", "val Dice", "val Jaccard",
            *[f"Dice {s}" for s in sources], "min"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['run']} | failed |" + " |" * (len(head) - 2))
            continue
        cells = [r["run"], r["arch"], str(r["batch"]), str(r["lr"]),
                 ",".join(map(str, r["rates"])), r["loss"], f"{r['best_epoch']}/{r['epochs_run']}",
                 f"{r['val_dice']:.4f}", f"{r['val_jaccard']:.4f}",
                 *[f"{r['per_source'].get(s, float('nan')):.4f}" for s in sources],
                 f"{r['minutes']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(prog="python -m training.experiments", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--sets", default="table1,ablation,models")
    ap.add_argument("--only", default="", help="comma-separated run names to keep")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--parallel", type=int, default=4)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[str]] = {}
    for s in args.sets.split(","):
        runs.update(SETS[s])
    if args.only:
        runs = {k: v for k, v in runs.items() if k in args.only.split(",")}
    queue = list(runs.items())
    active: list[tuple[str, subprocess.Popen, object]] = []
    t0 = time.perf_counter()
    while queue or active:
        while queue and len(active) < args.parallel:
            name, opts = queue.pop(0)
            (out / name).mkdir(parents=True, exist_ok=True)
            cmd = [sys.executable, "-m", "training.train", "--data", args.data,
                   "--out", str(out / name), "--epochs", str(args.epochs), *extra, *opts]
            fh = open(out / name / "stdout.txt", "w")  # noqa: SIM115
            active.append((name, subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT), fh))
            print(f"[{time.perf_counter() - t0:6.0f} s] start {name}", flush=True)
        for item in list(active):
            if item[1].poll() is not None:
                item[2].close()
                active.remove(item)
                print(f"[{time.perf_counter() - t0:6.0f} s] done {item[0]} rc={item[1].returncode}",
                      flush=True)
        time.sleep(1.0)
    rows = collect(out, list(runs))
    (out / "results.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    md = to_markdown(rows)
    (out / "results.md").write_text(md, encoding="utf-8")
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
