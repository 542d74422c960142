"""The one public entry point: :func:`preprocess` (frame removal, then hair removal).

Detection runs at a fixed analysis scale (longest side :data:`ANALYSIS_SIZE` px, images are
never upscaled); masks are brought back to the input size and only masked pixels of the input
are replaced, so the output has the input's exact shape and every unmasked pixel is untouched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from dermview.errors import ParameterError
from dermview.preprocess.frame import detect_frame, fill_frame
from dermview.preprocess.hair import HairMap, HairSettings, detect_hair
from dermview.preprocess.inpaint import inpaint_bilinear, inpaint_pde
from dermview.preprocess.params import PreprocessParams

#: Longest side (px) of the image on which frame and hair are detected.
ANALYSIS_SIZE = 512
_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
#: Images whose analysis copy has a side shorter than this are returned unchanged.
MIN_SIDE = 8


@dataclass(frozen=True)
class Preprocessed:
    """Result of :func:`preprocess`.

    Attributes:
        image: RGB uint8 ``(H, W, 3)``, input shape; frame filled and hair repaired.
        frame_mask: bool ``(H, W)``, pixels taken as dark frame / vignette (replaced, with a
            band around them into which the fill blends: see
            :func:`~dermview.preprocess.frame.fill_frame`).
        hair_mask: bool ``(H, W)``, pixels taken as hair. They are replaced together with
            a one-pixel rim around them (the hair's halo; not around the hairs only the
            fine-hair pass found), so ``image`` differs from the input only near
            ``frame_mask`` and within one pixel of ``hair_mask``.
        hair_count: N, number of hair components found.
        repair_mode: ``"pde"`` (N > T), ``"bilinear"`` (0 < N <= T) or ``"none"``.
        timings: seconds per step (``frame``, ``hair``, ``repair``, ``total``).
        params: the parameters used.
    """

    image: np.ndarray
    frame_mask: np.ndarray
    hair_mask: np.ndarray
    hair_count: int
    repair_mode: str
    timings: dict[str, float] = field(default_factory=dict)
    params: PreprocessParams = field(default_factory=PreprocessParams)


def _check_image(rgb: np.ndarray) -> np.ndarray:
    if not isinstance(rgb, np.ndarray):
        raise ParameterError("preprocess expects an image array (RGB uint8, height × width × 3)")
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[:, :, None], 3, axis=2)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ParameterError(
            f"preprocess expects an RGB uint8 image (height × width × 3), got {rgb.dtype} {rgb.shape}"
        )
    if rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ParameterError(f"the image has no pixels ({rgb.shape[1]}×{rgb.shape[0]})")
    return np.ascontiguousarray(rgb)


def _to_full(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if mask.shape == shape:
        return mask
    up = cv2.resize(mask.view(np.uint8) * np.uint8(255), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return cv2.threshold(up, 95, 1, cv2.THRESH_BINARY)[1].view(bool)


def _to_uint8(img: np.ndarray) -> np.ndarray:
    """Float image (values >= 0) rounded to the nearest uint8, saturated at 255."""
    return cv2.convertScaleAbs(img)


#: Longest walk (px at the analysis scale) of the eq. 4 repair to a clean pixel on either side.
MAX_WALK = 12


def _repair(img: np.ndarray, mask: np.ndarray, mode: str, max_walk: int) -> np.ndarray:
    """Copy of RGB uint8 ``img`` with the ``mask`` pixels filled by PDE inpainting (``mode``
    "pde") or eq. 4 (:func:`inpaint_bilinear`, at most ``max_walk`` steps each way)."""
    if mode == "pde":
        return _to_uint8(inpaint_pde(img, mask)[0])
    return inpaint_bilinear(img, mask, max_walk)


def _repair_at_detection_scale(work: np.ndarray, hair: HairMap, mode: str) -> np.ndarray:
    """``work`` (RGB uint8, analysis scale) repaired at the detection scale of ``hair``: the
    coarse hair map plus a one-cell rim filled on its 2×2-mean image (``hair.mean``),
    brought back by linear interpolation. uint8 of the shape of ``work`` (possibly a view);
    its values matter only near the hair."""
    k = hair.scale
    rep = cv2.dilate(hair.coarse.view(np.uint8), _CROSS).view(bool)
    if k == 1:
        return _repair(work, rep, mode, MAX_WALK)
    fixed = _repair(hair.mean, rep, mode, -(-MAX_WALK // k))
    up = cv2.resize(fixed, (fixed.shape[1] * k, fixed.shape[0] * k), interpolation=cv2.INTER_LINEAR)
    return up[: work.shape[0], : work.shape[1]]


def _repair_region(hair: HairMap) -> np.ndarray:
    """The pixels to replace at the analysis scale (uint8 0/1): the hair mask plus a one-pixel
    rim (the halo / anti-aliased edge of a hair) around the hairs of the bold and light passes;
    the hairs only the fine pass found are replaced without a rim (a faint hair's edge is the
    skin's own texture: repairing it only lost detail; +0.15 dB on the bold synthetic regime,
    whose false fine detections on clean skin cost most). Measured and dropped: a 5×5 cross or
    square rim around bold hair, and never darkening a fine-hair pixel (max of repair and
    input)."""
    m8 = hair.mask.view(np.uint8)
    if hair.fine is None:
        return cv2.dilate(m8, _CROSS)
    h, w = m8.shape
    k = hair.scale
    fine = hair.fine.view(np.uint8)
    if k > 1:
        fine = cv2.resize(fine, (fine.shape[1] * k, fine.shape[0] * k), interpolation=cv2.INTER_NEAREST)[:h, :w]
    return cv2.bitwise_or(cv2.dilate(cv2.subtract(m8, fine), _CROSS), m8)


def _scaled_se(size: int, side: int) -> int:
    """Structuring element size for an analysis image with longest side ``side``."""
    k = round(size * side / ANALYSIS_SIZE) if side < ANALYSIS_SIZE else size
    k = max(3, int(k))
    return k if k % 2 else k + 1


def preprocess(rgb: np.ndarray, params: PreprocessParams | None = None) -> Preprocessed:
    """Remove the dark frame and hair from an RGB uint8 ``(H, W, 3)`` image.

    Frame: see :mod:`dermview.preprocess.frame`; hair: :mod:`dermview.preprocess.hair`.
    With N hair components, N > ``params.hair_threshold`` repairs by PDE diffusion
    inpainting, otherwise by bilinear interpolation across the hair (DullRazor eq. 4).
    """
    p = params or PreprocessParams()
    t0 = time.perf_counter()
    rgb = _check_image(rgb)
    h, w = rgb.shape[:2]
    timings: dict[str, float] = {}
    scale = min(1.0, ANALYSIS_SIZE / max(h, w))
    ah, aw = max(1, round(h * scale)), max(1, round(w * scale))
    small = rgb if (ah, aw) == (h, w) else cv2.resize(rgb, (aw, ah), interpolation=cv2.INTER_AREA)
    frame_s = np.zeros((ah, aw), bool)
    hair_s = np.zeros((ah, aw), bool)
    n_hair = 0
    mode = "none"
    out = rgb.copy()
    if min(ah, aw) < MIN_SIDE:
        timings.update(frame=0.0, hair=0.0, repair=0.0, total=time.perf_counter() - t0)
        return Preprocessed(out, np.zeros((h, w), bool), np.zeros((h, w), bool), 0, "none", timings, p)

    t = time.perf_counter()
    work = small
    blend_s = frame_s
    if p.remove_frame:
        frame_s = detect_frame(small, p.frame_threshold)
        if frame_s.any():
            work, blend_s = fill_frame(small, frame_s)
    framed = work is not small
    timings["frame"] = time.perf_counter() - t

    t = time.perf_counter()
    hair = None
    if p.remove_hair:
        k = _scaled_se(p.se_size, max(ah, aw))
        valid = None
        if framed:
            # No hair right at the frame edge (k px): the fill meets the image there.
            valid = cv2.dilate(frame_s.view(np.uint8), np.ones((k, k), np.uint8)) == 0
        hair = detect_hair(work, p.se_shape, k, valid, HairSettings.for_sensitivity(p.hair_sensitivity))
        hair_s, n_hair = hair.mask, hair.count
    timings["hair"] = time.perf_counter() - t

    t = time.perf_counter()
    frame_full = _to_full(frame_s, (h, w))
    if framed:
        fill = work if work.shape[:2] == (h, w) else cv2.resize(work, (w, h), interpolation=cv2.INTER_LINEAR)
        cv2.copyTo(fill, _to_full(blend_s, (h, w)).view(np.uint8), out)
    hair_full = _to_full(hair_s, (h, w))
    if framed:
        hair_full = hair_full & ~frame_full
    if hair is not None and n_hair and hair_s.any():
        mode = "pde" if n_hair > p.hair_threshold else "bilinear"
        # Replace the hair and its one-pixel rim (the bright halo / anti-aliased edge of a
        # hair; see _repair_region) with values repaired at the detection scale, where the
        # fill is taken from clean skin a little further out.
        repair_s = _repair_region(hair)
        if framed:
            repair_s[frame_s] = 0
        fixed = _repair_at_detection_scale(work, hair, mode)
        if fixed.shape[:2] != (h, w):
            fixed = cv2.resize(fixed, (w, h), interpolation=cv2.INTER_LINEAR)
        cv2.copyTo(fixed, _to_full(repair_s.view(bool), (h, w)).view(np.uint8), out)
    timings["repair"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    return Preprocessed(out, frame_full, hair_full, int(n_hair), mode, timings, p)
