"""Helpers for driving the app from tests, benchmarks and scripts (offscreen).

``isolate(tmp)`` points every per-user location (settings, autosave) at ``tmp`` so a run never
touches the user's real settings; ``tiny_weights(folder)`` writes a small verified weights file
for when the bundled model is not there (it segments nothing meaningful, only fast).
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from dermview import paths


def isolate(tmp: str | os.PathLike[str]) -> QtCore.QSettings:
    """Redirect settings and autosaves under ``tmp``; returns the QSettings to use."""
    tmp = Path(tmp)
    os.environ["DERMVIEW_HOME"] = str(tmp / "home")
    QtCore.QStandardPaths.setTestModeEnabled(True)
    return QtCore.QSettings(str(tmp / "settings.ini"), QtCore.QSettings.Format.IniFormat)


def default_weights_available() -> bool:
    return (paths.models_dir() / "dermview_default.pt").is_file()


def tiny_weights(folder: str | os.PathLike[str], width: int = 8, input_size: int = 64,
                 steps: int = 30) -> Path:
    """Write (once) a small DermSegNet with metadata; returns the ``.pt``.

    It is fitted for ``steps`` Adam steps on the bundled samples (a few seconds on a CPU), so
    its probability map varies over the image like a real one; it is not a useful model.
    """
    folder = Path(folder)
    path = folder / f"tiny_w{width}_{input_size}_{steps}.pt"
    if path.is_file():
        return path
    import cv2
    import numpy as np
    import torch

    from dermview.io import load_image, load_mask
    from dermview.model.nets import build_model
    from dermview.model.weights import save_weights

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = build_model("dermsegnet", width=width)
    xs, ys = [], []
    for img in sorted(paths.samples_dir().glob("*.jpg")):
        rgb = cv2.resize(load_image(img), (input_size, input_size), interpolation=cv2.INTER_AREA)
        gt = load_mask(img.with_name(img.stem + "_segmentation.png")).astype(np.uint8)
        gt = cv2.resize(gt, (input_size, input_size), interpolation=cv2.INTER_NEAREST)
        xs.append((rgb.astype(np.float32) / 255 - 0.5) / 0.25)
        ys.append(gt.astype(np.float32))
    x = torch.from_numpy(np.stack(xs).transpose(0, 3, 1, 2).copy())
    y = torch.from_numpy(np.stack(ys)[:, None].copy())
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
        loss.backward()
        opt.step()
    model.eval()
    save_weights(model, path, {"arch": "dermsegnet", "config": {"width": width},
                               "input_size": input_size, "mean": [0.5, 0.5, 0.5],
                               "std": [0.25, 0.25, 0.25], "name": "tiny-test"})
    return path


def process(ms: int = 50) -> None:
    """Let Qt run for ``ms`` milliseconds (paint, queued signals)."""
    app = QtWidgets.QApplication.instance()
    timer = QtCore.QElapsedTimer()
    timer.start()
    while timer.elapsed() < ms:
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 10)
