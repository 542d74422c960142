"""The faithfulness scores of benchmarks/bench_explanations.py on a model whose evidence is known."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from bench_explanations import deletion_insertion, occlusion_map, summarise  # noqa: E402

S = 32
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


class TopLeftModel(torch.nn.Module):
    """Class 0's logit is the mean red of the lesion crop's top-left quadrant (channels 0-2 of a
    two-crop input); the other classes are constant."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = 4.0 * x[:, 0, : S // 2, : S // 2].mean((1, 2))
        return torch.stack([v, torch.zeros_like(v), torch.zeros_like(v)], 1)


def _case():
    from dermview.model.classifier import normalise_array

    crop = np.zeros((S, S, 3), np.uint8)
    crop[: S // 2, : S // 2, 0] = 255  # the evidence: a red top-left quadrant
    blur = np.zeros_like(crop)  # "blurred" crop without the evidence
    x = np.concatenate([normalise_array(crop[None], MEAN, STD)] * 2, axis=1)
    return TopLeftModel(), x, crop, blur


def test_occlusion_map_finds_the_evidence():
    model, x, crop, blur = _case()
    occ = occlusion_map(model, x, crop, blur, 0, 1.0, MEAN, STD, grid=4)
    assert occ.shape == (4, 4)
    assert occ[:2, :2].min() > 0 and np.all(occ[2:, :] == 0) and np.all(occ[:, 2:] == 0)


def test_a_map_on_the_evidence_beats_one_elsewhere():
    model, x, crop, blur = _case()
    right = np.zeros((S, S), np.float32)
    right[: S // 2, : S // 2] = 1.0
    wrong = 1.0 - right
    d_right, i_right = deletion_insertion(model, x, crop, blur, right, 0, 1.0, MEAN, STD)
    d_wrong, i_wrong = deletion_insertion(model, x, crop, blur, wrong, 0, 1.0, MEAN, STD)
    assert d_right < d_wrong and i_right > i_wrong
    assert i_right - d_right > 0 > i_wrong - d_wrong


def test_summarise_scores_against_the_random_map():
    rows = [{"id": str(i), "class": "nevus", "lesion_share": 0.3,
             "gradcam": {"deletion": 0.4, "insertion": 0.7 + 0.01 * i, "in_lesion": 0.5, "randomised_rho": 0.1},
             "layercam": {"deletion": 0.5, "insertion": 0.6, "in_lesion": 0.6, "randomised_rho": 0.2},
             "random": {"deletion": 0.55, "insertion": 0.55, "in_lesion": 0.3}} for i in range(5)]
    res = summarise(rows, SimpleNamespace(grid=8, n_boot=200, seed=0))
    g = res["methods"]["gradcam"]
    assert g["insertion_minus_deletion"] == pytest.approx(0.32)
    assert g["gain_over_random"] == pytest.approx(0.32)
    assert g["gain_over_random_ci95"][0] <= 0.32 <= g["gain_over_random_ci95"][1]
    assert res["methods"]["layercam"]["gain_over_random"] == pytest.approx(0.1)
    assert "occlusion" not in res["methods"] and res["occlusion_images"] == 0
