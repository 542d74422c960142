"""``dermview preprocess``: remove the dark frame and hair from images and folders."""

from __future__ import annotations

import argparse
import sys
import time

from dermview.commands._common import fraction_arg, int_arg, start_batch
from dermview.wording import counted, exist

NAME = "preprocess"
HELP = "Remove the dark frame and hair; writes <stem>.png (and the masks with --save-masks)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from dermview.preprocess.params import SE_SHAPES, PreprocessParams

    d = PreprocessParams()
    parser.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR",
                        help="image files and/or folders (their images, not sub-folders)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="output folder (created if missing); inputs are never overwritten")
    parser.add_argument("--hair-threshold", type=int_arg(0, 10_000), default=d.hair_threshold,
                        metavar="T", help=f"more than T hairs → PDE inpainting, else bilinear "
                        f"(default {d.hair_threshold})")
    parser.add_argument("--hair-sensitivity", type=fraction_arg, default=d.hair_sensitivity,
                        metavar="S", help=f"0-1: how faint and thin a hair may be and still be "
                        f"found; 0 = bold hair only (default {d.hair_sensitivity})")
    parser.add_argument("--se-shape", choices=SE_SHAPES, default=d.se_shape,
                        help=f"structuring element of the closing (default {d.se_shape})")
    parser.add_argument("--se-size", type=int_arg(3, 31, odd=True), default=d.se_size,
                        metavar="K", help=f"structuring element size, odd 3-31 px at 512 px "
                        f"(default {d.se_size})")
    parser.add_argument("--frame-threshold", type=int_arg(0, 255), default=d.frame_threshold,
                        metavar="L", help=f"lightness 0-255 below which the border-connected "
                        f"region is frame (default {d.frame_threshold})")
    parser.add_argument("--no-frame", action="store_true", help="do not remove the dark frame")
    parser.add_argument("--no-hair", action="store_true", help="do not remove hair")
    parser.add_argument("--save-masks", action="store_true",
                        help="also write <stem>_frame.png and <stem>_hair.png (0/255)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing output files (default: skip those images)")
    parser.add_argument("--csv", metavar="FILE", default=None,
                        help="also write one row per image: id, image written, hair count N, "
                             "repair (pde / bilinear / none), hair and frame pixels, seconds; an "
                             "existing FILE keeps its rows (without --overwrite)")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from dermview.commands._csv_rows import PREPROCESS_COLUMNS, BatchCsv
    from dermview.errors import DermviewError
    from dermview.io import load_image, save_image, save_mask
    from dermview.preprocess import PreprocessParams, preprocess

    params = PreprocessParams(
        remove_frame=not args.no_frame,
        frame_threshold=args.frame_threshold,
        remove_hair=not args.no_hair,
        hair_threshold=args.hair_threshold,
        hair_sensitivity=args.hair_sensitivity,
        se_shape=args.se_shape,
        se_size=args.se_size,
    )
    images, out, report, failed, inputs = start_batch(NAME, args.inputs, args.out)
    rows = (BatchCsv(args.csv, PREPROCESS_COLUMNS, keep=not args.overwrite)
            if args.csv else None)
    done = 0
    bar = tqdm(images, desc="preprocess", unit="image", file=sys.stderr,
               disable=None if len(images) > 1 else True)
    for img in bar:
        targets = [out / f"{img.stem}.png"]
        if args.save_masks:
            targets += [out / f"{img.stem}_frame.png", out / f"{img.stem}_hair.png"]
        clash = [t.name for t in targets if t.resolve() in inputs]
        if clash:
            report(str(img), f"output {clash[0]} would overwrite an input image; "
                   "choose another --out folder")
            failed += 1
            continue
        existing = [t.name for t in targets if t.exists()]
        if existing and not args.overwrite:  # as segment, export and import: never silently
            report(str(img), f"{exist(existing, out)} (use --overwrite)")
            failed += 1
            continue
        t0 = time.perf_counter()
        try:
            res = preprocess(load_image(img), params)
            save_image(targets[0], res.image)
            if args.save_masks:
                save_mask(targets[1], res.frame_mask)
                save_mask(targets[2], res.hair_mask)
        except DermviewError as exc:
            report(str(img), str(exc))
            failed += 1
            continue
        done += 1
        if rows is not None:
            rows.write_row([img.stem, targets[0].name, res.hair_count, res.repair_mode,
                            int(res.hair_mask.sum()), int(res.frame_mask.sum()),
                            f"{time.perf_counter() - t0:.3f}"])
    if rows is not None:
        rows.close()
    print(f"dermview preprocess: {counted(done, 'image')} written to {out}"
          + (f"; {failed} skipped" if failed else ""), file=sys.stderr)
    return 1 if failed else 0
