"""``dermview analyze``: size in px/mm and the dermoscopic A, B, C criteria of each lesion,
one CSV row per image (optionally JSON with the geometry, and a PDF case report each)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dermview.wording import counted

NAME = "analyze"
HELP = ("Measure each lesion (area, diameters; mm with --mm-per-px) and assess asymmetry, border "
        "and colours; writes one CSV row per image.")

#: The CSV's leading columns, in order; every other column of the rows follows them.
LEADING_COLUMNS: tuple[str, ...] = (
    "id", "area_px", "area_mm2", "diameter_px", "diameter_mm", "asymmetry", "border_score",
    "color_white", "color_red", "color_light_brown", "color_dark_brown", "color_blue_gray",
    "color_black", "n_colors",
)

#: Extra column providers: name → ``f(context) -> dict of columns``; ``context`` holds
#: ``rgb``, ``mask``, ``analysis``, ``path``, ``mask_source`` and ``classifier`` (the lesion
#: classifier, loaded once per run). Other analyses add their columns here.
ColumnProvider = Callable[[dict[str, Any]], dict[str, Any]]


def _probabilities(context: dict[str, Any]) -> dict[str, Any]:
    """``p_melanoma``, ``p_seborrheic_keratosis``, ``p_nevus`` (calibrated, sum 1) of the
    bundled lesion classifier (:func:`dermview.model.classifier.probability_columns`)."""
    from dermview.model.classifier import probability_columns

    return probability_columns(context["rgb"], context["mask"], classifier=context["classifier"])


EXTRA_COLUMNS: dict[str, ColumnProvider] = {"probabilities": _probabilities}


def _scale_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (value > 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number of mm per pixel, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR",
                        help="image files and/or folders (their images, not sub-folders)")
    parser.add_argument("--masks", metavar="DIR", default=None,
                        help="folder of lesion masks <stem>_segmentation.png (default: segment "
                             "each image with the bundled model)")
    parser.add_argument("--mm-per-px", type=_scale_arg, default=None, metavar="F",
                        help="image scale in mm per pixel (default: a DICOM file's own Pixel "
                             "Spacing, else unknown: sizes stay in px)")
    parser.add_argument("--csv", required=True, metavar="FILE", help="CSV file to write")
    parser.add_argument("--json", metavar="FILE", default=None,
                        help="also write every analysis with its geometry (axes, diameters) as JSON")
    parser.add_argument("--report", metavar="DIR", default=None,
                        help="also write a one-page PDF case report <stem>_report.pdf per image")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="compute device for segmenting without --masks (default: auto)")
    parser.add_argument("--weights", metavar="PT", default=None,
                        help="segmentation weights without --masks (default: bundled model)")
    parser.add_argument("--classifier", metavar="PT", default=None,
                        help="lesion classifier weights for the p_* columns (default: bundled)")


def build_row(stem: str, context: dict[str, Any], seconds: float) -> dict[str, Any]:
    """One CSV row: ``id``, the analysis columns, the extra providers' columns, ``seconds``."""
    row: dict[str, Any] = {"id": stem, **context["analysis"].to_dict()}
    for provider in EXTRA_COLUMNS.values():
        row.update(provider(context))
    row["mask_source"] = context["mask_source"]
    row["seconds"] = round(seconds, 4)
    return row


def csv_text(rows: list[dict[str, Any]]) -> str:
    """Rows as CSV text: LEADING_COLUMNS first, then the others in first-seen order; ``None``
    as an empty cell, floats with 6 significant digits."""
    import csv
    import io

    columns = list(LEADING_COLUMNS)
    for row in rows:
        columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else (f"{v:.6g}" if isinstance(v, float) else v)
                         for k, v in row.items()})
    return buf.getvalue()


class _Masks:
    """Where the masks come from: a folder (``--masks``) or the bundled segmenter."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.folder = Path(args.masks) if args.masks else None
        self.segmenter = None
        self._last_meta: tuple[Path | None, dict | None] = (None, None)  # of mask_for
        if self.folder is not None:
            if not self.folder.is_dir():
                from dermview.errors import DermviewError

                raise DermviewError(f"The masks folder {self.folder} does not exist or is not a folder")
        else:
            from dermview.model.inference import Segmenter

            self.segmenter = Segmenter.load(args.weights, device=args.device)

    @property
    def source(self) -> str:
        return "file" if self.segmenter is None else f"model:{self.segmenter.name}"

    def describe(self) -> str:
        if self.segmenter is None:
            return f"masks from {self.folder}"
        from dermview.model.provenance import describe_model, user_trained_mark

        seg = self.segmenter
        # the report's row is "Segmentation model": it read "model litesegnet-… (SHA-256 …)"
        return describe_model(seg.name, seg.weights_sha256, user_trained_mark(seg.meta))

    def label_fields(self, img: Path) -> dict[str, str]:
        """The report's model and review lines of a mask from ``--masks``, as its sidecar says
        them (trial S17B: it said "masks from study/labels" and "not reviewed (batch
        analysis)" of a label the sidecar names the model and the reviewer of); {} for the
        segmenter's masks."""
        if self.segmenter is not None:
            return {}
        from dermview.exchange.labelset import imported_from_text
        from dermview.label_status import label_source
        from dermview.labels import read_label_meta
        from dermview.model.provenance import describe_model

        last, meta = self._last_meta
        meta = meta if last == img else read_label_meta(img, self.folder)
        source = label_source(meta)
        meta = meta or {}
        where = f"label from {self.folder}"
        if source == "model" and meta.get("model_name"):
            model = (describe_model(str(meta["model_name"]), str(meta.get("model_sha256") or ""))
                     + (", corrected by hand" if meta.get("edited") is True else "")
                     + f"; {where}")
        elif source == "imported":
            model = f"no model (a mask brought {imported_from_text(meta or None)}); {where}"
        else:
            model = f"no model (manual mask); {where}" if source == "manual" else \
                f"masks from {self.folder}"
        state = str(meta.get("review_state") or "not reviewed")
        reviewer = str(meta.get("reviewed_by") or meta.get("user") or "")
        comment = str(meta.get("review_comment") or "")
        by = str(meta.get("comment_by") or "")
        return {"model": model, "review_state": state, "reviewer": reviewer,
                "comment": f"{comment} ({by})" if comment and by and by != reviewer else comment,
                "label_saved": str(meta.get("modified") or "")}

    def preprocessing(self) -> str:
        """What was done to the image before the model (the analysis uses the image as read)."""
        if self.segmenter is None:
            return "none (masks from files)"
        params = self.segmenter.preprocess_params()
        if params is None:
            return "none"
        return "before segmenting: " + params.describe()

    def mask_for(self, img: Path, rgb):
        from dermview.errors import ImageReadError
        from dermview.io import load_mask

        if self.segmenter is None:
            from dermview.labels import is_rejected, read_label_meta

            path = self.folder / f"{img.stem}_segmentation.png"
            if not path.is_file():
                raise ImageReadError(f"no mask {path.name} in {self.folder}")
            meta = read_label_meta(img, self.folder)
            self._last_meta = (img, meta)  # the report's, next (not read twice)
            if is_rejected(meta):
                raise ImageReadError(f"{path.name} was rejected by the reviewer (wrong, to be "
                                     "redone): not measured")
            return load_mask(path, shape=rgb.shape[:2])
        from dermview.segmentation import FROM_MODEL, segment_image

        return segment_image(rgb, self.segmenter, params=FROM_MODEL).mask


def _report(folder: Path, img: Path, rgb, mask, analysis, masks: _Masks,
            row: dict, classifier=None, scale_source: str = "") -> None:
    from dermview import __version__
    from dermview.labels import utc_now
    from dermview.model.classifier import PROB_KEYS
    from dermview.report import ReportInfo, classifier_lines, classifier_model_text, write_report

    probs = {k: row[k] for k in PROB_KEYS if k in row}
    model = "" if classifier is None else classifier_model_text(
        str(classifier.meta.get("name") or classifier.path.stem),
        str(classifier.meta.get("sha256", "")), classifier.temperature)
    fields = {"model": masks.describe(), "review_state": "not reviewed (batch analysis)",
              **masks.label_fields(img)}
    info = ReportInfo(image_name=img.name, date=utc_now(), preprocessing=masks.preprocessing(),
                      app_version=__version__,
                      extra=classifier_lines(probs, model) if len(probs) == len(PROB_KEYS) else (),
                      scale_source=scale_source, **fields)
    write_report(folder / f"{img.stem}_report.pdf", rgb, mask, analysis, info)


def _note_saved_labels(images: list[Path]) -> None:
    """Without ``--masks`` every image is segmented anew: say so when the images have labels
    saved by the app (reviewed or corrected masks in ``<folder>/labels``), which are then not
    the ones measured."""
    from dermview.labels import label_paths
    from dermview.wording import counted

    folders: dict[Path, int] = {}
    for img in images:
        png = label_paths(img)[0]
        if png.is_file():
            folders[png.parent] = folders.get(png.parent, 0) + 1
    for labels_dir, n in folders.items():
        print(f"dermview analyze: note: {labels_dir} holds {counted(n, 'saved label')} of these "
              f"images; they are not used (each image is segmented anew). To measure them: "
              f"--masks {labels_dir}", file=sys.stderr)


def _units(n_rows: int, n_scaled: int, given: bool) -> str:
    """The summary line's units: mm (``--mm-per-px`` or the DICOM files' Pixel Spacing), px,
    or both with the counts."""
    if given:
        return "mm"
    if n_scaled == 0:
        return "px (no scale given)"
    if n_scaled == n_rows:
        return "mm (from the DICOM files' pixel spacing)"
    return (f"mm for {counted(n_scaled, 'image')} with a DICOM pixel spacing, px for "
            f"{n_rows - n_scaled} (no scale given)")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from dermview.commands._common import make_output_dir, start_batch
    from dermview.io import atomic_write_bytes, save_json

    for out in (args.json, args.csv):
        if out:
            make_output_dir(Path(out).parent)
    todo, folder, report, failed, _ = start_batch(NAME, args.inputs,
                                                  args.report or Path(args.csv).parent)
    if not todo:
        print("dermview analyze: no images to analyse", file=sys.stderr)
        return 1
    pdf_dir = folder if args.report else None
    if args.masks is None:
        _note_saved_labels(todo)
    masks = _Masks(args)
    from dermview.model.classifier import Classifier

    classifier = Classifier.load(args.classifier, device=args.device)  # once per run
    rows, details = [], []
    bar = tqdm(todo, desc="analyze", unit="image", file=sys.stderr, disable=None)
    try:
        failed, scaled = _measure(bar, args, masks, classifier, pdf_dir, report, rows, details,
                                  failed)
    except KeyboardInterrupt:
        # the images measured keep their rows (their reports were written as they went)
        bar.close()
        atomic_write_bytes(args.csv, csv_text(rows).encode("utf-8"))
        if args.json:
            save_json(args.json, details)
        print(f"dermview analyze: interrupted after {counted(len(rows), 'image')} of "
              f"{len(todo)}: their rows are in {args.csv}", file=sys.stderr)
        return 130
    # written even with no row: "Analysed 0 images into FILE" must not leave an earlier
    # run's rows there to be read as this run's
    atomic_write_bytes(args.csv, csv_text(rows).encode("utf-8"))
    if args.json:
        save_json(args.json, details)
    units = _units(len(rows), scaled, args.mm_per_px is not None)
    print(f"Analysed {counted(len(rows), 'image')} into {args.csv}; sizes in {units}"
          + (f"; {failed} skipped" if failed else ""))
    return 1 if failed else 0


def _measure(bar, args: argparse.Namespace, masks: _Masks, classifier, pdf_dir: Path | None,
             report, rows: list, details: list, failed: int) -> tuple[int, int]:
    """Measure each image of ``bar`` into ``rows`` / ``details`` (and its report); returns
    ``(failed, images measured in mm)``."""
    from tqdm import tqdm

    from dermview.analysis import analyze_lesion
    from dermview.errors import DermviewError
    from dermview.io import load_image_info

    scaled = 0
    for img in bar:
        t0 = time.perf_counter()
        try:
            rgb, info = load_image_info(img)
            mask = masks.mask_for(img, rgb)
            mm_per_px = args.mm_per_px if args.mm_per_px is not None else info.mm_per_px
            if args.mm_per_px is None and info.scale_problem:
                tqdm.write(f"{img}: sizes in px: {info.scale_problem}", file=sys.stderr)
            analysis = analyze_lesion(rgb, mask, mm_per_px=mm_per_px)
            scaled += mm_per_px is not None
            ctx = {"rgb": rgb, "mask": mask, "analysis": analysis, "path": img,
                   "mask_source": masks.source, "classifier": classifier}
            rows.append(build_row(img.stem, ctx, time.perf_counter() - t0))
            if args.json:
                details.append({"id": img.stem, **analysis.to_json()})
            if pdf_dir is not None:
                _report(pdf_dir, img, rgb, mask, analysis, masks, rows[-1], classifier,
                        "given with --mm-per-px" if args.mm_per_px is not None else
                        "from the image's DICOM pixel spacing" if mm_per_px is not None else "")
        except DermviewError as exc:
            report(str(img), str(exc))
            failed += 1
        except MemoryError:
            report(str(img), "not enough memory for this image")
            failed += 1
    return failed, scaled
