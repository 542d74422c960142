"""``dermview export``: the labels of a folder as COCO, labelme or DICOM SEG."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dermview.wording import counted, exist

NAME = "export"
HELP = ("Export the labels of an image folder: one COCO JSON, labelme JSON per image, or "
        "DICOM SEG per image.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image_dir", metavar="IMAGE_DIR", help="folder of images")
    parser.add_argument("--labels", metavar="DIR", default=None,
                        help="labels folder (default: IMAGE_DIR/labels, as the app saves)")
    parser.add_argument("--format", required=True, choices=["coco", "labelme", "dicom-seg"],
                        help="coco: one JSON file; labelme: <stem>.json per image; dicom-seg: "
                             "<stem>_segmentation.dcm per image (+ <stem>_image.dcm for a "
                             "non-DICOM image)")
    parser.add_argument("--out", required=True, metavar="F",
                        help="coco: the JSON file to write; labelme, dicom-seg: output folder "
                             "(created; labelme's usual place is IMAGE_DIR itself)")
    parser.add_argument("--polygons", action="store_true",
                        help="coco, labelme: write polygons instead of exact masks (lossy: "
                             "holes are dropped)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing output files (default: skip those images)")


def _targets_of(fmt: str, out: Path):
    """The files a labelme / DICOM SEG export of an image writes into ``out``."""
    from dermview.exchange.dicom_seg import dicom_seg_targets
    from dermview.exchange.labelme import labelme_target

    return (lambda image: [labelme_target(image, out)]) if fmt == "labelme" else (
        lambda image: dicom_seg_targets(image, out))


def _export_item(fmt: str, item, out: Path, polygons: bool, overwrite: bool) -> str | None:
    """Write one labelme / DICOM SEG export; a problem text when it is skipped."""
    from dermview.exchange.dicom_seg import write_dicom_seg
    from dermview.exchange.labelme import write_labelme

    meta = item.meta or {}
    targets = _targets_of(fmt, out)(item.image)
    existing = [p.name for p in targets if p.exists()]
    if existing and not overwrite:
        return f"{exist(existing, out)} (use --overwrite)"
    if fmt == "labelme":
        write_labelme(item, out, polygons)
    else:
        model = str(meta.get("model_name") or "") if meta.get("source") == "model" else ""
        write_dicom_seg(item.image, item.mask, out, model_name=model,
                        model_sha256=str(meta.get("model_sha256") or ""),
                        edited=meta.get("edited") is True,
                        reviewer=str(meta.get("reviewed_by") or meta.get("user") or "")
                        if meta.get("review_state") in ("accepted", "corrected") else "",
                        comment=str(meta.get("review_comment") or ""),
                        comment_by=str(meta.get("comment_by") or ""))
    return None


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from dermview.commands._common import make_output_dir, skip_reporter
    from dermview.errors import DermviewError, ImageReadError, WriteError
    from dermview.exchange.coco import write_coco
    from dermview.exchange.labelset import distinct_targets, labelled_images
    from dermview.io import list_images

    image_dir = Path(args.image_dir)
    images = list_images(image_dir)
    labels_dir = Path(args.labels) if args.labels else None
    if labels_dir is not None and not labels_dir.is_dir():
        raise ImageReadError(f"--labels {labels_dir}: no such folder")
    report = skip_reporter(NAME)
    skipped = 0

    def count_report(name: str, problem: str) -> None:
        nonlocal skipped
        skipped += 1
        report(name, problem)

    bar = tqdm(images, desc="export", unit="image", file=sys.stderr, disable=None)
    items = labelled_images(bar, labels_dir, count_report)
    out = Path(args.out)
    if args.format == "coco":
        if out.is_dir():
            raise WriteError(f"--out {out} is a folder; COCO export writes one JSON file")
        if out.exists() and not args.overwrite:
            raise WriteError(f"{out} already exists (use --overwrite)")
        make_output_dir(out.parent)  # as labelme's and DICOM SEG's --out folders are made
        done = write_coco(items, image_dir, out, polygons=args.polygons)
    else:
        folder = make_output_dir(out)
        done = 0
        for item in distinct_targets(items, _targets_of(args.format, folder), count_report):
            try:
                problem = _export_item(args.format, item, folder, args.polygons, args.overwrite)
            except DermviewError as exc:
                problem = str(exc)
            if problem:
                count_report(str(item.image), problem)
            else:
                done += 1
    bar.close()
    if not done:
        print(f"dermview export: nothing exported to {out}: {counted(skipped, 'label')} skipped (above)"
              if skipped else f"dermview export: no labels to export in {image_dir}",
              file=sys.stderr)
        return 1
    print(f"Exported {counted(done, 'label')} from {image_dir} as {args.format} to {out}"
          + (f"; {skipped} skipped" if skipped else ""))
    return 1 if skipped else 0
