"""Training augmentation (numpy / OpenCV): rotation, flips, scale and crop, elastic
deformation, colour and illumination changes.

``augment(image, mask, rng)`` takes RGB ``uint8`` ``(H, W, 3)`` and a mask ``uint8``
``(H, W)`` in ``{0, 1}`` and returns new arrays of the same shapes and dtypes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class AugmentParams:
    """Ranges of the random transforms (probabilities in ``[0, 1]``).

    Attributes:
        rotate_deg: rotation drawn uniformly in ``±rotate_deg`` degrees.
        scale: zoom factor range (``>1`` zooms in = crops); log-uniform.
        shift: translation as a fraction of the side, uniform in ``±shift``.
        p_flip: probability of each of the horizontal and vertical flips.
        p_elastic: probability of an elastic deformation.
        elastic_alpha: displacement amplitude as a fraction of the side.
        elastic_sigma: smoothing of the displacement field as a fraction of the side.
        brightness: additive brightness in ``±brightness`` (0-1 scale).
        contrast: contrast factor in ``1 ± contrast``.
        gamma: gamma in ``[1/(1+gamma), 1+gamma]``.
        channel_gain: per-channel gain in ``1 ± channel_gain`` (colour cast, white balance).
        saturation: saturation factor in ``1 ± saturation``.
        p_illumination: probability of a smooth multiplicative illumination gradient.
        illumination: strength range of that gradient (fraction, brighter on one side).
        hue_deg: hue rotation in ``±hue_deg`` degrees (0 = none, no random draw).
    """

    rotate_deg: float = 180.0
    scale: tuple[float, float] = (0.8, 1.3)
    shift: float = 0.08
    p_flip: float = 0.5
    p_elastic: float = 0.3
    elastic_alpha: float = 0.03
    elastic_sigma: float = 0.2
    brightness: float = 0.1
    contrast: float = 0.2
    gamma: float = 0.25
    channel_gain: float = 0.1
    saturation: float = 0.25
    p_illumination: float = 0.4
    illumination: tuple[float, float] = (0.1, 0.5)
    hue_deg: float = 0.0


#: Stronger colour and illumination changes (clinics differ most in colour: white balance,
#: exposure, lamp fall-off); the geometric ranges are the defaults'.
COLOUR_STRONG = AugmentParams(brightness=0.2, contrast=0.35, gamma=0.5, channel_gain=0.25,
                              saturation=0.5, p_illumination=0.7, illumination=(0.1, 0.8),
                              hue_deg=12.0)

#: Named presets (``python -m training.train --augment NAME``).
PRESETS: dict[str, AugmentParams] = {"default": AugmentParams(), "colour": COLOUR_STRONG}


def geometric(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
              p: AugmentParams) -> tuple[np.ndarray, np.ndarray]:
    """Random rotation + scale + shift (one affine warp; uncovered corners black like a
    dermoscope's vignette, mask 0 there), flips, elastic."""
    h, w = mask.shape
    angle = rng.uniform(-p.rotate_deg, p.rotate_deg)
    scale = float(np.exp(rng.uniform(np.log(p.scale[0]), np.log(p.scale[1]))))
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, scale)
    m[:, 2] += rng.uniform(-p.shift, p.shift, size=2) * (w, h)
    maskf = mask.astype(np.float32)
    image = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    maskf = cv2.warpAffine(maskf, m, (w, h), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if rng.random() < p.p_flip:
        image, maskf = image[:, ::-1], maskf[:, ::-1]
    if rng.random() < p.p_flip:
        image, maskf = image[::-1], maskf[::-1]
    if rng.random() < p.p_elastic:
        image, maskf = elastic(np.ascontiguousarray(image), np.ascontiguousarray(maskf), rng,
                               p.elastic_alpha, p.elastic_sigma)
    return np.ascontiguousarray(image), (maskf > 0.5).astype(np.uint8)


def elastic(image: np.ndarray, maskf: np.ndarray, rng: np.random.Generator, alpha: float,
            sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Elastic deformation (Simard et al. 2003): a smooth random displacement field of peak
    about ``alpha`` × side and correlation length about ``sigma`` × side (random values on a
    coarse grid, bicubic up-sampling), applied by ``cv2.remap``."""
    h, w = maskf.shape
    side = max(h, w)
    cells = max(2, int(round(1.0 / max(sigma, 1e-3))))
    fields = []
    for _ in range(2):
        d = rng.uniform(-1, 1, size=(cells + 1, cells + 1)).astype(np.float32)
        d = cv2.resize(d, (w, h), interpolation=cv2.INTER_CUBIC)
        fields.append(d * (alpha * side / (np.abs(d).max() + 1e-6)))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    mapx, mapy = xs + fields[0], ys + fields[1]
    image = cv2.remap(image, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    maskf = cv2.remap(maskf, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return image, maskf


def photometric(image: np.ndarray, rng: np.random.Generator, p: AugmentParams) -> np.ndarray:
    """Brightness, contrast, per-channel gain and gamma (one lookup table per channel),
    saturation, and a smooth multiplicative illumination gradient."""
    h, w = image.shape[:2]
    levels = np.arange(256, dtype=np.float32) / 255.0
    contrast = 1.0 + rng.uniform(-p.contrast, p.contrast)
    bright = rng.uniform(-p.brightness, p.brightness)
    gains = 1.0 + rng.uniform(-p.channel_gain, p.channel_gain, size=3)
    g = float(np.exp(rng.uniform(-np.log1p(p.gamma), np.log1p(p.gamma))))
    lut = np.stack([np.clip((levels - 0.5) * contrast + 0.5 + bright, 0, 1) * k for k in gains], 1)
    lut = (np.power(np.clip(lut, 0, 1), g) * 255.0 + 0.5).astype(np.uint8)
    out = cv2.LUT(np.ascontiguousarray(image), lut.reshape(256, 1, 3))
    sat = 1.0 + rng.uniform(-p.saturation, p.saturation)
    grey = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)[..., None].astype(np.float32)
    x = grey + (out.astype(np.float32) - grey) * sat
    if p.hue_deg > 0:
        x = _rotate_hue(np.clip(x + 0.5, 0, 255).astype(np.uint8),
                        rng.uniform(-p.hue_deg, p.hue_deg)).astype(np.float32)
    if rng.random() < p.p_illumination:
        # smooth multiplicative ramp: brighter on one side, darker on the other (±10-50 %)
        theta = rng.uniform(0, 2 * np.pi)
        ramp = ((np.arange(w, dtype=np.float32) / w - 0.5)[None, :] * np.cos(theta)
                + (np.arange(h, dtype=np.float32) / h - 0.5)[:, None] * np.sin(theta))
        x *= (1.0 + rng.uniform(*p.illumination) * ramp)[..., None]
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)


def _rotate_hue(image: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate the hue of an RGB ``uint8`` image by ``degrees`` (OpenCV HSV, hue 0-179)."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + int(round(degrees / 2))) % 180).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def augment(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
            params: AugmentParams | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Apply the geometric then the photometric transforms (see :class:`AugmentParams`)."""
    p = params or AugmentParams()
    image, mask = geometric(image, mask, rng, p)
    return photometric(image, rng, p), mask
