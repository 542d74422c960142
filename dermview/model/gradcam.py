"""Class-activation heat maps (Grad-CAM, Selvaraju et al. 2017) for :class:`LiteClassifier`, and
the model-randomisation sanity check of Adebayo et al. 2018 ("Sanity checks for saliency maps"):
a map that does not change when the last layers are re-initialised does not explain the model.
"""

from __future__ import annotations

import copy

import cv2
import numpy as np
import torch
from torch import nn


def grad_cam(model: nn.Module, x: torch.Tensor, target: int | None = None
             ) -> tuple[np.ndarray, int]:
    """Grad-CAM on the feature map ``A`` of one image that every pooled descriptor depends on.

    ``cam = ReLU(Σ_k w_k A_k)`` with ``w_k`` the spatial mean of ``∂ logit_target / ∂ A_k``,
    bilinearly upsampled to the input size and scaled to [0, 1] (all zeros when no location
    supports the class).

    Args:
        model: a :class:`~dermview.model.classifier.LiteClassifier` (run in eval mode); the
            map is taken on its :meth:`features` (the encoder's first tapped block, stride 16).
        x: normalised input ``(1, 3, S, S)``.
        target: class index; ``None`` = the predicted (arg-max) class.

    Returns:
        ``(cam float32 (S, S) in [0, 1], class index)``.
    """
    feat, grad, cls = feature_gradient(model, x, target)
    weights = grad.mean(dim=(1, 2))
    cam = torch.relu((weights[:, None, None] * feat).sum(0)).cpu().numpy()
    size = x.shape[-1], x.shape[-2]
    cam = cv2.resize(cam.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
    peak = float(cam.max())
    return (cam / peak if peak > 0 else np.zeros_like(cam)).astype(np.float32), cls


def feature_gradient(model: nn.Module, x: torch.Tensor, target: int | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The lesion crop's Grad-CAM feature map ``A`` (``(C, h, w)``, of
    :meth:`LiteClassifier.features`), ``∂ logit_target / ∂ A`` (same shape) and the class
    index (``None``: the predicted one), with the model in eval mode."""
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            feat = model.features(x.detach()).detach().requires_grad_(True)
            logits = model.classify(feat)
            cls = int(logits[0].argmax()) if target is None else int(target)
            (grad,) = torch.autograd.grad(logits[0, cls], feat)
    finally:
        model.train(was_training)
    return feat[0].detach(), grad[0], cls


def paste_box(cam: np.ndarray, box: tuple[float, float, float],
              shape: tuple[int, int]) -> np.ndarray:
    """Place a square crop's map (float32 ``S×S``) back on the image grid ``shape = (H, W)``
    where the crop came from (``box = (centre_row, centre_col, side)`` in image pixels);
    0 outside the crop. float32 ``H×W`` in [0, 1]."""
    cy, cx, side = box
    s = cam.shape[0] / side  # crop pixels per image pixel
    # image (col, row) -> crop (x, y): x = (col - (cx - side/2)) * s, with pixel-centre offsets
    tx = (side / 2.0 - cx) * s + 0.5 * s - 0.5
    ty = (side / 2.0 - cy) * s + 0.5 * s - 0.5
    m = np.array([[s, 0.0, tx], [0.0, s, ty]], np.float64)
    h, w = shape
    out = cv2.warpAffine(cam.astype(np.float32), m, (w, h), flags=cv2.INTER_LINEAR
                         | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return np.clip(out, 0.0, 1.0)


def fade_edges(cam: np.ndarray, fraction: float = 0.125) -> np.ndarray:
    """The crop's map (float32 ``S×S`` in [0, 1]) times a raised-cosine window that falls from
    1 to 0 over the outer ``fraction`` of each side, so the map pasted on the image fades out
    at the crop's edge instead of drawing its square there (the network saw nothing beyond
    it). float32 ``S×S``."""
    n = cam.shape[0]
    width = max(1, round(fraction * n))
    edge = np.minimum(np.arange(n), np.arange(n)[::-1]).astype(np.float64) + 0.5
    ramp = np.where(edge < width, 0.5 - 0.5 * np.cos(np.pi * edge / width), 1.0)
    return (cam * np.outer(ramp, ramp)).astype(np.float32)


def randomise_last_layers(model: nn.Module, n_blocks: int = 2, seed: int = 0) -> nn.Module:
    """A deep copy of a :class:`LiteClassifier` with the linear layer and the encoder's last
    ``n_blocks`` MBConv blocks (and head convolution, if used) re-initialised (cascading
    randomisation from the output back)."""
    out = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(seed)
    enc = out.encoder
    modules: list[nn.Module] = [out.head.fc, *list(enc.blocks)[-n_blocks:]]
    if enc.use_head:
        modules += [enc.conv_head, enc.bn1]
    with torch.no_grad():
        for mod in modules:
            for sub in mod.modules():
                if isinstance(sub, (nn.Conv2d, nn.Linear)):
                    fan_in = sub.weight[0].numel()
                    sub.weight.copy_(torch.randn(sub.weight.shape, generator=gen) / fan_in ** 0.5)
                    if sub.bias is not None:
                        sub.bias.zero_()
                elif isinstance(sub, nn.BatchNorm2d):
                    sub.reset_parameters()
                    sub.reset_running_stats()
    return out.eval()


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps of equal shape (ties ranked by order; 0 when
    either map is constant)."""
    ra = np.argsort(np.argsort(a.ravel(), kind="stable"), kind="stable").astype(np.float64)
    rb = np.argsort(np.argsort(b.ravel(), kind="stable"), kind="stable").astype(np.float64)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def randomisation_check(model: nn.Module, x: torch.Tensor, n_blocks: int = 2,
                        seed: int = 0) -> float:
    """Rank correlation between the Grad-CAM of the predicted class of the trained model and
    that of the same class after :func:`randomise_last_layers`. A faithful map gives a low
    value (weights matter); a value near 1 means the map ignores the weights."""
    cam, cls = grad_cam(model, x)
    cam_r, _ = grad_cam(randomise_last_layers(model, n_blocks, seed), x, cls)
    return rank_correlation(cam, cam_r)
