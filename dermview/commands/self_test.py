"""``dermview self-test``: prove on the spot that this installation works.

Checks, in order (each is timed; a failing check does not stop the others):

1. ``weights``: the bundled model's files (``.pt`` and its ONNX export) match the SHA-256
   in their metadata.
2. ``preprocess``: frame and hair removal run on a bundled sample image.
3. ``segment``: the model segments the sample (as it was trained: with or without
   preprocessing) on the engine chosen (``--engine``, default auto: ONNX Runtime on the CPU)
   and the mask agrees with the bundled reference mask
   (``resources/samples/<id>_segmentation.png``) with Dice ≥ ``--min-dice``.
4. ``engine``: the engine in use is the one this installation should use (the packaged app:
   ONNX Runtime, it has no PyTorch); where the other engine is installed too, both give the
   same mask and probabilities within 1e-4 on the sample.
5. ``features``: what the app does besides segmenting, on the sample and its mask: DICOM
   (a secondary capture compressed with JPEG 2000 and JPEG-LS and read back pixel for pixel,
   a DICOM SEG written and read back, the JPEG lossless decoder present), lesion analysis,
   the PDF case report and a Refine click (graph cut).
6. ``gui``: the main window opens and closes (offscreen when there is no display), in a
   second process started first, so that it runs while checks 1-5 do.

Prints one line per check and a verdict; exit status 0 when every check passed, else 1.
Works the same from a source checkout and from the frozen (PyInstaller) app.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dermview.commands._common import fraction_arg
from dermview.wording import counted

NAME = "self-test"
HELP = "Check this installation: model checksum, preprocessing, segmentation of a sample, window."

#: Bundled sample used by default (hairy ISIC 2017 image: exercises hair removal and the model).
DEFAULT_SAMPLE = "ISIC_0000095"
#: Dice of the sample's mask against its reference below which the self-test fails. The
#: bundled default model scores well above it on every sample (see README, packaging).
MIN_DICE = 0.80
#: Largest probability difference allowed between the engines on the sample.
ENGINE_TOLERANCE = 1e-4


@dataclass
class Check:
    """Outcome of one check."""

    name: str
    ok: bool
    detail: str
    seconds: float


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sample", default=DEFAULT_SAMPLE, metavar="ID",
                        help=f"bundled sample to segment, e.g. IMD002 (default: {DEFAULT_SAMPLE})")
    parser.add_argument("--min-dice", type=fraction_arg, default=MIN_DICE, metavar="D",
                        help=f"lowest acceptable Dice against the reference mask (default: {MIN_DICE})")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu",
                        help="compute device for the segmentation check (default: cpu)")
    parser.add_argument("--engine", choices=["auto", "onnx", "torch"], default="auto",
                        help="inference engine for the segmentation check (default: auto)")
    parser.add_argument("--no-gui", action="store_true",
                        help="skip the window check (machines without Qt display libraries)")
    parser.add_argument("--json", metavar="FILE", default=None,
                        help="also write the report as JSON to FILE")
    # Internal: the window check runs in a child process, because Qt aborts the whole process
    # when no platform plugin can start (e.g. missing xcb libraries).
    parser.add_argument("--gui-child", action="store_true", help=argparse.SUPPRESS)


def _run_check(name: str, fn: Callable[[], str]) -> Check:
    t0 = time.perf_counter()
    try:
        detail = fn()
        ok = True
    except Exception as exc:  # a self-test reports every failure instead of stopping
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        detail = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
        if os.environ.get("DERMVIEW_DEBUG"):
            traceback.print_exc()
        ok = False
    return Check(name, ok, detail, time.perf_counter() - t0)


def _sample_files(sample: str) -> tuple[Path, Path]:
    from dermview.errors import DermviewError
    from dermview.io import IMAGE_SUFFIXES
    from dermview.paths import samples_dir

    folder = samples_dir()
    ref = folder / f"{sample}_segmentation.png"
    images = [folder / f"{sample}{s}" for s in IMAGE_SUFFIXES if (folder / f"{sample}{s}").is_file()]
    if not images or not ref.is_file():
        known = sorted(p.name[: -len("_segmentation.png")] for p in folder.glob("*_segmentation.png"))
        raise DermviewError(
            f"Sample {sample!r} (image and reference mask) is not in {folder}; "
            f"bundled samples: {', '.join(known) or 'none'}"
        )
    return images[0], ref


def _gui_platform() -> str:
    """Use the offscreen Qt platform when no display is reachable (sets QT_QPA_PLATFORM)."""
    if not os.environ.get("QT_QPA_PLATFORM") and sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    return os.environ.get("QT_QPA_PLATFORM", "default")


def _check_gui(weights: Path) -> str:
    """Open and close the main window with throwaway settings (the user's are not touched)."""
    import tempfile

    _gui_platform()
    from PySide6 import QtCore, QtWidgets

    from dermview.gui.app import create_main_window

    with tempfile.TemporaryDirectory(prefix="dermview-self-test-") as tmp:
        settings = QtCore.QSettings(str(Path(tmp) / "settings.ini"),
                                    QtCore.QSettings.Format.IniFormat)
        window = create_main_window(weights=str(weights), device="cpu", settings=settings,
                                    recovery_folder=Path(tmp) / "autosave", show=True)
        app = QtWidgets.QApplication.instance()
        app.processEvents()
        shown = window.isVisible()
        title = window.windowTitle()
        window.close()
        app.processEvents()
        window.deleteLater()
        app.processEvents()
        del settings
    if not shown:
        raise RuntimeError("the main window did not become visible")
    return f"main window {title!r} opened and closed (Qt platform: {app.platformName()})"


class SelfTest:
    """The checks, sharing what earlier ones loaded."""

    def __init__(self, sample: str, min_dice: float, device: str, engine: str = "auto"):
        self.sample = sample
        self.min_dice = min_dice
        self.device = device
        self.engine_choice = engine
        self.seg: Any = None
        self.result: Any = None
        self.rgb: Any = None
        self.image_path: Path | None = None
        self.dice: float | None = None
        self.weights_sha256: str | None = None

    def weights(self) -> str:
        from dermview.model.weights import (
            DEFAULT_METADATA,
            DEFAULT_WEIGHTS,
            read_metadata_file,
            read_onnx,
            verify_weights,
        )

        meta = read_metadata_file(DEFAULT_METADATA)
        self.weights_sha256 = meta["sha256"]
        files = []
        if DEFAULT_WEIGHTS.is_file() or "onnx" not in meta:
            verify_weights(DEFAULT_WEIGHTS)
            files.append(DEFAULT_WEIGHTS.name)
        if "onnx" in meta:
            files.append(read_onnx(DEFAULT_METADATA, meta)[0].name)
        name = meta.get("name") or DEFAULT_WEIGHTS.stem
        return f"{' + '.join(files)} ({name}) sha256 {meta['sha256'][:16]}… verified"

    def preprocess(self) -> str:
        from dermview.io import load_image
        from dermview.preprocess import PreprocessParams, preprocess

        image_path, _ = _sample_files(self.sample)
        self.image_path = image_path
        self.rgb = load_image(image_path)
        pre = preprocess(self.rgb, PreprocessParams())
        if pre.image.shape != self.rgb.shape or pre.image.dtype != self.rgb.dtype:
            raise RuntimeError(f"preprocess returned {pre.image.dtype} {pre.image.shape}")
        h, w = self.rgb.shape[:2]
        frame = 100.0 * float(pre.frame_mask.mean())
        return (f"{image_path.name} {w}×{h}: frame {frame:.1f}% of pixels, "
                f"{counted(pre.hair_count, 'hair')}, repair {pre.repair_mode}")

    def segment(self) -> str:
        from dermview.io import load_image, load_mask
        from dermview.metrics import dice
        from dermview.model.inference import Segmenter
        from dermview.segmentation import segment_image

        image_path, ref_path = _sample_files(self.sample)
        rgb = self.rgb if self.rgb is not None else load_image(image_path)
        seg = Segmenter.load(None, device=self.device, engine=self.engine_choice)
        result = segment_image(rgb, seg)
        self.seg, self.result, self.rgb = seg, result, rgb
        ref = load_mask(ref_path, shape=rgb.shape[:2])
        self.dice = float(dice(result.mask, ref))
        pre = "with" if result.params is not None else "without"
        threads = f", {counted(seg.engine.threads, 'thread')}" if seg.device == "cpu" else ""
        msg = (f"{seg.name} on {seg.device} ({seg.engine_name}{threads}), {pre} preprocessing: "
               f"Dice {self.dice:.3f} vs {ref_path.name} (bound {self.min_dice:.2f}), "
               f"model {result.timings.get('predict', 0.0):.2f} s")
        if self.dice < self.min_dice:
            raise RuntimeError(msg)
        return msg

    def engine(self) -> str:
        """The engine in use is the expected one; the other engine (if any) agrees."""
        import numpy as np

        from dermview.model.engines import engine_problems
        from dermview.model.inference import Segmenter
        from dermview.paths import is_frozen
        from dermview.segmentation import segment_image

        if self.seg is None:
            raise RuntimeError("no model was loaded (see the segment check)")
        used = self.seg.engine_name
        if is_frozen() and self.engine_choice == "auto" and used != "onnx":
            raise RuntimeError(f"the packaged app ran {used}, not ONNX Runtime")
        other = "torch" if used == "onnx" else "onnx"
        why_not = engine_problems(self.seg.meta)[other]
        if why_not is not None or self.device != "cpu":
            return f"{used} ({self.seg.engine.file.name}); {other} not compared: " + (
                why_not or "GPU run")
        twin = Segmenter.load(None, device="cpu", engine=other)
        res = segment_image(self.rgb, twin)
        diff = float(np.abs(res.prob - self.result.prob).max())
        same = bool(np.array_equal(res.mask, self.result.mask))
        msg = (f"{used} ({self.seg.engine.file.name}) vs {other}: max probability difference "
               f"{diff:.1e}, masks {'identical' if same else 'DIFFERENT'}")
        if diff > ENGINE_TOLERANCE or not same:
            raise RuntimeError(msg)
        return msg

    def features(self) -> str:
        """DICOM codecs and SEG, analysis, PDF report, refine: the libraries the app needs."""
        import tempfile

        import cv2
        import numpy as np
        import pydicom.uid as uids
        from pydicom.pixels import get_decoder

        from dermview.analysis import analyze_lesion
        from dermview.exchange.dicom_seg import (
            build_secondary_capture,
            read_dicom_seg,
            write_dicom_seg,
        )
        from dermview.interactive import probcut
        from dermview.interactive.prompts import ClickPrompt
        from dermview.io import load_image
        from dermview.report import ReportInfo, write_report

        if self.result is None or self.rgb is None:
            raise RuntimeError("no segmentation to work on (see the segment check)")
        rgb, mask = self.rgb, self.result.mask
        h, w = rgb.shape[:2]
        scale = 160 / max(h, w)
        small = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))),
                           interpolation=cv2.INTER_AREA)
        done = []
        with tempfile.TemporaryDirectory(prefix="dermview-self-test-") as tmp:
            folder = Path(tmp)
            for name, ts in (("JPEG 2000", uids.JPEG2000Lossless),
                             ("JPEG-LS", uids.JPEGLSLossless)):
                sc = build_secondary_capture(small, "0" * 64)
                sc.compress(ts)
                path = folder / f"sc_{ts}.dcm"
                sc.save_as(path, enforce_file_format=True)
                back = load_image(path)
                if not np.array_equal(back, small):
                    raise RuntimeError(f"a {name} DICOM image did not read back exactly")
                done.append(name)
            if "pylibjpeg" not in get_decoder(uids.JPEGLosslessSV1).available_plugins:
                raise RuntimeError("the JPEG lossless DICOM decoder (pylibjpeg-libjpeg) is missing")
            small_mask = cv2.resize(mask.astype(np.uint8), small.shape[1::-1],
                                    interpolation=cv2.INTER_NEAREST).astype(bool)
            cv2.imwrite(str(folder / "img.png"), small[:, :, ::-1])
            seg_file = write_dicom_seg(folder / "img.png", small_mask, folder, rgb=small)[0]
            if not np.array_equal(read_dicom_seg(seg_file)[0], small_mask):
                raise RuntimeError("the DICOM SEG did not read back exactly")
            analysis = analyze_lesion(rgb, mask, 0.02)
            pdf = folder / "report.pdf"
            write_report(pdf, rgb, mask, analysis, ReportInfo(self.image_path.name
                                                              if self.image_path else "sample"))
            if not pdf.read_bytes().startswith(b"%PDF"):
                raise RuntimeError("the PDF report was not written")
            from dermview.report_fonts import STANDARD, report_fonts

            font = report_fonts()[0]
            if font == STANDARD[0]:  # Latin-1 only: "Dr. Łucja" would print as "Dr. ■ucja"
                raise RuntimeError("the PDF report found no TrueType font (not even ReportLab's "
                                   "Vera)")
            pdf_kb = pdf.stat().st_size / 1024
        prep = probcut.prepare(rgb, self.result.prob)
        outside = ~mask if (~mask).any() else np.ones_like(mask)  # "not lesion" there
        rows, cols = np.nonzero(outside)
        click = ClickPrompt(int(rows[rows.size // 2]), int(cols[cols.size // 2]),
                            positive=not (~mask).any())
        refined = probcut.apply(prep, mask, [click])
        if refined.shape != mask.shape or refined.dtype != bool:
            raise RuntimeError(f"refine returned {refined.dtype} {refined.shape}")
        return (f"DICOM {' + '.join(done)} + SEG read back exactly; analysis (area "
                f"{analysis.size.area_px} px); PDF report {pdf_kb:.0f} KB in {font.removeprefix('dermview-')}; "
                f"refine click "
                f"changed {int((refined != mask).sum())} px")


def _gui_command() -> list[str]:
    """Command line that starts this program's ``self-test --gui-child``."""
    from dermview.paths import is_frozen

    if is_frozen():
        return [sys.executable, NAME, "--gui-child"]
    return [sys.executable, "-m", "dermview", NAME, "--gui-child"]


class GuiChild:
    """:func:`_check_gui` in a child process (a Qt abort becomes a readable failure),
    started at once so that it runs while the other checks do; :meth:`result` waits for it.
    ``seconds``: the child's wall time, start to exit (``None`` until it ended)."""

    def __init__(self, timeout: float = 120.0) -> None:
        import subprocess

        _gui_platform()
        self.timeout = timeout
        self.seconds: float | None = None
        self._t0 = time.perf_counter()
        self._proc = subprocess.Popen(_gui_command(), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, env=os.environ.copy())

    def result(self) -> str:
        import subprocess

        try:
            out, err = self._proc.communicate(
                timeout=max(1.0, self.timeout - (time.perf_counter() - self._t0)))
        except subprocess.TimeoutExpired:
            self._proc.kill()
            out, err = self._proc.communicate()
        self.seconds = time.perf_counter() - self._t0
        lines = [ln for ln in out.splitlines() if ln.startswith("GUI-OK ")]
        if self._proc.returncode == 0 and lines:
            return lines[-1][len("GUI-OK "):]
        noise = ("qt.core.", "Got keys", "checking directory", "looking at", "{", "}")
        msgs = [ln.strip() for ln in (err + out).splitlines()
                if ln.strip() and not ln.strip().startswith(noise)]
        hint = next((ln for ln in msgs if "xcb" in ln or "platform plugin" in ln), None)
        why = hint or (msgs[-1] if msgs else f"exit status {self._proc.returncode}")
        raise RuntimeError(
            f"the main window could not open ({why}). On Linux the X11 plugin needs system "
            "libraries (see INSTALL.md); QT_QPA_PLATFORM=offscreen runs without a display"
        )


def _gui_child() -> int:
    from dermview.model.weights import DEFAULT_WEIGHTS

    try:
        print("GUI-OK " + _check_gui(DEFAULT_WEIGHTS), flush=True)
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def run(args: argparse.Namespace) -> int:
    if args.gui_child:
        return _gui_child()
    from dermview import __version__
    from dermview.paths import app_dir, is_frozen, resources_dir

    t0 = time.perf_counter()
    where = f"frozen bundle {app_dir()}" if is_frozen() else f"source {app_dir()}"
    print(f"dermview {__version__} self-test ({where}; {platform.system()} "
          f"{platform.machine()}, Python {platform.python_version()})")
    print(f"  resources: {resources_dir()}")
    st = SelfTest(args.sample, args.min_dice, args.device, args.engine)
    gui = None if args.no_gui else GuiChild()  # a second process: runs alongside the others
    steps: list[tuple[str, Callable[[], str]]] = [
        ("weights", st.weights), ("preprocess", st.preprocess), ("segment", st.segment),
        ("engine", st.engine), ("features", st.features),
    ]
    if gui is not None:
        steps.append(("gui", gui.result))
    checks = []
    for name, fn in steps:
        check = _run_check(name, fn)
        if name == "gui" and gui is not None and gui.seconds is not None:
            check.seconds = gui.seconds  # the window process's own time, not the wait
        checks.append(check)
        mark = " ok " if check.ok else "FAIL"
        print(f"  [{mark}] {name:<10} {check.detail} ({check.seconds:.2f} s)", flush=True)
    total = time.perf_counter() - t0
    passed = sum(c.ok for c in checks)
    ok = passed == len(checks)
    print(f"{'PASS' if ok else 'FAIL'}: {passed}/{len(checks)} checks passed in {total:.1f} s")
    if args.json:
        report = {
            "version": __version__, "frozen": is_frozen(), "app_dir": str(app_dir()),
            "resources": str(resources_dir()), "sample": args.sample,
            "min_dice": args.min_dice, "dice": st.dice, "weights_sha256": st.weights_sha256,
            "engine": st.seg.engine_name if st.seg is not None else None,
            "ok": ok, "seconds": total, "checks": [asdict(c) for c in checks],
        }
        from dermview.io import save_json

        save_json(args.json, report)
    return 0 if ok else 1
