"""``dermview segment``: lesion masks for images and folders, written as ISIC-named PNGs."""

from __future__ import annotations

import argparse
import sys
import time

from dermview.commands._common import fraction_arg, int_arg, start_batch
from dermview.wording import counted, exist

NAME = "segment"
HELP = "Segment the lesion in images or folders; writes <stem>_segmentation.png (0/255) masks."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR",
                        help="image files and/or folders (their images, not sub-folders)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="output folder (created if missing)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="compute device (default: auto = GPU if available, else CPU)")
    parser.add_argument("--engine", choices=["auto", "onnx", "torch"], default="auto",
                        help="inference engine (default: auto = ONNX Runtime on the CPU, "
                             "PyTorch on the GPU)")
    parser.add_argument("--jobs", type=int_arg(1, 256), default=None, metavar="N",
                        help="CPU cores to use (default: the cores free now); 1 = one image "
                             "at a time in one thread")
    parser.add_argument("--weights", metavar="PT", default=None,
                        help="model weights .pt with its .json beside it (default: bundled model)")
    parser.add_argument("--no-preprocess", action="store_true",
                        help="skip frame and hair removal (default: as the model was trained)")
    parser.add_argument("--threshold", type=fraction_arg, default=None, metavar="T",
                        help="lesion probability threshold 0-1 (default: the model's, 0.5)")
    parser.add_argument("--tta", choices=["off", "auto", "on"], default="off",
                        help="horizontal-flip test-time augmentation: off (default), auto = "
                             "only for masks whose estimated Jaccard is below 0.8 (about a "
                             "quarter of images, ~1.2x the time), on = every image (~1.7x)")
    parser.add_argument("--save-prob", action="store_true",
                        help="also write <stem>_prob.png, the probability map scaled to 0-255")
    parser.add_argument("--no-clean", action="store_true",
                        help="keep every thresholded pixel (default: keep the main lesion, fill holes)")
    parser.add_argument("--sidecar", action="store_true",
                        help="also write <stem>_segmentation.json (provenance: image and model "
                             "SHA-256, threshold, preprocessing) as the desktop app does; "
                             "--out DIR is then a labels folder the app can open")
    parser.add_argument("--dicom-seg", action="store_true",
                        help="also write <stem>_segmentation.dcm, a DICOM SEG referencing the "
                             "image (a DICOM source, else <stem>_image.dcm written beside it)")
    parser.add_argument("--csv", metavar="FILE", default=None,
                        help="also write one row per image: id, mask, confidence (estimated "
                             "Jaccard with an expert's outline, 0-1), seconds; an existing FILE keeps "
                             "its rows (without --overwrite)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing output files (default: skip those images)")


class _Exists(Exception):
    """An output file exists and --overwrite was not given."""


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from dermview.batch import run_pipeline
    from dermview.commands._csv_rows import BatchCsv
    from dermview.model.inference import Segmenter
    from dermview.segmentation import FROM_MODEL, resolve_params
    from dermview.threads import plan_threads

    todo, out, report, failed, _ = start_batch(NAME, args.inputs, args.out)
    if not todo:
        print("dermview segment: no images to segment", file=sys.stderr)
        return 1

    plan = plan_threads(args.jobs, pipelined=True)
    plan.apply_opencv()
    seg = Segmenter.load(args.weights, device=args.device, engine=args.engine,
                         threads=plan.network)
    params = None if args.no_preprocess else resolve_params(seg, FROM_MODEL)
    rows = BatchCsv(args.csv, keep=not args.overwrite) if args.csv else None
    stages = _Stages(args, out, seg, params, rows)
    bar = tqdm(total=len(todo), desc="segment", unit="image", file=sys.stderr, disable=None)
    problems = [0]

    def on_error(img, exc: BaseException) -> None:
        report(str(img), _problem(exc))
        problems[0] += 1
        bar.update(1)

    from dermview.dicom_preload import needs_dicom, preload_dicom

    if needs_dicom(todo, args.dicom_seg):  # not first imported by two threads at once
        preload_dicom(args.dicom_seg)
    t_start = time.perf_counter()
    run_pipeline(todo, stages.prepare, stages.process, stages.finish, on_error,
                 on_done=lambda _img, _v: bar.update(1), workers=plan.workers, depth=4)
    bar.close()
    if rows is not None:
        rows.close()
    elapsed = time.perf_counter() - t_start
    failed += problems[0]
    done = len(todo) - problems[0]
    per = f" ({elapsed / done:.2f} s per image, {done / elapsed:.1f} images/s)" if done else ""
    threads = f", {counted(seg.engine.threads, 'thread')}" if seg.device == "cpu" else ""
    print(f"Segmented {counted(done, 'image')} into {out} with {seg.name} on {seg.device} "
          f"({seg.engine_name}{threads}){per}" + (f"; {failed} skipped" if failed else ""))
    return 1 if failed else 0


def _problem(exc: BaseException) -> str:
    """One line about a skipped image."""
    from dermview.errors import DermviewError

    if isinstance(exc, (DermviewError, _Exists)):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "not enough memory for this image"
    return f"unexpected error ({type(exc).__name__}: {exc})"


class _Stages:
    """The three stages of one image: prepare (read, frame/hair removal, hash), process (the
    network and the mask: :func:`dermview.segmentation.segment_image`), finish (write)."""

    def __init__(self, args: argparse.Namespace, out, seg, params, rows=None) -> None:
        self.args, self.out, self.seg, self.params = args, out, seg, params
        self.rows = rows  # BatchCsv for --csv, or None
        # image -> seconds its stages took so far (not the waits between them in the queues:
        # the CSV's seconds of an image in a pipelined batch are its own cost)
        self.spent: dict = {}

    def prepare(self, img):
        from dermview.io import load_image
        from dermview.labels import image_sha256, label_paths
        from dermview.prob_maps import prob_map_path

        t0 = time.perf_counter()
        a = self.args
        mask_path, json_path = label_paths(img, self.out)
        targets = [mask_path]
        targets += [prob_map_path(img, self.out)] if a.save_prob else []
        targets += [json_path] if a.sidecar else []
        if a.dicom_seg:
            from dermview.exchange.dicom_seg import dicom_seg_targets

            targets += dicom_seg_targets(img, self.out)
        existing = [p.name for p in targets if p.exists()]
        if existing and not a.overwrite:
            raise _Exists(f"{exist(existing, self.out)} (use --overwrite)")
        rgb = load_image(img)
        pre = None
        if self.params is not None:
            from dermview.preprocess import preprocess

            pre = preprocess(rgb, self.params)
        sha = image_sha256(img) if a.sidecar else None
        self.spent[img] = time.perf_counter() - t0
        return img, rgb, pre, sha

    def process(self, job):
        from dermview.segmentation import segment_image

        t0 = time.perf_counter()
        img, rgb, pre, sha = job
        tta = {"off": False, "auto": "auto", "on": True}[self.args.tta]
        res = segment_image(rgb, self.seg, params=self.params, threshold=self.args.threshold,
                            clean=not self.args.no_clean, preprocessed=pre, tta=tta)
        self.spent[img] = self.spent.get(img, 0.0) + time.perf_counter() - t0
        # The DICOM SEG writer needs the pixels (a secondary capture of a non-DICOM source).
        return img, rgb if self.args.dicom_seg else None, res, sha

    def _extras(self, conf: float | None, tta_applied: bool = False) -> dict:
        """Flat sidecar keys: ``confidence`` (estimated Jaccard), with ``--tta auto|on`` the
        ``tta`` mode and ``tta_applied`` (whether the flipped pass ran) and, for a
        user-trained model, ``model_provenance``
        (:func:`dermview.model.provenance.user_trained_mark`)."""
        from dermview.model.provenance import user_trained_mark

        extras: dict = {} if conf is None else {"confidence": round(conf, 4)}
        mode = self.args.tta
        if mode != "off":
            extras["tta"] = "hflip" if mode == "on" else "hflip_when_unsure"
            extras["tta_applied"] = bool(tta_applied)
        mark = user_trained_mark(self.seg.meta)
        if mark is not None:
            extras["model_provenance"] = mark
        return extras

    def finish(self, job) -> None:
        from dermview.io import save_mask
        from dermview.labels import label_paths, save_label
        from dermview.model_labels import model_label_meta, save_prob_map

        t0 = time.perf_counter()
        img, rgb, res, sha = job
        seg = self.seg
        if self.args.dicom_seg:  # first: the step most likely to refuse an image
            from dermview.exchange.dicom_seg import write_dicom_seg

            write_dicom_seg(img, res.mask, self.out, rgb=rgb, model_name=seg.name,
                            model_sha256=seg.weights_sha256)
        conf = None
        if self.rows is not None or self.args.sidecar:
            from dermview.confidence import estimate_jaccard

            conf = estimate_jaccard(res.prob, res.mask)
        if self.args.sidecar:
            # written flat: "confidence" (estimated Jaccard), read by the worklist and export
            meta = model_label_meta(res, seg, sha, self._extras(conf, res.tta_applied))
            save_label(img, res.mask, meta, labels_dir=self.out)
        else:
            save_mask(label_paths(img, self.out)[0], res.mask)
        if self.args.save_prob:
            save_prob_map(img, res.prob, self.out)
        if self.rows is not None:
            self.rows.write(img.stem, label_paths(img, self.out)[0], conf,
                            self.spent.pop(img, 0.0) + time.perf_counter() - t0)
