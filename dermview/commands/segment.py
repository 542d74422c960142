"""``dermview segment``: lesion masks for images and folders, written as ISIC-named PNGs."""

from __future__ import annotations

import argparse
import sys
import time

from dermview.commands._common import fraction_arg, start_batch

NAME = "segment"
HELP = "Segment the lesion in images or folders; writes <stem>_segmentation.png (0/255) masks."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR",
                        help="image files and/or folders (their images, not sub-folders)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="output folder (created if missing)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="compute device (default: auto = GPU if available, else CPU)")
    parser.add_argument("--weights", metavar="PT", default=None,
                        help="model weights .pt with its .json beside it (default: bundled model)")
    parser.add_argument("--no-preprocess", action="store_true",
                        help="skip frame and hair removal (default: as the model was trained)")
    parser.add_argument("--threshold", type=fraction_arg, default=None, metavar="T",
                        help="lesion probability threshold 0-1 (default: the model's, 0.5)")
    parser.add_argument("--save-prob", action="store_true",
                        help="also write <stem>_prob.png, the probability map scaled to 0-255")
    parser.add_argument("--no-clean", action="store_true",
                        help="keep every thresholded pixel (default: keep the main lesion, fill holes)")
    parser.add_argument("--sidecar", action="store_true",
                        help="also write <stem>_segmentation.json (provenance: image and model "
                             "SHA-256, threshold, preprocessing) as the desktop app does; "
                             "--out DIR is then a labels folder the app can open")
    parser.add_argument("--csv", metavar="FILE", default=None,
                        help="also write one row per image: id, mask, confidence (estimated "
                             "Jaccard with an expert's outline, 0-1), seconds")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing output files (default: skip those images)")


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from dermview.commands._csv_rows import SegmentCsv
    from dermview.confidence import estimate_jaccard
    from dermview.errors import DermviewError
    from dermview.io import atomic_write_bytes, encode_png, load_image, save_mask
    from dermview.labels import LabelMeta, image_sha256, save_label
    from dermview.model.inference import Segmenter
    from dermview.segmentation import FROM_MODEL, segment_image

    todo, out, report, failed, _ = start_batch(NAME, args.inputs, args.out)
    if not todo:
        print("dermview segment: no images to segment", file=sys.stderr)
        return 1

    seg = Segmenter.load(args.weights, device=args.device)
    rows = SegmentCsv(args.csv) if args.csv else None
    params = None if args.no_preprocess else FROM_MODEL
    done = 0
    t_start = time.perf_counter()
    bar = tqdm(todo, desc="segment", unit="image", file=sys.stderr, disable=None)
    for img in bar:
        mask_path = out / f"{img.stem}_segmentation.png"
        prob_path = out / f"{img.stem}_prob.png"
        json_path = out / f"{img.stem}_segmentation.json"
        targets = [mask_path]
        targets += [prob_path] if args.save_prob else []
        targets += [json_path] if args.sidecar else []
        existing = [p.name for p in targets if p.exists()]
        if existing and not args.overwrite:
            report(str(img), f"{', '.join(existing)} already exists in {out} (use --overwrite)")
            failed += 1
            continue
        try:
            t_img = time.perf_counter()
            rgb = load_image(img)
            res = segment_image(rgb, seg, params=params, threshold=args.threshold,
                                clean=not args.no_clean)
            conf = estimate_jaccard(res.prob, res.mask) if rows is not None or args.sidecar else None
            if args.sidecar:
                meta = LabelMeta(
                    image_sha256=image_sha256(img), image_size=(rgb.shape[1], rgb.shape[0]),
                    model_name=seg.name, model_sha256=seg.weights_sha256,
                    preprocess_params=res.params.to_dict() if res.params else None,
                    threshold=res.threshold, source="model", confidence=conf,
                )
                save_label(img, res.mask, meta, labels_dir=out)
            else:
                save_mask(mask_path, res.mask)
            del rgb
            if args.save_prob:
                prob8 = np.rint(res.prob * np.float32(255)).astype(np.uint8)
                atomic_write_bytes(prob_path, encode_png(prob8))
                del prob8
            del res
            if rows is not None:
                rows.write(img.stem, mask_path, conf, time.perf_counter() - t_img)
            done += 1
        except DermviewError as exc:
            report(str(img), str(exc))
            failed += 1
        except MemoryError:
            report(str(img), "not enough memory for this image")
            failed += 1
        except Exception as exc:  # one odd image must not stop a batch run
            report(str(img), f"unexpected error ({type(exc).__name__}: {exc})")
            failed += 1
    bar.close()
    if rows is not None:
        rows.close()
    elapsed = time.perf_counter() - t_start
    per = f" ({elapsed / done:.2f} s per image)" if done else ""
    print(f"Segmented {done} image(s) into {out} with {seg.name} on {seg.device}{per}"
          + (f"; {failed} skipped" if failed else ""))
    return 1 if failed else 0
