"""Fast checks of resource lookup and the packaging files (no bundle is built here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from dermview import paths

ROOT = Path(__file__).resolve().parent.parent


def test_resources_dir_from_source_has_samples():
    assert paths.resources_dir() == ROOT / "resources"
    assert (paths.samples_dir() / "ATTRIBUTION.md").is_file()


def test_resources_dir_frozen_uses_meipass(monkeypatch, tmp_path):
    monkeypatch.delenv("DERMVIEW_RESOURCES", raising=False)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert paths.is_frozen()
    assert paths.resources_dir() == tmp_path / "resources"
    assert paths.models_dir() == tmp_path / "resources" / "models"


def test_resources_override(monkeypatch, tmp_path):
    monkeypatch.setenv("DERMVIEW_RESOURCES", str(tmp_path))
    assert paths.icons_dir() == tmp_path.resolve() / "icons"


def test_default_weights_follow_resources_dir():
    from dermview.model.weights import DEFAULT_WEIGHTS, MODELS_DIR

    assert paths.models_dir() == MODELS_DIR
    assert DEFAULT_WEIGHTS.parent == MODELS_DIR


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="XDG layout is Linux-only")
def test_user_dirs_follow_xdg_and_are_outside_the_app(monkeypatch, tmp_path):
    monkeypatch.delenv("DERMVIEW_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert paths.user_data_dir() == tmp_path / "data" / "dermview"
    assert paths.user_config_dir() == tmp_path / "home" / ".config" / "dermview"
    assert not paths.user_data_dir().exists()  # nothing created unless asked
    made = paths.autosave_dir(create=True)
    assert made.is_dir() and made.parent == tmp_path / "data" / "dermview"
    for d in (paths.user_data_dir(), paths.user_config_dir(), paths.user_log_dir()):
        assert paths.app_dir() not in d.parents


def test_dermview_home_override(monkeypatch, tmp_path):
    monkeypatch.setenv("DERMVIEW_HOME", str(tmp_path))
    assert paths.user_log_dir(create=True) == tmp_path / "logs"
    assert (tmp_path / "logs").is_dir()


# ----------------------------------------------------------------------- packaging files
PACKAGING = ROOT / "packaging"
sys.path.insert(0, str(PACKAGING))
import bundle_config  # noqa: E402

RUNTIME_PROBE = r"""
import sys, importlib.util, numpy as np
sys.path.insert(0, sys.argv[3])
import bundle_config
for name in ("torch", "onnx", "onnxscript", "onnx_ir"):
    sys.modules[name] = None  # as in the frozen app: importing them fails
from pathlib import Path
from dermview.io import load_image
from dermview.model.weights import verify_weights, DEFAULT_WEIGHTS
from dermview.model.inference import Segmenter
from dermview.segmentation import segment_image
from dermview.metrics import evaluate_masks
import dermview.cli, dermview.labels
for m in dermview.commands.COMMAND_MODULES:
    importlib.import_module("dermview.commands." + m)
import pkgutil, dermview
for info in pkgutil.walk_packages(dermview.__path__, "dermview."):
    if info.name != "dermview.__main__" and not bundle_config.excluded_module(info.name):
        importlib.import_module(info.name)  # every module the bundle collects
from PySide6 import QtCore
from dermview.gui.app import create_main_window
folder = Path(sys.argv[1])
store = QtCore.QSettings(str(folder / "s.ini"), QtCore.QSettings.Format.IniFormat)
win = create_main_window(None, device="cpu", settings=store,
                         recovery_folder=folder / "autosave", show=True)
QtCore.QCoreApplication.processEvents()
win.close()
verify_weights(DEFAULT_WEIGHTS)
seg = Segmenter.load(None, device="auto")
assert seg.engine_name == "onnx", seg.engine_name
rgb = load_image(sys.argv[2])
res = segment_image(rgb, seg)
evaluate_masks(res.mask, res.mask)
from dermview.cli import main
assert main(["segment", sys.argv[2], "--out", str(folder / "out"), "--sidecar"]) == 0
assert main(["self-test", "--no-gui"]) == 0
from dermview.analysis import analyze_lesion
from dermview.io import load_mask
from dermview.report import ReportInfo, write_report
gt = load_mask(sys.argv[2].replace(".jpg", "_segmentation.png"))
write_report(folder / "r.pdf", rgb, gt, analyze_lesion(rgb, gt, 0.02), ReportInfo("x.jpg"))
print("MODULES:")
print("\n".join(sorted(k for k, v in sys.modules.items() if v is not None)))
"""


def test_excluded_modules_are_never_loaded_by_the_app(tmp_path):
    """What the slim bundle leaves out (torch included) is not needed by what the app runs:
    the stack runs with torch and the ONNX tooling blocked, and never imports them."""
    import subprocess

    env = {**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run(
        [sys.executable, "-c", RUNTIME_PROBE, str(tmp_path),
         str(paths.samples_dir() / "IMD009.jpg"), str(PACKAGING)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    loaded = out.stdout.split("MODULES:")[-1].split()
    # the probe really ran the stack
    assert "onnxruntime" in loaded and "PySide6.QtWidgets" in loaded and "torch" not in loaded
    bad = [m for m in loaded if bundle_config.excluded_module(m)]
    assert not bad, f"the app loads modules the bundle excludes: {bad[:20]}"


@pytest.mark.parametrize("dest", [
    "onnxruntime/capi/libonnxruntime.so.1.32.0", "onnxruntime/capi/onnxruntime_pybind11_state.so",
    "resources/models/dermview_default.onnx", "resources/models/dermview_default.json",
    "PySide6/Qt/plugins/platforms/libqxcb.so", "PySide6/Qt/plugins/platforms/libqoffscreen.so",
    "PySide6/Qt/plugins/platforms/libqwayland.so", "PySide6/Qt/lib/libQt6Widgets.so.6",
    "PySide6/Qt/lib/libQt6XcbQpa.so.6", "PySide6/Qt/plugins/imageformats/libqjpeg.so",
    "resources/models/classifier.pt", "resources/models/classifier.onnx", "cv2/cv2.abi3.so",
    "PySide6/Qt/plugins/platformthemes/libqxdgdesktopportal.so", "PIL/_imaging.cpython-311.so",
])
def test_needed_files_are_kept(dest):
    assert not bundle_config.excluded_dest(dest)


@pytest.mark.parametrize("dest", [
    "torch/lib/libtorch_cpu.so", "torch/bin/test_jit", "torch/lib/libtorchbind_test.so",
    "onnxruntime/transformers/benchmark.py", "PySide6/Qt/translations/qtbase_de.qm", "PySide6/Qt/qml/QtQuick/qmldir",
    "PySide6/Qt/plugins/platforms/libqeglfs.so", "PySide6/Qt/plugins/platformthemes/libqgtk3.so",
    "PySide6/Qt/plugins/generic/libqevdevmouseplugin.so",
    "PySide6/Qt/lib/libQt6EglFSDeviceIntegration.so.6",
    "resources/models/dermview_default.pt", "resources/models/dermsegnet_w48.pt",
])
def test_unused_files_are_dropped(dest):
    assert bundle_config.excluded_dest(dest)


def test_required_runtime_modules_are_not_excluded():
    for name in ("onnxruntime", "onnxruntime.capi", "onnxruntime.capi._pybind_state",
                 "PySide6.QtWidgets", "PySide6.QtSvg", "PySide6.QtOpenGLWidgets",
                 "PySide6.QtTest", "pyqtgraph", "cv2", "PIL", "numpy", "dermview.gui",
                 "dermview.model.engines", "dermview.model.inference", "dermview.threads"):
        assert not bundle_config.excluded_module(name), name


def test_unused_pillow_codecs_are_excluded():
    """AVIF and WebP are not formats dermview reads (and Tk is not in the bundle)."""
    from dermview.io import IMAGE_SUFFIXES

    assert not {".avif", ".webp"} & set(IMAGE_SUFFIXES)
    for name in ("PIL._avif", "PIL._webp", "PIL._imagingtk"):
        assert bundle_config.excluded_module(name), name
    for name in ("PIL._imaging", "PIL._imagingcms", "PIL._imagingft", "PIL.TiffImagePlugin"):
        assert not bundle_config.excluded_module(name), name


def test_shipped_segmentation_models_run_without_their_pt():
    """The bundle drops the segmentation networks' .pt: each ships an ONNX export listed in
    its metadata; the classifier keeps its (small) head, which Classifier.load verifies."""
    models = paths.models_dir()
    for meta_file in sorted(models.glob("*.json")):
        pt = meta_file.with_suffix(".pt")
        if not pt.is_file():
            continue
        meta = __import__("json").loads(meta_file.read_text())
        dest = f"resources/models/{pt.name}"
        if bundle_config.excluded_dest(dest):
            assert (models / meta["onnx"]["file"]).is_file(), pt.name
            assert not bundle_config.excluded_dest(f"resources/models/{meta['onnx']['file']}")
    assert not bundle_config.excluded_dest("resources/models/classifier.pt")


def test_torch_and_onnx_tooling_are_excluded():
    for name in ("torch", "torch.nn", "onnxruntime.transformers", "onnxruntime.quantization",
                 "onnxscript", "onnx_ir", "onnx", "dermview.model.nets"):
        assert bundle_config.excluded_module(name), name


def test_spec_compiles_and_collects_resources():
    text = (PACKAGING / "dermview.spec").read_text()
    compile(text, "dermview.spec", "exec")
    for needed in ('"models", "samples", "icons"', "launcher.py", 'collect_submodules("dermview")',
                   "bundle_config.EXCLUDE_MODULES", "exclude_binaries=True"):
        assert needed in text


def test_bundled_resources_exist():
    samples = paths.samples_dir()
    assert (samples / "ATTRIBUTION.md").is_file()
    for img in samples.glob("*.jpg"):
        assert (samples / f"{img.stem}_segmentation.png").is_file()
    assert (paths.icons_dir() / "dermview.png").is_file()
    from dermview.commands.self_test import DEFAULT_SAMPLE

    assert (samples / f"{DEFAULT_SAMPLE}.jpg").is_file()


def test_shell_scripts_parse():
    import shutil
    import subprocess

    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    for script in ("build.sh", "package_test.sh", "install.sh"):
        subprocess.run([bash, "-n", str(PACKAGING / script)], check=True)


def test_build_script_reads_the_package_version():
    import re

    from dermview import __version__

    init = (ROOT / "dermview" / "__init__.py").read_text()
    assert re.findall(r'^__version__ = "(.*)"', init, re.M) == [__version__]
    assert "linux-$ARCH" in (PACKAGING / "build.sh").read_text()


def test_desktop_entry():
    lines = (PACKAGING / "dermview.desktop").read_text().splitlines()
    assert lines[0] == "[Desktop Entry]"
    entry = dict(line.split("=", 1) for line in lines[1:] if "=" in line)
    assert entry["Type"] == "Application" and entry["Icon"] == "dermview"
    assert entry["Exec"].startswith("dermview") and entry["Terminal"] == "false"
    assert entry["Categories"].endswith(";")


def test_install_note_lists_xcb_libraries():
    note = (PACKAGING / "INSTALL.md").read_text()
    for lib in ("libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1", "libxcb-image0",
                "libxcb-render-util0", "libxcb-shape0", "libxkbcommon-x11-0", "libxcb-xinerama0",
                "libxcb-randr0", "libxcb-xkb1"):
        assert lib in note


def test_install_note_names_the_folder_the_archive_unpacks_to():
    """Trial finding: INSTALL.md said to run ``/opt/dermview-<version>/dermview self-test``
    after ``tar -C /opt``; the archive unpacks to ``dermview-<version>-linux-x86_64/``, so
    the first command a new user copied said "No such file or directory"."""
    import re

    stem = re.search(r'^STEM="(.*)"$', (PACKAGING / "build.sh").read_text(), re.M).group(1)
    folder = stem.replace("$VERSION", "<version>").replace("$ARCH", "x86_64")
    assert folder == "dermview-<version>-linux-x86_64"
    note = (PACKAGING / "INSTALL.md").read_text()
    runs = re.findall(r"^(/opt/\S+)", note, re.M)
    assert runs and all(r.startswith(f"/opt/{folder}/") for r in runs), runs
    # and what the package cannot do is said where a new user reads it
    assert "heat map" in note and "Improve the model" in note
    assert "moved" in note and "`install.sh` of the moved folder again" in note


def test_makefile_has_package_targets():
    mk = (ROOT / "Makefile").read_text()
    assert "\npackage:" in mk and "\npackage-test:" in mk


# ----------------------------------------------------------------------- strip_bundle
import strip_bundle  # noqa: E402


def test_library_roles():
    lib = strip_bundle.is_library
    assert lib("libcairo.so.2") and lib("pillow.libs/libavif-c6062d5f.so.16.4.2")
    assert lib("PySide6/Qt/lib/libQt6Network.so.6")
    assert not lib("libpython3.11.so.1.0")  # the bootloader opens it
    assert not lib("_libjpeg.cpython-311-x86_64-linux-gnu.so")  # extension module
    assert not lib("PySide6/QtCore.abi3.so") and not lib("PySide6/Qt/plugins/platforms/libqxcb.so")
    assert not lib("onnxruntime/capi/libonnxruntime_providers_shared.so")  # opened by name
    assert not lib("base_library.zip")


def test_unreachable_follows_needed_through_links():
    files = {
        "PIL/_imaging.cpython-311.so": ["libjpeg-1.so.62", "libc.so.6"],
        "pillow.libs/libjpeg-1.so.62": ["libz.so.1"],
        "libz.so.1": [],
        "pillow.libs/libavif-2.so.16": ["libaom.so.3"],  # its extension module was excluded
        "libaom.so.3": [],
        "PySide6/Qt/plugins/platforms/libqxcb.so": ["libQt6XcbQpa.so.6"],
        "PySide6/Qt/lib/libQt6XcbQpa.so.6": ["libxcb.so.1"],
        "libxcb.so.1": [],
        "libcairo.so.2": ["libz.so.1"],  # needed only by a plugin that was excluded
    }
    links = {rel: rel for rel in files}
    links["libjpeg-1.so.62"] = "pillow.libs/libjpeg-1.so.62"
    links["libavif-2.so.16"] = "pillow.libs/libavif-2.so.16"
    links["libQt6XcbQpa.so.6"] = "PySide6/Qt/lib/libQt6XcbQpa.so.6"
    assert strip_bundle.unreachable(files, links) == {
        "pillow.libs/libavif-2.so.16", "libavif-2.so.16", "libaom.so.3", "libcairo.so.2"}


def test_minify_json_keeps_the_data(tmp_path):
    import json

    folder = tmp_path / "highdicom" / "_standard"
    folder.mkdir(parents=True)
    data = {"general-image": [{"keyword": "PatientName", "type": "2", "path": []}], "é": [1.5]}
    big = folder / "module_attribute_map.json"
    big.write_text(json.dumps(data, indent=2), encoding="utf-8")
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data, indent=2))
    before = other.read_bytes()
    count, saved = strip_bundle.minify_json(tmp_path)
    assert count == 1 and saved > 0 and json.loads(big.read_text(encoding="utf-8")) == data
    assert other.read_bytes() == before  # not in MINIFY_JSON_GLOBS


def test_dedupe_libraries_links_identical_copies(tmp_path):
    (tmp_path / "numpy.libs").mkdir()
    (tmp_path / "scipy.libs").mkdir()
    (tmp_path / "numpy.libs" / "libgfortran-a.so.5").write_bytes(b"same" * 100)
    (tmp_path / "scipy.libs" / "libgfortran-a.so.5").write_bytes(b"same" * 100)
    (tmp_path / "scipy.libs" / "libquadmath-b.so.0").write_bytes(b"other" * 100)
    assert strip_bundle.dedupe_libraries(tmp_path) == (1, 400)
    copy = tmp_path / "scipy.libs" / "libgfortran-a.so.5"
    assert copy.is_symlink() and copy.read_bytes() == b"same" * 100
    assert not (tmp_path / "scipy.libs" / "libquadmath-b.so.0").is_symlink()


def test_forwarding_and_stub_sources():
    asm = strip_bundle.forwarding_assembly(["cblas_sgemm", "dgesdd_"], "scipy_")
    assert "cblas_sgemm:\n    jmp scipy_cblas_sgemm@PLT" in asm and ".globl dgesdd_" in asm
    asm, script = strip_bundle.video_stub_sources({"av_frame_alloc": "LIBAVUTIL_61",
                                                   "av_log_set_level": "LIBAVUTIL_61"})
    assert "av_frame_alloc:\n    jmp dermview_no_video" in asm
    assert script == "LIBAVUTIL_61 {\n  global: av_frame_alloc; av_log_set_level;\n  local: *;\n};\n"
    assert strip_bundle.VIDEO_LIBRARY.match("libavcodec-e863e0e1.so.63.1.102")
    assert not strip_bundle.VIDEO_LIBRARY.match("libavif-24bb8032.so.16.4.2")  # AVIF images


def test_dermview_uses_no_opencv_video_io():
    """The bundle's FFmpeg stand-ins abort on use (strip_bundle.drop_cv2_video): dermview
    must not call OpenCV's video I/O."""
    hits = [p for p in (ROOT / "dermview").rglob("*.py")
            if any(w in p.read_text(encoding="utf-8") for w in ("VideoCapture", "VideoWriter"))]
    assert not hits


@pytest.mark.slow
def test_cv2_with_forwarded_blas_and_no_ffmpeg(tmp_path):
    """On a copy of the installed OpenCV: with its OpenBLAS replaced by jumps into scipy's
    and FFmpeg by stand-ins, cv2 imports, its LAPACK-backed functions give the same results
    as the original, images encode and decode, and VideoCapture stops with the message."""
    import platform
    import shutil
    import subprocess

    import cv2
    import numpy as np
    import scipy

    if platform.machine() != "x86_64" or not all(shutil.which(t) for t in ("cc", "readelf")):
        pytest.skip("needs x86-64 Linux with cc and readelf")
    site = Path(cv2.__file__).resolve().parent.parent
    for name in ("cv2", "opencv_python_headless.libs"):
        shutil.copytree(site / name, tmp_path / name, symlinks=True,
                        ignore=shutil.ignore_patterns("*.pyi", "__pycache__", "data"))
    shutil.copytree(Path(scipy.__file__).resolve().parent.parent / "scipy.libs",
                    tmp_path / "scipy.libs")
    assert strip_bundle.forward_cv2_blas(tmp_path)[0] >= 10
    assert strip_bundle.drop_cv2_video(tmp_path)[0] >= 3
    probe = r"""
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
import cv2
assert cv2.__file__.startswith(sys.argv[1]), cv2.__file__
rng = np.random.default_rng(0)
a = rng.standard_normal((60, 40)); b = rng.standard_normal((60, 3)); sq = a[:40] + 8 * np.eye(40)
out = [cv2.SVDecomp(a)[0], cv2.solve(a, b, flags=cv2.DECOMP_QR)[1],
       cv2.solve(sq, b[:40], flags=cv2.DECOMP_LU)[1], cv2.eigen(sq @ sq.T)[1],
       cv2.gemm(a.astype(np.float32), a.T.astype(np.float32), 1.0, None, 0.0)]
ok, png = cv2.imencode(".png", (rng.random((16, 16, 3)) * 255).astype(np.uint8))
assert ok and cv2.imdecode(png, cv2.IMREAD_COLOR).shape == (16, 16, 3)
np.savez(sys.argv[2], *out)
if len(sys.argv) > 3:
    cv2.VideoCapture(sys.argv[3])
"""
    res = tmp_path / "res.npz"
    run = subprocess.run([sys.executable, "-c", probe, str(tmp_path), str(res)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    rng = np.random.default_rng(0)
    a = rng.standard_normal((60, 40))
    b = rng.standard_normal((60, 3))
    sq = a[:40] + 8 * np.eye(40)
    want = [cv2.SVDecomp(a)[0], cv2.solve(a, b, flags=cv2.DECOMP_QR)[1],
            cv2.solve(sq, b[:40], flags=cv2.DECOMP_LU)[1], cv2.eigen(sq @ sq.T)[1],
            cv2.gemm(a.astype(np.float32), a.T.astype(np.float32), 1.0, None, 0.0)]
    got = np.load(res)
    for i, w in enumerate(want):
        np.testing.assert_allclose(got[f"arr_{i}"], w, rtol=1e-5, atol=1e-5 * np.abs(w).max())
    video = subprocess.run([sys.executable, "-c", probe, str(tmp_path), str(res),
                            str(tmp_path / "clip.mp4")], capture_output=True, text=True,
                           timeout=120)
    assert video.returncode != 0 and "video I/O (FFmpeg) is not part of" in video.stderr
