"""Inference: load a verified weights file once per device and segment RGB images of any size.

```python
seg = Segmenter.load(weights=None, device="auto")  # None = bundled default weights
prob = seg.predict(rgb)   # float32 (H, W) in [0, 1], at the input resolution
```

On CPU, architectures listed in :data:`CHANNELS_LAST_ARCHS` run in channels-last layout.

Input policy (read from the weights metadata): the image is resized to the network's square
input (``cv2.INTER_AREA`` along axes that shrink, bilinear along axes that grow), scaled to
0-1, normalised with the metadata ``mean``/``std``, run under ``torch.inference_mode()``, passed
through a sigmoid, and the probability map is resized back to ``H×W`` bilinearly. Large images
are downscaled first as ``uint8``; no full-resolution float copy of the image is made, only the
float32 ``H×W`` probability that is returned.

This module imports torch at import time; import it lazily (the GUI and CLI start without
torch). :func:`cuda_available` is the one helper that callers may use before that.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from dermview.errors import DeviceError, WeightsError
from dermview.model import weights as wmod

#: Resize policies understood in the metadata field ``resize``.
#: ``stretch``: resize to the square input ignoring the aspect ratio (default).
#: ``letterbox``: scale the long side to the input size, pad the rest with the mean colour.
RESIZE_POLICIES = ("stretch", "letterbox")
_RESIZE_ALIASES = {"square": "stretch", "stretch": "stretch", "letterbox": "letterbox", "pad": "letterbox"}

_CACHE: dict[tuple[str, str, str], Segmenter] = {}
_CACHE_LOCK = threading.Lock()


def cuda_available() -> bool:
    """Whether torch sees a usable CUDA device (imports torch lazily, never raises)."""
    try:
        import torch as _torch

        return bool(_torch.cuda.is_available())
    except Exception:  # pragma: no cover - broken torch install
        return False


def resolve_device(device: str | None = "auto") -> str:
    """Map a user's choice (``auto``, ``cpu``, ``cuda``, ``cuda:N``) to a torch device string.

    Raises:
        DeviceError: CUDA requested but not available, or an unknown device name.
    """
    choice = (device or "auto").strip().lower()
    if choice == "auto":
        return "cuda" if cuda_available() else "cpu"
    if choice == "cpu":
        return "cpu"
    if choice == "cuda" or choice.startswith("cuda:"):
        if not cuda_available():
            raise DeviceError(
                "The GPU (CUDA) was requested but no CUDA device is available on this computer "
                "(or this PyTorch build has no CUDA support). Use --device cpu or auto."
            )
        if ":" in choice:
            try:
                index = int(choice.split(":", 1)[1])
            except ValueError:
                raise DeviceError(f"Unknown device {device!r}; use auto, cpu or cuda") from None
            if not 0 <= index < torch.cuda.device_count():
                raise DeviceError(
                    f"GPU {index} does not exist; this computer has "
                    f"{torch.cuda.device_count()} CUDA device(s)"
                )
        return choice
    raise DeviceError(f"Unknown device {device!r}; use auto, cpu or cuda")


#: Architectures whose CPU forward pass is faster in channels-last (NHWC) memory layout,
#: measured by ``benchmarks/bench_inference.py`` (same run, interleaved): dermsegnet 0.66-0.85×
#: the NCHW time; litesegnet (EfficientNet-Lite0 encoder) 1.27×, so it stays NCHW.
CHANNELS_LAST_ARCHS = frozenset({"dermsegnet"})


def use_channels_last(meta: dict[str, Any], device: str) -> bool:
    """Whether to run this model channels-last: CPU only; metadata ``channels_last`` (bool)
    overrides the per-architecture default :data:`CHANNELS_LAST_ARCHS`."""
    if device != "cpu":
        return False
    flag = meta.get("channels_last")
    if isinstance(flag, bool):
        return flag
    return meta.get("arch") in CHANNELS_LAST_ARCHS


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
    """A loaded, verified segmentation network on one device. Create with :meth:`load`.

    Attributes:
        model: the torch module (eval mode) on ``device``.
        meta: the weights metadata (arch, config, input_size, mean, std, ...).
        device: torch device string actually used (``cpu``, ``cuda``, ``cuda:1``).
        weights_path: the ``.pt`` file.
        weights_sha256: its verified SHA-256.
    """

    model: Any
    meta: dict[str, Any]
    device: str
    weights_path: Path
    weights_sha256: str
    _input_hw: tuple[int, int] = field(init=False, repr=False)
    _mean: np.ndarray = field(init=False, repr=False)
    _std: np.ndarray = field(init=False, repr=False)
    _resize: str = field(init=False, repr=False)
    _nhwc: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        fname = self.weights_path.name
        self._nhwc = use_channels_last(self.meta, self.device)
        self._input_hw = _input_hw(self.meta, fname)
        self._mean = _triple(self.meta, "mean", fname)
        self._std = _triple(self.meta, "std", fname)
        policy = str(self.meta.get("resize", "stretch")).lower()
        if policy not in _RESIZE_ALIASES:
            raise WeightsError(
                f"{fname}: unknown resize policy {policy!r} (known: {', '.join(RESIZE_POLICIES)})"
            )
        self._resize = _RESIZE_ALIASES[policy]

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, weights: str | Path | None = None, device: str | None = "auto") -> Segmenter:
        """Load (or reuse) a model. The same file (by path and SHA-256) on the same device is
        loaded once per process; a changed file on disk is verified and loaded afresh.

        Args:
            weights: ``.pt`` file with its ``.json`` metadata beside it; ``None`` = the bundled
                default (:data:`dermview.model.weights.DEFAULT_WEIGHTS`).
            device: ``auto`` (CUDA if available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.

        Raises:
            WeightsError: missing, unknown (no metadata), altered or unsafe weights.
            DeviceError: CUDA requested but absent.
        """
        path = Path(weights) if weights is not None else wmod.DEFAULT_WEIGHTS
        dev = resolve_device(device)
        meta = wmod.read_metadata(path)  # clear errors for missing file / metadata first
        sha = wmod.sha256_file(path)
        if sha != meta["sha256"]:
            wmod.verify_weights(path)  # raises the project's "altered" message
        key = (str(path.resolve()), sha, dev)
        with _CACHE_LOCK:
            cached = _CACHE.get(key)
            if cached is not None:
                return cached
            try:
                model, meta = wmod.load_model(path, device=dev)
            except (RuntimeError, AssertionError) as exc:  # GPU too old for this build, busy, ...
                if dev == "cpu":
                    raise
                raise DeviceError(
                    f"The model could not be moved to the GPU ({dev}): "
                    f"{str(exc).splitlines()[0]}. Use --device cpu."
                ) from None
            if use_channels_last(meta, dev):
                model = model.to(memory_format=torch.channels_last)
            seg = cls(model=model, meta=meta, device=dev, weights_path=path, weights_sha256=sha)
            _CACHE[key] = seg
            return seg

    # --------------------------------------------------------------- properties
    @property
    def name(self) -> str:
        """Human-readable model name (metadata ``name``, else the file stem)."""
        return str(self.meta.get("name") or self.weights_path.stem)

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
        h, w = rgb.shape[:2]
        if self._resize == "stretch":
            small = resize_to(rgb, ih, iw)
            box = (0, 0, ih, iw)
        else:
            scale = min(ih / h, iw / w)
            sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
            top, left = (ih - sh) // 2, (iw - sw) // 2
            fill = np.clip(np.rint(self._mean * 255), 0, 255).astype(np.uint8)
            small = np.empty((ih, iw, 3), np.uint8)
            small[:] = fill
            small[top:top + sh, left:left + sw] = resize_to(rgb, sh, sw)
            box = (top, left, sh, sw)
        x = small.astype(np.float32)
        x *= np.float32(1.0 / 255.0)
        x -= self._mean
        x /= self._std
        return np.ascontiguousarray(x.transpose(2, 0, 1)), box

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

    def _forward(self, batch: np.ndarray, tta: bool) -> np.ndarray:
        try:
            return self._forward_unchecked(batch, tta)
        except torch.OutOfMemoryError:
            if self.device == "cpu":
                raise MemoryError("not enough memory to run the model") from None
            torch.cuda.empty_cache()
            raise DeviceError(
                f"The GPU ({self.device}) ran out of memory; close other GPU programs or use "
                "the CPU (--device cpu)."
            ) from None

    def _forward_unchecked(self, batch: np.ndarray, tta: bool) -> np.ndarray:
        with torch.inference_mode():
            t = torch.from_numpy(batch).to(self.device)
            if self._nhwc:
                t = t.contiguous(memory_format=torch.channels_last)
            p = torch.sigmoid(self.model(t).float())
            if tta:
                pf = torch.sigmoid(self.model(torch.flip(t, dims=[3])).float())
                p = 0.5 * (p + torch.flip(pf, dims=[3]))
            return p[0, 0].cpu().numpy().astype(np.float32, copy=False)


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
