"""The bad-input matrix (issue 6): every strange input, through every door.

Each case is run against ``dermview.io``, the CLI in-process (``preprocess``, ``segment``,
``evaluate``) and, for a few, the CLI in a subprocess (what a user sees). For each: a clear,
specific message (asserted), no traceback, no partial output file, an existing label left
intact; valid but unusual images are processed, not refused.

``python tests/test_bad_inputs.py`` prints the matrix (input → behaviour → message) as a
Markdown table, from real runs of :func:`dermview.io.load_image` (see docs/reliability.md).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from _dicom import dataset as dicom_dataset
from _dicom import dicom_bytes, to_bytes
from _encode import cv_bytes, pil_bytes
from PIL import Image
from pydicom.encaps import encapsulate

from dermview import io as dio
from dermview.cli import main
from dermview.errors import DermviewError, ImageReadError, ImageTooLargeError, MaskError

REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- file makers




def _skin(h: int = 48, w: int = 64) -> np.ndarray:
    """A small skin-like RGB image with a darker central blob (a 'lesion')."""
    rr, cc = np.mgrid[0:h, 0:w]
    img = np.empty((h, w, 3), np.uint8)
    img[...] = (205, 160, 140)
    blob = ((rr - h / 2) / (h / 4)) ** 2 + ((cc - w / 2) / (w / 4)) ** 2 < 1
    img[blob] = (120, 80, 60)
    return img


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb_png() -> bytes:
    """About 1 KB; its header claims 30000×30000 RGB (2.7 GB decoded)."""
    rows = (b"\x00" + b"\x00" * 90000) * 2
    return (b"\x89PNG\r\n\x1a\n"
            + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0))
            + _png_chunk(b"IDAT", zlib.compress(rows, 9)) + _png_chunk(b"IEND", b""))


def _exif_rotated() -> bytes:
    img = Image.fromarray(_skin(20, 40))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    return pil_bytes(img, "JPEG", quality=95, exif=exif.tobytes())


def _jpeg() -> bytes:
    return pil_bytes(Image.fromarray(_skin()), "JPEG", quality=90)


def _png() -> bytes:
    rng = np.random.default_rng(3)
    return pil_bytes(Image.fromarray(rng.integers(0, 256, (48, 64, 3), np.uint8)), "PNG")


def _palette_transparent() -> bytes:
    img = Image.fromarray(_skin()).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    return pil_bytes(img, "PNG", transparency=0)


def _dicom_no_pixels() -> bytes:
    ds = dicom_dataset(_skin())
    del ds.PixelData
    return to_bytes(ds)


def _dicom_mpeg2() -> bytes:
    """A file whose transfer syntax (MPEG2 video) no installed pixel handler decodes."""
    ds = dicom_dataset(_skin())
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"
    ds.PixelData = encapsulate([b"\x00\x00\x01\xb3" + bytes(200)])
    ds["PixelData"].VR = "OB"
    return to_bytes(ds)


def _dicom_frames() -> bytes:
    ds = dicom_dataset(np.concatenate([_skin()] * 3))
    ds.Rows, ds.NumberOfFrames = 48, 3
    return to_bytes(ds)


@dataclass(frozen=True)
class Case:
    """One input file and what must happen to it.

    ``error`` is the exception ``load_image`` raises (``None``: a valid image), ``words``
    must appear in the message, ``shape`` is the expected ``(H, W)`` of a valid image.
    """

    id: str
    filename: str
    make: Callable[[], bytes]
    behaviour: str
    error: type[DermviewError] | None = None
    words: tuple[str, ...] = ()
    shape: tuple[int, int] | None = None


IMAGE_CASES = [
    Case("zero-byte", "empty.jpg", lambda: b"", "refused",
         ImageReadError, ("empty.jpg", "empty (0 bytes)")),
    Case("truncated-jpeg", "cut_jpeg.jpg", lambda: _jpeg()[: len(_jpeg()) // 2], "refused",
         ImageReadError, ("cut_jpeg.jpg", "truncated")),
    Case("truncated-png", "cut_png.png", lambda: _png()[: len(_png()) // 2], "refused",
         ImageReadError, ("cut_png.png", "truncated")),
    Case("random-bytes-jpg", "noise.jpg", lambda: np.random.default_rng(5).bytes(3000), "refused",
         ImageReadError, ("noise.jpg", "not a readable image")),
    Case("text-as-png", "notes.png", lambda: b"Lesion notes, left forearm.\n" * 20, "refused",
         ImageReadError, ("notes.png", "not a readable image")),
    Case("bomb-30000x30000", "bomb.png", _bomb_png, "refused before decoding",
         ImageTooLargeError, ("bomb.png", "30000×30000", "limit is 80 MP")),
    Case("16bit-png-grey", "g16.png",
         lambda: cv_bytes(".png", (_skin()[:, :, 0].astype(np.uint16) * 257)), "read, scaled 0-65535 → 0-255",
         shape=(48, 64)),
    Case("16bit-png-rgb", "rgb16.png",
         lambda: cv_bytes(".png", _skin()[:, :, ::-1].astype(np.uint16) * 257), "read, scaled, rounded",
         shape=(48, 64)),
    Case("16bit-tiff-grey", "g16_tiff.tif",
         lambda: cv_bytes(".tif", (_skin()[:, :, 0].astype(np.uint16) * 257)), "read, scaled",
         shape=(48, 64)),
    Case("16bit-tiff-rgb", "rgb16_tiff.tif",
         lambda: cv_bytes(".tif", _skin()[:, :, ::-1].astype(np.uint16) * 257), "read, scaled, rounded",
         shape=(48, 64)),
    Case("grayscale", "grey.png", lambda: pil_bytes(Image.fromarray(_skin()[:, :, 0]), "PNG"),
         "read, grey copied to R, G, B", shape=(48, 64)),
    Case("palette", "palette.png",
         lambda: pil_bytes(Image.fromarray(_skin()).convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
         "read via the palette", shape=(48, 64)),
    Case("palette-transparency", "palette_t.png", _palette_transparent,
         "read, transparent on white", shape=(48, 64)),
    Case("rgba", "rgba.png",
         lambda: pil_bytes(Image.fromarray(np.dstack([_skin(), np.full((48, 64), 200, np.uint8)]), "RGBA"), "PNG"),
         "read, composited on white", shape=(48, 64)),
    Case("cmyk-jpeg", "cmyk.jpg", lambda: pil_bytes(Image.fromarray(_skin()).convert("CMYK"), "JPEG"),
         "read, CMYK → RGB", shape=(48, 64)),
    Case("bmp-32bit-zero-alpha", "opencv.bmp",
         lambda: cv_bytes(".bmp", np.dstack([_skin()[:, :, ::-1], np.zeros((48, 64), np.uint8)])),
         "read, unused alpha ignored", shape=(48, 64)),
    Case("exif-rotated-jpeg", "rotated.jpg", _exif_rotated, "read, orientation applied",
         shape=(40, 20)),
    Case("1x1", "one.png", lambda: pil_bytes(Image.new("RGB", (1, 1), (90, 60, 50)), "PNG"),
         "read", shape=(1, 1)),
    Case("strip-20000x8", "strip.png", lambda: pil_bytes(Image.new("RGB", (20000, 8), (200, 150, 140)), "PNG"),
         "read", shape=(8, 20000)),
    Case("non-ascii-space-path", "dossier é/lésion 1 病变.jpg", _jpeg, "read", shape=(48, 64)),
    Case("dicom-jpeg", "dms_jpeg.dcm", lambda: dicom_bytes(_skin(), "jpeg"),
         "read (Dermoscopic Photography, JPEG baseline)", shape=(48, 64)),
    Case("dicom-jpeg-ls", "dms_jls.dcm", lambda: dicom_bytes(_skin(), "jpeg-ls"),
         "read (JPEG-LS lossless)", shape=(48, 64)),
    Case("dicom-j2k", "dms_j2k.dcm", lambda: dicom_bytes(_skin(), "j2k-lossless"),
         "read (JPEG 2000 lossless)", shape=(48, 64)),
    Case("dicom-declares-ybr-holds-rgb", "dms_ybr_rgb.dcm",
         lambda: dicom_bytes(_skin(), "jpeg-rgb-as-ybr"),
         "read in its real colours (the codestream's)", shape=(48, 64)),
    Case("dicom-no-pixel-data", "no_pixels.dcm", _dicom_no_pixels, "refused",
         ImageReadError, ("no_pixels.dcm", "without pixel data")),
    Case("dicom-unsupported-syntax", "mpeg2.dcm", _dicom_mpeg2, "refused",
         ImageReadError, ("mpeg2.dcm", "compression dermview cannot decode", "MPEG2")),
    Case("dicom-multi-frame", "frames.dcm", _dicom_frames, "refused",
         ImageReadError, ("frames.dcm", "multi-frame", "3 frames")),
    Case("dicom-truncated", "cut_dicom.dcm",
         lambda: dicom_bytes(_skin())[: len(dicom_bytes(_skin())) // 2], "refused",
         ImageReadError, ("cut_dicom.dcm", "truncated")),
    Case("dicom-truncated-jpeg", "cut_dicom_jpeg.dcm",
         lambda: dicom_bytes(_skin(), "jpeg")[:-300], "refused",
         ImageReadError, ("cut_dicom_jpeg.dcm", "truncated")),
]

VALID = [c for c in IMAGE_CASES if c.error is None]
INVALID = [c for c in IMAGE_CASES if c.error is not None]


def _place(case: Case, folder: Path) -> Path:
    path = folder / case.filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(case.make())
    return path


def _hidden(folder: Path) -> list[str]:
    """Temporary files left under a folder (a partial atomic write would leave ``.*.tmp``)."""
    return sorted(p.name for p in folder.rglob(".*.tmp"))


OLD_LABEL = dio.encode_png(np.tile(np.array([0, 255], np.uint8), (6, 3)))


# --------------------------------------------------------------------------- dermview.io


@pytest.mark.parametrize("case", IMAGE_CASES, ids=lambda c: c.id)
def test_io_load_image(case, tmp_path):
    path = _place(case, tmp_path)
    if case.error is None:
        rgb = dio.load_image(path)
        assert rgb.dtype == np.uint8 and rgb.shape == (*case.shape, 3) and rgb.flags.writeable
        if case.shape == (48, 64):  # the skin image: lesion darker than skin, colours kept
            assert rgb[24, 32].astype(int).sum() < rgb[2, 2].astype(int).sum()
        return
    with pytest.raises(case.error) as info:
        dio.load_image(path)
    for w in case.words:
        assert w in str(info.value)
    assert "Traceback" not in str(info.value) and "\n" not in str(info.value)


# --------------------------------------------------------------------------- CLI: preprocess


def _run(argv: list[str], capsys) -> tuple[int, str]:
    rc = main(argv)
    cap = capsys.readouterr()
    text = cap.out + cap.err
    assert "Traceback" not in text
    return rc, text


@pytest.mark.parametrize("case", IMAGE_CASES, ids=lambda c: c.id)
def test_cli_preprocess(case, tmp_path, capsys):
    path = _place(case, tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    target = out / f"{path.stem}.png"
    target.write_bytes(OLD_LABEL)  # an earlier result that must survive a failure
    rc, text = _run(["preprocess", str(path), "--out", str(out), "--save-masks", "--overwrite"],
                    capsys)
    assert _hidden(out) == []
    if case.error is None:
        assert rc == 0, text
        assert dio.load_image(target).shape == (*case.shape, 3)
        assert dio.load_mask(out / f"{path.stem}_hair.png").shape == case.shape
        return
    assert rc == 1
    assert f"skipped {path}" in text
    for w in case.words:
        assert w in text
    assert target.read_bytes() == OLD_LABEL
    assert not (out / f"{path.stem}_hair.png").exists()


# --------------------------------------------------------------------------- CLI: segment

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    from _weights import make_weights

    from dermview.model import inference

    torch.set_num_threads(1)
    path = make_weights(tmp_path_factory.mktemp("weights"))
    inference.clear_cache()
    return path


def _segment(inputs: list[Path], out: Path, weights: Path, capsys, *extra: str) -> tuple[int, str]:
    argv = ["segment", *map(str, inputs), "--out", str(out), "--weights", str(weights),
            "--device", "cpu", "--overwrite", *extra]
    return _run(argv, capsys)


@pytest.mark.parametrize("case", IMAGE_CASES, ids=lambda c: c.id)
def test_cli_segment(case, tmp_path, capsys, tiny_weights):
    path = _place(case, tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    label = out / f"{path.stem}_segmentation.png"
    label.write_bytes(OLD_LABEL)
    rc, text = _segment([path], out, tiny_weights, capsys, "--no-preprocess")
    assert _hidden(out) == []
    if case.error is None:
        assert rc == 0, text
        mask = dio.load_mask(label)
        assert mask.shape == case.shape
        return
    assert rc == 1
    assert f"skipped {path}" in text
    for w in case.words:
        assert w in text
    assert label.read_bytes() == OLD_LABEL


def test_cli_segment_batch_goes_on_after_bad_files(tmp_path, capsys, tiny_weights):
    inp = tmp_path / "in"
    paths = [_place(c, inp) for c in IMAGE_CASES if "/" not in c.filename]
    out = tmp_path / "out"
    rc, text = _segment([inp], out, tiny_weights, capsys, "--no-preprocess")
    assert rc == 1
    written = sorted(p.name for p in out.iterdir())
    expected = sorted(f"{Path(c.filename).stem}_segmentation.png" for c in VALID if "/" not in c.filename)
    assert written == expected
    assert text.count("dermview segment: skipped ") == len(INVALID)
    assert len(paths) == len(IMAGE_CASES) - 1


# --------------------------------------------------------------------------- output folder


def _sample(tmp_path: Path) -> Path:
    path = tmp_path / "in" / "IMD_x.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_jpeg())
    return path


def _raise_on(monkeypatch, target, attr: str, err: int) -> None:
    def fail(*_a, **_k):
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(target, attr, fail)


@pytest.mark.parametrize("command", ["preprocess", "segment"])
@pytest.mark.parametrize("fault,words", [
    ("read-only", "read-only"),
    ("disk-full", "the disk is full"),
])
def test_cli_output_faults_keep_existing_label(tmp_path, capsys, monkeypatch, tiny_weights,
                                               command, fault, words):
    src = _sample(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    target = out / ("IMD_x.png" if command == "preprocess" else "IMD_x_segmentation.png")
    target.write_bytes(OLD_LABEL)
    if fault == "read-only":  # simulated: chmod does not stop root
        _raise_on(monkeypatch, dio.atomic.tempfile, "mkstemp", errno.EROFS)
    else:
        _raise_on(monkeypatch, os, "fsync", errno.ENOSPC)
    if command == "preprocess":
        rc, text = _run(["preprocess", str(src), "--out", str(out), "--overwrite"], capsys)
    else:
        rc, text = _segment([src], out, tiny_weights, capsys, "--no-preprocess")
    assert rc == 1
    assert words in text and target.name in text
    assert target.read_bytes() == OLD_LABEL
    assert _hidden(out) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_cli_real_read_only_folder(tmp_path, capsys):
    src = _sample(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        rc, text = _run(["preprocess", str(src), "--out", str(out)], capsys)
    finally:
        out.chmod(0o755)
    assert rc == 1 and "no permission to write" in text and list(out.iterdir()) == []


@pytest.mark.parametrize("command", ["preprocess", "segment"])
def test_cli_output_is_a_file(tmp_path, capsys, tiny_weights, command):
    src = _sample(tmp_path)
    out = tmp_path / "out.txt"
    out.write_text("keep me")
    argv = [command, str(src), "--out", str(out)]
    if command == "segment":
        argv += ["--weights", str(tiny_weights), "--device", "cpu"]
    rc, text = _run(argv, capsys)
    assert rc == 2 and "dermview: error:" in text and "output folder" in text
    assert "out.txt is a file, not a folder" in text  # it said "File exists" (docs trial)
    assert out.read_text() == "keep me"


@pytest.mark.parametrize("command", ["preprocess", "segment"])
def test_cli_missing_input(tmp_path, capsys, tiny_weights, command):
    out = tmp_path / "out"
    argv = [command, str(tmp_path / "nope.jpg"), "--out", str(out)]
    if command == "segment":
        argv += ["--weights", str(tiny_weights), "--device", "cpu"]
    rc, text = _run(argv, capsys)
    assert rc == 1 and "nope.jpg" in text and "no such file or folder" in text


# --------------------------------------------------------------------------- weights via the CLI


def _rewrite_sha(weights: Path) -> None:
    meta_file = weights.with_suffix(".json")
    meta = json.loads(meta_file.read_text())
    meta["sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    meta_file.write_text(json.dumps(meta))


class _Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def _bad_weights(kind: str, good: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.pt"
    path.write_bytes(good.read_bytes())
    path.with_suffix(".json").write_bytes(good.with_suffix(".json").read_bytes())
    data = path.read_bytes()
    if kind == "missing":
        path.unlink()
    elif kind == "no-metadata":
        path.with_suffix(".json").unlink()
    elif kind == "truncated":
        path.write_bytes(data[: len(data) // 3])
    elif kind == "altered-byte":
        b = bytearray(data)
        b[len(b) // 2] ^= 0x10
        path.write_bytes(bytes(b))
    elif kind == "image":  # an image given as --weights (it exists; model.pt does not)
        path.unlink()
        path = folder / "model.jpg"
        path.write_bytes(_jpeg())
    elif kind == "code-payload":
        torch.save({"stem.0.conv.weight": _Payload(folder / "pwned")}, path)
        _rewrite_sha(path)  # the SHA-256 matches: only weights_only=True stops it
    return path


WEIGHT_CASES = [
    ("missing", ("Model weights not found", "model.pt")),
    ("no-metadata", ("model.pt has no metadata file", "not loaded")),
    ("truncated", ("model.pt does not match its recorded SHA-256",)),
    ("altered-byte", ("model.pt does not match its recorded SHA-256", "altered")),
    ("code-payload", ("model.pt contains objects other than tensors (possibly code)", "refused")),
    ("image", ("model.jpg is not model weights", ".pt")),
]


@pytest.mark.parametrize("kind,words", WEIGHT_CASES, ids=[k for k, _ in WEIGHT_CASES])
def test_cli_segment_bad_weights(tmp_path, capsys, tiny_weights, kind, words):
    from dermview.model import inference

    inference.clear_cache()
    weights = _bad_weights(kind, tiny_weights, tmp_path / "w")
    src = _sample(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    label = out / "IMD_x_segmentation.png"
    label.write_bytes(OLD_LABEL)
    rc, text = _segment([src], out, weights, capsys)
    assert rc == 2
    lines = [ln for ln in text.splitlines() if ln.startswith("dermview: error:")]
    assert len(lines) == 1, text
    for w in words:
        assert w in lines[0]
    assert "weights_only" not in text
    assert label.read_bytes() == OLD_LABEL and _hidden(out) == []
    assert not (tmp_path / "w" / "pwned").exists()


# --------------------------------------------------------------------------- masks


def _mask_bytes(kind: str, gt: np.ndarray) -> bytes:
    if kind == "zero-one":
        return dio.encode_png(gt.astype(np.uint8))
    if kind == "grey-levels":
        return dio.encode_png(np.where(gt, 200, 40).astype(np.uint8))
    if kind == "rgb-red":
        rgb = np.zeros((*gt.shape, 3), np.uint8)
        rgb[gt] = (255, 0, 0)
        return dio.encode_png(rgb)
    if kind == "16bit":
        return cv_bytes(".png", gt.astype(np.uint16) * 65535)
    if kind == "other-size":
        return dio.encode_png(np.zeros((gt.shape[0] + 3, gt.shape[1]), np.uint8))
    if kind == "damaged":
        return dio.encode_png(gt.astype(np.uint8) * 255)[:40]
    raise AssertionError(kind)


MASK_CASES = [
    ("zero-one", None), ("grey-levels", None), ("rgb-red", None), ("16bit", None),
    ("other-size", MaskError), ("damaged", ImageReadError),
]


@pytest.mark.parametrize("kind,error", MASK_CASES, ids=[k for k, _ in MASK_CASES])
def test_io_load_mask(tmp_path, kind, error):
    gt = np.zeros((12, 16), bool)
    gt[3:9, 4:12] = True
    path = tmp_path / "ISIC_1_segmentation.png"
    path.write_bytes(_mask_bytes(kind, gt))
    if error is None:
        np.testing.assert_array_equal(dio.load_mask(path, shape=gt.shape), gt)
        return
    with pytest.raises(error) as info:
        dio.load_mask(path, shape=gt.shape)
    assert "ISIC_1_segmentation.png" in str(info.value)
    if kind == "other-size":
        assert "16×15" in str(info.value) and "16×12" in str(info.value)


@pytest.mark.parametrize("kind,error", MASK_CASES, ids=[k for k, _ in MASK_CASES])
def test_cli_evaluate_masks(tmp_path, capsys, kind, error):
    gt = np.zeros((12, 16), bool)
    gt[3:9, 4:12] = True
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    for stem in ("ISIC_1", "ISIC_2"):
        dio.save_mask(gt_dir / f"{stem}_segmentation.png", gt)
    dio.save_mask(pred_dir / "ISIC_2_segmentation.png", gt)
    (pred_dir / "ISIC_1_segmentation.png").write_bytes(_mask_bytes(kind, gt))
    report = tmp_path / "scores.json"
    rc, text = _run(["evaluate", str(pred_dir), str(gt_dir), "--json", str(report)], capsys)
    scores = json.loads(report.read_text())
    if error is None:
        assert rc == 0, text
        assert {r["id"]: r["dice"] for r in scores["per_image"]} == {"ISIC_1": 1.0, "ISIC_2": 1.0}
        return
    assert rc == 1
    assert "skipped ISIC_1" in text and "ISIC_1_segmentation.png" in text
    assert [r["id"] for r in scores["per_image"]] == ["ISIC_2"]
    assert scores["failed"][0]["id"] == "ISIC_1"


# --------------------------------------------------------------------------- what a user sees


def _subprocess(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "dermview", *args], capture_output=True,
                          text=True, timeout=120, env=env, cwd=REPO)


def test_subprocess_bad_images_no_traceback(tmp_path):
    inp = tmp_path / "in"
    for c in INVALID:
        _place(c, inp)
    out = tmp_path / "out"
    proc = _subprocess("preprocess", str(inp), "--out", str(out))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    for c in INVALID:
        assert f"skipped {inp / c.filename}: " in proc.stderr
        assert all(w in proc.stderr for w in c.words)
    assert list(out.iterdir()) == []


def test_subprocess_code_payload_weights(tmp_path, tiny_weights):
    weights = _bad_weights("code-payload", tiny_weights, tmp_path / "w")
    out = tmp_path / "out"
    proc = _subprocess("segment", str(_sample(tmp_path)), "--out", str(out),
                       "--weights", str(weights), "--device", "cpu")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stderr.strip().splitlines()[-1].startswith("dermview: error: model.pt contains")
    assert not (tmp_path / "w" / "pwned").exists()
    assert not out.exists() or list(out.iterdir()) == []


# --------------------------------------------------------------------------- GUI open action


@pytest.fixture(scope="module")
def gui_weights(tmp_path_factory) -> Path:
    pytest.importorskip("pytestqt")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from dermview.gui.testing import tiny_weights

    return tiny_weights(tmp_path_factory.mktemp("gui_weights"), steps=5)


@pytest.fixture
def gui(qtbot, tmp_path, monkeypatch, gui_weights):
    """A main window on a good image; message boxes recorded instead of shown."""
    from PySide6 import QtWidgets

    from dermview.gui.app import create_main_window, ensure_app
    from dermview.gui.testing import isolate, process

    shown: list[tuple[str, str]] = []

    def record(_parent, title, text, *_a, **_k):
        shown.append((title, text))
        return QtWidgets.QMessageBox.StandardButton.Ok

    for name in ("warning", "critical", "information"):
        monkeypatch.setattr(QtWidgets.QMessageBox, name, staticmethod(record))
    monkeypatch.setattr(QtWidgets.QMessageBox, "question", staticmethod(
        lambda *_a, **_k: QtWidgets.QMessageBox.StandardButton.Discard))
    from dermview.gui import dialogs

    # "Choose another folder…" offers: recorded like a warning, answered with Cancel.
    monkeypatch.setattr(dialogs, "choose", lambda p, title, text, _opts: record(p, title, text)
                        and None)
    settings = isolate(tmp_path / "user")
    ensure_app()
    good = tmp_path / "good" / "IMD_good.jpg"
    good.parent.mkdir()
    good.write_bytes(_jpeg())
    win = create_main_window([good], weights=str(gui_weights), settings=settings,
                             recovery_folder=tmp_path / "recovery", show=False)
    assert win.wait_idle(30) and win.doc.path == good and shown == []
    win.shown_boxes = shown
    yield win
    win.doc.undo_stack.setClean()
    win.close()
    assert win.threads_running() == []
    win.deleteLater()
    process(10)


@pytest.mark.parametrize("case", IMAGE_CASES, ids=lambda c: c.id)
def test_gui_open(case, gui, tmp_path):
    path = _place(case, tmp_path / "in")
    opened = gui.session.open_image(path)
    assert gui.wait_idle(30)
    if case.error is None:
        assert opened and gui.shown_boxes == []
        assert gui.doc.path == path and gui.doc.image.shape == (*case.shape, 3)
        return
    assert not opened
    assert len(gui.shown_boxes) == 1
    title, text = gui.shown_boxes[0]
    for w in case.words:
        assert w in text
    assert "Traceback" not in text
    assert gui.doc.path.name == "IMD_good.jpg"  # the previous image stays open, app usable
    assert gui.session.open_image(gui.doc.path) and gui.doc.image is not None


@pytest.mark.parametrize("kind,error", MASK_CASES, ids=[k for k, _ in MASK_CASES])
def test_gui_open_with_existing_label(kind, error, gui, tmp_path):
    """A saved label beside the image: read if usable, otherwise a message; never altered."""
    folder = tmp_path / "case"
    folder.mkdir()
    img = folder / "ISIC_9.png"
    rgb = np.full((12, 16, 3), 200, np.uint8)
    dio.save_image(img, rgb)
    gt = np.zeros((12, 16), bool)
    gt[3:9, 4:12] = True
    from dermview.labels import label_paths

    label = label_paths(img, gui.saving.labels_dir_for(img))[0]
    label.parent.mkdir(parents=True, exist_ok=True)
    label.write_bytes(_mask_bytes(kind, gt))
    before = label.read_bytes()
    opened = gui.session.open_image(img)
    assert gui.wait_idle(30)
    if error is None:
        assert opened and gui.shown_boxes == []
        np.testing.assert_array_equal(gui.doc.mask, gt)
    else:  # the image opens with an empty mask; the message names the unusable label
        assert opened and len(gui.shown_boxes) == 1
        assert "ISIC_9_segmentation.png" in gui.shown_boxes[0][1]
        assert gui.doc.path == img and not gui.doc.label_loaded and not gui.doc.mask.any()
    assert label.read_bytes() == before


@pytest.mark.parametrize("kind,words", WEIGHT_CASES, ids=[k for k, _ in WEIGHT_CASES])
def test_gui_segment_with_bad_weights(kind, words, gui, tmp_path, gui_weights):
    """Bad weights in the app: one message box, the mask untouched, the payload never run."""
    from dermview.model import inference

    inference.clear_cache()
    gui.segmenter.weights = str(_bad_weights(kind, gui_weights, tmp_path / "w"))
    before = gui.doc.mask.copy()
    assert gui.segmenter.run()
    assert gui.wait_idle(60)
    assert len(gui.shown_boxes) == 1, gui.shown_boxes
    text = gui.shown_boxes[0][1]
    for w in words:
        assert w.replace("model.pt", Path(gui.segmenter.weights).name) in text
    assert "Traceback" not in text and "weights_only" not in text
    np.testing.assert_array_equal(gui.doc.mask, before)
    assert not (tmp_path / "w" / "pwned").exists()


@pytest.mark.parametrize("fault,words", [("read-only", "read-only"), ("disk-full", "disk is full")])
def test_gui_save_fault_keeps_label(fault, words, gui, monkeypatch):
    from dermview.labels import label_paths

    label = label_paths(gui.doc.path, gui.saving.labels_dir_for(gui.doc.path))[0]
    labels_dir = label.parent
    gui.doc.mask[:10, :10] = True  # a mask (nothing outlined: nothing to save)
    assert gui.saving.save()  # a first label
    before = label.read_bytes()
    gui.doc.mask[:] = True  # a change to save (content only; save writes the document's mask)
    if fault == "read-only":
        _raise_on(monkeypatch, dio.atomic.tempfile, "mkstemp", errno.EROFS)
    else:
        _raise_on(monkeypatch, os, "fsync", errno.ENOSPC)
    assert not gui.saving.save()
    assert len(gui.shown_boxes) == 1 and words in gui.shown_boxes[0][1]
    assert label.read_bytes() == before and _hidden(labels_dir) == []


# --------------------------------------------------------------------------- matrix for the docs


def _markdown_matrix() -> str:
    """The matrix from real runs: images (load_image), masks (load_mask), weights
    (load_model), output faults (save_mask with simulated OS errors)."""
    import tempfile
    from unittest import mock

    from dermview.model import weights as wmod

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    rows = ["| input | behaviour | message shown / result |", "|---|---|---|"]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for case in IMAGE_CASES:
            path = _place(case, tmp)
            try:
                rgb = dio.load_image(path)
                result = f"RGB uint8 {rgb.shape[1]}×{rgb.shape[0]}"
            except DermviewError as exc:
                result = f"`{type(exc).__name__}`: {exc}"
            rows.append(f"| image: {case.id} (`{case.filename}`) | {case.behaviour} | "
                        f"{cell(result.replace(d, '<folder>'))} |")
        gt = np.zeros((12, 16), bool)
        gt[3:9, 4:12] = True
        for kind, _error in MASK_CASES:
            path = tmp / "ISIC_1_segmentation.png"
            path.write_bytes(_mask_bytes(kind, gt))
            try:
                m = dio.load_mask(path, shape=gt.shape)
                result = "read; equals the 0/255 mask" if np.array_equal(m, gt) else "read; DIFFERS"
                behaviour = "read"
            except DermviewError as exc:
                result, behaviour = f"`{type(exc).__name__}`: {exc}", "refused"
            rows.append(f"| mask: {kind} | {behaviour} | {cell(result)} |")
        from _weights import make_weights

        (tmp / "good").mkdir()
        good = make_weights(tmp / "good", "model", mean=[0.5] * 3, std=[0.25] * 3)
        for i, (kind, _words) in enumerate(WEIGHT_CASES):
            path = _bad_weights(kind, good, tmp / f"w{i}")
            try:
                wmod.load_model(path)
                result = "LOADED"
            except DermviewError as exc:
                result = f"`{type(exc).__name__}`: {exc}"
            ran = (tmp / f"w{i}" / "pwned").exists()
            rows.append(f"| weights: {kind} | refused{' — CODE RAN' if ran else ''} | "
                        f"{cell(result.replace(d, '<folder>'))} |")
        label = tmp / "IMD002_segmentation.png"
        for fault, target, attr, err in [
            ("read-only folder", dio.atomic.tempfile, "mkstemp", errno.EROFS),
            ("permission denied", dio.atomic.tempfile, "mkstemp", errno.EACCES),
            ("disk full (ENOSPC)", os, "fsync", errno.ENOSPC),
        ]:
            label.write_bytes(OLD_LABEL)

            def fail(*_a, _err=err, **_k):
                raise OSError(_err, os.strerror(_err))

            with mock.patch.object(target, attr, fail):
                try:
                    dio.save_mask(label, gt)
                    result = "SAVED"
                except DermviewError as exc:
                    result = f"`{type(exc).__name__}`: {exc}"
            kept = label.read_bytes() == OLD_LABEL and not _hidden(tmp)
            rows.append(f"| save label: {fault} | refused; old label "
                        f"{'intact, no temp file' if kept else 'DAMAGED'} | "
                        f"{cell(result.replace(d, '<folder>'))} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(_markdown_matrix())


@pytest.mark.parametrize("typo, command", [("segmnt", "segment"), ("analyse", "analyze"),
                                           ("selftest", "self-test")])
def test_cli_misspelt_command_is_one_line_not_the_app(typo, command, tmp_path, capsys,
                                                      monkeypatch):
    import dermview.gui.app as gui_app

    opened = []
    monkeypatch.setattr(gui_app, "run_app", lambda args: opened.append(args) or 0)
    monkeypatch.chdir(tmp_path)
    assert main([typo, "images", "--csv", "a.csv"]) == 2
    err = capsys.readouterr().err
    assert not opened and err.count("\n") == 1
    assert f"unknown command '{typo}'" in err and f"did you mean '{command}'" in err
    # an existing file or folder of that name still opens in the app
    (tmp_path / typo).mkdir()
    assert main([typo]) == 0 and len(opened) == 1


def test_cli_segment_altered_onnx_export_names_the_file_and_the_way_back(tmp_path, capsys):
    """Trial finding (packaged app, a byte of its model changed): the one line named
    "dermview_default.onnx" only, not which installation's copy, nor what to do."""
    from dermview import paths
    from dermview.model import inference

    inference.clear_cache()
    folder = tmp_path / "models"
    folder.mkdir()
    for ext in (".pt", ".json", ".onnx"):
        shutil.copy(paths.models_dir() / f"dermview_default{ext}", folder)
    onnx = folder / "dermview_default.onnx"
    data = bytearray(onnx.read_bytes())
    data[len(data) // 2] ^= 1
    onnx.write_bytes(bytes(data))
    out = tmp_path / "out"
    out.mkdir()
    rc, text = _segment([_sample(tmp_path)], out, folder / "dermview_default.pt", capsys,
                        "--engine", "onnx")
    assert rc == 2
    lines = [ln for ln in text.splitlines() if ln.startswith("dermview: error:")]
    assert len(lines) == 1, text
    assert f"{onnx} does not match its recorded SHA-256" in lines[0]
    assert "unpack the dermview archive again" in lines[0]
