"""Inference: load a verified network once per engine and device, and segment RGB images of
any size.

```python
seg = Segmenter.load(weights=None, device="auto", engine="auto")  # None = bundled default
prob = seg.predict(rgb)   # float32 (H, W) in [0, 1], at the input resolution
seg.engine.name           # "onnx" (ONNX Runtime, the CPU default) or "torch" (CUDA, fallback)
```

The network runs through :mod:`dermview.model.engines` (engine choice, SHA-256 checks,
threads). Input policy (read from the weights metadata): the image is resized to the
network's square input (``cv2.INTER_AREA`` along axes that shrink, bilinear along axes that
grow), scaled to 0-1, normalised with the metadata ``mean``/``std``, run, passed through a
sigmoid, and the probability map is resized back to ``H×W`` bilinearly. Large images are
downscaled first as ``uint8``; no full-resolution float copy of the image is made, only the
float32 ``H×W`` probability that is returned.

Neither torch nor onnxruntime is imported until a model is loaded.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dermview.errors import ModelError, WeightsError
from dermview.model import weights as wmod
from dermview.model.engines import (  # noqa: F401 - re-exported for callers of this module
    CHANNELS_LAST_ARCHS,
    Engine,
    cuda_available,
    load_engine,
    resolve_device,
    resolve_engine,
    use_channels_last,
)

#: Resize policies understood in the metadata field ``resize``.
#: ``stretch``: resize to the square input ignoring the aspect ratio (default).
#: ``letterbox``: scale the long side to the input size, pad the rest with the mean colour.
RESIZE_POLICIES = ("stretch", "letterbox")
_RESIZE_ALIASES = {"square": "stretch", "stretch": "stretch", "letterbox": "letterbox", "pad": "letterbox"}

#: What ``Segmenter.load`` takes for a model: its ``.pt``, its ``.json``, its ``.onnx`` export
#: or the name without a suffix (the ``.pt`` and ``.json`` beside each other).
WEIGHTS_SUFFIXES = (".pt", ".json", ".onnx", "")

_CACHE: dict[tuple[Any, ...], Segmenter] = {}
_CACHE_LOCK = threading.Lock()


def resize_to(arr: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a 2-D or ``(H, W, C)`` array to ``(height, width)``.

    Axes that shrink use ``cv2.INTER_AREA`` (no aliasing), axes that grow use bilinear; an
    array that shrinks along one axis and grows along the other is resized in two passes.
    The dtype is kept (uint8 or float32).
    """
    h, w = arr.shape[:2]
    if (h, w) == (height, width):
        return arr
    if height <= h and width <= w:
        return cv2.resize(arr, (width, height), interpolation=cv2.INTER_AREA)
    if height >= h and width >= w:
        return cv2.resize(arr, (width, height), interpolation=cv2.INTER_LINEAR)
    # Mixed: shrink first (smaller intermediate), then grow.
    if height < h:
        arr = cv2.resize(arr, (w, height), interpolation=cv2.INTER_AREA)
        return cv2.resize(arr, (width, height), interpolation=cv2.INTER_LINEAR)
    arr = cv2.resize(arr, (width, h), interpolation=cv2.INTER_AREA)
    return cv2.resize(arr, (width, height), interpolation=cv2.INTER_LINEAR)


def letterbox(arr: np.ndarray, height: int, width: int, fill: Any
              ) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """``arr`` (2-D or ``(H, W, C)``) scaled with :func:`resize_to` to fit ``height × width``
    with its aspect ratio kept, centred on a canvas of ``fill`` (a scalar or a per-channel
    value of ``arr``'s dtype); the canvas and the box it occupies ``(top, left, h, w)``."""
    h, w = arr.shape[:2]
    scale = min(height / h, width / w)
    sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
    top, left = (height - sh) // 2, (width - sw) // 2
    out = np.empty((height, width) + arr.shape[2:], arr.dtype)
    out[:] = fill
    out[top:top + sh, left:left + sw] = resize_to(arr, sh, sw)
    return out, (top, left, sh, sw)


def _input_hw(meta: dict[str, Any], name: str) -> tuple[int, int]:
    size = meta["input_size"]
    try:
        if isinstance(size, (list, tuple)):
            h, w = (int(size[0]), int(size[1]))
        else:
            h = w = int(size)
    except (TypeError, ValueError, IndexError):
        raise WeightsError(f"{name}: metadata input_size {size!r} is not a size in pixels") from None
    if not (8 <= h <= 4096 and 8 <= w <= 4096):
        raise WeightsError(f"{name}: metadata input_size {size!r} is out of range (8-4096 px)")
    return h, w


def _triple(meta: dict[str, Any], key: str, name: str) -> np.ndarray:
    try:
        vals = np.asarray(meta[key], dtype=np.float32).reshape(3)
    except (TypeError, ValueError):
        raise WeightsError(f"{name}: metadata {key!r} must be three numbers (R, G, B)") from None
    if key == "std" and np.any(vals <= 0):
        raise WeightsError(f"{name}: metadata 'std' must be positive")
    return vals


@dataclass
class Segmenter:
    """A loaded, verified segmentation network on one engine and device. Create with
    :meth:`load`.

    Attributes:
        engine: the :class:`~dermview.model.engines.Engine` that runs the network.
        meta: the weights metadata (arch, config, input_size, mean, std, ...).
        device: device actually used (``cpu``, ``cuda``, ``cuda:1``).
        weights_path: the model's ``.pt`` (its identity; the ONNX engine runs the export of
            it listed in the metadata, ``engine.file``).
        weights_sha256: the ``.pt``'s SHA-256 recorded in the metadata (checked against the
            file by the torch engine; the ONNX engine checks its own file and that it was
            exported from these weights).
    """

    engine: Engine
    meta: dict[str, Any]
    device: str
    weights_path: Path
    weights_sha256: str
    _input_hw: tuple[int, int] = field(init=False, repr=False)
    _mean: np.ndarray = field(init=False, repr=False)
    _std: np.ndarray = field(init=False, repr=False)
    _lut: np.ndarray = field(init=False, repr=False)
    _resize: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        fname = self.weights_path.name
        self._input_hw = _input_hw(self.meta, fname)
        self._mean = _triple(self.meta, "mean", fname)
        self._std = _triple(self.meta, "std", fname)
        self._lut = normalise_lut(self._mean, self._std)
        policy = str(self.meta.get("resize", "stretch")).lower()
        if policy not in _RESIZE_ALIASES:
            raise WeightsError(
                f"{fname}: unknown resize policy {policy!r} (known: {', '.join(RESIZE_POLICIES)})"
            )
        self._resize = _RESIZE_ALIASES[policy]

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, weights: str | Path | None = None, device: str | None = "auto",
             engine: str | None = "auto", threads: int | None = None) -> Segmenter:
        """Load (or reuse) a model. The same file (by path and SHA-256) on the same engine
        and device is loaded once per process; a changed file on disk is verified and
        loaded afresh.

        Args:
            weights: ``.pt`` (or its ``.json``) with the metadata beside it; ``None`` = the
                bundled default (:data:`dermview.model.weights.DEFAULT_WEIGHTS`).
            device: ``auto`` (CUDA if available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.
            engine: ``auto`` (ONNX Runtime on the CPU when the model has an export, torch
                on CUDA or otherwise), ``onnx`` or ``torch``.
            threads: CPU threads of the network; ``None`` = the cores free now
                (:mod:`dermview.threads`).

        Raises:
            WeightsError: missing, unknown (no metadata), altered or unsafe weights.
            DeviceError: CUDA requested but absent, or asked of the ONNX engine.
            ModelError: an engine that cannot run here.
        """
        path = Path(weights) if weights is not None else wmod.DEFAULT_WEIGHTS
        if path.suffix.lower() not in WEIGHTS_SUFFIXES:
            # e.g. an image given as --weights: "IMD002.pt not found" would hide the mistake
            raise WeightsError(f"{path.name} is not model weights: give the .pt (or its .json) "
                               "of a dermview model")
        path = path.with_suffix(".pt")
        json_path = wmod.metadata_path(path)
        # Clear errors for a missing file or metadata first; an ONNX-only install has no .pt.
        if json_path.is_file() and not path.is_file():
            meta = wmod.read_metadata_file(json_path)
        else:
            meta = wmod.read_metadata(path)
        name, dev = resolve_engine(engine, device, meta)
        run_file = wmod.onnx_file(json_path, meta)[0] if name == "onnx" else path
        try:
            sha = wmod.sha256_file(run_file)
        except OSError:
            sha = ""  # the engine reports the missing file
        key = (str(run_file.resolve()), sha, name, dev, threads)
        with _CACHE_LOCK:
            cached = _CACHE.get(key)
            if cached is not None:
                return cached
            eng = load_engine(json_path, engine=name, device=dev, threads=threads)
            seg = cls(engine=eng, meta=eng.meta, device=eng.device, weights_path=path,
                      weights_sha256=str(meta["sha256"]))
            _CACHE[key] = seg
            return seg

    # --------------------------------------------------------------- properties
    @property
    def model(self) -> Any:
        """The ``torch.nn.Module`` of a torch engine (fine-tuning); load with ``engine="torch"``.

        Raises:
            ModelError: the network runs on another engine (ONNX Runtime has no module).
        """
        module = getattr(self.engine, "model", None)
        if module is None:
            raise ModelError(f"{self.name} runs on {self.engine_name}: load it with "
                             "engine='torch' to get its PyTorch module")
        return module

    @property
    def name(self) -> str:
        """Human-readable model name (metadata ``name``, else the file stem)."""
        return str(self.meta.get("name") or self.weights_path.stem)

    @property
    def engine_name(self) -> str:
        """Engine that runs the network: ``onnx`` or ``torch``."""
        return self.engine.name

    @property
    def threshold(self) -> float:
        """Default probability threshold for the lesion mask (metadata, else 0.5)."""
        return float(self.meta.get("threshold", 0.5))

    @property
    def input_size(self) -> tuple[int, int]:
        """Network input ``(height, width)`` in pixels."""
        return self._input_hw

    @property
    def trained_on_preprocessed(self) -> bool:
        """Whether the model was trained on frame/hair-removed images (metadata ``preprocess``)."""
        pre = self.meta.get("preprocess")
        if isinstance(pre, dict):
            return bool(pre.get("enabled", True))
        return bool(pre)

    def preprocess_params(self) -> Any:
        """The :class:`~dermview.preprocess.params.PreprocessParams` the model was trained with,
        or ``None`` when it was trained on raw images."""
        from dermview.segmentation import model_preprocess_params

        return model_preprocess_params(self.meta)

    # ---------------------------------------------------------------- inference
    def _to_input(self, rgb: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        """Network input ``(3, h, w)`` float32 and the valid box (top, left, height, width)."""
        ih, iw = self._input_hw
        if self._resize == "stretch":
            small = resize_to(rgb, ih, iw)
            box = (0, 0, ih, iw)
        else:
            fill = np.clip(np.rint(self._mean * 255), 0, 255).astype(np.uint8)
            small, box = letterbox(rgb, ih, iw, fill)
        return to_chw(small, self._lut), box

    def predict(self, rgb: np.ndarray, tta: bool = False) -> np.ndarray:
        """Lesion probability of every pixel.

        Args:
            rgb: ``uint8`` ``(H, W, 3)`` RGB, any size and aspect ratio (``(H, W)`` grey is
                accepted and replicated to three channels).
            tta: also run the horizontally flipped image and average (about 2× slower).

        Returns:
            ``float32`` ``(H, W)`` in ``[0, 1]``.
        """
        rgb = _check_rgb(rgb)
        h, w = rgb.shape[:2]
        x, (top, left, bh, bw) = self._to_input(rgb)
        small = self._forward(x[None], tta)[top:top + bh, left:left + bw]
        prob = resize_to(np.ascontiguousarray(small), h, w)
        np.clip(prob, 0.0, 1.0, out=prob)
        return prob

    def predict_flipped(self, rgb: np.ndarray) -> np.ndarray:
        """Lesion probability of the horizontally flipped network input, flipped back: the
        second half of flip TTA, so ``0.5 * (predict(rgb) + predict_flipped(rgb))`` is
        ``predict(rgb, tta=True)`` (equal up to float rounding) for a caller that decides after
        the plain pass whether to pay for the flip (:func:`dermview.segmentation.segment_image`
        with ``tta="auto"``).

        Args:
            rgb: as :meth:`predict`.

        Returns:
            ``float32`` ``(H, W)`` in ``[0, 1]``.
        """
        rgb = _check_rgb(rgb)
        h, w = rgb.shape[:2]
        x, (top, left, bh, bw) = self._to_input(rgb)
        flipped = sigmoid(self.engine.run(np.ascontiguousarray(x[None, :, :, ::-1]))[:, 0])
        small = flipped[0, :, ::-1][top:top + bh, left:left + bw]
        prob = resize_to(np.ascontiguousarray(small), h, w)
        np.clip(prob, 0.0, 1.0, out=prob)
        return prob

    def _forward(self, batch: np.ndarray, tta: bool) -> np.ndarray:
        """Probability ``(h, w)`` float32 of a ``(1, 3, h, w)`` input (flip-averaged with TTA)."""
        if tta:
            batch = np.concatenate([batch, batch[:, :, :, ::-1]])
        prob = sigmoid(self.engine.run(batch)[:, 0])
        if tta:
            return np.float32(0.5) * (prob[0] + prob[1, :, ::-1])
        return prob[0]


def normalise_lut(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``float32`` ``(3, 256)``: the network input of each channel value 0-255,
    ``(v / 255 - mean) / std``, computed with the same float32 steps as per pixel (so a
    look-up gives bit-identical inputs)."""
    v = np.arange(256, dtype=np.float32)[None, :].repeat(3, axis=0)
    v *= np.float32(1.0 / 255.0)
    v -= np.asarray(mean, np.float32).reshape(3, 1)
    v /= np.asarray(std, np.float32).reshape(3, 1)
    return np.ascontiguousarray(v)


def to_chw(small: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Normalised ``float32`` ``(3, h, w)`` network input of a ``uint8`` ``(h, w, 3)`` image
    through :func:`normalise_lut`'s table (one gather per channel, no float temporaries)."""
    out = np.empty((3,) + small.shape[:2], np.float32)
    for c in range(3):
        np.take(lut[c], small[:, :, c], out=out[c])
    return out


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function in float32 (no overflow for large ``|x|``)."""
    x = np.asarray(x, dtype=np.float32)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, np.float32(1) / (1 + e), e / (1 + e)).astype(np.float32, copy=False)


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8:
        raise ValueError(f"predict expects a uint8 image, got {rgb.dtype}")
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[:, :, None], 3, axis=2)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ValueError(f"predict expects an (H, W, 3) RGB image, got shape {rgb.shape}")
    return np.ascontiguousarray(rgb)  # views (flips, crops) are fine; OpenCV needs this


def clear_cache() -> None:
    """Forget every loaded model (tests, or to free GPU memory)."""
    with _CACHE_LOCK:
        _CACHE.clear()
