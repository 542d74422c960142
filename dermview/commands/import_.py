"""``dermview import``: labels drawn elsewhere (COCO, labelme, DICOM SEG) as dermview labels,
ready for review in the app (sidecar ``source: "imported"``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from dermview.wording import counted

NAME = "import"
HELP = "Import COCO, labelme or DICOM SEG masks as labels of an image folder, for review."

#: (image, its mask when called, where it came from: the sidecar's ``imported_from``)
MaskSource = Iterator[tuple[Path, Callable[[], np.ndarray], dict]]

SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image_dir", metavar="IMAGE_DIR", help="folder of the images labelled")
    parser.add_argument("--labels", metavar="DIR", default=None,
                        help="labels folder to write (default: IMAGE_DIR/labels, as the app)")
    parser.add_argument("--format", required=True, choices=["coco", "labelme", "dicom-seg"],
                        help="the other tool's format: coco (one JSON file of every image), "
                             "labelme (<stem>.json per image) or dicom-seg (DICOM SEG files); "
                             "it says what --from is")
    parser.add_argument("--from", dest="source", required=True, metavar="F",
                        help="coco: the JSON file; labelme: folder of <stem>.json files "
                             "(often IMAGE_DIR); dicom-seg: folder of SEG files, or one")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing labels that differ (the old one is kept in "
                             ".backup/ inside the labels folder)")


def _by_name(images: list[Path], image_dir: Path) -> Callable[[str], Path | None]:
    """Image for a file name as another tool wrote it: relative path, else base name, else
    stem; then the same ignoring case (a tool on Windows or macOS may write ``img_01.JPG`` for
    ``IMG_01.jpg``: the same file there)."""
    rel = {p.relative_to(image_dir).as_posix(): p for p in images}
    base = {p.name: p for p in images}
    stem = {p.stem: p for p in images}
    exact = (rel, base, stem)
    folded: tuple[dict[str, list[Path]], ...] = ({}, {}, {})
    for table, d in zip(folded, exact, strict=True):
        for k, v in d.items():
            table.setdefault(k.casefold(), []).append(v)

    def find(name: str) -> Path | None:
        name = name.replace("\\", "/")
        keys = (name, Path(name).name, Path(name).stem)
        for table, key in zip(exact, keys, strict=True):
            if key in table:
                return table[key]
        for many, key in zip(folded, keys, strict=True):
            found = many.get(key.casefold(), [])
            if len(found) > 1:  # Case.jpg and case.jpg: one was taken at random
                raise AmbiguousName(
                    f"{Path(name).name} matches {' and '.join(p.name for p in found)} only "
                    "by letter case: which one is meant cannot be told (nothing imported)")
            if found:
                return found[0]
        return None

    return find


class AmbiguousName(LookupError):
    """A file name that matches several images of the folder only ignoring letter case."""


#: The exported label attributes kept in the imported label's sidecar (what the source said)
KEPT_ATTRIBUTES = ("review_state", "reviewed_by", "review_comment", "comment", "comment_by", "source",
                   "edited", "model_name", "model_sha256", "confidence")


def _known(attributes: dict) -> dict:
    """The source's verdict and provenance as ``attributes`` (only known keys, plain values):
    an imported label keeps what the exporting tool said of it, as information; it is not a
    verdict given here."""
    kept = {k: v for k, v in attributes.items() if k in KEPT_ATTRIBUTES
            and isinstance(v, (str, int, float, bool))}
    return {"attributes": kept} if kept else {}


def _coco(src: Path, find: Callable[[str], Path | None], report) -> MaskSource:
    from dermview.exchange.coco import read_coco

    labels = read_coco(src)
    for name in labels.file_names:
        try:
            image = find(name)
        except AmbiguousName as exc:
            report(name, str(exc))
            continue
        if image is None:
            report(name, f"listed in {src.name} but not in the image folder")
            continue
        yield image, lambda name=name: labels.mask(name), {
            "format": "coco", "file": src.name, **_known(labels.attributes(name))}


def _labelme(src: Path, find: Callable[[str], Path | None], report) -> MaskSource:
    from dermview.exchange.labelme import read_labelme

    for js in sorted(src.glob("*.json")):
        if js.stem.endswith("_segmentation"):
            continue  # a dermview sidecar, not labelme
        try:
            mask, image_ref, attrs = read_labelme(js)
        except Exception as exc:  # noqa: BLE001 - reported, the others go on
            report(str(js), str(exc))
            continue
        try:
            image = (find(image_ref) if image_ref else None) or find(js.stem)
        except AmbiguousName as exc:
            report(str(js), str(exc))
            continue
        if image is None:
            report(str(js), "no image of that name in the image folder")
            continue
        yield image, lambda mask=mask: mask, {"format": "labelme", "file": js.name,
                                              **_known(attrs)}


def _dicom_seg(src: Path, images: list[Path], report) -> MaskSource:
    from dermview.dicom import is_dicom_file, read_header
    from dermview.errors import ImageReadError
    from dermview.exchange.dicom_seg import read_dicom_seg_attributes, secondary_capture_uid
    from dermview.labels import image_sha256

    by_uid: dict[str, Path] = {}
    for image in images:
        try:
            uid = (str(read_header(image).get("SOPInstanceUID", "")) if is_dicom_file(image)
                   else secondary_capture_uid(image_sha256(image)))
        except (ImageReadError, OSError):
            continue  # an unreadable image is reported when its label is saved, if any
        by_uid[uid] = image
    # the folder of SEG files, or one SEG file (which found nothing: "no labels found")
    for path in [src] if src.is_file() else sorted(src.glob("*.dcm")):
        try:
            if str(read_header(path).get("SOPClassUID", "")) != SEG_SOP_CLASS:
                continue  # images, secondary captures: not segmentations
            mask, uid, attributes = read_dicom_seg_attributes(path)
        except ImageReadError as exc:
            report(str(path), str(exc))
            continue
        if uid not in by_uid:
            report(str(path), "the image it segments (by SOP Instance UID) is not in the folder")
            continue
        yield by_uid[uid], lambda mask=mask: mask, {"format": "dicom-seg", "file": path.name,
                                                     **_known(attributes)}


def _save(image: Path, mask: np.ndarray, labels_dir: Path | None,
          origin: dict | None = None) -> str | None:
    """Save one imported label (an existing one is backed up); a problem text when it is
    skipped."""
    from dermview.io import load_image
    from dermview.labels import LabelMeta, image_sha256, save_label

    h, w = load_image(image).shape[:2]
    if mask.shape != (h, w):
        return (f"the imported mask is {mask.shape[1]}×{mask.shape[0]} pixels but the image "
                f"is {w}×{h}")
    meta = LabelMeta(image_sha256=image_sha256(image), image_size=(w, h), source="imported",
                     extras={"imported_from": origin} if origin else {})
    save_label(image, mask, meta, labels_dir=labels_dir)
    return None


def import_labels(image_dir: Path, fmt: str, src: Path, labels_dir: Path | None = None,
                  overwrite: bool = False, report: Callable[[str, str], None] | None = None,
                  only: set[Path] | None = None, progress: Callable | None = None
                  ) -> tuple[int, int, list[Path]]:
    """Import the masks of ``src`` (``fmt``: ``coco`` JSON file, ``labelme`` folder,
    ``dicom-seg`` folder or file) as labels of the images of ``image_dir`` (into
    ``labels_dir``, default ``IMAGE_DIR/labels`` beside the images), sidecar ``source:
    "imported"``. ``report(name, problem)`` is told of each label skipped; ``only``: import
    for these images only; ``progress``: wraps the iteration (e.g. ``tqdm``). Returns
    ``(imported, skipped, kept)``, ``kept`` the images skipped because they have a label and
    ``overwrite`` is off (counted in ``skipped`` and reported too).

    Raises:
        ImageReadError: ``src`` is missing or not of the format. WriteError: the labels folder
        cannot be made."""
    from dermview.errors import DermviewError, ImageReadError, WriteError
    from dermview.io import list_images
    from dermview.labels import label_paths

    images = list_images(image_dir)
    if fmt != "coco" and not src.exists():  # coco: read_coco says it
        kind = "labelme folder" if fmt == "labelme" else "DICOM SEG file or folder"
        raise ImageReadError(f"--from {src}: no such {kind}")
    where = labels_dir or image_dir / "labels"
    if where.exists() and not where.is_dir():  # once, not once per image
        raise WriteError(f"Cannot create the labels folder {where}: a file of that name is "
                         "in the way (give another folder with --labels)")
    skipped = done = 0

    def count_report(name: str, problem: str) -> None:
        nonlocal skipped
        skipped += 1
        if report is not None:
            report(name, problem)

    find = _by_name(images, image_dir)
    if fmt == "coco":
        pairs = _coco(src, find, count_report)
    elif fmt == "labelme":
        pairs = _labelme(src, find, count_report)
    else:
        pairs = _dicom_seg(src, images, count_report)
    seen: set[Path] = set()
    kept: list[Path] = []
    for image, mask_of, origin in (progress or iter)(pairs):
        if only is not None and image not in only:
            continue
        if image in seen:
            count_report(str(image), "a second label for this image in the input; the first was kept")
            continue
        seen.add(image)
        png = label_paths(image, labels_dir)[0]
        if png.exists() and not overwrite:
            kept.append(image)
            count_report(str(image), f"{png.name} already exists (use --overwrite; the old "
                         "label is backed up)")
            continue
        try:
            problem = _save(image, mask_of(), labels_dir, origin)
        except DermviewError as exc:
            problem = str(exc)
        if problem:
            count_report(str(image), problem)
        else:
            done += 1
    return done, skipped, kept


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from dermview.commands._common import skip_reporter

    image_dir, src = Path(args.image_dir), Path(args.source)
    labels_dir = Path(args.labels) if args.labels else None
    where = labels_dir or image_dir / "labels"
    done, skipped, _ = import_labels(
        image_dir, args.format, src, labels_dir, args.overwrite, skip_reporter(NAME),
        progress=lambda pairs: tqdm(pairs, desc="import", unit="label", file=sys.stderr, disable=None))
    if not done and not skipped:
        print(f"dermview import: no labels found in {src}", file=sys.stderr)
        return 1
    print(f"Imported {counted(done, 'label')} into {where}" + (f"; {skipped} skipped" if skipped else ""))
    return 1 if skipped else 0
