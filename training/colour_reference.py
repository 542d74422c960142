"""The reference colour statistics of ``dermview finetune``'s per-image colour standardisation
(:class:`dermview.model.blocks.ColourStandardise`): the mean over training images of each
image's per-channel mean and standard deviation, in the shipped model's normalised input space
(preprocessed as it was trained, resized to its input).

    python -m training.colour_reference --data /work/shared/data/derm --json docs/results/finetune_colour_reference.json

Images: ``--n`` drawn with ``--seed`` from the training split of ``training.data.split_pairs``
(never the validation images the benchmarks score). The values are copied into
``dermview.finetune.engine.COLOUR_REF``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    import numpy as np
    import torch

    from dermview.finetune.engine import network_images
    from dermview.finetune.train import normalise
    from dermview.model.inference import Segmenter
    from training.data import read_pairs, split_pairs

    torch.set_num_threads(1)
    seg = Segmenter.load(None, "cpu", engine="torch")
    train, _ = split_pairs(read_pairs(args.data))
    pick = np.random.default_rng(args.seed).choice(len(train), args.n, replace=False)
    ref = [train[i] for i in pick]
    x = normalise(seg, network_images([p.image for p in ref], seg))
    mean = x.mean((2, 3)).mean(0).tolist()
    std = x.std((2, 3)).mean(0).tolist()
    res = {"command": "python -m training.colour_reference " + " ".join(sys.argv[1:]),
           "model": seg.name, "model_sha256": seg.weights_sha256, "n": args.n,
           "seed": args.seed, "sources": sorted({p.source for p in ref}),
           "colour_ref": [round(v, 4) for v in mean + std]}
    print(json.dumps(res, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
