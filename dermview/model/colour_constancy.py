"""Colour constancy of dermoscopy images: the shades-of-grey illuminant estimate (Finlayson &
Trezzi 2004) and its ``p = 1`` case, grey-world, as used before a frozen encoder by Barata et
al. 2015 ("Improving dermoscopy image classification using color constancy") and the ISIC
2018 / 2019 challenge winners.

```python
out = shades_of_gray(rgb)              # uint8 (H, W, 3) → uint8 (H, W, 3), p = 6
out = colour_constancy(rgb, "gray_world")
```

The illuminant ``e`` is the per-channel Minkowski ``p``-mean of the pixel values,
``e_c = (mean(I_c ** p)) ** (1/p)``, scaled to unit length; each channel is multiplied by
``1 / (sqrt(3) · e_c)``, so a neutral (grey) illuminant leaves the image unchanged and a
colour cast that scales the channels is removed. Values are clipped to 0-255 and rounded.
Numpy in, numpy out; no Qt, no torch.
"""

from __future__ import annotations

import numpy as np

#: Methods of :func:`colour_constancy` (``none`` = the image unchanged).
METHODS = ("none", "shades_of_gray", "gray_world", "shades_of_gray_gamma")
#: Minkowski norm of shades-of-grey (Finlayson & Trezzi 2004; Barata et al. 2015).
SOG_P = 6.0
#: Gamma of ``shades_of_gray_gamma``: ``255 · (x / 255) ** (1 / gamma)`` before the estimate.
SOG_GAMMA = 2.2


def illuminant(rgb: np.ndarray, p: float = SOG_P) -> np.ndarray:
    """Unit-length illuminant colour float64 ``(3,)`` of RGB ``(H, W, 3)`` (any real dtype,
    values 0-255): the Minkowski ``p``-mean of each channel over all pixels, normalised. An
    all-black image gives the neutral ``(1, 1, 1) / sqrt(3)``.

    Raises:
        ValueError: not ``(H, W, 3)``, or ``p < 1``.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {rgb.shape}")
    if not p >= 1.0:
        raise ValueError(f"the Minkowski norm p must be >= 1, got {p}")
    x = rgb.reshape(-1, 3).astype(np.float64) / 255.0  # 0-1: x ** 6 stays well in range
    e = np.mean(x ** p, axis=0) ** (1.0 / p)
    norm = float(np.linalg.norm(e))
    if norm == 0.0:
        return np.full(3, 1.0 / np.sqrt(3.0))
    return e / norm


def shades_of_gray(rgb: np.ndarray, p: float = SOG_P, gamma: float | None = None) -> np.ndarray:
    """Shades-of-grey colour constancy of an RGB uint8 ``(H, W, 3)`` image (values 0-255):
    each channel ``c`` multiplied by ``1 / (sqrt(3) · e_c)`` with ``e`` the unit-length
    :func:`illuminant` of Minkowski norm ``p`` (6 = shades of grey, 1 = grey world), clipped to
    0-255 and rounded. With ``gamma`` the image is first gamma-encoded,
    ``255 · (x / 255) ** (1 / gamma)`` (the "gamma step" of the ISIC 2019 winners), and the
    correction applies to that encoded image. Returns uint8 ``(H, W, 3)``, a new array.

    Raises:
        ValueError: not uint8 ``(H, W, 3)``, ``p < 1`` or ``gamma <= 0``.
    """
    if rgb.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {rgb.dtype}")
    img = rgb
    if gamma is not None:
        if not gamma > 0:
            raise ValueError(f"gamma must be > 0, got {gamma}")
        lut = np.rint(255.0 * (np.arange(256) / 255.0) ** (1.0 / gamma)).astype(np.uint8)
        img = lut[rgb]
    e = illuminant(img, p)
    gain = 1.0 / (np.sqrt(3.0) * np.maximum(e, 1e-12))
    out = img.astype(np.float32) * gain.astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def gray_world(rgb: np.ndarray) -> np.ndarray:
    """Grey-world colour constancy: :func:`shades_of_gray` with ``p = 1`` (the channel means
    made equal). uint8 ``(H, W, 3)`` in and out."""
    return shades_of_gray(rgb, p=1.0)


def colour_constancy(rgb: np.ndarray, method: str = "none") -> np.ndarray:
    """Apply one of :data:`METHODS` to an RGB uint8 ``(H, W, 3)`` image: ``none`` returns it
    unchanged (the same array), ``shades_of_gray`` (``p = 6``), ``gray_world`` (``p = 1``),
    ``shades_of_gray_gamma`` (``p = 6`` after gamma :data:`SOG_GAMMA`). uint8 out.

    Raises:
        ValueError: an unknown method, or an image :func:`shades_of_gray` refuses.
    """
    if method == "none":
        return rgb
    if method == "shades_of_gray":
        return shades_of_gray(rgb, SOG_P)
    if method == "gray_world":
        return gray_world(rgb)
    if method == "shades_of_gray_gamma":
        return shades_of_gray(rgb, SOG_P, gamma=SOG_GAMMA)
    raise ValueError(f"unknown colour constancy {method!r} (one of {', '.join(METHODS)})")
